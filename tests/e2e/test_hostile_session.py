"""tests/e2e/test_hostile_session.py — session attacks through the real
daemon: forged, truncated, re-ordered, replayed-expired and future-signed
cookies, a zlib bomb, deep nesting, thousands of keys, client-sent session and
patch headers under every spelling, Connection naming our headers, and hostile
backends (a 1 MB patch, a forbidden key, not JSON, forged tags). Each bad
cookie must reach the backend as {} and leave the client's cookie alone (no
Set-Cookie); nothing may crash the daemon (checked at teardown, ASan too)."""
import base64
import http.server
import json
import os
import sys
import threading
import time
import unittest
import warnings
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from flask_cookie import flask_load, flask_sign  # noqa: E402

import itsdangerous  # noqa: E402

SECRET = harness.SECRET
warnings.simplefilter("ignore")  # werkzeug warns about the oversized cookies made on purpose


class Scripted(http.server.BaseHTTPRequestHandler):
    """Records every request head; answers with the headers the test queued
    for the path (srv.replies[path]: list of (name, value))."""
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def do_any(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n:
            self.rfile.read(n)
        srv = self.server
        with srv.lock:
            srv.seen.append((self.path, list(self.headers.items())))
            extra = srv.replies.get(self.path.split("?")[0], [])
        body = b"ok"
        self.send_response(200)
        for k, v in extra:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_any


class Backend(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), Scripted)
        self.lock = threading.Lock()
        self.seen = []
        self.replies = {}
        self.addr = f"127.0.0.1:{self.server_address[1]}"
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def handle_error(self, request, client_address):
        pass  # sessiongate closing on a refused response is expected here

    def stop(self):
        self.shutdown()
        self.server_close()

    def last(self):
        with self.lock:
            return self.seen[-1]


def serializer(secret=SECRET):
    """itsdangerous as Flask configures it, for cookies Flask would never make."""
    return itsdangerous.URLSafeTimedSerializer(
        secret, salt="cookie-session",
        signer_kwargs={"key_derivation": "hmac", "digest_method": __import__("hashlib").sha1})


def sign_payload(payload, ts, secret=SECRET):
    """A cookie whose payload part is exactly payload (bytes), signed at ts."""
    s = serializer(secret).make_signer()
    orig = itsdangerous.timed.TimestampSigner.get_timestamp
    itsdangerous.timed.TimestampSigner.get_timestamp = lambda self: ts
    try:
        return s.sign(payload).decode()
    finally:
        itsdangerous.timed.TimestampSigner.get_timestamp = orig


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=")


