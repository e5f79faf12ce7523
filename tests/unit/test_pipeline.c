/* tests/unit/test_pipeline.c — daemon/pipeline.c on parsed heads, without
 * sockets: the session header in, patches and cookies out, permanence, limits
 * and counters (end-to-end behaviour with real apps: tests/e2e/test_session.py). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cookie.h"
#include "errors.h"
#include "flask.h"
#include "pipeline_helpers.h"

#define SECRET "unit-secret"

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

static struct th_pipe pipe_;
static signer *sgn;

static void setup(void)
{
	th_pipe_load(&pipe_, yaml, SECRET, 16384);
	th_pipe_start(&pipe_);
	sgn = th_flask_signer(SECRET);
}

static void teardown(void)
{
	th_pipe_free(&pipe_);
	signer_free(sgn);
}

/* A cookie value for the session JSON text, signed now. */
static char *sign(const char *text)
{
	return th_flask_sign(sgn, text, time(NULL));
}

/* Runs a request head (extra header lines in req_hdrs) and, when it passes,
 * a response head (resp_hdrs, NULL for none) through the pipeline for backend b. */
static void run(struct th_run *r, size_t b, const char *req_hdrs, const char *resp_hdrs)
{
	th_run_req(r, &pipe_, b, req_hdrs);
	if (r->req_status == 0 && resp_hdrs)
		th_run_resp(r, resp_hdrs);
}

/* The session JSON inside the response's Set-Cookie (NULL if none). */
static char *set_cookie_session(const struct http_msg *m, bool *deletion)
{
	char *sc = th_hdr(m, "set-cookie");
	if (!sc)
		return NULL;
	struct set_cookie c;
	ck_assert_int_eq(cookie_parse_set_cookie(sc, strlen(sc), &c), 0);
	*deletion = cookie_is_deletion(&c, time(NULL));
	char *out = *deletion ? NULL : th_flask_json(sgn, c.value, c.value_len, 3600);
	free(sc);
	return out;
}

START_TEST(test_no_cookie)
{
	uint64_t before[PC_COUNT], after[PC_COUNT], mine[PC_COUNT];
	uint32_t ev[PC_COUNT];
	pipeline_counters(before);
	(void)pipeline_thread_take(ev);
	struct th_run r;
	run(&r, 0, "X-Session: {\"_user_id\":\"x\"}\r\nX_SESSION: 1\r\nx-session-patch: {}\r\n",
	    "Vary: Accept\r\n");
	ck_assert_int_eq(r.req_status, 0);
	ck_assert_str_eq(r.ctx.session_outcome, "missing");
	ck_assert_uint_eq(th_hdr_count(&r.req, "x-session", HTTP_MATCH_UNDERSCORE), 1);
	ck_assert_uint_eq(th_hdr_count(&r.req, "x-session-patch", HTTP_MATCH_UNDERSCORE), 0);
	char *v = th_hdr(&r.req, "x-session");
	ck_assert_str_eq(v, "{}");
	free(v);
	ck_assert_int_eq(r.resp_status, 0);
	ck_assert_uint_eq(th_hdr_count(&r.resp, "set-cookie", 0), 0);
	ck_assert_uint_eq(th_hdr_count(&r.resp, "vary", 0), 2);
	ck_assert(!r.ctx.resigned);
	th_run_free(&r);
	pipeline_counters(after);
	ck_assert_uint_eq(after[PC_SESSION_MISSING], before[PC_SESSION_MISSING] + 1);
	pipeline_thread_counters(mine); /* the only thread here */
	ck_assert_uint_eq(mine[PC_SESSION_MISSING], after[PC_SESSION_MISSING]);
	/* this request's events, once: what conn.c counts by backend */
	ck_assert_uint_eq(pipeline_thread_take(ev), 1u << PC_SESSION_MISSING);
	ck_assert_uint_eq(ev[PC_SESSION_MISSING], 1);
	ck_assert_uint_eq(pipeline_thread_take(ev), 0);
	ck_assert_str_eq(pipeline_counter_name(PC_REJECT_FORBIDDEN), "reject_forbidden");
}
END_TEST

