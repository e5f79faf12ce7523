"""tests/e2e/test_ops.py — issue 5's operations surface on the real daemon:
the admin listener (/healthz, /readyz, /metrics), metrics that move by
exactly the requests sent, the JSON access log, request ids from trusted
proxies or generated, and logs that never hold a cookie, a session or a
secret. The helpers at the top (a strict Prometheus text-format parser,
access-log reading, cookie signing) are shared by test_ops_*.py."""
import datetime
import http.client
import json
import math
import os
import re
import subprocess
import time

import harness

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
SAMPLE = re.compile(rf"^({NAME})(?:\{{(.*)\}})? (\S+)(?: (-?\d+))?$")
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)')
TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}


class Metrics:
    """A parsed exposition: samples[(name, frozenset(labels))] = value, plus
    the declared type and help of every family."""

    def __init__(self, text, test):
        self.samples, self.types, self.helps = {}, {}, {}
        t = test
        t.assertTrue(text.endswith("\n"), "exposition must end with a newline")
        family_done = set()
        current = None
        for n, line in enumerate(text.split("\n")[:-1], 1):
            where = f"line {n}: {line!r}"
            t.assertNotEqual(line, "", f"empty {where}")
            if line.startswith("# HELP "):
                name, _, help_ = line[7:].partition(" ")
                t.assertRegex(name, f"^{NAME}$", where)
                t.assertNotIn(name, self.helps, f"HELP twice, {where}")
                t.assertTrue(help_, f"empty HELP, {where}")
                self.helps[name] = help_
                continue
            if line.startswith("# TYPE "):
                parts = line[7:].split(" ")
                t.assertEqual(len(parts), 2, where)
                name, typ = parts
                t.assertIn(typ, TYPES, where)
                t.assertNotIn(name, self.types, f"TYPE twice, {where}")
                t.assertNotIn(name, family_done, f"family split, {where}")
                if typ == "counter":
                    t.assertTrue(name.endswith("_total"), f"counter without _total, {where}")
                self.types[name] = typ
                if current:
                    family_done.add(current)
                current = name
                continue
            t.assertFalse(line.startswith("#"), f"unknown comment, {where}")
            m = SAMPLE.match(line)
            t.assertIsNotNone(m, f"not a sample, {where}")
            name, labels, value = m.group(1), m.group(2), m.group(3)
            fam = self.family(name)
            t.assertEqual(fam, current, f"sample outside its family's block, {where}")
            t.assertIn(fam, self.helps, f"no HELP for {fam}, {where}")
            lab = {}
            if labels:
                pos = 0
                while pos < len(labels):
                    lm = LABEL.match(labels, pos)
                    t.assertIsNotNone(lm, f"bad labels, {where}")
                    t.assertNotIn(lm.group(1), lab, f"label twice, {where}")
                    lab[lm.group(1)] = lm.group(2)
                    pos = lm.end()
            v = float(value)  # raises on anything that is not a float (+Inf, NaN ok)
            key = (name, frozenset(lab.items()))
            t.assertNotIn(key, self.samples, f"duplicate series, {where}")
            if self.types[fam] in ("counter", "histogram") and not math.isnan(v):
                t.assertGreaterEqual(v, 0, where)
            self.samples[key] = v
        self._check_histograms(t)

    def family(self, name):
        if name in self.types:
            return name
        for suffix in ("_bucket", "_sum", "_count"):
            base = name[: -len(suffix)]
            if name.endswith(suffix) and self.types.get(base) == "histogram":
                return base
        return None

    def _check_histograms(self, t):
        for fam, typ in self.types.items():
            if typ != "histogram":
                continue
            series = {}
            for (name, lab), v in self.samples.items():
                if name == fam + "_bucket":
                    d = dict(lab)
                    le = d.pop("le")
                    series.setdefault(frozenset(d.items()), []).append(
                        (float(le), v))
            for lab, buckets in series.items():
                buckets.sort()
                values = [v for _, v in buckets]
                t.assertEqual(values, sorted(values), f"{fam}{dict(lab)} not cumulative")
                t.assertEqual(buckets[-1][0], math.inf, f"{fam}{dict(lab)} has no +Inf")
                t.assertEqual(self.samples[(fam + "_count", lab)], buckets[-1][1])
                t.assertIn((fam + "_sum", lab), self.samples)

    def get(self, name, **labels):
        """A sample's value; 0 when the series does not exist (yet)."""
        return self.samples.get((name, frozenset(labels.items())), 0.0)


