"""tests/e2e/test_session.py — the session pipeline (issue 4) through the real
daemon: a real Flask 2.2 app with Flask-Login (session: cookie) and a real
FastAPI app under uvicorn (X-Session in, X-Session-Patch out) share one Flask
session through one client cookie jar (requests). After every step the cookie
the client holds is loaded by real Flask and compared with what we expect."""
import base64
import datetime
import http.client
import json
import os
import sys
import time
import unittest

from flask import Flask, session
from flask.sessions import SecureCookieSessionInterface

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from flask_cookie import flask_load, flask_sign, frozen_time  # noqa: E402
from test_ops import scrape  # noqa: E402

APPS = os.path.join(harness.HERE, "apps")
SECRET = harness.SECRET
OLD_SECRET = b"the-previous-e2e-secret"


def cookie_ts(value):
    """The itsdangerous timestamp inside a cookie value."""
    ts = value.rsplit(".", 2)[1]
    return int.from_bytes(base64.urlsafe_b64decode(ts + "=" * (-len(ts) % 4)), "big")


def flask_emits(config, ts, data=None, clear_cookie=None):
    """The Set-Cookie real Flask 2.2 emits under config (SESSION_* settings and
    PERMANENT_SESSION_LIFETIME) at time ts: for a request that sets the
    session to data, or that clears the session carried by clear_cookie."""

    class Iface(SecureCookieSessionInterface):
        def get_expiration_time(self, app, s):
            if s.permanent:
                return (datetime.datetime.fromtimestamp(ts, datetime.timezone.utc)
                        + app.permanent_session_lifetime)
            return None

    app = Flask("flask_emits")
    app.secret_key = SECRET
    app.session_interface = Iface()
    app.config.update(config)

    @app.route("/")
    def index():
        session.clear()
        if data:
            session.update(data)
        return "ok"

    headers = {"Cookie": "session=" + clear_cookie} if clear_cookie else {}
    with frozen_time(ts), app.test_client() as c:
        resp = c.get("/", headers=headers)
    return [h for h in resp.headers.getlist("Set-Cookie") if h.startswith("session=")]


