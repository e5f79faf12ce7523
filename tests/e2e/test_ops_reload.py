"""tests/e2e/test_ops_reload.py — SIGHUP on the real daemon: a changed route
takes effect for new requests while an in-flight one finishes on the old
configuration; a broken config is logged with file:line:column, keeps the old
one serving and counts as a failed reload; reloads under live traffic fail no
request; secrets rotate (the old key becomes a fallback: its cookies still
verify, new cookies are signed with the new key, checked with `sessiongate
cookie decode`); SIGUSR1 and SIGHUP reopen the access log (logrotate)."""
import http.client
import json
import os
import re
import signal
import threading
import time

import harness
from test_ops import access_lines, decode_cookie, scrape, sign_cookie, wait_access_line

APPS = os.path.join(harness.HERE, "apps")

CONFIG = """\
listen: 127.0.0.1:{port}
workers: 2
admin: 127.0.0.1:{admin}
access_log: {access_log}
session:
  secret_key_file: {key}
  fallback_key_files: [{fallbacks}]
backends:
  - name: one
    servers: [{one}]
  - name: two
    servers: [{two}]
  - name: fa
    servers: [{fa}]
routes:
  - prefix: /r
    backend: {r_backend}
    strip_prefix: true
  - prefix: /fa
    backend: fa
    strip_prefix: true
"""


