"""tests/e2e/test_proxy_timeouts.py — the idle (read) timeouts, now that
sessiongate reads its sockets itself (daemon/sockread.c): an idle keep-alive
client and an idle pooled backend connection are closed, a stalled request
body gets 408, a quiet client waiting for a slow response is not cut off."""
import http.client
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

IDLE = 1.0  # seconds: timeouts.idle below


class ReadTimeoutTest(harness.TestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.be = cls.start_backend("api", "echo_backend.py")
        cls.admin = harness.free_port()
        cls.sg = cls.start_daemon(backends={"api": [cls.be.addr]},
                                  routes=[("/", "api", False, None)],
                                  extra=f"admin: 127.0.0.1:{cls.admin}\n"
                                        "timeouts:\n  idle: 1s\n  header: 10s\n")
        harness.wait_port(cls.admin, cls.sg.proc, log=cls.sg.log_path)

    def upstream_conns(self):
        c = http.client.HTTPConnection("127.0.0.1", self.admin, timeout=10)
        try:
            c.request("GET", "/metrics")
            body = c.getresponse().read().decode()
        finally:
            c.close()
        m = re.search(r'^sessiongate_upstream_connections\{backend="api"\} (\d+)$', body, re.M)
        return int(m.group(1)) if m else 0

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

    def test_quiet_client_gets_slow_response(self):
        # the client sends nothing for 2 idle timeouts while the backend works
        st, _, body = self.sg.get("/slow?s=2.5", timeout=10)
        self.assertEqual(st, 200, body)


if __name__ == "__main__":
    harness.main()
