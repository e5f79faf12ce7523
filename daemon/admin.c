/* daemon/admin.c — the operations listener: GET/HEAD /healthz, /readyz and
 * /metrics, parsed by http.c as strictly as proxied requests, small fixed
 * limits, nothing else (404, 405, 400). Runs on the main thread's loop. */
#include <errno.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/listener.h>

#include "admin.h"
#include "http.h"
#include "log.h"

/* An admin request is one short line and a few headers: generous limits
 * for Prometheus and curl, tight for anything else. */
#define ADMIN_HEAD_MAX	  8192
#define ADMIN_HEADERS_MAX 50
#define ADMIN_CONNS_MAX	  64
#define ADMIN_TIMEOUT_S	  10

struct admin_conn {
	struct admin *a;
	TAILQ_ENTRY(admin_conn) entry;
	struct bufferevent *bev;
	struct http_parser p;
	struct http_msg m;
	bool closing; /* answer written: close once flushed */
};

struct admin {
	struct evconnlistener *l;
	admin_state_fn state;
	void *arg;
	struct http_limits lim;
	TAILQ_HEAD(, admin_conn) conns;
	unsigned nconns;
};

static void admin_conn_close(struct admin_conn *ac)
{
	if (!ac)
		return;
	TAILQ_REMOVE(&ac->a->conns, ac, entry);
	ac->a->nconns--;
	if (ac->bev)
		bufferevent_free(ac->bev);
	http_parser_clear(&ac->p);
	http_msg_clear(&ac->m);
	free(ac);
}

static void admin_conn_reset(struct admin_conn *ac)
{
	http_parser_clear(&ac->p);
	http_msg_clear(&ac->m);
	http_parser_init(&ac->p, HTTP_KIND_REQUEST, &ac->a->lim);
	http_msg_init(&ac->m);
}

static void admin_reply(struct admin_conn *ac, int status, const char *ctype, struct evbuffer *body,
			bool head_only, bool keep, const char *extra)
{
	struct evbuffer *out = bufferevent_get_output(ac->bev);
	size_t len = evbuffer_get_length(body);
	evbuffer_add_printf(out,
			    "HTTP/1.1 %d %s\r\n"
			    "Content-Type: %s\r\n"
			    "Content-Length: %zu\r\n"
			    "Cache-Control: no-store\r\n"
			    "%s%s\r\n",
			    status, http_status_text(status), ctype, len, extra ? extra : "",
			    keep ? "" : "Connection: close\r\n");
	if (!head_only)
		evbuffer_add_buffer(out, body);
	if (!keep)
		ac->closing = true;
}

static void admin_text(struct admin_conn *ac, int status, const char *text, bool head_only,
		       bool keep, const char *extra)
{
	struct evbuffer *b = evbuffer_new();
	if (!b) {
		ac->closing = true;
		return;
	}
	evbuffer_add_printf(b, "%s\n", text);
	admin_reply(ac, status, "text/plain; charset=utf-8", b, head_only, keep, extra);
	evbuffer_free(b);
}

/* Answers one parsed request (marks the connection closing when it must). */
static void admin_handle(struct admin_conn *ac)
{
	struct http_msg *m = &ac->m;
	bool head_only = m->method == HTTP_HEAD;
	/* HTTP/1.0 peers (the Docker HEALTHCHECK) get one answer and a close */
	bool keep = m->keep_alive && m->major == 1 && m->minor == 1;
	if (m->has_body) {
		admin_text(ac, 400, "the admin listener takes no request bodies", head_only, false,
			   NULL);
		return;
	}
	if (m->method != HTTP_GET && m->method != HTTP_HEAD) {
		admin_text(ac, 405, "method not allowed", false, keep, "Allow: GET, HEAD\r\n");
		return;
	}
	const char *path = http_slice_ptr(m, m->path);
	size_t plen = m->path.len;
	const char *q = memchr(path, '?', plen);
	if (q)
		plen = (size_t)(q - path); /* a query string changes nothing here */
#define IS(lit) (plen == sizeof(lit) - 1 && memcmp(path, lit, plen) == 0)
	if (IS("/healthz")) {
		admin_text(ac, 200, "ok", head_only, keep, NULL);
		return;
	}
	struct metrics_state st = {0};
	char why[256] = "";
	if (IS("/readyz")) {
		ac->a->state(&st, why, sizeof(why), ac->a->arg);
		if (st.ready)
			admin_text(ac, 200, "ready", head_only, keep, NULL);
		else
			admin_text(ac, 503, why[0] ? why : "not ready", head_only, keep, NULL);
		return;
	}
	if (IS("/metrics")) {
		ac->a->state(&st, why, sizeof(why), ac->a->arg);
		struct evbuffer *b = evbuffer_new();
		if (!b || metrics_render(b, &st) != 0) {
			if (b)
				evbuffer_free(b);
			admin_text(ac, 500, "out of memory", head_only, false, NULL);
			return;
		}
		admin_reply(ac, 200, "text/plain; version=0.0.4; charset=utf-8", b, head_only, keep,
			    NULL);
		evbuffer_free(b);
		return;
	}
#undef IS
	admin_text(ac, 404, "not found (try /healthz, /readyz or /metrics)", head_only, keep, NULL);
}

