#!/usr/bin/env bash
# tests/bench/soak.sh — a few minutes of mixed session traffic (wrk) against a
# sanitizer build of sessiongate: valid, forged, expired and garbage cookies,
# no cookie, patches that apply, that are not JSON or touch forbidden keys,
# client-sent X-Session. Reports requests, errors, RSS over time, file
# descriptors before/after and what LeakSanitizer says at exit. Not part of
# the test suite (it takes minutes); run it by hand and read the figures.
#
# usage: tests/bench/soak.sh [-b BUILD_DIR] [-d SECONDS] [-c CONNECTIONS] [-w WORKERS]
#   defaults: build-asan (configured with ASan+UBSan if missing), 180 s, 32, 2
# Exit status 1 when a request failed, fds did not come back, the daemon did
# not exit 0 or a sanitizer reported anything.
set -euo pipefail
cd "$(dirname "$0")/../.."
build=build-asan
secs=180
conns=32
workers=2
while getopts "b:d:c:w:" o; do
	case $o in
	b) build=$OPTARG ;;
	d) secs=$OPTARG ;;
	c) conns=$OPTARG ;;
	w) workers=$OPTARG ;;
	*) sed -n '2,12p' "$0" >&2; exit 2 ;;
	esac
done
for tool in wrk nginx curl ss; do
	command -v "$tool" >/dev/null || { echo "soak.sh: needs $tool" >&2; exit 2; }
done
[ -f "$build/build.ninja" ] ||
	meson setup "$build" -Db_sanitize=address,undefined -Db_lundef=false >/dev/null
ninja -C "$build" daemon/sessiongate >/dev/null
sg=$build/daemon/sessiongate

tmp=$(mktemp -d /tmp/sg-soak.XXXXXX)
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do
		kill "$p" 2>/dev/null || true
	done
	wait 2>/dev/null || true
}
trap cleanup EXIT
free_port() {
	/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
wait_port() {
	for _ in $(seq 200); do
		curl -s -o /dev/null "http://127.0.0.1:$1/" && return 0
		sleep 0.05
	done
	echo "soak.sh: nothing listens on $1" >&2
	exit 1
}
be_port=$(free_port)
sg_port=$(free_port)

# The backend: nginx answering at once, with patch headers on some paths.
mkdir -p "$tmp/nginx"
cat >"$tmp/nginx/nginx.conf" <<EOF
daemon off;
master_process off;
worker_processes 1;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 100000000;
  client_body_temp_path $tmp/nginx/body;
  proxy_temp_path $tmp/nginx/proxy;
  fastcgi_temp_path $tmp/nginx/fastcgi;
  uwsgi_temp_path $tmp/nginx/uwsgi;
  scgi_temp_path $tmp/nginx/scgi;
  server {
    listen 127.0.0.1:$be_port;
    default_type text/plain;
    location = /patch { add_header X-Session-Patch '{"n": 1, "api_seen": true}' always; return 200 "ok\n"; }
    location = /jsonpatch { add_header X-Session-Patch '[{"op": "add", "path": "/cart", "value": [1, 2]}]' always; return 200 "ok\n"; }
    location = /badpatch { add_header X-Session-Patch 'not json' always; return 200 "ok\n"; }
    location = /forbidden { add_header X-Session-Patch '{"_user_id": "1"}' always; return 200 "ok\n"; }
    location = /clear { add_header X-Session-Patch '[{"op": "remove", "path": "/_user_id"}]' always; return 200 "ok\n"; }
    location = /echo { return 200 "\$http_x_session\n"; }
    location / { return 200 "ok\n"; }
  }
}
EOF
nginx -p "$tmp/nginx" -e "$tmp/nginx/error.log" -c "$tmp/nginx/nginx.conf" &
pids+=($!)
wait_port "$be_port"

printf 'soak-secret-key' >"$tmp/key"
printf 'someone-else' >"$tmp/other"
cat >"$tmp/sg.yaml" <<EOF
listen: 127.0.0.1:$sg_port
workers: $workers
access_log: off
session:
  secret_key_file: $tmp/key
backends:
  - name: api
    servers: [127.0.0.1:$be_port]
  - name: limited
    servers: [127.0.0.1:$be_port]
    writable_keys: ["api_*"]
routes:
  - prefix: /limited
    backend: limited
    strip_prefix: true
  - prefix: /
    backend: api
EOF
# LSan at exit; a 16 MiB quarantine so that RSS can level off within minutes
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:halt_on_error=1:quarantine_size_mb=16
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
"$sg" -c "$tmp/sg.yaml" >"$tmp/sg.log" 2>&1 &
sg_pid=$!
pids+=("$sg_pid")
wait_port "$sg_port"

