/* daemon/server.c — start-up, worker threads (one event_base and one
 * SO_REUSEPORT listener per address each), signals: SIGTERM/SIGINT drain,
 * SIGHUP reload (a failed reload keeps the old configuration serving). */
#include <errno.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/listener.h>
#include <event2/thread.h>

#include "accesslog.h"
#include "admin.h"
#include "bufpool.h"
#include "cfgload.h"
#include "cmd.h"
#include "conn.h"
#include "log.h"
#include "metrics.h"
#include "notify.h"
#include "pipeline.h"
#include "server.h"
#include "upstream.h"

/* How long accepting pauses after EMFILE/ENFILE before trying again. */
#define ACCEPT_RETRY_MS 250

int64_t server_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t server_wall_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec;
}

/* ---- configuration generations ---- */

static unsigned long generations;

struct srv_conf *server_conf_hold(struct srv_conf *sc)
{
	atomic_fetch_add_explicit(&sc->refs, 1, memory_order_relaxed);
	return sc;
}

static void conf_free(struct srv_conf *sc)
{
	pipeline_conf_free(sc->pipeline);
	config_free(sc->cfg);
	free(sc->servers);
	free(sc->server_base);
	free(sc->rr);
	free(sc);
}

void server_conf_release(struct srv_conf *sc)
{
	if (sc && atomic_fetch_sub_explicit(&sc->refs, 1, memory_order_acq_rel) == 1)
		conf_free(sc);
}

static int resolve(const struct sg_addr *a, bool passive, struct sockaddr_storage *ss,
		   socklen_t *len)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0)};
	struct addrinfo *res = NULL;
	const char *host = a->host && a->host[0] && strcmp(a->host, "*") ? a->host : NULL;
	int rc = getaddrinfo(host, a->port, &hints, &res);
	if (rc != 0) {
		log_error("%s: cannot resolve: %s", a->text, gai_strerror(rc));
		return -1;
	}
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

/* Takes ownership of cfg. Resolves every backend server once, here, so the
 * request path never blocks on DNS. */
static struct srv_conf *conf_new(struct sg_config *cfg)
{
	struct srv_conf *sc = calloc(1, sizeof(*sc));
	if (!sc) {
		config_free(cfg);
		return NULL;
	}
	sc->cfg = cfg;
	atomic_init(&sc->refs, 1);
	sc->generation = ++generations;
	sc->lim = (struct http_limits){
		.max_header_bytes = cfg->max_header_bytes,
		.max_headers = cfg->max_headers,
		.max_body = cfg->max_body_bytes,
		.allow_underscore = cfg->allow_underscore_headers,
	};
	size_t n = 0;
	for (size_t b = 0; b < cfg->nbackends; b++)
		n += cfg->backends[b].nservers;
	sc->servers = calloc(n ? n : 1, sizeof(*sc->servers));
	sc->server_base = calloc(cfg->nbackends ? cfg->nbackends : 1, sizeof(size_t));
	sc->rr = calloc(cfg->nbackends ? cfg->nbackends : 1, sizeof(*sc->rr));
	if (!sc->servers || !sc->server_base || !sc->rr)
		goto fail;
	sc->nservers = n;
	size_t k = 0;
	for (size_t b = 0; b < cfg->nbackends; b++) {
		sc->server_base[b] = k;
		for (size_t i = 0; i < cfg->backends[b].nservers; i++, k++) {
			struct srv_server *s = &sc->servers[k];
			s->addr = &cfg->backends[b].servers[i];
			s->backend = &cfg->backends[b];
			if (resolve(s->addr, false, &s->ss, &s->sslen) != 0)
				goto fail;
		}
	}
	sc->pipeline = pipeline_conf_new(cfg);
	return sc;
fail:
	conf_free(sc);
	return NULL;
}

static struct srv_conf *conf_load(const char *path)
{
	struct sg_config *cfg = NULL;
	char err[512];
	int rc = cfgload_file(path, &cfg, err, sizeof(err));
	if (rc != 0) {
		log_error("%s", err);
		return NULL;
	}
	enum log_level lvl;
	if (log_level_parse(cfg->log_level, &lvl) == 0)
		log_set_level(lvl);
	/* every backend gets its metric series (zeros) from the first scrape */
	for (size_t b = 0; b < cfg->nbackends; b++)
		metrics_backend(cfg->backends[b].name);
	return conf_new(cfg);
}

