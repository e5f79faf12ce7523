"""tests/e2e/test_cookie_interop.py — `sessiongate cookie` against real Flask 2.2 / itsdangerous, both ways.

Run by Debian's /usr/bin/python3 with SESSIONGATE set to the daemon binary.
"""
import datetime
import math
import os
import subprocess
import sys
import tempfile
import unittest
import uuid
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import itsdangerous  # noqa: E402
from itsdangerous.encoding import base64_encode  # noqa: E402
from markupsafe import Markup  # noqa: E402

from flask_cookie import flask_load, flask_sign, frozen_time, make_app  # noqa: E402

SG = os.environ.get("SESSIONGATE", "build/daemon/sessiongate")
TS = 1700000000
DAY = 86400
SECRET = b"correct horse battery staple"

PLAIN = {
    "strings": {"a": "x", "empty": "", "quote": 'say "hi"\\ \n\t\x7f'},
    "ints": {"zero": 0, "neg": -5, "big64": 2**63 - 1, "min64": -(2**63)},
    "bools": {"t": True, "f": False, "n": None},
    "lists": {"l": [1, "two", [3, [4, []]], {}], "empty": []},
    "dicts": {"d": {"b": {"c": {"d": 1}}, "a": 2}, "e": {}},
    "unicode": {"u": "h\u00e9llo \u2603 \U0001F600", "caf\u00e9": "\u4e2d\u6587", "\u00e9": 1},
    "floats": {"f": 1.5, "g": -0.0, "h": 1e-7, "i": 123456.789},
    "flask_login": {"_fresh": True, "_id": "ab" * 64, "_user_id": "42", "csrf_token": "cd" * 20},
    "long": {"k%03d" % i: "value %d " % i * 5 for i in range(150)},
    "incompressible": {"r": base64_encode(os.urandom(600)).decode()},
}
TAGGED = {
    "tuple": {"t": (1, "a", (2,))},
    "bytes": {"b": b"\x00\xffbin\x80"},
    "markup": {"m": Markup("<b>bold</b> &amp;")},
    "uuid": {"u": uuid.UUID("12345678-1234-5678-1234-567812345678")},
    "datetime": {"d": datetime.datetime(2023, 11, 14, 22, 13, 20, tzinfo=datetime.timezone.utc)},
    "escaped_dict": {"di": {" t": [1, 2]}, "dm": {" m": "not markup"}},
    "nested": {"x": [(1, b"\x01"), {"y": {" u": "z"}}]},
}
LOSSLESS = {
    "bigint": {"big": 2**100, "neg": -(2**70), "huge": 10**60 + 1},
    "nan_inf": {"nan": float("nan"), "inf": float("inf"), "ninf": float("-inf")},
    "nul": {"nul": "a\x00b", "k\x00": 1},
    "surrogate": {"sur": "\ud800x", "low": "\udfff", "pair_like": "\ud800\ud800"},
    "floats": {"f": 1e16, "g": 1.5e-7, "h": 0.1, "i": 1e300, "j": 5e-324, "k": 1.7976931348623157e308},
}


def stored_json(data):
    """The JSON text Flask stores in the cookie for data (tags included)."""
    app = make_app(SECRET)
    with app.app_context():
        return app.session_interface.serializer.dumps(data)