class SessionTest(harness.SessionTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        tmp = cls.tmp.name
        cls.key_file = os.path.join(tmp, "flask_key")
        with open(cls.key_file, "wb") as f:
            f.write(SECRET)
        cls.old_key_file = os.path.join(tmp, "old_key")
        with open(cls.old_key_file, "wb") as f:
            f.write(OLD_SECRET)
        fport, aport = harness.free_port(), harness.free_port()
        cls.flask = cls.start_process(
            "flask", [harness.PYTHON, os.path.join(APPS, "flask_app.py"), "--port", str(fport),
                      "--secret-file", cls.key_file], fport)
        cls.api = cls.start_process(
            "api", [harness.PYTHON, "-m", "uvicorn", "--app-dir", APPS, "fastapi_app:app",
                    "--host", "127.0.0.1", "--port", str(aport), "--log-level", "warning"],
            aport)
        fa, aa = f"127.0.0.1:{fport}", f"127.0.0.1:{aport}"
        cls.sg = cls.start_daemon(
            backends={"flask": [fa], "api": [aa], "limited": [aa]},
            routes=[("/flask", "flask", False, None), ("/limited", "limited", True, None),
                    ("/", "api", False, None)],
            backend_opts={"flask": "session: cookie",
                          "limited": 'writable_keys: ["api_*", cart]'},
            session_extra=f"header_max: 3000\nfallback_key_files: [{harness.yaml_str(cls.old_key_file)}]",
            extra="limits:\n  allow_underscore_headers: true\n", admin=True)
        # Flask's SESSION_COOKIE_* and lifetime, and the same in sessiongate
        cls.attr_config = {"SESSION_COOKIE_DOMAIN": "app.example.com",
                           "SESSION_COOKIE_PATH": "/shop", "SESSION_COOKIE_SECURE": True,
                           "SESSION_COOKIE_HTTPONLY": False, "SESSION_COOKIE_SAMESITE": "Strict",
                           "PERMANENT_SESSION_LIFETIME": datetime.timedelta(hours=2)}
        cls.sg_attrs = cls.start_daemon(
            name="sg_attrs", backends={"api": [aa]},
            session_extra="cookie_domain: app.example.com\ncookie_path: /shop\n"
                          "cookie_secure: true\ncookie_httponly: false\n"
                          "cookie_samesite: Strict\nmax_age: 2h\nrefuse_oversized_cookie: true")

    # ---- helpers ----

    def get(self, c, path, **kw):
        r = c.get(self.url(path), timeout=10, **kw)
        self.assertEqual(r.status_code, 200, r.text)
        return r

    def post(self, c, path, **kw):
        r = c.post(self.url(path), timeout=10, **kw)
        self.assertEqual(r.status_code, 200, r.text)
        return r

    def patch(self, c, *patches, base="", extra_headers=(), sg=None, headers=None):
        r = c.post(self.url(base + "/api/patch", sg),
                   json={"patches": list(patches), "extra_headers": list(extra_headers)},
                   headers=headers, timeout=10)
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(r.text, "patched")
        self.assertNotIn("x-session-patch", {k.lower() for k in r.headers})
        return r

    def api_session(self, c):
        return self.get(c, "/api/echo").json()["session"]

    def flask_session(self, c):
        return self.get(c, "/flask/echo").json()["session"]

    def log_since(self, mark):
        return self.sg.log()[mark:]

    # ---- sharing ----

    def test_shared_both_ways(self):
        c = self.client()
        r = self.post(c, "/flask/set", json={"a": 1, "name": "x"})
        self.one_cookie(r)
        self.assertJar(c, {"a": 1, "name": "x"})
        self.assertEqual(self.api_session(c), {"a": 1, "name": "x"})
        r = self.patch(c, '{"b": [1, 2], "name": "y"}')
        self.one_cookie(r)
        self.assertJar(c, {"a": 1, "b": [1, 2], "name": "y"})
        fs = self.flask_session(c)
        self.assertEqual(fs["b"], {"type": "list", "items": [{"type": "int", "value": 1},
                                                            {"type": "int", "value": 2}]})
        self.assertEqual(fs["name"], {"type": "str", "value": "y"})
        r = self.post(c, "/flask/pop", json=["a"])
        self.one_cookie(r)
        self.assertJar(c, {"b": [1, 2], "name": "y"})
        self.assertEqual(self.api_session(c), {"b": [1, 2], "name": "y"})

    def test_no_set_cookie_when_unchanged(self):
        c = self.client()
        self.post(c, "/flask/set", json={"a": 1, "s": "t"})
        before = c.cookies.get("session")
        for r in (self.get(c, "/api/echo"), self.get(c, "/flask/echo"),
                  self.patch(c, '{"a": 1}'),
                  self.patch(c, '[{"op": "test", "path": "/a", "value": 1.0}]'),
                  self.patch(c, '{"gone": null}'),
                  # Flask marks its session modified and re-sends it: same content
                  self.post(c, "/flask/set", json={"a": 1})):
            self.no_cookie(r)
            self.assertEqual(r.headers.get("Vary"), "Cookie")
        self.assertEqual(c.cookies.get("session"), before)
        self.assertJar(c, {"a": 1, "s": "t"})
        # no session at all, no change: nothing either
        c2 = self.client()
        self.no_cookie(self.get(c2, "/api/echo"))
        self.no_cookie(self.patch(c2, '{"x": null}'))
        self.assertEqual(self.api_session(c2), {})

    def test_forged_and_expired_cookies(self):
        now = int(time.time())
        good = flask_sign({"u": 1}, SECRET, now)
        cases = {
            "forged": flask_sign({"_user_id": "admin"}, b"not-the-secret", now),
            "tampered": good[:-2] + ("AA" if not good.endswith("AA") else "BB"),
            "expired": flask_sign({"_user_id": "admin"}, SECRET, now - 32 * 86400),
            "future": flask_sign({"_user_id": "admin"}, SECRET, now + 3600),
            "garbage": "not.a.cookie",
        }
        for what, value in cases.items():
            with self.subTest(what):
                c = self.client()
                c.cookies.set("session", value, domain="127.0.0.1", path="/")
                r = self.get(c, "/api/echo")
                self.assertEqual(r.json()["session"], {})
                self.no_cookie(r)
                r = self.get(c, "/flask/echo")
                self.assertEqual(r.json()["session"], {})
                cookie_hdr = dict((k.lower(), v) for k, v in r.json()["headers"]).get("cookie", "")
                self.assertNotIn("session=", cookie_hdr)
                self.no_cookie(r)
                # never deleted: the client keeps its cookie
                self.assertEqual(c.cookies.get("session"), value)
        # a valid cookie still works beside them
        c = self.client()
        c.cookies.set("session", good, domain="127.0.0.1", path="/")
        self.assertEqual(self.api_session(c), {"u": 1})

    def test_cookie_signed_as_a_second_begins(self):
        """A cookie signed in the first milliseconds of a second (Python's
        time.time(), as Flask signs) is not "from the future": sessiongate
        reads the same clock. glibc's time() lags it by up to a tick, and
        with it every such cookie was refused (SG_EFUTURE)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.sg.port, timeout=10)
        try:
            for i in range(5):
                with self.subTest(attempt=i):
                    ts = int(time.time()) + 1
                    value = flask_sign({"n": i}, SECRET, ts)  # ahead of its second
                    while time.time() < ts:
                        pass
                    conn.request("GET", "/api/echo", headers={"Cookie": "session=" + value})
                    r = conn.getresponse()
                    body = json.loads(r.read())
                    self.assertEqual(r.status, 200)
                    self.assertEqual(body["session"], {"n": i})
        finally:
            conn.close()

    def test_client_session_headers_never_reach_backends(self):
        c = self.client()
        self.post(c, "/flask/set", json={"who": "me"})
        cookie = "session=" + c.cookies.get("session")
        forged = '{"_user_id":"admin"}'
        for path in ("/api/echo", "/flask/echo"):
            conn = self.sg.conn()
            conn.putrequest("GET", path)
            conn.putheader("Cookie", cookie)
            for name in ("X-Session", "X_Session", "x-session", "X-SESSION", "x_sEssion",
                         "X-Session-Patch", "X_Session_Patch", "x-session-patch"):
                conn.putheader(name, forged)
            conn.endheaders()
            r = conn.getresponse()
            body = json.loads(r.read())
            conn.close()
            self.assertEqual(r.status, 200)
            got = [(k, v) for k, v in body["headers"]
                   if k.lower().replace("_", "-").startswith("x-session")]
            self.assertEqual(got, [(got[0][0], '{"who":"me"}')] if got else [], got)
            self.assertEqual(len(got), 1, body["headers"])

    def test_connection_header_cannot_strip_ours(self):
        c = self.client()
        self.post(c, "/flask/set", json={"k": "v"})
        r = self.get(c, "/api/echo", headers={"Connection": "keep-alive, X-Session, X-Session-Patch"})
        self.assertEqual(r.json()["session"], {"k": "v"})
        # nor can a backend's Connection header remove the cookie or Vary we add
        r = self.patch(c, '{"k": "w"}', extra_headers=[["Connection", "Set-Cookie, Vary"]])
        self.one_cookie(r)
        self.assertEqual(r.headers.get("Vary"), "Cookie")
        self.assertJar(c, {"k": "w"})

    def test_patches_never_reach_the_client(self):
        c = self.client()
        conn = self.sg.conn()
        conn.request("POST", "/api/patch", body=json.dumps(
            {"patches": ['{"a": 1}', "garbage", '{"b": 2}'],
             "extra_headers": [["X-Session-Patch", '{"c": 3}'], ["x-session-patch", "{}"]]}),
            headers={"Content-Type": "application/json"})
        r = conn.getresponse()
        r.read()
        names = [k.lower() for k, _ in r.getheaders()]
        conn.close()
        self.assertEqual(r.status, 200)
        self.assertNotIn("x-session-patch", names)
        self.assertEqual(names.count("set-cookie"), 1)

    def test_delete_on_empty(self):
        c = self.client()
        self.post(c, "/flask/set", json={"a": 1, "b": 2})
        cookie = c.cookies.get("session")
        r = self.patch(c, '{"a": null, "b": null}')
        sc = self.one_cookie(r)
        self.assertEqual([sc], flask_emits({}, int(time.time()), clear_cookie=cookie))
        self.assertIsNone(c.cookies.get("session"))
        self.assertEqual(self.flask_session(c), {})
        # deleted by the Flask side: one deletion cookie, Flask's
        self.post(c, "/flask/set", json={"a": 1})
        r = self.post(c, "/flask/clear")
        self.assertEqual(self.one_cookie(r), sc)
        self.assertIsNone(c.cookies.get("session"))
        self.assertEqual(self.api_session(c), {})
        # a JSON Patch removing the last key
        self.patch(c, '{"z": 1}')
        r = self.patch(c, '[{"op": "remove", "path": "/z"}]')
        self.assertEqual(self.one_cookie(r), sc)
        self.assertJar(c, {})

    def test_write_policy(self):
        c = self.client()
        self.post(c, "/flask/set", json={"a": 1})
        mark = self.log_mark()
        for bad in ('{"api_x": 1, "a": 2}', '[{"op": "remove", "path": "/a"}]',
                    '[{"op": "add", "path": "/api_y", "value": 1}, {"op": "add", "path": "/b", "value": 1}]',
                    '[{"op": "move", "from": "/a", "path": "/api_a"}]',
                    '[{"op": "replace", "path": "", "value": {}}]'):
            with self.subTest(bad):
                self.no_cookie(self.patch(c, bad, base="/limited"))
                self.assertJar(c, {"a": 1})
        self.wait_log(mark, "backend limited: session patch 1 of 1 rejected (forbidden)")
        r = self.patch(c, '{"api_x": 1, "cart": [1]}',
                       '[{"op": "copy", "from": "/a", "path": "/api_copy"}]', base="/limited")
        self.one_cookie(r)
        self.assertJar(c, {"a": 1, "api_x": 1, "cart": [1], "api_copy": 1})
        # the unrestricted backend may write anything
        self.patch(c, '{"a": 5}')
        self.assertJar(c, {"a": 5, "api_x": 1, "cart": [1], "api_copy": 1})

    def test_malformed_patches(self):
        c = self.client()
        self.post(c, "/flask/set", json={"a": 1})
        mark = self.log_mark()
        for bad in ("garbage", '"a string"', "42", '{"a":', '{"a": NaN}',
                    '[{"op": "frobnicate", "path": "/a"}]', '[{"op": "add", "path": "a", "value": 1}]',
                    '[{"op": "add", "value": 1}]', '[{"op": "remove", "path": "/missing"}]',
                    '[{"op": "replace", "path": "", "value": [1]}]', "[" * 100 + "]" * 100):
            with self.subTest(bad):
                r = self.patch(c, bad)
                self.no_cookie(r)
                self.assertJar(c, {"a": 1})
        self.wait_log(mark, "backend api: session patch 1 of 1 rejected (malformed)")
        self.assertIn("rejected (not_found)", self.log_since(mark))
        # a bad patch between good ones is skipped on its own
        r = self.patch(c, '{"b": 1}', "garbage", '{"c": 1}')
        self.one_cookie(r)
        self.assertJar(c, {"a": 1, "b": 1, "c": 1})
        self.wait_log(mark, "session patch 2 of 3 rejected (malformed)")

    def test_json_patch_test_op(self):
        c = self.client()
        self.patch(c, '{"n": 1, "list": [1, 2]}')
        r = self.patch(c, '[{"op": "test", "path": "/n", "value": 2}, {"op": "add", "path": "/x", "value": 1}]',
                       '[{"op": "test", "path": "/n", "value": 1}, {"op": "add", "path": "/y", "value": 2},'
                       ' {"op": "add", "path": "/list/-", "value": 3}]')
        self.one_cookie(r)
        self.assertJar(c, {"n": 1, "list": [1, 2, 3], "y": 2})
        mark = self.log_mark()
        self.no_cookie(self.patch(c, '[{"op": "test", "path": "/list", "value": [1]}, {"op": "remove", "path": "/n"}]'))
        self.wait_log(mark, "rejected (test_failed)")
        self.assertJar(c, {"n": 1, "list": [1, 2, 3], "y": 2})

    def test_patches_apply_in_order(self):
        c = self.client()
        r = self.patch(c, '{"k": 1}', '{"k": 2, "o": {"p": 1}}', '[{"op": "move", "from": "/k", "path": "/m"}]',
                       '[{"op": "copy", "from": "/o", "path": "/o2"}, {"op": "replace", "path": "/o/p", "value": 3}]',
                       '{"o2": {"q": true}}')
        self.one_cookie(r)
        self.assertJar(c, {"m": 2, "o": {"p": 3}, "o2": {"p": 1, "q": True}})
        self.assertEqual(self.api_session(c), {"m": 2, "o": {"p": 3}, "o2": {"p": 1, "q": True}})

    def test_unexpected_session_set_cookie_from_header_backend(self):
        c = self.client()
        self.post(c, "/flask/set", json={"a": 1})
        before = c.cookies.get("session")
        mark = self.log_mark()
        r = self.patch(c, extra_headers=[["Set-Cookie", "session=evil; Path=/"],
                                         ["Set-Cookie", "other=1; Path=/"]])
        self.no_cookie(r)
        self.assertEqual(r.cookies.get("other"), "1")
        self.assertEqual(c.cookies.get("session"), before)
        self.wait_log(mark, "backend api (session: header): its Set-Cookie for the session cookie is dropped")

    # ---- Flask types, permanence, attributes ----

    def test_flask_types_survive_a_fastapi_write(self):
        c = self.client()
        self.post(c, "/flask/types")
        plain = self.api_session(c)
        self.assertEqual(plain, {
            "tup": [1, "two", [3]], "raw": base64.b64encode(b"\x00\xffbytes").decode(),
            "when": "2031-05-04T03:02:01Z", "uid": "12345678-1234-5678-1234-567812345678",
            "html": "<b>bold</b>", "tagdict": {" t": "not a tuple"}})
        self.one_cookie(self.patch(c, '{"other": 1}'))
        fs = self.flask_session(c)
        self.assertEqual({k: v["type"] for k, v in fs.items()},
                         {"tup": "tuple", "raw": "bytes", "when": "datetime", "uid": "UUID",
                          "html": "Markup", "tagdict": "dict", "other": "int"})
        self.assertEqual(fs["tagdict"]["items"], {" t": {"type": "str", "value": "not a tuple"}})
        jar = self.jar(c)
        self.assertEqual(jar["tup"], (1, "two", [3]))
        self.assertEqual(jar["raw"], b"\x00\xffbytes")
        self.assertEqual(jar["when"], datetime.datetime(2031, 5, 4, 3, 2, 1, tzinfo=datetime.timezone.utc))
        self.assertEqual(str(jar["uid"]), "12345678-1234-5678-1234-567812345678")
        self.assertEqual(type(jar["html"]).__name__, "Markup")
        self.assertEqual(jar["tagdict"], {" t": "not a tuple"})
        # a backend cannot forge a tag: its {" t": ...} stays a dict
        self.patch(c, '{"forged": {" t": [1, 2]}, "tup": [9]}')
        jar = self.jar(c)
        self.assertEqual(jar["forged"], {" t": [1, 2]})
        self.assertEqual(jar["tup"], [9])
        self.assertEqual(jar["raw"], b"\x00\xffbytes")

    def test_permanent_session_refresh(self):
        c = self.client()
        self.post(c, "/flask/set", json={"a": 1})
        r = self.post(c, "/flask/permanent")
        self.assertIn("Expires=", self.one_cookie(r))
        # Flask's SESSION_REFRESH_EACH_REQUEST: re-signed on every request
        for path in ("/api/echo", "/flask/echo"):
            sc = self.one_cookie(self.get(c, path))
            self.assertIn("Expires=", sc)
        self.assertJar(c, {"a": 1, "_permanent": True})
        sc = self.one_cookie(self.patch(c, '{"_permanent": null}'))
        self.assertNotIn("Expires=", sc)
        self.no_cookie(self.get(c, "/api/echo"))
        self.assertJar(c, {"a": 1})

    def test_cookie_attributes_match_flask(self):
        c = self.client()  # no jar use: Secure cookies for another domain
        cfg = self.attr_config
        # a permanent session: Expires = now + lifetime
        r = self.patch(c, '{"_permanent": true, "u": "\\u00e9"}', sg=self.sg_attrs)
        sc = self.one_cookie(r)
        value = sc.split(";")[0].split("=", 1)[1]
        ts = cookie_ts(value)
        self.assertEqual([sc], flask_emits(cfg, ts, {"_permanent": True, "u": "é"}))
        # refreshed on an unchanged request
        r = c.get(self.url("/api/echo", self.sg_attrs), headers={"Cookie": "session=" + value},
                  timeout=10)
        self.assertEqual(r.json()["session"], {"_permanent": True, "u": "é"})
        sc2 = self.one_cookie(r)
        v2 = sc2.split(";")[0].split("=", 1)[1]
        self.assertEqual([sc2], flask_emits(cfg, cookie_ts(v2), {"_permanent": True, "u": "é"}))
        # a browser-session cookie
        r = self.patch(c, '{"_permanent": null}', sg=self.sg_attrs, headers={"Cookie": "session=" + value})
        sc3 = self.one_cookie(r)
        v3 = sc3.split(";")[0].split("=", 1)[1]
        self.assertEqual([sc3], flask_emits(cfg, cookie_ts(v3), {"u": "é"}))
        self.assertNotIn("Expires", sc3)
        # deletion with the same attributes, so browsers really delete it
        r = self.patch(c, '{"u": null}', sg=self.sg_attrs, headers={"Cookie": "session=" + v3})
        self.assertEqual([self.one_cookie(r)], flask_emits(cfg, int(time.time()), clear_cookie=v3))

    def test_oversized_cookie(self):
        big = os.urandom(3500).hex()  # incompressible enough: a cookie over 4093 bytes
        c = self.client()
        mark = self.log_mark()
        r = self.patch(c, json.dumps({"big": big}))
        sc = self.one_cookie(r)
        self.assertGreater(len(sc), 4093)
        self.wait_log(mark, "backend api: new session cookie of %d bytes is over 4093" % len(sc))
        # refuse_oversized_cookie: 500 instead
        r = self.client().post(self.url("/api/patch", self.sg_attrs),
                               json={"patches": [json.dumps({"big": big})]}, timeout=10)
        self.assertEqual(r.status_code, 500)
        self.assertIn("too large", r.text)
        self.no_cookie(r)

    def test_session_header_over_header_max_is_431(self):
        c = self.client()
        self.post(c, "/flask/set", json={"big": "x" * 3500})
        mark = self.log_mark()
        r = c.get(self.url("/api/echo"), timeout=10)
        self.assertEqual(r.status_code, 431)
        self.assertIn("session is too large", r.text)
        self.wait_log(mark, "backend api: session header of 3510 bytes exceeds header_max (3000)")
        # the cookie backend reads the cookie itself: still served
        self.assertEqual(self.flask_session(c)["big"]["value"], "x" * 3500)
        self.post(c, "/flask/pop", json=["big"])
        self.assertEqual(self.api_session(c), {})

    # ---- Flask-Login, key rotation ----

    def test_flask_login_user_seen_by_fastapi(self):
        c = self.client()
        self.assertEqual(self.get(c, "/api/me").json(), {"user": None})
        self.one_cookie(self.post(c, "/flask/login", data={"user": "alice"}))
        self.assertEqual(self.get(c, "/api/me").json(), {"user": "alice"})
        jar = self.jar(c)
        self.assertEqual((jar["_user_id"], jar["_fresh"]), ("alice", True))
        self.assertEqual(self.get(c, "/flask/echo").json()["user"], "alice")
        # logged out from the FastAPI side: Flask agrees
        self.patch(c, '{"_user_id": null, "_fresh": null, "_id": null}')
        self.assertIsNone(self.get(c, "/flask/echo").json()["user"])
        self.assertJar(c, {})
        # and from the Flask side
        self.post(c, "/flask/login", data={"user": "bob"})
        self.assertEqual(self.get(c, "/api/me").json(), {"user": "bob"})
        self.post(c, "/flask/logout")
        self.assertEqual(self.get(c, "/api/me").json(), {"user": None})
        self.assertNotIn("_user_id", self.jar(c))

    def test_patched_cookie_is_flasks_own_bytes(self):
        """Patches that set or remove top-level plain values are spliced into
        the session's JSON text (lib/splice.c): the cookie is byte for byte
        the one real Flask sets for the patched session in the same second,
        and /metrics shows the fast path was taken, once per patch header."""
        c = self.client()
        self.one_cookie(self.post(c, "/flask/login", data={"user": "carol"}))
        data = self.jar(c)
        spliced = "sessiongate_session_patches_spliced_total"
        before = scrape(self, self.sg.admin).get(spliced)
        steps = [['{"n": 1}'],
                 ['{"n": 2, "csrf_token": "t0k3n", "_fresh": false}'],
                 ['{"name": "caf\\u00e9 \\"q\\" \\n"}', '{"z": true, "n": null}'],
                 ['{"_id": null}']]
        for patches in steps:
            for p in patches:
                for k, v in json.loads(p).items():
                    if v is None:
                        data.pop(k, None)
                    else:
                        data[k] = v
            header = self.one_cookie(self.patch(c, *patches))
            value = header.split(";", 1)[0].split("=", 1)[1]
            self.assertEqual(value, flask_sign(data, SECRET, cookie_ts(value)), patches)
            self.assertJar(c, data)
        after = scrape(self, self.sg.admin).get(spliced)
        self.assertEqual(after - before, sum(len(p) for p in steps))

    def test_readme_example(self):
        c = self.client()
        self.post(c, "/flask/login", data={"user": "carol"})
        self.assertEqual(self.post(c, "/api/cart/7").json(), {"user": "carol", "cart": [7]})
        self.assertEqual(self.post(c, "/api/cart/9").json(), {"user": "carol", "cart": [7, 9]})
        self.assertEqual(self.flask_session(c)["cart"]["items"],
                         [{"type": "int", "value": 7}, {"type": "int", "value": 9}])
        self.assertEqual(self.jar(c)["cart"], [7, 9])

    def test_fallback_key(self):
        c = self.client()
        old = flask_sign({"who": "old"}, OLD_SECRET, int(time.time()))
        c.cookies.set("session", old, domain="127.0.0.1", path="/")
        r = self.get(c, "/api/echo")
        self.assertEqual(r.json()["session"], {"who": "old"})
        self.no_cookie(r)
        # the Flask app knows only the current key: it gets a re-signed copy
        r = self.get(c, "/flask/echo")
        self.assertEqual(r.json()["session"], {"who": {"type": "str", "value": "old"}})
        self.no_cookie(r)
        self.assertEqual(c.cookies.get("session"), old)
        # changed: signed with the current key
        self.one_cookie(self.patch(c, '{"x": 1}'))
        new = c.cookies.get("session")
        self.assertEqual(flask_load(new, SECRET, int(time.time())), {"who": "old", "x": 1})
        self.assertIsNone(flask_load(new, OLD_SECRET, int(time.time())))


if __name__ == "__main__":
    harness.main()