class SessionAttackTest(harness.TestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.be = Backend()
        cls.addClassCleanup(cls.be.stop)
        cls.sg = cls.start_daemon(
            backends={"api": [cls.be.addr], "limited": [cls.be.addr]},
            routes=[("/limited", "limited", False, None), ("/", "api", False, None)],
            backend_opts={"limited": 'writable_keys: ["api_*"]'})
        cls.now = int(time.time())
        cls.good = flask_sign({"_user_id": "42", "role": "user"}, SECRET, cls.now)

    # ---- helpers ----

    def req(self, path="/echo", cookie=None, headers=(), sg=None):
        """One request; returns (status, response headers list, X-Session
        values the backend got)."""
        with harness.raw_connect((sg or self.sg).port) as s:
            h = b"GET %s HTTP/1.1\r\nHost: a\r\nConnection: close\r\n" % path.encode()
            if cookie is not None:
                h += b"Cookie: session=" + cookie.encode() + b"\r\n"
            for k, v in headers:
                h += k.encode() + b": " + v.encode("latin-1") + b"\r\n"
            n = len(self.be.seen)
            s.sendall(h + b"\r\n")
            r = harness.read_response(s.makefile("rb"))
        with self.be.lock:
            new = self.be.seen[n:]
        xs = [v for _, hd in new for k, v in hd if k.lower().replace("_", "-") == "x-session"]
        return r.status, r.headers, xs, new

    def set_cookies(self, headers):
        return [v for k, v in headers if k.lower() == "set-cookie"]

    @staticmethod
    def tamper_last(cookie):
        return cookie[:-1] + ("E" if cookie[-1] == "A" else "A")

    def assert_empty_session(self, cookie, why):
        status, headers, xs, _ = self.req(cookie=cookie)
        self.assertEqual(status, 200, why)
        self.assertEqual(xs, ["{}"], why)
        self.assertEqual(self.set_cookies(headers), [], why)
        self.assertIsNone(next((v for k, v in headers if k.lower() == "x-session-patch"), None))

    # ---- cookies ----

    def test_valid_cookie_control(self):
        status, headers, xs, _ = self.req(cookie=self.good)
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(xs[0]), {"_user_id": "42", "role": "user"})
        self.assertEqual(self.set_cookies(headers), [])

    def test_bad_cookies_are_empty_and_kept(self):
        p, t, sig = self.good.split(".")
        forged = flask_sign({"_user_id": "1", "role": "admin"}, b"guessed-secret", self.now)
        admin = b64(json.dumps({"_user_id": "1", "role": "admin"}).encode()).decode()
        cases = {
            "forged_key": forged,
            "payload_swapped": f"{admin}.{t}.{sig}",
            "unsigned": f"{admin}.{t}.",
            "truncated_sig": self.good[:-1],
            "truncated_half": self.good[:len(self.good) // 2],
            "reordered": f"{t}.{p}.{sig}",
            "sig_first": f"{sig}.{p}.{t}",
            "extra_dot": f"{p}.{t}.{sig}.x",
            "timestamp_bumped": f"{p}.{b64((self.now + 1).to_bytes(4, 'big')).decode()}.{sig}",
            "expired_replay": flask_sign({"_user_id": "42"}, SECRET, self.now - 32 * 86400),
            "signed_in_future": flask_sign({"_user_id": "42"}, SECRET, self.now + 3600),
            # the last character of a SHA-1 signature carries 4 bits: swap it for
            # another canonical one (a fixed "A" left 1 cookie in 16 valid)
            "sig_last_char": self.tamper_last(sign_payload(admin.encode(), self.now, SECRET)),
            "empty": "",
            "quoted_garbage": '"\\"x\\""',
            "oversized": "A" * 20000,
        }
        for name, cookie in cases.items():
            with self.subTest(name):
                self.assert_empty_session(cookie, name)

    def test_zlib_bomb(self):
        # a validly signed compressed payload that inflates past the cap
        # (256 KiB): refused as too large, never inflated further
        js = json.dumps({"a": "x" * (2 * 1024 * 1024)}).encode()
        payload = b"." + b64(zlib.compress(js, 9))
        cookie = sign_payload(payload, self.now)
        self.assertLess(len(cookie), 8000)
        self.assert_empty_session(cookie, "bomb")

    def test_deep_nesting(self):
        # Unsigned nesting is never parsed (the signature is checked first).
        forged = b64(b'{"a":' + b"[" * 5000 + b"]" * 5000 + b"}").decode() + ".AAAA.AAAA"
        self.assert_empty_session(forged, "unsigned deep")
        # A validly signed deep session is trusted data: forwarded as Flask
        # reads it while its header fits header_max, else 431; never re-signed.
        for depth, expect in ((200, 200), (5000, 431)):
            payload = b64(b'{"a":' + b"[" * depth + b"]" * depth + b"}")
            status, headers, xs, seen = self.req(cookie=sign_payload(payload, self.now))
            self.assertEqual(status, expect, depth)
            self.assertEqual(self.set_cookies(headers), [])
            if expect == 200:
                self.assertEqual(xs, ['{"a":' + "[" * depth + "]" * depth + "}"])
            else:
                self.assertEqual(seen, [])
        # a backend's deeply nested patch is refused as a whole
        deep = '{"a": ' + "[" * 100 + "]" * 100 + "}"
        status, headers, _, _ = self.backend_says("/deep", [("X-Session-Patch", deep)])
        self.assert_untouched(status, headers)

    def test_thousands_of_keys(self):
        # a valid session too big for the X-Session header (8000 bytes): 431,
        # and the backend sees nothing
        many = {f"k{i}": i for i in range(2500)}
        cookie = flask_sign(many, SECRET, self.now)
        self.assertLess(len(cookie), 16000)
        status, headers, xs, seen = self.req(cookie=cookie)
        self.assertEqual(status, 431)
        self.assertEqual(seen, [])
        self.assertEqual(self.set_cookies(headers), [])

    def test_first_session_cookie_wins(self):
        forged = flask_sign({"role": "admin"}, b"guessed-secret", self.now)
        for cookie, expect in ((f"{forged}; session={self.good}", {}),
                               (f"{self.good}; session={forged}",
                                {"_user_id": "42", "role": "user"})):
            status, headers, xs, _ = self.req(cookie=cookie)
            self.assertEqual(status, 200)
            self.assertEqual([json.loads(x) for x in xs], [expect])
            self.assertEqual(self.set_cookies(headers), [])

    # ---- client-sent headers ----

    def test_client_session_headers_never_forwarded(self):
        for name in ("X-Session", "X-SESSION", "x-session", "X-Session-Patch",
                     "x-session-patch", "X-SESSION-PATCH"):
            with self.subTest(name):
                status, headers, xs, seen = self.req(
                    cookie=self.good, headers=[(name, '{"role": "admin"}')])
                self.assertEqual(status, 200)
                self.assertEqual([json.loads(x) for x in xs],
                                 [{"_user_id": "42", "role": "user"}])
                names = [k.lower() for k, _ in seen[0][1]]
                self.assertEqual(names.count("x-session"), 1)
                self.assertNotIn("x-session-patch", names)
                self.assertEqual(self.set_cookies(headers), [])

    def test_underscore_spellings_refused(self):
        # WSGI would read these as X-Session: refused before any backend
        for name in ("x_session", "X_Session", "X_SESSION_PATCH"):
            with self.subTest(name):
                status, headers, xs, seen = self.req(
                    cookie=self.good, headers=[(name, '{"role": "admin"}')])
                self.assertEqual(status, 400)
                self.assertEqual(seen, [])

    def test_connection_cannot_strip_or_smuggle(self):
        status, headers, xs, seen = self.req(
            cookie=self.good, headers=[("Connection", "X-Session, X-Session-Patch"),
                                       ("X-Session", '{"role": "admin"}')])
        self.assertEqual(status, 200)
        self.assertEqual([json.loads(x) for x in xs], [{"_user_id": "42", "role": "user"}])
        self.assertEqual(self.set_cookies(headers), [])

    # ---- hostile backends ----

    def backend_says(self, path, hdrs, cookie=None):
        self.be.replies[path] = hdrs
        try:
            return self.req(path=path, cookie=cookie or self.good)
        finally:
            del self.be.replies[path]

    def assert_untouched(self, status, headers, expect_status=200):
        self.assertEqual(status, expect_status)
        self.assertEqual(self.set_cookies(headers), [])
        self.assertNotIn("x-session-patch", [k.lower() for k, _ in headers])
        # the session is still what the client's cookie says
        _, _, xs, _ = self.req(cookie=self.good)
        self.assertEqual(json.loads(xs[0]), {"_user_id": "42", "role": "user"})

    def test_megabyte_patch(self):
        # over the response head limit (32 KiB): 502, nothing applied
        big = json.dumps({"blob": "x" * (1024 * 1024)})
        status, headers, _, _ = self.backend_says("/big", [("X-Session-Patch", big)])
        self.assert_untouched(status, headers, 502)

    def test_patch_with_control_character(self):
        # a malformed response head: 502, as any backend response with a CTL
        status, headers, _, _ = self.backend_says("/ctl", [("X-Session-Patch", '{"a": "\x7f"}')])
        self.assert_untouched(status, headers, 502)

    def test_patch_not_json(self):
        for bad in ("not json", "{", '{"a": 1}}', "[1, 2]", '"str"', "null", "{\"a\": NaN",
                    '[{"op": "add", "path": "role", "value": 1}]',
                    '[{"op": "replace", "path": "/role"}]', "[]" * 600):
            with self.subTest(bad):
                status, headers, _, _ = self.backend_says("/bad", [("X-Session-Patch", bad)])
                self.assert_untouched(status, headers)

    def test_forbidden_key(self):
        for patch in ('{"role": "admin"}', '{"api_x": 1, "role": "admin"}',
                      '[{"op": "remove", "path": "/_user_id"}]',
                      '[{"op": "move", "from": "/role", "path": "/api_role"}]',
                      '[{"op": "copy", "from": "/role", "path": "/api_role"},'
                      ' {"op": "add", "path": "/role", "value": "admin"}]'):
            with self.subTest(patch):
                status, headers, _, _ = self.backend_says(
                    "/limited/x", [("X-Session-Patch", patch)])
                self.assert_untouched(status, headers)
        # a permitted key still works through the same backend
        status, headers, _, _ = self.backend_says("/limited/x",
                                                  [("X-Session-Patch", '{"api_x": 1}')])
        self.assertEqual(len(self.set_cookies(headers)), 1)

    def test_one_bad_patch_header_rejects_only_itself(self):
        status, headers, _, _ = self.backend_says(
            "/mixed", [("X-Session-Patch", '{"a": 1}'), ("X-Session-Patch", "{oops"),
                       ("X-Session-Patch", '{"b": 2}')])
        self.assertEqual(status, 200)
        sc = self.set_cookies(headers)
        self.assertEqual(len(sc), 1, sc)
        value = sc[0].split(";")[0].split("=", 1)[1]
        got = flask_load(value, SECRET, int(time.time()))
        self.assertEqual(got.get("_user_id"), "42")
        self.assertNotIn("oops", json.dumps(got))

    def test_tags_cannot_be_forged(self):
        # a backend writing Flask's tag shapes gets them stored as plain data
        forged = {"t": {" t": [1, 2]}, "b": {" b": "YWRtaW4="}, "m": {" m": "<script>"},
                  "d": {" d": "Tue, 24 Nov 2026 09:00:00 GMT"}, "di": {" di": {" t": [1]}}}
        status, headers, _, _ = self.backend_says(
            "/tags", [("X-Session-Patch", json.dumps(forged))])
        sc = self.set_cookies(headers)
        self.assertEqual(len(sc), 1, sc)
        value = sc[0].split(";")[0].split("=", 1)[1]
        got = flask_load(value, SECRET, int(time.time()))
        for k, v in forged.items():
            self.assertEqual(got[k], v, k)  # dicts, not tuple/bytes/Markup/datetime
            self.assertIs(type(got[k]), dict, k)
        # and the next X-Session shows exactly what the backend wrote
        _, _, xs, _ = self.req(cookie=value)
        view = json.loads(xs[0])
        for k, v in forged.items():
            self.assertEqual(view[k], v, k)

    def test_backend_set_cookie_from_header_backend_dropped(self):
        evil = flask_sign({"role": "admin"}, SECRET, self.now)
        status, headers, _, _ = self.backend_says(
            "/sc", [("Set-Cookie", f"session={evil}; Path=/"), ("Set-Cookie", "other=1")])
        self.assertEqual(status, 200)
        sc = self.set_cookies(headers)
        self.assertEqual(sc, ["other=1"])

    def test_connection_from_backend_cannot_hide_patch(self):
        # a backend naming the patch header in Connection: the patch is not
        # applied to the client behind sessiongate's back, and never shown
        status, headers, _, _ = self.backend_says(
            "/hop", [("Connection", "X-Session-Patch"), ("X-Session-Patch", '{"x": 1}')])
        self.assertEqual(status, 200)
        self.assertNotIn("x-session-patch", [k.lower() for k, _ in headers])
        for v in self.set_cookies(headers):
            got = flask_load(v.split(";")[0].split("=", 1)[1], SECRET, int(time.time()))
            self.assertEqual(got.get("_user_id"), "42")


if __name__ == "__main__":
    harness.main()