def same(a, b):
    """Equality that treats NaN as equal to itself and checks tagged types."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a):
        return math.isnan(b)
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b


class CLI:
    """Runs the real binary with key files in a temporary directory."""

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self.tmp.cleanup)
        self.nkeys = 0

    def keyfile(self, data):
        self.nkeys += 1
        path = os.path.join(self.tmp.name, "key%d" % self.nkeys)
        with open(path, "wb") as f:
            f.write(data)
        return path

    def run_cli(self, args, stdin=b""):
        p = subprocess.run([SG, "cookie"] + args, input=stdin, capture_output=True, timeout=30)
        return p.returncode, p.stdout, p.stderr

    def decode(self, cookie, secrets=(SECRET,), now=TS, extra=()):
        args = ["decode"]
        for s in secrets:
            args += ["--secret-file", self.keyfile(s)]
        args += ["--now", str(now)] + list(extra) + ["--", cookie]
        return self.run_cli(args)

    def sign(self, text, secret=SECRET, now=TS, extra=()):
        if isinstance(text, str):
            text = text.encode("utf-8", "surrogatepass")
        args = ["sign", "--secret-file", self.keyfile(secret), "--now", str(now)] + list(extra)
        return self.run_cli(args, stdin=text)

    def assert_decodes(self, cookie, want_text, **kw):
        rc, out, err = self.decode(cookie, **kw)
        self.assertEqual((rc, err), (0, b""), cookie)
        self.assertEqual(out, want_text.encode("ascii") + b"\n")

    def assert_refused(self, cookie, reason, **kw):
        rc, out, err = self.decode(cookie, **kw)
        self.assertEqual(rc, 1, (cookie, out, err))
        self.assertEqual(out, b"")
        self.assertEqual(err.count(b"\n"), 1, err)
        self.assertIn(reason.encode(), err)

    def signed(self, text, **kw):
        rc, out, err = self.sign(text, **kw)
        self.assertEqual(rc, 0, err)
        self.assertTrue(out.endswith(b"\n"))
        return out[:-1].decode("ascii")


class FlaskToCLI(CLI, unittest.TestCase):
    """Cookies made by real Flask decode to exactly what Flask stored."""

    def check(self, sessions):
        for name, data in sessions.items():
            with self.subTest(name):
                cookie = flask_sign(data, SECRET, TS)
                self.assert_decodes(cookie, stored_json(data))

    def test_plain(self):
        self.check(PLAIN)

    def test_tagged(self):
        self.check(TAGGED)

    def test_lossless(self):
        self.check(LOSSLESS)

    def test_compressed(self):
        cookie = flask_sign(PLAIN["long"], SECRET, TS)
        self.assertTrue(cookie.startswith("."))
        self.assert_decodes(cookie, stored_json(PLAIN["long"]))

    def test_timestamps(self):
        # timestamps of different byte lengths
        for ts in (1, 255, 256, 65536, 2**31 + 5, 2**40):
            with self.subTest(ts=ts):
                cookie = flask_sign({"a": 1}, SECRET, ts)
                self.assert_decodes(cookie, '{"a":1}', now=ts)

    def test_salt_and_digest(self):
        for salt, digest in (("other-salt", None), (None, "sha256"), ("x", "sha512")):
            with self.subTest(salt=salt, digest=digest):
                cookie = flask_sign({"a": 1}, SECRET, TS, salt=salt, digest=digest)
                extra = (["--salt", salt] if salt else []) + (["--digest", digest] if digest else [])
                self.assert_decodes(cookie, '{"a":1}', extra=extra)
                self.assert_refused(cookie, "bad signature")


class CLIToFlask(CLI, unittest.TestCase):
    """Cookies we sign load in real Flask with equal content, byte-identical to Flask's own."""

    def check(self, sessions):
        for name, data in sessions.items():
            with self.subTest(name):
                cookie = self.signed(stored_json(data))
                self.assertEqual(cookie, flask_sign(data, SECRET, TS))
                loaded = flask_load(cookie, SECRET, TS)
                self.assertTrue(same(loaded, dict(data)), (loaded, data))

    def test_plain(self):
        self.check(PLAIN)

    def test_tagged(self):
        self.check(TAGGED)
        loaded = flask_load(self.signed(stored_json(TAGGED["escaped_dict"])), SECRET, TS)
        self.assertEqual(loaded["di"], {" t": [1, 2]})  # still a dict, not a tuple

    def test_lossless(self):
        self.check(LOSSLESS)

    def test_any_order_and_spacing(self):
        # input need not be in Flask's form: keys sorted, ASCII, compact on output
        data = {"b": [1, {"z": 1, "y": "\u00e9"}], "a": None}
        text = ' { "b" : [ 1 , {"z":1,"y":"\u00e9"} ] ,\n "a" : null } \n'
        cookie = self.signed(text)
        self.assertEqual(cookie, flask_sign(data, SECRET, TS))
        self.assertEqual(flask_load(cookie, SECRET, TS), data)

    def test_decode_sign_round_trip(self):
        # decode a Flask cookie, sign what it printed: the same bytes again
        for name, data in {**PLAIN, **TAGGED, **LOSSLESS}.items():
            with self.subTest(name):
                cookie = flask_sign(data, SECRET, TS)
                rc, out, err = self.decode(cookie)
                self.assertEqual(rc, 0, err)
                self.assertEqual(self.signed(out), cookie)

    def test_salt_digest_and_django_concat(self):
        cookie = self.signed('{"a":1}', extra=["--salt", "s2", "--digest", "sha512"])
        self.assertEqual(cookie, flask_sign({"a": 1}, SECRET, TS, salt="s2", digest="sha512"))
        # Starlette's flavour: TimestampSigner defaults (django-concat, salt itsdangerous.Signer)
        rc, out, err = self.run_cli(
            ["sign", "--secret-file", self.keyfile(SECRET), "--now", str(TS),
             "--key-derivation", "django-concat", "--salt", "itsdangerous.Signer"],
            stdin=b'{"a":1}')
        self.assertEqual(rc, 0, err)
        with frozen_time(TS):
            ts = itsdangerous.TimestampSigner(SECRET)
            self.assertEqual(ts.unsign(out.strip(), max_age=10), b"eyJhIjoxfQ")

    def test_refuses_non_objects(self):
        for text in (b"[1]", b'"x"', b"1", b"null", b"true", b"", b"   ", b"not json",
                     b'{"a":', b'{"a":1} x', b'{"a":1}{}', b"{'a':1}", b'{"a":nan}',
                     b"\xff\xfe{}", b'{"a":"\xff"}', b"[" * 100 + b"]" * 100,
                     b'{"a":' + b"[" * 100 + b"]" * 100 + b"}"):
            with self.subTest(text=text[:40]):
                rc, out, err = self.sign(text)
                self.assertEqual(rc, 1, (text, out, err))
                self.assertEqual(out, b"")
                self.assertEqual(err.count(b"\n"), 1, err)

    def test_python_dialect(self):
        cookie = self.signed('{"n":NaN,"i":-Infinity}')
        loaded = flask_load(cookie, SECRET, TS)
        self.assertTrue(math.isnan(loaded["n"]))
        self.assertEqual(loaded["i"], float("-inf"))


