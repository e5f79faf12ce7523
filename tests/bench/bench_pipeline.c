/* tests/bench/bench_pipeline.c — the session pipeline's cost per request, without sockets.
 *
 * One request head with a session cookie through pipeline_request,
 * pipeline_response and pipeline_done, as conn.c drives them (header mode,
 * and a response carrying a patch, which re-signs; "*_new_cookie": a
 * different cookie every request, so the verified-cookie cache always
 * misses). Prints "name ops_per_s
 * ns_per_op" lines (best 200-call batch, see bench_codec.c); "n=N" runs
 * exactly N requests of each kind for callgrind:
 *   valgrind --tool=callgrind --toggle-collect=run_pipeline bench_pipeline n=2000
 * counts the pipeline only (the head parsing is done outside it); a second
 * argument runs one kind only. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cfgload.h"
#include "flask.h"
#include "http.h"
#include "json.h"
#include "sg_limits.h"
#include "pipeline.h"
#include "signer.h"

#define SECRET "bench secret key"

static const struct http_limits lim = {65536, 100, 0, true};

static const char *yaml = "listen: 127.0.0.1:1\n"
			  "session:\n"
			  "  secret_key_file: /nonexistent\n"
			  "backends:\n"
			  "  - name: api\n"
			  "    servers: [127.0.0.1:2]\n"
			  "routes:\n"
			  "  - prefix: /\n"
			  "    backend: api\n";

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

struct bench {
	struct sg_config *cfg;
	void *pconf;
	char req[32768], resp[1024];
	struct http_msg rq, rs;
	char **pool; /* distinct cookies sent in turn (every one a cache miss), or NULL */
	size_t npool, next;
};

static void set_request(struct bench *b, const char *cookie)
{
	snprintf(b->req, sizeof(b->req),
		 "GET / HTTP/1.1\r\nHost: a\r\nUser-Agent: wrk\r\n"
		 "Cookie: _ga=GA1.1.123; %s%s; theme=dark\r\n\r\n",
		 cookie ? "session=" : "x=", cookie ? cookie : "1");
}

static volatile size_t sink;

static void parse(struct http_msg *m, enum http_kind kind, const char *raw)
{
	struct http_parser p;
	http_parser_init(&p, kind, &lim);
	http_msg_init(m);
	size_t used;
	if (http_head_feed(&p, m, raw, strlen(raw), &used) != HTTP_DONE)
		abort();
	http_parser_clear(&p);
}

/* What callgrind counts: the pipeline's work on one parsed request. */
__attribute__((noinline)) static void run_pipeline(struct bench *b)
{
	struct pipeline_ctx ctx = {.cfg = b->cfg,
				   .conf_state = b->pconf,
				   .backend = &b->cfg->backends[0],
				   .backend_index = 0,
				   .req = &b->rq,
				   .peer = "127.0.0.1"};
	if (pipeline_request(&ctx) != 0 || pipeline_response(&ctx, &b->rs) != 0)
		abort();
	sink += ctx.resigned;
	pipeline_done(&ctx);
}

static void one(struct bench *b)
{
	if (b->pool)
		set_request(b, b->pool[b->next++ % b->npool]);
	parse(&b->rq, HTTP_KIND_REQUEST, b->req);
	http_strip_hop(&b->rq);
	parse(&b->rs, HTTP_KIND_RESPONSE, b->resp);
	run_pipeline(b);
	http_msg_clear(&b->rq);
	http_msg_clear(&b->rs);
}

static double measure(struct bench *b, double min_s)
{
	if (min_s < 0) {
		long n = (long)-min_s;
		double t0 = now_s();
		for (long i = 0; i < n; i++)
			one(b);
		return (now_s() - t0) / (double)n * 1e9;
	}
	for (int i = 0; i < 1000; i++)
		one(b);
	double best = 1e30, t0 = now_s(), t = t0;
	do {
		double b0 = t;
		for (int i = 0; i < 200; i++)
			one(b);
		t = now_s();
		if ((t - b0) / 200 < best)
			best = (t - b0) / 200;
	} while (t - t0 < min_s);
	return best * 1e9;
}

