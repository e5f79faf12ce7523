"""tests/e2e/test_proxy_memory.py — backpressure: a 200 MiB download and a
200 MiB upload (Content-Length and chunked) through the proxy must not grow
its memory by more than a few MiB (peak RSS, VmHWM, from /proc)."""
import hashlib
import os
import socket
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

SIZE = 200 * 1024 * 1024
LIMIT_KIB = 16 * 1024
PATTERN = bytes(range(256)) * 256


def status_kib(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


class MemoryTest(harness.TestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.be = cls.start_backend("be", "echo_backend.py", record=False)
        cls.sg = cls.start_daemon(backends={"be": [cls.be.addr]})
        cls.sg.get("/echo")  # warm up: pools, first allocations
        cls.base_hwm = status_kib(cls.sg.pid, "VmHWM")

    def check_growth(self, what):
        hwm = status_kib(self.sg.pid, "VmHWM")
        rss = status_kib(self.sg.pid, "VmRSS")
        print(f"\n{what}: peak RSS grew {hwm - self.base_hwm} KiB (now {rss} KiB)",
              file=sys.stderr)
        self.assertLess(hwm - self.base_hwm, LIMIT_KIB)

    def test_download(self):
        c = self.sg.conn(timeout=60)
        c.request("GET", f"/download?n={SIZE}")
        r = c.getresponse()
        h = hashlib.sha256()
        n = 0
        while True:
            d = r.read(1 << 20)
            if not d:
                break
            h.update(d)
            n += len(d)
        c.close()
        self.assertEqual(n, SIZE)
        ref = hashlib.sha256()
        for _ in range(SIZE // len(PATTERN)):
            ref.update(PATTERN)
        self.assertEqual(h.hexdigest(), ref.hexdigest())
        self.check_growth("200 MiB download")

    def upload(self, chunked):
        s = harness.raw_connect(self.sg.port, timeout=60)
        head = b"POST /upload HTTP/1.1\r\nHost: a\r\nConnection: close\r\n"
        head += b"Transfer-Encoding: chunked\r\n\r\n" if chunked else b"Content-Length: %d\r\n\r\n" % SIZE
        s.sendall(head)
        h = hashlib.sha256()
        block = os.urandom(1 << 20)
        for _ in range(SIZE // len(block)):
            h.update(block)
            s.sendall(b"%x\r\n" % len(block) + block + b"\r\n" if chunked else block)
        if chunked:
            s.sendall(b"0\r\n\r\n")
        resp = harness.recv_all(s, timeout=60)
        s.close()
        self.assertIn(h.hexdigest().encode(), resp)
        self.check_growth("200 MiB upload" + (" (chunked)" if chunked else ""))

    def test_upload_content_length(self):
        self.upload(False)

    def test_upload_chunked(self):
        self.upload(True)


if __name__ == "__main__":
    harness.main()
