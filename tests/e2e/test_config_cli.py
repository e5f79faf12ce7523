"""tests/e2e/test_config_cli.py — `sessiongate -t -c FILE`: exit codes 0/1, the
nginx-like success lines and the file:line:column error line on stderr,
against the real binary and the committed reference config."""
import os
import pathlib
import shutil
import subprocess
import tempfile
import unittest

ROOT = pathlib.Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "conf" / "sessiongate.yaml"
BIN = os.environ.get("SESSIONGATE", str(ROOT / "build" / "daemon" / "sessiongate"))

MINIMAL = """\
listen: 127.0.0.1:${SG_E2E_PORT}
session:
  secret_key_file: {secret}
backends:
  - name: app
    servers: [127.0.0.1:5000]
routes:
  - prefix: /
    backend: app
"""


class ConfigCli(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="sg-e2e-config-")
        self.secret = os.path.join(self.tmp, "flask_secret_key")
        with open(self.secret, "w") as f:
            f.write("demo-secret\n")
        os.chmod(self.secret, 0o600)  # 0644 would add the key-permissions warning
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("SESSIONGATE_")}
        self.env["SESSIONGATE_SECRET_FILE"] = self.secret
        self.env["SG_E2E_PORT"] = "8080"

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def run_t(self, path, env=None):
        p = subprocess.run([BIN, "-t", "-c", str(path)], env=env or self.env,
                           stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30)
        self.assertEqual(p.stdout, "")  # diagnostics go to stderr only
        return p.returncode, p.stderr.splitlines()

    def write(self, text, name="conf.yaml"):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def line_of(self, path, needle):
        for i, line in enumerate(pathlib.Path(path).read_text().splitlines(), 1):
            if needle in line:
                return i, line.index(needle) + 1
        self.fail(f"{needle!r} not in {path}")

    def test_reference_config_is_valid(self):
        rc, err = self.run_t(REFERENCE)
        self.assertEqual(rc, 0, err)
        self.assertEqual(err, [
            f"sessiongate: the configuration file {REFERENCE} syntax is ok",
            f"sessiongate: configuration file {REFERENCE} test is successful",
        ])

    def test_reference_config_missing_secret(self):
        env = dict(self.env, SESSIONGATE_SECRET_FILE=os.path.join(self.tmp, "nope"))
        rc, err = self.run_t(REFERENCE, env)
        self.assertEqual(rc, 1)
        line, col = self.line_of(REFERENCE, "${SESSIONGATE_SECRET_FILE")
        self.assertEqual(err[0], f'{REFERENCE}:{line}:{col}: cannot read secret key file '
                                 f'"{self.tmp}/nope": No such file or directory')
        self.assertEqual(err[-1], f"sessiongate: configuration file {REFERENCE} test failed")

    def test_minimal_with_env(self):
        path = self.write(MINIMAL.replace("{secret}", self.secret))
        rc, err = self.run_t(path)
        self.assertEqual(rc, 0, err)
        env = dict(self.env)
        del env["SG_E2E_PORT"]
        rc, err = self.run_t(path, env)
        self.assertEqual(rc, 1)
        self.assertEqual(err[0], f"{path}:1:9: environment variable SG_E2E_PORT is not set "
                                 "(use ${SG_E2E_PORT:-default} for a default)")

    def test_errors_point_at_the_node(self):
        base = MINIMAL.replace("{secret}", self.secret)
        cases = [
            (base + "listne: 1\n", "10:1", 'unknown key "listne" (expected one of: listen,'),
            (base + "timeouts:\n  idle: ten\n", "11:9",
             'expected a duration like 10s or 500ms, got "ten"'),
            (base.replace("backend: app", "backend: ap"), "9:14",
             'route 1: unknown backend "ap" (defined: app)'),
            (base.replace("[127.0.0.1:5000]", "[127.0.0.1]"), "6:15",
             'expected an address like 127.0.0.1:8080 or [::1]:8080, got "127.0.0.1"'),
            (base + "workers: 1\nworkers: 2\n", "11:1", 'duplicate key "workers"'),
            (base + "routes: [\n", "11:1", "invalid YAML:"),
        ]
        for text, where, msg in cases:
            with self.subTest(msg=msg):
                path = self.write(text)
                rc, err = self.run_t(path)
                self.assertEqual(rc, 1, err)
                self.assertTrue(err[0].startswith(f"{path}:{where}: "), err)
                self.assertIn(msg, err[0])
                self.assertEqual(len(err), 2, err)

    def test_bad_secret_files(self):
        empty = os.path.join(self.tmp, "empty")
        open(empty, "w").close()
        path = self.write(MINIMAL.replace("{secret}", empty))
        rc, err = self.run_t(path)
        self.assertEqual(rc, 1)
        self.assertEqual(err[0], f'{path}:3:20: secret key file "{empty}" is empty')

    def test_missing_config_file(self):
        path = os.path.join(self.tmp, "absent.yaml")
        rc, err = self.run_t(path)
        self.assertEqual(rc, 1)
        self.assertEqual(err[0], f"{path}: cannot open: No such file or directory")


if __name__ == "__main__":
    unittest.main(verbosity=2)
