package integration

import (
	"testing"
	"time"

	"github.com/tffs/tffs/internal/testenv"
)

// TestMountStdoutSlowReaderLosesNothing: a container writing 40 MB of
// output as fast as it can, read through the mount's stdout file (and a
// process's) by a reader slower than the container: every byte arrives, in
// order, for a reader there from the start (the stream's writer waits for a reader that keeps reading, and
// through the SDK's window so does the container); no "bytes missed".
func TestMountStdoutSlowReaderLosesNothing(t *testing.T) {
	requireFUSE(t)
	env := testenv.Start(t)
	loc := env.Connect(t)
	mnt := mountAt(t, loc)
	mustShell(t, 3*time.Minute, `
		set -euo pipefail
		c="$1/nodes/any/loud"
		mkdir "$c"
		echo busybox > "$c/image"
		echo "sh -c 'sleep 3; yes 0123456789abcdef | head -c 40000000'" > "$c/cmd"
		echo start > "$c/ctl"
		# a slow reader: 64 KiB at a time, a pause every 1 MiB
		python3 - "$c/stdout" <<'PY'
import sys, time, hashlib
n, h = 0, hashlib.sha256()
with open(sys.argv[1], 'rb', buffering=0) as f:
    while True:
        b = f.read(65536)
        if not b:
            break
        h.update(b); n += len(b)
        if n % (1 << 20) < 65536:
            time.sleep(0.01)
want = hashlib.sha256((b'0123456789abcdef\n' * (40000000 // 17 + 1))[:40000000]).hexdigest()
if n != 40000000 or h.hexdigest() != want:
    print("read %d bytes, sha256 %s, want 40000000 and %s" % (n, h.hexdigest(), want)); sys.exit(1)
PY
		[ "$(cat "$c/wait")" = 0 ] || { echo "exit: $(cat "$c/status")"; exit 1; }
		echo OK`, mnt)
}
