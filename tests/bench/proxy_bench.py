"""tests/bench/proxy_bench.py — the driver behind tests/bench/proxy.sh: runs
sessiongate, nginx and HAProxy side by side in front of one nginx backend,
alternating configurations round by round, and prints the tables of issue 6.
Figures only, never pass/fail. Run it through proxy.sh (which raises the fd
limit and builds the daemon); everything it starts listens on 127.0.0.1,
lives in a temp dir and is stopped by PID when it ends."""
import argparse
import base64
import hashlib
import json
import os
import platform
import random
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

import p99_pool  # tests/bench/p99_pool.py: pairs a p99 section's rounds

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
PYTHON = "/usr/bin/python3"  # Debian's: flask, fastapi, uvicorn
SECRET = b"bench secret key"
TICK = os.sysconf("SC_CLK_TCK")
PATCH_COUNTS = (0, 1, 4, 16)

# ---------------------------------------------------------------- processes

CHILDREN = []


class Proc:
    def __init__(self, name, argv, tmp, env=None, cwd=None):
        self.name = name
        self.log_path = os.path.join(tmp, name + ".log")
        self.log = open(self.log_path, "wb")
        self.p = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL, env=env, cwd=cwd or ROOT)
        self.pid = self.p.pid
        CHILDREN.append(self)

    def alive(self):
        return self.p.poll() is None

    def pids(self):
        """The process and its direct children (nginx workers)."""
        out = [self.pid]
        for d in os.listdir("/proc"):
            if d.isdigit():
                try:
                    with open(f"/proc/{d}/stat") as f:
                        st = f.read()
                except OSError:
                    continue
                if int(st.rsplit(")", 1)[1].split()[1]) == self.pid:
                    out.append(int(d))
        return out

    def stop(self):
        if self.alive():
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.log.close()


def stop_all():
    while CHILDREN:
        CHILDREN.pop().stop()


