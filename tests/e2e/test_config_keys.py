"""tests/e2e/test_config_keys.py — secret key files on the real binary: a
relative path resolves against the configuration file's directory whatever
the working directory (`sessiongate -t` and a running daemon that verifies a
cookie with it), and a key file group or others may read gets a warning from
`sessiongate -t` naming it and its mode, without failing the check."""
import http.client
import json
import os
import shutil
import subprocess
import tempfile

import harness
from test_ops import sign_cookie

CONFIG = """\
listen: 127.0.0.1:{port}
workers: 1
session:
  secret_key_file: {key}
backends:
  - name: api
    servers: [{api}]
routes:
  - prefix: /
    backend: api
"""


def write(path, data, mode):
    with open(path, "wb") as f:
        f.write(data)
    os.chmod(path, mode)


class KeyFiles(harness.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="sg-e2e-keys-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        os.mkdir(os.path.join(self.dir, "keys"))
        self.key = os.path.join(self.dir, "keys", "flask")
        write(self.key, harness.SECRET + b"\n", 0o600)
        self.elsewhere = tempfile.mkdtemp(prefix="sg-e2e-cwd-")  # an unrelated cwd
        self.addCleanup(shutil.rmtree, self.elsewhere, True)

    def config(self, key, port=8080, api="127.0.0.1:9"):
        path = os.path.join(self.dir, "sessiongate.yaml")
        with open(path, "w") as f:
            f.write(CONFIG.format(port=port, key=key, api=api))
        return path

    def run_t(self, path, cwd):
        p = subprocess.run([harness.SESSIONGATE, "-t", "-c", path], cwd=cwd,
                           stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30)
        self.assertEqual(p.stdout, "")
        return p.returncode, p.stderr.splitlines()

    def test_relative_path_resolves_against_the_config_dir(self):
        path = self.config("keys/flask")
        rc, err = self.run_t(path, cwd=self.elsewhere)
        self.assertEqual(rc, 0, err)
        self.assertEqual(err[-1], f"sessiongate: configuration file {path} test is successful")
        self.assertFalse([l for l in err if " warn " in l], err)  # 0600: no warning
        # a relative -c path: the config's directory, itself relative to the cwd
        rc, err = self.run_t(os.path.relpath(path, "/"), cwd="/")
        self.assertEqual(rc, 0, err)
        # the cwd's own keys/flask is not what is read
        os.mkdir(os.path.join(self.elsewhere, "keys"))
        write(os.path.join(self.elsewhere, "keys", "flask"), b"decoy", 0o600)
        os.remove(self.key)
        rc, err = self.run_t(path, cwd=self.elsewhere)
        self.assertEqual(rc, 1, err)
        line = CONFIG.split("\n").index("  secret_key_file: {key}") + 1
        self.assertEqual(err[0], f'{path}:{line}:20: cannot read secret key file '
                                 f'"{self.dir}/keys/flask": No such file or directory')
        self.assertEqual(err[-1], f"sessiongate: configuration file {path} test failed")

    def test_absolute_and_env_paths_unchanged(self):
        rc, err = self.run_t(self.config(self.key), cwd=self.elsewhere)
        self.assertEqual(rc, 0, err)
        env = dict(os.environ, SG_E2E_KEY_DIR=os.path.join(self.dir, "keys"))
        path = self.config("${SG_E2E_KEY_DIR}/flask")
        p = subprocess.run([harness.SESSIONGATE, "-t", "-c", path], cwd=self.elsewhere, env=env,
                           stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)

    def test_daemon_verifies_with_a_relative_key(self):
        """A running daemon started from another cwd verifies a cookie signed
        with the key the relative path names."""
        api = self.start_backend("api", "echo_backend.py")
        port = harness.free_port()
        path = self.config("keys/flask", port=port, api=api.addr)
        # harness.Daemon runs in the repository root: a Proc in another cwd instead
        dm = self._own(harness.Proc("sg", [harness.SESSIONGATE, "-c", path],
                                    os.path.join(self.elsewhere, "daemon.log"),
                                    cwd=self.elsewhere))
        harness.wait_port(port, dm.proc, log=dm.log_path)
        cookie = sign_cookie({"_user_id": "rel"}, self.key)
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        c.request("GET", "/echo", headers={"Cookie": f"session={cookie}"})
        r = c.getresponse()
        body = json.loads(r.read())
        c.close()
        self.assertEqual(r.status, 200, body)
        got = [v for k, v in body["headers"] if k.lower() == "x-session"]
        self.assertEqual([json.loads(v) for v in got], [{"_user_id": "rel"}])
        self.assertEqual(dm.stop(), 0, dm.log())
        self.assertNotIn("Sanitizer", dm.log())
        self.assertNotIn("runtime error:", dm.log())

    def test_group_or_world_readable_key_warns(self):
        path = self.config("keys/flask")
        for mode in (0o644, 0o444, 0o640, 0o620):
            with self.subTest(mode=oct(mode)):
                os.chmod(self.key, mode)
                rc, err = self.run_t(path, cwd=self.elsewhere)
                self.assertEqual(rc, 0, err)  # a warning, not an error
                warns = [l for l in err if " warn " in l]
                self.assertEqual(len(warns), 1, err)
                self.assertIn(f'secret key file "{self.dir}/keys/flask" has mode {mode:04o}: '
                              "group or others may read or write it", warns[0])
                self.assertIn(f"{path}:4:20: ", warns[0])
                self.assertEqual(err[-2:], [
                    f"sessiongate: the configuration file {path} syntax is ok",
                    f"sessiongate: configuration file {path} test is successful"])
        os.chmod(self.key, 0o400)
        rc, err = self.run_t(path, cwd=self.elsewhere)
        self.assertEqual((rc, len(err)), (0, 2), err)


if __name__ == "__main__":
    harness.main()
