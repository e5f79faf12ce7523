/* daemon/pipeline.c — the session pipeline: decode and verify the Flask session
 * cookie once per request, hand it to the backend (X-Session plain view, the
 * cookie itself, or a Starlette SessionMiddleware cookie), merge what the
 * backend sends back (patch headers, a cookie or Starlette backend's
 * Set-Cookie) and answer with at most one Set-Cookie.
 *
 * The no-change path builds no JSON DOM: one flask_decode, the plain-view fast
 * path, a few header writes. DOMs are built only when a change arrives. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#include "cookie.h"
#include "errors.h"
#include "flask.h"
#include "json.h"
#include "sg_limits.h"
#include "log.h"
#include "patch.h"
#include "pipeline.h"
#include "server.h"
#include "signer.h"
#include "splice.h"
#include "starlette.h"
#include "tag.h"
#include "vcache.h"

/* ---- per generation ---- */

struct pipe_conf {
	uint64_t gen; /* unique per pipeline_conf_new: the key set's identity */
	signer *signer;
	struct cookie_attrs attrs;
	const char *cname, *hname, *pname; /* point into the config */
	size_t cname_len, hname_len, pname_len;
	int64_t max_age;
	size_t header_max;
	bool refresh, refuse_oversized;
	/* session: starlette backends' keys, by backend index (NULL for others) */
	starlette **st;
	size_t nst;
	/* accept_starlette_cookies: the keys a client's leftover Starlette cookie
	 * may be signed with (every Starlette backend's, then the Flask secret) */
	starlette *upgrade;
};

/* Starlette's keys: one per session: starlette backend (its
 * starlette_secret_key_file, by default the Flask secret), and the set a
 * client's leftover Starlette cookie is verified with. */
static int conf_starlette(struct pipe_conf *pc, const struct sg_config *cfg)
{
	const struct sg_session_conf *s = &cfg->session;
	int err = 0;
	if (!(pc->st = calloc(cfg->nbackends ? cfg->nbackends : 1, sizeof(*pc->st))))
		return SG_ENOMEM;
	pc->nst = cfg->nbackends;
	if (s->accept_starlette_cookies)
		err = starlette_new(&pc->upgrade);
	for (size_t i = 0; !err && i < cfg->nbackends; i++) {
		const struct sg_backend *b = &cfg->backends[i];
		if (b->session != SG_SESSION_STARLETTE)
			continue;
		/* the loader fills starlette_secret; a config built without
		 * secrets (tests) falls back to the Flask secret, as the default */
		const struct sg_bytes *key =
		    b->starlette_secret.len ? &b->starlette_secret : &s->secret;
		err = starlette_new(&pc->st[i]);
		if (!err)
			err = starlette_add_key(pc->st[i], key->ptr, key->len);
		if (!err && pc->upgrade)
			err = starlette_add_key(pc->upgrade, key->ptr, key->len);
	}
	if (!err && pc->upgrade)
		err = starlette_add_key(pc->upgrade, s->secret.ptr, s->secret.len);
	return err;
}

void *pipeline_conf_new(const struct sg_config *cfg)
{
	const struct sg_session_conf *s = &cfg->session;
	if (s->secret.len == 0)
		return NULL; /* every backend is session: none */
	struct pipe_conf *pc = calloc(1, sizeof(*pc));
	if (!pc) {
		log_error("session pipeline: out of memory");
		return NULL;
	}
	static _Atomic uint64_t gens;
	pc->gen = atomic_fetch_add(&gens, 1) + 1;
	enum signer_digest dg;
	int err = signer_digest_parse(s->digest, &dg);
	if (!err)
		err = signer_new(dg, SIGNER_KDF_HMAC, s->salt, strlen(s->salt), &pc->signer);
	if (!err)
		err = signer_add_key(pc->signer, s->secret.ptr, s->secret.len);
	for (size_t i = 0; !err && i < s->nfallback; i++)
		err = signer_add_key(pc->signer, s->fallback_secrets[i].ptr,
				     s->fallback_secrets[i].len);
	if (!err)
		err = conf_starlette(pc, cfg);
	if (err) {
		log_error("session pipeline: cannot set up the keys: %s", sg_strerror(err));
		pipeline_conf_free(pc);
		return NULL;
	}
	enum cookie_samesite ss = COOKIE_SAMESITE_UNSET;
	if (s->cookie_samesite) {
		if (strcasecmp(s->cookie_samesite, "Strict") == 0)
			ss = COOKIE_SAMESITE_STRICT;
		else if (strcasecmp(s->cookie_samesite, "Lax") == 0)
			ss = COOKIE_SAMESITE_LAX;
		else if (strcasecmp(s->cookie_samesite, "None") == 0)
			ss = COOKIE_SAMESITE_NONE;
	}
	pc->attrs = (struct cookie_attrs){
	    .domain = s->cookie_domain,
	    .path = s->cookie_path,
	    .secure = s->cookie_secure,
	    .httponly = s->cookie_httponly,
	    .partitioned = s->cookie_partitioned,
	    .samesite = ss,
	};
	pc->cname = s->cookie_name;
	pc->cname_len = strlen(s->cookie_name);
	pc->hname = s->header_name;
	pc->hname_len = strlen(s->header_name);
	pc->pname = s->patch_header_name;
	pc->pname_len = strlen(s->patch_header_name);
	pc->max_age = s->max_age;
	pc->header_max = s->header_max;
	pc->refresh = s->refresh_each_request;
	pc->refuse_oversized = s->refuse_oversized_cookie;
	return pc;
}

void pipeline_conf_free(void *conf_state)
{
	struct pipe_conf *pc = conf_state;
	if (!pc)
		return;
	signer_free(pc->signer);
	for (size_t i = 0; pc->st && i < pc->nst; i++)
		starlette_free(pc->st[i]);
	free(pc->st);
	starlette_free(pc->upgrade);
	free(pc);
}

/* ---- per thread: zlib scratch and counters ---- */

/* One block per thread that ever ran the pipeline, linked once under a mutex
 * and never unlinked, so the totals survive a thread's exit. Only the owner
 * thread writes its counters (a relaxed load + store, no locked instruction);
 * readers sum relaxed loads. */
struct pipe_thread {
	struct pipe_thread *next;
	flask_scratch *scratch; /* NULL is fine: flask_* then allocate per call */
	vcache *cache;		/* verified cookies; NULL: no cache (no randomness, no memory) */
	uint64_t cache_gen;	/* the pipe_conf generation the cache's entries verified under */
	_Atomic uint64_t n[PC_COUNT];
	/* counted since the last pipeline_thread_take (owner only) */
	uint32_t pending_mask, pending[PC_COUNT];
	/* the cache's hits, misses and entries held (a mirror of vcache_count,
	 * which only the owner may call): written like n, summed at scrape time */
	_Atomic uint64_t cache_hits, cache_misses, cache_entries;
	_Atomic uint64_t spliced; /* patch headers applied by lib/splice.c */
};

