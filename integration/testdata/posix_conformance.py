#!/usr/bin/env python3
"""POSIX conformance transcript of a directory: runs the same file calls in
DIR and prints one line per check, "name: result" (values or errno names),
so the transcript of a local directory and of a container's files/ can be
compared line by line. usage: posix_conformance.py DIR"""
import errno
import os
import stat
import sys

D = sys.argv[1]
os.umask(0o022)
out = []


def p(*names):
    return os.path.join(D, *names)


def rec(name, fn):
    try:
        v = fn()
    except OSError as e:
        v = "E" + errno.errorcode.get(e.errno, str(e.errno))
    out.append("%s: %s" % (name, v))


def mode(path, follow=True):
    st = os.stat(path) if follow else os.lstat(path)
    return "%s %o" % (filetype(st.st_mode), stat.S_IMODE(st.st_mode))


def filetype(m):
    for f, n in ((stat.S_ISREG, "reg"), (stat.S_ISDIR, "dir"), (stat.S_ISLNK, "lnk"),
                 (stat.S_ISFIFO, "fifo"), (stat.S_ISSOCK, "sock"), (stat.S_ISCHR, "chr"), (stat.S_ISBLK, "blk")):
        if f(m):
            return n
    return "?"


def read(path):
    with open(path, "rb") as f:
        return f.read()


def write(path, data, flags=os.O_WRONLY | os.O_CREAT | os.O_TRUNC, m=0o666):
    fd = os.open(path, flags, m)
    try:
        return os.write(fd, data)
    finally:
        os.close(fd)


