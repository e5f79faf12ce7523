#!/usr/bin/env bash
# tests/demo.sh — the README's demo: builds sessiongate and runs it with
# conf/sessiongate.yaml in front of a small Flask app (Flask-Login, session:
# cookie) and a small FastAPI app (X-Session / X-Session-Patch), until Ctrl-C.
#
# Environment (all optional; tests use them to pick free ports):
#   SESSIONGATE_SECRET_FILE  Flask secret key file (default: a fresh random one)
#   DEMO_LISTEN              proxy address        (default 127.0.0.1:8080)
#   DEMO_ADMIN               admin listener       (default 127.0.0.1:9090)
#   DEMO_FLASK_PORT          Flask app port       (default 5000)
#   DEMO_API_PORT            FastAPI app port     (default 8000)
#   DEMO_SKIP_SETUP=1        do not install packages or build (binary must exist)
#   DEMO_SESSIONGATE         the binary to run    (default build/daemon/sessiongate)
set -euo pipefail
cd "$(dirname "$0")/.."
. tests/setup.sh
if [ "${DEMO_SKIP_SETUP:-0}" != 1 ]; then
	sg_install_deps
	sg_build build
fi

listen=${DEMO_LISTEN:-127.0.0.1:8080}
admin=${DEMO_ADMIN:-127.0.0.1:9090}
flask_port=${DEMO_FLASK_PORT:-5000}
api_port=${DEMO_API_PORT:-8000}
py=/usr/bin/python3 # Debian's: it has flask, flask-login, fastapi, uvicorn
sessiongate=${DEMO_SESSIONGATE:-build/daemon/sessiongate}

tmp=$(mktemp -d /tmp/sessiongate-demo.XXXXXX) # mode 0700: the secret lives here
pids=()

# Stops exactly what this script started, by PID, then removes the temp dir.
# shellcheck disable=SC2317 # called by trap
cleanup() {
	local pid
	trap - EXIT INT TERM
	for pid in "${pids[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	for pid in "${pids[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'echo; echo "demo: stopping"; exit 130' INT
trap 'exit 143' TERM

die() {
	echo "demo: $*" >&2
	exit 1
}

# True if something already accepts connections on 127.0.0.1:port.
port_busy() {
	(exec 3<>"/dev/tcp/$1/$2") 2>/dev/null
}

# wait_http NAME PID URL LOG: until URL answers, or fail if PID died or 20 s passed.
wait_http() {
	local name=$1 pid=$2 url=$3 log=$4 _
	for _ in $(seq 1 200); do
		if curl -fsS -o /dev/null --max-time 2 "$url" 2>/dev/null; then
			return 0
		fi
		if ! kill -0 "$pid" 2>/dev/null; then
			echo "demo: $name exited; its log:" >&2
			cat "$log" >&2 || true
			exit 1
		fi
		sleep 0.1
	done
	echo "demo: $name did not answer $url within 20 s; its log:" >&2
	cat "$log" >&2 || true
	exit 1
}

[ -x "$sessiongate" ] || die "$sessiongate is missing: run without DEMO_SKIP_SETUP=1"

# The secret: the operator's file, or a fresh random key only this run knows.
if [ -z "${SESSIONGATE_SECRET_FILE:-}" ]; then
	(umask 077 && "$py" -c 'import secrets; print(secrets.token_urlsafe(32))' >"$tmp/flask_secret_key")
	export SESSIONGATE_SECRET_FILE="$tmp/flask_secret_key"
fi
[ -r "$SESSIONGATE_SECRET_FILE" ] || die "cannot read SESSIONGATE_SECRET_FILE=$SESSIONGATE_SECRET_FILE"

# conf/sessiongate.yaml as is, or a copy with the overridden addresses.
config=conf/sessiongate.yaml
[ -f "$config" ] || die "$config is missing"
if [ "$listen" != 127.0.0.1:8080 ] || [ "$admin" != 127.0.0.1:9090 ] ||
	[ "$flask_port" != 5000 ] || [ "$api_port" != 8000 ]; then
	# \b: each expression sees the line the ones before made, so without it
	# a port they wrote (127.0.0.1:50001) would match 127.0.0.1:5000 again
	sed -e "s/127\.0\.0\.1:8080\b/$listen/g" -e "s/127\.0\.0\.1:9090\b/$admin/g" \
		-e "s/127\.0\.0\.1:5000\b/127.0.0.1:$flask_port/g" \
		-e "s/127\.0\.0\.1:8000\b/127.0.0.1:$api_port/g" "$config" >"$tmp/sessiongate.yaml"
	config=$tmp/sessiongate.yaml
fi

for addr in "$listen" "127.0.0.1:$flask_port" "127.0.0.1:$api_port"; do
	if port_busy "${addr%:*}" "${addr##*:}"; then
		die "$addr is already in use (set DEMO_LISTEN, DEMO_FLASK_PORT or DEMO_API_PORT)"
	fi
done

echo "demo: starting the Flask app on 127.0.0.1:$flask_port (log: $tmp/flask.log)"
DEMO_FLASK_PORT=$flask_port "$py" tests/demo/flask_app.py >"$tmp/flask.log" 2>&1 &
pids+=("$!")
wait_http "the Flask app" "$!" "http://127.0.0.1:$flask_port/" "$tmp/flask.log"

echo "demo: starting the FastAPI app on 127.0.0.1:$api_port (log: $tmp/api.log)"
"$py" -m uvicorn --app-dir tests/demo api_app:app --host 127.0.0.1 --port "$api_port" \
	>"$tmp/api.log" 2>&1 &
pids+=("$!")
wait_http "the FastAPI app" "$!" "http://127.0.0.1:$api_port/api/me" "$tmp/api.log"

# sessiongate runs in the background only so that this shell can react to
# Ctrl-C/TERM at once (bash defers traps while a foreground child runs); its
# output still comes to this terminal.
echo "demo: starting $sessiongate -c $config"
"$sessiongate" -c "$config" &
sg=$!
pids+=("$sg")
for _ in $(seq 1 100); do
	port_busy "${listen%:*}" "${listen##*:}" && break
	kill -0 "$sg" 2>/dev/null || break
	sleep 0.1
done

if kill -0 "$sg" 2>/dev/null; then
	cat <<EOF

  sessiongate demo: open http://$listen/ in a browser.

  1. Log in on the Flask side with any name (Flask-Login; no password).
  2. Follow the link to /api/ : the FastAPI app greets you by name. It read
     the session from the X-Session header sessiongate gave it.
  3. Back on / , reload: the api_visits counter the FastAPI app wrote with
     X-Session-Patch is in the Flask session now (one cookie, re-signed).
  From a shell:  curl -c jar -b jar -d username=alice http://$listen/login
                 curl -b jar http://$listen/api/me

  Ctrl-C stops sessiongate and both apps.

EOF
fi

status=0
wait "$sg" || status=$?
echo "demo: sessiongate exited with status $status"
exit "$status"
