/* daemon/upstream.h — connections to backend servers: a keep-alive pool per
 * server, round robin, passive health (a failing server rests a while). */
#ifndef SG_UPSTREAM_H
#define SG_UPSTREAM_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include <event2/bufferevent.h>

#include "server.h"
#include "sockread.h"

struct upstream_set;

/* One connection to one backend server. While in use its bufferevent
 * callbacks belong to the user (conn.c); while idle, to the pool. Reading is
 * rd's (the bufferevent's EV_READ stays off), writing the bufferevent's. */
struct upstream {
	struct upstream_set *set;
	unsigned server;     /* index into set->conf->servers */
	struct bufferevent *bev;
	struct sockread *rd; /* runs bev's callbacks */
	TAILQ_ENTRY(upstream) idle_entry;
	bool reused;         /* taken from the pool: may turn out stale */
	bool connected;
};

/* A worker's pools for one configuration generation. Retired on reload;
 * freed when its last in-use connection comes back. */
struct upstream_set *upstream_set_new(struct event_base *base, struct srv_conf *conf);
void upstream_set_retire(struct upstream_set *set);
/* A request keeps the set of the generation it started on. */
struct upstream_set *upstream_set_hold(struct upstream_set *set);
void upstream_set_drop(struct upstream_set *set);

/* A connection to a server of backend b, skipping servers marked in *tried
 * (bit i = server base+i) and resting ones: an idle pooled one (connected) or
 * a new one connecting (BEV_EVENT_CONNECTED follows). Returns 0, SG_ENOENT
 * when every server rests or was tried (-> 503), or SG_ENOMEM. */
int upstream_acquire(struct upstream_set *set, size_t backend, uint64_t *tried,
		     struct upstream **ret);
/* Done with up: back to its pool when reusable (response complete and
 * keep-alive, nothing unread), closed otherwise. up may be NULL. */
void upstream_release(struct upstream *up, bool reusable);

/* Passive health: a connect error, reset or timeout on this server. */
void upstream_failed(struct upstream *up);
/* A response arrived: the server's failure count starts again. */
void upstream_succeeded(struct upstream *up);
/* "host:port" of up's server, for logs. */
const char *upstream_name(const struct upstream *up);

#endif