# open flags
rec("create 0640", lambda: (os.close(os.open(p("f"), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)), mode(p("f")))[1])
rec("create 0777 under umask", lambda: (os.close(os.open(p("g"), os.O_WRONLY | os.O_CREAT, 0o777)), mode(p("g")))[1])
rec("O_EXCL on existing", lambda: os.open(p("f"), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
rec("write", lambda: write(p("f"), b"hello world"))
rec("read", lambda: read(p("f")))
rec("O_TRUNC at open", lambda: (os.close(os.open(p("f"), os.O_WRONLY | os.O_TRUNC)), os.stat(p("f")).st_size)[1])
rec("O_APPEND", lambda: (write(p("f"), b"a"), write(p("f"), b"b", os.O_WRONLY | os.O_APPEND), read(p("f")))[2])
rec("open missing", lambda: os.open(p("missing"), os.O_RDONLY))
rec("open dir for writing", lambda: os.open(p(), os.O_WRONLY))


def pwrite_test():
    fd = os.open(p("sparse"), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        os.pwrite(fd, b"xyz", 10)
        os.pwrite(fd, b"A", 0)
        return "%d %r %r" % (os.fstat(fd).st_size, os.pread(fd, 4, 0), os.pread(fd, 10, 9))
    finally:
        os.close(fd)


rec("pwrite/pread", pwrite_test)

# setattr
os.mkdir(p("d"))
for m in (0o4755, 0o2755, 0o1777, 0o600, 0o6711):
    rec("chmod file %o" % m, lambda: (os.chmod(p("f"), m), mode(p("f")))[1])
for m in (0o1777, 0o2775, 0o700):
    rec("chmod dir %o" % m, lambda: (os.chmod(p("d"), m), mode(p("d")))[1])
os.chmod(p("d"), 0o755)
rec("chown file", lambda: (os.chown(p("f"), 1000, 1001), (os.stat(p("f")).st_uid, os.stat(p("f")).st_gid))[1])
rec("chown dir", lambda: (os.chown(p("d"), 1002, 1003), (os.stat(p("d")).st_uid, os.stat(p("d")).st_gid))[1])
os.symlink("f", p("lf"))
rec("lchown link", lambda: (os.lchown(p("lf"), 1004, 1005), (os.lstat(p("lf")).st_uid, os.lstat(p("lf")).st_gid, os.stat(p("lf")).st_uid))[1])
rec("chmod setuid kept after chmod", lambda: (os.chmod(p("f"), 0o4755), mode(p("f")))[1])
rec("utime file", lambda: (os.utime(p("f"), ns=(1000000000123456789, 1000000001987654321)), (os.stat(p("f")).st_atime_ns, os.stat(p("f")).st_mtime_ns))[1])
rec("utime dir", lambda: (os.utime(p("d"), (978307200, 978307201)), (os.stat(p("d")).st_atime, os.stat(p("d")).st_mtime))[1])
rec("lutimes link", lambda: (os.utime(p("lf"), (946684800, 946684801), follow_symlinks=False), (os.lstat(p("lf")).st_mtime, os.stat(p("lf")).st_mtime))[1])
rec("truncate up", lambda: (os.truncate(p("f"), 100), os.stat(p("f")).st_size)[1])
rec("truncate down", lambda: (os.truncate(p("f"), 5), os.stat(p("f")).st_size)[1])
rec("truncate dir", lambda: os.truncate(p("d"), 0))


def ftruncate_test():
    fd = os.open(p("g"), os.O_RDWR)
    try:
        os.write(fd, b"0123456789")
        os.ftruncate(fd, 3)
        return "%d %r" % (os.fstat(fd).st_size, os.pread(fd, 10, 0))
    finally:
        os.close(fd)


rec("ftruncate", ftruncate_test)


def ctime_test():
    c1 = os.stat(p("g")).st_ctime_ns
    os.utime(p("g"), (1, 1))
    os.chmod(p("g"), 0o640)
    return os.stat(p("g")).st_ctime_ns >= c1 and os.stat(p("g")).st_ctime != 1


rec("ctime moves", ctime_test)

# links and special files
rec("hard link", lambda: (os.link(p("g"), p("g2")), os.stat(p("g")).st_nlink, os.stat(p("g2")).st_nlink,
                          os.stat(p("g")).st_ino == os.stat(p("g2")).st_ino, read(p("g2")))[1:])
rec("hard link sees writes", lambda: (write(p("g"), b"new", os.O_WRONLY), read(p("g2")))[1])
rec("hard link over existing", lambda: os.link(p("g"), p("f")))
rec("hard link of dir", lambda: os.link(p("d"), p("d2")))
rec("unlink one link", lambda: (os.unlink(p("g2")), os.stat(p("g")).st_nlink)[1])
rec("symlink", lambda: (os.symlink("d", p("ld")), os.readlink(p("ld")), mode(p("ld"), False), mode(p("ld")))[1:])
rec("symlink exists", lambda: os.symlink("x", p("ld")))
rec("dangling symlink", lambda: (os.symlink("nowhere", p("dang")), os.readlink(p("dang")), os.path.exists(p("dang")))[1:])
rec("symlink loop", lambda: (os.symlink("loop2", p("loop1")), os.symlink("loop1", p("loop2")), open(p("loop1")))[2])
rec("mkfifo", lambda: (os.mkfifo(p("fifo"), 0o620), mode(p("fifo"), False))[1])
rec("mkfifo exists", lambda: os.mkfifo(p("fifo")))
rec("mknod socket", lambda: (os.mknod(p("sock"), stat.S_IFSOCK | 0o640), mode(p("sock"), False))[1])
rec("mknod regular", lambda: (os.mknod(p("plain"), stat.S_IFREG | 0o600), mode(p("plain"), False), os.stat(p("plain")).st_size)[1:])
rec("chmod fifo", lambda: (os.chmod(p("fifo"), 0o604), mode(p("fifo"), False))[1])

# names and paths
rec("name 255", lambda: (write(p("n" * 255), b"x"), os.stat(p("n" * 255)).st_size)[1])
rec("name 256 create", lambda: write(p("n" * 256), b"x"))
rec("name 256 stat", lambda: os.stat(p("n" * 256)))
rec("name 256 mkdir", lambda: os.mkdir(p("n" * 256)))
rec("ENOTDIR open", lambda: open(p("f", "x")))
rec("ENOTDIR mkdir", lambda: os.mkdir(p("f", "x")))
rec("mkdir exists", lambda: os.mkdir(p("d")))
rec("mkdir over file", lambda: os.mkdir(p("f")))
rec("mkdir mode", lambda: (os.mkdir(p("dm"), 0o1777), mode(p("dm")))[1])

# rename
os.makedirs(p("r", "full", "x"))
os.mkdir(p("r", "empty"))
os.mkdir(p("r", "empty2"))
write(p("r", "a"), b"A")
write(p("r", "b"), b"B")
rec("rename over file", lambda: (os.rename(p("r", "a"), p("r", "b")), read(p("r", "b")), os.path.exists(p("r", "a")))[1:])
rec("rename dir over empty dir", lambda: (os.rename(p("r", "empty"), p("r", "empty2")), os.path.isdir(p("r", "empty2")), os.path.exists(p("r", "empty")))[1:])
os.mkdir(p("r", "empty"))
rec("rename file over dir", lambda: os.rename(p("r", "b"), p("r", "empty")))
rec("rename dir over file", lambda: os.rename(p("r", "empty"), p("r", "b")))
rec("rename dir over non-empty", lambda: os.rename(p("r", "empty"), p("r", "full")))
rec("rename dir into itself", lambda: os.rename(p("r", "full"), p("r", "full", "x", "y")))
rec("rename missing", lambda: os.rename(p("r", "nope"), p("r", "z")))
rec("rename to itself", lambda: (os.rename(p("r", "b"), p("r", "b")), read(p("r", "b")))[1])

# removal
rec("rmdir non-empty", lambda: os.rmdir(p("r", "full")))
rec("unlink dir", lambda: os.unlink(p("r", "full")))
rec("rmdir file", lambda: os.rmdir(p("r", "b")))


def unlink_open():
    fd = os.open(p("tmpf"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        os.write(fd, b"still here")
        os.unlink(p("tmpf"))
        os.pwrite(fd, b"S", 0)
        return "%s %r %r" % (os.path.exists(p("tmpf")), os.pread(fd, 20, 0), os.fstat(fd).st_size)
    finally:
        os.close(fd)


rec("unlink while open", unlink_open)

# stat fields
def blocks():
    write(p("big"), b"x" * (1 << 20))
    st = os.stat(p("big"))
    return st.st_blocks >= (1 << 20) // 512, st.st_size


rec("st_blocks", blocks)
os.mkdir(p("nl"))
os.mkdir(p("nl", "a"))
os.mkdir(p("nl", "b"))
rec("dir nlink", lambda: os.stat(p("nl")).st_nlink)
rec("file nlink", lambda: os.stat(p("big")).st_nlink)


def fsyncs():
    fd = os.open(p("big"), os.O_RDWR)
    os.fsync(fd)
    os.fdatasync(fd)
    os.close(fd)
    fd = os.open(p("nl"), os.O_RDONLY)
    os.fsync(fd)
    os.close(fd)
    return "ok"


rec("fsync", fsyncs)


# names missing, then made here: found at once (the mount and the kernel
# keep missing names and complete listings for a while)
def missing_then_made():
    os.mkdir(p("mm"))
    os.listdir(p("mm"))  # a complete listing: every other name is missing
    res = []
    for n in ("f", "d", "s", "l", "r", "fifo"):
        res.append(os.path.lexists(p("mm", n)))
    write(p("mm", "f"), b"1")
    os.mkdir(p("mm", "d"))
    os.symlink("f", p("mm", "s"))
    os.link(p("mm", "f"), p("mm", "l"))
    write(p("mm", "r0"), b"2")
    os.rename(p("mm", "r0"), p("mm", "r"))
    os.mkfifo(p("mm", "fifo"))
    for n in ("f", "d", "s", "l", "r", "fifo", "r0"):
        res.append("%s=%s" % (n, mode(p("mm", n), False) if os.path.lexists(p("mm", n)) else "-"))
    res.append(read(p("mm", "r")))
    res.append(os.stat(p("mm", "f")).st_nlink)
    os.unlink(p("mm", "l"))
    os.rmdir(p("mm", "d"))
    res.append(os.path.lexists(p("mm", "l")))
    res.append(os.path.lexists(p("mm", "d")))
    res.append(os.stat(p("mm", "f")).st_nlink)
    write(p("mm", "d"), b"now a file")
    res.append(mode(p("mm", "d")))
    res.append(sorted(os.listdir(p("mm"))))
    return res


rec("missing, then made", missing_then_made)
rec("listing", lambda: sorted(n for n in os.listdir(D) if not n.startswith(".tffs-hidden-")))
print("\n".join(out))
print("OK")
