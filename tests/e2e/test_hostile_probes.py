"""tests/e2e/test_hostile_probes.py — parser and smuggling probes beyond
test_proxy_smuggling.py (issue 7's list): TE odd case and stray bytes, NUL and
CTLs in names, values and targets, chunk-size and chunk-extension abuse,
overlong request lines, too many or too large headers, odd request lines,
pipelining after an error; plus the shapes sessiongate accepts on purpose
(chunk extensions dropped, a body on GET, forbidden trailers dropped), checked
byte for byte on the backend side."""
import os
import re
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

H = b"POST /x HTTP/1.1\r\nHost: a\r\n"
G = b"GET /x HTTP/1.1\r\nHost: a\r\n"
TE = H + b"Transfer-Encoding: chunked\r\n\r\n"

# (name, raw request, expected status): refused, connection closed, nothing
# forwarded, the request pipelined behind it never answered.
CASES = [
    # Transfer-Encoding: odd case, stray bytes, empty list members
    ("te_odd_case_with_cl", H + b"tRaNsFeR-eNcOdInG: cHuNkEd\r\nContent-Length: 3\r\n\r\n0\r\n\r\n", 400),
    ("te_leading_comma", H + b"Transfer-Encoding: ,chunked\r\n\r\n0\r\n\r\n", 400),
    ("te_trailing_comma", H + b"Transfer-Encoding: chunked,\r\n\r\n0\r\n\r\n", 400),
    ("te_nul", H + b"Transfer-Encoding: chunked\x00\r\n\r\n0\r\n\r\n", 400),
    ("te_empty", H + b"Transfer-Encoding: \r\n\r\n", 400),
    ("te_gzip_chunked", H + b"Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 400),
    ("te_quoted", H + b"Transfer-Encoding: \"chunked\"\r\n\r\n0\r\n\r\n", 400),
    # Content-Length shapes not covered elsewhere
    ("cl_empty", H + b"Content-Length: \r\n\r\n", 400),
    ("cl_inner_space", H + b"Content-Length: 1 2\r\n\r\n", 400),
    ("cl_negative", H + b"Content-Length: -1\r\n\r\n", 400),
    # NUL and control characters anywhere in the head
    ("nul_name", G + b"X\x00A: b\r\n\r\n", 400),
    ("nul_target", b"GET /x\x00y HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    ("ctl_target", b"GET /x\x01y HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    ("del_value", G + b"X-A: a\x7fb\r\n\r\n", 400),
    ("esc_value", G + b"X-A: a\x1bb\r\n\r\n", 400),
    ("cr_in_value", G + b"X-A: a\rb\r\n\r\n", 400),
    ("lf_in_value", G + b"X-A: a\nX-B: b\r\n\r\n", 400),
    # chunk sizes, extensions and terminators
    ("chunk_size_huge", TE + b"1" + b"0" * 16 + b"\r\n", 400),
    ("chunk_size_negative", TE + b"-1\r\nabc\r\n0\r\n\r\n", 400),
    ("chunk_size_0x", TE + b"0x3\r\nabc\r\n0\r\n\r\n", 400),
    ("chunk_size_leading_space", TE + b" 3\r\nabc\r\n0\r\n\r\n", 400),
    ("chunk_size_trailing_space", TE + b"3 \r\nabc\r\n0\r\n\r\n", 400),
    ("chunk_size_bare_lf", TE + b"3\nabc\n0\n\n", 400),
    ("chunk_data_too_long", TE + b"3\r\nabcd\r\n0\r\n\r\n", 400),
    ("chunk_ext_ctl", TE + b"3;a=\x01\r\nabc\r\n0\r\n\r\n", 400),
    ("chunk_ext_bws", TE + b"3 ;a=b\r\nabc\r\n0\r\n\r\n", 400),
    ("last_chunk_bad_end", TE + b"3\r\nabc\r\n0\r\nX\r\n", 400),
    ("trailer_bad_name", TE + b"3\r\nabc\r\n0\r\nX Y: 1\r\n\r\n", 400),
    ("trailer_ctl", TE + b"3\r\nabc\r\n0\r\nX-T: a\x01\r\n\r\n", 400),
    ("trailer_te", TE + b"3\r\nabc\r\n0\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
    # request line
    ("overlong_request_line", b"GET /" + b"a" * 40000 + b" HTTP/1.1\r\nHost: a\r\n\r\n", 414),
    ("lowercase_method", b"get /x HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    ("http09", b"GET /x\r\n\r\n", 505),
    ("version_1_10", b"GET /x HTTP/1.10\r\nHost: a\r\n\r\n", 400),
    ("version_lowercase", b"GET /x http/1.1\r\nHost: a\r\n\r\n", 400),
    ("target_no_slash", b"GET x HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    ("target_fragment", b"GET /x#f HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    ("absolute_form_ftp", b"GET ftp://a/x HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    ("h2_preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 400),
    # Host
    ("host_list", b"GET /x HTTP/1.1\r\nHost: a, b\r\n\r\n", 400),
    ("host_space", b"GET /x HTTP/1.1\r\nHost: a b\r\n\r\n", 400),
    ("host_slash", b"GET /x HTTP/1.1\r\nHost: a/b\r\n\r\n", 400),
    ("host_dup_case", b"GET /x HTTP/1.1\r\nHost: a\r\nhOST: a\r\n\r\n", 400),
    # sizes
    ("too_many_headers", G + b"".join(b"X-%d: 1\r\n" % i for i in range(101)) + b"\r\n", 431),
    ("header_too_large", G + b"X-A: " + b"a" * 40000 + b"\r\n\r\n", 431),
]

# Refused while streaming the body, after the head went out: the backend sees
# an unfinished request and the connection closed, never a complete request.
BODY_CASES = {"chunk_size_huge", "chunk_size_negative", "chunk_size_0x",
              "chunk_size_leading_space", "chunk_size_trailing_space", "chunk_size_bare_lf",
              "chunk_data_too_long", "chunk_ext_ctl", "chunk_ext_bws", "last_chunk_bad_end",
              "trailer_bad_name", "trailer_ctl", "trailer_te"}


class RawBackend(harness.ThreadedServer):
    """A backend that records every byte it receives (per connection) and
    answers each request once the request looks complete (a blank line, and
    the chunked terminator when chunked), so a test sees the exact bytes
    sessiongate forwarded."""

    def __init__(self):
        self.conns = []
        self.lock = threading.Lock()
        super().__init__(backlog=64)

    def _serve(self, c):
        buf = bytearray()
        with self.lock:
            self.conns.append(buf)
        pending = b""
        with c:
            c.settimeout(10)
            for d in self.chunks(c):
                with self.lock:
                    buf += d
                pending += d
                while True:
                    head, sep, rest = pending.partition(b"\r\n\r\n")
                    if not sep:
                        break
                    if b"transfer-encoding: chunked" in head.lower():
                        # sessiongate re-frames: the last chunk is "0\r\n"
                        z = 0 if rest.startswith(b"0\r\n") else rest.find(b"\r\n0\r\n") + 2
                        end = rest.find(b"\r\n\r\n", z) if z >= 0 and (z > 1 or rest[:1] == b"0") else -1
                        if end < 0:
                            break
                        pending = rest[end + 4:]
                    else:
                        n = 0
                        for line in head.split(b"\r\n"):
                            k, _, v = line.partition(b":")
                            if k.strip().lower() == b"content-length":
                                n = int(v)
                        if len(rest) < n:
                            break
                        pending = rest[n:]
                    c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

    def received(self):
        with self.lock:
            return b"".join(bytes(b) for b in self.conns)

    def clear(self):
        # in place: sessiongate reuses pooled connections across tests
        with self.lock:
            for b in self.conns:
                del b[:]


class ProbeTest(harness.ProbeTestCase):
    # the backend records only complete requests: for BODY_CASES it saw a
    # head and part of a body, then the connection closed
    PROBES = CASES

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.be = cls.start_backend("be", "echo_backend.py")
        cls.raw = RawBackend()
        cls.addClassCleanup(cls.raw.stop)
        cls.sg = cls.start_daemon(backends={"be": [cls.be.addr], "raw": [cls.raw.addr]},
                                  routes=[("/raw", "raw", False, None), ("/", "be", False, None)])

    def test_pipelined_after_error(self):
        # good, bad, good on one connection: the first is answered, the bad
        # one gets 400 and closes, the third is never read as a request
        self.be.clear()
        data = (b"GET /first HTTP/1.1\r\nHost: a\r\n\r\n"
                b"GET /bad HTTP/1.1\r\nHost: a\r\nX\x00: 1\r\n\r\n"
                b"GET /third HTTP/1.1\r\nHost: a\r\n\r\n")
        resp = harness.raw_request(self.sg.port, data, timeout=5)
        statuses = [int(m) for m in re.findall(rb"HTTP/1\.1 (\d{3}) ", resp)]
        self.assertEqual(statuses, [200, 400])
        time.sleep(0.05)
        self.assertEqual([r["target"] for r in self.be.received()], ["/first"])

    def test_get_with_body_is_framed(self):
        # a body on GET is forwarded framed as received: the request behind
        # it stays a separate request, never part of the body or vice versa
        self.be.clear()
        data = (b"GET /a HTTP/1.1\r\nHost: a\r\nContent-Length: 35\r\n\r\n"
                b"GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n"
                b"GET /b HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        resp = harness.raw_request(self.sg.port, data, timeout=5)
        self.assertEqual(resp.count(b"HTTP/1.1 200 "), 2, resp[:300])
        time.sleep(0.05)
        got = self.be.received()
        self.assertEqual([(r["target"], r["body_len"]) for r in got], [("/a", 35), ("/b", 0)])

    def test_chunk_extensions_dropped(self):
        # accepted, and the backend sees canonical size lines only
        self.raw.clear()
        data = (b"POST /raw HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
                b"Connection: close\r\n\r\n"
                b"3;a=b\r\nabc\r\n2;name=\"q;uoted\"\r\nde\r\n0;z\r\n\r\n")
        resp = harness.raw_request(self.sg.port, data, timeout=5)
        self.assertTrue(resp.startswith(b"HTTP/1.1 200 "), resp[:100])
        fwd = self.raw.received()
        self.assertTrue(fwd.endswith(b"\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"), fwd)
        self.assertNotIn(b";", fwd.split(b"\r\n\r\n", 1)[1])

    def test_forbidden_trailers_dropped(self):
        # framing and routing fields in trailers are dropped, others kept
        self.raw.clear()
        data = (b"POST /raw HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
                b"Connection: close\r\n\r\n3\r\nabc\r\n0\r\nContent-Length: 99\r\n"
                b"Host: evil\r\nConnection: x\r\nX-Checksum: 1\r\n\r\n")
        resp = harness.raw_request(self.sg.port, data, timeout=5)
        self.assertTrue(resp.startswith(b"HTTP/1.1 200 "), resp[:100])
        body = self.raw.received().split(b"\r\n\r\n", 1)[1]
        self.assertEqual(body, b"3\r\nabc\r\n0\r\nX-Checksum: 1\r\n\r\n")

    def test_accepted_on_purpose(self):
        # shapes RFC 9112 allows: forwarded (and answered) normally
        ok = [
            H + b"Transfer-Encoding: \tCHUNKED \r\n\r\n3\r\nabc\r\n0\r\n\r\n",  # OWS, case
            b"\r\nGET /x HTTP/1.1\r\nHost: a\r\n\r\n",  # one leading empty line
            b"GET https://a/x HTTP/1.1\r\nHost: b\r\n\r\n",  # absolute-form
            G + b"X-A: caf\xe9\tb\r\n\r\n",  # obs-text and HTAB in a value
            H + b"Content-Length: 003\r\n\r\nabc",  # leading zeros: one decimal value
        ]
        for raw in ok:
            with self.subTest(raw[:40]):
                with harness.raw_connect(self.sg.port) as s:
                    s.sendall(raw)
                    r = harness.read_response(s.makefile("rb"))
                self.assertEqual(r.status, 200, raw)


if __name__ == "__main__":
    harness.main()