static pthread_mutex_t threads_mu = PTHREAD_MUTEX_INITIALIZER;
static struct pipe_thread *threads;
static _Thread_local struct pipe_thread *self;
static pthread_key_t exit_key;
static pthread_once_t exit_once = PTHREAD_ONCE_INIT;

static void thread_gone(void *arg)
{
	struct pipe_thread *t = arg;
	flask_scratch_free(t->scratch);
	t->scratch = NULL;
	vcache_free(t->cache);
	t->cache = NULL;
	atomic_store_explicit(&t->cache_entries, 0, memory_order_relaxed);
}

static void exit_key_init(void)
{
	(void)pthread_key_create(&exit_key, thread_gone);
}

static struct pipe_thread *pipe_thread(void)
{
	if (self)
		return self;
	struct pipe_thread *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	if (flask_scratch_new(&t->scratch) != 0)
		t->scratch = NULL;
	/* the cache's SipHash key: secret and per thread (see cache_for) */
	unsigned char key[16];
	if (getrandom(key, sizeof(key), 0) != (ssize_t)sizeof(key) ||
	    vcache_new(SG_SESSION_CACHE_ENTRIES, SG_SESSION_CACHE_BYTES, key, &t->cache) != 0) {
		log_warn("session pipeline: no verified-cookie cache for this worker (no random "
			 "key or no memory): every cookie is verified in full");
		t->cache = NULL;
	}
	explicit_bzero(key, sizeof(key));
	pthread_once(&exit_once, exit_key_init);
	(void)pthread_setspecific(exit_key, t);
	pthread_mutex_lock(&threads_mu);
	t->next = threads;
	threads = t;
	pthread_mutex_unlock(&threads_mu);
	self = t;
	return t;
}

/* Only the owner thread writes its block: a relaxed load + store, no locked instruction. */
static void bump(_Atomic uint64_t *c)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + 1,
			      memory_order_relaxed);
}

_Static_assert(PC_COUNT <= 32, "pending_mask holds one bit per counter");

static void count(struct pipe_thread *t, enum pipeline_counter c)
{
	if (!t)
		return;
	bump(&t->n[c]);
	t->pending_mask |= 1u << c;
	t->pending[c]++;
}

/* After the owner changed its cache: what a scrape reports as entries. */
static void cache_entries_sync(struct pipe_thread *t)
{
	atomic_store_explicit(&t->cache_entries, t->cache ? vcache_count(t->cache) : 0,
			      memory_order_relaxed);
}

static flask_scratch *scratch(struct pipe_thread *t)
{
	return t ? t->scratch : NULL;
}

/* The verified-cookie cache a request on generation pc may use, or NULL.
 *
 * Security review. An entry is put only after flask_decode verified the
 * cookie's signature with pc's key set AND the session passed every later
 * check (a JSON object, a plain view); forged, expired, malformed, upgraded
 * Starlette cookies are never put. The cache belongs to one generation of
 * the key set: a request on a newer generation (a reload may have removed or
 * rotated keys) empties it first, and a request still running on an older
 * one bypasses it, neither reading nor writing. So a hit can only happen for
 * bytes that verified before under the same key set; lookups compare the
 * whole cookie (vcache.c: keyed SipHash, then a constant-time comparison). What a hit
 * skips is exactly what depends on the bytes and keys alone (HMAC, base64,
 * inflate, the plain view); what depends on the clock, the max_age check, is
 * redone against the stored timestamp on every hit (signer_check_age). Only
 * the owner thread touches its cache: no locks. Bounded by
 * SG_SESSION_CACHE_ENTRIES and SG_SESSION_CACHE_BYTES per worker. */
static vcache *cache_for(struct pipe_thread *t, const struct pipe_conf *pc)
{
	if (!t || !t->cache || pc->gen < t->cache_gen)
		return NULL;
	if (pc->gen != t->cache_gen) {
		vcache_clear(t->cache);
		t->cache_gen = pc->gen;
		cache_entries_sync(t);
	}
	return t->cache;
}

/* vcache flags */
#define CACHED_PERMANENT 1u /* the session has "_permanent": true */
#define CACHED_CANONICAL 2u /* its JSON text is its own json_dump: patches splice */

void pipeline_thread_cache_stats(uint64_t *hits, uint64_t *misses, size_t *entries)
{
	struct pipe_thread *t = self;
	*hits = t ? atomic_load_explicit(&t->cache_hits, memory_order_relaxed) : 0;
	*misses = t ? atomic_load_explicit(&t->cache_misses, memory_order_relaxed) : 0;
	*entries = t && t->cache ? vcache_count(t->cache) : 0;
}

void pipeline_cache_stats(uint64_t *hits, uint64_t *misses, uint64_t *entries)
{
	uint64_t h = 0, m = 0, e = 0;
	pthread_mutex_lock(&threads_mu);
	for (struct pipe_thread *t = threads; t; t = t->next) {
		h += atomic_load_explicit(&t->cache_hits, memory_order_relaxed);
		m += atomic_load_explicit(&t->cache_misses, memory_order_relaxed);
		e += atomic_load_explicit(&t->cache_entries, memory_order_relaxed);
	}
	pthread_mutex_unlock(&threads_mu);
	*hits = h;
	*misses = m;
	*entries = e;
}

uint32_t pipeline_thread_take(uint32_t out[PC_COUNT])
{
	struct pipe_thread *t = self;
	if (!t)
		return 0;
	uint32_t mask = t->pending_mask;
	for (uint32_t m = mask; m; m &= m - 1) {
		int c = __builtin_ctz(m);
		out[c] = t->pending[c];
		t->pending[c] = 0;
	}
	t->pending_mask = 0;
	return mask;
}

uint64_t pipeline_thread_spliced(void)
{
	return self ? atomic_load_explicit(&self->spliced, memory_order_relaxed) : 0;
}

uint64_t pipeline_spliced(void)
{
	uint64_t n = 0;
	pthread_mutex_lock(&threads_mu);
	for (struct pipe_thread *t = threads; t; t = t->next)
		n += atomic_load_explicit(&t->spliced, memory_order_relaxed);
	pthread_mutex_unlock(&threads_mu);
	return n;
}

void pipeline_counters(uint64_t out[PC_COUNT])
{
	memset(out, 0, sizeof(uint64_t) * PC_COUNT);
	pthread_mutex_lock(&threads_mu);
	for (struct pipe_thread *t = threads; t; t = t->next)
		for (int i = 0; i < PC_COUNT; i++)
			out[i] += atomic_load_explicit(&t->n[i], memory_order_relaxed);
	pthread_mutex_unlock(&threads_mu);
}

void pipeline_thread_counters(uint64_t out[PC_COUNT])
{
	struct pipe_thread *t = self;
	for (int i = 0; i < PC_COUNT; i++)
		out[i] = t ? atomic_load_explicit(&t->n[i], memory_order_relaxed) : 0;
}

