/* tests/unit/test_pipeline_starlette.c — daemon/pipeline.c for session: starlette
 * backends and accept_starlette_cookies, on parsed heads without sockets (with
 * real apps: tests/e2e/test_starlette_e2e.py). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cookie.h"
#include "errors.h"
#include "flask.h"
#include "json.h"
#include "pipeline_helpers.h"
#include "starlette.h"

#define SECRET "unit-secret"
#define ST_KEY "starlette-key"

static const char *yaml = "listen: 127.0.0.1:1\n"
			  "session:\n"
			  "  secret_key_file: /nonexistent\n"
			  "  accept_starlette_cookies: true\n"
			  "backends:\n"
			  "  - name: st\n" /* its own key, cookie "session" */
			  "    servers: [127.0.0.1:2]\n"
			  "    session: starlette\n"
			  "  - name: st2\n" /* the Flask secret, cookie "st" */
			  "    servers: [127.0.0.1:2]\n"
			  "    session: starlette\n"
			  "    starlette_cookie_name: st\n"
			  "  - name: ltd\n"
			  "    servers: [127.0.0.1:2]\n"
			  "    session: starlette\n"
			  "    writable_keys: [\"api_*\"]\n"
			  "  - name: flask\n"
			  "    servers: [127.0.0.1:3]\n"
			  "    session: cookie\n"
			  "routes:\n"
			  "  - prefix: /\n"
			  "    backend: st\n";

enum { B_ST, B_ST2, B_LTD, B_FLASK };

static struct th_pipe pipe_;
static signer *sgn;
static starlette *stk, *stflask, *stwrong;

static void setup(void)
{
	th_pipe_load(&pipe_, yaml, SECRET, 65536);
	th_set_bytes(&pipe_.cfg->backends[B_ST].starlette_secret, ST_KEY);
	th_set_bytes(&pipe_.cfg->backends[B_LTD].starlette_secret, ST_KEY);
	/* st2 keeps an empty starlette_secret: the Flask secret, as the loader's default */
	th_pipe_start(&pipe_);
	sgn = th_flask_signer(SECRET);
	stk = th_starlette_keyed(ST_KEY);
	stflask = th_starlette_keyed(SECRET);
	stwrong = th_starlette_keyed("wrong");
}

static void teardown(void)
{
	th_pipe_free(&pipe_);
	signer_free(sgn);
	starlette_free(stk);
	starlette_free(stflask);
	starlette_free(stwrong);
}

/* A Flask cookie value for the stored session text, signed now. */
static char *flask_cookie(const char *text)
{
	return th_flask_sign(sgn, text, th_wall_s());
}

/* A Starlette cookie value for compact plain JSON, signed at ts. */
static char *st_cookie(const starlette *st, const char *text, int64_t ts)
{
	char *v;
	size_t n;
	ck_assert_int_eq(starlette_encode_text(st, text, strlen(text), ts, &v, &n), 0);
	return v;
}

static void run_req(struct th_run *r, size_t b, const char *req_hdrs)
{
	th_run_req(r, &pipe_, b, req_hdrs);
}

static unsigned hdr_count(const struct http_msg *m, const char *name)
{
	return th_hdr_count(m, name, 0);
}

/* The plain JSON of the Starlette cookie `name` in the forwarded Cookie
 * header, verified with st (NULL when absent). */
static char *forwarded_st(const struct th_run *r, const char *name, const starlette *st)
{
	char *ch = th_hdr(&r->req, "cookie");
	if (!ch)
		return NULL;
	const char *v;
	size_t n;
	char *out = NULL;
	if (cookie_find(ch, strlen(ch), name, strlen(name), &v, &n) == 0) {
		json *j;
		ck_assert_int_eq(starlette_decode(st, v, n, th_wall_s(), 60, &j, NULL), 0);
		size_t len;
		ck_assert_int_eq(json_dump(j, 0, &out, &len), 0);
		json_free(j);
	}
	free(ch);
	return out;
}

/* The stored session JSON in the response's only Set-Cookie, "" for a
 * deletion, NULL when there is none. */
static char *client_cookie(const struct th_run *r)
{
	if (hdr_count(&r->resp, "set-cookie") == 0)
		return NULL;
	ck_assert_uint_eq(hdr_count(&r->resp, "set-cookie"), 1);
	char *sc = th_hdr(&r->resp, "set-cookie");
	struct set_cookie c;
	ck_assert_int_eq(cookie_parse_set_cookie(sc, strlen(sc), &c), 0);
	ck_assert(c.name_len == 7 && memcmp(c.name, "session", 7) == 0);
	char *out = cookie_is_deletion(&c, th_wall_s())
			? strdup("")
			: th_flask_json(sgn, c.value, c.value_len, 3600);
	free(sc);
	return out;
}

