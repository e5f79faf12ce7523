/* daemon/conn.h — one client connection: requests read, routed, forwarded
 * and answered in order; everything it owns is freed by conn_close. */
#ifndef SG_CONN_H
#define SG_CONN_H

#include <sys/socket.h>

#include <event2/util.h>

#include "server.h"

/* Takes ownership of an accepted socket. On failure closes it. */
void conn_accept(struct worker *w, evutil_socket_t fd, const struct sockaddr *sa, int salen);
/* Frees the connection, its current request, upstream link and timers. */
void conn_close(struct conn *c);
/* Graceful stop of every connection of w: idle ones close now, busy ones
 * after their current response. */
void conn_drain_all(struct worker *w);
/* Closes every connection of w at once (exit). */
void conn_close_all(struct worker *w);

#endif
