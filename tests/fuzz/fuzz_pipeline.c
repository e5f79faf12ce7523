/* tests/fuzz/fuzz_pipeline.c — the session pipeline as conn.c drives it: a
 * request head with an arbitrary session cookie and client-sent session
 * headers through pipeline_request, then a backend response head with
 * arbitrary patch and Set-Cookie headers through pipeline_response.
 *
 * Input: byte 0 picks the backend (header / restricted header / cookie) and
 * whether the cookie and Set-Cookie texts are session JSON to sign here (so
 * the fuzzer gets past the signature); then lines separated by '\n': the
 * first is the Cookie value, each next one a response header whose first
 * byte picks its name ('p' patch, 's' Set-Cookie, 'x' client X-Session...).
 * Asserts: a bad cookie gives "{}"; the X-Session header is single, printable
 * ASCII JSON; no patch header or foreign session header survives; at most one
 * session Set-Cookie, verifying with our key (never another) or deleting;
 * nothing changes when the backend sends no change; a signed payload that is
 * not JSON is malformed, never forwarded (e92c4bb's finding). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cfgload.h"
#include "cookie.h"
#include "errors.h"
#include "flask.h"
#include "http.h"
#include "json.h"
#include "log.h"
#include "pipeline.h"
#include "server.h"
#include "signer.h"

#define CHECK(c)                                                                                   \
	do {                                                                                       \
		if (!(c))                                                                          \
			abort();                                                                   \
	} while (0)

#define MAX_AGE (31 * 24 * 3600)

static struct sg_config *cfg;
static void *pconf;
static signer *keys, *stranger;
static flask_scratch *sc;
static const struct http_limits lim = {32768, 100, 0, false};

static signer *mk(const char *key)
{
	signer *s = NULL;
	CHECK(signer_new(SIGNER_SHA1, SIGNER_KDF_HMAC, SIGNER_SALT_FLASK, 14, &s) == 0);
	CHECK(signer_add_key(s, key, strlen(key)) == 0);
	return s;
}

static void setup(void)
{
	if (cfg)
		return;
	log_set_level(LOG_LVL_ERROR + 1); /* quiet: every rejection logs */
	char path[] = "/tmp/sg-fuzz-pipeline-XXXXXX";
	int fd = mkstemp(path);
	CHECK(fd >= 0 && write(fd, "fuzz key", 8) == 8);
	close(fd);
	char text[1024];
	snprintf(text, sizeof(text),
		 "listen: 127.0.0.1:1\nworkers: 1\naccess_log: off\n"
		 "session:\n  secret_key_file: %s\n  refresh_each_request: false\n"
		 "backends:\n"
		 "  - name: h\n    servers: [127.0.0.1:2]\n"
		 "  - name: r\n    servers: [127.0.0.1:3]\n    writable_keys: [\"a*\", b]\n"
		 "  - name: c\n    servers: [127.0.0.1:4]\n    session: cookie\n"
		 "routes:\n  - prefix: /\n    backend: h\n",
		 path);
	char err[512];
	int rc = cfgload_buffer("fuzz.yaml", text, strlen(text), 0, &cfg, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "fuzz_pipeline: %s\n", err);
		abort();
	}
	unlink(path);
	pconf = pipeline_conf_new(cfg);
	CHECK(pconf);
	keys = mk("fuzz key");
	stranger = mk("another key");
	CHECK(flask_scratch_new(&sc) == 0);
}

static bool parse(enum http_kind kind, const char *raw, size_t len, struct http_parser *p,
		  struct http_msg *m)
{
	size_t used = 0;
	http_parser_init(p, kind, &lim);
	http_msg_init(m);
	return http_head_feed(p, m, raw, len, &used) == HTTP_DONE;
}

/* A string buffer that grows; abort on allocation failure (tiny inputs). */
struct sbuf {
	char *s;
	size_t len, cap;
};

static void put(struct sbuf *b, const void *d, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		b->cap = (b->len + n + 1) * 2;
		b->s = realloc(b->s, b->cap);
		CHECK(b->s);
	}
	memcpy(b->s + b->len, d, n);
	b->len += n;
	b->s[b->len] = '\0';
}

static void puts_(struct sbuf *b, const char *s)
{
	put(b, s, strlen(s));
}

/* The value to send: the text itself, or a cookie signed over it as session JSON. */
static char *value_of(const char *t, size_t n, bool sign, size_t *ret_len)
{
	if (sign) {
		char *c = NULL;
		if (flask_encode_text(keys, sc, t, n, server_wall_s() - 5, &c, ret_len) == 0)
			return c;
	}
	char *c = malloc(n + 1);
	CHECK(c);
	memcpy(c, t, n);
	c[n] = '\0';
	*ret_len = n;
	return c;
}

static bool printable(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] < 0x20 || s[i] > 0x7e)
			return false;
	return true;
}