static void admin_write_cb(struct bufferevent *bev, void *arg)
{
	struct admin_conn *ac = arg;
	if (ac->closing && evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		admin_conn_close(ac);
}

static void admin_read_cb(struct bufferevent *bev, void *arg)
{
	struct admin_conn *ac = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	while (!ac->closing && evbuffer_get_length(in) > 0) {
		struct evbuffer_iovec v;
		evbuffer_peek(in, -1, NULL, &v, 1);
		size_t used = 0;
		int rc = http_head_feed(&ac->p, &ac->m, v.iov_base, v.iov_len, &used);
		evbuffer_drain(in, used);
		if (rc == HTTP_MORE)
			continue;
		if (rc == HTTP_ERROR) {
			admin_text(ac, ac->p.error_status ? ac->p.error_status : 400,
				   ac->p.error_why ? ac->p.error_why : "bad request", false, false,
				   NULL);
			break;
		}
		admin_handle(ac);
		admin_conn_reset(ac); /* the next (pipelined) request starts afresh */
	}
	if (ac->closing) {
		/* answered for the last time: ignore whatever else comes */
		bufferevent_disable(bev, EV_READ);
		evbuffer_drain(in, evbuffer_get_length(in));
		admin_write_cb(bev, ac);
	}
}

static void admin_event_cb(struct bufferevent *bev, short what, void *arg)
{
	admin_conn_close(arg); /* EOF, error or the idle/header timeout */
}

static void admin_accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
			    int salen, void *arg)
{
	struct admin *a = arg;
	if (a->nconns >= ADMIN_CONNS_MAX) {
		evutil_closesocket(fd);
		return;
	}
	struct admin_conn *ac = calloc(1, sizeof(*ac));
	if (!ac) {
		evutil_closesocket(fd);
		return;
	}
	ac->a = a;
	http_parser_init(&ac->p, HTTP_KIND_REQUEST, &a->lim);
	http_msg_init(&ac->m);
	TAILQ_INSERT_TAIL(&a->conns, ac, entry);
	a->nconns++;
	ac->bev = bufferevent_socket_new(evconnlistener_get_base(l), fd, BEV_OPT_CLOSE_ON_FREE);
	if (!ac->bev) {
		evutil_closesocket(fd);
		admin_conn_close(ac);
		return;
	}
	/* one timeout covers a slow head, an idle keep-alive and a stuck reader */
	struct timeval tv = {ADMIN_TIMEOUT_S, 0};
	bufferevent_set_timeouts(ac->bev, &tv, &tv);
	bufferevent_setcb(ac->bev, admin_read_cb, admin_write_cb, admin_event_cb, ac);
	bufferevent_enable(ac->bev, EV_READ | EV_WRITE);
}

static void admin_accept_error_cb(struct evconnlistener *l, void *arg)
{
	log_warn("admin accept: %s", strerror(EVUTIL_SOCKET_ERROR()));
}

struct admin *admin_new(struct event_base *base, const struct sg_addr *addr, admin_state_fn state,
			void *arg)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC,
				 .ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_NUMERICSERV | AI_PASSIVE};
	struct addrinfo *res = NULL;
	const char *host =
	    addr->host && addr->host[0] && strcmp(addr->host, "*") ? addr->host : NULL;
	int rc = getaddrinfo(host, addr->port, &hints, &res);
	if (rc != 0) {
		log_error("admin %s: cannot resolve: %s", addr->text, gai_strerror(rc));
		return NULL;
	}
	struct admin *a = calloc(1, sizeof(*a));
	if (!a) {
		freeaddrinfo(res);
		return NULL;
	}
	a->state = state;
	a->arg = arg;
	a->lim = (struct http_limits){.max_header_bytes = ADMIN_HEAD_MAX,
				      .max_headers = ADMIN_HEADERS_MAX};
	TAILQ_INIT(&a->conns);
	a->l = evconnlistener_new_bind(base, admin_accept_cb, a,
				       LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_FREE |
					   LEV_OPT_CLOSE_ON_EXEC,
				       64, res->ai_addr, (int)res->ai_addrlen);
	freeaddrinfo(res);
	if (!a->l) {
		log_error("admin listen %s: %s", addr->text, strerror(errno));
		free(a);
		return NULL;
	}
	evconnlistener_set_error_cb(a->l, admin_accept_error_cb);
	log_info("admin listener on %s (/healthz, /readyz, /metrics)", addr->text);
	return a;
}

void admin_free(struct admin *a)
{
	if (!a)
		return;
	evconnlistener_free(a->l);
	struct admin_conn *ac;
	while ((ac = TAILQ_FIRST(&a->conns)))
		admin_conn_close(ac);
	free(a);
}