static uint64_t counter(enum pipeline_counter c)
{
	uint64_t n[PC_COUNT];
	pipeline_counters(n);
	return n[c];
}

#define TUPLE_SESSION "{\"a\":1,\"t\":{\" t\":[1,2]}}"

START_TEST(test_request_cookie)
{
	char *fc = flask_cookie(TUPLE_SESSION);
	char line[1024];
	snprintf(line, sizeof(line),
		 "Cookie: other=1; session=%s; st=forged\r\nX-Session: {\"a\":9}\r\n", fc);
	struct th_run r;
	run_req(&r, B_ST, line);
	ck_assert_int_eq(r.req_status, 0);
	ck_assert_str_eq(r.ctx.session_outcome, "valid");
	/* no session header: the app reads its own cookie, in the plain view */
	ck_assert_uint_eq(hdr_count(&r.req, "x-session"), 0);
	char *v = forwarded_st(&r, "session", stk);
	ck_assert_str_eq(v, "{\"a\":1,\"t\":[1,2]}");
	free(v);
	v = th_hdr(&r.req, "cookie");
	ck_assert(strncmp(v, "other=1; session=eyJ", 20) == 0);
	ck_assert_ptr_nonnull(strstr(v, "; st=forged"));
	free(v);
	th_run_free(&r);

	/* different names: the Flask cookie and the client's "st" are gone */
	run_req(&r, B_ST2, line);
	v = forwarded_st(&r, "st", stflask);
	ck_assert_str_eq(v, "{\"a\":1,\"t\":[1,2]}");
	free(v);
	v = th_hdr(&r.req, "cookie");
	ck_assert(strncmp(v, "other=1; st=eyJ", 15) == 0);
	ck_assert_ptr_null(strstr(v, "session="));
	ck_assert_ptr_null(strstr(v, "forged"));
	free(v);
	th_run_free(&r);

	/* an empty session: no Starlette cookie at all (0.26 would delete "{}") */
	run_req(&r, B_ST2, "Cookie: st=forged; other=2\r\n");
	ck_assert_str_eq(r.ctx.session_outcome, "missing");
	v = th_hdr(&r.req, "cookie");
	ck_assert_str_eq(v, "other=2");
	free(v);
	th_run_free(&r);
	run_req(&r, B_ST, "Cookie: session=forged.AAAA.BBBB\r\n");
	ck_assert_uint_eq(hdr_count(&r.req, "cookie"), 0);
	th_run_resp(&r, "");
	ck_assert_uint_eq(hdr_count(&r.resp, "set-cookie"), 0); /* never deleted */
	th_run_free(&r);
	free(fc);
}
END_TEST

START_TEST(test_resign_is_no_change)
{
	char *line = th_session_line(sgn, TUPLE_SESSION);
	char resp[1024];
	uint64_t applied = counter(PC_SET_COOKIE_APPLIED);
	/* 0.26: the same payload, re-signed later (its clock may be ahead) */
	char *again = st_cookie(stk, "{\"a\":1,\"t\":[1,2]}", th_wall_s() + 30);
	snprintf(resp, sizeof(resp),
		 "Set-Cookie: session=%s; path=/; Max-Age=1209600; httponly; samesite=lax\r\n",
		 again);
	struct th_run r;
	run_req(&r, B_ST, line);
	th_run_resp(&r, resp);
	ck_assert_int_eq(r.resp_status, 0);
	ck_assert_uint_eq(hdr_count(&r.resp, "set-cookie"), 0);
	ck_assert_uint_eq(hdr_count(&r.resp, "vary"), 1);
	ck_assert_uint_eq(counter(PC_SET_COOKIE_APPLIED), applied); /* fast path */
	th_run_free(&r);
	free(again);

	/* the same session in another member order: parsed, compared, no change */
	again = st_cookie(stk, "{\"t\":[1,2],\"a\":1}", th_wall_s());
	snprintf(resp, sizeof(resp), "Set-Cookie: session=%s; path=/\r\n", again);
	run_req(&r, B_ST, line);
	th_run_resp(&r, resp);
	ck_assert_uint_eq(hdr_count(&r.resp, "set-cookie"), 0);
	ck_assert_uint_eq(counter(PC_SET_COOKIE_APPLIED), applied + 1);
	th_run_free(&r);
	free(again);
	free(line);
}
END_TEST

