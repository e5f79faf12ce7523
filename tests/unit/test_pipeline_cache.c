/* tests/unit/test_pipeline_cache.c — daemon/pipeline.c's verified-cookie cache: hits give
 * exactly what a full decode gives, the clock is checked on every hit, a new key set
 * empties it, an older one bypasses it, and nothing unverified gets in; a canonical
 * cookie's patches are spliced (lib/splice.c) into the same cookie the DOM path gives. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cookie.h"
#include "errors.h"
#include "flask.h"
#include "pipeline_helpers.h"

static const char *yaml = "listen: 127.0.0.1:1\n"
			  "session:\n"
			  "  secret_key_file: /nonexistent\n"
			  "  max_age: 2s\n"
			  "backends:\n"
			  "  - name: api\n"
			  "    servers: [127.0.0.1:2]\n"
			  "  - name: flask\n"
			  "    servers: [127.0.0.1:3]\n"
			  "    session: cookie\n"
			  "routes:\n"
			  "  - prefix: /\n"
			  "    backend: api\n";

/* One configuration generation with its own secrets. */
static void gen_new(struct th_pipe *g, const char *secret, const char *fallback)
{
	th_pipe_load(g, yaml, secret, 16384);
	if (fallback) {
		struct sg_session_conf *s = &g->cfg->session;
		s->fallback_key_files = calloc(1, sizeof(*s->fallback_key_files));
		s->fallback_key_files[0] = strdup("/nonexistent");
		s->fallback_secrets = calloc(1, sizeof(*s->fallback_secrets));
		th_set_bytes(&s->fallback_secrets[0], fallback);
		s->nfallback = 1;
	}
	th_pipe_start(g);
}

static char *sign_at(const char *secret, const char *text, int64_t ts)
{
	signer *s = th_flask_signer(secret);
	char *v = th_flask_sign(s, text, ts);
	signer_free(s);
	return v;
}

/* What one request through the pipeline gave the backend and the client. */
struct seen {
	char outcome[32];
	char *xsession, *cookie, *set_cookie; /* NULL when absent */
};

static void request(struct th_pipe *g, size_t backend, const char *cookie, struct seen *out)
{
	char line[8192];
	snprintf(line, sizeof(line), "Cookie: a=1; session=%s; b=2\r\n", cookie);
	struct th_run r;
	th_run_req(&r, g, backend, line);
	ck_assert_int_eq(r.req_status, 0);
	th_run_resp(&r, "");
	ck_assert_int_eq(r.resp_status, 0);
	snprintf(out->outcome, sizeof(out->outcome), "%s", r.ctx.session_outcome);
	out->xsession = th_hdr(&r.req, "x-session");
	out->cookie = th_hdr(&r.req, "cookie");
	out->set_cookie = th_hdr(&r.resp, "set-cookie");
	th_run_free(&r);
}

static void seen_free(struct seen *s)
{
	free(s->xsession);
	free(s->cookie);
	free(s->set_cookie);
}

static void stats(uint64_t *hits, uint64_t *misses, size_t *entries)
{
	pipeline_thread_cache_stats(hits, misses, entries);
}

/* A second request with the same cookie is a hit, and the backend and the
 * client see exactly what the first (full decode) gave them. */