START_TEST(test_valid_cookie_plain_view)
{
	char *c = sign("{\"a\":1,\"t\":{\" t\":[1,2]}}");
	char line[512];
	snprintf(line, sizeof(line), "Cookie: x=1; session=%s; y=2\r\nCookie: z=3\r\n", c);
	struct th_run r;
	run(&r, 0, line, "Vary: accept, COOKIE\r\n");
	ck_assert_str_eq(r.ctx.session_outcome, "valid");
	char *v = th_hdr(&r.req, "x-session");
	ck_assert_str_eq(v, "{\"a\":1,\"t\":[1,2]}");
	free(v);
	/* header backends lose the session cookie; other cookies joined, kept */
	ck_assert_uint_eq(th_hdr_count(&r.req, "cookie", 0), 1);
	v = th_hdr(&r.req, "cookie");
	ck_assert_str_eq(v, "x=1; y=2; z=3");
	free(v);
	ck_assert_uint_eq(th_hdr_count(&r.resp, "set-cookie", 0), 0);
	ck_assert_uint_eq(th_hdr_count(&r.resp, "vary", 0), 1); /* already varies on Cookie */
	th_run_free(&r);

	/* a cookie backend keeps the cookie as sent */
	snprintf(line, sizeof(line), "Cookie: session=%s\r\n", c);
	run(&r, 1, line, "");
	v = th_hdr(&r.req, "cookie");
	ck_assert_uint_eq(strlen(v), strlen(line) - 10);
	ck_assert(strncmp(v, line + 8, strlen(v)) == 0);
	free(v);
	th_run_free(&r);
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
	for (size_t i = 0; i < TH_NELEMS(cases); i++) {
		char line[256];
		snprintf(line, sizeof(line), "Cookie: session=%s\r\n", cases[i].cookie);
		struct th_run r;
		run(&r, 1, line, "");
		ck_assert_str_eq(r.ctx.session_outcome, cases[i].outcome);
		char *v = th_hdr(&r.req, "x-session");
		ck_assert_str_eq(v, "{}");
		free(v);
		/* never forwarded, even to a cookie backend; never deleted */
		ck_assert_uint_eq(th_hdr_count(&r.req, "cookie", 0), 0);
		ck_assert_uint_eq(th_hdr_count(&r.resp, "set-cookie", 0), 0);
		th_run_free(&r);
	}
	/* a session that is not a JSON object */
	char *line = th_session_line(sgn, "[1]");
	struct th_run r;
	run(&r, 0, line, "");
	ck_assert_str_eq(r.ctx.session_outcome, "malformed");
	th_run_free(&r);
	free(line);
}
END_TEST

START_TEST(test_patches)
{
	char *line = th_session_line(sgn, "{\"a\":1,\"b\":{\" b\":\"AAE=\"}}");
	struct th_run r;
	run(&r, 0, line,
	    "X-Session-Patch: {\"a\":2}\r\nX-Session-Patch: garbage\r\n"
	    "X_Session_Patch: [{\"op\":\"test\",\"path\":\"/a\",\"value\":2},"
	    "{\"op\":\"add\",\"path\":\"/c\",\"value\":{\" t\":1}}]\r\n");
	ck_assert_int_eq(r.resp_status, 0);
	ck_assert_uint_eq(th_hdr_count(&r.resp, "x-session-patch", HTTP_MATCH_UNDERSCORE), 0);
	bool del;
	char *s = set_cookie_session(&r.resp, &del);
	ck_assert(!del);
	ck_assert_str_eq(s, "{\"a\":2,\"b\":{\" b\":\"AAE=\"},\"c\":{\" di\":{\" t__\":1}}}");
	ck_assert(r.ctx.resigned);
	free(s);
	th_run_free(&r);

	/* write policy: rejected as a whole */
	run(&r, 2, line, "X-Session-Patch: {\"api_x\":1,\"a\":3}\r\n");
	ck_assert_int_eq(r.resp_status, 0);
	ck_assert_uint_eq(th_hdr_count(&r.resp, "set-cookie", 0), 0);
	th_run_free(&r);
	run(&r, 2, line, "X-Session-Patch: {\"api_x\":1}\r\n");
	s = set_cookie_session(&r.resp, &del);
	ck_assert_str_eq(s, "{\"a\":1,\"api_x\":1,\"b\":{\" b\":\"AAE=\"}}");
	free(s);
	th_run_free(&r);

	/* more patch headers than allowed: none applies */
	char many[2048] = "";
	for (int i = 0; i < 17; i++)
		strcat(many, "X-Session-Patch: {\"n\":1}\r\n");
	run(&r, 0, line, many);
	ck_assert_uint_eq(th_hdr_count(&r.resp, "set-cookie", 0), 0);
	ck_assert_uint_eq(th_hdr_count(&r.resp, "x-session-patch", 0), 0);
	th_run_free(&r);

	/* emptied: one deletion cookie */
	run(&r, 0, line, "X-Session-Patch: {\"a\":null,\"b\":null}\r\n");
	s = set_cookie_session(&r.resp, &del);
	ck_assert(del);
	ck_assert_ptr_null(s);
	ck_assert(!r.ctx.resigned);
	th_run_free(&r);
	free(line);
}
END_TEST

