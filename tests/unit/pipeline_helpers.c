/* tests/unit/pipeline_helpers.c — daemon/pipeline.c on parsed heads without sockets, for the
 * pipeline tests. */
#include "pipeline_helpers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void th_set_bytes(struct sg_bytes *b, const char *s)
{
	b->ptr = (unsigned char *)strdup(s);
	b->len = strlen(s);
}

void th_pipe_load(struct th_pipe *p, const char *yaml, const char *secret, size_t max_head)
{
	char err[256];
	ck_assert_int_eq(cfgload_buffer("t.yaml", yaml, strlen(yaml), CFGLOAD_NO_SECRETS, &p->cfg,
					err, sizeof(err)),
			 0);
	th_set_bytes(&p->cfg->session.secret, secret);
	p->pconf = NULL;
	p->lim = (struct http_limits){max_head, 50, 0, true};
}

void th_pipe_start(struct th_pipe *p)
{
	p->pconf = pipeline_conf_new(p->cfg);
	ck_assert_ptr_nonnull(p->pconf);
}

void th_pipe_free(struct th_pipe *p)
{
	pipeline_conf_free(p->pconf);
	config_free(p->cfg);
}

void th_parse(struct http_msg *m, enum http_kind kind, const char *raw,
	      const struct http_limits *lim)
{
	struct http_parser p;
	http_parser_init(&p, kind, lim);
	http_msg_init(m);
	size_t used;
	ck_assert_int_eq(http_head_feed(&p, m, raw, strlen(raw), &used), HTTP_DONE);
	http_parser_clear(&p);
}

char *th_hdr(const struct http_msg *m, const char *name)
{
	size_t n;
	const char *v = http_hdr_get(m, name, strlen(name), 0, &n);
	return v ? strndup(v, n) : NULL;
}

unsigned th_hdr_count(const struct http_msg *m, const char *name, unsigned match)
{
	unsigned k = 0;
	for (int i = 0; (i = http_hdr_next(m, i, name, strlen(name), match)) >= 0; i++)
		k++;
	return k;
}

/* Parses the head printed from fmt (any length). */
static void parse_fmt(struct http_msg *m, enum http_kind kind, const struct http_limits *lim,
		      const char *fmt, const char *hdrs)
{
	int n = snprintf(NULL, 0, fmt, hdrs);
	ck_assert_int_ge(n, 0);
	char *buf = malloc((size_t)n + 1);
	snprintf(buf, (size_t)n + 1, fmt, hdrs);
	th_parse(m, kind, buf, lim);
	free(buf);
}

void th_run_req(struct th_run *r, const struct th_pipe *p, size_t b, const char *req_hdrs)
{
	r->pipe = p;
	parse_fmt(&r->req, HTTP_KIND_REQUEST, &p->lim, "GET / HTTP/1.1\r\nHost: a\r\n%s\r\n",
		  req_hdrs);
	http_strip_hop(&r->req);
	r->ctx = (struct pipeline_ctx){.cfg = p->cfg,
				       .conf_state = p->pconf,
				       .backend = &p->cfg->backends[b],
				       .backend_index = b,
				       .req = &r->req,
				       .peer = "127.0.0.1"};
	r->req_status = pipeline_request(&r->ctx);
	http_msg_init(&r->resp);
	r->resp_status = -1;
}

void th_run_resp(struct th_run *r, const char *resp_hdrs)
{
	http_msg_clear(&r->resp);
	parse_fmt(&r->resp, HTTP_KIND_RESPONSE, &r->pipe->lim,
		  "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n%s\r\n", resp_hdrs);
	r->resp_status = pipeline_response(&r->ctx, &r->resp);
}

void th_run_free(struct th_run *r)
{
	pipeline_done(&r->ctx);
	http_msg_clear(&r->req);
	http_msg_clear(&r->resp);
}

char *th_session_line(const signer *s, const char *text)
{
	char *v = th_flask_sign(s, text, th_wall_s());
	size_t n = strlen(v) + 32;
	char *line = malloc(n);
	snprintf(line, n, "Cookie: session=%s\r\n", v);
	free(v);
	return line;
}
