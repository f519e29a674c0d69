package volume

import (
	"fmt"
	"os"
	"os/exec"

	"golang.org/x/sys/unix"
)

// MountBtrfsFile makes (if missing) a sparse file img of size bytes holding
// a btrfs filesystem and loop-mounts it on dir, so the btrfs driver works
// on a machine without a btrfs disk. Unmount undoes the mount (the loop
// device detaches itself); the file stays, with the volumes in it.
func MountBtrfsFile(img, dir string, size int64) (unmount func() error, err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	var st unix.Statfs_t
	if unix.Statfs(dir, &st) == nil && st.Type == btrfsMagic {
		return func() error { return nil }, nil // mounted already (by an earlier run)
	}
	if _, err := os.Stat(img); err != nil {
		f, err := os.OpenFile(img, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err != nil {
			return nil, err
		}
		err = f.Truncate(size)
		f.Close()
		if err == nil {
			var out []byte
			if out, err = exec.Command("mkfs.btrfs", "-q", "-f", img).CombinedOutput(); err != nil {
				err = fmt.Errorf("mkfs.btrfs %s: %v: %s", img, err, out)
			}
		}
		if err != nil {
			os.Remove(img)
			return nil, err
		}
	}
	if out, err := exec.Command("mount", "-o", "loop", img, dir).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("mount %s on %s: %v: %s", img, dir, err, out)
	}
	return func() error {
		if err := unix.Unmount(dir, 0); err != nil {
			return unix.Unmount(dir, unix.MNT_DETACH)
		}
		return nil
	}, nil
}
