/* tests/unit/test_pipeline.c — daemon/pipeline.c on parsed heads, without
 * sockets: the session header in, patches and cookies out, permanence, limits
 * and counters (end-to-end behaviour with real apps: tests/e2e/test_session.py). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cfgload.h"
#include "cookie.h"
#include "errors.h"
#include "flask.h"
#include "http.h"
#include "pipeline.h"
#include "signer.h"

#define SECRET "unit-secret"

static const struct http_limits lim = {16384, 50, 0, true};

static const char *yaml = "listen: 127.0.0.1:1\n"
			  "session:\n"
			  "  secret_key_file: /nonexistent\n"
			  "  header_max: 200\n"
			  "backends:\n"
			  "  - name: api\n"
			  "    servers: [127.0.0.1:2]\n"
			  "  - name: flask\n"
			  "    servers: [127.0.0.1:3]\n"
			  "    session: cookie\n"
			  "  - name: ltd\n"
			  "    servers: [127.0.0.1:2]\n"
			  "    writable_keys: [\"api_*\"]\n"
			  "routes:\n"
			  "  - prefix: /\n"
			  "    backend: api\n";

static struct sg_config *cfg;
static void *pconf;
static signer *sgn;

static void setup(void)
{
	char err[256];
	ck_assert_int_eq(cfgload_buffer("t.yaml", yaml, strlen(yaml), CFGLOAD_NO_SECRETS, &cfg, err,
					sizeof(err)),
			 0);
	cfg->session.secret.ptr = (unsigned char *)strdup(SECRET);
	cfg->session.secret.len = strlen(SECRET);
	pconf = pipeline_conf_new(cfg);
	ck_assert_ptr_nonnull(pconf);
	ck_assert_int_eq(signer_new(SIGNER_SHA1, SIGNER_KDF_HMAC, "cookie-session", 14, &sgn), 0);
	ck_assert_int_eq(signer_add_key(sgn, SECRET, strlen(SECRET)), 0);
}

static void teardown(void)
{
	pipeline_conf_free(pconf);
	config_free(cfg);
	signer_free(sgn);
}

/* A cookie value for the session JSON text, signed now. */
static char *sign(const char *text)
{
	char *v;
	size_t n;
	ck_assert_int_eq(flask_encode_text(sgn, NULL, text, strlen(text), time(NULL), &v, &n), 0);
	return v;
}

static void parse(struct http_msg *m, enum http_kind kind, const char *raw)
{
	struct http_parser p;
	http_parser_init(&p, kind, &lim);
	http_msg_init(m);
	size_t used;
	ck_assert_int_eq(http_head_feed(&p, m, raw, strlen(raw), &used), HTTP_DONE);
	http_parser_clear(&p);
}

struct run {
	struct pipeline_ctx ctx;
	struct http_msg req, resp;
	int req_status, resp_status;
};

/* Runs a request head (extra header lines in req_hdrs) and a response head
 * (resp_hdrs) through the pipeline for backend b. */
static void run(struct run *r, size_t b, const char *req_hdrs, const char *resp_hdrs)
{
	char buf[16384];
	snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\nHost: a\r\n%s\r\n", req_hdrs);
	parse(&r->req, HTTP_KIND_REQUEST, buf);
	http_strip_hop(&r->req);
	r->ctx = (struct pipeline_ctx){.cfg = cfg,
				       .conf_state = pconf,
				       .backend = &cfg->backends[b],
				       .backend_index = b,
				       .req = &r->req,
				       .peer = "127.0.0.1"};
	r->req_status = pipeline_request(&r->ctx);
	r->resp_status = -1;
	if (r->req_status == 0 && resp_hdrs) {
		snprintf(buf, sizeof(buf), "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n%s\r\n",
			 resp_hdrs);
		parse(&r->resp, HTTP_KIND_RESPONSE, buf);
		r->resp_status = pipeline_response(&r->ctx, &r->resp);
	} else {
		http_msg_init(&r->resp);
	}
}

static void run_free(struct run *r)
{
	pipeline_done(&r->ctx);
	http_msg_clear(&r->req);
	http_msg_clear(&r->resp);
}

static char *hdr(const struct http_msg *m, const char *name)
{
	size_t n;
	const char *v = http_hdr_get(m, name, strlen(name), 0, &n);
	return v ? strndup(v, n) : NULL;
}

