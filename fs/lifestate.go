package fs

// lifeState is where a container or a process of the mount is in its life.
// Its String form is what the status file shows.
type lifeState int

const (
	// stateNew: made, not started; its properties can still change.
	stateNew lifeState = iota
	// stateStarting: a start is under way.
	stateStarting
	// stateRunning: started (for a container, also while asleep).
	stateRunning
	// stateExited: the main process (or the process) exited.
	stateExited
	// stateDestroyed: the container is gone (containers only).
	stateDestroyed
)

var lifeStateNames = [...]string{
	stateNew:       "new",
	stateStarting:  "starting",
	stateRunning:   "running",
	stateExited:    "exited",
	stateDestroyed: "destroyed",
}

// String is the state as the status file and info.json show it.
func (s lifeState) String() string {
	if s < 0 || int(s) >= len(lifeStateNames) {
		return "unknown"
	}
	return lifeStateNames[s]
}
