/* daemon/pipeline.c — session pipeline stub (issue 3): strips client-sent
 * session and patch headers, passes "{}" to header-mode backends and keeps
 * patch headers from reaching clients. Issue 4 replaces the insides. */
#include <string.h>

#include "log.h"
#include "pipeline.h"

void *pipeline_conf_new(const struct sg_config *cfg)
{
	return NULL;
}

void pipeline_conf_free(void *conf_state)
{
}

int pipeline_request(struct pipeline_ctx *ctx)
{
	const struct sg_session_conf *s = &ctx->cfg->session;
	/* '_' and '-' alike: a WSGI app would read X_Session as X-Session */
	http_hdr_remove(ctx->req, s->header_name, strlen(s->header_name), HTTP_MATCH_UNDERSCORE);
	http_hdr_remove(ctx->req, s->patch_header_name, strlen(s->patch_header_name),
			HTTP_MATCH_UNDERSCORE);
	if (ctx->backend->session == SG_SESSION_HEADER &&
	    http_hdr_add(ctx->req, s->header_name, strlen(s->header_name), "{}", 2) != 0) {
		ctx->why = "cannot add the session header";
		return 500;
	}
	return 0;
}

int pipeline_response(struct pipeline_ctx *ctx, struct http_msg *resp)
{
	const struct sg_session_conf *s = &ctx->cfg->session;
	if (http_hdr_remove(resp, s->patch_header_name, strlen(s->patch_header_name),
			    HTTP_MATCH_UNDERSCORE) > 0)
		log_debug("backend %s: session patch ignored (pipeline not built)",
			  ctx->backend->name);
	return 0;
}

void pipeline_done(struct pipeline_ctx *ctx)
{
	ctx->state = NULL;
}
