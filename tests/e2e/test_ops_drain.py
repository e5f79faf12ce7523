"""tests/e2e/test_ops_drain.py — SIGTERM drain on the real daemon: /readyz
turns unready first and the admin listener stays up, the proxy listeners
close, idle keep-alive connections close at once, in-flight requests finish
within timeouts.drain and the process exits 0; a request longer than the
deadline is cut and the exit is still 0. sd_notify STOPPING=1 and STATUS=
lines arrive on a test NOTIFY_SOCKET."""
import http.client
import os
import re
import signal
import socket
import time

import harness
from test_ops import admin_get, scrape, access_lines


class Drain(harness.TestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.be = cls.start_backend("slowbe", "echo_backend.py")

    def start(self, drain):
        """A fresh daemon (each test ends its own) with a notify socket."""
        d = os.path.join(self.tmp.name, self.id().rsplit(".", 1)[1])
        os.makedirs(d)
        self.port, self.admin = harness.free_port(), harness.free_port()
        self.access_log = os.path.join(d, "access.log")
        path = harness.make_config(
            d, self.port, {"api": [self.be.addr]},
            extra=f"admin: 127.0.0.1:{self.admin}\naccess_log: {harness.yaml_str(self.access_log)}\n"
                  f"timeouts:\n  drain: {drain}\n")
        with open(path) as f:
            text = f.read().replace("workers: 1", "workers: 2")
        with open(path, "w") as f:
            f.write(text)
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.addCleanup(self.notify.close)
        sock_path = os.path.join(d, "notify")
        self.notify.bind(sock_path)
        env = dict(os.environ, NOTIFY_SOCKET=sock_path)
        self.dm = harness.Proc("sessiongate", [harness.SESSIONGATE, "-c", path],
                               os.path.join(d, "daemon.log"), env=env)
        self.addCleanup(self.dm.stop)
        harness.wait_port(self.port, self.dm.proc, log=self.dm.log_path)
        harness.wait_port(self.admin, self.dm.proc, log=self.dm.log_path)

    def notifications(self):
        msgs = []
        self.notify.setblocking(False)
        while True:
            try:
                msgs.append(self.notify.recv(4096).decode())
            except BlockingIOError:
                return msgs

    def slow_request(self, seconds, result):
        """GET /slow in a thread; result gets (status, body) or the exception."""
        def run():
            c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            try:
                c.request("GET", f"/slow?s={seconds}")
                r = c.getresponse()
                result.append((r.status, r.read(), r.getheader("X-Request-Id")))
            except Exception as e:  # noqa: BLE001 — the test inspects it
                result.append(e)
            finally:
                c.close()
        self.be.clear()
        t = self.in_thread(run)
        self.wait_received(self.be, "/slow", "the slow request never reached the backend")
        return t

    def refused(self):
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
            return False
        except (ConnectionRefusedError, ConnectionResetError):
            # reset: the handshake completed in the kernel's accept queue as
            # the listener closed, which resets what it held unaccepted
            return True

    def test_in_flight_request_completes_and_exit_0(self):
        self.start("5s")
        self.assertEqual(admin_get(self.admin, "/readyz")[0], 200)
        idle = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        idle.request("GET", "/echo")
        idle.getresponse().read()  # a keep-alive connection, now idle
        result = []
        t = self.slow_request(2, result)
        t0 = time.monotonic()
        self.dm.signal(signal.SIGTERM)
        # /readyz is unready before (never after) the proxy stops accepting:
        # once a connection is refused, /readyz must already say draining
        while not self.refused():
            st, _, body = admin_get(self.admin, "/readyz")
            self.assertIn((st, body), [(200, b"ready\n"), (503, b"draining\n")])
            self.assertLess(time.monotonic() - t0, 2, "listeners still accept")
        status, _, body = admin_get(self.admin, "/readyz")
        self.assertEqual((status, body), (503, b"draining\n"))
        # the admin listener stays up while requests finish: alive, scrapeable
        self.assertEqual(admin_get(self.admin, "/healthz")[0], 200)
        m = scrape(self, self.admin)
        self.assertEqual((m.get("sessiongate_draining"), m.get("sessiongate_ready")), (1, 0))
        self.assertGreaterEqual(m.get("sessiongate_client_connections"), 1)
        # the idle keep-alive connection was closed at once
        idle.sock.settimeout(2)
        self.assertEqual(idle.sock.recv(1), b"")
        idle.close()
        self.assertIsNone(self.dm.proc.poll())  # still draining the slow request
        t.join(10)
        self.assertEqual(len(result), 1)
        self.assertIsInstance(result[0], tuple, result)
        status, body, rid = result[0]
        self.assertEqual(status, 200)
        self.assertIn(b'"server": "slowbe"', body)
        self.assertEqual(self.dm.proc.wait(timeout=10), 0, self.dm.log())
        elapsed = time.monotonic() - t0
        self.assertLess(elapsed, 5, "exceeded the drain deadline")
        log = self.dm.log()
        self.assertNotIn("drain deadline reached", log)
        self.assertNotIn("Sanitizer", log)
        rec = [r for r in access_lines(self.access_log) if r["request_id"] == rid]
        self.assertEqual([(r["path"], r["status"]) for r in rec], [("/slow?s=2", 200)])
        msgs = self.notifications()
        self.assertIn("STOPPING=1", msgs)
        self.assertTrue(any(re.fullmatch(r"STATUS=draining \d+ connection\(s\)", m) for m in msgs),
                        msgs)

    def test_request_past_the_deadline_is_cut_exit_0(self):
        self.start("1s")
        result = []
        t = self.slow_request(8, result)
        t0 = time.monotonic()
        self.dm.signal(signal.SIGTERM)
        self.assertEqual(self.dm.proc.wait(timeout=10), 0, self.dm.log())
        elapsed = time.monotonic() - t0
        self.assertGreaterEqual(elapsed, 0.9)
        self.assertLess(elapsed, 3, "did not stop at the drain deadline")
        t.join(10)
        self.assertEqual(len(result), 1)
        self.assertIsInstance(result[0], Exception)  # closed without an answer
        self.assertIn("drain deadline reached", self.dm.log())

    def test_nothing_in_flight_exits_at_once(self):
        self.start("10s")
        self.assertEqual(harness.raw_request(self.port, b"GET /echo HTTP/1.0\r\n\r\n")[:12],
                         b"HTTP/1.1 200")
        t0 = time.monotonic()
        self.dm.signal(signal.SIGTERM)
        self.assertEqual(self.dm.proc.wait(timeout=10), 0, self.dm.log())
        self.assertLess(time.monotonic() - t0, 1.5)


if __name__ == "__main__":
    harness.main()