static unsigned hdr_count(const struct http_msg *m, const char *name, unsigned match)
{
	unsigned k = 0;
	for (int i = 0; (i = http_hdr_next(m, i, name, strlen(name), match)) >= 0; i++)
		k++;
	return k;
}

/* The session JSON inside the response's Set-Cookie (NULL if none). */
static char *set_cookie_session(const struct http_msg *m, bool *deletion)
{
	char *sc = hdr(m, "set-cookie");
	if (!sc)
		return NULL;
	struct set_cookie c;
	ck_assert_int_eq(cookie_parse_set_cookie(sc, strlen(sc), &c), 0);
	*deletion = cookie_is_deletion(&c, time(NULL));
	char *out = NULL;
	if (!*deletion) {
		flask_session *fs;
		ck_assert_int_eq(
		    flask_decode(sgn, NULL, c.value, c.value_len, time(NULL), 3600, &fs), 0);
		out = strndup(fs->json, fs->json_len);
		flask_session_free(fs);
	}
	free(sc);
	return out;
}

START_TEST(test_no_cookie)
{
	uint64_t before[PC_COUNT], after[PC_COUNT], mine[PC_COUNT];
	pipeline_counters(before);
	struct run r;
	run(&r, 0, "X-Session: {\"_user_id\":\"x\"}\r\nX_SESSION: 1\r\nx-session-patch: {}\r\n",
	    "Vary: Accept\r\n");
	ck_assert_int_eq(r.req_status, 0);
	ck_assert_str_eq(r.ctx.session_outcome, "missing");
	ck_assert_uint_eq(hdr_count(&r.req, "x-session", HTTP_MATCH_UNDERSCORE), 1);
	ck_assert_uint_eq(hdr_count(&r.req, "x-session-patch", HTTP_MATCH_UNDERSCORE), 0);
	char *v = hdr(&r.req, "x-session");
	ck_assert_str_eq(v, "{}");
	free(v);
	ck_assert_int_eq(r.resp_status, 0);
	ck_assert_uint_eq(hdr_count(&r.resp, "set-cookie", 0), 0);
	ck_assert_uint_eq(hdr_count(&r.resp, "vary", 0), 2);
	ck_assert(!r.ctx.resigned);
	run_free(&r);
	pipeline_counters(after);
	ck_assert_uint_eq(after[PC_SESSION_MISSING], before[PC_SESSION_MISSING] + 1);
	pipeline_thread_counters(mine); /* the only thread here */
	ck_assert_uint_eq(mine[PC_SESSION_MISSING], after[PC_SESSION_MISSING]);
	ck_assert_str_eq(pipeline_counter_name(PC_REJECT_FORBIDDEN), "reject_forbidden");
}
END_TEST

START_TEST(test_valid_cookie_plain_view)
{
	char *c = sign("{\"a\":1,\"t\":{\" t\":[1,2]}}");
	char line[512];
	snprintf(line, sizeof(line), "Cookie: x=1; session=%s; y=2\r\nCookie: z=3\r\n", c);
	struct run r;
	run(&r, 0, line, "Vary: accept, COOKIE\r\n");
	ck_assert_str_eq(r.ctx.session_outcome, "valid");
	char *v = hdr(&r.req, "x-session");
	ck_assert_str_eq(v, "{\"a\":1,\"t\":[1,2]}");
	free(v);
	/* header backends lose the session cookie; other cookies joined, kept */
	ck_assert_uint_eq(hdr_count(&r.req, "cookie", 0), 1);
	v = hdr(&r.req, "cookie");
	ck_assert_str_eq(v, "x=1; y=2; z=3");
	free(v);
	ck_assert_uint_eq(hdr_count(&r.resp, "set-cookie", 0), 0);
	ck_assert_uint_eq(hdr_count(&r.resp, "vary", 0), 1); /* already varies on Cookie */
	run_free(&r);

	/* a cookie backend keeps the cookie as sent */
	snprintf(line, sizeof(line), "Cookie: session=%s\r\n", c);
	run(&r, 1, line, "");
	v = hdr(&r.req, "cookie");
	ck_assert_uint_eq(strlen(v), strlen(line) - 10);
	ck_assert(strncmp(v, line + 8, strlen(v)) == 0);
	free(v);
	run_free(&r);
	free(c);
}
END_TEST

