/* daemon/conn.c — client connections: read one request head at a time, route
 * it, run the session pipeline, stream the body to an upstream connection
 * and the response back, with backpressure (watermarks) and timeouts. Like
 * relayd's relay_close, conn_close frees everything a connection owns. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#ifdef __SANITIZE_ADDRESS__
#include <sanitizer/asan_interface.h>
#else
#define ASAN_POISON_MEMORY_REGION(p, n) ((void)(p), (void)(n))
#define ASAN_UNPOISON_MEMORY_REGION(p, n) ((void)(p), (void)(n))
#endif

#include "accesslog.h"
#include "bufpool.h"
#include "conn.h"
#include "errors.h"
#include "http.h"
#include "sg_limits.h"
#include "log.h"
#include "metrics.h"
#include "pipeline.h"
#include "sockread.h"
#include "sockwrite.h"
#include "upstream.h"

/* Stop reading a source once its destination holds this much: what bounds
 * memory per transfer whatever the body size. */
#define CONN_OUT_HIGH (256 * 1024)
/* Stop reading a client once this much waits unparsed behind the current
 * request (pipelining). Checked by hand, not as a bufferevent read
 * watermark: that one re-adds the read event on every drain. */
#define CONN_IN_HIGH (64 * 1024)
/* After an error answer: how long unread request bytes are discarded before
 * closing, so the client sees the answer rather than a reset. */
#define CONN_LINGER_MS 2000

enum conn_state {
	CS_IDLE,    /* waiting for the first byte of a request */
	CS_HEAD,    /* reading a request head */
	CS_FORWARD, /* routed: upstream connecting or streaming */
	CS_TUNNEL,  /* after 101: bytes both ways */
	CS_CLOSING, /* flushing the last answer, then lingering */
};

/* Per-request state; freed between requests so an idle connection stays small. */
struct req {
	struct srv_conf *sc;       /* generation the request started on (held) */
	struct upstream_set *ups;  /* its pools (held) */
	struct http_parser p;      /* request */
	struct http_msg m;
	struct http_parser rp;     /* response */
	struct http_msg rm;
	const struct sg_backend *be;
	size_t backend;
	char *target;
	size_t tlen;
	struct upstream *up;
	const char *server; /* last server tried, for the log */
	uint64_t tried;
	unsigned attempts;
	struct pipeline_ctx pctx;
	bool piped;        /* pipeline_request ran: pipeline_done owed */
	bool body_started; /* request body bytes left the client's buffer */
	bool req_done;     /* whole request forwarded */
	bool resp_head;    /* response head parsed */
	bool resp_started; /* bytes of the response went to the client */
	bool resp_done;
	bool up_eof;
	bool keep_alive;   /* client connection survives this request */
	bool timed_out;    /* last upstream failure was a timeout */
	int status;        /* sent to the client */
	int64_t start_us;
	int64_t t0_ms;
	int64_t t0_us;     /* monotonic, for the access log and the histogram */
	unsigned mslot;    /* metrics label slot of the backend (0: unrouted) */
	size_t reqid_len;  /* request id: a trusted proxy's or ours (issue 5) */
	char reqid[SG_REQUEST_ID_MAX + 1];
};

struct conn {
	struct worker *w;
	TAILQ_ENTRY(conn) entry;
	struct bufferevent *bev; /* buffers, writes, callbacks */
	struct sockread *rd;     /* reads (runs bev's callbacks): no FIONREAD */
	struct event *timer; /* header deadline; linger */
	struct req *req;
	enum conn_state state;
	bool close_after; /* drain: no further request */
	bool in_loop;     /* inside conn_process: no recursion for pipelined requests */
	bool tunnel_eof;
	bool peer_eof;    /* client half-closed after a complete request */
	bool no_linger;   /* closing: nothing more can come from the client */
	bool wrote;       /* something was written to the client */
	bool nodelay;     /* TCP_NODELAY is set (conn_flush) */
	int peer_family;
	unsigned char peer_addr[16];
	char peer[INET6_ADDRSTRLEN];
};

static void conn_process(struct conn *c);
static void conn_connect(struct conn *c);
static void up_read_cb(struct bufferevent *bev, void *arg);
static void up_write_cb(struct bufferevent *bev, void *arg);
static void up_event_cb(struct bufferevent *bev, short what, void *arg);
static void conn_timer_cb(evutil_socket_t fd, short what, void *arg);

static struct timeval ms_tv(unsigned ms)
{
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
	return tv;
}

static int64_t wall_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Sends what bev's output holds straight to the socket when no write is
 * queued (EV_WRITE off), and arms EV_WRITE only for what the socket did not
 * take: a small head or body costs one send and no epoll_ctl. The write
 * callbacks turn EV_WRITE off again once the output is empty (bev_written).
 * A failed write leaves the bytes queued: the bufferevent's own write then
 * reports the error through the event callback. */
static void bev_flush(struct bufferevent *bev)
{
	struct evbuffer *out = bufferevent_get_output(bev);
	if (evbuffer_get_length(out) == 0)
		return;
	if (!(bufferevent_get_enabled(bev) & EV_WRITE)) {
		/* the bufferevent freezes the output's front outside its own write */
		evbuffer_unfreeze(out, 1);
		sockwrite(out, bufferevent_getfd(bev));
		evbuffer_freeze(out, 1);
		if (evbuffer_get_length(out) == 0)
			return;
	}
	bufferevent_enable(bev, EV_WRITE);
}

/* From a write callback: everything queued went out, stop polling for
 * writability until bev_flush finds a remainder again. */
static void bev_written(struct bufferevent *bev)
{
	if (evbuffer_get_length(bufferevent_get_output(bev)) == 0 &&
	    (bufferevent_get_enabled(bev) & EV_WRITE))
		bufferevent_disable(bev, EV_WRITE);
}