class Verification(CLI, unittest.TestCase):
    """Tampering, time, keys."""

    def setUp(self):
        super().setUp()
        self.cookie = flask_sign({"user": "alice", "n": 1}, SECRET, TS)
        self.text = '{"n":1,"user":"alice"}'

    def test_tampering(self):
        c = self.cookie
        payload, ts, sig = c.rsplit(".", 2)
        forged = flask_sign({"user": "admin", "n": 1}, b"guess", TS)
        for bad in (
            "eyJuIjoxLCJ1c2VyIjoiYWRtaW4ifQ." + ts + "." + sig,  # another payload
            payload + "." + ts + "." + sig[:-1] + ("A" if sig[-1] != "A" else "B"),
            payload + "." + base64_encode(itsdangerous.encoding.int_to_bytes(TS + 1)).decode() + "." + sig,
            payload[:-1] + ("A" if payload[-1] != "A" else "B") + "." + ts + "." + sig,
            forged,
            payload + "." + ts + "." + sig[:-2],
            payload + "." + ts + "." + sig + "AA",
            "." + payload + "." + ts + "." + sig,  # claims compression
        ):
            with self.subTest(bad=bad):
                self.assert_refused(bad, "bad signature")

    def test_expiry(self):
        self.assert_decodes(self.cookie, self.text, now=TS + 31 * DAY)
        self.assert_refused(self.cookie, "expired", now=TS + 31 * DAY + 1)
        self.assert_decodes(self.cookie, self.text, now=TS + 60, extra=["--max-age", "60"])
        self.assert_refused(self.cookie, "expired", now=TS + 61, extra=["--max-age", "60"])
        # Flask agrees on both sides of the edge
        self.assertIsNotNone(flask_load(self.cookie, SECRET, TS + 31 * DAY))
        self.assertIsNone(flask_load(self.cookie, SECRET, TS + 31 * DAY + 1))

    def test_future(self):
        self.assert_refused(self.cookie, "signed in the future", now=TS - 1)
        self.assertIsNone(flask_load(self.cookie, SECRET, TS - 1))

    def test_fallback_keys(self):
        old = self.cookie
        self.assert_refused(old, "bad signature", secrets=[b"new key"])
        rc, out, err = self.decode(old, secrets=[b"new key", b"other", SECRET])
        self.assertEqual((rc, out), (0, self.text.encode() + b"\n"))
        self.assertIn(b"fallback", err)
        # signing always uses the current key; Flask with SECRET as a fallback still loads it
        cookie = self.signed(self.text, secret=b"new key")
        self.assertEqual(cookie, flask_sign({"user": "alice", "n": 1}, b"new key", TS))
        self.assertEqual(flask_load(cookie, b"new key", TS), {"user": "alice", "n": 1})
        self.assertIsNone(flask_load(cookie, SECRET, TS))
        self.assertEqual(flask_load(old, b"new key", TS, fallbacks=[SECRET]), {"user": "alice", "n": 1})

    def test_binary_and_long_keys(self):
        keys = {
            "binary": bytes(range(256)),
            "long_nul": bytes((i * 7) & 0xFF for i in range(1000)) + b"\x00",
            "64k": os.urandom(65536),
            "one_byte": b"k",
        }
        for name, key in keys.items():
            with self.subTest(name):
                cookie = flask_sign(PLAIN["lists"], key, TS)
                self.assert_decodes(cookie, stored_json(PLAIN["lists"]), secrets=[key])
                self.assert_refused(cookie, "bad signature", secrets=[key[:-1] + bytes([key[-1] ^ 1])])
                mine = self.signed(stored_json(PLAIN["lists"]), secret=key)
                self.assertEqual(mine, cookie)
                self.assertEqual(flask_load(mine, key, TS), PLAIN["lists"])

    def test_key_file_newline(self):
        # one trailing newline is the editor's; anything else is key material
        self.assert_decodes(self.cookie, self.text, secrets=[SECRET + b"\n"])
        self.assert_refused(self.cookie, "bad signature", secrets=[SECRET + b"\n\n"])
        self.assert_refused(self.cookie, "bad signature", secrets=[SECRET + b" "])
        c2 = flask_sign({"a": 1}, b"k\n", TS)
        self.assert_decodes(c2, '{"a":1}', secrets=[b"k\n\n"])


