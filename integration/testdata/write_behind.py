#!/usr/bin/env python3
# Writes through files/ are pipelined (fs/writebehind.go) and sequential
# reads streamed (fs/readstream.go): what close and fsync promise, writes
# in order, a failed write reported, reads right at any offset.
# usage: write_behind.py MNT
import hashlib
import os
import sys

mnt = sys.argv[1]
d = os.path.join(mnt, "nodes/any/wb")
files = os.path.join(d, "files")


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def put(name, text):
    with open(os.path.join(d, name), "w") as f:
        f.write(text)


def run(cmd):
    """Runs cmd in the container; its exit code and stdout."""
    put("ctl", "run " + cmd + "\n")
    with open(os.path.join(d, "procs/last/wait")) as f:
        code = f.read().strip()
    with open(os.path.join(d, "procs/last/stdout")) as f:
        return code, f.read()


def container_md5(path):
    code, out = run("md5sum " + path)
    if code != "0":
        fail(f"md5sum {path} in the container exited {code}")
    return out.split()[0]


os.mkdir(d)
put("image", "busybox\n")
put("cmd", "sleep 1000\n")
put("ctl", "start\n")

# 1. A big write is in the container's file when close returns.
data = os.urandom(24 << 20)
with open(os.path.join(files, "tmp/big"), "wb") as f:
    f.write(data)
if container_md5("/tmp/big") != hashlib.md5(data).hexdigest():
    fail("after close, the container's /tmp/big differs from what was written")
if os.stat(os.path.join(files, "tmp/big")).st_size != len(data):
    fail("stat after close shows a stale size")
print("big write: in the container at close")

# 2. Reads: whole (streamed), at offsets, backwards.
with open(os.path.join(files, "tmp/big"), "rb") as f:
    if f.read() != data:
        fail("reading the file back through the mount gave other bytes")
    for off, n in [(5 << 20, 1 << 20), (1000, 3), (20 << 20, 4 << 20), (0, 100), (len(data) - 10, 100)]:
        f.seek(off)
        if f.read(n) != data[off:off + n]:
            fail(f"read of {n} at {off} gave other bytes")
print("reads: whole, at offsets, backwards")

# 3. Writes that overlap land in order.
p = os.path.join(files, "tmp/ov")
fd = os.open(p, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o644)
want = bytearray(64 << 10)
for i in range(200):
    off = (i * 4096) % (60 << 10)
    chunk = bytes([65 + i % 26]) * 8192
    os.pwrite(fd, chunk, off)
    want[off:off + len(chunk)] = chunk
os.close(fd)
want = bytes(want[:max((i * 4096) % (60 << 10) + 8192 for i in range(200))])
if container_md5("/tmp/ov") != hashlib.md5(want).hexdigest():
    fail("overlapping writes did not land in the order they were made")
with open(p, "rb") as f:
    if f.read() != want:
        fail("overlapping writes read back through the mount differ")
print("overlapping writes: in order")

# 4. O_APPEND writes go at the end, one after the other.
p = os.path.join(files, "tmp/log")
for i in range(20):
    with open(p, "ab") as f:
        f.write(b"line %d\n" % i)
with open(p, "rb") as f:
    if f.read() != b"".join(b"line %d\n" % i for i in range(20)):
        fail("appends are not in order")
print("appends: in order")

# 5. A write that fails on the node is reported, never a silent success.
os.mkdir(os.path.join(files, "gone"))
fd = os.open(os.path.join(files, "gone/f"), os.O_CREAT | os.O_WRONLY, 0o644)
os.write(fd, b"x")
os.fsync(fd)
code, _ = run("rm -rf /gone")
if code != "0":
    fail("rm in the container failed")
reported = False
try:
    for _ in range(4):
        os.write(fd, b"y" * (1 << 20))
except OSError as e:
    reported = True
    print("write reported:", e)
try:
    os.close(fd)
except OSError as e:
    reported = True
    print("close reported:", e)
if not reported:
    fail("writes to a file removed in the container succeeded silently")
print("failed write: reported")