def admin_get(port, path, method="GET", headers=None, timeout=10):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request(method, path, headers=headers or {})
        r = c.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        c.close()


def scrape(test, port):
    status, headers, body = admin_get(port, "/metrics")
    test.assertEqual(status, 200, body)
    test.assertTrue(headers["content-type"].startswith("text/plain; version=0.0.4"), headers)
    return Metrics(body.decode("ascii"), test)


def access_lines(path):
    """Every JSON line of an access log (or of a mixed stdout+stderr log)."""
    out = []
    try:
        with open(path, "rb") as f:
            data = f.read().decode("ascii")  # the access log is pure ASCII by design
    except FileNotFoundError:
        return out
    for line in data.splitlines():
        if line.startswith("{"):
            out.append(json.loads(line))
    return out


def wait_access_line(test, path, request_id, timeout=5):
    """The access-log line of one request (lines are batched per loop pass)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for rec in access_lines(path):
            if rec.get("request_id") == request_id:
                return rec
        time.sleep(0.02)
    test.fail(f"no access-log line for request id {request_id}")


def sign_cookie(session, key_file):
    r = subprocess.run([harness.SESSIONGATE, "cookie", "sign", "--secret-file", key_file],
                       input=json.dumps(session), capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        raise RuntimeError(r.stderr)
    return r.stdout.strip()


def decode_cookie(cookie, *key_files):
    """(exit status, stdout, stderr) of `sessiongate cookie decode`."""
    argv = [harness.SESSIONGATE, "cookie", "decode"]
    for k in key_files:
        argv += ["--secret-file", k]
    r = subprocess.run(argv + ["--", cookie], capture_output=True, text=True, timeout=30)
    return r.returncode, r.stdout, r.stderr


# ---------------------------------------------------------------------------

APPS = os.path.join(harness.HERE, "apps")
DOCKERFILE = os.path.join(harness.ROOT, "Dockerfile")

OPS_CONFIG = """\
listen: 127.0.0.1:{port}
workers: 2
admin: 127.0.0.1:{admin}
access_log: {access_log}
log_level: {log_level}
trusted_proxies: [127.0.0.2]
session:
  secret_key_file: {secret_file}
backends:
  - name: api
    servers: [{api}]
  - name: fa
    servers: [{fa}]
routes:
  - prefix: /echo
    backend: api
    strip_prefix: true
  - prefix: /fa
    backend: fa
    strip_prefix: true