class Garbage(CLI, unittest.TestCase):
    """Every shape of bad input: exit 1, empty stdout, one line naming the reason."""

    def raw(self, payload):
        s = itsdangerous.TimestampSigner(SECRET, salt="cookie-session", key_derivation="hmac")
        with frozen_time(TS):
            return s.sign(payload).decode()

    def test_malformed(self):
        good = flask_sign({"a": 1}, SECRET, TS)
        for bad in ("", "x", "abc", "a.b", ".", "..", "...", "....", " ", good + " ", " " + good,
                    '"' + good + '"', "session=" + good, good.replace(".", ":"), good + "=",
                    good.replace("_", "/").replace("-", "+") if ("_" in good or "-" in good) else good + "+",
                    good + ".", good.split(".")[0] + "..", "\u00e9" + good, "a.b\tc.d",
                    self.raw(b"." + base64_encode(b"not zlib")),
                    self.raw(b"." + base64_encode(zlib.compress(b'{"a":1}')[:-2])),
                    self.raw(b"." + base64_encode(zlib.compress(b'{"a":1}') + b"junk")),
                    self.raw(b"a"), self.raw(b"ab=c"), self.raw(b""), self.raw(b"."),
                    self.raw(base64_encode(b"not json")), self.raw(base64_encode(b"[1,2]")),
                    self.raw(base64_encode(b'"str"')), self.raw(base64_encode(b"null")),
                    self.raw(base64_encode(b'{"a":1')), self.raw(base64_encode(b'{"a":1}x')),
                    self.raw(base64_encode(b'{"a":"\xff"}')),
                    self.raw(base64_encode(zlib.compress(b'{"a":1}'))),  # compressed, no "."
                    ):
            with self.subTest(bad=bad[:60]):
                self.assert_refused(bad, "malformed")

    def test_bad_signature_shapes(self):
        for bad in ("a.ZVPxAA.c", "eyJhIjoxfQ.ZVPxAA.x", "e30.ZVPxAA." + "A" * 27, "e30..AAAA"):
            with self.subTest(bad=bad):
                self.assert_refused(bad, "bad signature")

    def test_too_large(self):
        self.assert_refused("A" * 20000 + ".ZVPxAA." + "A" * 27, "too large")
        bomb = self.raw(b"." + base64_encode(zlib.compress(b'{"a":"' + b"x" * 400000 + b'"}')))
        self.assert_refused(bomb, "too large")
        deep = self.raw(base64_encode(b'{"a":' + b"[" * 100 + b"]" * 100 + b"}"))
        self.assert_refused(deep, "too large")

    def test_non_utf8_argument(self):
        p = subprocess.run([SG, "cookie", "decode", "--secret-file", self.keyfile(SECRET), "--",
                            b"\xff\xfe.\x80.\x01x"], capture_output=True, timeout=30)
        self.assertEqual((p.returncode, p.stdout), (1, b""))
        self.assertIn(b"malformed", p.stderr)

    def test_usage_errors(self):
        good = flask_sign({"a": 1}, SECRET, TS)
        missing = os.path.join(self.tmp.name, "no-such-key")
        empty = self.keyfile(b"")
        newline_only = self.keyfile(b"\n")
        for args, needle in (
            (["decode", "--secret-file", missing, good], missing),
            (["decode", "--secret-file", empty, good], empty),
            (["decode", "--secret-file", newline_only, good], newline_only),
            (["decode", "--secret-file", self.tmp.name, good], self.tmp.name),
            (["sign", "--secret-file", missing], missing),
            (["decode", good], "--secret-file"),
            (["decode", "--secret-file", self.keyfile(SECRET)], "COOKIE"),
            (["decode", "--secret-file", self.keyfile(SECRET), good, good], "COOKIE"),
            (["decode", "--secret-file", self.keyfile(SECRET), "--max-age", "x", good], "max-age"),
            (["decode", "--secret-file", self.keyfile(SECRET), "--now", "-5", good], "now"),
            (["decode", "--secret-file", self.keyfile(SECRET), "--digest", "md5", good], "md5"),
            (["decode", "--bogus", good], "bogus"),
            (["frobnicate"], "frobnicate"),
            ([], "usage"),
        ):
            with self.subTest(args=args):
                rc, out, err = self.run_cli(args)
                self.assertEqual((rc, out), (2, b""), err)
                self.assertIn(needle.encode(), err)

    def test_help(self):
        rc, out, err = self.run_cli(["--help"])
        self.assertEqual(rc, 0)
        self.assertIn(b"decode", out)


if __name__ == "__main__":
    unittest.main(verbosity=2)