# 6. fsync reports a failure too.
os.mkdir(os.path.join(files, "gone2"))
fd = os.open(os.path.join(files, "gone2/f"), os.O_CREAT | os.O_WRONLY, 0o644)
os.fsync(fd)
run("rm -rf /gone2")
reported = False
try:
    os.write(fd, b"z" * (1 << 20))
    os.fsync(fd)
except OSError as e:
    reported = True
    print("fsync reported:", e)
try:
    os.close(fd)
except OSError:
    pass
if not reported:
    fail("fsync after a failed write succeeded")
print("fsync: reported")

# 7. Setattrs of an open file (tar's futimens, fchown, fchmod before
# close) are queued behind its writes: stat through the mount shows them
# at once, the container once close returned.
p = os.path.join(files, "tmp/attrs")
fd = os.open(p, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
os.write(fd, b"a" * 70000)
os.utime(fd, ns=(1000000000 * 10**9, 1234567890 * 10**9))
os.chown(fd, 1234, 5678)
os.chmod(fd, 0o4751)
st = os.fstat(fd)
if (st.st_mode & 0o7777, st.st_uid, st.st_gid, st.st_size, st.st_mtime_ns) != (0o4751, 1234, 5678, 70000, 1234567890 * 10**9):
    fail(f"fstat before close shows {oct(st.st_mode)} {st.st_uid}:{st.st_gid} size {st.st_size} mtime {st.st_mtime_ns}")
os.close(fd)
code, out = run("stat -c '%a %u %g %s %Y' /tmp/attrs")
if code != "0" or out.split() != ["4751", "1234", "5678", "70000", "1234567890"]:
    fail(f"after close the container sees /tmp/attrs as {out!r} (exit {code})")
st = os.stat(p)
if (st.st_mode & 0o7777, st.st_uid, st.st_size, st.st_mtime_ns) != (0o4751, 1234, 70000, 1234567890 * 10**9):
    fail(f"stat after close shows {oct(st.st_mode)} {st.st_uid} size {st.st_size} mtime {st.st_mtime_ns}")
print("queued setattrs: seen at once, in the container at close")

# 8. A queued setattr that fails on the node is reported by close.
os.mkdir(os.path.join(files, "gone3"))
fd = os.open(os.path.join(files, "gone3/f"), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
os.write(fd, b"x")
os.fsync(fd)
code, _ = run("rm -rf /gone3")
if code != "0":
    fail("rm in the container failed")
os.chmod(fd, 0o600)  # queued: the node's failure comes at close
try:
    os.close(fd)
    fail("close after a setattr that failed in the container succeeded")
except OSError as e:
    print("close reported:", e)
# And by fsync.
os.mkdir(os.path.join(files, "gone4"))
fd = os.open(os.path.join(files, "gone4/f"), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
os.fsync(fd)
run("rm -rf /gone4")
os.utime(fd, ns=(5 * 10**9, 5 * 10**9))
try:
    os.fsync(fd)
    fail("fsync after a setattr that failed in the container succeeded")
except OSError as e:
    print("fsync reported:", e)
try:
    os.close(fd)
except OSError:
    pass
print("failed setattr: reported")

# 9. A sequential writer goes on a write stream (fs/writestream.go): a
# pause that ends the stream, a write elsewhere, then more sequential
# writes; every byte lands where it was written.
import time
p = os.path.join(files, "tmp/seq")
fd = os.open(p, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o644)
want = bytearray()
for i in range(12):
    chunk = os.urandom(300 << 10)
    os.write(fd, chunk)
    want += chunk
    if i == 4:
        time.sleep(0.5)  # the stream ends by itself; the next write opens another
    if i == 8:
        os.pwrite(fd, b"HEAD", 0)  # a write elsewhere ends the stream
        want[0:4] = b"HEAD"
os.close(fd)
if container_md5("/tmp/seq") != hashlib.md5(bytes(want)).hexdigest():
    fail("sequential writes with a pause and a write elsewhere did not land as written")
with open(p, "rb") as f:
    if f.read() != bytes(want):
        fail("sequential writes read back through the mount differ")
print("sequential writes on streams: as written")

os.rmdir(d)
print("OK")
