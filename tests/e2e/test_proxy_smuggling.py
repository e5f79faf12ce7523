"""tests/e2e/test_proxy_smuggling.py — request smuggling and parser probes
against the running daemon: each must get the exact status and nothing may
reach the backend (it records every request it receives)."""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

H = b"POST /x HTTP/1.1\r\nHost: a\r\n"

# (name, raw request, expected status)
CASES = [
    ("cl_te", H + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    ("te_cl", H + b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n", 400),
    ("cl_dup_same", H + b"Content-Length: 3\r\nContent-Length: 3\r\n\r\nabc", 400),
    ("cl_dup_conflict", H + b"Content-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400),
    ("cl_list", H + b"Content-Length: 3, 3\r\n\r\nabc", 400),
    ("cl_sign", H + b"Content-Length: +3\r\n\r\nabc", 400),
    ("cl_hex", H + b"Content-Length: 0x3\r\n\r\nabc", 400),
    ("cl_huge", H + b"Content-Length: 99999999999999999999999\r\n\r\n", 400),
    ("te_chunked_identity", H + b"Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n", 400),
    ("te_identity_chunked", H + b"Transfer-Encoding: identity, chunked\r\n\r\n0\r\n\r\n", 400),
    ("te_xchunked", H + b"Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n", 400),
    ("te_two_headers", H + b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    ("te_space_before_colon", H + b"Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n", 400),
    ("te_vertical_tab", H + b"Transfer-Encoding:\x0bchunked\r\n\r\n0\r\n\r\n", 400),
    ("te_http10", b"POST /x HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    ("obs_fold", H + b"X-A: 1\r\n folded\r\nContent-Length: 0\r\n\r\n", 400),
    ("obs_fold_te", H + b"X-A: 1\r\nTransfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n", 400),
    ("bare_lf", b"GET /x HTTP/1.1\nHost: a\n\n", 400),
    ("bare_cr", b"GET /x HTTP/1.1\r\nHost: a\rX: b\r\n\r\n", 400),
    ("nul_value", b"GET /x HTTP/1.1\r\nHost: a\r\nX-A: a\x00b\r\n\r\n", 400),
    ("ctl_value", b"GET /x HTTP/1.1\r\nHost: a\r\nX-A: a\x01b\r\n\r\n", 400),
    ("ctl_name", b"GET /x HTTP/1.1\r\nHost: a\r\nX\x01A: b\r\n\r\n", 400),
    ("space_in_name", b"GET /x HTTP/1.1\r\nHost: a\r\nX A: b\r\n\r\n", 400),
    ("underscore_name", b"GET /x HTTP/1.1\r\nHost: a\r\nX_Forwarded_For: 1.2.3.4\r\n\r\n", 400),
    ("no_host_11", b"GET /x HTTP/1.1\r\n\r\n", 400),
    ("dup_host", b"GET /x HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
    ("asterisk_form", b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    ("authority_form", b"CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n", 405),
    ("trace", b"TRACE /x HTTP/1.1\r\nHost: a\r\n\r\n", 405),
    ("bad_version", b"GET /x HTTP/2.0\r\nHost: a\r\n\r\n", 505),
    ("bad_method", b"G\x01T /x HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    ("chunk_size_overflow", H + b"Transfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFFF\r\n", 400),
    ("chunk_size_not_hex", H + b"Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n", 400),
    ("expect_unknown", b"GET /x HTTP/1.1\r\nHost: a\r\nExpect: 200-ok\r\n\r\n", 417),
    ("userinfo_target", b"GET http://u@a/x HTTP/1.1\r\nHost: a\r\n\r\n", 400),
]

# Requests whose head is rejected never reach the backend; chunk errors are
# found while streaming, after the head went out (the backend then sees an
# unfinished body and the connection is closed, never a second request).
BODY_CASES = {"chunk_size_overflow", "chunk_size_not_hex", "chunk_bad_terminator"}


class SmugglingTest(harness.ProbeTestCase):
    PROBES = CASES
    HEAD_FORWARDED = BODY_CASES

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.be = cls.start_backend("be", "echo_backend.py")
        cls.sg = cls.start_daemon(backends={"be": [cls.be.addr]})

    def test_chunk_data_terminator(self):
        # llhttp checks the CRLF after chunk data only when compiled with
        # LLHTTP_STRICT_MODE=1 (the root meson.build does); otherwise it
        # skips any two bytes.
        raw = H + b"Transfer-Encoding: chunked\r\n\r\n3\r\nabcXX0\r\n\r\n"
        self.probe("chunk_bad_terminator", raw, 400)

    def test_valid_controls_still_pass(self):
        # the same shapes done right are forwarded
        ok = [H + b"Content-Length: 3\r\n\r\nabc",
              H + b"Transfer-Encoding: Chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
              b"GET http://a/x?y HTTP/1.1\r\nHost: b\r\n\r\n",
              b"GET /x HTTP/1.0\r\n\r\n"]
        for raw in ok:
            with self.subTest(raw[:40]):
                with harness.raw_connect(self.sg.port) as s:
                    s.sendall(raw)
                    r = harness.read_response(s.makefile("rb"))
                self.assertEqual(r.status, 200, raw)
        got = self.be.received()
        absolute = [r for r in got if r["target"] == "/x?y"]
        self.assertEqual(len(absolute), 1)
        self.assertIn(["Host", "a"], absolute[0]["headers"])


class UnderscoreAllowedTest(harness.TestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.be = cls.start_backend("be", "echo_backend.py")
        cls.sg = cls.start_daemon(backends={"be": [cls.be.addr]},
                                  extra="limits:\n  allow_underscore_headers: true\n")

    def test_underscore_passes_but_session_alias_removed(self):
        resp = harness.raw_request(self.sg.port, b"GET /x HTTP/1.1\r\nHost: a\r\nX_Custom: 1\r\n"
                                   b"X_Session: {\"admin\": true}\r\nConnection: close\r\n\r\n")
        self.assertTrue(resp.startswith(b"HTTP/1.1 200"), resp[:100])
        rec = self.be.received()[-1]
        names = [k for k, _ in rec["headers"]]
        self.assertIn("X_Custom", names)
        self.assertNotIn("X_Session", names)
        self.assertEqual([v for k, v in rec["headers"] if k == "X-Session"], ["{}"])


if __name__ == "__main__":
    harness.main()
