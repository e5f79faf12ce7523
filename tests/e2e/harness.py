"""tests/e2e/harness.py — shared helpers for end-to-end tests: free ports,
child processes stopped by PID (even when a test fails), a config written to
a temp dir, the daemon started and awaited, Python backends, raw HTTP.

Typical use:

    class T(harness.TestCase):
        @classmethod
        def setUpClass(cls):
            super().setUpClass()
            cls.be = cls.start_backend("echo", "echo_backend.py")
            cls.sg = cls.start_daemon(backends={"api": [cls.be.addr]})
"""
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
BACKENDS = os.path.join(HERE, "backends")
PYTHON = "/usr/bin/python3"  # Debian's: it has flask, fastapi, uvicorn, websockets
SESSIONGATE = os.environ.get("SESSIONGATE", os.path.join(ROOT, "build", "daemon", "sessiongate"))
SECRET = b"e2e-test-secret"


def free_port():
    """A port nothing listens on right now (127.0.0.1)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc=None, timeout=20.0, log=None):
    """Waits until 127.0.0.1:port accepts; fails early when proc exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening"
                               + (":\n" + read_log(log) if log else ""))
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.03)
    raise RuntimeError(f"nothing listens on port {port} after {timeout}s")


def read_log(path):
    try:
        with open(path, "rb") as f:
            return f.read().decode(errors="replace")
    except OSError:
        return ""


class Proc:
    """A child process with its log file; stop() ends it by PID."""

    def __init__(self, name, argv, log_path, env=None, cwd=None):
        self.name = name
        self.log_path = log_path
        self._log = open(log_path, "wb")
        self.proc = subprocess.Popen(argv, stdout=self._log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=env, cwd=cwd or ROOT)
        self.pid = self.proc.pid

    def alive(self):
        return self.proc.poll() is None

    def log(self):
        return read_log(self.log_path)

    def signal(self, sig):
        if self.alive():
            os.kill(self.pid, sig)

    def stop(self, timeout=10):
        """SIGTERM, then SIGKILL after timeout; returns the exit status."""
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if not self._log.closed:
            self._log.close()
        return self.proc.returncode

    def rss_kib(self):
        """VmRSS from /proc/PID/status, in KiB."""
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0


class Backend(Proc):
    def __init__(self, name, argv, log_path, port, record=None):
        super().__init__(name, argv, log_path)
        self.port = port
        self.addr = f"127.0.0.1:{port}"
        self.record = record

    def received(self):
        """Requests the backend recorded (echo_backend.py --record)."""
        if not self.record or not os.path.exists(self.record):
            return []
        with open(self.record) as f:
            return [json.loads(line) for line in f if line.strip()]

    def clear(self):
        if self.record and os.path.exists(self.record):
            open(self.record, "w").close()


class Daemon(Proc):
    def __init__(self, name, argv, log_path, port, config_path):
        super().__init__(name, argv, log_path)
        self.port = port
        self.config_path = config_path

    def conn(self, timeout=10):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def get(self, path, headers=None, method="GET", body=None, timeout=10):
        """One request on a new connection: (status, headers dict lowercased, body)."""
        c = self.conn(timeout)
        try:
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            data = r.read()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, data
        finally:
            c.close()


def yaml_str(s):
    return json.dumps(str(s))  # JSON strings are YAML strings