static const char *const counter_names[PC_COUNT] = {
    [PC_SESSION_VALID] = "session_valid",
    [PC_SESSION_MISSING] = "session_missing",
    [PC_SESSION_BAD_SIGNATURE] = "session_bad_signature",
    [PC_SESSION_EXPIRED] = "session_expired",
    [PC_SESSION_FUTURE] = "session_future",
    [PC_SESSION_MALFORMED] = "session_malformed",
    [PC_SESSION_TOO_LARGE] = "session_too_large",
    [PC_PATCH_APPLIED] = "patch_applied",
    [PC_SET_COOKIE_APPLIED] = "set_cookie_applied",
    [PC_REJECT_MALFORMED] = "reject_malformed",
    [PC_REJECT_FORBIDDEN] = "reject_forbidden",
    [PC_REJECT_TEST_FAILED] = "reject_test_failed",
    [PC_REJECT_NOT_FOUND] = "reject_not_found",
    [PC_REJECT_INVALID] = "reject_invalid",
    [PC_REJECT_TOO_MANY] = "reject_too_many",
    [PC_REJECT_BAD_COOKIE] = "reject_bad_cookie",
    [PC_REJECT_UNEXPECTED] = "reject_unexpected_cookie",
    [PC_COOKIE_RESIGNED] = "cookie_resigned",
    [PC_COOKIE_DELETED] = "cookie_deleted",
    [PC_COOKIE_TOO_LARGE] = "cookie_too_large",
    [PC_HEADER_TOO_LARGE] = "header_too_large",
    [PC_UNENCODABLE] = "unencodable",
    [PC_SESSION_UPGRADED] = "session_starlette_upgraded",
};

const char *pipeline_counter_name(enum pipeline_counter c)
{
	return (unsigned)c < PC_COUNT ? counter_names[c] : "unknown";
}

/* ---- helpers ---- */

/* The session outcome for a flask_decode error (ctx->session_outcome). */
static enum pipeline_counter outcome_of(int err)
{
	switch (err) {
	case 0: return PC_SESSION_VALID;
	case SG_EBADSIG: return PC_SESSION_BAD_SIGNATURE;
	case SG_EEXPIRED: return PC_SESSION_EXPIRED;
	case SG_EFUTURE: return PC_SESSION_FUTURE;
	case SG_ETOOBIG: return PC_SESSION_TOO_LARGE;
	default: return PC_SESSION_MALFORMED;
	}
}

/* "valid", "bad_signature"...: the counter name without "session_". */
static const char *outcome_name(enum pipeline_counter c)
{
	return counter_names[c] + 8;
}

/* Why a patch or a backend's session cookie was rejected. */
static enum pipeline_counter reject_of(int err)
{
	switch (err) {
	case SG_EPOLICY: return PC_REJECT_FORBIDDEN;
	case SG_ETESTFAIL: return PC_REJECT_TEST_FAILED;
	case SG_ENOENT: return PC_REJECT_NOT_FOUND;
	case SG_EINVAL: return PC_REJECT_INVALID;
	default: return PC_REJECT_MALFORMED;
	}
}

static bool is_ows(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Does the stored JSON object text have a top-level member `key` whose value
 * is the literal true? A tiny scanner (strings skipped, depth counted) so the
 * no-change path learns whether a session is permanent without a DOM. The
 * text was signed by a key holder; on anything odd the answer is just no. */
static bool text_top_true(const char *s, size_t n, const char *key, size_t klen)
{
	int depth = 0;
	bool want_key = false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (c == '"') {
			size_t st = ++i;
			if ((i = json_string_close(s, st, n)) >= n)
				return false;
			if (depth != 1 || !want_key)
				continue;
			want_key = false;
			size_t j = i + 1;
			while (j < n && is_ows(s[j]))
				j++;
			if (j < n && s[j] == ':')
				j++;
			while (j < n && is_ows(s[j]))
				j++;
			if (i - st == klen && memcmp(s + st, key, klen) == 0 && n - j >= 4 &&
			    memcmp(s + j, "true", 4) == 0)
				return true;
			i = j - 1;
		} else if (c == '{' || c == '[') {
			depth++;
			want_key = depth == 1 && c == '{';
		} else if (c == '}' || c == ']') {
			depth--;
		} else if (c == ',' && depth == 1) {
			want_key = true;
		}
	}
	return false;
}

static bool starts_object(const char *s, size_t n)
{
	size_t i = 0;
	while (i < n && is_ows(s[i]))
		i++;
	return i < n && s[i] == '{';
}

/* Does any header `name` list `tok` (or "*") among its comma-separated tokens? */
static bool hdr_has_token(const struct http_msg *m, const char *name, size_t nlen, const char *tok,
			  size_t toklen)
{
	for (int i = 0; (i = http_hdr_next(m, i, name, nlen, 0)) >= 0; i++) {
		size_t n;
		const char *v = http_hdr_value(m, (unsigned)i, &n);
		size_t k = 0;
		while (k < n) {
			while (k < n && (v[k] == ',' || v[k] == ' ' || v[k] == '\t'))
				k++;
			size_t s = k;
			while (k < n && v[k] != ',')
				k++;
			size_t e = k;
			while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
				e--;
			if ((e - s == 1 && v[s] == '*') ||
			    (e - s == toklen && strncasecmp(v + s, tok, toklen) == 0))
				return true;
		}
	}
	return false;
}

/* A cookie value as werkzeug reads it: DQUOTE'd values are unquoted into a
 * new buffer (*tmp, freed by the caller). */
static int cookie_value(const char *v, size_t n, const char **ret, size_t *ret_len, char **tmp)
{
	*tmp = NULL;
	if (n >= 2 && v[0] == '"' && v[n - 1] == '"') {
		if (!(*tmp = malloc(n)))
			return SG_ENOMEM;
		*ret_len = cookie_unquote(v, n, *tmp);
		*ret = *tmp;
		return 0;
	}
	*ret = v;
	*ret_len = n;
	return 0;
}

static int replace_cookie_header(struct http_msg *m, const char *value, size_t len)
{
	http_hdr_remove(m, "cookie", 6, 0);
	return len ? http_hdr_add(m, "Cookie", 6, value, len) : 0;
}

/* ---- request side ---- */

/* What one request keeps between its two sides (ctx->state); allocated only
 * when there is something to keep (a session, or a Starlette backend). */
struct pipe_req {
	flask_session *fs; /* the client's verified session; NULL = empty */
	bool upgraded;	   /* fs was read from a Starlette cookie: always answer with ours */
	int permanent;	   /* fs has "_permanent": true (1), not (0), not looked yet (-1) */
	bool canonical;	   /* fs->json is Flask's dump of itself: lib/splice.c may patch it */
	/* session: starlette only */
	const char *plain; /* the plain view the backend received ("{}" when none) */
	size_t plain_len;
	char *plain_buf;   /* plain when it is not fs->json */
	char *st_sent;	   /* the Starlette cookie value it received, or NULL */
	size_t st_payload; /* length of its payload (before ".timestamp.signature") */
};

