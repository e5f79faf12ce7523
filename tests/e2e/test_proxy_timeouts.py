"""tests/e2e/test_proxy_timeouts.py — the idle (read) timeouts, now that
sessiongate reads its sockets itself (daemon/sockread.c): an idle keep-alive
client and an idle pooled backend connection are closed, a stalled request
body gets 408, a quiet client waiting for a slow response is not cut off.
And the close after a last response: at once when the client said it sends
nothing more, after lingering when it may still be sending (as nginx).
And what a closed connection leaves for the next one: nothing."""
import json
import os
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from test_ops import scrape  # noqa: E402

IDLE = 1.0  # seconds: timeouts.idle below


class ReadTimeoutTest(harness.TestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.be = cls.start_backend("api", "echo_backend.py")
        cls.sg = cls.start_daemon(backends={"api": [cls.be.addr]},
                                  routes=[("/", "api", False, None)], admin=True,
                                  extra="timeouts:\n  idle: 1s\n  header: 10s\n")
        cls.admin = cls.sg.admin

    def upstream_conns(self):
        return scrape(self, self.admin).get("sessiongate_upstream_connections", backend="api")

    def client_conns(self):
        return scrape(self, self.admin).get("sessiongate_client_connections")

    def client_conns_within(self, want, secs):
        deadline = time.monotonic() + secs
        while self.client_conns() != want:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True

    def test_idle_keepalive_client_closed(self):
        with harness.raw_connect(self.sg.port) as s:
            s.sendall(b"GET /echo HTTP/1.1\r\nHost: a\r\n\r\n")
            f = s.makefile("rb")
            resp = harness.read_response(f)
            self.assertEqual(resp.status, 200)
            t = time.monotonic()
            s.settimeout(10)
            self.assertEqual(s.recv(1), b"")  # closed by the idle timeout
            waited = time.monotonic() - t
        self.assertGreater(waited, IDLE * 0.7)
        self.assertLess(waited, IDLE + 3)

    def test_idle_pooled_backend_closed(self):
        st, _, _ = self.sg.get("/echo")
        self.assertEqual(st, 200)
        self.assertGreaterEqual(self.upstream_conns(), 1)  # pooled
        deadline = time.monotonic() + IDLE + 5
        while self.upstream_conns() and time.monotonic() < deadline:
            time.sleep(0.1)
        self.assertEqual(self.upstream_conns(), 0)

    def test_stalled_body_408(self):
        with harness.raw_connect(self.sg.port) as s:
            s.sendall(b"POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n"
                      + b"x" * 10)
            t = time.monotonic()
            resp = harness.recv_all(s, timeout=10)
        self.assertTrue(resp.startswith(b"HTTP/1.1 408 "), resp[:200])
        self.assertIn(b"request body timeout", resp)
        self.assertLess(time.monotonic() - t, IDLE + 3)

    def test_connection_close_closes_without_lingering(self):
        # the client keeps its end open: only sessiongate can end the connection
        with harness.raw_connect(self.sg.port) as s:
            s.sendall(b"GET /echo HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
            resp = harness.recv_all(s, timeout=10)
            self.assertTrue(resp.startswith(b"HTTP/1.1 200 "), resp[:200])
            # lingering would hold it until the idle timeout (1 s here)
            self.assertTrue(self.client_conns_within(0, IDLE / 2))

    def test_unread_body_lingers(self):
        with harness.raw_connect(self.sg.port) as s:
            s.sendall(b"POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n"
                      + b"x" * 10)
            resp = harness.recv_all(s, timeout=10)  # 408, then our FIN
            self.assertTrue(resp.startswith(b"HTTP/1.1 408 "), resp[:200])
            # the rest of the body may still come: discarded, not answered by a reset
            time.sleep(0.3)
            self.assertEqual(self.client_conns(), 1)
            s.sendall(b"y" * 90)
            time.sleep(0.2)
            self.assertEqual(self.client_conns(), 1)
        self.assertTrue(self.client_conns_within(0, 2.0))  # our close ends it

    # A closed connection's structures serve the next accept (conn_recycle):
    # nothing of one client may reach the next, in either direction.

    def assert_next_client_gets_its_own_answer(self):
        """Once the last connection closed: a new client's request is
        answered with its own response, whole and alone."""
        self.assertTrue(self.client_conns_within(0, 5))
        with harness.raw_connect(self.sg.port) as b:
            b.sendall(b"GET /echo?b HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n")
            resp = harness.recv_all(b, timeout=10)
        head, _, body = resp.partition(b"\r\n\r\n")
        self.assertTrue(head.startswith(b"HTTP/1.1 200 "), resp[:200])
        self.assertEqual(resp.count(b"HTTP/1.1 "), 1, resp[:500])
        self.assertEqual(json.loads(body)["path"], "/echo?b")

    def test_unread_request_bytes_do_not_reach_the_next_client(self):
        for i in range(3):
            self.be.clear()
            with harness.raw_connect(self.sg.port) as a:
                # a request to answer, then the start of one never finished
                a.sendall(b"GET /echo?a HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
                          b"GET /leftover-of-a HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n")
                resp = harness.recv_all(a, timeout=10)
                self.assertTrue(resp.startswith(b"HTTP/1.1 200 "), resp[:200])
            self.assert_next_client_gets_its_own_answer()
            self.assertEqual([r["target"] for r in self.be.received()], ["/echo?a", "/echo?b"])

    def test_unsent_response_bytes_do_not_reach_the_next_client(self):
        for i in range(3):
            a = harness.raw_connect(self.sg.port)
            a.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            a.sendall(b"GET /download?n=20000000 HTTP/1.1\r\nHost: a\r\n\r\n")
            a.settimeout(10)
            self.assertTrue(a.recv(100).startswith(b"HTTP/1.1 200 "))
            time.sleep(0.2)  # sessiongate now holds response bytes it cannot send
            # a reset: what sessiongate still buffers for a can never go out
            a.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            a.close()
            self.assert_next_client_gets_its_own_answer()

    def test_quiet_client_gets_slow_response(self):
        # the client sends nothing for 2 idle timeouts while the backend works
        st, _, body = self.sg.get("/slow?s=2.5", timeout=10)
        self.assertEqual(st, 200, body)


if __name__ == "__main__":
    harness.main()