START_TEST(test_cookie_backend_set_cookie)
{
	char *line = th_session_line(sgn, "{\"a\":1,\"keep\":true}");
	char *mine = sign("{\"a\":1,\"b\":2,\"keep\":true}");
	char resp[512];
	snprintf(resp, sizeof(resp), "Set-Cookie: other=1\r\nSet-Cookie: session=%s; Path=/\r\n",
		 mine);
	struct th_run r;
	run(&r, 1, line, resp);
	ck_assert_uint_eq(th_hdr_count(&r.resp, "set-cookie", 0), 2); /* other=1 and ours */
	bool del;
	char *s = NULL;
	for (int i = 0; (i = http_hdr_next(&r.resp, i, "set-cookie", 10, 0)) >= 0; i++) {
		size_t n;
		const char *v = http_hdr_value(&r.resp, (unsigned)i, &n);
		if (strncmp(v, "session=", 8) == 0) {
			ck_assert_ptr_null(s);
			const char *e = memchr(v, ';', n);
			s = th_flask_json(sgn, v + 8, (size_t)(e - v - 8), 60);
		}
	}
	ck_assert_str_eq(s, "{\"a\":1,\"b\":2,\"keep\":true}");
	free(s);
	th_run_free(&r);

	/* a forged one is dropped; a deletion empties */
	run(&r, 1, line, "Set-Cookie: session=eyJhIjoxfQ.ZmFrZQ.AAAAAAAAAAAAAAAAAAAAAAAAAAA\r\n");
	ck_assert_uint_eq(th_hdr_count(&r.resp, "set-cookie", 0), 0);
	th_run_free(&r);
	run(&r, 1, line,
	    "Set-Cookie: session=; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; Path=/\r\n");
	s = set_cookie_session(&r.resp, &del);
	ck_assert(del);
	th_run_free(&r);
	/* a header backend may not set the session cookie */
	run(&r, 0, line, resp);
	ck_assert_uint_eq(th_hdr_count(&r.resp, "set-cookie", 0), 1);
	th_run_free(&r);
	free(line);
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
	    {"{\"a\":\"x\\\\\",\"_permanent\":true}", true},	      /* "x\\" ends there */
	    {"{\"a\":\"x\\\\\\\",\\\"_permanent\\\":true\"}", false}, /* "x\\\"... does not */
	    {"{\"_permanent\":false}", false},
	    {"{\"x\":[1,{\"y\":2}],\"_permanent\":true}", true},
	};
	for (size_t i = 0; i < TH_NELEMS(cases); i++) {
		char *c = sign(cases[i].json);
		char line[512];
		snprintf(line, sizeof(line), "Cookie: session=%s\r\n", c);
		struct th_run r;
		run(&r, 0, line, "");
		char *sc = th_hdr(&r.resp, "set-cookie");
		ck_assert_msg((sc != NULL) == cases[i].refresh, "case %zu", i);
		if (sc)
			ck_assert_ptr_nonnull(strstr(sc, "; Expires="));
		free(sc);
		th_run_free(&r);
		free(c);
	}
}
END_TEST

START_TEST(test_header_max)
{
	char big[400];
	snprintf(big, sizeof(big), "{\"a\":\"%0300d\"}", 0);
	char *line = th_session_line(sgn, big);
	struct th_run r;
	run(&r, 0, line, NULL);
	ck_assert_int_eq(r.req_status, 431);
	ck_assert_ptr_nonnull(r.ctx.why);
	th_run_free(&r);
	/* a cookie backend is still served, without the header */
	run(&r, 1, line, NULL);
	ck_assert_int_eq(r.req_status, 0);
	ck_assert_uint_eq(th_hdr_count(&r.req, "x-session", 0), 0);
	th_run_free(&r);
	free(line);
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
	return th_run_suite(suite());
}