static void req_free(struct pipe_req *rq)
{
	if (!rq)
		return;
	flask_session_free(rq->fs);
	free(rq->plain_buf);
	free(rq->st_sent);
	free(rq);
}

/* accept_starlette_cookies: a client still holding a Starlette cookie where
 * the Flask cookie goes gets it read once (max age: the middleware's default,
 * as the stock app would have accepted it) and re-encoded as a Flask cookie,
 * which then stands for the client's session in this request. */
static int upgrade(struct pipe_conf *pc, struct pipe_thread *t, const char *val, size_t vlen,
		   int64_t now, flask_session **ret)
{
	json *stored;
	char *fc = NULL;
	size_t flen;
	int err = starlette_decode_stored(pc->upgrade, val, vlen, now, STARLETTE_MAX_AGE_DEFAULT,
					  &stored, NULL);
	if (err)
		return err;
	err = flask_encode(pc->signer, scratch(t), stored, now, &fc, &flen);
	json_free(stored);
	if (!err)
		err = flask_decode(pc->signer, scratch(t), fc, flen, now, -1, ret);
	free(fc);
	return err;
}

/* The Cookie header a Starlette backend gets: no Flask cookie, and exactly
 * one Starlette cookie holding the plain view signed now, or none for an
 * empty session (0.26 answers a "{}" cookie with a deletion). */
static int starlette_cookie(struct pipe_conf *pc, const struct pipeline_ctx *ctx,
			    struct pipe_req *rq, const char *ch, size_t chlen, int64_t now,
			    char **ret, size_t *ret_len)
{
	const starlette *st = ctx->backend_index < pc->nst ? pc->st[ctx->backend_index] : NULL;
	const char *sname = ctx->backend->starlette_cookie_name;
	size_t snlen = strlen(sname);
	char *stripped = NULL;
	size_t slen;
	int err = 0;
	if (!st)
		return SG_EINVAL;
	if (rq->plain_len != 2) {
		size_t n;
		err = starlette_encode_text(st, rq->plain, rq->plain_len, now, &rq->st_sent, &n);
		if (err)
			return err;
		/* standard base64 has no '.': the payload ends at the first one */
		rq->st_payload = (size_t)(strchr(rq->st_sent, '.') - rq->st_sent);
	}
	if (!ch) {
		ch = "";
		chlen = 0;
	}
	if (snlen != pc->cname_len || memcmp(sname, pc->cname, snlen) != 0) {
		if ((err = cookie_strip(ch, chlen, pc->cname, pc->cname_len, &stripped, &slen)))
			return err;
		ch = stripped;
		chlen = slen;
	}
	err = cookie_replace(ch, chlen, sname, snlen, rq->st_sent,
			     rq->st_sent ? strlen(rq->st_sent) : 0, ret, ret_len);
	free(stripped);
	return err;
}

/* Is text exactly v's dump in Flask's form (what flask_encode writes)? */
static bool is_own_dump(const json *v, const char *text, size_t len)
{
	char *d;
	size_t dn;
	if (json_dump(v, JSON_DUMP_SORT_KEYS | JSON_DUMP_ASCII, &d, &dn) != 0)
		return false;
	bool same = dn == len && memcmp(d, text, len) == 0;
	free(d);
	return same;
}

