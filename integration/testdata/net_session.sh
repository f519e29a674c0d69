#!/bin/bash
# Drives DESIGN.md's shell session through its tunnel and curl lines, then
# the container network on the mount: ip, info.json, allow/disallow,
# tunnels, untunnel.
# usage: net_session.sh MNT
set -euo pipefail
MNT=$1
fail() { echo "FAIL: $*" >&2; exit 1; }
expect() { # expect WHAT GOT WANT
	[ "$2" == "$3" ] || fail "$1: got '$2', want '$3'"
}
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

cd "$MNT/nodes/any"
mkdir web
echo busybox > web/image
echo 'httpd -f -p 80 -h /www' > web/cmd
echo '<h1>hello</h1>' > web/files/www/index.html   # a pre-boot file
echo start > web/ctl
echo "tunnel 80 $PORT" > web/ctl
expect "curl through the tunnel" "$(curl -s --max-time 60 localhost:$PORT)" "<h1>hello</h1>"
echo 'run ls /www' > web/ctl; expect "run ls /www" "$(cat web/procs/last/stdout)" "index.html"

expect "tunnels" "$(cut -d' ' -f1,2 web/tunnels)" "$PORT 80"
IP=$(cat web/ip)
[[ "$IP" =~ ^10\.[0-9]+\.[0-9]+\.[0-9]+$ ]] || fail "ip: '$IP'"
grep -q "\"ip\": \"$IP\"" web/info.json || fail "info.json: $(cat web/info.json)"
if echo "tunnel 80 $PORT" > web/ctl 2>/dev/null; then fail "a second tunnel on the same local port"; fi
if echo "tunnel eighty 1" > web/ctl 2>/dev/null; then fail "tunnel with a bad port"; fi

# Another container reaches web only once web allows it.
mkdir cli
echo busybox > cli/image
echo 'start asleep' > cli/ctl
printf 'printf "GET / HTTP/1.0\\r\\n\\r\\n" | nc -w 2 %s 80\n' "$IP" > cli/files/get.sh
get() { echo 'run sh /get.sh' > cli/ctl; cat cli/procs/last/stdout; }
if get | grep -q hello; then fail "cli reached web before allow"; fi
if echo 'allow nosuch' > web/ctl 2>/dev/null; then fail "allow of an unknown container"; fi
grep -q nosuch web/error || fail "error: $(cat web/error)"
echo 'allow cli' > web/ctl
get | grep -q hello || fail "cli cannot reach web after allow"
echo 'disallow cli' > web/ctl
if get | grep -q hello; then fail "cli reached web after disallow"; fi

echo "untunnel $PORT" > web/ctl
expect "tunnels after untunnel" "$(cat web/tunnels)" ""
if curl -s --max-time 5 localhost:$PORT >/dev/null; then fail "untunnelled port answers"; fi
echo "tunnel 80 $PORT" > web/ctl
rmdir web || fail "rmdir web: $(cat web/error)"
if curl -s --max-time 5 localhost:$PORT >/dev/null; then fail "tunnel outlived its container"; fi
rmdir cli || fail "rmdir cli: $(cat cli/error)"
echo OK