static bool session_name(const char *n, size_t len, const char *want)
{
	return http_name_eq(n, len, want, strlen(want), HTTP_MATCH_UNDERSCORE);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	setup();
	if (size < 1)
		return 0;
	unsigned mode = data[0];
	size_t bi = (mode & 3) % 3; /* h, r, c (3: h) */
	bool sign_cookie = mode & 4, sign_set = mode & 8;
	const char *in = (const char *)data + 1, *end = in + size - 1;
	const char *nl = memchr(in, '\n', (size_t)(end - in));
	const char *cend = nl ? nl : end;

	/* the request */
	size_t clen;
	char *cookie = value_of(in, (size_t)(cend - in), sign_cookie, &clen);
	struct sbuf req = {0}, resp = {0};
	puts_(&req, "GET / HTTP/1.1\r\nHost: a\r\nCookie: session=");
	put(&req, cookie, clen);
	puts_(&req, "\r\n");
	/* response lines; 'x'/'y' lines go to the request as client-sent headers */
	puts_(&resp, "HTTP/1.1 200 OK\r\n");
	bool changes = false;
	for (const char *l = nl ? nl + 1 : end; l < end;) {
		const char *e = memchr(l, '\n', (size_t)(end - l));
		if (!e)
			e = end;
		if (e > l) {
			size_t vlen = 0;
			char *v = value_of(l + 1, (size_t)(e - l - 1), sign_set && *l == 's', &vlen);
			switch (*l) {
			case 'p':
				puts_(&resp, "X-Session-Patch: ");
				changes = true;
				break;
			case 'q':
				puts_(&resp, "x-session-patch: ");
				changes = true;
				break;
			case 's':
				puts_(&resp, "Set-Cookie: session=");
				changes = true;
				break;
			case 'x':
				puts_(&req, "X-Session: ");
				break;
			case 'y':
				puts_(&req, "X-Session-Patch: ");
				break;
			default:
				puts_(&resp, "Set-Cookie: other=");
				break;
			}
			struct sbuf *dst = (*l == 'x' || *l == 'y') ? &req : &resp;
			put(dst, v, vlen);
			puts_(dst, "\r\n");
			free(v);
		}
		l = e + 1;
	}
	puts_(&req, "\r\n");
	puts_(&resp, "Content-Length: 0\r\n\r\n");

	struct http_parser rp, sp;
	struct http_msg rm, sm;
	bool req_ok = parse(HTTP_KIND_REQUEST, req.s, req.len, &rp, &rm);
	bool resp_ok = parse(HTTP_KIND_RESPONSE, resp.s, resp.len, &sp, &sm);
	if (req_ok) {
		/* what the pipeline should make of the cookie, decided independently */
		flask_session *fs = NULL;
		const char *cv;
		size_t cvl;
		bool valid = false;
		const char *ch = http_hdr_get(&rm, "cookie", 6, 0, &cvl);
		if (ch && cookie_find(ch, cvl, "session", 7, &cv, &cvl) == 0)
			valid = flask_decode(keys, sc, cv, cvl, server_wall_s(), MAX_AGE, &fs) == 0;
		flask_session_free(fs);

		http_strip_hop(&rm);
		struct pipeline_ctx ctx = {
		    .cfg = cfg,
		    .conf_state = pconf,
		    .backend = &cfg->backends[bi],
		    .backend_index = bi,
		    .req = &rm,
		    .peer = "192.0.2.1",
		};
		int rc = pipeline_request(&ctx);
		CHECK(rc == 0 || (rc >= 400 && rc <= 599));
		if (rc == 0) {
			unsigned nsess = 0;
			for (unsigned i = 0; i < rm.nhdrs; i++) {
				if (rm.hdrs[i].flags & HTTP_HDR_DELETED)
					continue;
				size_t nl2, vl;
				const char *n = http_hdr_name(&rm, i, &nl2);
				const char *v = http_hdr_value(&rm, i, &vl);
				CHECK(!session_name(n, nl2, "x-session-patch"));
				if (!session_name(n, nl2, "x-session"))
					continue;
				nsess++;
				CHECK(printable(v, vl));
				json *j = NULL;
				CHECK(json_parse(v, vl, 0, &j) == 0 && j->type == JSON_OBJECT);
				if (!valid)
					CHECK(j->u.obj.len == 0);
				json_free(j);
			}
			CHECK(nsess == (bi == 2 ? 0u : 1u) || (bi == 2 && nsess <= 1));
			if (resp_ok) {
				rc = pipeline_response(&ctx, &sm);
				CHECK(rc == 0 || (rc >= 500 && rc <= 599));
				unsigned nset = 0;
				for (unsigned i = 0; i < sm.nhdrs; i++) {
					if (sm.hdrs[i].flags & HTTP_HDR_DELETED)
						continue;
					size_t nl2, vl;
					const char *n = http_hdr_name(&sm, i, &nl2);
					const char *v = http_hdr_value(&sm, i, &vl);
					CHECK(!session_name(n, nl2, "x-session-patch"));
					if (!http_name_eq(n, nl2, "set-cookie", 10, 0))
						continue;
					struct set_cookie c;
					if (cookie_parse_set_cookie(v, vl, &c) != 0 ||
					    c.name_len != 7 || memcmp(c.name, "session", 7) != 0)
						continue;
					nset++;
					if (cookie_is_deletion(&c, server_wall_s()))
						continue;
					flask_session *out = NULL;
					CHECK(flask_decode(keys, sc, c.value, c.value_len, server_wall_s(),
							   MAX_AGE, &out) == 0);
					json *j = NULL;
					if (flask_session_parse(out, &j) == 0)
						CHECK(j->type == JSON_OBJECT);
					json_free(j);
					flask_session_free(out);
					out = NULL;
					CHECK(flask_decode(stranger, NULL, c.value, c.value_len,
							   server_wall_s(), MAX_AGE, &out) != 0);
				}
				CHECK(nset <= 1);
				if (!changes)
					CHECK(nset == 0);
			}
		}
		pipeline_done(&ctx);
	}
	http_parser_clear(&rp);
	http_msg_clear(&rm);
	http_parser_clear(&sp);
	http_msg_clear(&sm);
	free(req.s);
	free(resp.s);
	free(cookie);
	return 0;
}