int pipeline_request(struct pipeline_ctx *ctx)
{
	const struct sg_session_conf *s = &ctx->cfg->session;
	struct pipe_conf *pc = ctx->conf_state;
	struct http_msg *m = ctx->req;
	enum sg_session_mode mode = ctx->backend->session;

	/* Only sessiongate speaks these to backends. conn.c removed hop-by-hop
	 * headers first, so "Connection: X-Session" cannot remove ours; '_' and
	 * '-' alike because a WSGI app reads X_Session as X-Session. */
	http_hdr_remove(m, s->header_name, strlen(s->header_name), HTTP_MATCH_UNDERSCORE);
	http_hdr_remove(m, s->patch_header_name, strlen(s->patch_header_name),
			HTTP_MATCH_UNDERSCORE);
	if (mode == SG_SESSION_NONE)
		return 0;
	if (!pc) {
		/* no keys (allocation failed at load): an empty session, never a 5xx */
		if (mode == SG_SESSION_HEADER &&
		    http_hdr_add(m, s->header_name, strlen(s->header_name), "{}", 2) != 0) {
			ctx->why = "cannot add the session header";
			return 500;
		}
		return 0;
	}
	struct pipe_thread *t = pipe_thread();
	int64_t now = server_wall_s();
	int status = 0;
	char *joined = NULL, *unq = NULL, *newcookie = NULL, *fwd = NULL, *pbuf = NULL;
	size_t newlen = 0;
	bool rewrite = false;

	/* RFC 6265 allows one Cookie header; HTTP/2 gateways may split it.
	 * Join copies with "; " so every parser behind us sees one list. */
	const char *ch = NULL;
	size_t chlen = 0;
	unsigned ncookie = 0;
	for (int i = 0; (i = http_hdr_next(m, i, "cookie", 6, 0)) >= 0; i++, ncookie++)
		if (ncookie == 0)
			ch = http_hdr_value(m, (unsigned)i, &chlen);
	if (ncookie > 1) {
		size_t total = 0, cap = 0;
		for (int i = 0; (i = http_hdr_next(m, i, "cookie", 6, 0)) >= 0; i++)
			cap += m->hdrs[i].value.len + 2;
		if (!(joined = malloc(cap + 1))) {
			status = 500;
			goto oom;
		}
		for (int i = 0; (i = http_hdr_next(m, i, "cookie", 6, 0)) >= 0; i++) {
			size_t n;
			const char *v = http_hdr_value(m, (unsigned)i, &n);
			if (total) {
				memcpy(joined + total, "; ", 2);
				total += 2;
			}
			memcpy(joined + total, v, n);
			total += n;
		}
		joined[total] = '\0';
		ch = joined;
		chlen = total;
		rewrite = true;
	}

	flask_session *fs = NULL;
	bool upgraded = false;
	enum pipeline_counter outcome = PC_SESSION_MISSING;
	const char *raw = NULL;
	size_t rawlen = 0;
	/* one pass over the header: the cookie, and how to strip or replace it */
	struct cookie_scan cs = {.found = false};
	bool found = ch && cookie_scan(ch, chlen, pc->cname, pc->cname_len, &cs) == 0 && cs.found;
	vcache *vc = NULL;
	const struct vcache_entry *hit = NULL;
	if (found) {
		raw = cs.val;
		rawlen = cs.vlen;
	}
	if (found && rawlen > 0) {
		const char *val;
		size_t vlen;
		if (cookie_value(raw, rawlen, &val, &vlen, &unq) != 0) {
			status = 500;
			goto oom;
		}
		/* a hit: verified before under this key set (cache_for); the
		 * time checks are redone, the rest is copied */
		vc = cache_for(t, pc);
		hit = vc ? vcache_get(vc, val, vlen) : NULL;
		int err;
		if (hit) {
			bump(&t->cache_hits);
			err = signer_check_age(hit->fs->ts, now, pc->max_age);
			if (!err)
				err = flask_session_dup(hit->fs, &fs);
			if (!err && hit->plain != hit->fs->json &&
			    !(pbuf = strndup(hit->plain, hit->plain_len))) {
				flask_session_free(fs);
				fs = NULL;
				err = SG_ENOMEM;
			}
			if (err)
				hit = NULL; /* no session: nothing below reads the entry */
		} else {
			if (vc)
				bump(&t->cache_misses);
			err =
			    flask_decode(pc->signer, scratch(t), val, vlen, now, pc->max_age, &fs);
		}
		if (err && err != SG_ENOMEM && pc->upgrade && starlette_cookie_shaped(val, vlen)) {
			int uerr = upgrade(pc, t, val, vlen, now, &fs);
			if (!uerr) {
				upgraded = true;
				err = 0;
			} else if (uerr == SG_ENOMEM) {
				err = uerr;
			} else {
				log_debug("client %s: not a Starlette cookie either (%s)",
					  ctx->peer, sg_strerror(uerr));
			}
		}
		if (err == SG_ENOMEM) {
			status = 500;
			goto oom;
		}
		outcome = upgraded ? PC_SESSION_UPGRADED : outcome_of(err);
		if (!err && !starts_object(fs->json, fs->json_len)) {
			flask_session_free(fs);
			fs = NULL;
			upgraded = false;
			outcome = PC_SESSION_MALFORMED;
		}
	}

	/* The plain view: Flask's own JSON needs no work (fast path). */
	const char *plain = "{}";
	size_t plen = 2;
	int permanent = -1;
	bool canonical = false;
	if (fs && hit) {
		plain = pbuf ? pbuf : fs->json;
		plen = hit->plain_len;
		permanent = (hit->flags & CACHED_PERMANENT) != 0;
		canonical = (hit->flags & CACHED_CANONICAL) != 0;
	} else if (fs) {
		/* The fast path forwards the stored text as is, so it must be
		 * proven JSON first (a key holder can sign "{?"): one parse per
		 * cookie, on the cache miss; every later request hits. */
		int err;
		if (tag_text_is_plain(fs->json, fs->json_len)) {
			json *v = NULL;
			err = flask_session_parse(fs, &v);
			/* with a cache, learn once per cookie whether its text is
			 * what Flask would write for it (nearly always): then the
			 * patches of this and later responses can be spliced into
			 * the text (lib/splice.c) */
			if (!err && vc)
				canonical = is_own_dump(v, fs->json, fs->json_len);
			json_free(v);
			/* nested beyond what our parser builds (SG_JSON_MAX_DEPTH):
			 * trusted data Flask reads, forwarded as stored */
			if (err == SG_EDEPTH)
				err = 0;
			if (!err) {
				plain = fs->json;
				plen = fs->json_len;
			}
		} else {
			err = tag_plain_text(fs->json, fs->json_len, &pbuf, &plen);
			/* a session that is itself a tag ({" d": ..}) is no dict */
			if (!err && !starts_object(pbuf, plen))
				err = SG_EMALFORMED;
			if (!err)
				plain = pbuf;
		}
		if (err == SG_ENOMEM) {
			flask_session_free(fs);
			status = 500;
			goto oom;
		}
		if (err) {
			flask_session_free(fs);
			fs = NULL;
			upgraded = false;
			outcome = PC_SESSION_MALFORMED;
			plain = "{}";
			plen = 2;
			free(pbuf);
			pbuf = NULL;
		}
	}
	/* A session that went through every check above, from the cookie
	 * itself: cache it (a failure to cache changes nothing). */
	if (fs && vc && !hit && !upgraded) {
		permanent = text_top_true(fs->json, fs->json_len, "_permanent", 10);
		(void)vcache_put(vc, fs, plain, plen,
				 (permanent ? CACHED_PERMANENT : 0) |
				     (canonical ? CACHED_CANONICAL : 0));
		cache_entries_sync(t);
	}
	struct pipe_req *rq = NULL;
	if (fs || mode == SG_SESSION_STARLETTE) {
		if (!(rq = malloc(sizeof(*rq)))) { /* not calloc: see req_new */
			flask_session_free(fs);
			status = 500;
			goto oom;
		}
		*rq = (struct pipe_req){0};
		rq->fs = fs;
		rq->upgraded = upgraded;
		rq->permanent = permanent;
		rq->canonical = canonical;
		rq->plain = plain;
		rq->plain_len = plen;
		rq->plain_buf = pbuf; /* kept: the response side diffs against it */
		pbuf = NULL;
	}
	ctx->state = rq;
	ctx->session_outcome = outcome_name(outcome);
	count(t, outcome);
	if (upgraded)
		log_info("client %s: Starlette session cookie accepted once, answered with a "
			 "Flask cookie (accept_starlette_cookies)",
			 ctx->peer);
	else if (outcome != PC_SESSION_VALID && outcome != PC_SESSION_MISSING)
		log_debug("client %s: session cookie refused (%s): empty session", ctx->peer,
			  outcome_name(outcome));

	/* The Cookie header the backend gets. Header backends never see the
	 * signed cookie; cookie backends (real Flask apps) see it only when it
	 * verified, re-signed with the current key if a fallback key verified
	 * it (the app may not know our fallbacks), or the Flask cookie a
	 * Starlette one was upgraded to; Starlette backends get their own
	 * cookie instead. An invalid cookie is removed from what backends see
	 * but never deleted from the client. */
	if (mode == SG_SESSION_STARLETTE) {
		int err = starlette_cookie(pc, ctx, rq, ch, chlen, now, &newcookie, &newlen);
		if (err == SG_ETOOBIG) {
			count(t, PC_HEADER_TOO_LARGE);
			log_warn("backend %s: the session (%zu bytes of JSON) is too large for a "
				 "Starlette cookie, client %s: 431",
				 ctx->backend->name, plen, ctx->peer);
			ctx->why = "the session is too large to forward (Starlette cookie over "
				   "16 KiB)";
			status = 431;
			goto out;
		}
		if (err) {
			status = 500;
			goto oom;
		}
		rewrite = true;
	} else if (found) {
		int err;
		if (mode == SG_SESSION_COOKIE && fs && upgraded) {
			err = cookie_rewrite(ch, chlen, &cs, pc->cname, pc->cname_len, fs->cookie,
					     fs->cookie_len, &newcookie, &newlen);
			rewrite = true;
		} else if (mode == SG_SESSION_COOKIE && fs && fs->key_index > 0) {
			size_t flen;
			err = flask_resign(pc->signer, fs, now, &fwd, &flen);
			if (!err)
				err = cookie_rewrite(ch, chlen, &cs, pc->cname, pc->cname_len, fwd,
						     flen, &newcookie, &newlen);
			rewrite = true;
		} else if (mode != SG_SESSION_COOKIE || !fs) {
			err = cookie_rewrite(ch, chlen, &cs, pc->cname, pc->cname_len, NULL, 0,
					     &newcookie, &newlen);
			rewrite = true;
		} else {
			err = 0;
		}
		if (err) {
			status = 500;
			goto oom;
		}
	}
	if (rewrite) {
		const char *v = newcookie ? newcookie : joined;
		size_t n = newcookie ? newlen : chlen;
		if (replace_cookie_header(m, v, n) != 0) {
			status = 500;
			goto oom;
		}
	}

	/* Starlette backends read their own cookie: no session header. */
	if (mode == SG_SESSION_STARLETTE) {
		goto out;
	} else if (plen > pc->header_max) {
		count(t, PC_HEADER_TOO_LARGE);
		if (mode == SG_SESSION_HEADER) {
			log_warn(
			    "backend %s: session header of %zu bytes exceeds header_max (%zu), "
			    "client %s: 431",
			    ctx->backend->name, plen, pc->header_max, ctx->peer);
			ctx->why = "the session is too large to forward (session header over "
				   "header_max)";
			status = 431;
			goto out;
		}
		/* a cookie backend reads the cookie; the header is a courtesy */
		log_debug("backend %s: session header of %zu bytes over header_max: not sent",
			  ctx->backend->name, plen);
	} else if (http_hdr_add(m, pc->hname, pc->hname_len, plain, plen) != 0) {
		status = 500;
		goto oom;
	}
	goto out;
oom:
	ctx->why = "out of memory";
	log_error("backend %s: session pipeline: out of memory", ctx->backend->name);
out:
	free(joined);
	free(unq);
	free(newcookie);
	free(fwd);
	free(pbuf);
	return status;
}