START_TEST(test_hit_same_as_decode)
{
	static const char *const sessions[] = {
	    "{\"_user_id\":\"42\",\"csrf_token\":\"abc\"}",
	    ("{\"t\":{\" t\":[1,2]},\"b\":{\" b\":\"AAE=\"},\"u\":{\" "
	     "u\":\"0123456789abcdef0123456789abcdef\"}}"),
	    "{\"_permanent\":true,\"n\":1}",
	};
	struct th_pipe g;
	gen_new(&g, "secret", NULL);
	for (size_t i = 0; i < TH_NELEMS(sessions); i++) {
		char *c = sign_at("secret", sessions[i], time(NULL));
		for (size_t backend = 0; backend < 2; backend++) {
			uint64_t h0, m0, h1, m1;
			size_t e;
			struct seen a, b;
			stats(&h0, &m0, &e);
			request(&g, backend, c, &a);
			request(&g, backend, c, &b);
			stats(&h1, &m1, &e);
			ck_assert_uint_eq(h1, h0 + (backend == 0 ? 1 : 2));
			ck_assert_uint_eq(m1, m0 + (backend == 0 ? 1 : 0));
			ck_assert_str_eq(a.outcome, "valid");
			ck_assert_str_eq(b.outcome, "valid");
			ck_assert_str_eq(a.xsession, b.xsession);
			ck_assert_str_eq(a.cookie, b.cookie);
			/* a permanent session is refreshed on hits too */
			ck_assert_int_eq(a.set_cookie != NULL, i == 2);
			ck_assert_int_eq(b.set_cookie != NULL, i == 2);
			seen_free(&a);
			seen_free(&b);
		}
		free(c);
	}
	struct seen s;
	char *c = sign_at("secret", sessions[1], time(NULL));
	request(&g, 0, c, &s);
	ck_assert_str_eq(
	    s.xsession,
	    "{\"b\":\"AAE=\",\"t\":[1,2],\"u\":\"01234567-89ab-cdef-0123-456789abcdef\"}");
	seen_free(&s);
	free(c);
	th_pipe_free(&g);
}
END_TEST

/* max_age is checked against the stored timestamp on every hit. */
START_TEST(test_hit_expires)
{
	struct th_pipe g;
	gen_new(&g, "secret", NULL);
	char *c = sign_at("secret", "{\"a\":1}", time(NULL));
	struct seen s;
	request(&g, 0, c, &s);
	ck_assert_str_eq(s.outcome, "valid");
	seen_free(&s);
	uint64_t h0, m0, h1, m1;
	size_t e;
	stats(&h0, &m0, &e);
	ck_assert_uint_eq(e, 1);
	sleep(3); /* max_age: 2s */
	request(&g, 0, c, &s);
	stats(&h1, &m1, &e);
	ck_assert_uint_eq(h1, h0 + 1); /* found, and refused by the clock */
	ck_assert_str_eq(s.outcome, "expired");
	ck_assert_str_eq(s.xsession, "{}");
	ck_assert_str_eq(s.cookie, "a=1; b=2");
	seen_free(&s);
	free(c);
	/* signed in the future: refused the same way, never cached */
	c = sign_at("secret", "{\"a\":2}", time(NULL) + 100);
	request(&g, 0, c, &s);
	ck_assert_str_eq(s.outcome, "future");
	seen_free(&s);
	free(c);
	th_pipe_free(&g);
}
END_TEST

/* A reload that rotates keys empties the cache: a cookie cached under the
 * old key is refused under the new set; requests still running on the old
 * generation bypass the cache. */
START_TEST(test_generations)
{
	struct th_pipe old, rot;
	gen_new(&old, "old-secret", NULL);
	char *c = sign_at("old-secret", "{\"a\":1}", time(NULL));
	struct seen s;
	request(&old, 0, c, &s);
	ck_assert_str_eq(s.outcome, "valid");
	seen_free(&s);
	request(&old, 0, c, &s); /* cached now */
	seen_free(&s);
	uint64_t h0, m0, h1, m1;
	size_t e;
	stats(&h0, &m0, &e);
	ck_assert_uint_eq(e, 1);

	gen_new(&rot, "new-secret", NULL);
	request(&rot, 0, c, &s);
	ck_assert_str_eq(s.outcome, "bad_signature");
	ck_assert_str_eq(s.xsession, "{}");
	seen_free(&s);
	stats(&h1, &m1, &e);
	ck_assert_uint_eq(h1, h0);
	ck_assert_uint_eq(e, 0);

	/* an in-flight request of the old generation: decoded in full, not cached */
	request(&old, 0, c, &s);
	ck_assert_str_eq(s.outcome, "valid");
	seen_free(&s);
	stats(&h1, &m1, &e);
	ck_assert_uint_eq(h1, h0);
	ck_assert_uint_eq(m1, m0 + 1);
	ck_assert_uint_eq(e, 0);

	/* the new key with the old one as fallback: verified again, key index kept
	 * (a cookie backend gets it re-signed with the current key, hit or not) */
	struct th_pipe fb;
	gen_new(&fb, "new-secret", "old-secret");
	struct seen a, b;
	request(&fb, 1, c, &a);
	request(&fb, 1, c, &b);
	ck_assert_str_eq(a.outcome, "valid");
	ck_assert_str_eq(b.outcome, "valid");
	ck_assert_ptr_null(strstr(a.cookie, c));
	ck_assert_ptr_null(strstr(b.cookie, c));
	stats(&h1, &m1, &e);
	ck_assert_uint_eq(h1, h0 + 1);
	seen_free(&a);
	seen_free(&b);
	free(c);
	th_pipe_free(&old);
	th_pipe_free(&rot);
	th_pipe_free(&fb);
}
END_TEST