def make_config(tmpdir, listen_port, backends, routes=None, extra="", secret=SECRET,
                backend_opts=None, session_extra=""):
    """Writes a config and a secret key file into tmpdir; returns the path.
    backends: {name: [addr, ...]} (order kept); routes: [(prefix, backend,
    strip_prefix, host)] (default: "/" to the first backend); backend_opts:
    {name: "yaml lines"}; session_extra: YAML lines for the session
    section; extra: top-level YAML."""
    key = os.path.join(tmpdir, "secret_key")
    with open(key, "wb") as f:
        f.write(secret)
    lines = [f"listen: 127.0.0.1:{listen_port}", "workers: 1",
             "session:", f"  secret_key_file: {yaml_str(key)}"]
    if session_extra:
        lines.extend("  " + l for l in session_extra.strip("\n").split("\n"))
    lines.append("backends:")
    for name, servers in backends.items():
        lines.append(f"  - name: {name}")
        lines.append("    servers: [" + ", ".join(servers) + "]")
        if backend_opts and name in backend_opts:
            lines.extend("    " + l for l in backend_opts[name].strip("\n").split("\n"))
    lines.append("routes:")
    if routes is None:
        routes = [("/", next(iter(backends)), False, None)]
    for prefix, be, strip, host in routes:
        lines.append(f"  - prefix: {yaml_str(prefix)}")
        lines.append(f"    backend: {be}")
        if strip:
            lines.append("    strip_prefix: true")
        if host:
            lines.append(f"    host: {host}")
    text = "\n".join(lines) + "\n" + extra
    path = os.path.join(tmpdir, "sessiongate.yaml")
    with open(path, "w") as f:
        f.write(text)
    return path


def check_daemon_exit(dm):
    """Stops the daemon (SIGTERM: drain) and fails the class when it did not
    exit 0 or a sanitizer (ASan, LSan, UBSan) reported anything."""
    code = dm.stop()
    log = dm.log()
    if "Sanitizer" in log or "runtime error:" in log:
        raise AssertionError(f"{dm.name}: sanitizer report:\n{log[-4000:]}")
    if code != 0:
        raise AssertionError(f"{dm.name}: exit status {code}:\n{log[-2000:]}")