/* ---- response side ---- */

/* One response's merge: the DOMs exist only once a change arrived. */
struct merge {
	struct pipeline_ctx *ctx;
	struct pipe_conf *pc;
	struct pipe_thread *t;
	struct patch_policy pol;
	int64_t now;
	json *orig;  /* the session the backend received (stored form) */
	json *cur;   /* orig with the changes applied so far; NULL: none yet */
	bool broken; /* the client's session cannot be parsed: changes are dropped */
};

/* Parses the session the backend received into g->orig, once. */
static int merge_dom(struct merge *g)
{
	if (g->orig)
		return 0;
	if (g->broken)
		return SG_EUNSUPPORTED;
	const struct pipe_req *rq = g->ctx->state;
	const flask_session *fs = rq ? rq->fs : NULL;
	int err = fs ? flask_session_parse(fs, &g->orig) : 0;
	if (!err && !fs && !(g->orig = json_new_object()))
		err = SG_ENOMEM;
	if (err) {
		json_free(g->orig);
		g->orig = NULL;
		g->broken = true;
		count(g->t, PC_UNENCODABLE);
		log_error("backend %s: the client's session cannot be parsed (%s): its changes are "
			  "dropped, the session passes through untouched",
			  g->ctx->backend->name, sg_strerror(err));
		return SG_EUNSUPPORTED;
	}
	return 0;
}

/* The session with the changes applied so far (orig while there are none). */
static const json *merge_now(const struct merge *g)
{
	return g->cur ? g->cur : g->orig;
}

/* g->cur for the changes applied in place (a backend's whole session). */
static int merge_cur(struct merge *g)
{
	int err = merge_dom(g);
	if (err == 0 && !g->cur && !(g->cur = json_copy(g->orig)))
		err = SG_ENOMEM;
	return err;
}

static void merge_reject(struct merge *g, const char *what, enum pipeline_counter r)
{
	count(g->t, r);
	log_warn("backend %s: %s rejected (%s), client %s; the response is delivered without it",
		 g->ctx->backend->name, what, counter_names[r] + 7, g->ctx->peer);
}

/* A cookie backend's Set-Cookie for the session: its whole new session. */
static void merge_set_cookie(struct merge *g, const struct set_cookie *c)
{
	json *after = NULL;
	int err = 0;
	if (cookie_is_deletion(c, g->now)) {
		if (!(after = json_new_object()))
			err = SG_ENOMEM;
	} else {
		const char *val;
		size_t vlen;
		char *unq;
		flask_session *bfs = NULL;
		err = cookie_value(c->value, c->value_len, &val, &vlen, &unq);
		/* no time checks: the backend just signed it, whatever its clock says */
		if (!err)
			err =
			    flask_decode(g->pc->signer, scratch(g->t), val, vlen, g->now, -1, &bfs);
		if (!err)
			err = flask_session_parse(bfs, &after);
		flask_session_free(bfs);
		free(unq);
		if (err && err != SG_ENOMEM) {
			count(g->t, PC_REJECT_BAD_COOKIE);
			log_warn("backend %s: its session Set-Cookie is dropped (%s), client %s",
				 g->ctx->backend->name, sg_strerror(err), g->ctx->peer);
			return;
		}
	}
	if (!err)
		err = merge_cur(g);
	if (err == SG_EUNSUPPORTED) {
		json_free(after);
		return;
	}
	if (!err)
		err = patch_diff_apply(g->cur, g->orig, after, &g->pol, NULL);
	json_free(after);
	if (err)
		merge_reject(g, "session Set-Cookie", reject_of(err));
	else
		count(g->t, PC_SET_COOKIE_APPLIED);
}

/* A Starlette backend's Set-Cookie for its cookie: its whole new session in
 * the plain view. It is diffed against the plain view it received (escaped
 * like its own), not the stored session: a tuple it sends back as the list
 * it saw is no change and stays a tuple. */