"""


def ops_config(**kw):
    """OPS_CONFIG with everything but {port} and {secret_file} filled in
    (start_daemon fills those two)."""
    kw.setdefault("log_level", "info")
    return OPS_CONFIG.replace("{port}", "{{port}}").replace(
        "{secret_file}", "{{secret_file}}").format(**kw)


class OpsCase(harness.TestCase):
    """An echo backend (api), the FastAPI header-protocol app (fa) and a
    daemon with an admin listener and a file access log."""

    LOG_LEVEL = "info"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.api = cls.start_backend("api", "echo_backend.py")
        faport = harness.free_port()
        cls.fa = cls.start_process(
            "fa", [harness.PYTHON, "-m", "uvicorn", "--app-dir", APPS, "fastapi_app:app",
                   "--host", "127.0.0.1", "--port", str(faport), "--log-level", "warning"],
            faport)
        cls.admin = harness.free_port()
        cls.access_log = os.path.join(cls.tmp.name, "access.log")
        cls.sg = cls.start_daemon(None, config_text=ops_config(
            admin=cls.admin, access_log=harness.yaml_str(cls.access_log), api=cls.api.addr,
            fa=f"127.0.0.1:{faport}", log_level=cls.LOG_LEVEL))
        cls.key_file = os.path.join(cls.tmp.name, "sessiongate", "secret_key")
        harness.wait_port(cls.admin, cls.sg.proc, log=cls.sg.log_path)

    def scrape(self):
        return scrape(self, self.admin)

    def request(self, method, path, body=None, headers=None, source="127.0.0.1"):
        """One request on a new connection from source: (status, headers, body)."""
        c = http.client.HTTPConnection("127.0.0.1", self.sg.port, timeout=10,
                                       source_address=(source, 0))
        try:
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        finally:
            c.close()


class AdminListener(OpsCase):
    def test_healthz(self):
        status, headers, body = admin_get(self.admin, "/healthz")
        self.assertEqual((status, body), (200, b"ok\n"))
        self.assertEqual(headers["cache-control"], "no-store")
        status, headers, body = admin_get(self.admin, "/healthz", method="HEAD")
        self.assertEqual((status, body, headers["content-length"]), (200, b"", "3"))
        self.assertEqual(admin_get(self.admin, "/healthz?probe=1")[0], 200)

    def test_dockerfile_healthcheck_against_the_real_daemon(self):
        """The image's HEALTHCHECK command, verbatim, against this admin listener."""
        with open(DOCKERFILE) as f:
            text = f.read().replace("\\\n", " ")
        m = re.search(r"^HEALTHCHECK .*?CMD (\[.*\])\s*$", text, re.M)
        self.assertIsNotNone(m, "no HEALTHCHECK CMD in the Dockerfile")
        argv = [a.replace("/9090", f"/{self.admin}") for a in json.loads(m.group(1))]
        self.assertIn(f"/dev/tcp/127.0.0.1/{self.admin}", argv[-1])
        r = subprocess.run(argv, capture_output=True, timeout=10)
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_readyz_ready(self):
        status, _, body = admin_get(self.admin, "/readyz")
        self.assertEqual((status, body), (200, b"ready\n"))

    def test_strict_and_small(self):
        self.assertEqual(admin_get(self.admin, "/")[0], 404)
        self.assertEqual(admin_get(self.admin, "/metrics/x")[0], 404)
        self.assertEqual(admin_get(self.admin, "/echo")[0], 404)  # never proxied
        status, headers, _ = admin_get(self.admin, "/metrics", method="DELETE")
        self.assertEqual((status, headers.get("allow")), (405, "GET, HEAD"))
        # a body, a smuggling-shaped head, garbage: 400 and closed
        for raw in (b"POST /healthz HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc",
                    b"GET /healthz HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n"
                    b"Transfer-Encoding: chunked\r\n\r\n",
                    b"\x16\x03\x01\x02\x00\r\n\r\n"):
            resp = harness.raw_request(self.admin, raw)
            self.assertRegex(resp, rb"^HTTP/1.1 4\d\d ", raw)
        # keep-alive and pipelining: two answers on one connection, in order
        with harness.raw_connect(self.admin) as s:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n"
                      b"GET /readyz HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
            f = s.makefile("rb")
            a, b = harness.read_response(f), harness.read_response(f)
            self.assertEqual((a.status, a.body, b.status, b.body),
                             (200, b"ok\n", 200, b"ready\n"))
            self.assertEqual(f.read(), b"")  # closed after Connection: close
        # a HTTP/1.0 probe (the Docker HEALTHCHECK's) is answered and closed
        resp = harness.raw_request(self.admin, b"GET /healthz HTTP/1.0\r\n\r\n")
        self.assertTrue(resp.startswith(b"HTTP/1.1 200 OK\r\n"), resp)
        self.assertTrue(resp.endswith(b"\r\n\r\nok\n"), resp)

    def test_metrics_exposition_is_valid(self):
        m = self.scrape()
        for fam, typ in [("sessiongate_requests_total", "counter"),
                         ("sessiongate_request_duration_seconds", "histogram"),
                         ("sessiongate_request_body_bytes_total", "counter"),
                         ("sessiongate_response_body_bytes_total", "counter"),
                         ("sessiongate_client_connections", "gauge"),
                         ("sessiongate_upstream_connections", "gauge"),
                         ("sessiongate_upstream_connect_errors_total", "counter"),
                         ("sessiongate_upstream_timeouts_total", "counter"),
                         ("sessiongate_sessions_total", "counter"),
                         ("sessiongate_patches_applied_total", "counter"),
                         ("sessiongate_patches_rejected_total", "counter"),
                         ("sessiongate_cookies_total", "counter"),
                         ("sessiongate_cookies_too_large_total", "counter"),
                         ("sessiongate_config_reloads_total", "counter"),
                         ("sessiongate_ready", "gauge"),
                         ("sessiongate_draining", "gauge"),
                         ("sessiongate_backend_servers_up", "gauge")]:
            with self.subTest(family=fam):
                self.assertEqual(m.types.get(fam), typ)
        self.assertEqual(m.get("sessiongate_ready"), 1)
        self.assertEqual(m.get("sessiongate_draining"), 0)
        self.assertEqual(m.get("sessiongate_workers"), 2)
        self.assertEqual(m.get("sessiongate_config_generation"), 1)
        self.assertEqual(m.get("sessiongate_backend_servers_up", backend="api"), 1)
        # every backend has its series from the start (zeros, not absent)
        self.assertIn(("sessiongate_upstream_connect_errors_total",
                       frozenset({("backend", "fa")})), m.samples)
        self.assertEqual(m.get("sessiongate_config_reloads_total", result="failure"), 0)
        self.assertGreater(m.get("sessiongate_start_time_seconds"), time.time() - 3600)

    def test_request_counters_move_exactly(self):
        before = self.scrape()
        for i in range(7):
            self.assertEqual(self.request("GET", f"/echo/get{i}")[0], 200)
        self.assertEqual(self.request("HEAD", "/echo/head")[0], 200)
        bodies = [b"x" * 10, b"y" * 1000, b"z" * 3]
        for b in bodies:
            self.assertEqual(self.request("POST", "/echo/post", body=b)[0], 200)
        for _ in range(2):
            self.assertEqual(self.request("GET", "/no-route")[0], 404)
        self.assertEqual(self.request("DELETE", "/also-none")[0], 404)
        after = self.scrape()

        def delta(name, **labels):
            return after.get(name, **labels) - before.get(name, **labels)

        R = "sessiongate_requests_total"
        self.assertEqual(delta(R, backend="api", method_class="read", code="2xx"), 8)
        self.assertEqual(delta(R, backend="api", method_class="write", code="2xx"), 3)
        self.assertEqual(delta(R, backend="", method_class="read", code="4xx"), 2)
        self.assertEqual(delta(R, backend="", method_class="write", code="4xx"), 1)
        self.assertEqual(delta(R, backend="fa", method_class="read", code="2xx"), 0)
        self.assertEqual(delta("sessiongate_request_duration_seconds_count", backend="api"), 11)
        self.assertEqual(delta("sessiongate_request_duration_seconds_bucket", backend="api",
                               le="+Inf"), 11)
        self.assertGreater(delta("sessiongate_request_duration_seconds_sum", backend="api"), 0)
        self.assertEqual(delta("sessiongate_request_body_bytes_total", backend="api"),
                         sum(len(b) for b in bodies))
        self.assertGreater(delta("sessiongate_response_body_bytes_total", backend="api"), 0)
        self.assertEqual(delta("sessiongate_sessions_total", backend="api", outcome="missing"),
                         11)
        self.assertEqual(delta("sessiongate_client_connections_accepted_total"), 14)

    def test_client_and_upstream_connection_gauges(self):
        def gauge():
            return self.scrape().get("sessiongate_client_connections")
        # Connections of earlier tests close asynchronously: let them go first,
        # or one closing mid-test moves the base under us.
        deadline = time.monotonic() + 5
        base = gauge()
        while base != 0 and time.monotonic() < deadline:
            time.sleep(0.02)
            base = gauge()
        conns = []
        for _ in range(3):
            c = http.client.HTTPConnection("127.0.0.1", self.sg.port, timeout=10)
            c.request("GET", "/echo/keep")
            c.getresponse().read()
            conns.append(c)
        self.assertEqual(gauge(), base + 3)
        up = self.scrape().get("sessiongate_upstream_connections", backend="api")
        self.assertGreaterEqual(up, 1)  # pooled keep-alive connections to the echo backend
        for c in conns:
            c.close()
        deadline = time.monotonic() + 5
        while gauge() != base and time.monotonic() < deadline:
            time.sleep(0.02)
        self.assertEqual(gauge(), base)

    def test_session_metrics_by_backend_and_outcome(self):
        before = self.scrape()
        good = sign_cookie({"user": "ann"}, self.key_file)
        forged = sign_cookie({"user": "ann"}, self.write_key("other-key"))
        for cookie in (good, good, forged):
            self.assertEqual(self.request("GET", "/echo/s", headers={
                "Cookie": "session=" + cookie})[0], 200)
        self.assertEqual(self.request("GET", "/echo/s", headers={
            "Cookie": "session=not.a.cookie"})[0], 200)
        # fa: one merge patch applied (cookie re-signed), one malformed, one forbidden shape
        patch = json.dumps({"patches": ['{"n": 1}']})
        self.assertEqual(self.request("POST", "/fa/api/patch", body=patch, headers={
            "Content-Type": "application/json", "Cookie": "session=" + good})[0], 200)
        bad = json.dumps({"patches": ["{not json"]})
        self.assertEqual(self.request("POST", "/fa/api/patch", body=bad, headers={
            "Content-Type": "application/json"})[0], 200)
        clear = json.dumps({"patches": ['{"user": null}']})
        status, headers, _ = self.request("POST", "/fa/api/patch", body=clear, headers={
            "Content-Type": "application/json", "Cookie": "session=" + good})
        self.assertEqual(status, 200)
        self.assertIn("session=;", headers.get("set-cookie", ""))
        after = self.scrape()

        def delta(name, **labels):
            return after.get(name, **labels) - before.get(name, **labels)

        S = "sessiongate_sessions_total"
        self.assertEqual(delta(S, backend="api", outcome="valid"), 2)
        self.assertEqual(delta(S, backend="api", outcome="bad_signature"), 1)
        self.assertEqual(delta(S, backend="api", outcome="malformed"), 1)
        self.assertEqual(delta(S, backend="fa", outcome="valid"), 2)
        self.assertEqual(delta(S, backend="fa", outcome="missing"), 1)
        self.assertEqual(delta("sessiongate_patches_applied_total", backend="fa",
                               source="header"), 2)
        self.assertEqual(delta("sessiongate_patches_rejected_total", backend="fa",
                               reason="malformed"), 1)
        self.assertEqual(delta("sessiongate_patches_rejected_total", backend="api",
                               reason="malformed"), 0)
        self.assertEqual(delta("sessiongate_cookies_total", backend="fa", result="resigned"), 1)
        self.assertEqual(delta("sessiongate_cookies_total", backend="fa", result="deleted"), 1)
        self.assertEqual(delta("sessiongate_cookies_total", backend="api", result="resigned"), 0)

    def write_key(self, text):
        path = os.path.join(self.tmp.name, "key-" + text)
        with open(path, "w") as f:
            f.write(text)
        return path


