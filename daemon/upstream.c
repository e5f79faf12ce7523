/* daemon/upstream.c — backend connections: per-server keep-alive pools
 * (LIFO, stale ones detected while idle), round robin, passive health. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>

#include "errors.h"
#include "log.h"
#include "metrics.h"
#include "upstream.h"

TAILQ_HEAD(upstream_list, upstream);

struct upstream_pool {
	struct upstream_list idle;
	unsigned nidle;
};

struct upstream_set {
	struct event_base *base;
	struct srv_conf *conf; /* held */
	struct upstream_pool *pools; /* one per conf->servers entry */
	unsigned inuse;
	bool retired;
};

struct upstream_set *upstream_set_new(struct event_base *base, struct srv_conf *conf)
{
	struct upstream_set *set = calloc(1, sizeof(*set));
	if (!set)
		return NULL;
	set->pools = calloc(conf->nservers ? conf->nservers : 1, sizeof(*set->pools));
	if (!set->pools) {
		free(set);
		return NULL;
	}
	for (size_t i = 0; i < conf->nservers; i++)
		TAILQ_INIT(&set->pools[i].idle);
	set->base = base;
	set->conf = server_conf_hold(conf);
	return set;
}

/* The metrics slot of up's backend (for the open-connections gauge). */
static unsigned up_slot(const struct upstream *up)
{
	return metrics_backend(up->set->conf->servers[up->server].backend->name);
}

static void up_free(struct upstream *up)
{
	sockread_free(up->rd); /* while the fd is open */
	if (up->bev) {
		bufferevent_free(up->bev);
		metrics_upstream_conn(up_slot(up), -1);
	}
	free(up);
}

static void set_free(struct upstream_set *set)
{
	for (size_t i = 0; i < set->conf->nservers; i++) {
		struct upstream *up;
		while ((up = TAILQ_FIRST(&set->pools[i].idle))) {
			TAILQ_REMOVE(&set->pools[i].idle, up, idle_entry);
			up_free(up);
		}
	}
	server_conf_release(set->conf);
	free(set->pools);
	free(set);
}

void upstream_set_retire(struct upstream_set *set)
{
	if (!set)
		return;
	set->retired = true;
	for (size_t i = 0; i < set->conf->nservers; i++) {
		struct upstream *up;
		while ((up = TAILQ_FIRST(&set->pools[i].idle))) {
			TAILQ_REMOVE(&set->pools[i].idle, up, idle_entry);
			set->pools[i].nidle--;
			up_free(up);
		}
	}
	if (set->inuse == 0)
		set_free(set);
}

struct upstream_set *upstream_set_hold(struct upstream_set *set)
{
	set->inuse++;
	return set;
}

void upstream_set_drop(struct upstream_set *set)
{
	if (!set)
		return;
	set->inuse--;
	if (set->retired && set->inuse == 0)
		set_free(set);
}

const char *upstream_name(const struct upstream *up)
{
	return up->set->conf->servers[up->server].addr->text;
}

/* An idle pooled connection that becomes readable was closed by the server
 * (or sent garbage): either way it cannot carry a request any more. */
static void idle_drop(struct upstream *up)
{
	struct upstream_pool *pool = &up->set->pools[up->server];
	TAILQ_REMOVE(&pool->idle, up, idle_entry);
	pool->nidle--;
	up_free(up);
}

static void idle_read_cb(struct bufferevent *bev, void *arg)
{
	idle_drop(arg);
}

static void idle_event_cb(struct bufferevent *bev, short what, void *arg)
{
	idle_drop(arg);
}