static void conn_nodelay(struct conn *c)
{
	if (c->nodelay)
		return;
	int one = 1;
	evutil_socket_t fd = bufferevent_getfd(c->bev);
	if (fd >= 0)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->nodelay = true;
}

/* Writes what is queued for the client. TCP_NODELAY comes with the
 * connection's second write, as nginx sets it only for keep-alive: Linux's
 * Nagle (Minshall's variant) holds back only a short segment sent while an
 * earlier short one is unacknowledged, so a first write goes out whole, and
 * a connection answered in one write (Connection: close) needs no
 * setsockopt. */
static void conn_flush(struct conn *c)
{
	if (!c->nodelay && evbuffer_get_length(bufferevent_get_output(c->bev)) > 0) {
		if (c->wrote)
			conn_nodelay(c);
		c->wrote = true;
	}
	bev_flush(c->bev);
}

/* bufferevent_set_timeouts for a socket read by sockread: the read half
 * goes to rd, the write half stays on bev. */
static void set_timeouts(struct bufferevent *bev, struct sockread *rd, const struct timeval *tv)
{
	bufferevent_set_timeouts(bev, NULL, tv);
	sockread_set_timeout(rd, tv);
}

static const struct sg_config *conn_cfg(const struct conn *c)
{
	return c->req ? c->req->sc->cfg : c->w->conf->cfg;
}

/* ---- request lifetime ---- */

static struct req *req_new(struct conn *c)
{
	/* not calloc: glibc's calloc bypasses its per-thread cache */
	struct req *r = bufpool_alloc(sizeof(*r));
	if (!r)
		return NULL;
	*r = (struct req){0};
	r->sc = server_conf_hold(c->w->conf);
	r->ups = upstream_set_hold(c->w->ups);
	http_parser_init(&r->p, HTTP_KIND_REQUEST, &r->sc->lim);
	http_msg_init(&r->m);
	http_parser_init(&r->rp, HTTP_KIND_RESPONSE, &r->sc->lim);
	http_msg_init(&r->rm);
	r->start_us = wall_us();
	r->t0_ms = server_now_ms();
	r->t0_us = mono_us();
	return r;
}

/* After each pipeline call: its session events, counted by r's backend.
 * The pipeline counts only inside pipeline_request and pipeline_response,
 * and every call is followed by this, so what is pending is that call's. */
static void req_count_session(const struct req *r)
{
	uint32_t ev[PC_COUNT];
	uint32_t mask = pipeline_thread_take(ev);
	metrics_pipeline(r->mslot, mask, ev);
}

static void req_log(struct conn *c, struct req *r)
{
	if (r->status == 0)
		return;
	int64_t duration_us = mono_us() - r->t0_us;
	metrics_request(r->mslot, r->m.method, r->status, r->p.body_bytes, r->rp.body_bytes,
			duration_us);
	struct log_access rec = {
		.start_us = r->start_us,
		.duration_us = duration_us,
		.request_id = r->reqid,
		.request_id_len = r->reqid_len,
		.client = c->peer,
		.client_len = strlen(c->peer),
		.method = r->m.method_s.len ? http_slice_ptr(&r->m, r->m.method_s) : "",
		.method_len = r->m.method_s.len,
		.path = r->m.target.len ? http_slice_ptr(&r->m, r->m.target) : "",
		.path_len = r->m.target.len,
		.backend = r->be ? r->be->name : NULL,
		.server = r->server,
		.status = r->status,
		.bytes_in = r->p.body_bytes,
		.bytes_out = r->rp.body_bytes,
		.session_outcome = r->pctx.session_outcome,
		.resigned = r->pctx.resigned,
	};
	log_access(&rec);
}

static void req_free(struct conn *c, struct req *r)
{
	if (!r)
		return;
	req_log(c, r);
	if (r->piped)
		pipeline_done(&r->pctx);
	upstream_release(r->up, false);
	upstream_set_drop(r->ups);
	http_parser_clear(&r->p);
	http_parser_clear(&r->rp);
	http_msg_clear(&r->m);
	http_msg_clear(&r->rm);
	free(r->target);
	server_conf_release(r->sc);
	bufpool_free(r);
}

static void conn_free(struct conn *c)
{
	sockread_free(c->rd); /* while the fd is open (a spare's: closed, not reused) */
	if (c->bev)
		bufferevent_free(c->bev);
	if (c->timer)
		event_free(c->timer);
	free(c);
}

/* Keeps a closed connection's bufferevent, reader and timer for the next
 * accept, as nginx reuses its connection structures: creating and freeing
 * them (two evbuffers, three events, libevent's deferred finalizer) was a
 * third of what a request on a new connection costs in user space. The fd
 * is closed and both buffers emptied here: nothing of this client reaches
 * the next. Under ASan the spare's memory is poisoned, so a late use of a
 * closed connection is still reported. */
static bool conn_recycle(struct conn *c)
{
	struct worker *w = c->w;
	if (w->nspare == SERVER_CONN_SPARE || w->draining || !c->bev || !c->rd || !c->timer)
		return false;
	evutil_socket_t fd = bufferevent_getfd(c->bev);
	/* every event off while the fd is open; the spare keeps the stale fd
	 * number until conn_new sets the next one (conn_close_all drops it
	 * before freeing, or bufferevent_free would close it) */
	sockread_disable(c->rd);
	evtimer_del(c->timer);
	/* setfd re-enables what is left enabled (EV_READ never is: sockread) */
	if (bufferevent_get_enabled(c->bev) & EV_WRITE)
		bufferevent_disable(c->bev, EV_WRITE);
	struct evbuffer *in = bufferevent_get_input(c->bev);
	struct evbuffer *out = bufferevent_get_output(c->bev);
	evbuffer_unfreeze(in, 0);
	evbuffer_unfreeze(out, 1);
	evbuffer_drain(in, evbuffer_get_length(in));
	evbuffer_drain(out, evbuffer_get_length(out));
	if (fd >= 0)
		evutil_closesocket(fd);
	w->spare[w->nspare++] = c;
	ASAN_POISON_MEMORY_REGION(c, sizeof(*c));
	return true;
}

