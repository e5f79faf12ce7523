"""tests/e2e/test_ops_cache.py — the verified-cookie cache's /metrics series on
the real daemon: the same cookie sent twice is one miss then one hit, a new
cookie is one more entry, a forged one is a miss that is never cached."""
import json
import os

import harness
from test_ops import scrape, sign_cookie

HITS = "sessiongate_session_cache_hits_total"
MISSES = "sessiongate_session_cache_misses_total"
ENTRIES = "sessiongate_session_cache_entries"


class SessionCacheMetrics(harness.TestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.api = cls.start_backend("api", "echo_backend.py")
        # one worker (make_config's default): both requests meet the same cache
        cls.sg = cls.start_daemon({"api": [cls.api.addr]}, admin=True)
        cls.admin = cls.sg.admin
        cls.key_file = os.path.join(cls.tmp.name, "sessiongate", "secret_key")

    def counts(self):
        m = scrape(self, self.admin)
        self.assertEqual(m.types[HITS], "counter")
        self.assertEqual(m.types[MISSES], "counter")
        self.assertEqual(m.types[ENTRIES], "gauge")
        for name in (HITS, MISSES, ENTRIES):
            self.assertIn(name, m.helps)
        return m.get(HITS), m.get(MISSES), m.get(ENTRIES)

    def send(self, cookie):
        """One request with the cookie: the session the backend was handed."""
        status, _, body = self.sg.get("/echo", headers={"Cookie": f"session={cookie}"})
        self.assertEqual(status, 200, body)
        got = [v for k, v in json.loads(body)["headers"] if k.lower() == "x-session"]
        self.assertEqual(len(got), 1, body)
        return json.loads(got[0])

    def test_same_cookie_twice_then_another_then_forged(self):
        cookie = sign_cookie({"_user_id": "cache-1"}, self.key_file)
        h0, m0, e0 = self.counts()

        self.assertEqual(self.send(cookie), {"_user_id": "cache-1"})
        self.assertEqual(self.counts(), (h0, m0 + 1, e0 + 1))  # verified in full, cached
        self.assertEqual(self.send(cookie), {"_user_id": "cache-1"})
        self.assertEqual(self.counts(), (h0 + 1, m0 + 1, e0 + 1))  # the same bytes: a hit

        other = sign_cookie({"_user_id": "cache-2"}, self.key_file)
        self.assertEqual(self.send(other), {"_user_id": "cache-2"})
        self.assertEqual(self.counts(), (h0 + 1, m0 + 2, e0 + 2))

        # a forged signature is looked up, misses, fails and is never cached
        # (the signature's first character: all 6 of its bits are signature bits)
        body, sig = cookie.rsplit(".", 1)
        forged = body + "." + ("B" if sig[0] == "A" else "A") + sig[1:]
        for _ in range(2):
            self.assertEqual(self.send(forged), {})
        self.assertEqual(self.counts(), (h0 + 1, m0 + 4, e0 + 2))


if __name__ == "__main__":
    harness.main()