class TestCase(unittest.TestCase):
    """Owns a temp dir and every process it starts (stopped by PID at class
    teardown, also when setUpClass or a test fails)."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="sg-e2e-")
        cls.addClassCleanup(cls.tmp.cleanup)

    @classmethod
    def _own(cls, proc):
        cls.addClassCleanup(proc.stop)
        return proc

    @classmethod
    def start_backend(cls, name, script, *args, port=None, record=True):
        """Starts tests/e2e/backends/<script> --port P [--record F] [args]."""
        port = port or free_port()
        rec = os.path.join(cls.tmp.name, name + ".jsonl") if record else None
        argv = [PYTHON, os.path.join(BACKENDS, script), "--port", str(port), "--name", name]
        if rec:
            argv += ["--record", rec]
        argv += list(args)
        b = cls._own(Backend(name, argv, os.path.join(cls.tmp.name, name + ".log"), port, rec))
        wait_port(port, b.proc, log=b.log_path)
        return b

    @classmethod
    def start_process(cls, name, argv, port, env=None):
        """Any other server (uvicorn...), awaited on port."""
        p = cls._own(Proc(name, argv, os.path.join(cls.tmp.name, name + ".log"), env=env))
        wait_port(port, p.proc, log=p.log_path)
        return p

    @classmethod
    def start_daemon(cls, backends, routes=None, extra="", name="sessiongate",
                     backend_opts=None, config_text=None, session_extra="", admin=False):
        """Writes a config (or config_text with {port} and {secret_file}) and
        starts the daemon on a free port; returns a Daemon once it listens
        (with admin: its admin listener too, on Daemon.admin)."""
        port = free_port()
        admin_port = free_port() if admin else None
        if admin:
            extra = f"admin: 127.0.0.1:{admin_port}\n" + extra
        d = os.path.join(cls.tmp.name, name)
        os.makedirs(d, exist_ok=True)
        if config_text is not None:
            key = os.path.join(d, "secret_key")
            with open(key, "wb") as f:
                f.write(SECRET)
            path = os.path.join(d, "sessiongate.yaml")
            with open(path, "w") as f:
                f.write(config_text.format(port=port, secret_file=key))
        else:
            path = make_config(d, port, backends, routes, extra, backend_opts=backend_opts,
                               session_extra=session_extra)
        dm = Daemon(name, [SESSIONGATE, "-c", path], os.path.join(d, "daemon.log"), port, path)
        cls.addClassCleanup(check_daemon_exit, dm)
        wait_port(port, dm.proc, log=dm.log_path)
        dm.admin = admin_port
        if admin:
            wait_port(admin_port, dm.proc, log=dm.log_path)
        return dm

    def in_thread(self, fn):
        """Runs fn in a thread joined (30 s at most) when the test ends."""
        t = threading.Thread(target=fn)
        t.start()
        self.addCleanup(t.join, 30)
        return t

    def wait_received(self, backend, prefix, msg=None, timeout=10):
        """Waits until backend recorded a request whose target starts with prefix."""
        deadline = time.monotonic() + timeout
        while not any(r["target"].startswith(prefix) for r in backend.received()):
            self.assertLess(time.monotonic(), deadline, msg)
            time.sleep(0.01)


def session_set_cookies(resp, name="session"):
    """Every Set-Cookie header of a requests response for the cookie name, as sent."""
    return [h for h in resp.raw.headers.getlist("Set-Cookie")
            if h.split("=", 1)[0].strip() == name]


class SessionTestCase(TestCase):
    """For tests that share one Flask session through a requests client's
    cookie jar behind self.sg, checking the jar with real Flask."""

    def client(self):
        import requests  # only the session tests need it
        c = requests.Session()
        self.addCleanup(c.close)
        return c

    def url(self, path, sg=None):
        return f"http://127.0.0.1:{(sg or self.sg).port}{path}"

    def jar(self, c):
        """The session the client's cookie holds, loaded by real Flask."""
        from flask_cookie import flask_load  # imports Flask: only where needed
        value = c.cookies.get("session")
        if value is None:
            return {}
        loaded = flask_load(value, SECRET, int(time.time()))
        self.assertIsNotNone(loaded, f"real Flask refuses the client's cookie {value!r}")
        return loaded

    def assertJar(self, c, expected):
        self.assertEqual(self.jar(c), expected)

    def one_cookie(self, r):
        sc = session_set_cookies(r)
        self.assertEqual(len(sc), 1, sc)
        return sc[0]

    def no_cookie(self, r):
        self.assertEqual(session_set_cookies(r), [])

    def log_mark(self):
        return len(self.sg.log())

    def wait_log(self, mark, needle, sg=None):
        """Waits up to 5 s for needle in sg's log after mark."""
        sg = sg or self.sg
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if needle in sg.log()[mark:]:
                return
            time.sleep(0.02)
        self.fail(f"{needle!r} not logged:\n{sg.log()[mark:]}")


class ThreadedServer:
    """A raw TCP server on 127.0.0.1 for backends that misbehave on purpose:
    one thread per connection runs self._serve(sock). Subclasses set their
    own state before calling __init__ (the accept thread starts in it)."""

    def __init__(self, backlog=64):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(backlog)
        self.port = self.sock.getsockname()[1]
        self.addr = f"127.0.0.1:{self.port}"
        self.stopped = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.stopped:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        raise NotImplementedError

    @staticmethod
    def chunks(c):
        """What c receives, read by read, until the peer closes or an error."""
        while True:
            try:
                d = c.recv(65536)
            except OSError:
                return
            if not d:
                return
            yield d

    def stop(self):
        self.stopped = True
        self.sock.close()


SMUGGLED = b"GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n"


class ProbeTestCase(TestCase):
    """Raw requests sessiongate must refuse: each gets its status and a
    close, and the request pipelined behind it (SMUGGLED) is neither answered
    nor forwarded to self.be (an echo backend recording complete requests)."""

    PROBES = []  # (name, raw request, expected status)
    # Refused while streaming the body, after the head went out: self.be may
    # have recorded it.
    HEAD_FORWARDED = frozenset()

    def probe(self, name, raw, status):
        self.be.clear()
        resp = raw_request(self.sg.port, raw + SMUGGLED, timeout=5)
        self.assertTrue(resp.startswith(b"HTTP/1.1 %d " % status), f"{name}: {resp[:120]!r}")
        self.assertIn(b"Connection: close", resp.split(b"\r\n\r\n")[0], name)
        self.assertEqual(resp.count(b"HTTP/1.1 "), 1, f"{name}: pipelined request answered")
        time.sleep(0.05)
        got = self.be.received()
        self.assertFalse(any(r["target"] == "/smuggled" for r in got), f"{name}: smuggled")
        if name not in self.HEAD_FORWARDED:
            self.assertEqual(got, [], f"{name}: reached the backend")

    def test_probes(self):
        for name, raw, status in self.PROBES:
            with self.subTest(name):
                self.probe(name, raw, status)