class Reload(harness.TestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.one = cls.start_backend("one", "echo_backend.py")
        cls.two = cls.start_backend("two", "echo_backend.py")
        faport = harness.free_port()
        cls.start_process(
            "fa", [harness.PYTHON, "-m", "uvicorn", "--app-dir", APPS, "fastapi_app:app",
                   "--host", "127.0.0.1", "--port", str(faport), "--log-level", "warning"],
            faport)
        cls.fa = f"127.0.0.1:{faport}"
        cls.key_a = cls.write_key("a", "first-secret-key")
        cls.key_b = cls.write_key("b", "second-secret-key")
        cls.admin = harness.free_port()
        cls.access_log = os.path.join(cls.tmp.name, "access.log")
        cls.port = harness.free_port()
        cls.config_path = os.path.join(cls.tmp.name, "sessiongate.yaml")
        cls.write_config(cls.config_text())
        cls.sg = harness.Daemon("sessiongate", [harness.SESSIONGATE, "-c", cls.config_path],
                                os.path.join(cls.tmp.name, "daemon.log"), cls.port,
                                cls.config_path)
        cls.addClassCleanup(harness.check_daemon_exit, cls.sg)
        harness.wait_port(cls.port, cls.sg.proc, log=cls.sg.log_path)
        harness.wait_port(cls.admin, cls.sg.proc, log=cls.sg.log_path)

    @classmethod
    def write_key(cls, name, text):
        path = os.path.join(cls.tmp.name, "key_" + name)
        with open(path, "w") as f:
            f.write(text)
        return path

    @classmethod
    def config_text(cls, r_backend="one", key=None, fallbacks=()):
        return CONFIG.format(port=cls.port, admin=cls.admin,
                             access_log=harness.yaml_str(cls.access_log),
                             key=harness.yaml_str(key or cls.key_a),
                             fallbacks=", ".join(harness.yaml_str(k) for k in fallbacks),
                             one=cls.one.addr, two=cls.two.addr, fa=cls.fa, r_backend=r_backend)

    @classmethod
    def write_config(cls, text):
        tmp = cls.config_path + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, cls.config_path)  # never a half-written file

    def metrics(self):
        return scrape(self, self.admin)

    def reload(self, text, ok=True):
        """Writes the config, sends SIGHUP and waits until the reload is counted."""
        result = "success" if ok else "failure"
        before = self.metrics().get("sessiongate_config_reloads_total", result=result)
        self.write_config(text)
        self.sg.signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while self.metrics().get("sessiongate_config_reloads_total", result=result) == before:
            self.assertLess(time.monotonic(), deadline, f"reload not counted as {result}")
            time.sleep(0.02)

    def whoami(self):
        status, _, body = self.sg.get("/r/whoami")
        self.assertEqual(status, 200)
        return body.decode()

    def tearDown(self):
        self.reload(self.config_text())  # the next test starts from the first config

    def test_route_change_spares_in_flight_requests(self):
        self.assertEqual(self.whoami(), "one")
        gen = self.metrics().get("sessiongate_config_generation")
        # a keep-alive connection opened before the reload
        keep = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        self.addCleanup(keep.close)
        keep.request("GET", "/r/whoami")
        self.assertEqual(keep.getresponse().read(), b"one")
        result = []

        def slow():
            c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            try:
                c.request("GET", "/r/slow?s=1.5")
                r = c.getresponse()
                result.append((r.status, json.loads(r.read())["server"]))
            finally:
                c.close()
        self.one.clear()
        t = self.in_thread(slow)
        self.wait_received(self.one, "/slow")
        self.reload(self.config_text(r_backend="two"))
        self.assertEqual(self.metrics().get("sessiongate_config_generation"), gen + 1)
        self.assertEqual(self.whoami(), "two")
        keep.request("GET", "/r/whoami")  # the next request on an old connection
        self.assertEqual(keep.getresponse().read(), b"two")
        t.join(10)
        self.assertEqual(result, [(200, "one")])  # finished on the configuration it began with

    def test_broken_config_keeps_the_old_one(self):
        self.reload(self.config_text(r_backend="two"))
        gen = self.metrics().get("sessiongate_config_generation")
        mark = len(self.sg.log())
        broken = self.config_text(r_backend="tow")  # an unknown backend
        self.reload(broken, ok=False)
        line = 1 + broken.splitlines().index("    backend: tow")
        log = self.sg.log()[mark:]
        self.assertRegex(log, re.escape(self.config_path) + rf":{line}:\d+: .*unknown backend")
        self.assertIn("still serving the previous configuration", log)
        self.assertEqual(self.whoami(), "two")
        self.assertEqual(self.metrics().get("sessiongate_config_generation"), gen)
        self.reload("listen: [", ok=False)  # not even YAML
        self.assertRegex(self.sg.log()[mark:], re.escape(self.config_path) + r":\d+:\d+: ")
        self.assertEqual(self.whoami(), "two")
        self.assertEqual(self.metrics().get("sessiongate_ready"), 1)

    def test_reloads_under_live_traffic_fail_nothing(self):
        stop = threading.Event()
        failures, done = [], [0]

        def traffic(keepalive):
            c = None
            while not stop.is_set():
                try:
                    if c is None:
                        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
                    c.request("GET", "/r/whoami")
                    r = c.getresponse()
                    body = r.read()
                    if r.status != 200 or body not in (b"one", b"two"):
                        failures.append((r.status, body))
                    done[0] += 1
                    if not keepalive or r.getheader("Connection") == "close":
                        c.close()
                        c = None
                except Exception as e:  # noqa: BLE001
                    failures.append(repr(e))
                    c = None
            if c:
                c.close()
        threads = [threading.Thread(target=traffic, args=(k,)) for k in (True, False, True)]
        for t in threads:
            t.start()
        try:
            for i in range(4):
                self.reload(self.config_text(r_backend="two" if i % 2 == 0 else "one"))
                self.reload(self.config_text(r_backend="nope"), ok=False)
        finally:
            stop.set()
            for t in threads:
                t.join(10)
        self.assertEqual(failures, [])
        self.assertGreater(done[0], 50)

    def test_secret_rotation(self):
        old_cookie = sign_cookie({"u": "ann"}, self.key_a)
        hdr = {"Cookie": "session=" + old_cookie}
        # rotate: key b signs, key a still verifies
        self.reload(self.config_text(key=self.key_b, fallbacks=[self.key_a]))
        status, _, body = self.sg.get("/fa/api/echo", headers=hdr)
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(body)["session"], {"u": "ann"})
        status, headers, _ = self.sg.get(
            "/fa/api/patch", method="POST", body=json.dumps({"patches": ['{"n": 1}']}),
            headers=dict(hdr, **{"Content-Type": "application/json"}))
        self.assertEqual(status, 200)
        new_cookie = headers["set-cookie"].split(";")[0][len("session="):]
        rc, out, err = decode_cookie(new_cookie, self.key_b)
        self.assertEqual(rc, 0, err)
        self.assertEqual(json.loads(out), {"u": "ann", "n": 1})
        rc, out, err = decode_cookie(new_cookie, self.key_a)
        self.assertEqual((rc, out), (1, ""))
        self.assertIn("bad signature", err)
        # the fallback retired: the old cookie no longer verifies (an empty session)
        before = self.metrics().get("sessiongate_sessions_total", backend="fa",
                                    outcome="bad_signature")
        self.reload(self.config_text(key=self.key_b))
        status, _, body = self.sg.get("/fa/api/echo", headers=hdr)
        self.assertEqual(json.loads(body)["session"], {})
        self.assertEqual(self.metrics().get("sessiongate_sessions_total", backend="fa",
                                            outcome="bad_signature") - before, 1)
        status, _, body = self.sg.get("/fa/api/echo", headers={"Cookie": "session=" + new_cookie})
        self.assertEqual(json.loads(body)["session"], {"u": "ann", "n": 1})

    def test_access_log_reopened_for_logrotate(self):
        for sig in (signal.SIGUSR1, signal.SIGHUP):
            with self.subTest(signal=sig.name):
                status, headers, _ = self.sg.get("/r/before")
                wait_access_line(self, self.access_log, headers["x-request-id"])
                rotated = self.access_log + "." + sig.name
                os.rename(self.access_log, rotated)
                mark = len(self.sg.log())
                self.sg.signal(sig)
                deadline = time.monotonic() + 10
                while not os.path.exists(self.access_log):
                    self.assertLess(time.monotonic(), deadline, "access log not reopened")
                    time.sleep(0.02)
                status, headers, _ = self.sg.get("/r/after")
                rid = headers["x-request-id"]
                rec = wait_access_line(self, self.access_log, rid)
                self.assertEqual(rec["path"], "/r/after")
                self.assertNotIn(rid, [r["request_id"] for r in access_lines(rotated)])
                if sig == signal.SIGUSR1:
                    self.assertIn("access log reopened", self.sg.log()[mark:])


if __name__ == "__main__":
    harness.main()