def on_signal(signum, frame):
    raise SystemExit(128 + signum)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, timeout=15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not proc.alive():
            with open(proc.log_path, errors="replace") as f:
                sys.exit(f"{proc.name} exited before listening:\n{f.read()[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"{proc.name}: nothing listens on {port}")


def cpu_ticks(pids):
    t = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            t += int(fields[11]) + int(fields[12])  # utime + stime (all threads)
        except OSError:
            pass
    return t


def pin(pids, cpus):
    """Binds every thread of these processes to the CPU set (None: all CPUs)."""
    cpus = cpus if cpus is not None else set(range(os.cpu_count() or 1))
    for pid in pids:
        try:
            tids = [int(t) for t in os.listdir(f"/proc/{pid}/task")]
        except OSError:
            continue
        for tid in tids:
            try:
                os.sched_setaffinity(tid, cpus)
            except OSError:
                pass


def rss_kib(pids):
    t = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        t += int(line.split()[1])
        except OSError:
            pass
    return t


def http_get(port, path, headers=None):
    import http.client
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        c.request("GET", path, headers=headers or {})
        r = c.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        c.close()


# ---------------------------------------------------------------- cookies

def flask_serializer():
    from flask import Flask
    app = Flask("bench")
    app.secret_key = SECRET
    return app.session_interface.get_signing_serializer(app)


def flask_login_session():
    return {"_fresh": True, "_id": hashlib.sha512(b"sessiongate bench").hexdigest(),
            "_user_id": "42", "csrf_token": hashlib.sha1(b"csrf").hexdigest()}


def sized_cookies(ser):
    """(label, cookie) of about 100 B, 1 KiB and 4 KiB: 'zlib' holds random
    hex (Flask's own dumps compresses it ~2x); 'no zlib' holds random base64
    signed without compression (Flask would still deflate it a little; a
    cookie without the '.' prefix is what Flask writes for small sessions and
    loads at any size), so both of the decoder's paths are measured."""
    rnd = random.Random(6)
    out = []
    for target in (100, 1024, 4096):
        for kind in ("zlib", "no zlib"):
            def make(n):
                if kind == "zlib":
                    s = {"_user_id": "42"}
                    s.update({f"k{i}": "%032x" % rnd.getrandbits(128) for i in range(n // 40)})
                    s["pad"] = "%x" % rnd.getrandbits(4 * max(1, n % 40))
                    return ser.dumps(s)
                s = {"_user_id": "42", "d": base64.urlsafe_b64encode(
                    rnd.randbytes(max(1, n))).decode()}
                signer = ser.make_signer()
                raw = json.dumps(s, separators=(",", ":")).encode()
                return signer.sign(base64.urlsafe_b64encode(raw).rstrip(b"=")).decode()
            lo, hi = 1, 8 * target
            while lo < hi:  # smallest payload whose cookie reaches target
                mid = (lo + hi) // 2
                if len(make(mid)) < target:
                    lo = mid + 1
                else:
                    hi = mid
            c = make(lo)
            if kind == "zlib" and not c.startswith("."):
                kind = "zlib (too small)"
            out.append((f"{len(c)} B, {kind}", c))
    return out


# ---------------------------------------------------------------- configs

def write(path, text):
    with open(path, "w") as f:
        f.write(text)
    return path


def nginx_common(tmp, name, workers, master=True):
    d = os.path.join(tmp, name)
    os.makedirs(d, exist_ok=True)
    return d, f"""daemon off;
master_process {'on' if master else 'off'};
worker_processes {workers};
worker_rlimit_nofile {NOFILE};
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections {NOFILE - 100}; }}
"""


def nginx_temp_paths(d):
    return "".join(f"  {k}_temp_path {d}/{k}_temp;\n" for k in
                   ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))


def start_nginx(tmp, name, workers, server_block, wrap=()):
    """wrap (e.g. valgrind): one process, no master, so the wrapper sees the worker."""
    d, head = nginx_common(tmp, name, workers, master=not wrap)
    conf = write(os.path.join(d, "nginx.conf"), head + "http {\n  access_log off;\n"
                 "  keepalive_requests 100000000;\n  keepalive_timeout 300s;\n"
                 "  large_client_header_buffers 4 64k;\n"
                 + nginx_temp_paths(d) + server_block + "}\n")
    return Proc(name, list(wrap) + ["nginx", "-p", d, "-e", f"{d}/error.log", "-c", conf], tmp)


def backend_block(port):
    locs = [f'    location = /p{n} {{\n'
            + "".join(f"      add_header X-Session-Patch '{{\"k{i}\":{i}}}' always;\n" for i in range(n))
            + '      return 200 "ok\\n";\n    }\n' for n in PATCH_COUNTS]
    return f"""  server {{
    listen 127.0.0.1:{port} backlog=4096;
    default_type text/plain;
    location = /patch {{ add_header X-Session-Patch '{{"n":1}}' always; return 200 "ok\\n"; }}
    location = /echo {{ return 200 "$http_x_session\\n"; }}
{''.join(locs)}    location / {{ return 200 "ok\\n"; }}
  }}
"""


def nginx_proxy_block(port, be_port):
    return f"""  upstream be {{ server 127.0.0.1:{be_port}; keepalive 64; keepalive_requests 100000000; }}
  server {{
    listen 127.0.0.1:{port} backlog=4096;
    location / {{
      proxy_pass http://be;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $http_host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_set_header X-Forwarded-Host $host;
    }}
  }}
"""


def haproxy_maxconn():
    # HAProxy refuses to start unless the fd limit covers 2 fds per connection
    return min(20000, (NOFILE - 300) // 2)


def start_haproxy(tmp, port, be_port, workers):
    d = os.path.join(tmp, "haproxy")
    os.makedirs(d, exist_ok=True)
    conf = write(os.path.join(d, "haproxy.cfg"), f"""global
  nbthread {workers}
  maxconn {haproxy_maxconn()}
  pidfile {d}/haproxy.pid
defaults
  mode http
  option http-keep-alive
  option forwardfor
  http-reuse always
  timeout connect 5s
  timeout client 300s
  timeout server 60s
  timeout http-keep-alive 300s
frontend fe
  bind 127.0.0.1:{port}
  http-request set-header X-Forwarded-Proto http
  http-request set-header X-Forwarded-Host %[req.hdr(host)]
  default_backend be
backend be
  server s1 127.0.0.1:{be_port} maxconn 1000
""")
    return Proc("haproxy", ["haproxy", "-db", "-f", conf], tmp)


def start_sessiongate(tmp, name, sg, port, be_port, workers, mode="header", keepalive=64,
                      wrap=()):
    d = os.path.join(tmp, name)
    os.makedirs(d, exist_ok=True)
    key = os.path.join(tmp, "secret_key")
    conf = write(os.path.join(d, "sessiongate.yaml"), f"""listen: 127.0.0.1:{port}
workers: {workers}
access_log: off
log_level: warn
session:
  secret_key_file: {json.dumps(key)}
  header_max: 64k
backends:
  - name: app
    servers: [127.0.0.1:{be_port}]
    session: {mode}
    keepalive: {keepalive}
routes:
  - prefix: /
    backend: app
limits:
  max_connections: {NOFILE}
  max_header_bytes: 64k
timeouts:
  idle: 300s
""")
    return Proc(name, list(wrap) + [sg, "-c", conf], tmp)


# ---------------------------------------------------------------- wrk

LUA_REPORT = r"""
local pacing_lo, pacing_hi = tonumber(os.getenv("WRK_DELAY_LO") or "0"), tonumber(os.getenv("WRK_DELAY_HI") or "0")
if pacing_hi > 0 then
  function init(args) math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16) % 100000) end
  function delay() return math.random(pacing_lo, pacing_hi) end
end
function done(summary, latency, requests)
  local e = summary.errors
  io.stderr:write(string.format(
    'SGBENCH {"requests":%d,"duration_us":%d,"p50":%d,"p99":%d,"errors":%d,"status":%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.timeout, e.status))
end
"""


class Runner:
    def __init__(self, tmp, secs):
        self.tmp = tmp
        self.secs = secs
        self.lua = write(os.path.join(tmp, "report.lua"), LUA_REPORT)

    def wrk(self, port, path, cookie, threads, conns, close=False, pids=(), secs=None,
            delay=None, warmup=False, cpus=None):
        secs = 1 if warmup else secs or self.secs
        argv = ["taskset", "-c", cpus] if cpus else []  # cpus: a CPU list for wrk
        argv += ["wrk", "-t", str(threads), "-c", str(conns), "-d", f"{secs}s",
                 "--timeout", "5s", "-s", self.lua]
        if cookie:
            argv += ["-H", f"Cookie: session={cookie}"]
        if close:
            argv += ["-H", "Connection: close"]
        argv.append(f"http://127.0.0.1:{port}{path}")
        env = dict(os.environ)
        if delay:
            env["WRK_DELAY_LO"], env["WRK_DELAY_HI"] = map(str, delay)
        t0 = cpu_ticks(pids)
        r = subprocess.run(argv, capture_output=True, text=True, env=env)
        ticks = cpu_ticks(pids) - t0
        m = re.search(r"SGBENCH (\{.*\})", r.stderr)
        if not m:
            sys.exit(f"wrk failed: {' '.join(argv)}\n{r.stdout}{r.stderr}")
        res = json.loads(m.group(1))
        res["rps"] = res["requests"] / (res["duration_us"] / 1e6)
        res["cpu_us"] = ticks / TICK * 1e6 / res["requests"] if pids and res["requests"] else None
        return res


def med(vals):
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None


# the row order of the throughput tables: the same every run (the p99
# sections draw a new one, --seed)
ORDER_SEED = 6


def alternate(rows, rounds, run, seed=ORDER_SEED, warm_each=False):
    """Runs every row once per round, in a new random order each round;
    returns {row: [result...]}. Rotating one fixed order is not enough: each
    row then always follows the same one, and a run right after another run
    against the same process measured a ~15 % lower p99 (the A/A row: 0.84x
    over 24 rounds). warm_each: every measured run comes right after a
    1-second unmeasured one of the same row, so no row gains from whatever
    ran before it (what p99 needs; throughput does not move enough)."""
    res = {r: [] for r in rows}
    rnd = random.Random(seed)
    for r in rows:  # warm-up, not counted: fresh processes, pools, caches
        run(r, warmup=True)
    for _ in range(rounds):
        order = list(rows)
        rnd.shuffle(order)
        for r in order:
            if warm_each:
                run(r, warmup=True)
            res[r].append(run(r))
    return res


def summarize(results):
    out = {}
    for k, rs in results.items():
        out[k] = {
            "rps": med([r["rps"] for r in rs]),
            "p50": med([r["p50"] for r in rs]),
            "p99": med([r["p99"] for r in rs]),
            "cpu_us": med([r["cpu_us"] for r in rs]),
            "errors": sum(r["errors"] for r in rs),
            "status": sum(r["status"] for r in rs),
            "spread": (min(r["rps"] for r in rs), max(r["rps"] for r in rs)),
            "p99_spread": (min(r["p99"] for r in rs), max(r["p99"] for r in rs)),
        }
    return out


def fmt_ms(us):
    return f"{us / 1000:.2f}" if us is not None else "-"


def fmt_ratio(a, b):
    return f"{a / b:.2f}x" if a and b else "-"


def fmt_num(v, spec):
    return format(v, spec) if v is not None else "-"


# ---------------------------------------------------------------- sections

def machine():
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break

    def ver(argv, pat):
        try:
            r = subprocess.run(argv, capture_output=True, text=True)
            m = re.search(pat, r.stdout + r.stderr)
            return m.group(1) if m else "?"
        except OSError:
            return "missing"
    rev = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                         capture_output=True, text=True).stdout.strip()
    import uvicorn
    import fastapi
    load = os.getloadavg()
    ng = ver(["nginx", "-v"], r"nginx/(\S+)")
    hp = ver(["haproxy", "-v"], r"version (\S+)")
    wk = ver(["wrk", "-v"], r"wrk (\S+)")
    return (f"CPU: {cpu}, {os.cpu_count()} cores; Linux {platform.release()}; "
            f"nginx {ng}, HAProxy {hp}, wrk {wk}, uvicorn {uvicorn.__version__}, "
            f"FastAPI {fastapi.__version__}; sessiongate {rev}; "
            f"load average at start {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")


class Bench:
    def __init__(self, args, tmp):
        self.a = args
        self.tmp = tmp
        self.run = Runner(tmp, args.secs)
        write(os.path.join(tmp, "secret_key"), SECRET.decode())
        self.ser = flask_serializer()
        self.cookie = self.ser.dumps(flask_login_session())
        self.be_port = free_port()
        self.backend = start_nginx(tmp, "backend", 2, backend_block(self.be_port))
        wait_port(self.be_port, self.backend)
        self.procs = {}
        self.nginx1 = None
        self.notes = []
        self.started = time.strftime("%Y-%m-%dT%H:%M:%S")

    def start_proxies(self, workers):
        for p in self.procs.values():
            if p[0] is not None:
                p[0].stop()
                CHILDREN.remove(p[0])
        ports = {k: free_port() for k in ("nginx", "haproxy", "sg")}
        ng = start_nginx(self.tmp, f"nginx{workers}", workers,
                         nginx_proxy_block(ports["nginx"], self.be_port))
        hp = start_haproxy(self.tmp, ports["haproxy"], self.be_port, workers)
        sg = start_sessiongate(self.tmp, f"sessiongate{workers}", self.a.sessiongate,
                               ports["sg"], self.be_port, workers)
        for name, p in (("nginx", ng), ("haproxy", hp), ("sg", sg)):
            wait_port(ports[name], p)
        self.procs = {"direct": (None, self.be_port), "nginx": (ng, ports["nginx"]),
                      "haproxy": (hp, ports["haproxy"]), "sg": (sg, ports["sg"])}

    def sanity(self):
        """What a header-mode backend receives through sessiongate."""
        sg_port = self.procs["sg"][1]
        st, h, body = http_get(sg_port, "/echo", {"Cookie": f"session={self.cookie}"})
        seen = body.decode(errors="replace").strip()
        decoding = "_user_id" in seen
        st2, h2, _ = http_get(sg_port, "/patch", {"Cookie": f"session={self.cookie}"})
        resigning = "set-cookie" in h2
        print(f"cookie: Flask-Login session, {len(self.cookie)} B, signed by Flask "
              f"{'(zlib)' if self.cookie.startswith('.') else ''}")
        print(f"check: backend sees X-Session = {seen[:80]!r} -> "
              f"{'cookie decoded and verified' if decoding else 'NOT DECODED (session pipeline not wired in yet)'}")
        print(f"check: /patch answer through sessiongate: status {st2}, "
              f"{'re-signed Set-Cookie present' if resigning else 'NO Set-Cookie (re-sign path not active yet)'}")
        if not decoding:
            self.notes.append("sessiongate's pipeline did not decode the cookie in this run "
                              "(stub): 'sessiongate' rows measure the proxy without session work.")
        if not resigning:
            self.notes.append("sessiongate did not re-sign on /patch in this run: the "
                              "'re-sign' row measures patch-header stripping only.")
        print()

    # --- main comparison
    ROWS = [("direct", "/", "backend direct (the limit)"),
            ("nginx", "/", "nginx proxy_pass, keepalive"),
            ("haproxy", "/", "HAProxy, http-reuse always"),
            ("sg", "/", "sessiongate, header mode"),
            ("nginx", "/patch", "nginx, /patch (reference)"),
            ("sg", "/patch", "sessiongate, re-sign (/patch)")]

    def main_modes(self, close_only=False):
        """The main tables; close_only (--only close): the Connection: close
        one alone, over close_rounds rounds, to pool its paired ratios."""
        wide = os.cpu_count() or 2
        modes = [("main1", "one worker, keep-alive", 1, 1, 64, False),
                 ("mainall", f"all workers ({wide}), keep-alive", wide, min(wide, 4), 128, False),
                 ("close", "one worker, new connection per request (Connection: close)",
                  1, 1, 64, True)]
        rounds = self.a.close_rounds if close_only else self.a.rounds
        rows = self.ROWS
        if close_only:
            modes = modes[2:]
            # nginx again, as a row of its own (the trailing space is
            # stripped for wrk): how far noise alone moves the ratio
            rows = rows + [("nginx", "/ ", "nginx again (A/A: the noise)")]
        results = {}
        for section, title, workers, threads, conns, close in modes:
            self.start_proxies(workers)
            if workers == 1 and not close:
                self.sanity()
            keys = [(k, path) for k, path, _ in rows]

            def one(key, warmup=False):
                proc, port = self.procs[key[0]]
                return self.run.wrk(port, key[1].strip(), self.cookie, threads, conns, close,
                                    proc.pids() if proc else (), warmup=warmup)
            res = alternate(keys, rounds, one)
            self.round_records(section, rows, res, ORDER_SEED)
            s = summarize(res)
            results[title] = s
            self.print_main(title, threads, conns, s, rounds, rows)
            if workers == 1 and not close:
                self.nginx1 = s[("nginx", "/")]["rps"]
                self.memory()  # the one-worker proxies, warmed up by this mode
        return results

    def print_main(self, title, threads, conns, s, rounds, rows):
        print(f"### {title}: wrk -t{threads} -c{conns}, {rounds} rounds x "
              f"{self.a.secs}s, medians")
        print(f"| {'configuration':32} | {'req/s':>8} | {'x nginx':>7} | {'p50 ms':>6} | "
              f"{'p99 ms':>6} | {'proxy CPU us/req':>16} | {'x nginx':>7} | {'req/s min-max':>15} | errors |")
        print(f"|{'-' * 34}|{'-' * 10}|{'-' * 9}|{'-' * 8}|{'-' * 8}|{'-' * 18}|{'-' * 9}|{'-' * 17}|--------|")
        for k, path, label in rows:
            r = s[(k, path)]
            ref = s[("nginx", "/patch" if path == "/patch" else "/")]
            err = r["errors"] + r["status"]
            print(f"| {label:32} | {r['rps']:8.0f} | {fmt_ratio(r['rps'], ref['rps']):>7} | "
                  f"{fmt_ms(r['p50']):>6} | {fmt_ms(r['p99']):>6} | "
                  f"{fmt_num(r['cpu_us'], '16.1f'):>16} | {fmt_ratio(ref['cpu_us'], r['cpu_us']):>7} | "
                  f"{r['spread'][0]:7.0f}-{r['spread'][1]:<7.0f} | {err:6d} |")
        print()

    # --- p99 at the same offered load
    def fixed_rate(self, pinned=False):
        """p99 at ~50 % of nginx's one-worker capacity.

        On shared cores one round's p99 is set by the few moments the client,
        the backend or the proxy waited for a CPU, so it swings several-fold
        from round to round (the A/A row: nginx against itself). Hence many
        short rounds, and each proxy's p99 divided by nginx's from the same
        round: the median of those paired ratios, and in how many rounds the
        proxy's p99 was no worse. pinned: the proxy under test gets the last
        CPU to itself, the client and the backend share the others."""
        self.start_proxies(1)
        ncpu = os.cpu_count() or 1
        pinned = pinned and ncpu >= 2
        wrk_cpus = f"0-{ncpu - 2}" if pinned else None
        if self.nginx1 is None:  # --only without main: nginx's capacity, as main measures it
            port = self.procs["nginx"][1]
            self.run.wrk(port, "/", self.cookie, 1, 64, warmup=True)
            self.nginx1 = med([self.run.wrk(port, "/", self.cookie, 1, 64)["rps"]
                               for _ in range(3)])
        if pinned:
            pin(self.backend.pids(), set(range(ncpu - 1)))
            for proc, _ in self.procs.values():
                if proc:
                    pin(proc.pids(), {ncpu - 1})
        target = 0.5 * self.nginx1
        lo, hi = 5, 15  # ms of think time per connection, uniform: mean 10 ms
        conns = max(8, int(round(target * (lo + hi) / 2 / 1000)))
        rows = [("direct", "/", "backend direct (the limit)"),
                ("nginx", "/", "nginx proxy_pass, keepalive"),
                # the trailing space only makes it a row of its own (stripped for wrk)
                ("nginx", "/ ", "nginx again (A/A: the noise)"),
                ("haproxy", "/", "HAProxy, http-reuse always"),
                ("sg", "/", "sessiongate, header mode"),
                ("nginx", "/patch", "nginx, /patch (reference)"),
                ("sg", "/patch", "sessiongate, re-sign (/patch)")]
        keys = [r[:2] for r in rows]
        rounds, secs = self.a.p99_rounds, self.a.p99_secs

        def one(key, warmup=False):
            proc, port = self.procs[key[0]]
            return self.run.wrk(port, key[1].strip(), self.cookie, 1, conns, False,
                                proc.pids() if proc else (), secs=secs, delay=(lo, hi),
                                warmup=warmup, cpus=wrk_cpus)
        seed = self.a.seed if self.a.seed is not None else random.randrange(1 << 16)
        try:
            res = alternate(keys, rounds, one, seed=seed, warm_each=True)
        finally:
            if pinned:
                pin(self.backend.pids(), None)
        s = summarize(res)
        section = "p99pin" if pinned else "p99"
        records = self.round_records(section, rows, res, seed, offered=target)
        ratios = {label: [q for _, q in v]
                  for label, v in p99_pool.paired(records, section).items()}
        where = (f"proxy alone on CPU {ncpu - 1}, client and backend on CPU {wrk_cpus}"
                 if pinned else "client, backend and proxy sharing all CPUs")
        print(f"### p99 at the same offered load, {where}: {conns} keep-alive connections, "
              f"each sending a request then pausing a uniform {lo}-{hi} ms (wrk Lua delay()), "
              f"i.e. ~{target:.0f} req/s offered = 50% of nginx's one-worker keep-alive capacity "
              f"({self.nginx1:.0f} req/s, wrk -t1 -c64); "
              f"one worker each, {rounds} rounds x {secs}s, each after 1s of the same "
              f"unmeasured; row order shuffled with --seed {seed}")
        print(f"| {'configuration':32} | {'req/s':>8} | {'p50 ms':>6} | {'p99 ms':>6} | "
              f"{'p99 min-max':>11} | {'p99 x nginx':>11} | {'no worse':>8} | "
              f"{'proxy CPU us/req':>16} | errors |")
        print(f"|{'-' * 34}|{'-' * 10}|{'-' * 8}|{'-' * 8}|{'-' * 13}|{'-' * 13}|{'-' * 10}|"
              f"{'-' * 18}|--------|")
        for key, label in ((r[:2], r[2]) for r in rows):
            r = s[key]
            q = ratios.get(label)  # None for nginx's own rows: the reference
            paired = f"{statistics.median(q):.2f}x" if q else "-"
            wins = f"{sum(x <= 1.0 for x in q)}/{len(q)}" if q else "-"
            spread = f"{r['p99_spread'][0] / 1000:.2f}-{r['p99_spread'][1] / 1000:.2f}"
            print(f"| {label:32} | {r['rps']:8.0f} | {fmt_ms(r['p50']):>6} | "
                  f"{fmt_ms(r['p99']):>6} | {spread:>11} | {paired:>11} | {wins:>8} | "
                  f"{fmt_num(r['cpu_us'], '16.1f'):>16} | {r['errors'] + r['status']:6d} |")
        print("(p99 ms: median over the rounds; p99 x nginx: median over the rounds of this "
              "row's p99 / nginx's in the same round, same path; no worse: rounds where that "
              "ratio was <= 1; lower is better. wrk measures each request from its write to "
              "its response, think time excluded)")
        print()

    def round_records(self, section, rows, res, seed, offered=None):
        """Every round of a section as a flat record, appended to --raw FILE:
        what tests/bench/p99_pool.py pairs (here and across runs). ref marks
        nginx's row of each path, the one the others divide by; offered: a
        p99 section's fixed rate."""
        rev = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True).stdout.strip()
        records = [{"section": section, "rev": rev, "start": self.started, "seed": seed,
                    "row": label, "proxy": key[0], "path": key[1].strip(),
                    "ref": key == ("nginx", key[1].strip()), "round": i,
                    "offered": offered, "rps": r["rps"],
                    "p50": r["p50"], "p99": r["p99"], "cpu_us": r["cpu_us"]}
                   for key, label in ((row[:2], row[2]) for row in rows)
                   for i, r in enumerate(res[key])]
        if self.a.raw:
            with open(self.a.raw, "a") as f:
                f.writelines(json.dumps(r) + "\n" for r in records)
        return records

    # --- memory per idle keep-alive connection
    def memory(self):
        n = self.a.idle_conns
        print(f"### memory per idle keep-alive client connection: {n} connections (HAProxy: "
              f"its maxconn, the fd limit allows 2 per connection), one request each, then idle (one worker each; VmRSS summed over the "
              f"processes, user space only: kernel socket buffers not included)")
        print(f"| {'server':32} | {'RSS before KiB':>14} | {'RSS after KiB':>13} | "
              f"{'bytes/conn':>10} | {'open':>6} | {'answered':>8} |")
        print(f"|{'-' * 34}|{'-' * 16}|{'-' * 15}|{'-' * 12}|{'-' * 8}|{'-' * 10}|")
        for key, label in (("nginx", "nginx"), ("haproxy", "HAProxy"), ("sg", "sessiongate")):
            proc, port = self.procs[key]
            pids = proc.pids()
            before = rss_kib(pids)
            socks, ok = open_idle(port, min(n, haproxy_maxconn() - 50) if key == "haproxy" else n,
                                  self.cookie)
            time.sleep(1.0)
            after = rss_kib(pids)
            per = (after - before) * 1024 / max(1, len(socks))
            for s in socks:
                s.close()
            print(f"| {label:32} | {before:14d} | {after:13d} | {per:10.0f} | "
                  f"{len(socks):6d} | {ok:8d} |")
            time.sleep(0.5)
        print()

    # --- scaling
    def scaling(self):
        self.start_proxies(1)
        cookies = [("no cookie", None),
                   (f"Flask-Login, {len(self.cookie)} B", self.cookie)] + sized_cookies(self.ser)
        rounds = self.a.scale_rounds
        rows = [(k, i) for i in range(len(cookies)) for k in ("nginx", "sg")]

        def one(key, warmup=False):
            proc, port = self.procs[key[0]]
            return self.run.wrk(port, "/", cookies[key[1]][1], 1, 64, False, proc.pids(),
                                secs=self.a.scale_secs, warmup=warmup)
        s = summarize(alternate(rows, rounds, one))
        base_sg = s[("sg", 0)]["cpu_us"]
        print(f"### scaling with the session size: sessiongate (header mode, one worker) "
              f"and nginx on the same requests, wrk -t1 -c64, {rounds} rounds x "
              f"{self.a.scale_secs}s, medians")
        print(f"| {'cookie':24} | {'sg req/s':>8} | {'nginx req/s':>11} | {'x nginx':>7} | "
              f"{'sg CPU us/req':>13} | {'nginx CPU us/req':>16} | {'sg extra us/req':>15} |")
        print(f"|{'-' * 26}|{'-' * 10}|{'-' * 13}|{'-' * 9}|{'-' * 15}|{'-' * 18}|{'-' * 17}|")
        for i, (label, _) in enumerate(cookies):
            a, b = s[("sg", i)], s[("nginx", i)]
            extra = a["cpu_us"] - base_sg if a["cpu_us"] and base_sg else None
            bad = a["errors"] + a["status"] + b["errors"] + b["status"]
            print(f"| {label:24} | {a['rps']:8.0f} | {b['rps']:11.0f} | "
                  f"{fmt_ratio(a['rps'], b['rps']):>7} | {fmt_num(a['cpu_us'], '13.1f'):>13} | "
                  f"{fmt_num(b['cpu_us'], '16.1f'):>16} | {fmt_num(extra, '+15.1f'):>15} |"
                  + (f" {bad} errors" if bad else ""))
        print("(sg extra us/req: sessiongate CPU per request over the same daemon without a cookie)")
        print()

        rows = [(k, n) for n in PATCH_COUNTS for k in ("nginx", "sg")]

        def onep(key, warmup=False):
            proc, port = self.procs[key[0]]
            return self.run.wrk(port, f"/p{key[1]}", self.cookie, 1, 64, False, proc.pids(),
                                secs=self.a.scale_secs, warmup=warmup)
        s = summarize(alternate(rows, rounds, onep))
        base_sg = s[("sg", 0)]["cpu_us"]
        print("### scaling with the number of X-Session-Patch headers in each response "
              "(distinct keys; Flask-Login cookie), same setup")
        print(f"| {'patch headers':24} | {'sg req/s':>8} | {'nginx req/s':>11} | {'x nginx':>7} | "
              f"{'sg CPU us/req':>13} | {'nginx CPU us/req':>16} | {'sg extra us/req':>15} |")
        print(f"|{'-' * 26}|{'-' * 10}|{'-' * 13}|{'-' * 9}|{'-' * 15}|{'-' * 18}|{'-' * 17}|")
        for n in PATCH_COUNTS:
            a, b = s[("sg", n)], s[("nginx", n)]
            extra = a["cpu_us"] - base_sg if a["cpu_us"] and base_sg else None
            print(f"| {n:<24} | {a['rps']:8.0f} | {b['rps']:11.0f} | "
                  f"{fmt_ratio(a['rps'], b['rps']):>7} | {fmt_num(a['cpu_us'], '13.1f'):>13} | "
                  f"{fmt_num(b['cpu_us'], '16.1f'):>16} | {fmt_num(extra, '+15.1f'):>15} |")
        print()

    # --- whole deployment
    def deployment(self):
        for p in self.procs.values():
            if p[0] is not None:
                p[0].stop()
                CHILDREN.remove(p[0])
        self.procs = {}
        key = os.path.join(self.tmp, "secret_key")
        apps = {}
        for mode in ("header", "middleware"):
            port = free_port()
            env = dict(os.environ, BENCH_SESSION=mode, BENCH_SECRET_FILE=key)
            p = Proc(f"uvicorn-{mode}", [PYTHON, "-m", "uvicorn", "--app-dir", HERE,
                                         "--host", "127.0.0.1", "--port", str(port),
                                         "--workers", "1", "--no-access-log",
                                         "--log-level", "warning", "asgi_app:app"],
                     self.tmp, env=env)
            wait_port(port, p)
            apps[mode] = (p, port)
        sg_port = free_port()
        sg = start_sessiongate(self.tmp, "sessiongate-asgi", self.a.sessiongate, sg_port,
                               apps["header"][1], 1)
        wait_port(sg_port, sg)
        cookie = self.cookie
        # both builds must agree before they are timed
        st1, _, b1 = http_get(sg_port, "/me", {"Cookie": f"session={cookie}"})
        st2, _, b2 = http_get(apps["middleware"][1], "/me", {"Cookie": f"session={cookie}"})
        print("### whole deployment: one FastAPI app (uvicorn, one worker, h11) reading the "
              "Flask session; wrk -t1 -c32, same Flask-Login cookie")
        print(f"check: /me behind sessiongate -> {st1} {b1.decode()[:60]}; "
              f"with the in-process middleware -> {st2} {b2.decode()[:60]}")
        rows = [("sg", "/me"), ("mw", "/me"), ("sg", "/count"), ("mw", "/count"),
                ("sg", "/plain"), ("mw", "/plain")]

        def one(k, warmup=False):
            if k[0] == "sg":
                pids = sg.pids() + apps["header"][0].pids()
                port = sg_port
            else:
                pids = apps["middleware"][0].pids()
                port = apps["middleware"][1]
            return self.run.wrk(port, k[1], cookie, 1, 32, False, pids,
                                secs=self.a.scale_secs, warmup=warmup)
        s = summarize(alternate(rows, self.a.scale_rounds, one))
        print(f"| {'endpoint':34} | {'sessiongate + app req/s':>23} | {'app + middleware req/s':>22} | "
              f"{'ratio':>6} | {'CPU us/req sg+app':>17} | {'CPU us/req app+mw':>17} |")
        print(f"|{'-' * 36}|{'-' * 25}|{'-' * 24}|{'-' * 8}|{'-' * 19}|{'-' * 19}|")
        for path, label in (("/me", "/me (read the session)"),
                            ("/count", "/count (change: patch / re-sign)"),
                            ("/plain", "/plain (no session use)")):
            a, b = s[("sg", path)], s[("mw", path)]
            bad = a["errors"] + a["status"] + b["errors"] + b["status"]
            print(f"| {label:34} | {a['rps']:23.0f} | {b['rps']:22.0f} | "
                  f"{fmt_ratio(a['rps'], b['rps']):>6} | {fmt_num(a['cpu_us'], '17.1f'):>17} | "
                  f"{fmt_num(b['cpu_us'], '17.1f'):>17} |" + (f" {bad} errors" if bad else ""))
        print("(the middleware decodes the cookie on every request, as Flask does; CPU us/req "
              "sums sessiongate and uvicorn, or uvicorn alone)")
        print()


class Profile:
    """--only profile: syscalls per request (strace -c) for each proxy,
    user-space instructions per request (callgrind), and where sessiongate's
    CPU goes per request, kernel and libraries included (perf, when the
    kernel allows it)."""

    SYSCALLS = [("epoll_ctl", ("epoll_ctl",)), ("epoll_wait", ("epoll_wait", "epoll_pwait")),
                ("read", ("read", "readv", "recvfrom", "recvmsg")),
                ("write", ("write", "writev", "sendto", "sendmsg")),
                ("ioctl", ("ioctl",))]

    def __init__(self, bench):
        self.b = bench

    def strace(self, pids, port, path, secs):
        out = os.path.join(self.b.tmp, "strace.txt")
        argv = ["strace", "-c", "-f", "-o", out]
        for pid in pids:
            argv += ["-p", str(pid)]
        st = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.7)
        r = self.b.run.wrk(port, path, self.b.cookie, 1, 16, False, (), secs=secs)
        st.send_signal(signal.SIGINT)
        st.wait(timeout=20)
        calls = {}
        with open(out) as f:
            for line in f:
                m = re.match(r"\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(\w+)$", line)
                if m and m.group(2) != "total":
                    calls[m.group(2)] = int(m.group(1))
        return calls, r["requests"]

    def instructions(self, n=300):
        """User-space instructions per request (callgrind), immune to the
        machine's noise: the same daemon under valgrind, counters zeroed
        and dumped around n requests of each kind."""
        b = self.b
        if not (shutil.which("valgrind") and shutil.which("callgrind_control")):
            print("(valgrind missing: no instruction counts)")
            return
        port = free_port()
        vg, out_dir = self.callgrind_proc(
            "sessiongate", lambda wrap: start_sessiongate(b.tmp, "sessiongate-callgrind",
                                                          b.a.sessiongate, port, b.be_port, 1,
                                                          wrap=wrap), port)
        variants = [("no cookie", "/", None), (f"Flask-Login {len(b.cookie)} B", "/", b.cookie)]
        variants += [(label, "/", c) for label, c in sized_cookies(b.ser)]
        variants += [(f"Flask-Login, {k} patch header(s)", f"/p{k}", b.cookie)
                     for k in PATCH_COUNTS if k]
        sock = raw_connect(port)
        print(f"### user-space instructions per request in sessiongate (callgrind, {n} keep-alive "
              f"requests per row, one connection; no timing noise)")
        print(f"| {'request':36} | {'instructions/req':>16} | {'x no cookie':>11} |")
        print(f"|{'-' * 38}|{'-' * 18}|{'-' * 13}|")
        base = None
        for label, path, cookie in variants:
            per = callgrind_per_call(vg.pid, out_dir, lambda: raw_get(port, path, cookie, sock), n)
            base = base or per
            print(f"| {label:36} | {fmt_num(per, '16.0f'):>16} | {fmt_ratio(per, base):>11} |")
        sock.close()
        print()
        # the same against nginx: kept alive, and a new connection per request
        ng_port = free_port()
        ng, ng_dir = self.callgrind_proc(
            "nginx", lambda wrap: start_nginx(b.tmp, "nginx-callgrind", 1,
                                              nginx_proxy_block(ng_port, b.be_port), wrap=wrap),
            ng_port)
        print(f"### user-space instructions per request against nginx (callgrind, {n} requests "
              f"per cell, header mode, Flask-Login cookie)")
        print(f"| {'connection':40} | {'sessiongate':>11} | {'nginx':>7} | {'x nginx':>7} |")
        print(f"|{'-' * 42}|{'-' * 13}|{'-' * 9}|{'-' * 9}|")
        cells = {}
        for close in (False, True):
            row = []
            for proc, d, p in ((vg, out_dir, port), (ng, ng_dir, ng_port)):
                s = None if close else raw_connect(p)
                row.append(callgrind_per_call(proc.pid, d,
                                              lambda: raw_get(p, "/", b.cookie, s, close=close), n))
                if s:
                    s.close()
            cells[close] = row
            label = "new connection each (Connection: close)" if close else "kept alive"
            print(f"| {label:40} | {fmt_num(row[0], '11.0f'):>11} | {fmt_num(row[1], '7.0f'):>7} | "
                  f"{fmt_ratio(row[0], row[1]):>7} |")
        if all(cells[False]) and all(cells[True]):
            extra = [cells[True][i] - cells[False][i] for i in (0, 1)]
            print(f"| {'the new connection alone':40} | {extra[0]:11.0f} | {extra[1]:7.0f} | "
                  f"{fmt_ratio(extra[0], extra[1]):>7} |")
        for proc in (vg, ng):
            proc.stop()
            CHILDREN.remove(proc)
        print()

    def callgrind_proc(self, name, start, port):
        """start(wrap) under callgrind, dumping into a directory of its own."""
        out_dir = os.path.join(self.b.tmp, f"callgrind-{name}")
        os.makedirs(out_dir, exist_ok=True)
        proc = start(["valgrind", "--tool=callgrind",
                      f"--callgrind-out-file={os.path.join(out_dir, 'callgrind.out')}"])
        wait_port(port, proc, timeout=60)
        return proc, out_dir

    def run(self):
        b = self.b
        secs = 3 if b.a.quick else 5
        b.start_proxies(1)
        sgp, sg_port = b.procs["sg"]
        ng, ng_port = b.procs["nginx"]
        hp, hp_port = b.procs["haproxy"]
        rows = [("nginx", ng.pids()[1:] or ng.pids(), ng_port, "/"),
                ("HAProxy", [hp.pid], hp_port, "/"),
                ("sessiongate, header mode", [sgp.pid], sg_port, "/"),
                ("sessiongate, re-sign (/patch)", [sgp.pid], sg_port, "/patch")]
        if shutil.which("strace"):
            print(f"### syscalls per request (strace -c -f on the proxy's worker, wrk -t1 -c16 "
                  f"for {secs}s; strace slows everything, the counts per request stay)")
            names = [n for n, _ in self.SYSCALLS]
            print(f"| {'proxy':32} | " + " | ".join(f"{n:>10}" for n in names)
                  + f" | {'other':>6} | {'total':>6} |")
            print(f"|{'-' * 34}|" + "|".join("-" * 12 for _ in names) + f"|{'-' * 8}|{'-' * 8}|")
            for label, pids, port, path in rows:
                calls, n = self.strace(pids, port, path, secs)
                n = max(1, n)
                cols, seen = [], 0
                for _, group in self.SYSCALLS:
                    c = sum(calls.get(g, 0) for g in group)
                    seen += c
                    cols.append(c / n)
                total = sum(calls.values())
                print(f"| {label:32} | " + " | ".join(f"{c:10.2f}" for c in cols)
                      + f" | {(total - seen) / n:6.2f} | {total / n:6.2f} |")
            print()
        else:
            print("(strace missing: no syscall counts)")

        self.instructions()
        if not shutil.which("perf"):
            print("(perf missing: no profile)")
            return
        for path in ("/", "/patch"):
            data = os.path.join(b.tmp, "perf.data")
            rec = subprocess.Popen(["perf", "record", "-q", "-F", "1999", "-e", "cpu-clock",
                                    "-p", str(sgp.pid), "-o", data],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(0.5)
            w = b.run.wrk(sg_port, path, b.cookie, 1, 64, False, (), secs=secs)
            rec.send_signal(signal.SIGINT)
            rec.wait(timeout=30)
            if rec.returncode not in (0, -2, 130) or not os.path.exists(data):
                print("(perf record failed here: no profile)")
                return
            print(f"### where sessiongate's CPU goes, {path} (perf record -e cpu-clock, "
                  f"one worker under wrk -t1 -c64)")
            r = subprocess.run(["perf", "report", "-i", data, "--stdio", "--no-children",
                                "--sort", "dso", "-g", "none"], capture_output=True, text=True)
            m = re.search(r"Event count \(approx\.\): (\d+)", r.stdout)
            if m and w["requests"]:
                per = int(m.group(1)) / 1000 / w["requests"]  # cpu-clock counts ns
                parts = []
                for l in r.stdout.splitlines():
                    f = l.split()
                    if len(f) == 2 and f[0].endswith("%") and not l.startswith("#"):
                        name = re.sub(r"\.so[.\d]*$", "", f[1].strip("[]"))
                        parts.append(f"{name} {float(f[0][:-1]) * per / 100:.1f}")
                print(f"    CPU per request: {per:.1f} us = " + ", ".join(parts[:7]))
            for sort, top in (("dso", 8), ("dso,symbol", 22)):
                r = subprocess.run(["perf", "report", "-i", data, "--stdio", "--no-children",
                                    "--sort", sort, "-g", "none"],
                                   capture_output=True, text=True)
                lines = [l.rstrip() for l in r.stdout.splitlines()
                         if l.strip() and not l.startswith("#")][:top]
                print("\n".join("    " + re.sub(r"\s+-\s+-\s*$", "", l).strip() for l in lines))
                print()


def raw_connect(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def raw_get(port, path, cookie, sock=None, close=False):
    """One GET and its whole response, on sock (kept alive) or, with close,
    on a new connection that the proxy closes after it."""
    s = sock or raw_connect(port)
    s.sendall((f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
               + (f"Cookie: session={cookie}\r\n" if cookie else "")
               + ("Connection: close\r\n" if close else "") + "\r\n").encode())
    head = recv_response(s, until_close=close)
    if close:
        s.close()
    if not head.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(f"unexpected answer: {head[:200]!r}")


def recv_response(s, until_close=False):
    """Reads one response (its Content-Length, or until the peer closes);
    returns its head."""
    buf = b""
    while True:
        d = s.recv(65536)
        if not d:
            break
        buf += d
        head, sep, body = buf.partition(b"\r\n\r\n")
        m = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
        if not until_close and sep and len(body) >= (int(m.group(1)) if m else 0):
            break
    return buf.partition(b"\r\n\r\n")[0]


def callgrind_per_call(pid, out_dir, call, n):
    """User-space instructions per call() in the callgrind-run process pid:
    counters zeroed, n calls, then a dump, which callgrind takes when the
    process next runs: one more call wakes it (so n + 1 are counted)."""
    for _ in range(20):
        call()  # warm
    subprocess.run(["callgrind_control", "-z", str(pid)], timeout=60,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(n):
        call()
    dumps = set(os.listdir(out_dir))
    d = subprocess.Popen(["callgrind_control", "-d", str(pid)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.3)
    call()
    d.wait(timeout=60)
    ir = None
    for f in sorted(set(os.listdir(out_dir)) - dumps):
        with open(os.path.join(out_dir, f), errors="replace") as fh:
            for line in fh:
                if line.startswith("summary:") or line.startswith("totals:"):
                    ir = (ir or 0) + int(line.split()[1])
                    break
        os.unlink(os.path.join(out_dir, f))
    return ir / (n + 1) if ir else None


def open_idle(port, n, cookie):
    """n keep-alive connections, each after one complete request/response."""
    req = (f"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: session={cookie}\r\n\r\n").encode()
    socks, ok = [], 0
    batch = 200
    for start in range(0, n, batch):
        group = []
        for _ in range(min(batch, n - start)):
            try:
                s = socket.create_connection(("127.0.0.1", port), timeout=10)
            except OSError as e:
                print(f"  (connection {len(socks)}: {e})")
                return socks, ok
            s.sendall(req)
            group.append(s)
        for s in group:
            try:
                if recv_response(s).startswith(b"HTTP/1.1 200"):
                    ok += 1
            except OSError:
                pass
            socks.append(s)
    return socks, ok


NOFILE = 20000


def main():
    global NOFILE
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sessiongate", required=True)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--seed", type=int,
                    help="the p99 sections' row order (default: a new one each run)")
    ap.add_argument("--raw", metavar="FILE",
                    help="append every round of main, close and the p99 sections to FILE as "
                    "JSON lines (tests/bench/p99_pool.py pools them)")
    ap.add_argument("--only", default="main,p99,scale,asgi",
                    help="comma list of sections: main (includes memory), p99, scale, asgi; "
                    "p99pin (p99 with the proxy alone on a CPU), close (main's Connection: "
                    "close table alone, 12 rounds), profile (strace/perf/callgrind): these "
                    "three are not in the default run")
    args = ap.parse_args()
    if args.quick:
        args.rounds, args.secs, args.scale_rounds, args.scale_secs = 3, 2, 1, 2
        args.p99_rounds, args.p99_secs, args.close_rounds = 4, 2, 4
    else:
        args.rounds, args.secs, args.scale_rounds, args.scale_secs = 5, 4, 3, 3
        args.p99_rounds, args.p99_secs, args.close_rounds = 12, 2, 12
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    NOFILE = soft if soft != resource.RLIM_INFINITY else 65536
    args.idle_conns = min(10000, NOFILE - 500)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    for tool in ("wrk", "nginx", "haproxy"):
        if not shutil.which(tool):
            sys.exit(f"proxy.sh needs {tool} (apt-get install {tool})")
    sections = set(args.only.split(","))
    tmp = tempfile.mkdtemp(prefix="sg-bench-")
    t0 = time.monotonic()
    try:
        print(f"## sessiongate proxy benchmark ({'quick' if args.quick else 'full'} mode)")
        print(machine())
        print(f"backend: nginx, 2 workers, tiny body ('ok'), /patch adds X-Session-Patch; "
              f"access logs off everywhere; fd limit {NOFILE}")
        print()
        b = Bench(args, tmp)
        if "main" in sections:
            b.main_modes()
        elif "close" in sections:
            b.main_modes(close_only=True)
        if "p99" in sections:
            b.fixed_rate()
        if "p99pin" in sections:
            b.fixed_rate(pinned=True)
        if "scale" in sections:
            b.scaling()
        if "asgi" in sections:
            b.deployment()
        if "profile" in sections:
            Profile(b).run()
        for n in b.notes:
            print("note: " + n)
        print(f"(ran {time.monotonic() - t0:.0f} s)")
    finally:
        stop_all()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
