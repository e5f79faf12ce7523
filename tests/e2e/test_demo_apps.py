"""tests/e2e/test_demo_apps.py — the demo apps (tests/demo/) on their own, no
proxy: the Flask app's Flask-Login session, and the FastAPI app's X-Session in,
X-Session-Patch out."""
import http.client
import http.cookiejar
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

from flask import Flask
from flask.sessions import SecureCookieSessionInterface
from itsdangerous import BadSignature

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEMO = os.path.join(ROOT, "tests", "demo")
# The key file ends with a newline, as `echo` or an editor writes it; the
# apps must use the key without it, as sessiongate does.
SECRET = b"demo-test-secret-\x01\xff"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serializer(key):
    """Flask's own session cookie serializer for a given key."""
    app = Flask("verify")
    app.secret_key = key
    return SecureCookieSessionInterface().get_signing_serializer(app)


def start(cls, name, argv, env, port):
    """Starts a child, registers its cleanup, waits until port accepts."""
    log = open(os.path.join(cls.tmp.name, name + ".log"), "w+b")
    proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL)

    def stop():
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()

    cls.addClassCleanup(stop)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            log.seek(0)
            raise RuntimeError(f"{name} exited {proc.returncode}:\n{log.read().decode(errors='replace')}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{name} did not listen on {port}")