/* ---- workers ---- */

static struct worker *workers;
static unsigned nworkers;
static struct event_base *main_base;
static const char *config_path;
static struct srv_conf *current;
/* Operations state (issue 5), main thread only: the admin listener runs on
 * main_base, so /readyz reads these without locks. */
static bool draining;
static struct admin *admin;
static struct event *workers_gone_ev; /* a worker thread finished its loop */
static struct event *drain_status_ev; /* STATUS= updates while draining */
static _Atomic unsigned workers_done;

static void listeners_enable(struct worker *w, bool on)
{
	for (size_t i = 0; i < w->nlisteners; i++) {
		if (on)
			evconnlistener_enable(w->listeners[i]);
		else
			evconnlistener_disable(w->listeners[i]);
	}
}

static void accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
		      int salen, void *arg)
{
	struct worker *w = arg;
	if (w->draining) {
		evutil_closesocket(fd);
		return;
	}
	w->accepted++;
	conn_accept(w, fd, sa, salen);
	unsigned max = w->conf->cfg->max_connections;
	if (max && w->nconns >= max)
		listeners_enable(w, false); /* re-enabled by server_conn_gone */
}

static void accept_error_cb(struct evconnlistener *l, void *arg)
{
	struct worker *w = arg;
	int err = EVUTIL_SOCKET_ERROR();
	if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
		/* no busy loop: pause accepting, try again shortly */
		log_warn("accept: %s; pausing for %d ms", strerror(err), ACCEPT_RETRY_MS);
		listeners_enable(w, false);
		struct timeval tv = {0, ACCEPT_RETRY_MS * 1000};
		evtimer_add(w->accept_retry, &tv);
		return;
	}
	log_warn("accept: %s", strerror(err));
}

static void accept_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	if (!w->draining)
		listeners_enable(w, true);
}

void server_conn_gone(struct worker *w)
{
	if (w->draining) {
		if (w->nconns == 0)
			event_base_loopexit(w->base, NULL);
		return;
	}
	unsigned max = w->conf->cfg->max_connections;
	if (max && w->nconns + 1 == max && !evtimer_pending(w->accept_retry, NULL))
		listeners_enable(w, true);
}

static void listeners_free(struct worker *w)
{
	for (size_t i = 0; i < w->nlisteners; i++)
		evconnlistener_free(w->listeners[i]);
	free(w->listeners);
	w->listeners = NULL;
	w->nlisteners = 0;
}

static void drain_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	log_warn("worker %u: drain deadline reached with %u connection(s) open", w->id, w->nconns);
	event_base_loopexit(w->base, NULL);
}

static void worker_drain(struct worker *w)
{
	if (w->draining)
		return;
	w->draining = true;
	listeners_free(w);
	conn_drain_all(w);
	if (w->nconns == 0) {
		event_base_loopexit(w->base, NULL);
		return;
	}
	unsigned ms = w->conf->cfg->drain_timeout_ms;
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
	evtimer_add(w->drain_timer, &tv);
}