START_TEST(test_change_keeps_flask_types)
{
	char *line = th_session_line(sgn, TUPLE_SESSION);
	char resp[1024];
	char *after = st_cookie(stk, "{\"a\":2,\"t\":[1,2],\"n\":{\" t\":1}}", th_wall_s());
	snprintf(resp, sizeof(resp), "Set-Cookie: session=%s; path=/; httponly\r\n", after);
	struct th_run r;
	run_req(&r, B_ST, line);
	th_run_resp(&r, resp);
	char *s = client_cookie(&r);
	/* the tuple stays a tuple, a dict that looks like a tag is escaped */
	ck_assert_str_eq(s, "{\"a\":2,\"n\":{\" di\":{\" t__\":1}},\"t\":{\" t\":[1,2]}}");
	ck_assert(r.ctx.resigned);
	free(s);
	th_run_free(&r);
	free(after);

	/* a Starlette app's first write, from an empty session */
	after = st_cookie(stk, "{\"visits\":1}", th_wall_s());
	snprintf(resp, sizeof(resp), "Set-Cookie: session=%s; path=/\r\n", after);
	run_req(&r, B_ST, "");
	th_run_resp(&r, resp);
	s = client_cookie(&r);
	ck_assert_str_eq(s, "{\"visits\":1}");
	free(s);
	th_run_free(&r);
	free(after);
	free(line);
}
END_TEST

START_TEST(test_deletion)
{
	char *line = th_session_line(sgn, TUPLE_SESSION);
	struct th_run r;
	run_req(&r, B_ST, line);
	th_run_resp(&r, "Set-Cookie: session=null; path=/; expires=Thu, 01 Jan 1970 00:00:00 GMT; "
			"httponly; samesite=lax\r\n");
	char *s = client_cookie(&r);
	ck_assert_str_eq(s, ""); /* a Flask deletion cookie */
	free(s);
	th_run_free(&r);
	free(line);
}
END_TEST

START_TEST(test_refused_set_cookies)
{
	char *line = th_session_line(sgn, TUPLE_SESSION);
	char resp[1024];
	uint64_t bad = counter(PC_REJECT_BAD_COOKIE), unexp = counter(PC_REJECT_UNEXPECTED);
	char *forged = st_cookie(stwrong, "{\"a\":2}", th_wall_s());
	snprintf(resp, sizeof(resp), "Set-Cookie: session=%s; path=/\r\nSet-Cookie: x=1\r\n",
		 forged);
	struct th_run r;
	run_req(&r, B_ST, line);
	th_run_resp(&r, resp);
	ck_assert_uint_eq(counter(PC_REJECT_BAD_COOKIE), bad + 1);
	ck_assert_uint_eq(hdr_count(&r.resp, "set-cookie"), 1);
	char *v = th_hdr(&r.resp, "set-cookie");
	ck_assert_str_eq(v, "x=1"); /* other cookies pass */
	free(v);
	th_run_free(&r);
	free(forged);

	/* names differ: a Set-Cookie for the Flask cookie never reaches the client */
	run_req(&r, B_ST2, line);
	th_run_resp(&r, "Set-Cookie: session=evil; Path=/\r\n");
	ck_assert_uint_eq(counter(PC_REJECT_UNEXPECTED), unexp + 1);
	ck_assert_uint_eq(hdr_count(&r.resp, "set-cookie"), 0);
	th_run_free(&r);
	free(line);
}
END_TEST

START_TEST(test_write_policy)
{
	char *line = th_session_line(sgn, TUPLE_SESSION);
	char resp[1024];
	uint64_t forbidden = counter(PC_REJECT_FORBIDDEN);
	char *after = st_cookie(stk, "{\"a\":5,\"t\":[1,2],\"api_x\":1}", th_wall_s());
	snprintf(resp, sizeof(resp), "Set-Cookie: session=%s; path=/\r\n", after);
	struct th_run r;
	run_req(&r, B_LTD, line);
	th_run_resp(&r, resp);
	ck_assert_int_eq(r.resp_status, 0);
	ck_assert_uint_eq(hdr_count(&r.resp, "set-cookie"), 0);
	ck_assert_uint_eq(counter(PC_REJECT_FORBIDDEN), forbidden + 1);
	th_run_free(&r);
	free(after);
	/* clearing touches "a" and "t": forbidden as well */
	run_req(&r, B_LTD, line);
	th_run_resp(&r,
		    "Set-Cookie: session=null; path=/; expires=Thu, 01 Jan 1970 00:00:00 GMT\r\n");
	ck_assert_uint_eq(hdr_count(&r.resp, "set-cookie"), 0);
	ck_assert_uint_eq(counter(PC_REJECT_FORBIDDEN), forbidden + 2);
	th_run_free(&r);
	after = st_cookie(stk, "{\"a\":1,\"t\":[1,2],\"api_x\":1}", th_wall_s());
	snprintf(resp, sizeof(resp), "Set-Cookie: session=%s; path=/\r\n", after);
	run_req(&r, B_LTD, line);
	th_run_resp(&r, resp);
	char *s = client_cookie(&r);
	ck_assert_str_eq(s, "{\"a\":1,\"api_x\":1,\"t\":{\" t\":[1,2]}}");
	free(s);
	th_run_free(&r);
	free(after);
	free(line);
}
END_TEST