def request(port, method, path, headers=None, body=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.headers, resp.read()
    finally:
        conn.close()


def session_cookie(headers):
    """The value of the `session` Set-Cookie, or None."""
    for value in headers.get_all("Set-Cookie") or []:
        name, _, rest = value.partition("=")
        if name.strip() == "session":
            return rest.split(";", 1)[0]
    return None


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class DemoApps(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="sg-demo-test-")
        cls.addClassCleanup(cls.tmp.cleanup)
        secret_file = os.path.join(cls.tmp.name, "flask_secret_key")
        with open(secret_file, "wb") as f:
            f.write(SECRET + b"\n")
        cls.flask_port, cls.api_port = free_port(), free_port()
        env = dict(os.environ, SESSIONGATE_SECRET_FILE=secret_file,
                   DEMO_FLASK_PORT=str(cls.flask_port), PYTHONDONTWRITEBYTECODE="1")
        start(cls, "flask", [sys.executable, os.path.join(DEMO, "flask_app.py")], env,
              cls.flask_port)
        start(cls, "api", [sys.executable, "-m", "uvicorn", "--app-dir", DEMO, "api_app:app",
                           "--host", "127.0.0.1", "--port", str(cls.api_port)], env, cls.api_port)
        cls.ser = serializer(SECRET)

    def login(self, name):
        body = urllib.parse.urlencode({"username": name})
        return request(self.flask_port, "POST", "/login", body=body,
                       headers={"Content-Type": "application/x-www-form-urlencoded"})

    # --- Flask side -------------------------------------------------------

    def test_anonymous_page_has_form_and_sets_no_cookie(self):
        status, headers, body = request(self.flask_port, "GET", "/")
        self.assertEqual(status, 200)
        self.assertIn(b"You are not logged in", body)
        self.assertIn(b'action="/login"', body)
        self.assertIsNone(session_cookie(headers))

    def test_login_sets_flask_login_session(self):
        status, headers, _ = self.login("alice")
        self.assertEqual(status, 302)
        self.assertEqual(headers["Location"], "/")
        cookie = session_cookie(headers)
        self.assertIsNotNone(cookie)
        session = self.ser.loads(cookie)
        self.assertEqual(session["_user_id"], "alice")
        self.assertIs(session["_fresh"], True)
        # Signed with the key without its trailing newline, as sessiongate reads it.
        with self.assertRaises(BadSignature):
            serializer(SECRET + b"\n").loads(cookie)

        status, _, body = request(self.flask_port, "GET", "/", headers={"Cookie": "session=" + cookie})
        self.assertEqual(status, 200)
        self.assertIn(b"Hello <strong>alice</strong>", body)
        self.assertIn(b'href="/api/"', body)

    def test_flask_shows_counter_written_by_api(self):
        _, headers, _ = self.login("bob")
        session = self.ser.loads(session_cookie(headers))
        # What sessiongate re-signs after the FastAPI app's X-Session-Patch.
        session["api_visits"] = 7
        cookie = self.ser.dumps(session)
        _, _, body = request(self.flask_port, "GET", "/", headers={"Cookie": "session=" + cookie})
        self.assertIn(b"counted <strong>7</strong> visit(s)", body)

    def test_bad_username_is_refused(self):
        status, headers, _ = self.login("<script>")
        self.assertEqual(status, 302)
        session = self.ser.loads(session_cookie(headers))  # only the flash message
        self.assertNotIn("_user_id", session)
        _, _, body = request(self.flask_port, "GET", "/",
                             headers={"Cookie": "session=" + session_cookie(headers)})
        self.assertIn(b"A name is 1 to 32", body)
        self.assertNotIn(b"<script>", body)

    def test_logout_clears_user_and_counter(self):
        _, headers, _ = self.login("carol")
        session = self.ser.loads(session_cookie(headers))
        session["api_visits"] = 2
        status, headers, _ = request(self.flask_port, "POST", "/logout",
                                     headers={"Cookie": "session=" + self.ser.dumps(session)})
        self.assertEqual(status, 302)
        # The session is empty now: Flask deletes the cookie.
        self.assertEqual(session_cookie(headers), "")
        self.assertIn("01 Jan 1970", headers["Set-Cookie"])

    # --- FastAPI side -----------------------------------------------------

    def test_api_knows_user_from_x_session_and_patches(self):
        xs = json.dumps({"_user_id": "alice", "_fresh": True, "api_visits": 2})
        status, headers, body = request(self.api_port, "GET", "/api/me", headers={"X-Session": xs})
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(body), {"logged_in": True, "user": "alice", "api_visits": 3})
        patches = headers.get_all("X-Session-Patch")
        self.assertEqual(len(patches), 1)
        patch = json.loads(patches[0])
        self.assertIsInstance(patch, dict)  # an RFC 7386 merge patch
        self.assertEqual(patch, {"api_visits": 3})
        self.assertTrue(patches[0].isascii() and "\n" not in patches[0])
        self.assertIsNone(session_cookie(headers))  # the API never sets cookies

    def test_api_first_visit_counts_from_zero(self):
        _, headers, body = request(self.api_port, "GET", "/api/me",
                                   headers={"X-Session": '{"_user_id":"dave"}'})
        self.assertEqual(json.loads(body)["api_visits"], 1)
        self.assertEqual(json.loads(headers["X-Session-Patch"]), {"api_visits": 1})

    def test_api_without_session_knows_nobody(self):
        for hdrs in ({}, {"X-Session": "{}"}, {"X-Session": "not json"}, {"X-Session": "[1]"}):
            status, headers, body = request(self.api_port, "GET", "/api/me", headers=hdrs)
            self.assertEqual(status, 200, hdrs)
            answer = json.loads(body)
            self.assertIs(answer["logged_in"], False, hdrs)
            self.assertIsNone(answer["user"], hdrs)
            self.assertIsNone(headers["X-Session-Patch"], hdrs)  # nothing changed

    def test_api_page_greets_and_escapes(self):
        xs = json.dumps({"_user_id": "<b>eve</b>", "api_visits": 4})
        status, headers, body = request(self.api_port, "GET", "/api/", headers={"X-Session": xs})
        self.assertEqual(status, 200)
        self.assertTrue(headers["Content-Type"].startswith("text/html"))
        self.assertIn(b"Hello <strong>&lt;b&gt;eve&lt;/b&gt;</strong>", body)
        self.assertNotIn(b"<b>eve", body)
        self.assertEqual(json.loads(headers["X-Session-Patch"]), {"api_visits": 5})
        _, headers, body = request(self.api_port, "GET", "/api/")
        self.assertIn(b"Nobody is logged in", body)
        self.assertIsNone(headers["X-Session-Patch"])

    def test_api_logout_patch_removes_login_keys(self):
        status, headers, _ = request(self.api_port, "POST", "/api/logout",
                                     headers={"X-Session": '{"_user_id":"alice"}'})
        self.assertEqual(status, 303)
        self.assertEqual(headers["Location"], "/")
        self.assertEqual(json.loads(headers["X-Session-Patch"]),
                         {"_user_id": None, "_fresh": None, "_id": None, "api_visits": None})