/* Forged, tampered and malformed cookies never enter the cache. */
START_TEST(test_only_verified_enter)
{
	struct th_pipe g;
	gen_new(&g, "secret", NULL);
	char *good = sign_at("secret", "{\"a\":1}", time(NULL));
	char *forged = sign_at("other", "{\"a\":1}", time(NULL));
	char *notobj = sign_at("secret", "[1,2]", time(NULL));
	/* signed by the key holder, but not JSON: never forwarded (nor cached) */
	char *notjson = sign_at("secret", "{?\"a\":1}", time(NULL));
	/* a session that is itself a tag: its plain view is no object */
	char *tagged = sign_at("secret", "{\" d\":\"a\"}", time(NULL));
	char *tampered = strdup(good);
	char *t = &tampered[strlen(tampered) - 2]; /* another base64url character */
	*t = *t == 'A' ? 'B' : 'A';
	const char *bad[] = {forged, tampered, notobj, notjson, tagged, "garbage", "a.b.c"};
	for (int round = 0; round < 2; round++) {
		for (size_t i = 0; i < TH_NELEMS(bad); i++) {
			struct seen s;
			request(&g, 0, bad[i], &s);
			ck_assert_str_eq(s.outcome, i < 2 ? "bad_signature" : "malformed");
			ck_assert_str_eq(s.xsession, "{}");
			seen_free(&s);
		}
	}
	uint64_t h, m;
	size_t e;
	stats(&h, &m, &e);
	ck_assert_uint_eq(h, 0);
	ck_assert_uint_eq(e, 0);
	struct seen s;
	request(&g, 0, good, &s);
	seen_free(&s);
	stats(&h, &m, &e);
	ck_assert_uint_eq(e, 1);
	/* nested deeper than our parser goes: trusted data, forwarded as stored */
	char deep[300] = "{\"a\":";
	for (int i = 0; i < 100; i++)
		strcat(deep, "[");
	for (int i = 0; i < 100; i++)
		strcat(deep, "]");
	strcat(deep, "}");
	char *dc = sign_at("secret", deep, time(NULL));
	request(&g, 0, dc, &s);
	ck_assert_str_eq(s.outcome, "valid");
	ck_assert_str_eq(s.xsession, deep);
	seen_free(&s);
	free(dc);
	free(good);
	free(forged);
	free(notobj);
	free(notjson);
	free(tagged);
	free(tampered);
	th_pipe_free(&g);
}
END_TEST

/* The payload of a Set-Cookie for the session: "session=" up to the
 * timestamp (which moves with the clock), or the whole header for a
 * deletion; NULL stays NULL. */
static char *payload(const char *set_cookie)
{
	if (!set_cookie)
		return NULL;
	char *v = strdup(set_cookie);
	char *end = strchr(v, ';');
	if (end && strncmp(v, "session=;", 9) != 0) {
		*end = '\0';
		*strrchr(v, '.') = '\0'; /* the signature */
		*strrchr(v, '.') = '\0'; /* the timestamp */
	}
	return v;
}

