/* daemon/sockwrite.h — an evbuffer written to a socket with send/sendmsg. */
#ifndef SG_SOCKWRITE_H
#define SG_SOCKWRITE_H

#include <sys/types.h>

#include <event2/buffer.h>
#include <event2/util.h>

/* What evbuffer_write(out, fd) does (one call, drains what the socket
 * took, returns that count, or -1 with errno), without writev: send for one
 * chain, sendmsg for several (at most 16 per call; the rest waits for the
 * next, as after a short write). out's front must not be frozen. */
ssize_t sockwrite(struct evbuffer *out, evutil_socket_t fd);

#endif
