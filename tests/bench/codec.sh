#!/bin/bash
# tests/bench/codec.sh — the cookie codec's ops/s next to itsdangerous/Flask, in one run.
# Usage: tests/bench/codec.sh [BUILD_DIR] [SECONDS_PER_FIGURE]   (figures, never pass/fail)
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-build}
SECS=${2:-1}
[ -d "$BUILD" ] || meson setup "$BUILD" >/dev/null
ninja -C "$BUILD" tests/bench/bench_codec >/dev/null

C_OUT=$("$BUILD/tests/bench/bench_codec" "$SECS")
# Debian's python3 has Flask; the one on PATH may not.
/usr/bin/python3 - "$SECS" "$C_OUT" <<'PY'
import hashlib, hmac, sys, timeit
import itsdangerous.timed
from flask import Flask

secs = float(sys.argv[1])
c = {}
for line in sys.argv[2].splitlines():
    k, *v = line.split()
    c[k] = v

TS = 1700000000
itsdangerous.timed.TimestampSigner.get_timestamp = lambda self: TS + 60
app = Flask("bench")
app.secret_key = b"bench secret key"
ser = app.session_interface.get_signing_serializer(app)
session = {"_fresh": True, "_id": hashlib.sha512(b"sessiongate").hexdigest(),
           "_user_id": "42", "csrf_token": hashlib.sha1(b"csrf").hexdigest()}
cookie = c["cookie"][0]
signed = cookie.rsplit(".", 1)[0].encode()
key = hmac.new(b"bench secret key", b"cookie-session", hashlib.sha1).digest()

def rate(fn):
    # As bench_codec: the best of many short batches (the machine is shared,
    # other jobs only ever add time), for about secs seconds.
    n = 1
    while timeit.timeit(fn, number=n) < 0.002:
        n *= 2
    t = timeit.timeit(fn, number=n)
    best = min(timeit.repeat(fn, number=n, repeat=max(3, int(secs / t))))
    return n / best

with app.app_context():
    itsdangerous.timed.TimestampSigner.get_timestamp = lambda self: TS
    same = ser.dumps(session) == cookie
    itsdangerous.timed.TimestampSigner.get_timestamp = lambda self: TS + 60
    py_dec = rate(lambda: ser.loads(cookie, max_age=31 * 86400))
    py_sign = rate(lambda: ser.dumps(session))
py_hmac = rate(lambda: hmac.new(key, signed, hashlib.sha1).digest())

C = {k: float(v[0]) for k, v in c.items() if k != "cookie"}
hm = C["hmac_sha1_oneshot"]
print(f"Flask-Login session, {len(cookie)}-byte cookie (compressed: {cookie.startswith('.')});"
      f" identical to Flask's: {'yes' if same else 'NO'}")
print(f"{'operation':34} {'sessiongate/s':>14} {'itsdangerous/s':>15} {'x itsd.':>8} {'HMAC/op':>8}")
rows = [
    ("decode + verify (full, every time)", "decode_verify", py_dec),
    ("decode + verify (fresh zlib)", "decode_verify_fresh_zlib", py_dec),
    ("decode + verify + parse to tree", "decode_verify_parse", py_dec),
    ("same cookie again: cache hit", "cache_hit", py_dec),
    ("verify signature only", "verify_only", None),
    ("sign (JSON tree)", "sign", py_sign),
    ("sign (fresh zlib state)", "sign_fresh_zlib", py_sign),
    ("sign (JSON text)", "sign_text", py_sign),
    ("re-sign unchanged session", "resign", py_sign),
    ("bare HMAC-SHA1 (OpenSSL HMAC())", "hmac_sha1_oneshot", py_hmac),
]
for label, k, py in rows:
    ratio = f"{C[k] / py:7.1f}x" if py else "       -"
    pys = f"{py:15.0f}" if py else f"{'-':>15}"
    print(f"{label:34} {C[k]:14.0f} {pys} {ratio} {hm / C[k]:7.2f}x")
print("x itsd.: sessiongate ops/s over itsdangerous+Flask ops/s (same session, same process run);")
print("HMAC/op: cost of one operation in bare one-shot HMAC-SHA1s over the same bytes.")
print("cache hit: what daemon/pipeline.c does when a worker saw these exact cookie bytes verify")
print("  before under the same keys (keyed hash, constant-time compare, max_age check, copy);")
print("  the first request with a cookie always pays the full decode + verify row.")
print("Figures: best batch of many (C: 200 calls, Python: timeit.repeat), machine noise aside.")
PY