/* One request with cookie whose response carries the patch headers; the
 * Set-Cookie payload and how many patches were spliced. */
static char *patched(struct th_pipe *g, const char *cookie, const char *patches, uint64_t *spliced)
{
	char line[8192];
	snprintf(line, sizeof(line), "Cookie: session=%s\r\n", cookie);
	struct th_run r;
	uint64_t before = pipeline_thread_spliced();
	th_run_req(&r, g, 0, line);
	ck_assert_int_eq(r.req_status, 0);
	th_run_resp(&r, patches);
	ck_assert_int_eq(r.resp_status, 0);
	char *sc = th_hdr(&r.resp, "set-cookie");
	char *p = payload(sc);
	free(sc);
	th_run_free(&r);
	*spliced = pipeline_thread_spliced() - before;
	return p;
}

/* Patches on a cookie whose JSON is Flask's own text are spliced (the
 * first request already: the miss learns it); the same session stored in
 * another form (spaces, keys unsorted: Flask reads it) takes the DOM path.
 * Both answer with the same cookie, or both with none. */
START_TEST(test_splice_same_as_dom)
{
	static const struct {
		const char *patches;
		unsigned spliced; /* with the canonical cookie */
	} cases[] = {
	    {"X-Session-Patch: {\"n\":1}\r\n", 1},
	    {"X-Session-Patch: {\"_fresh\":true}\r\n", 1}, /* unchanged: no cookie */
	    {"X-Session-Patch: {\"gone\":null}\r\n", 1},   /* unchanged */
	    {"X-Session-Patch: {\"_fresh\":null,\"_id\":null,\"_user_id\":null}\r\n", 1},
	    {"X-Session-Patch: {\"_permanent\":true}\r\n", 1},
	    {"X-Session-Patch: {\"a\":1}\r\nX_Session_Patch: {\"a\":2,\"b\":\"\\u00e9\"}\r\n", 2},
	    {"X-Session-Patch: {\"a\":1}\r\nX-Session-Patch: {\"o\":{\"x\":1}}\r\n", 0},
	    {"X-Session-Patch: [{\"op\":\"remove\",\"path\":\"/_id\"}]\r\n", 0},
	    {"X-Session-Patch: {\"a\":\r\n", 0}, /* malformed: rejected, no cookie */
	};
	struct th_pipe g;
	gen_new(&g, "secret", NULL);
	int64_t now = time(NULL);
	char *canon =
	    sign_at("secret", "{\"_fresh\":true,\"_id\":\"f6\",\"_user_id\":\"42\"}", now);
	char *other =
	    sign_at("secret", "{\"_user_id\": \"42\", \"_id\": \"f6\", \"_fresh\": true}", now);
	for (size_t i = 0; i < TH_NELEMS(cases); i++) {
		uint64_t ns, no;
		char *a = patched(&g, canon, cases[i].patches, &ns);
		char *b = patched(&g, other, cases[i].patches, &no);
		ck_assert_msg(ns == cases[i].spliced, "case %zu: %llu spliced", i,
			      (unsigned long long)ns);
		ck_assert_msg(no == 0, "case %zu: the other form was spliced", i);
		ck_assert_msg((a == NULL) == (b == NULL) && (!a || strcmp(a, b) == 0),
			      "case %zu:\nspliced %s\nDOM     %s", i, a ? a : "(none)",
			      b ? b : "(none)");
		ck_assert_msg((a != NULL) == (i != 1 && i != 2 && i != 8), "case %zu: cookie %s", i,
			      a ? a : "(none)");
		free(a);
		free(b);
	}
	free(canon);
	free(other);
	th_pipe_free(&g);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("pipeline_cache");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_hit_same_as_decode);
	tcase_add_test(tc, test_hit_expires);
	tcase_add_test(tc, test_generations);
	tcase_add_test(tc, test_only_verified_enter);
	tcase_add_test(tc, test_splice_same_as_dom);
	suite_add_tcase(s, tc);
	return th_run_suite(s);
}
