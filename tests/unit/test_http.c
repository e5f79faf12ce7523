/* tests/unit/test_http.c — daemon/http.c: a table of request heads with the
 * status each must get, byte-at-a-time parsing, header list API, hop-by-hop,
 * X-Forwarded-*, body re-framing and serialisation. */
#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "helpers.h"
#include "http.h"

static const struct http_limits lim = {4096, 20, 100, false};

/* Parses a whole request head fed in pieces of `step` bytes; returns 0 when
 * valid or the error status. */
static int parse(const char *raw, size_t len, size_t step, struct http_parser *p,
		 struct http_msg *m, size_t *head)
{
	http_parser_init(p, HTTP_KIND_REQUEST, &lim);
	http_msg_init(m);
	size_t off = 0;
	int rc = HTTP_MORE;
	while (rc == HTTP_MORE && off < len) {
		size_t n = len - off < step ? len - off : step, used = 0;
		rc = http_head_feed(p, m, raw + off, n, &used);
		off += used;
	}
	*head = off;
	if (rc == HTTP_ERROR)
		return p->error_status;
	return rc == HTTP_DONE ? 0 : -1;
}

static const struct {
	const char *raw;
	int status;
} cases[] = {
    {"GET / HTTP/1.1\r\nHost: a\r\n\r\n", 0},
    {"GET /x?y=1 HTTP/1.0\r\n\r\n", 0},
    {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\n", 0},
    {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", 0},
    {"GET http://h:1/p HTTP/1.1\r\nHost: x\r\n\r\n", 0},
    {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
    {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n", 400},
    {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1x\r\n\r\n", 400},
    {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 400},
    {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n 2\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: a\r\nX_Y: 1\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: a\r\nX: a\x01b\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},
    {"GET * HTTP/1.1\r\nHost: a\r\n\r\n", 400},
    {"GET //evil HTTP/1.1\r\nHost: a\r\n\r\n", 400},
    {"CONNECT a:1 HTTP/1.1\r\nHost: a\r\n\r\n", 405},
    {"GET / HTTP/1.1\r\nHost: a\r\nExpect: nope\r\n\r\n", 417},
    {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 101\r\n\r\n", 413},
    {"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505},
    {"GET / HTTP/3.0\r\nHost: a\r\n\r\n", 400},
};

/* Starts p and m on a whole head in raw (asserted complete); *head: its length. */
static void feed_head(struct http_parser *p, struct http_msg *m, enum http_kind kind,
		      const char *raw, size_t *head)
{
	http_parser_init(p, kind, &lim);
	http_msg_init(m);
	ck_assert_int_eq(http_head_feed(p, m, raw, strlen(raw), head), HTTP_DONE);
}

START_TEST(test_table)
{
	for (size_t step = 1; step <= 4096; step *= 64) {
		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			struct http_parser p;
			struct http_msg m;
			size_t head;
			int st = parse(cases[i].raw, strlen(cases[i].raw), step, &p, &m, &head);
			ck_assert_msg(st == cases[i].status,
				      "case %zu step %zu: got %d want %d (%s)", i, step, st,
				      cases[i].status, p.error_why ? p.error_why : "");
			http_parser_clear(&p);
			http_msg_clear(&m);
		}
	}
}
END_TEST

START_TEST(test_limits)
{
	struct http_parser p;
	struct http_msg m;
	size_t head;
	char *big = malloc(8192);
	ck_assert_ptr_nonnull(big);
	strcpy(big, "GET /");
	memset(big + 5, 'a', 5000);
	strcpy(big + 5005, " HTTP/1.1\r\nHost: a\r\n\r\n");
	ck_assert_int_eq(parse(big, strlen(big), 100, &p, &m, &head), 414);
	http_parser_clear(&p);
	http_msg_clear(&m);
	strcpy(big, "GET / HTTP/1.1\r\nHost: a\r\nX: ");
	memset(big + 28, 'b', 5000);
	strcpy(big + 5028, "\r\n\r\n");
	ck_assert_int_eq(parse(big, strlen(big), 1000, &p, &m, &head), 431);
	http_parser_clear(&p);
	http_msg_clear(&m);
	strcpy(big, "GET / HTTP/1.1\r\nHost: a\r\n");
	for (int i = 0; i < 25; i++)
		strcat(big, "X-A: 1\r\n");
	strcat(big, "\r\n");
	ck_assert_int_eq(parse(big, strlen(big), 7, &p, &m, &head), 431);
	http_parser_clear(&p);
	http_msg_clear(&m);
	free(big);
}
END_TEST

START_TEST(test_header_api)
{
	const char *raw = "GET /p HTTP/1.1\r\nHost: a\r\nX-Session: forged\r\nx_session: 2\r\n"
			  "Cookie: c=1\r\n\r\nNEXT";
	struct http_parser p;
	struct http_msg m;
	size_t head;
	struct http_limits l = lim;
	l.allow_underscore = true;
	http_parser_init(&p, HTTP_KIND_REQUEST, &l);
	http_msg_init(&m);
	ck_assert_int_eq(http_head_feed(&p, &m, raw, strlen(raw), &head), HTTP_DONE);
	ck_assert_uint_eq(head, strlen(raw) - 4);
	size_t vlen;
	const char *v = http_hdr_get(&m, "cookie", 6, 0, &vlen);
	ck_assert_ptr_nonnull(v);
	ck_assert_int_eq((int)vlen, 3);
	ck_assert(memcmp(v, "c=1", 3) == 0);
	ck_assert_int_eq(http_hdr_next(&m, 0, "x-session", 9, 0), 1);
	ck_assert_int_eq(http_hdr_next(&m, 2, "x-session", 9, 0), -1);
	ck_assert_int_eq(http_hdr_next(&m, 2, "x-session", 9, HTTP_MATCH_UNDERSCORE), 2);
	ck_assert_uint_eq(http_hdr_remove(&m, "X-SESSION", 9, HTTP_MATCH_UNDERSCORE), 2);
	ck_assert_ptr_null(http_hdr_get(&m, "x-session", 9, HTTP_MATCH_UNDERSCORE, &vlen));
	ck_assert_int_eq(http_hdr_add(&m, "X-Session", 9, "{}", 2), 0);
	ck_assert_int_eq(http_hdr_add(&m, "X-Bad", 5, "a\r\nb", 4), SG_EINVAL);
	ck_assert_int_eq(http_hdr_add(&m, "X Bad", 5, "a", 1), SG_EINVAL);
	v = http_hdr_get(&m, "x-session", 9, 0, &vlen);
	ck_assert(v && vlen == 2 && memcmp(v, "{}", 2) == 0);
	/* the original slices survive buffer growth */
	for (int i = 0; i < 50; i++)
		ck_assert_int_eq(http_hdr_add(&m, "X-Pad", 5, "0123456789abcdef", 16), 0);
	v = http_hdr_get(&m, "host", 4, 0, &vlen);
	ck_assert(v && vlen == 1 && v[0] == 'a');
	http_parser_clear(&p);
	http_msg_clear(&m);
}
END_TEST

/* RFC 9110 5.5: a field value may hold HTAB, VCHAR, SP and obs-text. */
static bool value_byte_ok(unsigned c)
{
	return c == '\t' || (c >= 0x20 && c != 0x7f);
}

/* Field values: every CTL but HTAB is refused wherever it sits, in every
 * lane of the 16-byte and 8-byte checks and in the bytes after the last. */
START_TEST(test_hdr_add_value_bytes)
{
	struct http_msg m;
	http_msg_init(&m);
	char v[300];
	memset(v, 'a', sizeof(v));
	ck_assert_int_eq(http_hdr_add(&m, "X-Ok", 4, v, sizeof(v)), 0);
	const size_t lens[] = {1, 7, 8, 9, 15, 16, 17, 23, 24, 25, 31, 32, 33, 47, 48, 49, 300};
	for (size_t l = 0; l < sizeof(lens) / sizeof(lens[0]); l++) {
		/* every lane of the first three blocks, and the last byte */
		for (size_t k = 0; k <= 48; k++) {
			size_t at = k < 48 ? k : lens[l] - 1;
			if (at >= lens[l])
				continue;
			for (unsigned b = 0; b < 256; b++) {
				char w[300];
				memset(w, 'a', sizeof(w));
				w[at] = (char)b;
				int want = value_byte_ok(b) ? 0 : SG_EINVAL;
				ck_assert_msg(http_hdr_add(&m, "X-V", 3, w, lens[l]) == want,
					      "byte 0x%02x at %zu of %zu: want %d", b, at, lens[l],
					      want);
			}
		}
		http_msg_clear(&m);
		http_msg_init(&m);
	}
	ck_assert_int_eq(http_hdr_add(&m, "X-Empty", 7, "", 0), 0);
	http_msg_clear(&m);
}
END_TEST

/* The same bytes in a parsed head: each is refused or taken wherever it
 * sits in a long value, and CR, LF and NUL anywhere are refused with 400. */
START_TEST(test_head_value_bytes)
{
	const char *pre = "GET / HTTP/1.1\r\nHost: a\r\nX-Long: ";
	size_t plen = strlen(pre);
	for (size_t at = 1; at < 56; at++) { /* 0 would be leading whitespace */
		for (unsigned b = 0; b < 256; b++) {
			char raw[128];
			memcpy(raw, pre, plen);
			memset(raw + plen, 'a', 56);
			raw[plen + at] = (char)b;
			const char *post = "\r\nX-After: 1\r\n\r\n";
			memcpy(raw + plen + 56, post, strlen(post));
			size_t len = plen + 56 + strlen(post), head;
			struct http_parser p;
			struct http_msg m;
			int st = parse(raw, len, 4096, &p, &m, &head);
			int want = value_byte_ok(b) ? 0 : 400;
			ck_assert_msg(st == want, "byte 0x%02x at %zu: got %d want %d (%s)", b, at,
				      st, want, p.error_why ? p.error_why : "");
			http_parser_clear(&p);
			http_msg_clear(&m);
		}
	}
}
END_TEST

/* Line folding, bare LF and bare CR at every offset of a word: all 400,
 * whichever check (llhttp's or ours) sees them first. */
START_TEST(test_head_line_endings)
{
	/* after "Name:": a fold with nothing before it reaches no value check */
	const char *bad[] = {"\r\n chunked", "\r\n\tchunked", " chunked\r\n folded",
			     "\nX-Q: 1", "\rX-Q: 1", " chunked\nX-Q: 1", " chunked\rX-Q: 1"};
	const char *names[] = {"X-P", "Transfer-Encoding"};
	for (size_t nm = 0; nm < 2; nm++) {
		for (size_t b = 0; b < sizeof(bad) / sizeof(bad[0]); b++) {
			for (size_t pad = 0; pad < 17; pad++) {
				char raw[160];
				int len = snprintf(raw, sizeof(raw),
						   "GET / HTTP/1.1\r\nHost: a\r\nX-A: %.*s\r\n%s:%s\r\n"
						   "\r\n",
						   (int)pad, "aaaaaaaaaaaaaaaaa", names[nm], bad[b]);
				struct http_parser p;
				struct http_msg m;
				size_t head;
				int st = parse(raw, (size_t)len, 4096, &p, &m, &head);
				ck_assert_msg(st == 400, "%s:%s after %zu bytes: got %d", names[nm],
					      bad[b], pad, st);
				http_parser_clear(&p);
				http_msg_clear(&m);
			}
		}
	}
}
END_TEST

/* http_name_eq against a byte-at-a-time reference: every pair of byte
 * values, in every lane of the word compare and in the short tail. */
static unsigned char ref_fold(unsigned char c, unsigned match)
{
	if (c >= 'A' && c <= 'Z')
		return (unsigned char)(c - 'A' + 'a');
	return c == '_' && (match & HTTP_MATCH_UNDERSCORE) ? '-' : c;
}

START_TEST(test_name_eq_bytes)
{
	const size_t lens[] = {1, 5, 8, 11, 16};
	for (unsigned match = 0; match <= HTTP_MATCH_UNDERSCORE; match += HTTP_MATCH_UNDERSCORE) {
		for (size_t l = 0; l < sizeof(lens) / sizeof(lens[0]); l++) {
			for (size_t at = 0; at < lens[l]; at++) {
				char a[16], b[16];
				memset(a, 'x', sizeof(a));
				memset(b, 'X', sizeof(b));
				for (unsigned x = 0; x < 256; x++) {
					for (unsigned y = 0; y < 256; y++) {
						a[at] = (char)x;
						b[at] = (char)y;
						bool want = ref_fold((unsigned char)x, match) ==
							    ref_fold((unsigned char)y, match);
						/* a plain test: Check's asserts are slow at 5M */
						if (http_name_eq(a, lens[l], b, lens[l], match) != want)
							ck_abort_msg("0x%02x vs 0x%02x at %zu of %zu, "
								     "match %u",
								     x, y, at, lens[l], match);
					}
				}
			}
		}
	}
	ck_assert(!http_name_eq("abc", 3, "abcd", 4, 0));
	ck_assert(http_name_eq("X-Session-Patch", 15, "x_session_patch", 15, HTTP_MATCH_UNDERSCORE));
	ck_assert(!http_name_eq("X-Session-Patch", 15, "x_session_patch", 15, 0));
}
END_TEST

static char *drain(struct evbuffer *b)
{
	size_t n = evbuffer_get_length(b);
	char *s = malloc(n + 1);
	evbuffer_remove(b, s, n);
	s[n] = 0;
	return s;
}

START_TEST(test_forward_request)
{
	const char *raw =
	    "POST /app/x HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, X-Drop\r\n"
	    "X-Drop: 1\r\nKeep-Alive: 5\r\nTE: trailers\r\nUpgrade: h2c\r\n"
	    "X-Forwarded-For: 6.6.6.6\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n"
	    "X-Keep: yes\r\n\r\n"
	    "3;ext=1\r\nabc\r\n0\r\nX-T: 1\r\nContent-Length: 9\r\n\r\nGET /next";
	struct http_parser p;
	struct http_msg m;
	size_t head, used;
	feed_head(&p, &m, HTTP_KIND_REQUEST, raw, &head);
	ck_assert(m.chunked && m.has_body && m.expect_continue);
	http_strip_hop(&m);
	ck_assert_int_eq(http_set_forwarded(&m, "10.0.0.1", false, "http"), 0);
	struct evbuffer *out = evbuffer_new();
	enum http_frame frame;
	ck_assert_int_eq(http_write_request(&m, "/x", 2, NULL, out, &frame), 0);
	ck_assert_int_eq(frame, HTTP_FRAME_CHUNKED);
	p.out = out;
	p.frame = frame;
	ck_assert_int_eq(http_body_feed(&p, raw + head, strlen(raw) - head, &used), HTTP_DONE);
	ck_assert_str_eq(raw + head + used, "GET /next");
	char *s = drain(out);
	ck_assert_str_eq(s, "POST /x HTTP/1.1\r\nHost: h\r\nX-Keep: yes\r\n"
			    "X-Forwarded-For: 10.0.0.1\r\nX-Forwarded-Proto: http\r\n"
			    "X-Forwarded-Host: h\r\nTransfer-Encoding: chunked\r\n\r\n"
			    "3\r\nabc\r\n0\r\nX-T: 1\r\n\r\n");
	free(s);
	evbuffer_free(out);
	http_parser_clear(&p);
	http_msg_clear(&m);
}
END_TEST

START_TEST(test_forwarded_trusted)
{
	const char *raw = "GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 1.1.1.1\r\n"
			  "X-Forwarded-Proto: https\r\n\r\n";
	struct http_parser p;
	struct http_msg m;
	size_t head, vlen;
	feed_head(&p, &m, HTTP_KIND_REQUEST, raw, &head);
	ck_assert_int_eq(http_set_forwarded(&m, "10.0.0.1", true, "http"), 0);
	const char *v = http_hdr_get(&m, "x-forwarded-for", 15, 0, &vlen);
	ck_assert(v && vlen == 17 && memcmp(v, "1.1.1.1, 10.0.0.1", 17) == 0);
	v = http_hdr_get(&m, "x-forwarded-proto", 17, 0, &vlen);
	ck_assert(v && vlen == 5 && memcmp(v, "https", 5) == 0);
	http_parser_clear(&p);
	http_msg_clear(&m);
}
END_TEST

START_TEST(test_response)
{
	const char *raw = "HTTP/1.1 200 OK\r\nConnection: close\r\nX-A: 1\r\n\r\nbody";
	struct http_parser p;
	struct http_msg m;
	size_t head, used;
	feed_head(&p, &m, HTTP_KIND_RESPONSE, raw, &head);
	ck_assert(m.body_to_eof && !m.keep_alive);
	http_strip_hop(&m);
	struct evbuffer *out = evbuffer_new();
	enum http_frame frame;
	ck_assert_int_eq(http_write_response(&m, 1, true, false, out, &frame), 0);
	ck_assert_int_eq(frame, HTTP_FRAME_CHUNKED);
	p.out = out;
	p.frame = frame;
	ck_assert_int_eq(http_body_feed(&p, raw + head, 4, &used), HTTP_MORE);
	ck_assert_int_eq(http_body_eof(&p), HTTP_DONE);
	char *s = drain(out);
	ck_assert_str_eq(s, "HTTP/1.1 200 OK\r\nX-A: 1\r\nTransfer-Encoding: chunked\r\n\r\n"
			    "4\r\nbody\r\n0\r\n\r\n");
	free(s);
	http_parser_clear(&p);
	http_msg_clear(&m);
	/* a HEAD response keeps its Content-Length and has no body */
	const char *hr = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n";
	http_parser_init(&p, HTTP_KIND_RESPONSE, &lim);
	http_msg_init(&m);
	p.skip_body = true;
	ck_assert_int_eq(http_head_feed(&p, &m, hr, strlen(hr), &head), HTTP_DONE);
	ck_assert(!m.has_body);
	ck_assert_int_eq(http_body_feed(&p, NULL, 0, &used), HTTP_DONE);
	http_strip_hop(&m);
	ck_assert_int_eq(http_write_response(&m, 1, true, true, out, &frame), 0);
	s = drain(out);
	ck_assert_str_eq(s, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n");
	free(s);
	/* malformed responses are 502 */
	http_parser_clear(&p);
	http_msg_clear(&m);
	http_parser_init(&p, HTTP_KIND_RESPONSE, &lim);
	const char *bad = "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n";
	ck_assert_int_eq(http_head_feed(&p, &m, bad, strlen(bad), &head), HTTP_ERROR);
	ck_assert_int_eq(p.error_status, 502);
	evbuffer_free(out);
	http_parser_clear(&p);
	http_msg_clear(&m);
}
END_TEST

START_TEST(test_body_limit)
{
	const char *raw = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
			  "64\r\n";
	struct http_parser p;
	struct http_msg m;
	size_t head, used;
	feed_head(&p, &m, HTTP_KIND_REQUEST, raw, &head);
	char body[120];
	memset(body, 'z', sizeof(body));
	ck_assert_int_eq(http_body_feed(&p, raw + head, strlen(raw) - head, &used), HTTP_MORE);
	ck_assert_int_eq(http_body_feed(&p, body, 100, &used), HTTP_MORE);
	ck_assert_int_eq(http_body_feed(&p, "\r\n1\r\nz", 6, &used), HTTP_ERROR);
	ck_assert_int_eq(p.error_status, 413);
	http_parser_clear(&p);
	http_msg_clear(&m);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("http");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_table);
	tcase_add_test(tc, test_limits);
	tcase_add_test(tc, test_header_api);
	tcase_add_test(tc, test_hdr_add_value_bytes);
	tcase_add_test(tc, test_head_value_bytes);
	tcase_add_test(tc, test_head_line_endings);
	tcase_add_test(tc, test_name_eq_bytes);
	tcase_add_test(tc, test_forward_request);
	tcase_add_test(tc, test_forwarded_trusted);
	tcase_add_test(tc, test_response);
	tcase_add_test(tc, test_body_limit);
	suite_add_tcase(s, tc);
	return th_run_suite(s);
}
