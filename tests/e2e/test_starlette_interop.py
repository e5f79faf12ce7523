"""tests/e2e/test_starlette_interop.py — lib/starlette against a real FastAPI app with Starlette's stock SessionMiddleware.

The app (Debian's FastAPI 0.92 / Starlette 0.26.1 under uvicorn, on
127.0.0.1) stores and shows request.session; the codec runs through
tests/e2e/starlette_tool (built next to this file). Both directions:
cookies the app makes decode to what it stored, cookies we make are what the
app's request.session reads, its deletion is recognised, and the two
phase-2 paths (a Flask cookie handed to Starlette in the plain view; a
Starlette cookie upgraded to a Flask cookie that real Flask loads) work.
"""
import json
import math
import os
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import flask_cookie  # noqa: E402

# Not ASCII on purpose: Starlette signs with str(secret_key).encode("utf-8").
ST_SECRET = "st\u00e4rlette-\u043a\u043b\u044e\u0447 secret".encode()
FLASK_SECRET = b"flask-secret"
MAX_AGE = 14 * 24 * 3600

APP = r'''
import json, os
from fastapi import FastAPI, Request, Response
from starlette.middleware.sessions import SessionMiddleware

app = FastAPI()
with open(os.environ["ST_SECRET_FILE"], encoding="utf-8") as f:
    app.add_middleware(SessionMiddleware, secret_key=f.read())

def out(request):
    # json.dumps, not JSONResponse: NaN/Infinity must survive the trip
    return Response(json.dumps(dict(request.session)), media_type="application/json")

@app.get("/get")
async def get(request: Request):
    return out(request)

@app.post("/set")
async def set_(request: Request):
    body = await request.body()
    request.session.clear()
    request.session.update(json.loads(body))
    return out(request)

@app.post("/clear")
async def clear(request: Request):
    request.session.clear()
    return out(request)
'''


def tool_path():
    env = os.environ.get("STARLETTE_TOOL")
    if env:
        return env
    # the build dir's tests/e2e, next to daemon/sessiongate's build dir
    build = os.path.dirname(os.path.dirname(os.path.abspath(harness.SESSIONGATE)))
    return os.path.join(build, "tests", "e2e", "starlette_tool")


TOOL = tool_path()


