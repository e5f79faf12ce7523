/* daemon/sockread.h — reads a bufferevent's socket ourselves: one recv per
 * readable event, without libevent 2.1's ioctl(FIONREAD) before each read. */
#ifndef SG_SOCKREAD_H
#define SG_SOCKREAD_H

#include <stdbool.h>
#include <sys/time.h>

#include <event2/bufferevent.h>
#include <event2/event.h>

/* Stands in for bev's EV_READ (which must stay disabled): reads into bev's
 * input buffer and runs bev's current read callback; EOF, a read error or
 * the read timeout disable reading and run bev's event callback with
 * BEV_EVENT_EOF, BEV_EVENT_ERROR (errno kept) or BEV_EVENT_TIMEOUT, each
 * with BEV_EVENT_READING, as the bufferevent itself would. bev must have
 * its fd (after bufferevent_socket_connect for a connecting one; enable it
 * once connected: a read would eat the error libevent's connect check
 * reads). Starts disabled, without a timeout. */
struct sockread *sockread_new(struct event_base *base, struct bufferevent *bev);
/* After bufferevent_setfd(bev, fd): reads fd (-1: none) from now on,
 * disabled, without a timeout, as if new. */
void sockread_setfd(struct sockread *sr, evutil_socket_t fd);
/* Before bufferevent_free(bev): the event goes while the fd is open. NULL ok. */
void sockread_free(struct sockread *sr);
/* Like bufferevent_enable(bev, EV_READ): also restarts the timeout. */
void sockread_enable(struct sockread *sr);
void sockread_disable(struct sockread *sr);
/* Reading on unless it already is (a running timeout keeps running): for
 * paths that keep reading across requests without an epoll_ctl each. */
void sockread_on(struct sockread *sr);
/* While reading: restarts the timeout, as a read would (activity seen
 * elsewhere, e.g. the other side of a tunnel). */
void sockread_restart(struct sockread *sr);
bool sockread_enabled(const struct sockread *sr);
/* The read half of bufferevent_set_timeouts: an idle timeout, restarted by
 * every read; NULL or zero: none. */
void sockread_set_timeout(struct sockread *sr, const struct timeval *tv);

#endif
