/* tests/unit/pipeline_helpers.h — daemon/pipeline.c on parsed heads without sockets, for the
 * pipeline tests. */
#ifndef SG_TEST_PIPELINE_HELPERS_H
#define SG_TEST_PIPELINE_HELPERS_H

#include <stddef.h>

#include "cfgload.h"
#include "helpers.h"
#include "http.h"
#include "pipeline.h"

/* One configuration generation: the loaded config and its pipeline state. */
struct th_pipe {
	struct sg_config *cfg;
	void *pconf;
	struct http_limits lim; /* for parsing the test's heads */
};

/* Loads yaml (no secret files read) with secret as the session key; the
 * caller may edit p->cfg before th_pipe_start. */
void th_pipe_load(struct th_pipe *p, const char *yaml, const char *secret, size_t max_head);
/* Builds the pipeline state from p->cfg. */
void th_pipe_start(struct th_pipe *p);
void th_pipe_free(struct th_pipe *p);

/* A key in a config struct, copied from a C string. */
void th_set_bytes(struct sg_bytes *b, const char *s);

/* Parses a whole head (asserted complete). */
void th_parse(struct http_msg *m, enum http_kind kind, const char *raw,
	      const struct http_limits *lim);
/* The first value of header name (a copy), NULL when absent. */
char *th_hdr(const struct http_msg *m, const char *name);
/* How many name headers m has (match: HTTP_MATCH_* flags). */
unsigned th_hdr_count(const struct http_msg *m, const char *name, unsigned match);

/* "Cookie: session=<value>\r\n" for the session JSON text signed by s now
 * (free it). */
char *th_session_line(const signer *s, const char *text);

/* One request (and maybe its response) through the pipeline. */
struct th_run {
	const struct th_pipe *pipe;
	struct pipeline_ctx ctx;
	struct http_msg req, resp;
	int req_status, resp_status; /* resp_status -1 until th_run_resp */
};

/* "GET / HTTP/1.1" with Host and the header lines req_hdrs, through
 * pipeline_request for backend b; resp starts empty. */
void th_run_req(struct th_run *r, const struct th_pipe *p, size_t b, const char *req_hdrs);
/* A "200 OK" response with the header lines resp_hdrs (replacing any earlier
 * one), through pipeline_response. */
void th_run_resp(struct th_run *r, const char *resp_hdrs);
void th_run_free(struct th_run *r);

#endif
