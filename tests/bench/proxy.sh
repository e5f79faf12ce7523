#!/bin/bash
# tests/bench/proxy.sh — sessiongate next to nginx and HAProxy as a proxy, in one run (issue 6).
# Usage: tests/bench/proxy.sh [--quick] [--build DIR] [--raw FILE] [--seed N]
#                             [--only main,p99,scale,asgi,p99pin,profile]
# Figures, never pass/fail: --quick takes a few minutes, the default full run under 15.
# Everything listens on 127.0.0.1 and is stopped by PID at the end (see proxy_bench.py).
set -euo pipefail
CALLER=$PWD
cd "$(dirname "$0")/../.."
BUILD=build-bench
ARGS=()
while [ $# -gt 0 ]; do
	case "$1" in
	--build) BUILD=$2; shift 2 ;;
	--quick) ARGS+=(--quick); shift ;;
	--only) ARGS+=(--only "$2"); shift 2 ;;
	--seed) ARGS+=(--seed "$2"); shift 2 ;;
	--raw) ARGS+=(--raw "$(cd "$CALLER" && realpath -m "$2")"); shift 2 ;;
	-h|--help) sed -n '2,6p' "$0"; exit 0 ;;
	*) echo "proxy.sh: unknown argument $1" >&2; exit 2 ;;
	esac
done
for tool in wrk nginx haproxy; do
	command -v "$tool" >/dev/null || { echo "proxy.sh: needs $tool (apt-get install $tool)" >&2; exit 2; }
done
# A release build: the figures are meaningless for a debug or sanitizer build.
[ -d "$BUILD" ] || meson setup "$BUILD" --buildtype=release >/dev/null
ninja -C "$BUILD" daemon/sessiongate >/dev/null
# 10,000 idle connections: this shell's children (the client, the proxies) need the fds.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
# Debian's python3 has Flask, FastAPI and uvicorn; the one on PATH may not.
exec /usr/bin/python3 tests/bench/proxy_bench.py --sessiongate "$BUILD/daemon/sessiongate" "${ARGS[@]}"