static void merge_starlette(struct merge *g, const char *hdr, size_t len,
			    const struct set_cookie *c)
{
	const struct pipe_req *rq = g->ctx->state;
	const struct sg_backend *b = g->ctx->backend;
	const starlette *st =
	    g->ctx->backend_index < g->pc->nst ? g->pc->st[g->ctx->backend_index] : NULL;
	if (!rq || !st)
		return;
	/* Starlette 0.26 re-signs a non-empty session on every response: the
	 * payload we sent, with a new timestamp, is no change (no HMAC, no DOM). */
	if (rq->st_sent && c->value_len > rq->st_payload &&
	    memcmp(c->value, rq->st_sent, rq->st_payload + 1) == 0 &&
	    !cookie_is_deletion(c, g->now))
		return;
	enum starlette_change kind;
	json *plain_after = NULL, *after = NULL, *plain_before = NULL, *before = NULL;
	/* max_age -1: its own fresh cookie, whatever its clock says */
	int err = starlette_read_set_cookie(st, hdr, len, b->starlette_cookie_name,
					    strlen(b->starlette_cookie_name), g->now, -1, &kind,
					    &plain_after);
	if (err && err != SG_ENOMEM) {
		count(g->t, PC_REJECT_BAD_COOKIE);
		log_warn("backend %s: its Starlette session Set-Cookie is dropped (%s), client %s",
			 b->name, sg_strerror(err), g->ctx->peer);
		return;
	}
	if (!err && kind == STARLETTE_DELETE) {
		if (!(after = json_new_object()))
			err = SG_ENOMEM;
	} else if (!err) {
		err = tag_escape(plain_after, &after);
	}
	if (!err)
		err = json_parse(rq->plain, rq->plain_len, 0, &plain_before);
	if (!err)
		err = tag_escape(plain_before, &before);
	if (!err)
		err = merge_cur(g);
	if (!err)
		err = patch_diff_apply(g->cur, before, after, &g->pol, NULL);
	if (err == SG_ENOMEM)
		log_error("backend %s: session pipeline: out of memory", b->name);
	if (err && err != SG_EUNSUPPORTED)
		merge_reject(g, "Starlette session Set-Cookie", reject_of(err));
	else if (!err)
		count(g->t, PC_SET_COOKIE_APPLIED);
	json_free(plain_after);
	json_free(after);
	json_free(plain_before);
	json_free(before);
}

static void merge_patch(struct merge *g, const char *v, size_t n, unsigned k, unsigned total)
{
	if (merge_dom(g) != 0)
		return;
	/* onto a copy, which becomes g->cur: the session stays untouched on
	 * error, and the first patch copies orig once, not twice */
	json *next = NULL;
	int err = patch_apply_copy(merge_now(g), v, n, &g->pol, &next);
	if (err == 0) {
		json_free(g->cur);
		g->cur = next;
	}
	if (err) {
		char what[64];
		snprintf(what, sizeof(what), "session patch %u of %u", k, total);
		merge_reject(g, what, reject_of(err));
	} else {
		count(g->t, PC_PATCH_APPLIED);
	}
}

/* The patch headers spliced into the session's text one after the other
 * (lib/splice.c), when the text is canonical and nothing was merged yet.
 * true: *ret is the result (malloc'd) and every patch counted as applied.
 * false: the DOM path runs them all, as if this had not been tried. */
static bool splice_patches(struct merge *g, const struct http_msg *resp, const char *pname,
			   size_t pname_len, char **ret, size_t *ret_len)
{
	const struct pipe_req *rq = g->ctx->state;
	if (!rq || !rq->fs || !rq->canonical || rq->upgraded || g->orig || g->cur || g->broken)
		return false;
	const char *text = rq->fs->json;
	size_t len = rq->fs->json_len;
	char *own = NULL;
	unsigned n = 0;
	for (int i = 0; (i = http_hdr_next(resp, i, pname, pname_len, HTTP_MATCH_UNDERSCORE)) >= 0;
	     i++, n++) {
		size_t vlen;
		const char *v = http_hdr_value(resp, (unsigned)i, &vlen);
		char *next;
		if (splice_merge_patch(text, len, v, vlen, &g->pol, &next, &len) != 0) {
			free(own);
			return false;
		}
		free(own);
		text = own = next;
	}
	if (!own)
		return false;
	while (n--) {
		count(g->t, PC_PATCH_APPLIED);
		if (g->t)
			bump(&g->t->spliced);
	}
	*ret = own;
	*ret_len = len;
	return true;
}