START_TEST(test_refused_cookies)
{
	static const struct {
		const char *cookie, *outcome;
	} cases[] = {
	    {"eyJhIjoxfQ.ZmFrZQ.AAAAAAAAAAAAAAAAAAAAAAAAAAA", "bad_signature"},
	    {"garbage", "malformed"},
	    {"", "missing"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char line[256];
		snprintf(line, sizeof(line), "Cookie: session=%s\r\n", cases[i].cookie);
		struct run r;
		run(&r, 1, line, "");
		ck_assert_str_eq(r.ctx.session_outcome, cases[i].outcome);
		char *v = hdr(&r.req, "x-session");
		ck_assert_str_eq(v, "{}");
		free(v);
		/* never forwarded, even to a cookie backend; never deleted */
		ck_assert_uint_eq(hdr_count(&r.req, "cookie", 0), 0);
		ck_assert_uint_eq(hdr_count(&r.resp, "set-cookie", 0), 0);
		run_free(&r);
	}
	/* a session that is not a JSON object */
	char *c = sign("[1]");
	char line[256];
	snprintf(line, sizeof(line), "Cookie: session=%s\r\n", c);
	struct run r;
	run(&r, 0, line, "");
	ck_assert_str_eq(r.ctx.session_outcome, "malformed");
	run_free(&r);
	free(c);
}
END_TEST

START_TEST(test_patches)
{
	char *c = sign("{\"a\":1,\"b\":{\" b\":\"AAE=\"}}");
	char line[512];
	snprintf(line, sizeof(line), "Cookie: session=%s\r\n", c);
	struct run r;
	run(&r, 0, line,
	    "X-Session-Patch: {\"a\":2}\r\nX-Session-Patch: garbage\r\n"
	    "X_Session_Patch: [{\"op\":\"test\",\"path\":\"/a\",\"value\":2},"
	    "{\"op\":\"add\",\"path\":\"/c\",\"value\":{\" t\":1}}]\r\n");
	ck_assert_int_eq(r.resp_status, 0);
	ck_assert_uint_eq(hdr_count(&r.resp, "x-session-patch", HTTP_MATCH_UNDERSCORE), 0);
	bool del;
	char *s = set_cookie_session(&r.resp, &del);
	ck_assert(!del);
	ck_assert_str_eq(s, "{\"a\":2,\"b\":{\" b\":\"AAE=\"},\"c\":{\" di\":{\" t__\":1}}}");
	ck_assert(r.ctx.resigned);
	free(s);
	run_free(&r);

	/* write policy: rejected as a whole */
	run(&r, 2, line, "X-Session-Patch: {\"api_x\":1,\"a\":3}\r\n");
	ck_assert_int_eq(r.resp_status, 0);
	ck_assert_uint_eq(hdr_count(&r.resp, "set-cookie", 0), 0);
	run_free(&r);
	run(&r, 2, line, "X-Session-Patch: {\"api_x\":1}\r\n");
	s = set_cookie_session(&r.resp, &del);
	ck_assert_str_eq(s, "{\"a\":1,\"api_x\":1,\"b\":{\" b\":\"AAE=\"}}");
	free(s);
	run_free(&r);

	/* more patch headers than allowed: none applies */
	char many[2048] = "";
	for (int i = 0; i < 17; i++)
		strcat(many, "X-Session-Patch: {\"n\":1}\r\n");
	run(&r, 0, line, many);
	ck_assert_uint_eq(hdr_count(&r.resp, "set-cookie", 0), 0);
	ck_assert_uint_eq(hdr_count(&r.resp, "x-session-patch", 0), 0);
	run_free(&r);

	/* emptied: one deletion cookie */
	run(&r, 0, line, "X-Session-Patch: {\"a\":null,\"b\":null}\r\n");
	s = set_cookie_session(&r.resp, &del);
	ck_assert(del);
	ck_assert_ptr_null(s);
	ck_assert(!r.ctx.resigned);
	run_free(&r);
	free(c);
}
END_TEST

START_TEST(test_cookie_backend_set_cookie)
{
	char *c = sign("{\"a\":1,\"keep\":true}");
	char *mine = sign("{\"a\":1,\"b\":2,\"keep\":true}");
	char line[512], resp[512];
	snprintf(line, sizeof(line), "Cookie: session=%s\r\n", c);
	snprintf(resp, sizeof(resp), "Set-Cookie: other=1\r\nSet-Cookie: session=%s; Path=/\r\n",
		 mine);
	struct run r;
	run(&r, 1, line, resp);
	ck_assert_uint_eq(hdr_count(&r.resp, "set-cookie", 0), 2); /* other=1 and ours */
	bool del;
	char *s = NULL;
	for (int i = 0; (i = http_hdr_next(&r.resp, i, "set-cookie", 10, 0)) >= 0; i++) {
		size_t n;
		const char *v = http_hdr_value(&r.resp, (unsigned)i, &n);
		if (strncmp(v, "session=", 8) == 0) {
			flask_session *fs;
			ck_assert_ptr_null(s);
			const char *e = memchr(v, ';', n);
			ck_assert_int_eq(flask_decode(sgn, NULL, v + 8, (size_t)(e - v - 8),
						      time(NULL), 60, &fs),
					 0);
			s = strndup(fs->json, fs->json_len);
			flask_session_free(fs);
		}
	}
	ck_assert_str_eq(s, "{\"a\":1,\"b\":2,\"keep\":true}");
	free(s);
	run_free(&r);

	/* a forged one is dropped; a deletion empties */
	run(&r, 1, line, "Set-Cookie: session=eyJhIjoxfQ.ZmFrZQ.AAAAAAAAAAAAAAAAAAAAAAAAAAA\r\n");
	ck_assert_uint_eq(hdr_count(&r.resp, "set-cookie", 0), 0);
	run_free(&r);
	run(&r, 1, line,
	    "Set-Cookie: session=; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; Path=/\r\n");
	s = set_cookie_session(&r.resp, &del);
	ck_assert(del);
	run_free(&r);
	/* a header backend may not set the session cookie */
	run(&r, 0, line, resp);
	ck_assert_uint_eq(hdr_count(&r.resp, "set-cookie", 0), 1);
	run_free(&r);
	free(c);
	free(mine);
}
END_TEST

START_TEST(test_permanent_refresh)
{
	static const struct {
		const char *json;
		bool refresh;
	} cases[] = {
	    {"{\"_permanent\":true,\"a\":1}", true},
	    {"{\"a\":1,\"_permanent\":true}", true},
	    {"{\"a\":\"\\\"_permanent\\\":true\"}", false},
	    {"{\"a\":{\"_permanent\":true}}", false},
	    {"{\"_permanent\":false}", false},
	    {"{\"x\":[1,{\"y\":2}],\"_permanent\":true}", true},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *c = sign(cases[i].json);
		char line[512];
		snprintf(line, sizeof(line), "Cookie: session=%s\r\n", c);
		struct run r;
		run(&r, 0, line, "");
		char *sc = hdr(&r.resp, "set-cookie");
		ck_assert_msg((sc != NULL) == cases[i].refresh, "case %zu", i);
		if (sc)
			ck_assert_ptr_nonnull(strstr(sc, "; Expires="));
		free(sc);
		run_free(&r);
		free(c);
	}
}
END_TEST

START_TEST(test_header_max)
{
	char big[400];
	snprintf(big, sizeof(big), "{\"a\":\"%0300d\"}", 0);
	char *c = sign(big);
	char line[1024];
	snprintf(line, sizeof(line), "Cookie: session=%s\r\n", c);
	struct run r;
	run(&r, 0, line, NULL);
	ck_assert_int_eq(r.req_status, 431);
	ck_assert_ptr_nonnull(r.ctx.why);
	run_free(&r);
	/* a cookie backend is still served, without the header */
	run(&r, 1, line, NULL);
	ck_assert_int_eq(r.req_status, 0);
	ck_assert_uint_eq(hdr_count(&r.req, "x-session", 0), 0);
	run_free(&r);
	free(c);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("pipeline");
	TCase *tc = tcase_create("core");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_no_cookie);
	tcase_add_test(tc, test_valid_cookie_plain_view);
	tcase_add_test(tc, test_refused_cookies);
	tcase_add_test(tc, test_patches);
	tcase_add_test(tc, test_cookie_backend_set_cookie);
	tcase_add_test(tc, test_permanent_refresh);
	tcase_add_test(tc, test_header_max);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
