/* daemon/sockread.c — a bufferevent's reads done by us: libevent 2.1's
 * evbuffer_read asks ioctl(FIONREAD) before every readv (one extra syscall
 * per read on each socket) and has no switch to stop it; one recv here. */
#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <event2/buffer.h>

#include "sockread.h"

/* Bytes asked per read: 16 KiB chains minus libevent's chain header, so a
 * fresh chain is one 16 KiB allocation (libevent 2.1 reads 4096 at most). */
#define SOCKREAD_MAX (16 * 1024 - 128)

struct sockread {
	struct bufferevent *bev;
	struct event *ev;
	struct timeval timeout; /* zero: none */
	bool enabled;
};

/* bufferevent_readcb's failure path: reading off, then the event callback. */
static void sockread_fail(struct sockread *sr, short what)
{
	int err = errno;
	struct bufferevent *bev = sr->bev;
	bufferevent_event_cb eventcb;
	void *arg;
	sockread_disable(sr);
	bufferevent_getcb(bev, NULL, NULL, &eventcb, &arg);
	errno = err;
	if (eventcb)
		eventcb(bev, what | BEV_EVENT_READING, arg);
}

static void sockread_cb(evutil_socket_t fd, short what, void *arg)
{
	struct sockread *sr = arg;
	if (what & EV_TIMEOUT) {
		sockread_fail(sr, BEV_EVENT_TIMEOUT);
		return;
	}
	struct bufferevent *bev = sr->bev;
	struct evbuffer *in = bufferevent_get_input(bev);
	struct evbuffer_iovec v[2];
	struct iovec iov[2];
	ssize_t n = -1;
	/* the bufferevent freezes its input's end outside its own reads */
	evbuffer_unfreeze(in, 0);
	int nv = evbuffer_reserve_space(in, SOCKREAD_MAX, v, 2);
	if (nv > 0) {
		/* recv/recvmsg, not readv: readv goes through the VFS first
		 * (see sockwrite.c) */
		if (nv == 1) {
			n = recv(fd, v[0].iov_base, v[0].iov_len, 0);
		} else {
			for (int i = 0; i < nv; i++)
				iov[i] = (struct iovec){v[i].iov_base, v[i].iov_len};
			n = recvmsg(fd, &(struct msghdr){.msg_iov = iov, .msg_iovlen = (size_t)nv}, 0);
		}
		size_t left = n > 0 ? (size_t)n : 0;
		for (int i = 0; i < nv; i++) {
			if (v[i].iov_len > left)
				v[i].iov_len = left;
			left -= v[i].iov_len;
		}
		int err = errno;
		evbuffer_commit_space(in, v, n > 0 ? nv : 0);
		errno = err;
	} else {
		errno = ENOMEM;
	}
	evbuffer_freeze(in, 0);
	if (n > 0) {
		bufferevent_data_cb readcb;
		void *cbarg;
		bufferevent_getcb(bev, &readcb, NULL, NULL, &cbarg);
		if (readcb)
			readcb(bev, cbarg);
		return;
	}
	if (n == 0) {
		sockread_fail(sr, BEV_EVENT_EOF);
		return;
	}
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
		return;
	sockread_fail(sr, BEV_EVENT_ERROR);
}

struct sockread *sockread_new(struct event_base *base, struct bufferevent *bev)
{
	struct sockread *sr = calloc(1, sizeof(*sr));
	if (!sr)
		return NULL;
	sr->bev = bev;
	sr->ev = event_new(base, bufferevent_getfd(bev), EV_READ | EV_PERSIST, sockread_cb, sr);
	if (!sr->ev) {
		free(sr);
		return NULL;
	}
	return sr;
}

/* The event afresh on fd, not added: no timer, no earlier interval. */
static void sockread_assign(struct sockread *sr, evutil_socket_t fd)
{
	event_del(sr->ev);
	event_assign(sr->ev, event_get_base(sr->ev), fd, EV_READ | EV_PERSIST, sockread_cb, sr);
}

void sockread_setfd(struct sockread *sr, evutil_socket_t fd)
{
	sockread_assign(sr, fd);
	sr->enabled = false;
	evutil_timerclear(&sr->timeout);
}

void sockread_free(struct sockread *sr)
{
	if (!sr)
		return;
	event_free(sr->ev);
	free(sr);
}

/* A timeout that fired in this loop turn whose callback has not run yet:
 * libevent's timeout_process has taken the event out of epoll and queued
 * the callback. event_add then drops the callback and sets the new timer
 * but skips epoll for an active event, and event_remove_timer leaves the
 * callback queued. So a pooled backend connection reused in the turn its
 * idle timeout fired was never read again: its response waited for the
 * response timeout (504, and the server marked down). */
static bool fired_unrun(const struct sockread *sr)
{
	return (event_pending(sr->ev, EV_READ | EV_TIMEOUT, NULL) & (EV_READ | EV_TIMEOUT)) ==
	       EV_TIMEOUT;
}

/* Reading on with the current timeout, afresh from the fired state above. */
static void sockread_arm(struct sockread *sr)
{
	if (evutil_timerisset(&sr->timeout)) {
		if (fired_unrun(sr))
			event_del(sr->ev);
		event_add(sr->ev, &sr->timeout);
		return;
	}
	/* none (the daemon's timeouts are all >= 1 ms): event_add(NULL) keeps
	 * an earlier interval, which a persistent event re-arms after each
	 * read, so the event starts over */
	sockread_assign(sr, event_get_fd(sr->ev));
	event_add(sr->ev, NULL);
}

void sockread_enable(struct sockread *sr)
{
	sr->enabled = true;
	sockread_arm(sr);
}

void sockread_disable(struct sockread *sr)
{
	if (!sr->enabled)
		return;
	sr->enabled = false;
	event_del(sr->ev);
}

void sockread_on(struct sockread *sr)
{
	if (!sr->enabled)
		sockread_enable(sr);
}

void sockread_restart(struct sockread *sr)
{
	if (sr->enabled)
		sockread_enable(sr);
}

bool sockread_enabled(const struct sockread *sr)
{
	return sr->enabled;
}

void sockread_set_timeout(struct sockread *sr, const struct timeval *tv)
{
	if (tv)
		sr->timeout = *tv;
	else
		evutil_timerclear(&sr->timeout);
	if (!sr->enabled)
		return;
	/* as bufferevent_set_timeouts: a pending read restarts with the new one */
	sockread_arm(sr);
}
