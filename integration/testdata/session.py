#!/usr/bin/env python3
"""The shell session of DESIGN.md with open()/os.mkdir. usage: session.py MNT"""
import errno, os, sys

mnt = sys.argv[1]
def put(p, s):
    with open(p, "w") as f:
        f.write(s)
def get(p):
    with open(p) as f:
        return f.read()
def expect(what, got, want):
    if got != want:
        sys.exit(f"FAIL: {what}: got {got!r}, want {want!r}")

d = os.path.join(mnt, "nodes", "any", "pyweb")
os.mkdir(d)
expect("status", get(f"{d}/status"), "new\n")
put(f"{d}/image", "busybox\n")
put(f"{d}/cmd", "httpd -f -p 80 -h /www")
put(f"{d}/env", "MODE=demo\n")
os.makedirs(f"{d}/files/www", exist_ok=True)  # the image has /www already
put(f"{d}/files/www/index.html", "<h1>hello</h1>\n")
expect("pre-boot stat", os.stat(f"{d}/files/www/index.html").st_size, 15)
put(f"{d}/ctl", "start\n")
expect("status", get(f"{d}/status"), "running\n")
put(f"{d}/ctl", "run ls /www")
expect("run ls", get(f"{d}/procs/last/stdout"), "index.html\n")
put(f"{d}/ctl", "run sh -c 'echo $MODE'")
expect("env", get(f"{d}/procs/last/stdout"), "demo\n")
expect("live file", get(f"{d}/files/www/index.html"), "<h1>hello</h1>\n")
data = os.urandom(200000)
with open(f"{d}/files/tmp/py.bin", "wb") as f:
    f.write(data)
with open(f"{d}/files/tmp/py.bin", "rb") as f:
    expect("binary round trip", f.read() == data, True)
expect("stat size", os.stat(f"{d}/files/tmp/py.bin").st_size, 200000)
expect("listdir", "py.bin" in os.listdir(f"{d}/files/tmp"), True)
os.remove(f"{d}/files/tmp/py.bin")
expect("removed", os.path.exists(f"{d}/files/tmp/py.bin"), False)
try:
    put(f"{d}/image", "other")
    sys.exit("FAIL: image write after start succeeded")
except OSError as e:
    expect("image after start", e.errno, errno.EBUSY)
expect("containers/", os.listdir(os.path.join(mnt, "containers")), ["pyweb"])
os.rmdir(d)
expect("gone", os.path.exists(d), False)
print("OK")