def port_open(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


class DemoScript(unittest.TestCase):
    """tests/demo.sh starts both apps and sessiongate, and stops exactly what
    it started, whether sessiongate exits by itself or Ctrl-C arrives."""

    def test_lifecycle(self):
        ports = {"DEMO_FLASK_PORT": free_port(), "DEMO_API_PORT": free_port(),
                 "DEMO_ADMIN_PORT": free_port(), "DEMO_LISTEN_PORT": free_port()}
        binary = os.path.abspath(os.environ.get("SESSIONGATE",
                                                os.path.join(ROOT, "build/daemon/sessiongate")))
        env = dict(os.environ, DEMO_SKIP_SETUP="1", DEMO_SESSIONGATE=binary,
                   DEMO_FLASK_PORT=str(ports["DEMO_FLASK_PORT"]),
                   DEMO_API_PORT=str(ports["DEMO_API_PORT"]),
                   DEMO_ADMIN=f"127.0.0.1:{ports['DEMO_ADMIN_PORT']}",
                   DEMO_LISTEN=f"127.0.0.1:{ports['DEMO_LISTEN_PORT']}")
        env.pop("SESSIONGATE_SECRET_FILE", None)
        out = tempfile.TemporaryFile()
        # Its own session, so a Ctrl-C can go to its whole process group, as
        # a terminal sends it, and nothing of ours is hit.
        proc = subprocess.Popen(["bash", os.path.join(ROOT, "tests", "demo.sh")], cwd=ROOT,
                                env=env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)

        def reap():
            if proc.poll() is None:
                os.killpg(proc.pid, 9)
                proc.wait()
            out.close()
        self.addCleanup(reap)

        def output():
            # pread: the child writes through this same open file, so moving
            # its offset (seek) would make the child overwrite its own start
            fd = out.fileno()
            return os.pread(fd, os.fstat(fd).st_size, 0).decode(errors="replace")

        deadline = time.monotonic() + 60
        while proc.poll() is None and "open http://" not in output():
            self.assertLess(time.monotonic(), deadline, output())
            time.sleep(0.1)
        text = output()
        self.assertIn("starting the Flask app", text)
        self.assertIn("starting the FastAPI app", text)
        self.assertIsNone(proc.poll(), text)
        self.assertIn(f"open http://{env['DEMO_LISTEN']}/", text)
        self.newcomer_story(ports["DEMO_LISTEN_PORT"])
        os.killpg(proc.pid, 2)
        self.assertEqual(proc.wait(timeout=60), 130, output())
        # Everything it started is gone, and so is its temp dir (with the key).
        for name in ("DEMO_FLASK_PORT", "DEMO_API_PORT", "DEMO_LISTEN_PORT"):
            self.assertFalse(port_open(ports[name]), name)
        tmp = re.search(r"log: (/tmp/sessiongate-demo\.\w+)/", text).group(1)
        self.assertFalse(os.path.exists(tmp), tmp)

    def newcomer_story(self, port):
        """What the README promises: log in on the Flask side, and the FastAPI
        side knows you, through sessiongate, with one cookie jar."""
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar),
                                             NoRedirect())
        base = f"http://127.0.0.1:{port}"

        def get(path):
            with opener.open(base + path, timeout=10) as r:
                return r.status, r.read().decode()

        status, body = get("/api/me")
        self.assertEqual(status, 200)
        self.assertIs(json.loads(body)["logged_in"], False)
        self.assertEqual(len(jar), 0)
        form = urllib.parse.urlencode({"username": "ada"}).encode()
        try:
            opener.open(base + "/login", data=form, timeout=10)
        except urllib.error.HTTPError as e:  # the redirect after login
            self.assertIn(e.code, (302, 303))
        self.assertEqual([c.name for c in jar], ["session"])
        me = json.loads(get("/api/me")[1])
        self.assertEqual((me["logged_in"], me["user"], me["api_visits"]), (True, "ada", 1))
        me = json.loads(get("/api/me")[1])
        self.assertEqual(me["api_visits"], 2)
        status, page = get("/")
        self.assertEqual(status, 200)
        self.assertIn("ada", page)
        self.assertIn("<strong>2</strong>", page)

    def test_refuses_a_busy_port(self):
        with socket.socket() as busy:
            busy.bind(("127.0.0.1", 0))
            busy.listen()
            port = busy.getsockname()[1]
            env = dict(os.environ, DEMO_SKIP_SETUP="1", DEMO_FLASK_PORT=str(port),
                       DEMO_SESSIONGATE=os.path.abspath(os.environ.get(
                           "SESSIONGATE", os.path.join(ROOT, "build/daemon/sessiongate"))),
                       DEMO_LISTEN=f"127.0.0.1:{free_port()}", DEMO_API_PORT=str(free_port()))
            r = subprocess.run(["bash", os.path.join(ROOT, "tests", "demo.sh")], cwd=ROOT,
                               env=env, capture_output=True, text=True, timeout=60,
                               stdin=subprocess.DEVNULL)
        self.assertEqual(r.returncode, 1)
        self.assertIn(f"127.0.0.1:{port} is already in use", r.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