now=$(date +%s)
sign() { echo "$1" | "$sg" cookie sign --secret-file "$2" ${3:+--now "$3"}; }
valid=$(sign '{"_user_id": "42", "role": "user"}' "$tmp/key")
permanent=$(sign '{"_user_id": "7", "_permanent": true, "t": {" t": [1, 2]}}' "$tmp/key")
expired=$(sign '{"_user_id": "42"}' "$tmp/key" $((now - 40 * 86400)))
future=$(sign '{"_user_id": "42"}' "$tmp/key" $((now + 3600)))
forged=$(sign '{"_user_id": "1", "role": "admin"}' "$tmp/other")

cat >"$tmp/mix.lua" <<EOF
local V, P, E, F, X = "session=$valid", "session=$permanent", "session=$expired",
	"session=$forged", "session=$future"
local mix = {
	{"GET", "/", V}, {"GET", "/patch", V}, {"GET", "/echo", F}, {"GET", "/", E},
	{"GET", "/", "session=garbage.x.y"}, {"GET", "/", nil}, {"GET", "/badpatch", V},
	{"GET", "/limited/forbidden", V}, {"GET", "/limited/patch", P}, {"GET", "/jsonpatch", P},
	{"GET", "/clear", V}, {"GET", "/patch", nil}, {"GET", "/echo", X},
	{"POST", "/echo", V, '{"x": 1}'},
}
local reqs = {}
function init(args)
	for i, m in ipairs(mix) do
		local h = {["X-Session"] = '{"role": "admin"}'}
		if m[3] then h["Cookie"] = m[3] end
		reqs[i] = wrk.format(m[1], m[2], h, m[4])
	end
end
local n = 0
function request()
	n = n % #reqs + 1
	return reqs[n]
end
EOF

fds() { ls "/proc/$sg_pid/fd" | wc -l; }
# idle keep-alive connections to the backend (the pools may grow under load)
pooled() { ss -Htnp state established "( dport = :$be_port )" | grep -c "pid=$sg_pid," || true; }
rss() { awk '/^VmRSS/ {print $2}' "/proc/$sg_pid/status"; }
cpu() { awk '{print $14 + $15}' "/proc/$sg_pid/stat"; }

# warm up (pools, ASan's quarantine), then the baseline
wrk -t2 -c"$conns" -d5s -s "$tmp/mix.lua" "http://127.0.0.1:$sg_port/" >"$tmp/warmup.txt"
sleep 2
fd0=$(fds)
pool0=$(pooled)
rss0=$(rss)
(
	t=0
	while kill -0 "$sg_pid" 2>/dev/null; do
		echo "$t $(rss) $(fds)"
		sleep 10
		t=$((t + 10))
	done
) >"$tmp/samples.txt" &
sampler=$!
pids+=("$sampler")
wrk -t2 -c"$conns" -d"${secs}s" --latency -s "$tmp/mix.lua" "http://127.0.0.1:$sg_port/" \
	>"$tmp/wrk.txt"
kill "$sampler" 2>/dev/null || true
sleep 3
fd1=$(fds)
pool1=$(pooled)
rss1=$(rss)
cpu_s=$(($(cpu) / $(getconf CLK_TCK)))

kill -TERM "$sg_pid"
set +e
wait "$sg_pid"
code=$?
set -e

requests=$(awk '/requests in/ {print $1}' "$tmp/wrk.txt")
rate=$(awk '/^Requests\/sec/ {print $2}' "$tmp/wrk.txt")
non2xx=$(awk '/Non-2xx/ {print $NF}' "$tmp/wrk.txt")
sockerr=$(sed -n 's/.*Socket errors: //p' "$tmp/wrk.txt")
p99=$(awk '$1 == "99%" {print $2}' "$tmp/wrk.txt")
reports=$(grep -c -E 'Sanitizer|runtime error:' "$tmp/sg.log" || true)
mid=$(awk -v h=$((secs / 3)) '$1 >= h {print $2; exit}' "$tmp/samples.txt")
echo "soak: $secs s, $conns connections, $workers workers, $sg"
echo "requests:      ${requests:-?} (${rate:-?}/s, p99 ${p99:-?}), non-2xx ${non2xx:-0}, socket errors: ${sockerr:-none}"
echo "RSS KiB:       baseline $rss0, at 1/3 ${mid:-?}, end of load $(tail -1 "$tmp/samples.txt" | cut -d' ' -f2), after $rss1"
echo "fds:           baseline $fd0 ($pool0 pooled upstream), after $fd1 ($pool1 pooled upstream)"
echo "daemon:        ${cpu_s} s CPU, exit $code, sanitizer reports: $reports"
echo "samples (s rss_kib fds): $(tr '\n' ';' <"$tmp/samples.txt")"
echo "logs:          $tmp"
[ -z "$non2xx" ] && [ -z "$sockerr" ] && [ $((fd1 - pool1)) -le $((fd0 - pool0)) ] &&
	[ "$code" -eq 0 ] &&
	[ "$reports" -eq 0 ]