def same(a, b):
    """JSON equality where NaN equals NaN."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, dict) and isinstance(b, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


SESSIONS = {
    "simple": {"user": "alice", "n": 1, "ok": True, "none": None},
    "order": {"z": 1, "a": 2, "m": {"y": [1, {"b": 2}], "a": {}}},
    "unicode": {"name": "Zo\u00eb \u2603 \U0001F600", "\u00e9t\u00e9": "\u4e2d\u6587",
                "ctl": "\u0000\u001f\u007f\u0080", "lone": "\ud800x"},
    "escapes": {"q": "a\"b\\c\n\t/<>&';,=", "colon:comma,": "x: y, z", "": ""},
    "numbers": {"f": 1.5, "big": 2 ** 100, "neg": -2 ** 70, "nz": -0.0, "e": 1e16,
                "small": 1.5e-07, "nan": float("nan"), "inf": float("inf"), "ninf": -float("inf")},
    "nested": {"a": [[[[[[[[[[{"deep": [1, 2, 3]}]]]]]]]]]], "tagnames": {" t": [1], " di": {}}},
    "big": {f"key{i:04d}": "v" * 40 + str(i) for i in range(60)},
}


class StarletteInterop(harness.TestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        if not os.access(TOOL, os.X_OK):
            raise AssertionError(f"{TOOL} is not built")
        cls.st_key = os.path.join(cls.tmp.name, "st_key")
        cls.fl_key = os.path.join(cls.tmp.name, "flask_key")
        with open(cls.st_key, "wb") as f:
            f.write(ST_SECRET)
        with open(cls.fl_key, "wb") as f:
            f.write(FLASK_SECRET)
        appdir = os.path.join(cls.tmp.name, "app")
        os.makedirs(appdir)
        with open(os.path.join(appdir, "st_app.py"), "w") as f:
            f.write(APP)
        cls.port = harness.free_port()
        env = dict(os.environ, ST_SECRET_FILE=cls.st_key, PYTHONDONTWRITEBYTECODE="1")
        cls.app = cls.start_process(
            "starlette_app",
            [harness.PYTHON, "-m", "uvicorn", "--app-dir", appdir, "--host", "127.0.0.1",
             "--port", str(cls.port), "--log-level", "warning", "st_app:app"],
            cls.port, env=env)

    # --- helpers ---------------------------------------------------------

    def tool(self, *args, stdin=None, ok=True):
        p = subprocess.run([TOOL, *map(str, args)], input=stdin, capture_output=True, timeout=30)
        if ok:
            self.assertEqual(p.returncode, 0, p.stderr.decode(errors="replace"))
            return p.stdout.decode().rstrip("\n")
        self.assertEqual(p.returncode, 1, p.stdout)
        return p.stderr.decode().strip()

    def request(self, method, path, cookie=None, body=None):
        """One request to the app; returns (status, session JSON, Set-Cookie list)."""
        import http.client
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        headers = {"Content-Type": "application/json"}
        if cookie is not None:
            headers["Cookie"] = "session=" + cookie
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        sc = resp.headers.get_all("Set-Cookie") or []
        conn.close()
        return resp.status, json.loads(data), sc

    def app_sets(self, session):
        """The Set-Cookie header the app sends after storing session."""
        status, echoed, sc = self.request("POST", "/set", body=json.dumps(session))
        self.assertEqual(status, 200)
        self.assertTrue(same(echoed, session))
        self.assertEqual(len(sc), 1, sc)
        return sc[0]

    @staticmethod
    def value(set_cookie):
        return set_cookie.split(";", 1)[0].split("=", 1)[1]

    # --- Starlette -> us --------------------------------------------------

    def test_app_cookies_decode_to_what_it_stored(self):
        for name, s in SESSIONS.items():
            with self.subTest(name):
                hdr = self.app_sets(s)
                self.assertRegex(hdr, r"^session=[A-Za-z0-9+/=]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+; "
                                 r"path=/; Max-Age=1209600; httponly; samesite=lax$")
                got = json.loads(self.tool("decode", self.st_key, "-", MAX_AGE, self.value(hdr)))
                self.assertTrue(same(got, s), (got, s))
                out = self.tool("setcookie", self.st_key, "-", hdr)
                self.assertTrue(out.startswith("set "), out)
                self.assertTrue(same(json.loads(out[4:]), s))
                self.assertEqual(self.tool("shaped", self.value(hdr)), "yes")

    def test_deletion_is_recognised(self):
        cookie = self.value(self.app_sets({"a": 1}))
        status, echoed, sc = self.request("POST", "/clear", cookie=cookie)
        self.assertEqual((status, echoed), (200, {}))
        self.assertEqual(sc, ["session=null; path=/; expires=Thu, 01 Jan 1970 00:00:00 GMT; "
                              "httponly; samesite=lax"])
        self.assertEqual(self.tool("setcookie", self.st_key, "-", sc[0]), "delete")

    def test_time_limits(self):
        cookie = self.value(self.app_sets({"a": 1}))
        now = int(time.time())
        self.assertIn("expired", self.tool("decode", self.st_key, now + MAX_AGE + 5, MAX_AGE,
                                           cookie, ok=False))
        self.assertIn("future", self.tool("decode", self.st_key, now - 3600, MAX_AGE, cookie,
                                          ok=False))
        self.tool("decode", self.st_key, now + 10 * MAX_AGE, -1, cookie)

    # --- us -> Starlette --------------------------------------------------

    def test_our_cookies_are_what_the_app_reads(self):
        for name, s in SESSIONS.items():
            with self.subTest(name):
                # Python's json reads NaN/Infinity and big ints; so does the tool
                cookie = self.tool("encode", self.st_key, "-", stdin=json.dumps(s).encode())
                status, seen, sc = self.request("GET", "/get", cookie=cookie)
                self.assertEqual(status, 200)
                self.assertTrue(same(seen, s), (seen, s))
                # Starlette 0.26 re-signs on every request: same payload bytes as ours
                self.assertEqual(len(sc), 1)
                self.assertEqual(self.value(sc[0]).split(".")[0], cookie.split(".")[0])

    def test_byte_identical_at_the_same_second(self):
        s = SESSIONS["unicode"]
        for _ in range(3):  # retry if the app and the tool straddle a second
            hdr = self.app_sets(s)
            ours = self.tool("encode", self.st_key, int(time.time()), stdin=json.dumps(s).encode())
            if self.value(hdr).split(".")[1] == ours.split(".")[1]:
                self.assertEqual(self.value(hdr), ours)
                return
        self.fail("could not sign within the same second")

    def test_forged_and_foreign_cookies(self):
        cookie = self.tool("encode", self.st_key, "-", stdin=b'{"admin": true}')
        payload, ts, sig = cookie.split(".")
        forged = self.tool("encode", self.fl_key, "-", stdin=b'{"admin": true}')  # other key
        tampered = payload[:-4] + "MX0=" + "." + ts + "." + sig
        for bad in (forged, tampered, cookie[:-1]):
            with self.subTest(bad):
                status, seen, sc = self.request("GET", "/get", cookie=bad)
                self.assertEqual((status, seen, sc), (200, {}, []))
                self.assertIn("bad signature",
                              self.tool("decode", self.st_key, "-", MAX_AGE, bad, ok=False))

    # --- the phase-2 paths ---------------------------------------------------

    def test_flask_session_reaches_starlette_in_plain_view(self):
        import datetime
        import uuid
        from markupsafe import Markup
        now = int(time.time())
        stored = {"_user_id": "42", "t": (1, 2), "b": b"\x00\xff", "m": Markup("<b>x</b>"),
                  "u": uuid.UUID(int=0x12345678123456781234567812345678),
                  "d": datetime.datetime(2026, 11, 24, 9, 0, 0, tzinfo=datetime.timezone.utc),
                  "di": {" t": [1]}, "n": {"x": [1, "\u00e9"]}}
        fcookie = flask_cookie.flask_sign(stored, FLASK_SECRET, now)
        st_cookie = self.tool("fromflask", self.fl_key, self.st_key, now, fcookie)
        status, seen, _ = self.request("GET", "/get", cookie=st_cookie)
        self.assertEqual(status, 200)
        self.assertEqual(seen, {"_user_id": "42", "b": "AP8=", "d": "2026-11-24T09:00:00Z",
                                "di": {" t": [1]}, "m": "<b>x</b>", "n": {"x": [1, "\u00e9"]},
                                "t": [1, 2], "u": "12345678-1234-5678-1234-567812345678"})
        self.assertEqual(list(seen), sorted(seen))  # Flask's sorted order reaches the app

    def test_starlette_cookie_upgrades_to_a_flask_cookie(self):
        s = {"user": "bob", "tagged": {" t": [1, 2]}, "l": [1, {"x": "\u00e9"}], "big": 2 ** 80}
        st_cookie = self.value(self.app_sets(s))
        now = int(time.time())
        fcookie = self.tool("upgrade", self.st_key, self.fl_key, now, MAX_AGE, st_cookie)
        self.assertEqual(self.tool("shaped", fcookie), "no")
        # real Flask loads exactly the plain session: {" t": ...} stays a dict, not a tuple
        self.assertEqual(flask_cookie.flask_load(fcookie, FLASK_SECRET, now), s)
        # a Flask cookie is not a Starlette one
        self.assertIn("bad signature", self.tool("upgrade", self.st_key, self.fl_key, now,
                                                 MAX_AGE, fcookie, ok=False)
                      + self.tool("decode", self.st_key, now, MAX_AGE, fcookie, ok=False))


if __name__ == "__main__":
    harness.main()