static int connect_new(struct upstream_set *set, unsigned server, struct upstream **ret)
{
	struct srv_server *srv = &set->conf->servers[server];
	struct upstream *up = calloc(1, sizeof(*up));
	if (!up)
		return SG_ENOMEM;
	up->set = set;
	up->server = server;
	up->bev = bufferevent_socket_new(set->base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (!up->bev) {
		free(up);
		return SG_ENOMEM;
	}
	metrics_upstream_conn(up_slot(up), +1); /* up_free counts it closed */
	/* conn.c writes directly and arms EV_WRITE only for a remainder; the
	 * connect itself still completes through the write event */
	bufferevent_disable(up->bev, EV_WRITE);
	/* the write timeout covers the connect itself */
	unsigned ms = srv->backend->connect_timeout_ms;
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
	bufferevent_set_timeouts(up->bev, NULL, &tv);
	if (bufferevent_socket_connect(up->bev, (struct sockaddr *)&srv->ss, (int)srv->sslen) != 0) {
		log_warn("upstream %s: connect: %s", srv->addr->text, strerror(errno));
		metrics_upstream_error(up_slot(up), MU_CONNECT_ERROR);
		up_free(up);
		return SG_EINVAL;
	}
	/* the fd exists only now: reads (and the pool's watch) need it */
	up->rd = sockread_new(set->base, up->bev);
	if (!up->rd) {
		up_free(up);
		return SG_ENOMEM;
	}
	int one = 1;
	evutil_socket_t fd = bufferevent_getfd(up->bev);
	if (fd >= 0)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	*ret = up;
	return 0;
}

int upstream_acquire(struct upstream_set *set, size_t backend, uint64_t *tried,
		     struct upstream **ret)
{
	struct srv_conf *sc = set->conf;
	const struct sg_backend *be = &sc->cfg->backends[backend];
	size_t base = sc->server_base[backend], n = be->nservers;
	unsigned start = atomic_fetch_add_explicit(&sc->rr[backend], 1, memory_order_relaxed);
	int64_t now = server_now_ms();
	for (size_t k = 0; k < n; k++) {
		size_t i = (start + k) % n;
		if (i < 64 && (*tried >> i) & 1)
			continue;
		struct srv_server *srv = &sc->servers[base + i];
		if (atomic_load_explicit(&srv->down_until_ms, memory_order_relaxed) > now)
			continue;
		if (i < 64)
			*tried |= 1ull << i;
		struct upstream_pool *pool = &set->pools[base + i];
		struct upstream *up = TAILQ_FIRST(&pool->idle);
		if (up) {
			TAILQ_REMOVE(&pool->idle, up, idle_entry);
			pool->nidle--;
			/* reading stays on: the user swaps callbacks and timeouts */
			up->reused = true;
			set->inuse++;
			*ret = up;
			return 0;
		}
		int rc = connect_new(set, (unsigned)(base + i), &up);
		if (rc == SG_ENOMEM)
			return rc;
		if (rc != 0) {
			struct upstream tmp = {.set = set, .server = (unsigned)(base + i)};
			upstream_failed(&tmp);
			continue;
		}
		set->inuse++;
		*ret = up;
		return 0;
	}
	return SG_ENOENT;
}

void upstream_release(struct upstream *up, bool reusable)
{
	if (!up)
		return;
	struct upstream_set *set = up->set;
	const struct sg_backend *be = set->conf->servers[up->server].backend;
	struct upstream_pool *pool = &set->pools[up->server];
	set->inuse--;
	if (reusable && !set->retired && up->connected && pool->nidle < be->keepalive &&
	    evbuffer_get_length(bufferevent_get_input(up->bev)) == 0 &&
	    evbuffer_get_length(bufferevent_get_output(up->bev)) == 0) {
		unsigned ms = set->conf->cfg->idle_timeout_ms;
		struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
		bufferevent_setcb(up->bev, idle_read_cb, NULL, idle_event_cb, up);
		bufferevent_set_timeouts(up->bev, NULL, NULL);
		sockread_set_timeout(up->rd, &tv);
		/* reading stays on (no epoll_ctl per request): any byte or EOF
		 * while idle drops the connection */
		sockread_on(up->rd);
		if (bufferevent_get_enabled(up->bev) & EV_WRITE)
			bufferevent_disable(up->bev, EV_WRITE);
		up->reused = false;
		TAILQ_INSERT_HEAD(&pool->idle, up, idle_entry);
		pool->nidle++;
	} else {
		up_free(up);
	}
	if (set->retired && set->inuse == 0)
		set_free(set);
}

void upstream_failed(struct upstream *up)
{
	struct srv_server *srv = &up->set->conf->servers[up->server];
	unsigned max = srv->backend->max_fails;
	if (max == 0)
		return;
	unsigned f = atomic_fetch_add(&srv->fails, 1) + 1;
	if (f >= max) {
		atomic_store(&srv->fails, 0);
		atomic_store(&srv->down_until_ms, server_now_ms() + srv->backend->fail_timeout_ms);
		log_warn("upstream %s (backend %s): marked down for %u ms", srv->addr->text,
			 srv->backend->name, srv->backend->fail_timeout_ms);
	}
}

void upstream_succeeded(struct upstream *up)
{
	struct srv_server *srv = &up->set->conf->servers[up->server];
	if (atomic_load_explicit(&srv->fails, memory_order_relaxed))
		atomic_store(&srv->fails, 0);
}