START_TEST(test_upgrade)
{
	uint64_t up = counter(PC_SESSION_UPGRADED);
	char *old = st_cookie(stk, "{\"legacy\":\"y\",\"p\":{\" t\":[1]}}", th_wall_s() - 3600);
	char line[1024];
	snprintf(line, sizeof(line), "Cookie: session=%s\r\n", old);
	/* a cookie backend gets the Flask cookie it was upgraded to */
	struct th_run r;
	run_req(&r, B_FLASK, line);
	ck_assert_str_eq(r.ctx.session_outcome, "starlette_upgraded");
	ck_assert_uint_eq(counter(PC_SESSION_UPGRADED), up + 1);
	char *ch = th_hdr(&r.req, "cookie");
	char *fj = th_flask_json(sgn, ch + 8, strlen(ch) - 8, 60);
	ck_assert_str_eq(fj, "{\"legacy\":\"y\",\"p\":{\" di\":{\" t__\":[1]}}}");
	free(fj);
	free(ch);
	char *xs = th_hdr(&r.req, "x-session");
	ck_assert_str_eq(xs, "{\"legacy\":\"y\",\"p\":{\" t\":[1]}}");
	free(xs);
	/* nothing changed, yet the client gets its Flask cookie */
	th_run_resp(&r, "");
	char *s = client_cookie(&r);
	ck_assert_str_eq(s, "{\"legacy\":\"y\",\"p\":{\" di\":{\" t__\":[1]}}}");
	free(s);
	th_run_free(&r);

	/* a Starlette backend gets it re-signed with its key */
	run_req(&r, B_ST2, line);
	char *v = forwarded_st(&r, "st", stflask);
	ck_assert_str_eq(v, "{\"legacy\":\"y\",\"p\":{\" t\":[1]}}");
	free(v);
	th_run_resp(&r, "");
	s = client_cookie(&r);
	ck_assert_ptr_nonnull(s);
	ck_assert_str_ne(s, "");
	free(s);
	th_run_free(&r);
	free(old);

	/* older than Starlette's 14 days, or signed by an unknown key: empty */
	static const struct {
		int64_t age;
		bool wrong;
	} bad[] = {{15 * 24 * 3600, false}, {0, true}};
	for (size_t i = 0; i < 2; i++) {
		old = st_cookie(bad[i].wrong ? stwrong : stk, "{\"legacy\":\"y\"}",
				th_wall_s() - bad[i].age);
		snprintf(line, sizeof(line), "Cookie: session=%s\r\n", old);
		run_req(&r, B_FLASK, line);
		ck_assert_str_ne(r.ctx.session_outcome, "starlette_upgraded");
		ck_assert_str_ne(r.ctx.session_outcome, "valid");
		ck_assert_uint_eq(hdr_count(&r.req, "cookie"), 0);
		th_run_resp(&r, "");
		ck_assert_uint_eq(hdr_count(&r.resp, "set-cookie"), 0);
		th_run_free(&r);
		free(old);
	}
	ck_assert_uint_eq(counter(PC_SESSION_UPGRADED), up + 2);
}
END_TEST

START_TEST(test_too_large)
{
	/* compresses into a small Flask cookie, but Starlette's is not compressed */
	size_t n = 20000;
	char *text = malloc(n + 16);
	memcpy(text, "{\"big\":\"", 8);
	memset(text + 8, 'x', n);
	memcpy(text + 8 + n, "\"}", 3);
	char *fc = flask_cookie(text);
	ck_assert_uint_lt(strlen(fc), 1000);
	char line[2048];
	snprintf(line, sizeof(line), "Cookie: session=%s\r\n", fc);
	uint64_t big = counter(PC_HEADER_TOO_LARGE);
	struct th_run r;
	run_req(&r, B_ST, line);
	ck_assert_int_eq(r.req_status, 431);
	ck_assert_ptr_nonnull(r.ctx.why);
	ck_assert_uint_eq(counter(PC_HEADER_TOO_LARGE), big + 1);
	th_run_free(&r);
	free(fc);
	free(text);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("pipeline_starlette");
	TCase *tc = tcase_create("core");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_request_cookie);
	tcase_add_test(tc, test_resign_is_no_change);
	tcase_add_test(tc, test_change_keeps_flask_types);
	tcase_add_test(tc, test_deletion);
	tcase_add_test(tc, test_refused_set_cookies);
	tcase_add_test(tc, test_write_policy);
	tcase_add_test(tc, test_upgrade);
	tcase_add_test(tc, test_too_large);
	suite_add_tcase(s, tc);
	return th_run_suite(s);
}