static void worker_notify_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	uint64_t n;
	if (read(fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		log_warn("worker %u: notify: %s", w->id, strerror(errno));
	struct srv_conf *sc = atomic_exchange(&w->next_conf, NULL);
	if (sc) {
		/* new requests use sc; in-flight ones keep theirs */
		upstream_set_retire(w->ups);
		server_conf_release(w->conf);
		w->conf = sc;
		w->ups = upstream_set_new(w->base, sc);
		if (!w->ups)
			fatal("worker %u: out of memory on reload", w->id);
	}
	if (atomic_load(&w->stop))
		worker_drain(w);
}

static int worker_listen(struct worker *w, const struct sg_config *cfg)
{
	w->listeners = calloc(cfg->nlisten, sizeof(*w->listeners));
	if (!w->listeners)
		return -1;
	for (size_t i = 0; i < cfg->nlisten; i++) {
		struct sockaddr_storage ss;
		socklen_t len;
		if (resolve(&cfg->listen[i], true, &ss, &len) != 0)
			return -1;
		/* SO_REUSEPORT: one socket per worker, the kernel spreads connections */
		struct evconnlistener *l = evconnlistener_new_bind(
			w->base, accept_cb, w,
			LEV_OPT_REUSEABLE | LEV_OPT_REUSEABLE_PORT | LEV_OPT_CLOSE_ON_FREE |
				LEV_OPT_CLOSE_ON_EXEC,
			1024, (struct sockaddr *)&ss, (int)len);
		if (!l) {
			log_error("listen %s: %s", cfg->listen[i].text, strerror(errno));
			return -1;
		}
		evconnlistener_set_error_cb(l, accept_error_cb);
		w->listeners[w->nlisteners++] = l;
	}
	return 0;
}

static int worker_init(struct worker *w, unsigned id, struct srv_conf *sc)
{
	w->id = id;
	TAILQ_INIT(&w->conns);
	/* The epoll changelist folds the add/del pairs a request makes on a
	 * socket into at most one epoll_ctl per fd and loop iteration
	 * (safe here: no fd is ever dup()ed). No lock: only the worker's own
	 * thread touches its base; the main thread wakes it through an
	 * eventfd read by w->notify, never through the base. */
	int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (efd < 0)
		return -1;
	struct event_config *ecfg = event_config_new();
	if (!ecfg) {
		close(efd);
		return -1;
	}
	event_config_set_flag(ecfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST | EVENT_BASE_FLAG_NOLOCK);
	w->base = event_base_new_with_config(ecfg);
	event_config_free(ecfg);
	if (w->base)
		w->notify = event_new(w->base, efd, EV_READ | EV_PERSIST, worker_notify_cb, w);
	if (!w->notify) {
		close(efd);
		return -1;
	}
	event_add(w->notify, NULL);
	w->accept_retry = evtimer_new(w->base, accept_retry_cb, w);
	w->drain_timer = evtimer_new(w->base, drain_timeout_cb, w);
	if (!w->notify || !w->accept_retry || !w->drain_timer)
		return -1;
	w->conf = server_conf_hold(sc);
	w->ups = upstream_set_new(w->base, sc);
	if (!w->ups)
		return -1;
	return worker_listen(w, sc->cfg);
}

static void worker_cleanup(struct worker *w)
{
	conn_close_all(w);
	listeners_free(w);
	upstream_set_retire(w->ups);
	w->ups = NULL;
	struct srv_conf *sc = atomic_exchange(&w->next_conf, NULL);
	server_conf_release(sc);
	server_conf_release(w->conf);
	w->conf = NULL;
	if (w->notify) {
		close(event_get_fd(w->notify));
		event_free(w->notify);
	}
	if (w->accept_retry)
		event_free(w->accept_retry);
	if (w->drain_timer)
		event_free(w->drain_timer);
	if (w->base)
		event_base_free(w->base);
}

static void *worker_run(void *arg)
{
	struct worker *w = arg;
	/* signals belong to the main thread */
	sigset_t set;
	sigfillset(&set);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	accesslog_thread_start(w->base);
	event_base_dispatch(w->base);
	accesslog_thread_stop();
	bufpool_flush();
	/* the main loop (admin listener) runs until the last worker is done */
	atomic_fetch_add(&workers_done, 1);
	if (workers_gone_ev)
		event_active(workers_gone_ev, 0, 0);
	return NULL;
}

static void workers_notify(void)
{
	uint64_t one = 1;
	for (unsigned i = 0; i < nworkers; i++)
		if (workers[i].notify &&
		    write(event_get_fd(workers[i].notify), &one, sizeof(one)) < 0 && errno != EAGAIN)
			log_warn("worker %u: notify: %s", i, strerror(errno));
}

/* ---- signals ---- */

static void drain_status_cb(evutil_socket_t fd, short what, void *arg)
{
	notify_status("draining %llu connection(s)", (unsigned long long)metrics_client_connections());
}

/* The main loop (and with it the admin listener) ends with the last worker. */
static void workers_gone_cb(evutil_socket_t fd, short what, void *arg)
{
	if (atomic_load(&workers_done) == nworkers)
		event_base_loopexit(main_base, NULL);
}

static void stop_cb(evutil_socket_t sig, short what, void *arg)
{
	static bool stopping;
	if (stopping)
		return;
	stopping = true;
	/* Unready first: from here /readyz answers 503, before any listener
	 * closes, so a load balancer polling it stops sending; the admin
	 * listener stays up (and scrapeable) until the workers are done. */
	draining = true;
	log_info("signal %d: draining (deadline %u ms)", (int)sig, current->cfg->drain_timeout_ms);
	notify_stopping();
	drain_status_cb(-1, 0, NULL);
	for (unsigned i = 0; i < nworkers; i++)
		atomic_store(&workers[i].stop, true);
	workers_notify();
	/* STATUS= once a second while connections finish (systemctl status) */
	drain_status_ev = event_new(main_base, -1, EV_PERSIST, drain_status_cb, NULL);
	if (drain_status_ev) {
		struct timeval tv = {1, 0};
		event_add(drain_status_ev, &tv);
	}
	workers_gone_cb(-1, 0, NULL);
}

/* SIGUSR1: reopen the access log (logrotate's postrotate), as nginx does. */
static void reopen_cb(evutil_socket_t sig, short what, void *arg)
{
	if (accesslog_reopen(current->cfg->access_log) == 0)
		log_info("SIGUSR1: access log reopened");
}

/* /readyz and the gauges only the main thread knows. */
static void admin_state_cb(struct metrics_state *st, char *why, size_t whylen, void *arg)
{
	static struct metrics_backend_state *bs;
	static size_t bcap;
	const struct sg_config *cfg = current->cfg;
	if (bcap < cfg->nbackends) {
		struct metrics_backend_state *n = realloc(bs, cfg->nbackends * sizeof(*bs));
		if (n) {
			bs = n;
			bcap = cfg->nbackends;
		}
	}
	st->draining = draining;
	st->generation = current->generation;
	st->workers = nworkers;
	st->ready = !draining;
	if (draining)
		snprintf(why, whylen, "draining");
	int64_t now = server_now_ms();
	for (size_t b = 0; b < cfg->nbackends; b++) {
		unsigned up = 0, n = (unsigned)cfg->backends[b].nservers;
		for (size_t i = 0; i < n; i++) {
			struct srv_server *srv = &current->servers[current->server_base[b] + i];
			if (atomic_load_explicit(&srv->down_until_ms, memory_order_relaxed) <= now)
				up++;
		}
		if (b < bcap)
			bs[b] = (struct metrics_backend_state){cfg->backends[b].name, n, up};
		if (up == 0 && st->ready) {
			st->ready = false;
			snprintf(why, whylen, "backend %s: every server is down", cfg->backends[b].name);
		}
	}
	st->backends = bs;
	st->nbackends = bcap < cfg->nbackends ? bcap : cfg->nbackends;
}

static bool listen_changed(const struct sg_config *a, const struct sg_config *b)
{
	if (a->nlisten != b->nlisten || a->workers != b->workers)
		return true;
	for (size_t i = 0; i < a->nlisten; i++)
		if (strcmp(a->listen[i].text, b->listen[i].text) != 0)
			return true;
	return false;
}

static bool admin_changed(const struct sg_config *a, const struct sg_config *b)
{
	if (!a->admin || !b->admin)
		return a->admin != b->admin;
	return strcmp(a->admin->text, b->admin->text) != 0;
}

static void reload_cb(evutil_socket_t sig, short what, void *arg)
{
	if (draining) {
		log_warn("SIGHUP ignored: draining");
		return;
	}
	notify_reloading();
	log_info("SIGHUP: reloading %s", config_path);
	struct srv_conf *sc = conf_load(config_path);
	if (!sc) {
		log_error("reload failed; still serving the previous configuration");
		metrics_reload(false);
		notify_ready();
		return;
	}
	metrics_reload(true);
	if (listen_changed(current->cfg, sc->cfg))
		log_warn("reload: listen addresses and workers change only on restart");
	if (admin_changed(current->cfg, sc->cfg))
		log_warn("reload: the admin address changes only on restart");
	/* logrotate may send SIGHUP too: the access log is always reopened */
	accesslog_reopen(sc->cfg->access_log);
	for (unsigned i = 0; i < nworkers; i++) {
		struct srv_conf *old = atomic_exchange(&workers[i].next_conf, server_conf_hold(sc));
		server_conf_release(old);
	}
	workers_notify();
	server_conf_release(current);
	current = sc;
	log_info("reload: configuration generation %lu in service", sc->generation);
	notify_ready();
	notify_status("generation %lu in service", sc->generation);
}

int server_main(const char *path, bool test_only)
{
	if (test_only)
		return cfgload_test(path);
	config_path = path;
	signal(SIGPIPE, SIG_IGN);
	if (bufpool_install() != 0) {
		log_error("out of memory");
		return 1;
	}
	if (evthread_use_pthreads() != 0) {
		log_error("libevent: no thread support");
		return 1;
	}
	metrics_start();
	current = conf_load(path);
	if (!current)
		return 1;
	if (accesslog_open(current->cfg->access_log) != 0) {
		server_conf_release(current);
		return 1;
	}
	nworkers = current->cfg->workers ? current->cfg->workers : 1;
	workers = calloc(nworkers, sizeof(*workers));
	main_base = event_base_new();
	if (!workers || !main_base) {
		log_error("out of memory");
		return 1;
	}
	int status = 0;
	unsigned started = 0;
	/* every listener is bound before any thread runs: a busy port fails start-up */
	for (unsigned i = 0; i < nworkers; i++) {
		if (worker_init(&workers[i], i, current) != 0) {
			status = 1;
			goto out;
		}
	}
	/* the admin listener too (main loop: it outlives the workers' listeners
	 * during a drain and answers even when every worker is busy) */
	if (current->cfg->admin &&
	    !(admin = admin_new(main_base, current->cfg->admin, admin_state_cb, NULL))) {
		status = 1;
		goto out;
	}
	workers_gone_ev = event_new(main_base, -1, 0, workers_gone_cb, NULL);
	if (!workers_gone_ev) {
		status = 1;
		goto out;
	}
	for (; started < nworkers; started++) {
		if (pthread_create(&workers[started].thread, NULL, worker_run, &workers[started])) {
			log_error("cannot start worker thread");
			status = 1;
			for (unsigned i = 0; i < started; i++)
				atomic_store(&workers[i].stop, true);
			workers_notify();
			goto join;
		}
	}
	struct event *sigterm = evsignal_new(main_base, SIGTERM, stop_cb, NULL);
	struct event *sigint = evsignal_new(main_base, SIGINT, stop_cb, NULL);
	struct event *sighup = evsignal_new(main_base, SIGHUP, reload_cb, NULL);
	struct event *sigusr1 = evsignal_new(main_base, SIGUSR1, reopen_cb, NULL);
	evsignal_add(sigterm, NULL);
	evsignal_add(sigint, NULL);
	evsignal_add(sighup, NULL);
	evsignal_add(sigusr1, NULL);
	for (size_t i = 0; i < current->cfg->nlisten; i++)
		log_info("listening on %s (%u worker%s)", current->cfg->listen[i].text, nworkers,
			 nworkers == 1 ? "" : "s");
	notify_ready();
	notify_status("generation %lu in service", current->generation);
	event_base_dispatch(main_base);
	event_free(sigterm);
	event_free(sigint);
	event_free(sighup);
	event_free(sigusr1);
join:
	for (unsigned i = 0; i < started; i++)
		pthread_join(workers[i].thread, NULL);
	log_info("stopped");
out:
	admin_free(admin);
	for (unsigned i = 0; i < nworkers; i++)
		worker_cleanup(&workers[i]); /* may log requests cut by the drain deadline */
	accesslog_close();
	if (workers_gone_ev)
		event_free(workers_gone_ev);
	if (drain_status_ev)
		event_free(drain_status_ev);
	free(workers);
	event_base_free(main_base);
	server_conf_release(current);
	libevent_global_shutdown();
	bufpool_flush();
	return status;
}