void conn_close(struct conn *c)
{
	if (!c)
		return;
	req_free(c, c->req);
	c->req = NULL;
	struct worker *w = c->w;
	TAILQ_REMOVE(&w->conns, c, entry);
	w->nconns--;
	metrics_client_conn(-1);
	if (!conn_recycle(c))
		conn_free(c);
	server_conn_gone(w);
}

/* ---- closing: flush, half-close, linger ---- */

static void linger_read_cb(struct bufferevent *bev, void *arg)
{
	struct evbuffer *in = bufferevent_get_input(bev);
	evbuffer_drain(in, evbuffer_get_length(in));
}

static void linger_event_cb(struct bufferevent *bev, short what, void *arg)
{
	conn_close(arg);
}

static void closing_write_cb(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;
	if (evbuffer_get_length(bufferevent_get_output(bev)) > 0)
		return;
	if (c->no_linger) {
		/* nothing unread can turn the close into a reset: close once
		 * this callback is done (not here: our caller may still use c);
		 * activated, not a zero timer, which would wait for the next
		 * loop pass */
		event_active(c->timer, EV_TIMEOUT, 1);
		return;
	}
	/* Everything sent: half-close and discard what the client still sends
	 * for a moment, so a reset does not destroy our answer in flight. */
	evutil_socket_t fd = bufferevent_getfd(bev);
	if (fd >= 0)
		shutdown(fd, SHUT_WR);
	bufferevent_setcb(bev, linger_read_cb, NULL, linger_event_cb, c);
	struct timeval tv = ms_tv(CONN_LINGER_MS);
	evtimer_add(c->timer, &tv);
	sockread_enable(c->rd);
}

/* Stops the request, lets the client output drain, then closes: at once
 * when the client said it sends nothing more (Connection: close, or it
 * half-closed) and everything it sent was read, as nginx does; otherwise
 * after lingering (closing_write_cb). */
static void conn_finish_close(struct conn *c)
{
	struct req *r = c->req;
	c->no_linger = r && r->req_done && (!r->m.keep_alive || c->peer_eof) &&
		       evbuffer_get_length(bufferevent_get_input(c->bev)) == 0;
	req_free(c, c->req);
	c->req = NULL;
	c->state = CS_CLOSING;
	evtimer_del(c->timer);
	sockread_disable(c->rd);
	bufferevent_setcb(c->bev, linger_read_cb, closing_write_cb, linger_event_cb, c);
	bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
	struct timeval tv = ms_tv(conn_cfg(c)->idle_timeout_ms);
	set_timeouts(c->bev, c->rd, &tv);
	conn_flush(c); /* a remainder arms EV_WRITE: closing_write_cb follows */
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
		closing_write_cb(c->bev, c);
}

/* Something broke after the response started (or the client vanished): the
 * only honest signal left is closing both connections. */
static void conn_abort(struct conn *c, const char *why)
{
	if (c->req && why)
		log_info("client %s: request aborted: %s", c->peer, why);
	conn_close(c);
}

/* http_write_error with the request id header after the status line, so a
 * user can quote the id of an error page too. */
static void conn_write_error(struct conn *c, int status, const char *why, bool keep)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	struct req *r = c->req;
	struct evbuffer *tmp = r ? evbuffer_new() : NULL;
	if (r && !r->reqid_len) {
		accesslog_request_id_new(r->reqid);
		r->reqid_len = ACCESSLOG_REQUEST_ID_LEN;
	}
	if (!tmp || http_write_error(tmp, status, why, keep) != 0) {
		if (tmp)
			evbuffer_free(tmp);
		http_write_error(out, status, why, keep);
		return;
	}
	size_t eol = 0;
	struct evbuffer_ptr p = evbuffer_search_eol(tmp, NULL, &eol, EVBUFFER_EOL_CRLF_STRICT);
	evbuffer_remove_buffer(tmp, out, (size_t)p.pos + eol);
	evbuffer_add_printf(out, "%s: %.*s\r\n", r->sc->cfg->request_id_header, (int)r->reqid_len,
			    r->reqid);
	evbuffer_add_buffer(out, tmp);
	evbuffer_free(tmp);
}

/* Answers the current request with an error. keep: the connection may carry
 * the next request (only when the request has no unread body). */
static void conn_reply(struct conn *c, int status, const char *why, bool keep)
{
	struct req *r = c->req;
	if (r && r->resp_started) {
		conn_abort(c, why);
		return;
	}
	if (r) {
		if (r->up) {
			upstream_release(r->up, false);
			r->up = NULL;
		}
		r->status = status;
		if (r->m.has_body && !r->req_done)
			keep = false;
		if (!r->m.keep_alive || r->m.upgrade)
			keep = false;
	}
	if (c->close_after)
		keep = false;
	if (status >= 500 || status == 408 || status == 413 || status == 431)
		log_info("client %s: %d %s", c->peer, status, why);
	else
		log_debug("client %s: %d %s", c->peer, status, why);
	conn_write_error(c, status, why, keep);
	if (!keep) {
		conn_finish_close(c);
		return;
	}
	req_free(c, r);
	c->req = NULL;
	conn_flush(c); /* after the accounting, as in conn_response_done */
	c->state = CS_IDLE;
	if (!c->peer_eof)
		sockread_on(c->rd);
	conn_process(c);
}

/* ---- the response ---- */

static void conn_response_done(struct conn *c)
{
	struct req *r = c->req;
	bool reusable = r->req_done && r->rm.keep_alive && !r->up_eof && !r->rm.upgrade;
	upstream_release(r->up, reusable);
	r->up = NULL;
	if (!r->keep_alive || c->close_after) {
		conn_finish_close(c);
		return;
	}
	req_free(c, r);
	c->req = NULL;
	conn_flush(c);
	c->state = CS_IDLE;
	if (!c->peer_eof)
		sockread_on(c->rd);
	conn_process(c);
}