# ---- raw HTTP over sockets (for what http.client will not send) ----

def raw_connect(port, timeout=10):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def server_socket_option(pid, client, level, option):
    """getsockopt on the daemon's end of the client socket `client`: the
    daemon's fd for that TCP connection, found through /proc/net/tcp and
    /proc/PID/fd, is copied into this process with pidfd_getfd (Linux 5.6;
    the daemon is our child, so ptrace rules allow it). Closing the copy
    leaves the daemon's socket alone."""
    import ctypes
    lport = client.getpeername()[1]
    rport = client.getsockname()[1]
    inode = None
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            if (int(fields[1].split(":")[1], 16) == lport
                    and int(fields[2].split(":")[1], 16) == rport):
                inode = fields[9]
    if inode is None:
        raise RuntimeError(f"no TCP connection {lport} <- {rport} in /proc/net/tcp")
    target = None
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") == f"socket:[{inode}]":
                target = int(fd)
        except OSError:
            pass
    if target is None:
        raise RuntimeError(f"process {pid} holds no socket with inode {inode}")
    libc = ctypes.CDLL(None, use_errno=True)
    pidfd = os.pidfd_open(pid)
    try:
        fd = libc.syscall(438, pidfd, target, 0)  # SYS_pidfd_getfd
        if fd < 0:
            raise OSError(ctypes.get_errno(), "pidfd_getfd")
    finally:
        os.close(pidfd)
    s = socket.socket(fileno=fd)
    try:
        return s.getsockopt(level, option)
    finally:
        s.detach()
        os.close(fd)


def recv_all(sock, timeout=10):
    """Everything until the peer closes (or timeout)."""
    sock.settimeout(timeout)
    out = b""
    try:
        while True:
            d = sock.recv(65536)
            if not d:
                break
            out += d
    except (socket.timeout, ConnectionResetError):
        pass
    return out


def raw_request(port, data, timeout=10):
    """Sends raw bytes, half-closes nothing, reads until the server closes."""
    with raw_connect(port, timeout) as s:
        s.sendall(data)
        return recv_all(s, timeout)


class RawResponse:
    def __init__(self, status, headers, body, raw_head):
        self.status, self.headers, self.body, self.raw_head = status, headers, body, raw_head

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None


def read_response(f, head_request=False):
    """Reads exactly one response (Content-Length, chunked or close-delimited)
    from f = sock.makefile("rb") (keep one per socket: it buffers); returns a
    RawResponse, or None if the peer closed first."""
    line = f.readline()
    if not line:
        return None
    status = int(line.split()[1])
    headers = []
    raw = line
    while True:
        l = f.readline()
        raw += l
        if l in (b"\r\n", b"\n", b""):
            break
        k, _, v = l.decode("latin-1").partition(":")
        headers.append((k.strip(), v.strip()))
    h = {k.lower(): v for k, v in headers}
    body = b""
    if head_request or status in (204, 304) or 100 <= status < 200:
        pass
    elif h.get("transfer-encoding", "").lower() == "chunked":
        while True:
            size = int(f.readline().split(b";")[0], 16)
            if size == 0:
                while f.readline() not in (b"\r\n", b"\n", b""):
                    pass
                break
            body += f.read(size)
            f.readline()
    elif "content-length" in h:
        body = f.read(int(h["content-length"]))
    else:
        body = f.read()
    return RawResponse(status, headers, body, raw)


def main():
    unittest.main(verbosity=2)
