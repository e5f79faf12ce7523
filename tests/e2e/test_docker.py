"""tests/e2e/test_docker.py — the Dockerfile, .dockerignore and
conf/docker-compose.yaml, checked by reading (no Docker engine runs here):
stages, COPY sources, the runtime libraries the built binary really needs, the
HEALTHCHECK command against a real HTTP server, and the compose wiring."""
import http.server
import json
import os
import re
import shlex
import subprocess
import tempfile
import threading
import unittest

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def read(*parts):
    with open(os.path.join(ROOT, *parts)) as f:
        return f.read()


def parse_dockerfile(text):
    """[(stage name, base, [(INSTRUCTION, args), ...]), ...], continuations joined."""
    text = re.sub(r"\\\n", " ", text)
    stages = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        instr, _, args = line.partition(" ")
        instr, args = instr.upper(), args.strip()
        if instr == "FROM":
            m = re.fullmatch(r"(\S+)(?:\s+AS\s+(\S+))?", args, re.I)
            stages.append((m.group(2), m.group(1), []))
        else:
            assert stages, f"{instr} before FROM"
            stages[-1][2].append((instr, args))
    return stages


def dockerignore_patterns():
    pats = []
    for line in read(".dockerignore").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            pats.append(line.rstrip("/"))
    return pats


def ignored(path, patterns):
    """Docker's rule: a pattern excludes a path or any directory above it."""
    def rx(p):
        out = ""
        i = 0
        while i < len(p):
            if p.startswith("**/", i):
                out += "(?:.*/)?"
                i += 3
            elif p[i] == "*":
                out += "[^/]*"
                i += 1
            elif p[i] == "?":
                out += "[^/]"
                i += 1
            else:
                out += re.escape(p[i])
                i += 1
        return re.compile(out)
    parts = path.split("/")
    prefixes = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
    return any(rx(p).fullmatch(q) for p in patterns for q in prefixes)