static void conn_pump_response(struct conn *c)
{
	struct req *r = c->req;
	struct evbuffer *in = bufferevent_get_input(r->up->bev);
	struct evbuffer *out = bufferevent_get_output(c->bev);
	int rc = HTTP_MORE;
	for (;;) {
		do {
			struct evbuffer_iovec v = {NULL, 0};
			if (evbuffer_get_length(in) > 0)
				evbuffer_peek(in, -1, NULL, &v, 1);
			size_t used = 0;
			rc = http_body_feed(&r->rp, v.iov_base, v.iov_len, &used);
			if (used)
				evbuffer_drain(in, used);
			if (rc == HTTP_ERROR) {
				conn_abort(c, r->rp.error_why);
				return;
			}
		} while (rc == HTTP_MORE && evbuffer_get_length(in) > 0 &&
			 evbuffer_get_length(out) < CONN_OUT_HIGH);
		if (rc != HTTP_MORE || evbuffer_get_length(in) == 0)
			break;
		/* output full: go on while the socket takes it all (what stays
		 * in the input would otherwise wait for another read event) */
		conn_flush(c);
		if (evbuffer_get_length(out) >= CONN_OUT_HIGH)
			break;
	}
	if (rc == HTTP_MORE && r->up_eof && evbuffer_get_length(in) == 0) {
		rc = http_body_eof(&r->rp);
		if (rc != HTTP_DONE) {
			/* backend closed mid-body: the client must not take a
			 * truncated response for a complete one */
			conn_abort(c, "backend closed mid-response");
			return;
		}
	}
	if (rc == HTTP_DONE) {
		/* conn_response_done sends it, after the request is accounted
		 * for: whoever sees the response sees the metrics and log line */
		r->resp_done = true;
		if (evbuffer_get_length(in) > 0)
			r->up_eof = true; /* extra bytes: never reuse */
		conn_response_done(c);
		return;
	}
	conn_flush(c);
	if (evbuffer_get_length(out) >= CONN_OUT_HIGH)
		sockread_disable(r->up->rd); /* resumed by conn_write_cb */
	else if (!r->up_eof)
		sockread_on(r->up->rd);
}

static void tunnel_start(struct conn *c);

/* One side of a tunnel closed (the client's when from_client): flush what
 * it sent to the other side, then close both (no half-open tunnels to keep
 * track of). */
static void tunnel_end(struct conn *c, bool from_client, short what)
{
	struct upstream *up = c->req->up;
	struct bufferevent *from = from_client ? c->bev : up->bev;
	struct bufferevent *to = from_client ? up->bev : c->bev;
	if ((what & BEV_EVENT_EOF) && !c->tunnel_eof) {
		struct evbuffer *out = bufferevent_get_output(to);
		evbuffer_add_buffer(out, bufferevent_get_input(from));
		c->tunnel_eof = true;
		sockread_disable(from_client ? c->rd : up->rd);
		if (evbuffer_get_length(out) > 0) {
			bufferevent_setwatermark(to, EV_WRITE, 0, 0);
			return; /* the write callback closes once flushed */
		}
	}
	conn_close(c);
}

static void conn_response_head(struct conn *c)
{
	struct req *r = c->req;
	struct http_msg *rm = &r->rm;
	upstream_succeeded(r->up);
	if (rm->status == 101 && (!r->m.upgrade || !rm->upgrade)) {
		conn_reply(c, 502, "unexpected 101 response from backend", false);
		return;
	}
	/* hop-by-hop first, as for requests: a backend's "Connection: Set-Cookie"
	 * must not remove the session cookie the pipeline adds */
	http_strip_hop(rm);
	int rc = pipeline_response(&r->pctx, rm);
	req_count_session(r);
	if (rc != 0) {
		conn_reply(c, rc, r->pctx.why ? r->pctx.why : "response refused", false);
		return;
	}
	/* the client sees the request id the access log and the backend saw */
	const char *rid = r->sc->cfg->request_id_header;
	http_hdr_remove(rm, rid, strlen(rid), HTTP_MATCH_UNDERSCORE);
	if (http_hdr_add(rm, rid, strlen(rid), r->reqid, r->reqid_len) != 0) {
		conn_reply(c, 502, "cannot add the request id", false);
		return;
	}
	bool keep = r->m.keep_alive && !c->close_after && !c->w->draining && r->req_done &&
		    !r->m.upgrade;
	enum http_frame frame;
	if (http_write_response(rm, r->m.minor, keep, r->m.method == HTTP_HEAD,
				bufferevent_get_output(c->bev), &frame) != 0) {
		conn_abort(c, "out of memory");
		return;
	}
	if (frame == HTTP_FRAME_EOF)
		keep = false;
	r->keep_alive = keep;
	r->status = rm->status;
	r->resp_started = true;
	r->rp.frame = frame;
	r->rp.out = bufferevent_get_output(c->bev);
	if (rm->status == 101) {
		tunnel_start(c);
		return;
	}
	conn_pump_response(c);
}

/* ---- upstream side ---- */

static bool method_idempotent(int m)
{
	return m == HTTP_GET || m == HTTP_HEAD || m == HTTP_OPTIONS || m == HTTP_PUT ||
	       m == HTTP_DELETE;
}

/* The upstream failed before any response byte: try another server when
 * that cannot duplicate the request, else answer 502/504. */