class AccessLog(OpsCase):
    def test_fields_of_a_request(self):
        t0 = time.time()
        body = b"0123456789" * 5
        status, headers, resp = self.request("POST", "/echo/upload?a=1&b=%20x", body=body)
        self.assertEqual(status, 200)
        rid = headers["x-request-id"]
        self.assertRegex(rid, r"^[0-9a-f]{32}$")
        rec = wait_access_line(self, self.access_log, rid)
        self.assertEqual(set(rec), {"time", "request_id", "client", "method", "path", "status",
                                    "bytes_in", "bytes_out", "duration_ms", "backend", "server",
                                    "session", "resigned"})
        self.assertRegex(rec["time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
        when = datetime.datetime.strptime(rec["time"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(
            tzinfo=datetime.timezone.utc).timestamp()
        self.assertLess(abs(when - t0), 5)
        self.assertEqual(rec["client"], "127.0.0.1")
        self.assertEqual(rec["method"], "POST")
        self.assertEqual(rec["path"], "/echo/upload?a=1&b=%20x")  # as received, query included
        self.assertEqual(rec["status"], 200)
        self.assertEqual(rec["bytes_in"], len(body))
        self.assertEqual(rec["bytes_out"], len(resp))
        self.assertIsInstance(rec["duration_ms"], float)
        self.assertGreaterEqual(rec["duration_ms"], 0)
        self.assertLess(rec["duration_ms"], 5000)
        self.assertEqual(rec["backend"], "api")
        self.assertEqual(rec["server"], self.api.addr)
        self.assertEqual(rec["session"], "missing")
        self.assertIs(rec["resigned"], False)

    def test_unrouted_and_resigned(self):
        status, headers, _ = self.request("GET", "/nowhere")
        self.assertEqual(status, 404)
        rec = wait_access_line(self, self.access_log, headers["x-request-id"])
        self.assertEqual((rec["status"], rec["backend"], rec["server"], rec["session"]),
                         (404, None, None, None))
        patch = json.dumps({"patches": ['{"seen": true}']})
        status, headers, _ = self.request("POST", "/fa/api/patch", body=patch,
                                          headers={"Content-Type": "application/json"})
        self.assertEqual(status, 200)
        rec = wait_access_line(self, self.access_log, headers["x-request-id"])
        self.assertEqual((rec["backend"], rec["session"], rec["resigned"]), ("fa", "missing", True))

    def test_hostile_path_stays_one_valid_line(self):
        # '"' and '\\' need escaping in JSON; llhttp lets them through in a target
        path = "/echo/" + '%22"\\' + "a" * 3000 + "?q=1"
        raw = (f"GET {path} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n").encode("latin-1")
        resp = harness.raw_request(self.sg.port, raw)
        m = re.search(rb"\r\nX-Request-Id: ([0-9a-f]{32})\r\n", resp)
        self.assertIsNotNone(m, resp[:300])
        rec = wait_access_line(self, self.access_log, m.group(1).decode())
        self.assertEqual(rec["status"], 200)
        self.assertTrue(rec["path"].startswith('/echo/%22"\\aaa'), rec["path"][:40])
        self.assertTrue(rec["path"].endswith("..."))  # capped: every line fits PIPE_BUF
        with open(self.access_log, "rb") as f:
            for line in f:
                self.assertLessEqual(len(line), 4096)
                json.loads(line)

    def test_request_id_from_a_trusted_proxy(self):
        rid = "lb-7f3a-00042"
        status, headers, body = self.request("GET", "/echo/rid", source="127.0.0.2",
                                             headers={"X-Request-Id": rid})
        self.assertEqual(status, 200)
        self.assertEqual(headers["x-request-id"], rid)  # returned to the client
        seen = [v for k, v in json.loads(body)["headers"] if k.lower() == "x-request-id"]
        self.assertEqual(seen, [rid])  # forwarded to the backend, once
        self.assertEqual(wait_access_line(self, self.access_log, rid)["client"], "127.0.0.2")

    def test_request_id_generated_otherwise(self):
        cases = [("127.0.0.1", "client-chosen"),      # not a trusted proxy
                 ("127.0.0.2", "x" * 201),            # trusted but too long
                 ("127.0.0.2", "has space"),          # trusted but not visible ASCII
                 ("127.0.0.2", None)]                 # trusted, none sent
        ids = set()
        for source, sent in cases:
            with self.subTest(source=source, sent=sent):
                hdrs = {"X-Request-Id": sent} if sent is not None else {}
                status, headers, body = self.request("GET", "/echo/rid", source=source,
                                                     headers=hdrs)
                self.assertEqual(status, 200)
                rid = headers["x-request-id"]
                self.assertRegex(rid, r"^[0-9a-f]{32}$")
                seen = [v for k, v in json.loads(body)["headers"]
                        if k.lower() == "x-request-id"]
                self.assertEqual(seen, [rid])
                ids.add(rid)
                wait_access_line(self, self.access_log, rid)
        self.assertEqual(len(ids), len(cases))
        # error answers carry one too
        status, headers, _ = self.request("GET", "/nowhere", source="127.0.0.2",
                                          headers={"X-Request-Id": "lb-404"})
        self.assertEqual((status, headers["x-request-id"]), (404, "lb-404"))
        resp = harness.raw_request(self.sg.port, b"GET /echo HTTP/1.1\r\nHost: a\r\n"
                                                 b"Bad Header: x\r\n\r\n")
        self.assertRegex(resp, rb"^HTTP/1.1 400 [^\r]*\r\nX-Request-Id: [0-9a-f]{32}\r\n")


class NoSecretsInLogs(OpsCase):
    """A run with sessions at log_level debug, its access log on stdout (in the
    same file as the error log): neither holds a cookie value, session
    contents or a key."""

    LOG_LEVEL = "debug"

    def test_no_cookie_session_or_secret_logged(self):
        marker = "pw-9d2c1e-never-log-me"
        good = sign_cookie({"user": "ann", "token": marker}, self.key_file)
        forged = sign_cookie({"user": "eve", "token": marker}, self.write_key())
        for cookie in (good, forged, good + "x"):
            self.request("GET", "/echo/a", headers={"Cookie": "session=" + cookie})
            self.request("GET", "/nowhere", headers={"Cookie": "session=" + cookie})
        resigned = []
        for patches in (['{"token2": "%s"}' % marker], ["{bad " + marker], ['{"token": null}']):
            status, headers, _ = self.request(
                "POST", "/fa/api/patch", body=json.dumps({"patches": patches}),
                headers={"Content-Type": "application/json", "Cookie": "session=" + good})
            self.assertEqual(status, 200)
            sc = headers.get("set-cookie", "")
            if sc.startswith("session=") and not sc.startswith("session=;"):
                resigned.append(sc.split(";")[0][len("session="):])
        self.assertTrue(resigned)
        # the lines of these requests are all written before we read
        status, headers, _ = self.request("GET", "/echo/last")
        wait_access_line(self, self.access_log, headers["x-request-id"])
        with open(self.key_file, "rb") as f:
            secret = f.read()
        with open(self.access_log, "rb") as f:
            logs = self.sg.log().encode() + f.read()
        self.assertIn(b"debug", logs)  # debug logging really was on
        self.assertIn(b'"session":"bad_signature"', logs)
        for needle in [good, forged, marker] + resigned:
            self.assertNotIn(needle.encode(), logs)
            self.assertNotIn(needle[:40].encode(), logs)  # not even a prefix
        self.assertNotIn(secret, logs)
        self.assertNotIn(b"other-secret", logs)

    def write_key(self):
        path = os.path.join(self.tmp.name, "other_key")
        with open(path, "w") as f:
            f.write("other-secret")
        return path


class ShippedConfig(harness.TestCase):
    """conf/sessiongate.yaml (what the demo and the Docker image run) turns the
    admin listener on where the image's HEALTHCHECK looks: the check passes
    against the daemon running that very file (only ports moved)."""

    def test_healthcheck_true_by_construction(self):
        with open(os.path.join(harness.ROOT, "conf", "sessiongate.yaml")) as f:
            text = f.read()
        self.assertRegex(text, r"(?m)^admin: 127\.0\.0\.1:9090$")
        with open(DOCKERFILE) as f:
            docker = f.read().replace("\\\n", " ")
        argv = json.loads(re.search(r"^HEALTHCHECK .*?CMD (\[.*\])\s*$", docker, re.M).group(1))
        self.assertIn("/dev/tcp/127.0.0.1/9090", argv[-1])
        admin, port = harness.free_port(), harness.free_port()
        key = os.path.join(self.tmp.name, "flask_secret_key")
        with open(key, "w") as f:
            f.write("shipped-config-key\n")
        path = os.path.join(self.tmp.name, "sessiongate.yaml")
        with open(path, "w") as f:
            f.write(text.replace("127.0.0.1:9090", f"127.0.0.1:{admin}")
                    .replace("127.0.0.1:8080", f"127.0.0.1:{port}"))
        sg = harness.Proc("sessiongate", [harness.SESSIONGATE, "-c", path],
                          os.path.join(self.tmp.name, "daemon.log"),
                          env=dict(os.environ, SESSIONGATE_SECRET_FILE=key))
        self.addCleanup(harness.check_daemon_exit, sg)
        harness.wait_port(admin, sg.proc, log=sg.log_path)
        argv = [a.replace("/9090", f"/{admin}") for a in argv]
        r = subprocess.run(argv, capture_output=True, timeout=10)
        self.assertEqual(r.returncode, 0, r.stderr)
        # and it fails when the admin listener does not answer 200
        argv404 = [a.replace("/healthz", "/nope") for a in argv]
        self.assertNotEqual(subprocess.run(argv404, capture_output=True, timeout=10).returncode, 0)


class Readiness(harness.TestCase):
    """/readyz follows passive health: unready while a backend's only server
    rests after a failure, ready again after fail_timeout."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.api = cls.start_backend("api", "echo_backend.py")
        cls.slow = cls.start_backend("slow", "echo_backend.py")
        cls.solo_port = harness.free_port()  # nothing listens there
        cls.sg = cls.start_daemon(
            backends={"api": [cls.api.addr], "solo": [f"127.0.0.1:{cls.solo_port}"],
                      "slow": [cls.slow.addr]},
            routes=[("/solo", "solo", True, None), ("/slow", "slow", True, None),
                    ("/", "api", False, None)],
            backend_opts={"solo": "max_fails: 1\nfail_timeout: 2s",
                          "slow": "max_fails: 0\nresponse_timeout: 500ms"},
            extra="access_log: off\n", admin=True)
        cls.admin = cls.sg.admin

    def test_unready_while_the_only_server_is_down(self):
        status, _, body = admin_get(self.admin, "/readyz")
        self.assertEqual((status, body), (200, b"ready\n"))
        before = scrape(self, self.admin)
        status, _, _ = self.sg.get("/solo/x")
        self.assertEqual(status, 502)
        status, _, body = admin_get(self.admin, "/readyz")
        self.assertEqual(status, 503)
        self.assertEqual(body, b"backend solo: every server is down\n")
        self.assertEqual(admin_get(self.admin, "/healthz")[0], 200)  # alive all the same
        m = scrape(self, self.admin)
        self.assertEqual(m.get("sessiongate_ready"), 0)
        self.assertEqual(m.get("sessiongate_backend_servers_up", backend="solo"), 0)
        self.assertEqual(m.get("sessiongate_backend_servers", backend="solo"), 1)
        self.assertEqual(m.get("sessiongate_upstream_connect_errors_total", backend="solo")
                         - before.get("sessiongate_upstream_connect_errors_total",
                                      backend="solo"), 1)
        self.assertEqual(m.get("sessiongate_requests_total", backend="solo",
                               method_class="read", code="5xx"), 1)
        # the server rests 2 s, then counts as up again: ready
        deadline = time.monotonic() + 10
        while admin_get(self.admin, "/readyz")[0] != 200:
            self.assertLess(time.monotonic(), deadline, "still unready after fail_timeout")
            time.sleep(0.1)
        self.assertEqual(scrape(self, self.admin).get("sessiongate_backend_servers_up",
                                                      backend="solo"), 1)

    def test_response_timeout_counted(self):
        before = scrape(self, self.admin).get("sessiongate_upstream_timeouts_total",
                                              backend="slow", phase="response")
        status, _, _ = self.sg.get("/slow/slow?s=2")
        self.assertEqual(status, 504)
        m = scrape(self, self.admin)
        self.assertEqual(m.get("sessiongate_upstream_timeouts_total", backend="slow",
                               phase="response") - before, 1)
        self.assertEqual(m.get("sessiongate_upstream_timeouts_total", backend="slow",
                               phase="connect"), 0)


if __name__ == "__main__":
    harness.main()