/* A Flask-Login session (an _id of 128 hex digits) plus `extra` hex digits
 * in a "blob" key, signed now. */
static char *cookie_of(signer *s, size_t extra, unsigned seed)
{
	static const char hex[] = "0123456789abcdef";
	size_t cap = 400 + extra;
	char *text = malloc(cap);
	unsigned x = 12345 + seed * 7919;
	int n = snprintf(text, cap, "{\"_fresh\":true,\"_id\":\"");
	for (size_t i = 0; i < 128 + extra; i++) {
		if (i == 128)
			n += snprintf(text + n, cap - (size_t)n,
				      "\",\"_user_id\":\"42\",\"blob\":\"");
		x = x * 1103515245u + 12345u;
		text[n++] = hex[(x >> 16) & 15];
	}
	n += snprintf(text + n, cap - (size_t)n,
		      "\",\"csrf_token\":\"3b1c5e0e8f4a7d2c9b6a1f0e3d2c5b4a7f8e9d0c\"}");
	char *c = NULL;
	size_t len = 0;
	if (flask_encode_text(s, NULL, text, (size_t)n, time(NULL), &c, &len) != 0)
		abort();
	free(text);
	return c;
}

int main(int argc, char **argv)
{
	double min_s = argc > 1 ? atof(argv[1]) : 1.0;
	if (argc > 1 && strncmp(argv[1], "n=", 2) == 0)
		min_s = -atof(argv[1] + 2);
	struct bench b = {0};
	char err[256];
	if (cfgload_buffer("bench.yaml", yaml, strlen(yaml), CFGLOAD_NO_SECRETS, &b.cfg, err,
			   sizeof(err)) != 0) {
		fprintf(stderr, "bench_pipeline: %s\n", err);
		return 1;
	}
	b.cfg->session.secret.ptr = (unsigned char *)strdup(SECRET);
	b.cfg->session.secret.len = strlen(SECRET);
	if (!(b.pconf = pipeline_conf_new(b.cfg)))
		return 1;
	signer *s;
	if (signer_new(SIGNER_SHA1, SIGNER_KDF_HMAC, SIGNER_SALT_FLASK, 14, &s) ||
	    signer_add_key(s, SECRET, strlen(SECRET)))
		return 1;
	static const struct {
		const char *name;
		size_t extra;
		bool patch, misses;
	} runs[] = {
	    {"no_cookie", 0, false, false},
	    {"flask_login", 0, false, false},
	    {"cookie_1k", 1000, false, false},
	    {"cookie_4k", 5500, false, false},
	    {"flask_login_patch", 0, true, false},
	    {"flask_login_new_cookie", 0, false, true},
	    {"cookie_4k_new_cookie", 5500, false, true},
	};
	for (size_t i = 0; i < sizeof(runs) / sizeof(runs[0]); i++) {
		if (argc > 2 && strcmp(argv[2], runs[i].name) != 0)
			continue; /* one kind only: "n=2000 cookie_4k" */
		char *c = i ? cookie_of(s, runs[i].extra, 0) : NULL;
		set_request(&b, c);
		if (runs[i].misses) {
			/* more distinct cookies than a worker caches: every one misses */
			b.npool = 4 * SG_SESSION_CACHE_ENTRIES;
			b.pool = calloc(b.npool, sizeof(*b.pool));
			for (size_t k = 0; k < b.npool; k++)
				b.pool[k] = cookie_of(s, runs[i].extra, (unsigned)k + 1);
		}
		snprintf(b.resp, sizeof(b.resp), "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n%s\r\n",
			 runs[i].patch ? "X-Session-Patch: {\"n\":1}\r\n" : "");
		double ns = measure(&b, min_s);
		printf("%s %.0f %.1f %zu\n", runs[i].name, 1e9 / ns, ns, c ? strlen(c) : 0);
		fflush(stdout);
		free(c);
		for (size_t k = 0; k < b.npool; k++)
			free(b.pool[k]);
		free(b.pool);
		b.pool = NULL;
		b.npool = 0;
	}
	signer_free(s);
	pipeline_conf_free(b.pconf);
	config_free(b.cfg);
	return 0;
}