static void conn_upstream_failed(struct conn *c, bool timeout, bool mark)
{
	struct req *r = c->req;
	struct upstream *up = r->up;
	bool connected = up->connected, reused = up->reused;
	log_warn("upstream %s (backend %s): %s%s", upstream_name(up), r->be->name,
		 connected ? "" : "connect ", timeout ? "timed out" : "failed");
	if (!connected)
		metrics_upstream_error(r->mslot, timeout ? MU_CONNECT_TIMEOUT : MU_CONNECT_ERROR);
	else if (timeout)
		metrics_upstream_error(r->mslot, MU_RESPONSE_TIMEOUT);
	if (mark)
		upstream_failed(up);
	upstream_release(up, false);
	r->up = NULL;
	r->timed_out = timeout;
	bool nothing_sent = !connected;
	bool replayable = reused && method_idempotent(r->m.method) && !r->body_started &&
			  r->rm.len == 0;
	if ((nothing_sent || replayable) && ++r->attempts <= r->be->nservers + 1) {
		if (replayable)
			r->tried = 0; /* a stale pooled connection says nothing about the server */
		http_parser_next(&r->rp);
		http_msg_clear(&r->rm);
		conn_connect(c);
		return;
	}
	if (timeout)
		conn_reply(c, 504, connected ? "backend timed out" : "backend connect timed out",
			   false);
	else
		conn_reply(c, 502, "backend unreachable or broken", false);
}

static void conn_pump_request(struct conn *c);

static void conn_up_connected(struct conn *c)
{
	struct req *r = c->req;
	struct upstream *up = r->up;
	struct timeval tv = ms_tv(r->be->response_timeout_ms);
	set_timeouts(up->bev, up->rd, &tv);
	if (!up->connected) {
		/* once per connection: pooled ones keep it */
		bufferevent_setwatermark(up->bev, EV_WRITE, CONN_OUT_HIGH / 4, 0);
		up->connected = true;
	}
	sockread_on(up->rd);
	if (!r->req_done)
		conn_pump_request(c);
	else
		bev_flush(up->bev); /* a retried head */
}

static void up_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct conn *c = arg;
	struct req *r = c->req;
	if (c->state == CS_TUNNEL) {
		tunnel_end(c, false, what);
		return;
	}
	if (what & BEV_EVENT_CONNECTED) {
		conn_up_connected(c);
		return;
	}
	bool timeout = (what & BEV_EVENT_TIMEOUT) != 0;
	if (r->resp_head) {
		if (what & BEV_EVENT_EOF) {
			r->up_eof = true;
			conn_pump_response(c);
			return;
		}
		if (timeout)
			metrics_upstream_error(r->mslot, MU_RESPONSE_TIMEOUT);
		conn_abort(c, timeout ? "backend timed out mid-response" : "backend failed mid-response");
		return;
	}
	if (timeout && r->up->connected) {
		/* the request may have been processed: never replayed */
		log_warn("upstream %s (backend %s): no response within %u ms", upstream_name(r->up),
			 r->be->name, r->be->response_timeout_ms);
		metrics_upstream_error(r->mslot, MU_RESPONSE_TIMEOUT);
		upstream_failed(r->up);
		conn_reply(c, 504, "backend timed out", false);
		return;
	}
	if (r->rm.len > 0) {
		conn_reply(c, 502, "backend closed mid-response", false);
		return;
	}
	/* a pooled connection the server closed meanwhile is not its fault */
	conn_upstream_failed(c, timeout, !r->up->reused);
}

/* A backend's interim response. 100 Continue is dropped: sessiongate
 * answered Expect itself. Others (102 Processing, 103 Early Hints) go on to
 * an HTTP/1.1 client, as HAProxy does (an HTTP/1.0 client must not get one,
 * RFC 9110 15.2), without session headers: the session's one cookie rides on
 * the final response only. */
static void conn_interim(struct conn *c)
{
	struct req *r = c->req;
	struct http_msg *rm = &r->rm;
	if (rm->status == 100 || r->m.minor < 1)
		return;
	http_strip_hop(rm);
	http_hdr_remove(rm, "set-cookie", 10, 0);
	const char *pname = r->sc->cfg->session.patch_header_name;
	http_hdr_remove(rm, pname, strlen(pname), HTTP_MATCH_UNDERSCORE);
	enum http_frame frame;
	if (http_write_response(rm, r->m.minor, true, false, bufferevent_get_output(c->bev),
				&frame) == 0)
		conn_flush(c);
}

static void up_read_cb(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;
	struct req *r = c->req;
	if (c->state == CS_TUNNEL) {
		struct evbuffer *out = bufferevent_get_output(c->bev);
		evbuffer_add_buffer(out, bufferevent_get_input(bev));
		if (evbuffer_get_length(out) >= CONN_OUT_HIGH)
			sockread_disable(r->up->rd);
		/* the idle timeout counts traffic both ways (HAProxy's timeout
		 * tunnel): a server pushing to a silent client keeps it open */
		sockread_restart(c->rd);
		return;
	}
	if (r->resp_head) {
		conn_pump_response(c);
		return;
	}
	struct evbuffer *in = bufferevent_get_input(bev);
	while (evbuffer_get_length(in) > 0) {
		struct evbuffer_iovec v;
		evbuffer_peek(in, -1, NULL, &v, 1);
		size_t used = 0;
		int rc = http_head_feed(&r->rp, &r->rm, v.iov_base, v.iov_len, &used);
		evbuffer_drain(in, used);
		if (rc == HTTP_MORE)
			continue;
		if (rc == HTTP_ERROR) {
			log_warn("upstream %s (backend %s): %s", upstream_name(r->up), r->be->name,
				 r->rp.error_why);
			r->up_eof = true;
			conn_reply(c, 502, "invalid response from backend", false);
			return;
		}
		if (r->rm.status / 100 == 1 && r->rm.status != 101) {
			conn_interim(c);
			http_parser_next(&r->rp);
			http_msg_clear(&r->rm);
			r->rp.skip_body = r->m.method == HTTP_HEAD;
			continue;
		}
		r->resp_head = true;
		conn_response_head(c);
		return;
	}
}

