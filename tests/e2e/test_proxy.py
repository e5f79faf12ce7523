"""tests/e2e/test_proxy.py — the proxy core against real backends and real
clients: routing, keep-alive, pipelining, HTTP/1.0, streaming both ways with
hashes, chunked with trailers, hop-by-hop, X-Forwarded-*, Expect, errors,
round robin, a dead and a slow server, interim (1xx) responses."""
import hashlib
import http.client
import json
import os
import socket
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import raw_connect, raw_request, read_response  # noqa: E402


def pattern_sha(n):
    h = hashlib.sha256()
    p = bytes(range(256)) * 256
    while n > 0:
        k = min(n, len(p))
        h.update(p[:k])
        n -= k
    return h.hexdigest()


class ProxyTest(harness.TestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.be = cls.start_backend("api", "echo_backend.py")
        cls.rr1 = cls.start_backend("rr1", "echo_backend.py")
        cls.rr2 = cls.start_backend("rr2", "echo_backend.py")
        cls.dead_port = harness.free_port()  # nothing listens there
        cls.sg = cls.start_daemon(
            backends={"api": [cls.be.addr], "rr": [cls.rr1.addr, cls.rr2.addr],
                      "dead": [f"127.0.0.1:{cls.dead_port}"], "slow": [cls.be.addr],
                      "plain": [cls.be.addr]},
            routes=[("/rr", "rr", True, None), ("/dead", "dead", False, None),
                    ("/slowpoke", "slow", True, None), ("/strip", "api", True, None),
                    ("/plain", "plain", True, None),
                    ("/", "api", False, "api.example.com"),
                    ("/api", "api", True, None)],
            backend_opts={"slow": "response_timeout: 1s", "dead": "fail_timeout: 30s",
                          "plain": "session: none"},
            session_extra="header_max: 1000",
            extra="limits:\n  max_body_bytes: 1m\n  max_header_bytes: 4k\n  max_headers: 20\n"
                  "timeouts:\n  header: 1s\n")

    def echo(self, path="/api/echo", headers=None, method="GET", body=None):
        st, h, data = self.sg.get(path, headers=headers, method=method, body=body)
        self.assertEqual(st, 200, data)
        return json.loads(data), h

    # ---- routing ----

    def test_route_and_session_header(self):
        j, _ = self.echo("/api/echo?x=1")
        self.assertEqual(j["path"], "/echo?x=1")
        names = {k.lower(): v for k, v in j["headers"]}
        self.assertEqual(names["x-session"], "{}")

    def test_strip_prefix(self):
        j, _ = self.echo("/strip/echo?q=2")
        self.assertEqual(j["path"], "/echo?q=2")
        j, _ = self.echo("/strip")
        self.assertEqual(j["path"], "/")

    def test_session_none_backend_gets_no_header(self):
        j, _ = self.echo("/plain/echo", headers={"X-Session": "forged"})
        self.assertNotIn("x-session", {k.lower() for k, _ in j["headers"]})

    def test_host_route(self):
        j, _ = self.echo("/anything", headers={"Host": "API.example.com:8080"})
        self.assertEqual(j["path"], "/anything")

    def test_404_no_route(self):
        st, _, body = self.sg.get("/nowhere")
        self.assertEqual(st, 404)
        self.assertIn(b"no route", body)

    def test_404_keeps_connection(self):
        c = self.sg.conn()
        c.request("GET", "/nowhere")
        r = c.getresponse()
        r.read()
        self.assertEqual(r.status, 404)
        c.request("GET", "/api/echo")
        r = c.getresponse()
        self.assertEqual(r.status, 200)
        r.read()
        c.close()

    # ---- client sent session headers never reach the backend ----

    def test_client_session_headers_removed(self):
        j, _ = self.echo(headers={"X-Session": '{"admin":true}', "x-session-patch": "{}",
                                  "X-SESSION": "x"})
        values = [v for k, v in j["headers"] if k.lower() in ("x-session", "x-session-patch")]
        self.assertEqual(values, ["{}"])

    def test_underscore_session_header_refused(self):
        resp = raw_request(self.sg.port, b"GET /api/echo HTTP/1.1\r\nHost: a\r\n"
                           b"X_Session: {\"admin\":true}\r\n\r\n")
        self.assertTrue(resp.startswith(b"HTTP/1.1 400 "), resp)

    # ---- keep-alive, pipelining, HTTP/1.0 ----

    def test_keepalive_many_requests_one_connection(self):
        c = self.sg.conn()
        for i in range(50):
            c.request("GET", f"/api/echo?i={i}")
            r = c.getresponse()
            j = json.loads(r.read())
            self.assertEqual(j["path"], f"/echo?i={i}")
        c.close()

    def test_nodelay_from_the_second_write(self):
        # as nginx: a connection answered in one write needs no setsockopt;
        # once more follows, Nagle must not hold a short write back
        def nodelay(sock):
            return harness.server_socket_option(self.sg.pid, sock, socket.IPPROTO_TCP,
                                                socket.TCP_NODELAY)
        with raw_connect(self.sg.port) as s:
            f = s.makefile("rb")
            s.sendall(b"GET /api/echo HTTP/1.1\r\nHost: a\r\n\r\n")
            self.assertEqual(read_response(f).status, 200)
            self.assertEqual(nodelay(s), 0)
            s.sendall(b"GET /api/echo HTTP/1.1\r\nHost: a\r\n\r\n")
            self.assertEqual(read_response(f).status, 200)
            self.assertEqual(nodelay(s), 1)
        # a response streamed in pieces: its second write sets it
        with raw_connect(self.sg.port) as s:
            s.sendall(b"GET /api/download?n=3000000 HTTP/1.1\r\nHost: a\r\n\r\n")
            s.settimeout(10)
            self.assertTrue(s.recv(100).startswith(b"HTTP/1.1 200 "))
            time.sleep(0.2)  # the rest waits in sessiongate: more writes follow
            self.assertEqual(nodelay(s), 1)

    def test_pipelining_in_order(self):
        reqs = b"".join(b"GET /api/echo?n=%d HTTP/1.1\r\nHost: a\r\n\r\n" % i for i in range(10))
        with raw_connect(self.sg.port) as s:
            s.sendall(reqs + b"GET /nowhere HTTP/1.1\r\nHost: a\r\n\r\n"
                      b"GET /api/echo?n=last HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
            f = s.makefile("rb")
            for i in range(10):
                r = read_response(f)
                self.assertEqual(r.status, 200)
                self.assertEqual(json.loads(r.body)["path"], f"/echo?n={i}")
            self.assertEqual(read_response(f).status, 404)
            r = read_response(f)
            self.assertEqual(json.loads(r.body)["path"], "/echo?n=last")
            self.assertEqual(r.header("connection"), "close")
            self.assertEqual(f.read(), b"")  # closed after Connection: close

    def test_http10(self):
        resp = raw_request(self.sg.port, b"GET /api/echo HTTP/1.0\r\n\r\n")
        self.assertTrue(resp.startswith(b"HTTP/1.1 200"), resp)
        self.assertIn(b"Connection: close", resp)
        # 1.0 keep-alive
        with raw_connect(self.sg.port) as s:
            f = s.makefile("rb")
            for _ in range(2):
                s.sendall(b"GET /api/echo HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
                r = read_response(f)
                self.assertEqual(r.status, 200)
                self.assertEqual(r.header("connection"), "keep-alive")

    def test_http10_chunked_response_is_close_delimited(self):
        resp = raw_request(self.sg.port, b"GET /api/download?n=100000&chunked=1 HTTP/1.0\r\n\r\n")
        head, _, body = resp.partition(b"\r\n\r\n")
        self.assertNotIn(b"chunked", head.lower())
        self.assertEqual(hashlib.sha256(body).hexdigest(), pattern_sha(100000))

    # ---- streaming ----

    def test_download_content_length(self):
        n = 5 * 1024 * 1024 + 7
        st, h, body = self.sg.get(f"/api/download?n={n}")
        self.assertEqual(st, 200)
        self.assertEqual(h["content-length"], str(n))
        self.assertEqual(hashlib.sha256(body).hexdigest(), pattern_sha(n))

    def test_download_chunked(self):
        n = 3 * 1024 * 1024 + 1
        st, h, body = self.sg.get(f"/api/download?n={n}&chunked=1")
        self.assertEqual(h["transfer-encoding"], "chunked")
        self.assertEqual(hashlib.sha256(body).hexdigest(), pattern_sha(n))

    def test_download_close_delimited_rechunked(self):
        n = 1024 * 1024 + 3
        c = self.sg.conn()
        c.request("GET", f"/api/download?n={n}&eof=1")
        r = c.getresponse()
        body = r.read()
        self.assertEqual(r.getheader("transfer-encoding"), "chunked")
        self.assertEqual(hashlib.sha256(body).hexdigest(), pattern_sha(n))
        c.request("GET", "/api/echo")  # the client connection survived
        self.assertEqual(c.getresponse().status, 200)
        c.close()

    def test_upload_content_length(self):
        data = os.urandom(900 * 1024)
        j, _ = self.echo("/api/upload", method="POST", body=data)
        self.assertEqual(j["sha256"], hashlib.sha256(data).hexdigest())
        self.assertEqual(j["length"], len(data))

    def test_upload_chunked_with_trailers(self):
        with raw_connect(self.sg.port) as s:
            s.sendall(b"POST /api/upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                      b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Sum: 42\r\n"
                      b"Content-Length: 99\r\n\r\n")
            r = read_response(s.makefile("rb"))
        j = json.loads(r.body)
        self.assertEqual(j["sha256"], hashlib.sha256(b"hello world").hexdigest())
        self.assertEqual(j["trailers"], [["X-Sum", "42"]])  # Content-Length trailer dropped
        rec = [x for x in self.be.received() if x["target"] == "/upload"][-1]
        self.assertIn("Transfer-Encoding: chunked", rec["raw"])
        self.assertNotIn("ext=1", rec["raw"])

    def test_response_trailers(self):
        with raw_connect(self.sg.port) as s:
            s.sendall(b"GET /api/trailers HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
            raw = harness.recv_all(s)
        self.assertIn(b"\r\n0\r\nX-Checksum: abc\r\n\r\n", raw)
        self.assertIn(b"hello", raw)

    # ---- headers ----

    def test_hop_by_hop_request(self):
        j, _ = self.echo(headers={"Connection": "keep-alive, X-Named", "X-Named": "1",
                                  "Keep-Alive": "300", "Proxy-Connection": "x", "TE": "trailers",
                                  "Upgrade": "h2c", "X-Keep": "yes"})
        names = {k.lower() for k, _ in j["headers"]}
        for h in ("x-named", "keep-alive", "proxy-connection", "te", "upgrade"):
            self.assertNotIn(h, names)
        self.assertIn("x-keep", names)

    def test_connection_cannot_strip_session_header(self):
        j, _ = self.echo(headers={"Connection": "X-Session, X-Forwarded-For"})
        names = {k.lower(): v for k, v in j["headers"]}
        self.assertEqual(names["x-session"], "{}")
        self.assertEqual(names["x-forwarded-for"], "127.0.0.1")

    def test_hop_by_hop_response(self):
        st, h, body = self.sg.get("/api/hop")
        self.assertEqual(body, b"hop")
        for name in ("x-hop-named", "keep-alive", "proxy-connection", "x-session-patch", "trailer"):
            self.assertNotIn(name, h)
        self.assertEqual(h["x-end-to-end"], "yes")

    def test_x_forwarded_replaced_from_untrusted(self):
        j, _ = self.echo(headers={"X-Forwarded-For": "6.6.6.6", "X-Forwarded-Proto": "https",
                                  "X-Forwarded-Host": "evil", "Host": "front:1"})
        names = {}
        for k, v in j["headers"]:
            names.setdefault(k.lower(), []).append(v)
        self.assertEqual(names["x-forwarded-for"], ["127.0.0.1"])
        self.assertEqual(names["x-forwarded-proto"], ["http"])
        self.assertEqual(names["x-forwarded-host"], ["front:1"])
        self.assertEqual(names["host"], ["front:1"])

    def test_expect_100_continue(self):
        with raw_connect(self.sg.port) as s:
            s.sendall(b"POST /api/upload HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
                      b"Expect: 100-continue\r\n\r\n")
            f = s.makefile("rb")
            self.assertEqual(f.readline(), b"HTTP/1.1 100 Continue\r\n")
            self.assertEqual(f.readline(), b"\r\n")
            s.sendall(b"hello")
            r = read_response(f)
            self.assertEqual(json.loads(r.body)["sha256"], hashlib.sha256(b"hello").hexdigest())
        rec = [x for x in self.be.received() if x["target"] == "/upload"][-1]
        self.assertNotIn("expect", {k.lower() for k, _ in rec["headers"]})

    def test_head_request(self):
        c = self.sg.conn()
        c.request("HEAD", "/api/download?n=1000")
        r = c.getresponse()
        self.assertEqual(r.status, 200)
        self.assertEqual(r.getheader("content-length"), "1000")
        self.assertEqual(r.read(), b"")
        c.request("GET", "/api/echo")
        self.assertEqual(c.getresponse().status, 200)
        c.close()

    # ---- limits and timeouts ----

    def test_413_content_length(self):
        st, _, body = self.sg.get("/api/upload", method="POST", body=b"x" * (1024 * 1024 + 1))
        self.assertEqual(st, 413)

    def test_413_chunked(self):
        with raw_connect(self.sg.port) as s:
            s.sendall(b"POST /api/upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n")
            chunk = b"%x\r\n" % 65536 + b"y" * 65536 + b"\r\n"
            try:
                for _ in range(20):
                    s.sendall(chunk)
            except OSError:
                pass
            resp = harness.recv_all(s)
        self.assertTrue(resp.startswith(b"HTTP/1.1 413") or b"HTTP/1.1 413" not in resp, resp[:200])

    def test_431_header_bytes(self):
        resp = raw_request(self.sg.port, b"GET /api/echo HTTP/1.1\r\nHost: a\r\nX-Big: "
                           + b"a" * 5000 + b"\r\n\r\n")
        self.assertTrue(resp.startswith(b"HTTP/1.1 431 "), resp[:100])

    def test_431_header_count(self):
        hs = b"".join(b"X-H%d: v\r\n" % i for i in range(30))
        resp = raw_request(self.sg.port, b"GET /api/echo HTTP/1.1\r\nHost: a\r\n" + hs + b"\r\n")
        self.assertTrue(resp.startswith(b"HTTP/1.1 431 "), resp[:100])

    def test_414_long_target(self):
        resp = raw_request(self.sg.port, b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\nHost: a\r\n\r\n")
        self.assertTrue(resp.startswith(b"HTTP/1.1 414 "), resp[:100])

    def test_408_slow_header(self):
        t = time.monotonic()
        with raw_connect(self.sg.port) as s:
            s.sendall(b"GET /api/echo HTTP/1.1\r\nHost: a\r\n")
            for _ in range(3):  # trickling does not extend the deadline
                time.sleep(0.3)
                s.sendall(b"X-A: b\r\n")
            resp = harness.recv_all(s, timeout=5)
        self.assertTrue(resp.startswith(b"HTTP/1.1 408 "), resp)
        self.assertLess(time.monotonic() - t, 3)

    # ---- upstream behaviour ----

    def test_round_robin(self):
        seen = []
        for _ in range(6):
            st, _, body = self.sg.get("/rr/whoami")
            self.assertEqual(st, 200)
            seen.append(body.decode())
        self.assertEqual(set(seen), {"rr1", "rr2"})
        self.assertEqual(seen[0::2].count(seen[0]), 3)  # alternating

    def test_dead_server_502_then_503(self):
        st, _, body = self.sg.get("/dead/x")
        self.assertEqual(st, 502, body)
        st, _, body = self.sg.get("/dead/x")  # now resting (fail_timeout 30s)
        self.assertEqual(st, 503, body)

    def test_slow_server_504(self):
        t = time.monotonic()
        st, _, body = self.sg.get("/slowpoke/slow?s=3")
        self.assertEqual(st, 504, body)
        self.assertLess(time.monotonic() - t, 2.8)

    def test_upstream_keepalive_reused(self):
        self.be.clear()
        for _ in range(5):
            self.echo()
        st, _, body = self.sg.get("/api/echo")
        # the backend saw a few connections at most: pooled connections reused
        self.assertEqual(st, 200)

    def test_backend_connection_close(self):
        for _ in range(3):
            st, h, body = self.sg.get("/api/close")
            self.assertEqual((st, body), (200, b"bye"))


class NoBackendTest(harness.TestCase):
    """Every server of the only backend is down from the start."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        p1, p2 = harness.free_port(), harness.free_port()
        cls.sg = cls.start_daemon(backends={"b": [f"127.0.0.1:{p1}", f"127.0.0.1:{p2}"]})

    def test_both_servers_tried_then_503(self):
        st, _, _ = self.sg.get("/")
        self.assertEqual(st, 502)
        st, _, body = self.sg.get("/")
        self.assertEqual(st, 503)
        self.assertIn(b"no backend server available", body)


class InterimBackend(harness.ThreadedServer):
    """Answers each request with 103, 102 and 100 interim responses (one
    carrying session headers and a hop-by-hop header), then 200 "ok"."""

    INTERIM = (b"HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n"
               b"Set-Cookie: session=forged; Path=/\r\nX-Session-Patch: {\"admin\":true}\r\n"
               b"Connection: x-hop\r\nX-Hop: 1\r\n\r\n"
               b"HTTP/1.1 102 Processing\r\n\r\n"
               b"HTTP/1.1 100 Continue\r\n\r\n")

    def _serve(self, c):
        with c:
            c.settimeout(10)
            buf = b""
            for d in self.chunks(c):
                buf += d
                while b"\r\n\r\n" in buf:
                    _, _, buf = buf.partition(b"\r\n\r\n")
                    c.sendall(self.INTERIM + b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")


class InterimTest(harness.TestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.be = InterimBackend()
        cls.addClassCleanup(cls.be.stop)
        cls.sg = cls.start_daemon(backends={"b": [cls.be.addr]})

    def exchange(self, version):
        return harness.raw_request(
            self.sg.port, f"GET / HTTP/{version}\r\nHost: a\r\nConnection: close\r\n\r\n".encode(),
            timeout=5)

    def test_http11_client_gets_102_and_103_without_session_headers(self):
        resp = self.exchange("1.1")
        heads = resp.split(b"\r\n\r\n")
        self.assertEqual([h.split(b"\r\n")[0] for h in heads[:3]],
                         [b"HTTP/1.1 103 Early Hints", b"HTTP/1.1 102 Processing", b"HTTP/1.1 200 OK"])
        early = heads[0].lower()
        self.assertIn(b"link: </s.css>; rel=preload", early)
        for gone in (b"set-cookie", b"x-session-patch", b"x-hop", b"connection"):
            self.assertNotIn(gone, early)
        self.assertNotIn(b"100 Continue", resp)
        self.assertNotIn(b"forged", resp)
        self.assertTrue(resp.endswith(b"\r\n\r\nok"), resp[-100:])

    def test_http10_client_gets_the_final_response_only(self):
        resp = self.exchange("1.0")
        self.assertTrue(resp.startswith(b"HTTP/1.1 200 OK\r\n"), resp[:100])
        self.assertEqual(resp.count(b"HTTP/1.1 "), 1, resp)


if __name__ == "__main__":
    harness.main()
