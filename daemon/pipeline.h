/* daemon/pipeline.h — the seam where the session pipeline (issue 4) plugs
 * into the proxy: called by conn.c once per request on each side. */
#ifndef SG_PIPELINE_H
#define SG_PIPELINE_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "http.h"

/* What the pipeline sees of one request. conn.c fills the inputs; the
 * pipeline owns `state` (freed by pipeline_done) and sets the outputs. */
struct pipeline_ctx {
	/* inputs */
	const struct sg_config *cfg;     /* the generation the request started on */
	void *conf_state;                /* pipeline_conf_new()'s result for cfg */
	const struct sg_backend *backend;
	size_t backend_index;
	struct http_msg *req;            /* request head: hop-by-hop already removed */
	const char *peer;                /* client address, for logs */

	/* pipeline-owned, per request */
	void *state;

	/* outputs */
	const char *why;                 /* body of a refusal (static string) */
	const char *session_outcome;     /* for the access log/metrics: "valid", "missing"... */
	bool resigned;                   /* a new session cookie was emitted */
};

/* Per configuration generation (keys, derived HMAC state...): built when a
 * config is loaded, freed when its last request is done. NULL is allowed. */
void *pipeline_conf_new(const struct sg_config *cfg);
void pipeline_conf_free(void *conf_state);

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

#endif