static void up_write_cb(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;
	if (c->state == CS_TUNNEL) {
		if (c->tunnel_eof && evbuffer_get_length(bufferevent_get_output(bev)) == 0) {
			conn_close(c);
			return;
		}
		sockread_enable(c->rd);
		return;
	}
	bev_written(bev);
	if (c->req && !c->req->req_done)
		conn_pump_request(c);
}

static void conn_connect(struct conn *c)
{
	struct req *r = c->req;
	struct upstream *up = NULL;
	r->rp.skip_body = r->m.method == HTTP_HEAD;
	int rc = upstream_acquire(r->ups, r->backend, &r->tried, &up);
	if (rc != 0) {
		if (rc == SG_ENOENT && r->attempts == 0)
			conn_reply(c, 503, "no backend server available", false);
		else if (r->timed_out)
			conn_reply(c, 504, "backend connect timed out", false);
		else
			conn_reply(c, 502, "backend unreachable", false);
		return;
	}
	r->up = up;
	bufferevent_setcb(up->bev, up_read_cb, up_write_cb, up_event_cb, c);
	const char *host = r->be->preserve_host ? NULL : upstream_name(up);
	struct evbuffer *out = bufferevent_get_output(up->bev);
	enum http_frame frame;
	if (http_write_request(&r->m, r->target, r->tlen, host, out, &frame) != 0) {
		conn_reply(c, 500, "out of memory", false);
		return;
	}
	r->server = upstream_name(up);
	r->p.frame = frame;
	r->p.out = out;
	/* a connecting one reads from conn_up_connected on: until then the
	 * connect's write event reports errors (a read would consume the
	 * socket error libevent's connect check looks for) */
	if (up->connected || up->reused)
		conn_up_connected(c);
}

/* ---- request body ---- */

/* Bytes beyond the current request wait in the input buffer; past
 * CONN_IN_HIGH reading pauses until the response is done (sockread_on). */
static void conn_input_cap(struct conn *c)
{
	if (evbuffer_get_length(bufferevent_get_input(c->bev)) >= CONN_IN_HIGH)
		sockread_disable(c->rd);
}

static void conn_pump_request(struct conn *c)
{
	struct req *r = c->req;
	if (!r->up || !r->up->connected || r->req_done) {
		conn_input_cap(c);
		return;
	}
	struct evbuffer *in = bufferevent_get_input(c->bev);
	struct evbuffer *out = bufferevent_get_output(r->up->bev);
	int rc;
	for (;;) {
		do {
			struct evbuffer_iovec v = {NULL, 0};
			if (evbuffer_get_length(in) > 0)
				evbuffer_peek(in, -1, NULL, &v, 1);
			size_t used = 0;
			rc = http_body_feed(&r->p, v.iov_base, v.iov_len, &used);
			if (used) {
				evbuffer_drain(in, used);
				r->body_started = true;
			}
			if (rc == HTTP_ERROR) {
				int st = r->p.error_status ? r->p.error_status : 400;
				conn_reply(c, st, r->p.error_why ? r->p.error_why : "invalid body",
					   false);
				return;
			}
		} while (rc == HTTP_MORE && evbuffer_get_length(in) > 0 &&
			 evbuffer_get_length(out) < CONN_OUT_HIGH);
		bev_flush(r->up->bev);
		if (rc != HTTP_MORE || evbuffer_get_length(in) == 0 ||
		    evbuffer_get_length(out) >= CONN_OUT_HIGH)
			break;
	}
	if (rc == HTTP_DONE) {
		/* pipelined requests wait in the input buffer (reading stays on,
		 * bounded by conn_input_cap) until this one is answered */
		r->req_done = true;
		conn_input_cap(c);
		return;
	}
	if (evbuffer_get_length(out) >= CONN_OUT_HIGH)
		sockread_disable(c->rd); /* resumed by up_write_cb */
	else
		sockread_on(c->rd);
}

/* ---- routing ---- */

static bool peer_trusted(const struct conn *c, const struct sg_config *cfg)
{
	if (cfg->ntrusted == 0)
		return false;
	return config_cidr_match(cfg->trusted_proxies, cfg->ntrusted, c->peer_family, c->peer_addr);
}

/* The request id (issue 5): a trusted proxy's value when sane (visible
 * ASCII, at most SG_REQUEST_ID_MAX bytes), otherwise a new random one. */
static void req_request_id(struct conn *c, struct req *r)
{
	const struct sg_config *cfg = r->sc->cfg;
	if (peer_trusted(c, cfg)) {
		size_t vlen = 0;
		const char *v = http_hdr_get(&r->m, cfg->request_id_header,
					     strlen(cfg->request_id_header), HTTP_MATCH_UNDERSCORE,
					     &vlen);
		if (v && accesslog_request_id_ok(v, vlen)) {
			memcpy(r->reqid, v, vlen);
			r->reqid[vlen] = '\0';
			r->reqid_len = vlen;
			return;
		}
	}
	accesslog_request_id_new(r->reqid);
	r->reqid_len = ACCESSLOG_REQUEST_ID_LEN;
}

