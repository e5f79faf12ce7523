/* daemon/server.h — configuration generations, worker threads, listeners,
 * signals (stop, drain, reload). */
#ifndef SG_SERVER_H
#define SG_SERVER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <event2/event.h>
#include <event2/listener.h>

#include "config.h"
#include "http.h"

/* One backend server of a generation, shared by all workers: the address
 * resolved at load time and its passive health. */
struct srv_server {
	const struct sg_addr *addr;
	const struct sg_backend *backend;
	struct sockaddr_storage ss;
	socklen_t sslen;
	_Atomic unsigned fails;
	_Atomic int64_t down_until_ms; /* monotonic; 0 = up */
};

/* One loaded configuration ("generation"), refcounted: every request holds
 * the generation it started with, so a reload never changes it mid-flight. */
struct srv_conf {
	struct sg_config *cfg;
	_Atomic unsigned refs;
	unsigned long generation;
	struct http_limits lim;
	struct srv_server *servers; /* every backend's servers, flattened */
	size_t nservers;
	size_t *server_base; /* backend b's servers start at servers[server_base[b]] */
	_Atomic unsigned *rr; /* per-backend round-robin counter */
	void *pipeline; /* pipeline_conf_new()'s per-generation state */
};

struct srv_conf *server_conf_hold(struct srv_conf *sc);
void server_conf_release(struct srv_conf *sc);

struct conn;
struct upstream_set;
TAILQ_HEAD(conn_list, conn);

/* Closed connections a worker keeps, with their bufferevent, reader and
 * timer, for the next accepts. */
#define SERVER_CONN_SPARE 64

/* One thread: its own event_base, listeners (SO_REUSEPORT), connections and
 * upstream pools. Only its own thread touches it, except the atomics. */
struct worker {
	unsigned id;
	pthread_t thread;
	struct event_base *base;
	struct evconnlistener **listeners;
	size_t nlisteners;
	struct event *notify;       /* activated by the main thread */
	struct event *accept_retry; /* re-enables listeners after EMFILE */
	struct event *drain_timer;
	struct srv_conf *conf;      /* current generation */
	struct upstream_set *ups;   /* pools for conf */
	_Atomic(struct srv_conf *) next_conf; /* reload: handed over by the main thread */
	_Atomic bool stop;
	bool draining;
	struct conn_list conns;
	unsigned nconns;
	struct conn *spare[SERVER_CONN_SPARE]; /* closed, kept for accepts (conn.c) */
	unsigned nspare;
	unsigned long long accepted;
};

/* Called by conn_close: lets a draining worker finish when its last connection goes. */
void server_conn_gone(struct worker *w);

/* Monotonic milliseconds. */
int64_t server_now_ms(void);
/* Wall-clock seconds for signature timestamps, from CLOCK_REALTIME as
 * Python's time.time() reads it. Not time(): glibc answers that from the
 * vDSO's last tick, up to a tick behind, so a cookie a Python backend
 * signed just after a second began looked signed in the future
 * (SG_EFUTURE) and was refused. */
int64_t server_wall_s(void);

#endif