class Dockerfile(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.stages = parse_dockerfile(read("Dockerfile"))
        cls.by_name = {name: (base, instrs) for name, base, instrs in cls.stages}

    def instrs(self, stage, kind):
        return [a for i, a in self.by_name[stage][1] if i == kind]

    def test_stages(self):
        self.assertEqual([n for n, _, _ in self.stages], ["build", "demo-apps", "runtime"])
        self.assertEqual(self.by_name["build"][0], "debian:bookworm")
        self.assertEqual(self.by_name["runtime"][0], "debian:bookworm-slim")
        self.assertEqual(self.by_name["demo-apps"][0], "debian:bookworm-slim")

    def test_build_stage_runs_the_readme_test_command(self):
        runs = self.instrs("build", "RUN")
        self.assertEqual(runs[0], "bash tests/all.sh")
        self.assertIn("bash tests/all.sh", read("README.md"))
        self.assertIn("tests/all.sh", read(".ci", "run"))  # what CI runs

    def test_every_copied_file_exists_and_is_in_the_context(self):
        patterns = dockerignore_patterns()
        stage_names = []
        for name, _, instrs in self.stages:
            for kind, args in instrs:
                if kind not in ("COPY", "ADD"):
                    continue
                words = shlex.split(args)
                opts = [w for w in words if w.startswith("--")]
                srcs = [w for w in words if not w.startswith("--")][:-1]
                self.assertTrue(srcs, args)
                frm = [o.split("=", 1)[1] for o in opts if o.startswith("--from=")]
                if frm:
                    self.assertIn(frm[0], stage_names, f"{args}: no earlier stage {frm[0]}")
                    continue
                for src in srcs:
                    with self.subTest(stage=name, src=src):
                        self.assertTrue(os.path.exists(os.path.join(ROOT, src)), src)
                        if src != ".":
                            self.assertFalse(ignored(src, patterns), f"{src} is in .dockerignore")
            stage_names.append(name)

    def test_dockerignore_keeps_build_dirs_and_keys_out(self):
        patterns = dockerignore_patterns()
        for path in ("build", "build-asan", "build-ops/daemon/sessiongate", ".git/HEAD",
                     "conf/flask_secret_key", "tests/demo/__pycache__/x.pyc"):
            with self.subTest(path=path):
                self.assertTrue(ignored(path, patterns))
        for path in ("meson.build", "lib/meson.build", "daemon/main.c", "tests/all.sh",
                     "tests/setup.sh", "conf/sessiongate.yaml", "tests/demo/flask_app.py"):
            with self.subTest(path=path):
                self.assertFalse(ignored(path, patterns))

    def runtime_packages(self):
        pkgs = set()
        for run in self.instrs("runtime", "RUN"):
            m = re.search(r"apt-get install (.*?)(?:&&|$)", run)
            if m:
                pkgs |= {w for w in m.group(1).split() if not w.startswith("-")}
        return pkgs

    def test_runtime_has_only_runtime_libraries(self):
        pkgs = self.runtime_packages()
        self.assertTrue(pkgs)
        for p in pkgs:
            self.assertFalse(p.endswith("-dev") or p in ("gcc", "meson", "clang-14", "curl"), p)

    def test_runtime_libraries_cover_the_built_binary(self):
        binary = os.environ.get("SESSIONGATE", os.path.join(ROOT, "build/daemon/sessiongate"))
        out = subprocess.run(["ldd", binary], capture_output=True, text=True, check=True).stdout
        libs = re.findall(r"=> (/\S+)", out)
        self.assertTrue(libs, out)
        pkgs = self.runtime_packages() | {"libc6"}  # libc6 is in every Debian image
        for lib in libs:
            real = os.path.realpath(lib)
            r = subprocess.run(["dpkg", "-S", real], capture_output=True, text=True)
            if r.returncode != 0:  # usrmerge: dpkg knows the /lib spelling
                r = subprocess.run(["dpkg", "-S", lib], capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, f"{lib}: {r.stderr}")
            owner = r.stdout.split(":", 1)[0]
            with self.subTest(lib=lib):
                self.assertIn(owner, pkgs, f"{lib} comes from {owner}: add it to the runtime stage")

    def test_runtime_user_port_entrypoint(self):
        user = self.instrs("runtime", "USER")
        self.assertEqual(len(user), 1)
        self.assertNotIn(user[0].split(":")[0], ("root", "0"))
        self.assertEqual(self.instrs("runtime", "EXPOSE"), ["8080"])
        self.assertEqual(json.loads(self.instrs("runtime", "ENTRYPOINT")[0]),
                         ["/usr/local/bin/sessiongate"])
        self.assertEqual(json.loads(self.instrs("runtime", "CMD")[0]),
                         ["-c", "/etc/sessiongate/sessiongate.yaml"])
        self.assertIn("SESSIONGATE_SECRET_FILE=/run/secrets/flask_secret_key",
                      self.instrs("runtime", "ENV"))
        copies = self.instrs("runtime", "COPY")
        self.assertIn("conf/sessiongate.yaml /etc/sessiongate/sessiongate.yaml", copies)
        self.assertIn("--from=build /out/sessiongate /usr/local/bin/sessiongate", copies)

    def healthcheck_argv(self):
        hc = self.instrs("runtime", "HEALTHCHECK")
        self.assertEqual(len(hc), 1)
        m = re.search(r"CMD (\[.*\])$", hc[0])
        argv = json.loads(m.group(1))
        self.assertIn("/dev/tcp/127.0.0.1/9090", argv[-1])
        self.assertIn("GET /healthz", argv[-1])
        return argv

    def test_healthcheck_command_against_a_real_server(self):
        """The exact HEALTHCHECK command: 0 on 200, non-zero on 503 and when nothing listens."""
        status = {"code": 200}

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(status["code"] if self.path == "/healthz" else 404)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        port = srv.server_address[1]
        thread = threading.Thread(target=srv.serve_forever, daemon=True)
        thread.start()
        try:
            argv = [a.replace("/9090", f"/{port}") for a in self.healthcheck_argv()]
            self.assertEqual(subprocess.run(argv, timeout=10).returncode, 0)
            status["code"] = 503
            self.assertNotEqual(subprocess.run(argv, timeout=10).returncode, 0)
        finally:
            srv.shutdown()
            srv.server_close()
            thread.join()
        r = subprocess.run(argv, timeout=10, stderr=subprocess.DEVNULL)
        self.assertNotEqual(r.returncode, 0)


class Compose(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.doc = yaml.safe_load(read("conf", "docker-compose.yaml"))
        cls.svc = cls.doc["services"]
        cls.stage_names = [n for n, _, _ in parse_dockerfile(read("Dockerfile"))]

    def test_services_and_builds(self):
        self.assertEqual(set(self.svc), {"sessiongate", "flask", "api"})
        for name, target in (("sessiongate", "runtime"), ("flask", "demo-apps"),
                             ("api", "demo-apps")):
            with self.subTest(service=name):
                build = self.svc[name]["build"]
                self.assertEqual(os.path.normpath(os.path.join(ROOT, "conf", build["context"])), ROOT)
                self.assertIn(build["target"], self.stage_names)
                self.assertEqual(build["target"], target)
        self.assertEqual(set(self.svc["sessiongate"]["depends_on"]), {"flask", "api"})

    def test_only_sessiongate_is_published(self):
        self.assertEqual(self.svc["sessiongate"]["ports"], ["127.0.0.1:8080:8080"])
        for name in ("flask", "api"):
            self.assertNotIn("ports", self.svc[name])
            self.assertEqual(self.svc[name]["networks"], ["back"])
        self.assertIs(self.doc["networks"]["back"]["internal"], True)
        self.assertEqual(set(self.svc["sessiongate"]["networks"]), {"front", "back"})

    def test_secret_wiring(self):
        self.assertIn("file", self.doc["secrets"]["flask_secret_key"])
        self.assertEqual(self.svc["sessiongate"]["secrets"], ["flask_secret_key"])
        self.assertEqual(self.svc["flask"]["secrets"], ["flask_secret_key"])
        self.assertEqual(self.svc["flask"]["environment"]["SESSIONGATE_SECRET_FILE"],
                         "/run/secrets/flask_secret_key")
        self.assertNotIn("secrets", self.svc["api"])  # the API never needs the key
        # The key must never be built into an image.
        self.assertTrue(ignored("conf/flask_secret_key", dockerignore_patterns()))

    def test_mounted_config_matches_services(self):
        mounts = self.svc["sessiongate"]["volumes"]
        self.assertEqual(len(mounts), 1)
        src, dst, mode = mounts[0].split(":")
        self.assertEqual((dst, mode), ("/etc/sessiongate/sessiongate.yaml", "ro"))
        cfg = yaml.safe_load(read("conf", src))
        self.assertEqual(cfg["listen"], "0.0.0.0:8080")
        self.assertEqual(cfg["session"]["secret_key_file"],
                         "${SESSIONGATE_SECRET_FILE:-/run/secrets/flask_secret_key}")
        backends = {b["name"]: b for b in cfg["backends"]}
        self.assertEqual(backends["flask"]["servers"],
                         [f"flask:{self.svc['flask']['environment']['DEMO_FLASK_PORT']}"])
        self.assertEqual(backends["flask"]["session"], "cookie")
        api_cmd = self.svc["api"]["command"]
        self.assertEqual(backends["api"]["servers"],
                         [f"api:{api_cmd[api_cmd.index('--port') + 1]}"])
        self.assertEqual(backends["api"]["session"], "header")
        self.assertEqual([(r["prefix"], r["backend"]) for r in cfg["routes"]],
                         [("/api", "api"), ("/", "flask")])
        self.assertTrue(cfg["admin"].endswith(":9090"))  # the HEALTHCHECK's port

    def test_mounted_config_passes_sessiongate_t(self):
        binary = os.environ.get("SESSIONGATE", os.path.join(ROOT, "build/daemon/sessiongate"))
        src = self.svc["sessiongate"]["volumes"][0].split(":")[0]
        with tempfile.TemporaryDirectory(prefix="sg-docker-") as tmp:
            key = os.path.join(tmp, "flask_secret_key")  # stands in for /run/secrets
            with open(key, "w") as f:
                f.write("compose-test-key\n")
            r = subprocess.run([binary, "-t", "-c", os.path.join(ROOT, "conf", src)],
                               env=dict(os.environ, SESSIONGATE_SECRET_FILE=key),
                               capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("test is successful", r.stderr)

    def test_hardening_and_grace(self):
        s = self.svc["sessiongate"]
        self.assertIs(s["read_only"], True)
        self.assertEqual(s["cap_drop"], ["ALL"])
        self.assertIn("no-new-privileges:true", s["security_opt"])
        self.assertEqual(s["stop_grace_period"], "30s")


if __name__ == "__main__":
    unittest.main(verbosity=2)
