"""tests/e2e/test_systemd_unit.py — systemd/sessiongate.service passes
`systemd-analyze verify` (pointed at the built binary), keeps its sandboxing,
and its stop timeout leaves room for the drain deadline; the real daemon
speaks sd_notify on a test NOTIFY_SOCKET the way Type=notify expects."""
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
UNIT = os.path.join(ROOT, "systemd", "sessiongate.service")
INSTALLED = "/usr/local/bin/sessiongate"


def parse_unit(text):
    """{section: [(key, value), ...]} keeping repeated keys in order (configparser can't)."""
    sections, current = {}, None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        m = re.fullmatch(r"\[(\w+)\]", line)
        if m:
            current = sections.setdefault(m.group(1), [])
            continue
        key, sep, value = line.partition("=")
        assert sep and current is not None, f"not a unit line: {raw!r}"
        current.append((key.strip(), value.strip()))
    return sections


def seconds(value):
    """systemd time span ("30s", "1min 30s", "90") in seconds."""
    units = {"ms": 0.001, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600}
    total = 0.0
    for num, unit in re.findall(r"(\d+)\s*([a-z]*)", value):
        total += int(num) * units[unit or "s"]
    return total


class SystemdUnit(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        with open(UNIT) as f:
            cls.text = f.read()
        cls.unit = parse_unit(cls.text)
        cls.service = cls.unit["Service"]
        cls.binary = os.path.abspath(os.environ.get("SESSIONGATE",
                                                    os.path.join(ROOT, "build/daemon/sessiongate")))
        cls.analyze = shutil.which("systemd-analyze")
        if cls.analyze is None:
            raise RuntimeError("systemd-analyze is missing (tests/setup.sh installs the systemd package)")

    def values(self, key):
        return [v for k, v in self.service if k == key]

    def value(self, key):
        vals = self.values(key)
        self.assertEqual(len(vals), 1, f"{key}= should appear once, got {vals}")
        return vals[0]

    def copy_for_build(self, tmp):
        """The unit with its binary paths pointing at the built binary."""
        self.assertTrue(os.access(self.binary, os.X_OK), f"{self.binary} not built")
        path = os.path.join(tmp, "sessiongate.service")
        with open(path, "w") as f:
            f.write(self.text.replace(INSTALLED, self.binary))
        return path

    def test_verify_is_clean(self):
        with tempfile.TemporaryDirectory(prefix="sg-unit-") as tmp:
            path = self.copy_for_build(tmp)
            r = subprocess.run([self.analyze, "verify", "--man=no", path],
                               capture_output=True, text=True, timeout=120)
            out = r.stdout + r.stderr
            self.assertEqual(r.returncode, 0, out)
            # Unknown keys and bad values are only warnings (exit 0): refuse them too.
            ours = [line for line in out.splitlines()
                    if "sessiongate" in line or tmp in line]
            self.assertEqual(ours, [], out)

    def test_verify_catches_a_broken_copy(self):
        # The check above could pass vacuously; show it sees real mistakes.
        with tempfile.TemporaryDirectory(prefix="sg-unit-") as tmp:
            path = self.copy_for_build(tmp)
            with open(path, "a") as f:
                f.write("\n[Service]\nProtectSystm=strict\n")
            r = subprocess.run([self.analyze, "verify", "--man=no", path],
                               capture_output=True, text=True, timeout=120)
            self.assertIn("ProtectSystm", r.stdout + r.stderr)

    def test_security_exposure_is_low(self):
        with tempfile.TemporaryDirectory(prefix="sg-unit-") as tmp:
            path = self.copy_for_build(tmp)
            r = subprocess.run([self.analyze, "security", "--offline=true", "--no-pager", path],
                               capture_output=True, text=True, timeout=120)
            m = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", r.stdout + r.stderr)
            self.assertIsNotNone(m, r.stdout + r.stderr)
            # 0 = fully locked down, 10 = unprotected; a proxy needs the network.
            self.assertLessEqual(float(m.group(1)), 2.0, r.stdout)

    def test_lifecycle_keys(self):
        cfg = "/etc/sessiongate/sessiongate.yaml"
        self.assertEqual(self.value("Type"), "notify")
        self.assertEqual(self.value("ExecStartPre"), f"{INSTALLED} -t -c {cfg}")
        self.assertEqual(self.value("ExecStart"), f"{INSTALLED} -c {cfg}")
        self.assertEqual(self.values("ExecReload")[-1], "/bin/kill -HUP $MAINPID")
        self.assertEqual(self.value("Restart"), "on-failure")
        self.assertEqual(self.value("LimitNOFILE"), "65536")
        self.assertTrue(self.value("DynamicUser") == "yes" or self.values("User"))
        self.assertNotIn(("User", "root"), self.service)
        self.assertEqual(self.value("LoadCredential"),
                         "flask_secret_key:/etc/sessiongate/flask_secret_key")
        self.assertIn("${CREDENTIALS_DIRECTORY}/flask_secret_key", self.text)
        self.assertEqual(self.unit["Install"], [("WantedBy", "multi-user.target")])

    def run_config_test(self, config, env):
        return subprocess.run([self.binary, "-t", "-c", config], env=dict(os.environ, **env),
                              capture_output=True, text=True, timeout=30)

    def test_execstartpre_passes_with_the_credential(self):
        """What ExecStartPre runs, with the environment the unit gives it: the
        shipped config finds the key in the credentials directory (%d)."""
        name, _, path = self.value("LoadCredential").partition(":")
        var, _, value = self.value("Environment").partition("=")
        with tempfile.TemporaryDirectory(prefix="sg-creds-") as creds:
            with open(os.path.join(creds, name), "w") as f:
                f.write("systemd-test-key\n")
            env = {var: value.replace("%d", creds), "CREDENTIALS_DIRECTORY": creds}
            r = self.run_config_test(os.path.join(ROOT, "conf", "sessiongate.yaml"), env)
            self.assertEqual(r.returncode, 0, r.stderr)
            # The alternative the unit's comment offers works too.
            cfg = os.path.join(creds, "alt.yaml")
            with open(os.path.join(ROOT, "conf", "sessiongate.yaml")) as f:
                text = f.read()
            self.assertIn("${SESSIONGATE_SECRET_FILE:-/run/secrets/flask_secret_key}", text)
            with open(cfg, "w") as f:
                f.write(text.replace("${SESSIONGATE_SECRET_FILE:-/run/secrets/flask_secret_key}",
                                     "${CREDENTIALS_DIRECTORY}/flask_secret_key"))
            r = self.run_config_test(cfg, {"CREDENTIALS_DIRECTORY": creds})
            self.assertEqual(r.returncode, 0, r.stderr)
            os.unlink(os.path.join(creds, name))
            r = self.run_config_test(cfg, {"CREDENTIALS_DIRECTORY": creds})
            self.assertEqual(r.returncode, 1, r.stderr)  # so the check above means something
        self.assertEqual(path, "/etc/sessiongate/flask_secret_key")

    def test_stop_timeout_exceeds_drain_deadline(self):
        with open(os.path.join(ROOT, "lib", "sg_limits.h")) as f:
            m = re.search(r"#define SG_TIMEOUT_DRAIN_DEFAULT (\d+)", f.read())
        self.assertIsNotNone(m)
        drain = int(m.group(1)) / 1000
        self.assertGreater(seconds(self.value("TimeoutStopSec")), drain + 5)

    def test_sandboxing(self):
        expected = {
            "ProtectSystem": "strict", "ProtectHome": "yes", "PrivateTmp": "yes",
            "PrivateDevices": "yes", "NoNewPrivileges": "yes", "CapabilityBoundingSet": "",
            "ProtectKernelTunables": "yes", "ProtectKernelModules": "yes",
            "ProtectKernelLogs": "yes", "ProtectControlGroups": "yes",
            "RestrictNamespaces": "yes", "LockPersonality": "yes",
            "MemoryDenyWriteExecute": "yes", "SystemCallArchitectures": "native",
            "RestrictSUIDSGID": "yes", "RestrictRealtime": "yes", "ProtectClock": "yes",
            "ProtectHostname": "yes",
        }
        for key, want in expected.items():
            with self.subTest(key=key):
                self.assertEqual(self.value(key), want)
        self.assertEqual(set(self.value("RestrictAddressFamilies").split()),
                         {"AF_INET", "AF_INET6", "AF_UNIX"})
        self.assertEqual(self.values("SystemCallFilter")[0], "@system-service")
        self.assertEqual(self.values("AmbientCapabilities"), [""])
        self.assertIn("CAP_NET_BIND_SERVICE", self.text)  # the note for ports < 1024


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class DaemonNotify(unittest.TestCase):
    """The real daemon under a NOTIFY_SOCKET, as systemd runs a Type=notify
    service: READY=1 once it accepts, RELOADING=1 + MONOTONIC_USEC then
    READY=1 around a SIGHUP (good or bad config), STOPPING=1 on SIGTERM."""

    def setUp(self):
        tmp = tempfile.TemporaryDirectory(prefix="sg-notify-")
        self.addCleanup(tmp.cleanup)
        self.tmp = tmp.name
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.addCleanup(self.sock.close)
        self.sock.bind(os.path.join(self.tmp, "notify"))
        key = os.path.join(self.tmp, "flask_secret_key")
        with open(key, "w") as f:
            f.write("notify-test-key\n")
        self.port = free_port()
        with open(os.path.join(ROOT, "conf", "sessiongate.yaml")) as f:
            text = f.read()
        self.good = (text.replace("127.0.0.1:8080", f"127.0.0.1:{self.port}")
                     .replace("127.0.0.1:9090", f"127.0.0.1:{free_port()}"))
        self.config = os.path.join(self.tmp, "sessiongate.yaml")
        with open(self.config, "w") as f:
            f.write(self.good)
        binary = os.path.abspath(os.environ.get("SESSIONGATE",
                                                os.path.join(ROOT, "build/daemon/sessiongate")))
        env = dict(os.environ, NOTIFY_SOCKET=os.path.join(self.tmp, "notify"),
                   SESSIONGATE_SECRET_FILE=key)
        self.log = open(os.path.join(self.tmp, "daemon.log"), "w+")
        self.addCleanup(self.log.close)
        self.proc = subprocess.Popen([binary, "-c", self.config], env=env, stdout=self.log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.addCleanup(self.stop)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def daemon_log(self):
        # its own open file: seeking the daemon's would move its writes
        with open(self.log.name) as f:
            return f.read()

    def recv(self):
        """The next datagram other than STATUS= (free text, may come at any time)."""
        deadline = time.monotonic() + 15
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                self.fail(f"no notify message; daemon log:\n{self.daemon_log()}")
            self.sock.settimeout(left)
            try:
                msg = self.sock.recv(4096).decode()
            except socket.timeout:
                continue
            if not msg.startswith("STATUS="):
                return msg

    def assert_reload_cycle(self):
        before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        self.proc.send_signal(signal.SIGHUP)
        msg = self.recv()
        m = re.fullmatch(r"RELOADING=1\nMONOTONIC_USEC=(\d+)", msg)
        self.assertIsNotNone(m, repr(msg))
        self.assertGreaterEqual(int(m.group(1)), before)
        self.assertLessEqual(int(m.group(1)), time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000)
        self.assertEqual(self.recv(), "READY=1")

    def accepts(self):
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=2).close()
            return True
        except OSError:
            return False

    def test_ready_reload_stop(self):
        self.assertEqual(self.recv(), "READY=1")
        self.assertTrue(self.accepts(), "READY=1 before the listener accepts")
        self.assert_reload_cycle()
        # A broken config: the reload is refused, and READY=1 tells systemd
        # that the old configuration keeps serving.
        with open(self.config, "w") as f:
            f.write(self.good + "\nnot_a_key: 1\n")
        self.assert_reload_cycle()
        self.assertTrue(self.accepts())
        self.assertIsNone(self.proc.poll())
        self.proc.send_signal(signal.SIGTERM)
        self.assertEqual(self.recv(), "STOPPING=1")
        self.assertEqual(self.proc.wait(timeout=30), 0, self.daemon_log())


if __name__ == "__main__":
    unittest.main(verbosity=2)