static void conn_route(struct conn *c)
{
	struct req *r = c->req;
	const struct sg_config *cfg = r->sc->cfg;
	struct http_msg *m = &r->m;
	req_request_id(c, r);
	const char *host = m->host.len ? http_slice_ptr(m, m->host) : NULL;
	const char *path = http_slice_ptr(m, m->path);
	size_t plen = m->path.len;
	/* absolute-form without a path ("http://h" or "http://h?q") means "/" */
	char fixed[2] = "/";
	char *fpath = NULL;
	if (plen == 0 || path[0] != '/') {
		fpath = malloc(plen + 2);
		if (!fpath) {
			conn_reply(c, 500, "out of memory", false);
			return;
		}
		fpath[0] = '/';
		memcpy(fpath + 1, path, plen);
		path = fpath;
		plen++;
	}
	(void)fixed;
	const struct sg_route *route = config_route_match(cfg, host, m->host.len, path, plen);
	if (!route) {
		free(fpath);
		conn_reply(c, 404, "no route for this request", true);
		return;
	}
	r->backend = route->backend;
	r->be = &cfg->backends[route->backend];
	r->mslot = metrics_backend(r->be->name);
	r->target = malloc(plen + 2);
	if (!r->target ||
	    config_strip_prefix(route, path, plen, r->target, plen + 2, &r->tlen) != 0) {
		free(fpath);
		conn_reply(c, 500, "cannot rewrite the request target", false);
		return;
	}
	free(fpath);

	http_strip_hop(m);
	r->pctx = (struct pipeline_ctx){
		.cfg = cfg,
		.conf_state = r->sc->pipeline,
		.backend = r->be,
		.backend_index = r->backend,
		.req = m,
		.peer = c->peer,
	};
	r->piped = true;
	int rc = pipeline_request(&r->pctx);
	req_count_session(r);
	if (rc != 0) {
		conn_reply(c, rc, r->pctx.why ? r->pctx.why : "request refused", true);
		return;
	}
	if (http_set_forwarded(m, c->peer, peer_trusted(c, cfg), "http") != 0) {
		conn_reply(c, 500, "out of memory", false);
		return;
	}
	/* the backend sees exactly one request id: the trusted proxy's or ours */
	const char *rid = cfg->request_id_header;
	http_hdr_remove(m, rid, strlen(rid), HTTP_MATCH_UNDERSCORE);
	if (http_hdr_add(m, rid, strlen(rid), r->reqid, r->reqid_len) != 0) {
		conn_reply(c, 500, "out of memory", false);
		return;
	}
	c->state = CS_FORWARD;
	if (m->has_body) {
		/* the body is read once the upstream is connected; without one
		 * reading stays on (see conn_input_cap) */
		sockread_disable(c->rd);
		if (m->expect_continue) {
			evbuffer_add(bufferevent_get_output(c->bev), "HTTP/1.1 100 Continue\r\n\r\n",
				     25);
			conn_flush(c);
		}
	}
	conn_connect(c);
}

/* ---- client side ---- */

/* Reads request heads from buffered input; returns -1 when c was freed. */
static int conn_read_head_loop(struct conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	while (evbuffer_get_length(in) > 0 && (c->state == CS_IDLE || c->state == CS_HEAD)) {
		if (c->close_after && c->state == CS_IDLE) {
			conn_finish_close(c);
			return 0;
		}
		if (!c->req) {
			c->req = req_new(c);
			if (!c->req) {
				conn_close(c);
				return -1;
			}
		}
		if (c->state == CS_IDLE) {
			c->state = CS_HEAD;
			if (!evtimer_pending(c->timer, NULL)) {
				struct timeval tv = ms_tv(c->req->sc->cfg->header_timeout_ms);
				evtimer_add(c->timer, &tv);
			}
		}
		struct req *r = c->req;
		struct evbuffer_iovec v;
		evbuffer_peek(in, -1, NULL, &v, 1);
		size_t used = 0;
		int rc = http_head_feed(&r->p, &r->m, v.iov_base, v.iov_len, &used);
		evbuffer_drain(in, used);
		if (rc == HTTP_MORE)
			continue;
		evtimer_del(c->timer);
		if (rc == HTTP_ERROR)
			conn_reply(c, r->p.error_status, r->p.error_why, false);
		else
			conn_route(c);
		/* an answer given synchronously (404...) may leave c idle with
		 * pipelined requests buffered: the loop takes the next one */
	}
	/* the client half-closed: every complete request it sent is answered */
	if (c->peer_eof && (c->state == CS_IDLE || c->state == CS_HEAD))
		conn_finish_close(c);
	return 0;
}

static void conn_read_head(struct conn *c)
{
	c->in_loop = true;
	if (conn_read_head_loop(c) == 0)
		c->in_loop = false;
}

/* Takes the next buffered (pipelined) request once the previous one is
 * answered; iterative, never recursive. */
static void conn_process(struct conn *c)
{
	if (!c->in_loop && c->state == CS_IDLE)
		conn_read_head(c);
}

static void conn_read_cb(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;
	switch (c->state) {
	case CS_IDLE:
	case CS_HEAD:
		conn_read_head(c);
		break;
	case CS_FORWARD:
		conn_pump_request(c);
		break;
	case CS_TUNNEL: {
		struct req *r = c->req;
		struct evbuffer *out = bufferevent_get_output(r->up->bev);
		evbuffer_add_buffer(out, bufferevent_get_input(bev));
		if (evbuffer_get_length(out) >= CONN_OUT_HIGH)
			sockread_disable(c->rd);
		sockread_restart(r->up->rd); /* as in up_read_cb */
		break;
	}
	case CS_CLOSING:
		linger_read_cb(bev, c);
		break;
	}
}

static void conn_write_cb(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;
	struct req *r = c->req;
	if (c->state == CS_TUNNEL) {
		if (c->tunnel_eof && evbuffer_get_length(bufferevent_get_output(bev)) == 0) {
			conn_close(c);
			return;
		}
		sockread_enable(r->up->rd);
		return;
	}
	bev_written(bev);
	if (c->state == CS_FORWARD && r && r->resp_head && !r->resp_done && r->up)
		conn_pump_response(c);
}

static void conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct conn *c = arg;
	struct req *r = c->req;
	if (c->state == CS_TUNNEL) {
		tunnel_end(c, true, what);
		return;
	}
	if (what & BEV_EVENT_TIMEOUT) {
		if (c->state == CS_HEAD) {
			conn_reply(c, 408, "request header timeout", false);
			return;
		}
		if (c->state == CS_FORWARD && r && (what & BEV_EVENT_READING)) {
			if (!r->m.has_body || r->req_done) {
				/* the request is in: a quiet client while the response
				 * is awaited (the backend's timeout) or streams is fine */
				sockread_enable(c->rd);
				return;
			}
			if (!r->resp_started) {
				conn_reply(c, 408, "request body timeout", false);
				return;
			}
		}
		conn_close(c);
		return;
	}
	if ((what & BEV_EVENT_EOF) && c->state == CS_FORWARD && r &&
	    (r->req_done || !r->m.has_body)) {
		/* half-closed after a full request: still answer it, and the
		 * complete requests buffered behind it (conn_read_head_loop) */
		c->peer_eof = true;
		return;
	}
	if (c->state == CS_FORWARD && r && r->status == 0 && (what & BEV_EVENT_ERROR))
		log_debug("client %s: connection error mid-request", c->peer);
	conn_close(c);
}

