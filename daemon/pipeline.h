/* daemon/pipeline.h — the session pipeline (issue 4): called by conn.c once per
 * request on each side to decode the Flask session once, hand it to the
 * backend, merge its changes and emit at most one re-signed cookie. */
#ifndef SG_PIPELINE_H
#define SG_PIPELINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "http.h"

/* What the pipeline sees of one request. conn.c fills the inputs; the
 * pipeline owns `state` (freed by pipeline_done) and sets the outputs. */
struct pipeline_ctx {
	/* inputs */
	const struct sg_config *cfg; /* the generation the request started on */
	void *conf_state;	     /* pipeline_conf_new()'s result for cfg */
	const struct sg_backend *backend;
	size_t backend_index;
	struct http_msg *req; /* request head: hop-by-hop already removed */
	const char *peer;     /* client address, for logs */

	/* pipeline-owned, per request */
	void *state;

	/* outputs */
	const char *why;	     /* body of a refusal (static string) */
	const char *session_outcome; /* for the access log/metrics: "valid", "missing"...,
					"starlette_upgraded" (accept_starlette_cookies) */
	bool resigned;		     /* a new session cookie was emitted */
};

/* Per configuration generation (signer with the keys' HMAC states, cookie
 * attributes): built when a config is loaded, freed when its last request is
 * done. Returns NULL when the config has no secret (every backend is
 * session: none) or on allocation failure; the pipeline then only strips
 * client-sent session and patch headers. */
void *pipeline_conf_new(const struct sg_config *cfg);
void pipeline_conf_free(void *conf_state); /* NULL is a no-op */

/* After routing, before forwarding: may read, remove and add request headers
 * (http.h header API). Returns 0 to forward, or an HTTP status (e.g. 431)
 * that conn.c answers with, ctx->why as the body. */
int pipeline_request(struct pipeline_ctx *ctx);

/* After the backend's response head is parsed, before it goes to the client:
 * may remove headers (patch headers, a backend's session Set-Cookie) and add
 * Set-Cookie and Vary. Returns 0, or an HTTP status (e.g. 500 when refusing
 * an oversized cookie) that replaces the response. Not called for 1xx. */
int pipeline_response(struct pipeline_ctx *ctx, struct http_msg *resp);

/* Frees ctx->state; called exactly once per request that reached
 * pipeline_request, whatever happened afterwards. */
void pipeline_done(struct pipeline_ctx *ctx);

/* Counters for the metrics module (issue 5). Each worker thread counts in
 * its own block (no locks or atomic read-modify-write on the hot path);
 * pipeline_counters sums every thread's block at the time of the call. */
enum pipeline_counter {
	/* sessions decoded, by outcome (ctx->session_outcome) */
	PC_SESSION_VALID,
	PC_SESSION_MISSING,
	PC_SESSION_BAD_SIGNATURE,
	PC_SESSION_EXPIRED,
	PC_SESSION_FUTURE,
	PC_SESSION_MALFORMED,
	PC_SESSION_TOO_LARGE,
	/* patch headers and cookie backends' session Set-Cookies merged */
	PC_PATCH_APPLIED,
	PC_SET_COOKIE_APPLIED,
	/* changes rejected as a whole, by reason */
	PC_REJECT_MALFORMED,   /* not JSON, bad op shape, bad pointer, too big/deep */
	PC_REJECT_FORBIDDEN,   /* touches a key outside writable_keys */
	PC_REJECT_TEST_FAILED, /* a JSON Patch "test" op failed */
	PC_REJECT_NOT_FOUND,   /* a JSON Patch path that does not exist */
	PC_REJECT_INVALID,     /* would make the session a non-object... */
	PC_REJECT_TOO_MANY,    /* more than SG_HTTP_PATCH_HEADERS_MAX patch headers */
	PC_REJECT_BAD_COOKIE,  /* a session Set-Cookie failing verification */
	PC_REJECT_UNEXPECTED,  /* a session Set-Cookie from a header backend */
	/* what went back to clients */
	PC_COOKIE_RESIGNED,  /* a new session cookie (changed or refreshed) */
	PC_COOKIE_DELETED,   /* a deletion cookie (session became empty) */
	PC_COOKIE_TOO_LARGE, /* a new cookie over SG_COOKIE_WARN_LEN (warned or refused) */
	PC_HEADER_TOO_LARGE, /* session header over header_max: 431 */
	PC_UNENCODABLE,	     /* a changed session could not be re-encoded: kept as it was */
	/* a client's Starlette cookie read once as its session and answered with a
	 * Flask cookie (accept_starlette_cookies); also the request's outcome */
	PC_SESSION_UPGRADED,
	PC_COUNT
};

/* "session_valid", "reject_forbidden"...: stable names for metric labels. */
const char *pipeline_counter_name(enum pipeline_counter c);
/* Sums every thread's counters into out (takes a mutex: not per request). */
void pipeline_counters(uint64_t out[PC_COUNT]);
/* The calling thread's own counters, lock-free. */
void pipeline_thread_counters(uint64_t out[PC_COUNT]);
/* What the calling thread counted since its last call: a mask of counters,
 * with out[c] set for each c in it. Counting happens only inside
 * pipeline_request and pipeline_response; conn.c takes them after every
 * such call to count that request's events by backend. */
uint32_t pipeline_thread_take(uint32_t out[PC_COUNT]);

/* The calling thread's verified-cookie cache: lookups that hit and missed
 * (by cookies that were then fully verified), and entries held. */
void pipeline_thread_cache_stats(uint64_t *hits, uint64_t *misses, size_t *entries);
/* The same summed over every thread that ran the pipeline (an exited
 * thread's entries are 0), for /metrics: takes a mutex, not per request; the
 * workers count lock-free like their counters. */
void pipeline_cache_stats(uint64_t *hits, uint64_t *misses, uint64_t *entries);

/* Patch headers applied to the session's JSON text directly (lib/splice.c:
 * canonical session, top-level plain values) rather than through a parsed
 * copy: the calling thread's, and summed over threads (a mutex: scrapes). */
uint64_t pipeline_thread_spliced(void);
uint64_t pipeline_spliced(void);

#endif
