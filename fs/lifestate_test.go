package fs

import "testing"

func TestLifeStateString(t *testing.T) {
	want := map[lifeState]string{stateNew: "new", stateStarting: "starting", stateRunning: "running",
		stateExited: "exited", stateDestroyed: "destroyed", lifeState(-1): "unknown", lifeState(99): "unknown"}
	for s, w := range want {
		if got := s.String(); got != w {
			t.Errorf("lifeState(%d).String() = %q, want %q", int(s), got, w)
		}
	}
}