static void conn_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	if (c->state == CS_HEAD) {
		conn_reply(c, 408, "request header timeout", false);
		return;
	}
	conn_close(c); /* idle (nothing received) or end of linger */
}

/* ---- tunnel ---- */

static void tunnel_start(struct conn *c)
{
	struct req *r = c->req;
	c->state = CS_TUNNEL;
	unsigned ms = r->sc->cfg->idle_timeout_ms;
	struct timeval tv = ms_tv(ms);
	set_timeouts(c->bev, c->rd, &tv);
	set_timeouts(r->up->bev, r->up->rd, &tv);
	bufferevent_setwatermark(c->bev, EV_WRITE, CONN_OUT_HIGH / 4, 0);
	bufferevent_setwatermark(r->up->bev, EV_WRITE, CONN_OUT_HIGH / 4, 0);
	/* bytes already read on either side belong to the new protocol */
	evbuffer_add_buffer(bufferevent_get_output(c->bev), bufferevent_get_input(r->up->bev));
	evbuffer_add_buffer(bufferevent_get_output(r->up->bev), bufferevent_get_input(c->bev));
	conn_nodelay(c); /* small messages both ways from here on */
	bufferevent_enable(c->bev, EV_WRITE);
	bufferevent_enable(r->up->bev, EV_WRITE);
	sockread_enable(c->rd);
	sockread_enable(r->up->rd);
}

/* ---- accept ---- */

/* A connection for fd: a spare one (conn_recycle) or a new one. */
static struct conn *conn_new(struct worker *w, evutil_socket_t fd)
{
	struct conn *c;
	if (w->nspare > 0) {
		c = w->spare[--w->nspare];
		ASAN_UNPOISON_MEMORY_REGION(c, sizeof(*c));
		struct bufferevent *bev = c->bev;
		struct sockread *rd = c->rd;
		struct event *timer = c->timer; /* its argument is c still */
		*c = (struct conn){.w = w, .bev = bev, .rd = rd, .timer = timer};
		bufferevent_setfd(bev, fd); /* unfreezes both buffers */
		sockread_setfd(rd, fd);
		/* as bufferevent_socket_new leaves them (sockread, bev_flush) */
		evbuffer_freeze(bufferevent_get_input(bev), 0);
		evbuffer_freeze(bufferevent_get_output(bev), 1);
	} else {
		c = calloc(1, sizeof(*c));
		if (!c)
			return NULL;
		c->w = w;
		c->bev = bufferevent_socket_new(w->base, fd, BEV_OPT_CLOSE_ON_FREE);
		c->rd = c->bev ? sockread_new(w->base, c->bev) : NULL;
		c->timer = evtimer_new(w->base, conn_timer_cb, c);
	}
	return c;
}

void conn_accept(struct worker *w, evutil_socket_t fd, const struct sockaddr *sa, int salen)
{
	struct conn *c = conn_new(w, fd);
	if (!c) {
		evutil_closesocket(fd);
		return;
	}
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
		c->peer_family = AF_INET;
		memcpy(c->peer_addr, &sin->sin_addr, 4);
		config_ipv4_format(c->peer_addr, c->peer);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;
		c->peer_family = AF_INET6;
		memcpy(c->peer_addr, &sin6->sin6_addr, 16);
		inet_ntop(AF_INET6, &sin6->sin6_addr, c->peer, sizeof(c->peer));
	} else {
		strcpy(c->peer, "unknown");
	}
	TAILQ_INSERT_TAIL(&w->conns, c, entry);
	w->nconns++;
	metrics_client_conn(+1);
	if (!c->bev || !c->rd || !c->timer) {
		if (!c->bev)
			evutil_closesocket(fd);
		conn_close(c);
		return;
	}
	const struct sg_config *cfg = w->conf->cfg;
	bufferevent_setcb(c->bev, conn_read_cb, conn_write_cb, conn_event_cb, c);
	struct timeval idle = ms_tv(cfg->idle_timeout_ms);
	set_timeouts(c->bev, c->rd, &idle);
	bufferevent_setwatermark(c->bev, EV_WRITE, CONN_OUT_HIGH / 4, 0);
	/* armed only for a remainder (bev_flush); a new bufferevent starts with it */
	if (bufferevent_get_enabled(c->bev) & EV_WRITE)
		bufferevent_disable(c->bev, EV_WRITE);
	/* a new connection must deliver its first head within header_timeout */
	struct timeval tv = ms_tv(cfg->header_timeout_ms);
	evtimer_add(c->timer, &tv);
	sockread_enable(c->rd);
}

void conn_drain_all(struct worker *w)
{
	struct conn *c, *next;
	for (c = TAILQ_FIRST(&w->conns); c; c = next) {
		next = TAILQ_NEXT(c, entry); /* conn_close frees c */
		c->close_after = true;
		if (c->state == CS_IDLE && !c->req)
			conn_close(c);
	}
}

void conn_close_all(struct worker *w)
{
	struct conn *c;
	while ((c = TAILQ_FIRST(&w->conns)))
		conn_close(c);
	while (w->nspare > 0) {
		c = w->spare[--w->nspare];
		ASAN_UNPOISON_MEMORY_REGION(c, sizeof(*c));
		bufferevent_setfd(c->bev, -1); /* its fd number was closed */
		conn_free(c);
	}
}
