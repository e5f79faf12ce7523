"""tests/e2e/test_starlette_e2e.py — issue 8 end to end: an unchanged Flask 2.2 app
(session[...], session: cookie) and an unchanged FastAPI app with Starlette
0.26's stock SessionMiddleware (request.session, session: starlette) behind
the real daemon share one Flask session through one client cookie jar
(requests): set, read and delete both ways, Flask types surviving a FastAPI
write, no Set-Cookie on unchanged requests although 0.26 re-signs every
response, Starlette's cookie never reaching the client, write policy, a wrong
Starlette key, different cookie names, and accept_starlette_cookies upgrading
a client's old Starlette cookie once. After every step the cookie the client
holds is loaded by real Flask and compared with what we expect."""
import http.client
import json
import os
import sys
import unittest


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

APPS = os.path.join(harness.HERE, "apps")
SECRET = harness.SECRET  # the Flask SECRET_KEY, also sg2's Starlette key (the default)
# The FastAPI app's own key (not ASCII: Starlette signs str(secret_key).encode()).
ST_SECRET = "st\u00e4rlette-e2e-\u043a\u043b\u044e\u0447".encode()
WRONG_SECRET = b"not-the-starlette-key"


class StarletteE2E(harness.SessionTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        tmp = cls.tmp.name
        keys = {}
        for name, data in (("flask_key", SECRET), ("st_key", ST_SECRET),
                           ("wrong_key", WRONG_SECRET)):
            keys[name] = os.path.join(tmp, name)
            with open(keys[name], "wb") as f:
                f.write(data)
        fport, aport, a2port = harness.free_port(), harness.free_port(), harness.free_port()
        cls.flask = cls.start_process(
            "flask", [harness.PYTHON, os.path.join(APPS, "flask_app.py"), "--port", str(fport),
                      "--secret-file", keys["flask_key"]], fport)

        def uvicorn(name, port, env):
            return cls.start_process(
                name, [harness.PYTHON, "-m", "uvicorn", "--app-dir", APPS, "starlette_app:app",
                       "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
                port, env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1", **env))

        # the app with its own key and the default cookie name "session"
        cls.api = uvicorn("api", aport, {"ST_SECRET_FILE": keys["st_key"]})
        # the same app with the Flask secret and session_cookie="st"
        cls.api2 = uvicorn("api2", a2port, {"ST_SECRET_FILE": keys["flask_key"],
                                            "ST_COOKIE_NAME": "st"})
        cls.api_port = aport
        fa, aa, a2 = f"127.0.0.1:{fport}", f"127.0.0.1:{aport}", f"127.0.0.1:{a2port}"
        st_key = f"starlette_secret_key_file: {harness.yaml_str(keys['st_key'])}"
        cls.admin_port = harness.free_port()
        cls.sg = cls.start_daemon(
            extra=f"admin: 127.0.0.1:{cls.admin_port}\n",
            backends={"flask": [fa], "api": [aa], "ltd": [aa], "wrong": [aa]},
            routes=[("/ltd", "ltd", True, None), ("/wrong", "wrong", True, None),
                    ("/api", "api", False, None), ("/", "flask", False, None)],
            backend_opts={
                "flask": "session: cookie",
                "api": "session: starlette\n" + st_key,
                "ltd": 'session: starlette\nwritable_keys: ["api_*"]\n' + st_key,
                "wrong": "session: starlette\nstarlette_secret_key_file: "
                         + harness.yaml_str(keys["wrong_key"])},
            session_extra="accept_starlette_cookies: true")
        cls.sg2 = cls.start_daemon(
            name="sg2", backends={"flask": [fa], "api": [a2]},
            routes=[("/api", "api", False, None), ("/", "flask", False, None)],
            backend_opts={"flask": "session: cookie",
                          "api": "session: starlette\nstarlette_cookie_name: st"})

    # ---- helpers ----

    def call(self, c, method, path, sg=None, **kw):
        r = c.request(method, self.url(path, sg), timeout=10, **kw)
        self.assertEqual(r.status_code, 200, r.text)
        self.assertIn("cookie", r.headers.get("Vary", "").lower())
        # only sessiongate's Flask cookie ever reaches the client
        for h in r.raw.headers.getlist("Set-Cookie"):
            self.assertTrue(h.startswith("session="), h)
            self.assertNotIn("samesite=lax", h)  # Starlette's attribute spelling
        return r

    def api_session(self, c, sg=None):
        return self.call(c, "GET", "/api/session", sg).json()

    def flask_session(self, c, sg=None):
        return self.call(c, "GET", "/flask/echo", sg).json()["session"]

    def flask_plain(self, c, sg=None):
        """The Flask app's session with its Python types described."""
        return {k: v.get("value", v.get("items")) for k, v in self.flask_session(c, sg).items()}

    def jar(self, c):
        """The session the client's cookie holds; no other cookie ever reaches it."""
        names = [k.name for k in c.cookies]
        self.assertLessEqual(set(names), {"session"}, names)
        self.assertLessEqual(len(names), 1, names)
        return super().jar(c)

    def no_cookie(self, r):
        self.assertEqual(r.raw.headers.getlist("Set-Cookie"), [])

    def deletion(self, r):
        sc = self.one_cookie(r)
        self.assertIn("Max-Age=0", sc)
        self.assertTrue(sc.startswith("session=;"), sc)

    def metric(self, line_prefix):
        """The value of one sample of sg's /metrics (0 when absent)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.admin_port, timeout=10)
        try:
            conn.request("GET", "/metrics")
            text = conn.getresponse().read().decode()
        finally:
            conn.close()
        for line in text.splitlines():
            if line.startswith(line_prefix + " "):
                return float(line.split()[-1])
        return 0

    MERGED = 'sessiongate_patches_applied_total{backend="api",source="set_cookie"}'

    def direct(self, method, path, cookie=None, body=None):
        """A request straight to the FastAPI app: (session, Set-Cookie list)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.api_port, timeout=10)
        try:
            headers = {"Content-Type": "application/json"}
            if cookie:
                headers["Cookie"] = "session=" + cookie
            conn.request(method, path, body=body, headers=headers)
            r = conn.getresponse()
            data = json.loads(r.read())
            return data, r.headers.get_all("Set-Cookie") or []
        finally:
            conn.close()

    # ---- sharing both ways ----

    def test_set_on_flask_read_on_fastapi(self):
        c = self.client()
        self.assertEqual(self.api_session(c), {})
        self.assertJar(c, {})
        r = self.call(c, "POST", "/flask/set", json={"user": "alice", "n": 1})
        self.one_cookie(r)
        self.assertJar(c, {"user": "alice", "n": 1})
        r = self.call(c, "GET", "/api/session")
        self.assertEqual(r.json(), {"n": 1, "user": "alice"})
        self.no_cookie(r)
        self.assertJar(c, {"user": "alice", "n": 1})
        r = self.call(c, "POST", "/api/visit")
        self.assertEqual(r.json(), {"visits": 1, "user": "alice"})
        self.one_cookie(r)
        self.assertJar(c, {"user": "alice", "n": 1, "visits": 1})

    def test_set_on_fastapi_read_on_flask(self):
        c = self.client()
        data = {"cart": [1, 2, {"sku": "x"}], "name": "Zo\u00eb \u2603 \U0001F600",
                "none": None, "f": 1.5, "big": 2 ** 70}
        r = self.call(c, "POST", "/api/set", json=data)
        self.one_cookie(r)
        self.assertJar(c, data)
        fs = self.flask_session(c)
        self.assertEqual(fs["cart"]["type"], "list")
        self.assertEqual(fs["name"], {"type": "str", "value": data["name"]})
        self.assertEqual(fs["big"], {"type": "int", "value": 2 ** 70})
        self.assertEqual(self.api_session(c), data)
        # and back: Flask changes one key, FastAPI sees it, the rest stays
        r = self.call(c, "POST", "/flask/set", json={"name": "Bob"})
        self.one_cookie(r)
        self.assertJar(c, dict(data, name="Bob"))
        self.assertEqual(self.api_session(c), dict(data, name="Bob"))

    def test_pop_on_each_side(self):
        c = self.client()
        self.call(c, "POST", "/flask/set", json={"a": 1, "b": 2, "c": 3})
        r = self.call(c, "POST", "/api/pop", json=["a"])
        self.one_cookie(r)
        self.assertJar(c, {"b": 2, "c": 3})
        self.assertEqual(self.flask_plain(c), {"b": 2, "c": 3})
        r = self.call(c, "POST", "/flask/pop", json=["b"])
        self.one_cookie(r)
        self.assertJar(c, {"c": 3})
        self.assertEqual(self.api_session(c), {"c": 3})
        # popping a key that is not there changes nothing
        r = self.call(c, "POST", "/api/pop", json=["zzz"])
        self.no_cookie(r)
        self.assertJar(c, {"c": 3})

    def test_delete_on_fastapi_gone_on_both(self):
        c = self.client()
        self.call(c, "POST", "/flask/set", json={"user": "alice"})
        self.call(c, "POST", "/api/set", json={"cart": [1]})
        self.assertJar(c, {"user": "alice", "cart": [1]})
        # 0.26 answers with "session=null; ... expires=1970": the session empties
        r = self.call(c, "POST", "/api/clear")
        self.deletion(r)
        self.assertJar(c, {})
        self.assertNotIn("session", [k.name for k in c.cookies])
        self.assertEqual(self.flask_session(c), {})
        self.assertEqual(self.api_session(c), {})
        # clearing an empty session again: nothing to delete
        r = self.call(c, "POST", "/api/clear")
        self.no_cookie(r)

    def test_delete_on_flask_gone_on_both(self):
        c = self.client()
        self.call(c, "POST", "/api/set", json={"cart": [1, 2]})
        self.call(c, "POST", "/flask/set", json={"user": "bob"})
        self.assertJar(c, {"cart": [1, 2], "user": "bob"})
        r = self.call(c, "POST", "/flask/clear")
        self.deletion(r)
        self.assertJar(c, {})
        self.assertEqual(self.api_session(c), {})
        self.assertEqual(self.flask_session(c), {})

    def test_flask_types_survive_a_fastapi_write(self):
        c = self.client()
        r = self.call(c, "POST", "/flask/types")
        self.one_cookie(r)
        before = self.jar(c)
        self.assertEqual(before["tup"], (1, "two", [3]))
        # FastAPI sees the plain view
        seen = self.api_session(c)
        self.assertEqual(seen["tup"], [1, "two", [3]])
        self.assertEqual(seen["when"], "2031-05-04T03:02:01Z")
        self.assertEqual(seen["uid"], "12345678-1234-5678-1234-567812345678")
        self.assertEqual(seen["html"], "<b>bold</b>")
        self.assertEqual(seen["tagdict"], {" t": "not a tuple"})
        # it writes another key; its Set-Cookie carries the whole plain session
        r = self.call(c, "POST", "/api/set", json={"api_n": 1})
        self.one_cookie(r)
        after = self.jar(c)
        self.assertEqual(after, dict(before, api_n=1))
        fs = self.flask_session(c)
        self.assertEqual(fs["tup"]["type"], "tuple")
        self.assertEqual(fs["raw"], {"type": "bytes", "hex": b"\x00\xffbytes".hex()})
        self.assertEqual(fs["when"], {"type": "datetime", "iso": "2031-05-04T03:02:01+00:00"})
        self.assertEqual(fs["uid"]["type"], "UUID")
        self.assertEqual(fs["html"]["type"], "Markup")
        self.assertEqual(fs["tagdict"]["type"], "dict")
        self.assertEqual(fs["api_n"], {"type": "int", "value": 1})
        # a tuple FastAPI rewrites becomes what it wrote: a list
        self.call(c, "POST", "/api/set", json={"tup": [1, "two", [3], 4]})
        self.assertEqual(self.flask_session(c)["tup"]["type"], "list")
        self.assertEqual(self.jar(c)["when"], before["when"])

    # ---- no Set-Cookie when nothing changed ----

    def test_no_set_cookie_when_unchanged(self):
        # Starlette 0.26 itself re-signs a non-empty session on every response
        stored, sc = self.direct("POST", "/api/set", body=json.dumps({"k": 1}))
        self.assertEqual(len(sc), 1, sc)
        own = sc[0].split(";")[0].split("=", 1)[1]
        again, sc = self.direct("GET", "/api/session", cookie=own)
        self.assertEqual(again, {"k": 1})
        self.assertEqual(len(sc), 1, "Starlette 0.26 should re-sign unchanged sessions")
        # behind sessiongate the client gets none, and keeps its exact bytes
        c = self.client()
        self.call(c, "POST", "/flask/set", json={"k": 1, "tup_free": "yes"})
        held = c.cookies.get("session")
        merged = self.metric(self.MERGED)
        for path in ("/api/session", "/api/session", "/flask/echo", "/api/cookies"):
            r = self.call(c, "GET", path)
            self.no_cookie(r)
            self.assertEqual(c.cookies.get("session"), held)
        # the app's re-signed cookie was recognised as the payload it got
        self.assertEqual(self.metric(self.MERGED), merged)
        # a session holding Flask-only types too (plain view != stored form)
        self.call(c, "POST", "/flask/types")
        held = c.cookies.get("session")
        for _ in range(3):
            self.no_cookie(self.call(c, "GET", "/api/session"))
        self.assertEqual(c.cookies.get("session"), held)
        # no session at all: nothing either way
        e = self.client()
        self.no_cookie(self.call(e, "GET", "/api/session"))
        self.assertJar(e, {})

    def test_each_change_is_one_cookie(self):
        c = self.client()
        merged = self.metric(self.MERGED)
        for n in range(1, 4):
            r = self.call(c, "POST", "/api/visit")
            self.assertEqual(r.json()["visits"], n)
            self.one_cookie(r)
            self.assertJar(c, {"visits": n})
        self.assertEqual(self.flask_plain(c), {"visits": 3})
        self.assertGreaterEqual(self.metric(self.MERGED), merged + 3)

    def test_app_gets_only_its_cookie(self):
        c = self.client()
        c.cookies.set("other", "1", domain="127.0.0.1", path="/")
        self.call(c, "POST", "/flask/set", json={"u": 1})
        # same names: the Flask cookie is replaced by a Starlette one
        self.assertEqual(self.call(c, "GET", "/api/cookies").json(), ["other", "session"])
        # different names (sg2): the Flask cookie is not there at all
        d = self.client()
        d.cookies.set("other", "1", domain="127.0.0.1", path="/")
        self.call(d, "POST", "/flask/set", sg=self.sg2, json={"u": 1})
        self.assertEqual(self.call(d, "GET", "/api/cookies", sg=self.sg2).json(),
                         ["other", "st"])
        # a client-sent "st" cookie never reaches the app as is
        d.cookies.set("st", "forged", domain="127.0.0.1", path="/")
        self.assertEqual(self.api_session(d, sg=self.sg2), {"u": 1})
        e = self.client()
        e.cookies.set("st", "forged", domain="127.0.0.1", path="/")
        self.assertEqual(self.call(e, "GET", "/api/cookies", sg=self.sg2).json(), [])

    # ---- different cookie names, default key ----

    def test_different_cookie_names_share_both_ways(self):
        c = self.client()
        r = self.call(c, "POST", "/api/set", sg=self.sg2, json={"cart": [7]})
        self.one_cookie(r)
        self.assertJar(c, {"cart": [7]})
        self.assertEqual(self.flask_plain(c, sg=self.sg2), {"cart": [{"type": "int", "value": 7}]})
        r = self.call(c, "POST", "/flask/set", sg=self.sg2, json={"user": "carol"})
        self.one_cookie(r)
        r = self.call(c, "GET", "/api/session", sg=self.sg2)
        self.assertEqual(r.json(), {"cart": [7], "user": "carol"})
        self.no_cookie(r)
        r = self.call(c, "POST", "/api/clear", sg=self.sg2)
        self.deletion(r)
        self.assertJar(c, {})

    # ---- write policy, wrong key ----

    def test_write_policy(self):
        c = self.client()
        self.call(c, "POST", "/flask/set", json={"user": "alice"})
        mark = len(self.sg.log())
        r = self.call(c, "POST", "/ltd/api/set", json={"api_x": 1})
        self.one_cookie(r)
        self.assertJar(c, {"user": "alice", "api_x": 1})
        r = self.call(c, "POST", "/ltd/api/set", json={"user": "mallory", "api_y": 2})
        self.assertEqual(r.json(), {"user": "mallory", "api_x": 1, "api_y": 2})  # delivered
        self.no_cookie(r)  # but rejected as a whole
        self.assertJar(c, {"user": "alice", "api_x": 1})
        self.wait_log(mark, "backend ltd: Starlette session Set-Cookie rejected (forbidden)")
        r = self.call(c, "POST", "/ltd/api/clear")
        self.no_cookie(r)
        self.assertJar(c, {"user": "alice", "api_x": 1})
        r = self.call(c, "POST", "/ltd/api/pop", json=["api_x"])
        self.one_cookie(r)
        self.assertJar(c, {"user": "alice"})

    def test_wrong_starlette_key_is_logged_not_merged(self):
        c = self.client()
        self.call(c, "POST", "/flask/set", json={"user": "alice"})
        mark = len(self.sg.log())
        # the app cannot verify what we send: it sees an empty session
        self.assertEqual(self.api_session_at(c, "/wrong/api/session"), {})
        r = self.call(c, "POST", "/wrong/api/set", json={"x": 1})
        self.no_cookie(r)
        self.assertJar(c, {"user": "alice"})
        self.wait_log(mark, "backend wrong: its Starlette session Set-Cookie is dropped "
                            "(bad signature)")

    def api_session_at(self, c, path):
        return self.call(c, "GET", path).json()

    # ---- accept_starlette_cookies ----

    def old_starlette_cookie(self, data):
        """A cookie the FastAPI app set before sessiongate was in front of it."""
        _, sc = self.direct("POST", "/api/set", body=json.dumps(data))
        self.assertEqual(len(sc), 1, sc)
        return sc[0].split(";")[0].split("=", 1)[1]

    def test_starlette_cookie_upgraded_once(self):
        data = {"legacy": "yes", "items": [1, {"a": None}], "pair": {" t": [1]}}
        old = self.old_starlette_cookie(data)
        for first in ("/api/session", "/flask/echo"):
            with self.subTest(first=first):
                c = self.client()
                c.cookies.set("session", old, domain="127.0.0.1", path="/")
                mark = len(self.sg.log())
                be = "api" if first.startswith("/api") else "flask"
                ev = ('sessiongate_pipeline_events_total{backend="%s",'
                      'event="session_starlette_upgraded"}' % be)
                upgrades = self.metric(ev)
                r = self.call(c, "GET", first)
                self.one_cookie(r)
                self.assertNotEqual(c.cookies.get("session"), old)
                self.assertJar(c, data)  # a real Flask cookie now
                if first == "/api/session":
                    self.assertEqual(r.json(), data)
                else:
                    self.assertEqual(r.json()["session"]["legacy"],
                                     {"type": "str", "value": "yes"})
                self.wait_log(mark, "Starlette session cookie accepted once")
                self.assertEqual(self.metric(ev), upgrades + 1)
                # read once: from now on it is an ordinary Flask session
                held = c.cookies.get("session")
                self.no_cookie(self.call(c, "GET", "/api/session"))
                self.no_cookie(self.call(c, "GET", "/flask/echo"))
                self.assertEqual(c.cookies.get("session"), held)
                self.assertEqual(self.flask_session(c)["pair"]["type"], "dict")

    def test_starlette_cookie_upgraded_and_changed(self):
        old = self.old_starlette_cookie({"legacy": 1})
        c = self.client()
        c.cookies.set("session", old, domain="127.0.0.1", path="/")
        r = self.call(c, "POST", "/api/visit")
        self.one_cookie(r)
        self.assertJar(c, {"legacy": 1, "visits": 1})
        d = self.client()
        d.cookies.set("session", old, domain="127.0.0.1", path="/")
        r = self.call(d, "POST", "/flask/clear")
        self.deletion(r)
        self.assertJar(d, {})

    def test_starlette_cookie_without_accept(self):
        old = self.old_starlette_cookie({"legacy": 1})
        c = self.client()
        c.cookies.set("session", old, domain="127.0.0.1", path="/")
        # sg2 does not accept them: an empty session, and the cookie is not deleted
        self.assertEqual(self.api_session(c, sg=self.sg2), {})
        self.assertEqual(self.flask_session(c, sg=self.sg2), {})
        self.assertEqual(c.cookies.get("session"), old)
        # a Starlette cookie signed with a key sessiongate does not know: same on sg
        e = self.client()
        forged = old[:-3] + ("AAA" if not old.endswith("AAA") else "BBB")
        e.cookies.set("session", forged, domain="127.0.0.1", path="/")
        r = self.call(e, "GET", "/api/session")
        self.assertEqual(r.json(), {})
        self.no_cookie(r)
        self.assertEqual(e.cookies.get("session"), forged)


if __name__ == "__main__":
    harness.main()