int pipeline_response(struct pipeline_ctx *ctx, struct http_msg *resp)
{
	const struct sg_session_conf *s = &ctx->cfg->session;
	struct pipe_conf *pc = ctx->conf_state;
	enum sg_session_mode mode = ctx->backend->session;
	const char *pname = s->patch_header_name;
	size_t pname_len = strlen(pname);

	if (mode == SG_SESSION_NONE || !pc) {
		if (http_hdr_remove(resp, pname, pname_len, HTTP_MATCH_UNDERSCORE) > 0)
			log_debug("backend %s: session patch ignored (no session for this backend)",
				  ctx->backend->name);
		/* without keys a Starlette app's cookie cannot be merged; it must
		 * not replace the client's Flask cookie either */
		for (int i = 0; mode == SG_SESSION_STARLETTE &&
				(i = http_hdr_next(resp, i, "set-cookie", 10, 0)) >= 0;
		     i++) {
			size_t n;
			struct set_cookie c;
			const char *v = http_hdr_value(resp, (unsigned)i, &n);
			if (cookie_parse_set_cookie(v, n, &c) == 0 &&
			    ((c.name_len == strlen(s->cookie_name) &&
			      memcmp(c.name, s->cookie_name, c.name_len) == 0) ||
			     (c.name_len == strlen(ctx->backend->starlette_cookie_name) &&
			      memcmp(c.name, ctx->backend->starlette_cookie_name, c.name_len) ==
				  0)))
				http_hdr_remove_at(resp, (unsigned)i);
		}
		return 0;
	}

	struct merge g = {
	    .ctx = ctx,
	    .pc = pc,
	    .t = pipe_thread(),
	    .pol = {ctx->backend->writable_keys, ctx->backend->nwritable},
	    .now = server_wall_s(),
	};
	int status = 0;
	char *value = NULL, *sc = NULL, *spliced = NULL;
	size_t vlen = 0, sclen = 0, splen = 0;

	/* 1. The backend's session Set-Cookie (the last one wins, as in a
	 * browser). Never forwarded: the client gets sessiongate's cookie only.
	 * A Starlette backend's is its own cookie's; one for the Flask cookie
	 * (when the names differ) is as unexpected as a header backend's. */
	const struct sg_backend *be = ctx->backend;
	bool st_mode = mode == SG_SESSION_STARLETTE;
	const char *oname = st_mode ? be->starlette_cookie_name : pc->cname;
	size_t oname_len = strlen(oname);
	int last = -1;
	unsigned stray = 0;
	const char *lastv = NULL;
	size_t lastn = 0;
	struct set_cookie c, lastc;
	for (int i = 0; (i = http_hdr_next(resp, i, "set-cookie", 10, 0)) >= 0; i++) {
		size_t n;
		const char *v = http_hdr_value(resp, (unsigned)i, &n);
		if (cookie_parse_set_cookie(v, n, &c) != 0)
			continue;
		if (c.name_len == oname_len && memcmp(c.name, oname, oname_len) == 0) {
			last = i;
			lastc = c;
			lastv = v;
			lastn = n;
		} else if (st_mode && c.name_len == pc->cname_len &&
			   memcmp(c.name, pc->cname, pc->cname_len) == 0) {
			stray++;
		} else {
			continue;
		}
		http_hdr_remove_at(resp, (unsigned)i); /* bytes stay readable */
	}
	if (last >= 0 && mode == SG_SESSION_COOKIE) {
		merge_set_cookie(&g, &lastc);
	} else if (last >= 0 && st_mode) {
		merge_starlette(&g, lastv, lastn, &lastc);
	} else if (last >= 0) {
		stray++;
	}
	if (stray) {
		/* a header backend setting our cookie would overwrite the shared
		 * session: never let it through */
		count(g.t, PC_REJECT_UNEXPECTED);
		if (st_mode)
			log_warn("backend %s (session: starlette): its Set-Cookie for the Flask "
				 "session cookie \"%s\" is dropped; it changes the session through "
				 "its own cookie \"%s\"",
				 be->name, pc->cname, be->starlette_cookie_name);
		else
			log_warn("backend %s (session: %s): its Set-Cookie for the session cookie "
				 "is dropped; change the session with %s",
				 be->name, config_session_mode_name(mode), pname);
	}

	/* 2. Patch headers, in order; too many is one rejection of them all. */
	unsigned npatch = 0;
	for (int i = 0; (i = http_hdr_next(resp, i, pname, pname_len, HTTP_MATCH_UNDERSCORE)) >= 0;
	     i++)
		npatch++;
	if (npatch > SG_HTTP_PATCH_HEADERS_MAX) {
		char what[64];
		snprintf(what, sizeof(what), "%u session patches (more than %d)", npatch,
			 SG_HTTP_PATCH_HEADERS_MAX);
		merge_reject(&g, what, PC_REJECT_TOO_MANY);
	} else if (npatch == 0 || !splice_patches(&g, resp, pname, pname_len, &spliced, &splen)) {
		unsigned k = 0;
		for (int i = 0;
		     (i = http_hdr_next(resp, i, pname, pname_len, HTTP_MATCH_UNDERSCORE)) >= 0;
		     i++) {
			size_t n;
			const char *v = http_hdr_value(resp, (unsigned)i, &n);
			merge_patch(&g, v, n, ++k, npatch);
		}
	}
	http_hdr_remove(resp, pname, pname_len, HTTP_MATCH_UNDERSCORE);

	/* 3. The result. Unchanged (deep comparison): the client keeps its exact
	 * bytes, unless Flask would refresh a permanent session, or the session
	 * came from a Starlette cookie (upgraded: the client needs ours). */
	const struct pipe_req *rq = ctx->state;
	const flask_session *fs = rq ? rq->fs : NULL;
	bool upgraded = rq && rq->upgraded;
	bool deletion = false, permanent = false;
	const json *fin = merge_now(&g);
	/* spliced: the text is canonical, so unchanged is the same bytes */
	bool text_changed =
	    spliced && !(splen == fs->json_len && memcmp(spliced, fs->json, splen) == 0);
	if (text_changed || (fin && (upgraded || (g.cur && !json_equal(g.orig, g.cur))))) {
		if (text_changed ? splen == 2 /* "{}" */
				 : fin->type == JSON_OBJECT && fin->u.obj.len == 0) {
			deletion = true;
		} else {
			int err;
			if (text_changed) {
				permanent = text_top_true(spliced, splen, "_permanent", 10);
				err = flask_encode_text(pc->signer, scratch(g.t), spliced, splen,
							g.now, &value, &vlen);
			} else {
				const json *p = json_object_get_cstr(fin, "_permanent");
				permanent = p && p->type == JSON_TRUE;
				err = flask_encode(pc->signer, scratch(g.t), fin, g.now, &value,
						   &vlen);
			}
			if (err == SG_ENOMEM)
				goto oom;
			if (err) {
				count(g.t, PC_UNENCODABLE);
				log_error(
				    "backend %s: the changed session cannot be encoded (%s): the "
				    "client keeps its cookie unchanged",
				    ctx->backend->name, sg_strerror(err));
			}
		}
	} else if (upgraded) {
		/* upgrade() signed it just now */
		permanent = text_top_true(fs->json, fs->json_len, "_permanent", 10);
		if (!(value = strdup(fs->cookie)))
			goto oom;
		vlen = fs->cookie_len;
	} else if (fs && pc->refresh &&
		   (rq->permanent >= 0 ? rq->permanent
				       : text_top_true(fs->json, fs->json_len, "_permanent", 10))) {
		/* Flask's SESSION_REFRESH_EACH_REQUEST: same payload, new time */
		permanent = true;
		if (flask_resign(pc->signer, fs, g.now, &value, &vlen) != 0)
			goto oom;
	}

	int err = 0;
	if (deletion)
		err = cookie_build_deletion(pc->cname, pc->cname_len, &pc->attrs, &sc, &sclen);
	else if (value)
		err = cookie_build(pc->cname, pc->cname_len, value, vlen, &pc->attrs,
				   permanent ? g.now + pc->max_age : -1, &sc, &sclen);
	if (err == SG_ENOMEM)
		goto oom;
	if (err) {
		/* config_validate checked the attributes: should not happen */
		log_error("backend %s: cannot build the session cookie: %s", ctx->backend->name,
			  sg_strerror(err));
	} else if (sc) {
		if (sclen > SG_COOKIE_WARN_LEN) {
			count(g.t, PC_COOKIE_TOO_LARGE);
			if (pc->refuse_oversized) {
				log_error("backend %s: new session cookie of %zu bytes is over %d "
					  "(browsers drop it): 500 (refuse_oversized_cookie)",
					  ctx->backend->name, sclen, SG_COOKIE_WARN_LEN);
				ctx->why = "the session cookie grew too large for browsers";
				status = 500;
				goto out;
			}
			log_warn("backend %s: new session cookie of %zu bytes is over %d: browsers "
				 "will silently drop it",
				 ctx->backend->name, sclen, SG_COOKIE_WARN_LEN);
		}
		if (http_hdr_add(resp, "Set-Cookie", 10, sc, sclen) != 0)
			goto oom;
		count(g.t, deletion ? PC_COOKIE_DELETED : PC_COOKIE_RESIGNED);
		ctx->resigned = !deletion;
	}

	/* The response depends on the session (read or written): caches must
	 * key it on the cookie, as Flask says when the session was accessed. */
	if (!hdr_has_token(resp, "vary", 4, "cookie", 6) &&
	    http_hdr_add(resp, "Vary", 4, "Cookie", 6) != 0)
		goto oom;
	goto out;
oom:
	ctx->why = "out of memory";
	log_error("backend %s: session pipeline: out of memory", ctx->backend->name);
	status = 500;
out:
	json_free(g.orig);
	json_free(g.cur);
	free(spliced);
	free(value);
	free(sc);
	return status;
}

void pipeline_done(struct pipeline_ctx *ctx)
{
	req_free(ctx->state);
	ctx->state = NULL;
}
