/* daemon/metrics.c — per-thread counters summed at scrape time, rendered in
 * the Prometheus text exposition format (version 0.0.4). */
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <llhttp.h>

#include "metrics.h"

/* Request duration buckets, microseconds (upper bounds; +Inf implied).
 * Prometheus' defaults plus 30 s and 60 s: a proxy sees long requests up
 * to timeouts.response. */
static const int64_t bucket_us[] = {5000,    10000,   25000,   50000,	 100000,   250000,  500000,
				    1000000, 2500000, 5000000, 10000000, 30000000, 60000000};
static const char *const bucket_le[] = {"0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5",
					"1",	 "2.5",	 "5",	  "10",	  "30",	 "60"};
#define NBUCKETS (sizeof(bucket_us) / sizeof(bucket_us[0]))

enum { METHOD_READ, METHOD_WRITE, NMETHODS };
#define NCLASSES 5 /* 1xx..5xx */

/* Every counter one thread owns. Only that thread writes (relaxed load +
 * store: no locked instruction); the scraper sums relaxed loads. */
struct mthread {
	struct mthread *next;
	_Atomic uint64_t requests[METRICS_SLOTS][NMETHODS][NCLASSES];
	_Atomic uint64_t buckets[METRICS_SLOTS][NBUCKETS + 1]; /* not cumulative; last = +Inf */
	_Atomic uint64_t duration_us[METRICS_SLOTS];
	_Atomic uint64_t bytes_in[METRICS_SLOTS], bytes_out[METRICS_SLOTS];
	_Atomic uint64_t up_opened[METRICS_SLOTS], up_closed[METRICS_SLOTS];
	_Atomic uint64_t up_errors[METRICS_SLOTS][3];
	_Atomic uint64_t pipe[METRICS_SLOTS][PC_COUNT];
	_Atomic uint64_t conn_opened, conn_closed;
	_Atomic uint64_t reloads_ok, reloads_failed, log_errors;
};

/* Blocks are linked once and never freed: totals survive a thread's exit
 * and the scraper never races a free. */
static pthread_mutex_t threads_mu = PTHREAD_MUTEX_INITIALIZER;
static struct mthread *threads;
static _Thread_local struct mthread *self;
static struct mthread fallback; /* out of memory: threads share it (counts may be lost) */
static bool fallback_linked;

/* Backend names: appended under names_mu, read lock-free (count published
 * with release after the name is stored). */
static pthread_mutex_t names_mu = PTHREAD_MUTEX_INITIALIZER;
static char *names[METRICS_SLOTS];
static _Atomic unsigned nnames = 1; /* slot 0: unrouted */
static _Atomic int64_t last_reload_ok_s;
static _Atomic int64_t start_time_s;

static struct mthread *me(void)
{
	if (self)
		return self;
	struct mthread *t = calloc(1, sizeof(*t));
	pthread_mutex_lock(&threads_mu);
	if (!t) {
		t = &fallback;
		if (fallback_linked)
			goto out;
		fallback_linked = true;
	}
	t->next = threads;
	threads = t;
out:
	pthread_mutex_unlock(&threads_mu);
	self = t;
	return t;
}

static inline void add(_Atomic uint64_t *c, uint64_t n)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
			      memory_order_relaxed);
}

static inline uint64_t get(const _Atomic uint64_t *c)
{
	return atomic_load_explicit((_Atomic uint64_t *)c, memory_order_relaxed);
}

void metrics_start(void)
{
	atomic_store(&start_time_s, (int64_t)time(NULL));
}

unsigned metrics_backend(const char *name)
{
	if (!name)
		return METRICS_SLOT_NONE;
	unsigned n = atomic_load_explicit(&nnames, memory_order_acquire);
	for (unsigned i = 1; i < n; i++)
		if (strcmp(names[i], name) == 0)
			return i;
	pthread_mutex_lock(&names_mu);
	n = atomic_load_explicit(&nnames, memory_order_relaxed);
	unsigned slot = METRICS_SLOTS - 1; /* full: "_other" */
	for (unsigned i = 1; i < n; i++) {
		if (strcmp(names[i], name) == 0) {
			slot = i;
			goto out;
		}
	}
	if (n < METRICS_SLOTS - 1) {
		char *copy = strdup(name);
		if (copy) {
			names[n] = copy;
			slot = n;
			atomic_store_explicit(&nnames, n + 1, memory_order_release);
		}
	}
out:
	pthread_mutex_unlock(&names_mu);
	return slot;
}

static bool method_reads(int m)
{
	return m == HTTP_GET || m == HTTP_HEAD || m == HTTP_OPTIONS;
}

void metrics_request(unsigned slot, int method, int status, uint64_t bytes_in, uint64_t bytes_out,
		     int64_t duration_us)
{
	if (status < 100 || status > 599 || slot >= METRICS_SLOTS)
		return;
	struct mthread *t = me();
	add(&t->requests[slot][method_reads(method) ? METHOD_READ : METHOD_WRITE][status / 100 - 1],
	    1);
	if (duration_us < 0)
		duration_us = 0;
	size_t b = 0;
	while (b < NBUCKETS && duration_us > bucket_us[b])
		b++;
	add(&t->buckets[slot][b], 1);
	add(&t->duration_us[slot], (uint64_t)duration_us);
	add(&t->bytes_in[slot], bytes_in);
	add(&t->bytes_out[slot], bytes_out);
}

void metrics_client_conn(int delta)
{
	struct mthread *t = me();
	add(delta > 0 ? &t->conn_opened : &t->conn_closed, 1);
}

void metrics_upstream_conn(unsigned slot, int delta)
{
	if (slot >= METRICS_SLOTS)
		return;
	struct mthread *t = me();
	add(delta > 0 ? &t->up_opened[slot] : &t->up_closed[slot], 1);
}

void metrics_upstream_error(unsigned slot, enum metrics_upstream_error e)
{
	if (slot < METRICS_SLOTS && (unsigned)e < 3)
		add(&me()->up_errors[slot][e], 1);
}

void metrics_pipeline(unsigned slot, uint32_t mask, const uint32_t n[PC_COUNT])
{
	if (slot >= METRICS_SLOTS || mask == 0)
		return;
	struct mthread *t = me();
	for (; mask; mask &= mask - 1) {
		int c = __builtin_ctz(mask);
		add(&t->pipe[slot][c], n[c]);
	}
}

void metrics_reload(bool ok)
{
	struct mthread *t = me();
	add(ok ? &t->reloads_ok : &t->reloads_failed, 1);
	if (ok)
		atomic_store(&last_reload_ok_s, (int64_t)time(NULL));
}

void metrics_log_error(void)
{
	add(&me()->log_errors, 1);
}

/* ---- scrape: sums over every thread's block ---- */

struct totals {
	uint64_t requests[METRICS_SLOTS][NMETHODS][NCLASSES];
	uint64_t buckets[METRICS_SLOTS][NBUCKETS + 1];
	uint64_t duration_us[METRICS_SLOTS];
	uint64_t bytes_in[METRICS_SLOTS], bytes_out[METRICS_SLOTS];
	uint64_t up_opened[METRICS_SLOTS], up_closed[METRICS_SLOTS];
	uint64_t up_errors[METRICS_SLOTS][3];
	uint64_t pipe[METRICS_SLOTS][PC_COUNT];
	uint64_t conn_opened, conn_closed;
	uint64_t reloads_ok, reloads_failed, log_errors;
};

#define SUM(field)                                                                                 \
	sum_array((uint64_t *)&tot->field, (const _Atomic uint64_t *)&t->field,                    \
		  sizeof(tot->field) / sizeof(uint64_t))

static void sum_array(uint64_t *dst, const _Atomic uint64_t *src, size_t n)
{
	for (size_t i = 0; i < n; i++)
		dst[i] += get(&src[i]);
}

static void sum_all(struct totals *tot)
{
	memset(tot, 0, sizeof(*tot));
	pthread_mutex_lock(&threads_mu);
	for (struct mthread *t = threads; t; t = t->next) {
		/* closed before opened: a gauge read mid-update errs upwards, never below 0 */
		tot->conn_closed += get(&t->conn_closed);
		tot->conn_opened += get(&t->conn_opened);
		SUM(up_closed);
		SUM(up_opened);
		SUM(requests);
		SUM(buckets);
		SUM(duration_us);
		SUM(bytes_in);
		SUM(bytes_out);
		SUM(up_errors);
		SUM(pipe);
		tot->reloads_ok += get(&t->reloads_ok);
		tot->reloads_failed += get(&t->reloads_failed);
		tot->log_errors += get(&t->log_errors);
	}
	pthread_mutex_unlock(&threads_mu);
}

uint64_t metrics_client_connections(void)
{
	uint64_t closed = 0, opened = 0;
	pthread_mutex_lock(&threads_mu);
	for (struct mthread *t = threads; t; t = t->next) {
		closed += get(&t->conn_closed);
		opened += get(&t->conn_opened);
	}
	pthread_mutex_unlock(&threads_mu);
	return opened > closed ? opened - closed : 0;
}

/* ---- rendering ---- */

struct out {
	struct evbuffer *b;
	int err;
};

static void put(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct out *o, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	if (evbuffer_add_vprintf(o->b, fmt, ap) < 0)
		o->err = -1;
	va_end(ap);
}

static void head(struct out *o, const char *name, const char *type, const char *help)
{
	put(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Label values are escaped as the format requires (\\, \", \n). Backend
 * names are [A-Za-z0-9_.-] already; this keeps a future change honest. */
static const char *label(const char *s, char *buf, size_t cap)
{
	size_t n = 0;
	for (; *s && n + 3 < cap; s++) {
		if (*s == '\\' || *s == '"' || *s == '\n') {
			buf[n++] = '\\';
			buf[n++] = *s == '\n' ? 'n' : *s;
		} else {
			buf[n++] = *s;
		}
	}
	buf[n] = '\0';
	return buf;
}

static const char *slot_name(unsigned slot)
{
	if (slot == METRICS_SLOT_NONE)
		return "";
	if (slot == METRICS_SLOTS - 1)
		return "_other";
	return names[slot];
}

/* Slots that exist: registered names, plus "" and "_other" when used. */
static bool slot_live(const struct totals *tot, unsigned slot, unsigned n)
{
	if (slot > 0 && slot < n)
		return true;
	if (slot != METRICS_SLOT_NONE && slot != METRICS_SLOTS - 1)
		return false;
	uint64_t any = tot->up_opened[slot];
	for (int m = 0; m < NMETHODS; m++)
		for (int k = 0; k < NCLASSES; k++)
			any += tot->requests[slot][m][k];
	for (int i = 0; i < PC_COUNT; i++)
		any += tot->pipe[slot][i];
	return any > 0;
}

/* How each pipeline counter is exposed: metric, extra label, its value. */
struct pipe_metric {
	const char *metric, *label, *value;
};

static struct pipe_metric pipe_metric(enum pipeline_counter c)
{
	switch (c) {
	case PC_SESSION_VALID: return (struct pipe_metric){"sessions", "outcome", "valid"};
	case PC_SESSION_MISSING: return (struct pipe_metric){"sessions", "outcome", "missing"};
	case PC_SESSION_BAD_SIGNATURE:
		return (struct pipe_metric){"sessions", "outcome", "bad_signature"};
	case PC_SESSION_EXPIRED: return (struct pipe_metric){"sessions", "outcome", "expired"};
	case PC_SESSION_FUTURE: return (struct pipe_metric){"sessions", "outcome", "future"};
	case PC_SESSION_MALFORMED: return (struct pipe_metric){"sessions", "outcome", "malformed"};
	case PC_SESSION_TOO_LARGE: return (struct pipe_metric){"sessions", "outcome", "too_large"};
	case PC_PATCH_APPLIED: return (struct pipe_metric){"patches_applied", "source", "header"};
	case PC_SET_COOKIE_APPLIED:
		return (struct pipe_metric){"patches_applied", "source", "set_cookie"};
	case PC_REJECT_MALFORMED:
		return (struct pipe_metric){"patches_rejected", "reason", "malformed"};
	case PC_REJECT_FORBIDDEN:
		return (struct pipe_metric){"patches_rejected", "reason", "forbidden"};
	case PC_REJECT_TEST_FAILED:
		return (struct pipe_metric){"patches_rejected", "reason", "test_failed"};
	case PC_REJECT_NOT_FOUND:
		return (struct pipe_metric){"patches_rejected", "reason", "not_found"};
	case PC_REJECT_INVALID:
		return (struct pipe_metric){"patches_rejected", "reason", "invalid"};
	case PC_REJECT_TOO_MANY:
		return (struct pipe_metric){"patches_rejected", "reason", "too_many"};
	case PC_REJECT_BAD_COOKIE:
		return (struct pipe_metric){"patches_rejected", "reason", "bad_cookie"};
	case PC_REJECT_UNEXPECTED:
		return (struct pipe_metric){"patches_rejected", "reason", "unexpected_cookie"};
	case PC_COOKIE_RESIGNED: return (struct pipe_metric){"cookies", "result", "resigned"};
	case PC_COOKIE_DELETED: return (struct pipe_metric){"cookies", "result", "deleted"};
	case PC_COOKIE_TOO_LARGE: return (struct pipe_metric){"cookies_too_large", NULL, NULL};
	case PC_HEADER_TOO_LARGE:
		return (struct pipe_metric){"session_header_too_large", NULL, NULL};
	case PC_UNENCODABLE: return (struct pipe_metric){"sessions_unencodable", NULL, NULL};
	default: /* a counter added to the pipeline later: still exposed */
		return (struct pipe_metric){"pipeline_events", "event", pipeline_counter_name(c)};
	}
}

static const struct {
	const char *metric, *help;
} pipe_families[] = {
    {"sessions", "Session cookies decoded, by backend and outcome."},
    {"patches_applied", "Session changes merged (X-Session-Patch headers, cookie backends' "
			"Set-Cookie), by backend and source."},
    {"patches_rejected", "Session changes rejected as a whole, by backend and reason."},
    {"cookies", "Session cookies sent to clients, by backend and result (resigned, deleted)."},
    {"cookies_too_large", "New session cookies over 4093 bytes (browsers drop them), by backend."},
    {"session_header_too_large", "Requests refused with 431: session header over "
				 "session.header_max, by backend."},
    {"sessions_unencodable", "Changed sessions that could not be re-encoded and were kept "
			     "unchanged, by backend."},
    {"pipeline_events", "Other session pipeline events, by backend and event."},
};

static void render_pipeline(struct out *o, const struct totals *tot, unsigned n)
{
	char lb[256], name[96];
	for (size_t f = 0; f < sizeof(pipe_families) / sizeof(pipe_families[0]); f++) {
		const char *fam = pipe_families[f].metric;
		bool headed = false;
		for (int c = 0; c < PC_COUNT; c++) {
			struct pipe_metric pm = pipe_metric((enum pipeline_counter)c);
			if (strcmp(pm.metric, fam) != 0)
				continue;
			for (unsigned s = 0; s < METRICS_SLOTS; s++) {
				if (!slot_live(tot, s, n))
					continue;
				/* the unrouted slot never runs the pipeline */
				if (s == METRICS_SLOT_NONE && tot->pipe[s][c] == 0)
					continue;
				if (!headed) {
					snprintf(name, sizeof(name), "sessiongate_%s_total", fam);
					head(o, name, "counter", pipe_families[f].help);
					headed = true;
				}
				if (pm.label)
					put(o,
					    "sessiongate_%s_total{backend=\"%s\",%s=\"%s\"} %llu\n",
					    fam, label(slot_name(s), lb, sizeof(lb)), pm.label,
					    pm.value, (unsigned long long)tot->pipe[s][c]);
				else
					put(o, "sessiongate_%s_total{backend=\"%s\"} %llu\n", fam,
					    label(slot_name(s), lb, sizeof(lb)),
					    (unsigned long long)tot->pipe[s][c]);
			}
		}
	}
}

int metrics_render(struct evbuffer *out, const struct metrics_state *st)
{
	struct totals *tot = malloc(sizeof(*tot)); /* ~50 KiB: not on the stack */
	if (!tot)
		return -1;
	sum_all(tot);
	unsigned n = atomic_load_explicit(&nnames, memory_order_acquire);
	struct out o = {out, 0};
	char lb[256];
	static const char *const classes[NCLASSES] = {"1xx", "2xx", "3xx", "4xx", "5xx"};
	static const char *const methods[NMETHODS] = {"read", "write"};

	head(&o, "sessiongate_requests_total", "counter",
	     "Requests answered, by backend (\"\" = answered before routing), method class "
	     "(read = GET, HEAD, OPTIONS; write = the others) and status class.");
	for (unsigned s = 0; s < METRICS_SLOTS; s++) {
		if (!slot_live(tot, s, n))
			continue;
		for (int m = 0; m < NMETHODS; m++)
			for (int k = 0; k < NCLASSES; k++)
				if (tot->requests[s][m][k])
					put(&o,
					    "sessiongate_requests_total{backend=\"%s\","
					    "method_class=\"%s\",code=\"%s\"} %llu\n",
					    label(slot_name(s), lb, sizeof(lb)), methods[m],
					    classes[k], (unsigned long long)tot->requests[s][m][k]);
	}

	head(&o, "sessiongate_request_duration_seconds", "histogram",
	     "Time from the first byte of a request head to the end of its response, by backend.");
	for (unsigned s = 0; s < METRICS_SLOTS; s++) {
		if (!slot_live(tot, s, n))
			continue;
		const char *b = label(slot_name(s), lb, sizeof(lb));
		uint64_t cum = 0;
		for (size_t i = 0; i <= NBUCKETS; i++) {
			cum += tot->buckets[s][i];
			put(&o,
			    "sessiongate_request_duration_seconds_bucket{backend=\"%s\",le=\"%s\"} "
			    "%llu\n",
			    b, i < NBUCKETS ? bucket_le[i] : "+Inf", (unsigned long long)cum);
		}
		put(&o, "sessiongate_request_duration_seconds_sum{backend=\"%s\"} %llu.%06llu\n", b,
		    (unsigned long long)(tot->duration_us[s] / 1000000),
		    (unsigned long long)(tot->duration_us[s] % 1000000));
		put(&o, "sessiongate_request_duration_seconds_count{backend=\"%s\"} %llu\n", b,
		    (unsigned long long)cum);
	}

	head(&o, "sessiongate_request_body_bytes_total", "counter",
	     "Request body bytes received from clients, by backend.");
	for (unsigned s = 0; s < METRICS_SLOTS; s++)
		if (slot_live(tot, s, n))
			put(&o, "sessiongate_request_body_bytes_total{backend=\"%s\"} %llu\n",
			    label(slot_name(s), lb, sizeof(lb)),
			    (unsigned long long)tot->bytes_in[s]);
	head(&o, "sessiongate_response_body_bytes_total", "counter",
	     "Response body bytes sent to clients, by backend.");
	for (unsigned s = 0; s < METRICS_SLOTS; s++)
		if (slot_live(tot, s, n))
			put(&o, "sessiongate_response_body_bytes_total{backend=\"%s\"} %llu\n",
			    label(slot_name(s), lb, sizeof(lb)),
			    (unsigned long long)tot->bytes_out[s]);

	head(&o, "sessiongate_client_connections", "gauge", "Client connections open now.");
	put(&o, "sessiongate_client_connections %llu\n",
	    (unsigned long long)(tot->conn_opened > tot->conn_closed
				     ? tot->conn_opened - tot->conn_closed
				     : 0));
	head(&o, "sessiongate_client_connections_accepted_total", "counter",
	     "Client connections accepted.");
	put(&o, "sessiongate_client_connections_accepted_total %llu\n",
	    (unsigned long long)tot->conn_opened);

	head(&o, "sessiongate_upstream_connections", "gauge",
	     "Connections to backend servers open now (in use or idle in the keep-alive pool), "
	     "by backend.");
	for (unsigned s = 1; s < METRICS_SLOTS; s++)
		if (slot_live(tot, s, n))
			put(&o, "sessiongate_upstream_connections{backend=\"%s\"} %llu\n",
			    label(slot_name(s), lb, sizeof(lb)),
			    (unsigned long long)(tot->up_opened[s] > tot->up_closed[s]
						     ? tot->up_opened[s] - tot->up_closed[s]
						     : 0));
	head(&o, "sessiongate_upstream_connections_opened_total", "counter",
	     "Connections to backend servers opened, by backend.");
	for (unsigned s = 1; s < METRICS_SLOTS; s++)
		if (slot_live(tot, s, n))
			put(&o,
			    "sessiongate_upstream_connections_opened_total{backend=\"%s\"} %llu\n",
			    label(slot_name(s), lb, sizeof(lb)),
			    (unsigned long long)tot->up_opened[s]);
	head(&o, "sessiongate_upstream_connect_errors_total", "counter",
	     "Backend connects that failed (refused, unreachable, reset), by backend.");
	for (unsigned s = 1; s < METRICS_SLOTS; s++)
		if (slot_live(tot, s, n))
			put(&o, "sessiongate_upstream_connect_errors_total{backend=\"%s\"} %llu\n",
			    label(slot_name(s), lb, sizeof(lb)),
			    (unsigned long long)tot->up_errors[s][MU_CONNECT_ERROR]);
	head(&o, "sessiongate_upstream_timeouts_total", "counter",
	     "Backend timeouts, by backend and phase (connect: timeouts.connect; response: "
	     "timeouts.response).");
	for (unsigned s = 1; s < METRICS_SLOTS; s++) {
		if (!slot_live(tot, s, n))
			continue;
		const char *b = label(slot_name(s), lb, sizeof(lb));
		put(&o,
		    "sessiongate_upstream_timeouts_total{backend=\"%s\",phase=\"connect\"} %llu\n",
		    b, (unsigned long long)tot->up_errors[s][MU_CONNECT_TIMEOUT]);
		put(&o,
		    "sessiongate_upstream_timeouts_total{backend=\"%s\",phase=\"response\"} %llu\n",
		    b, (unsigned long long)tot->up_errors[s][MU_RESPONSE_TIMEOUT]);
	}

	render_pipeline(&o, tot, n);

	/* The verified-cookie caches live in the pipeline's per-worker blocks
	 * (written lock-free by their owners); summed here, at scrape time. */
	uint64_t chits, cmisses, centries;
	pipeline_cache_stats(&chits, &cmisses, &centries);
	head(&o, "sessiongate_session_cache_hits_total", "counter",
	     "Session cookies found in a worker's verified-cookie cache (HMAC and decode "
	     "skipped; max_age still checked), summed over workers.");
	put(&o, "sessiongate_session_cache_hits_total %llu\n", (unsigned long long)chits);
	head(&o, "sessiongate_session_cache_misses_total", "counter",
	     "Session cookies looked up in the verified-cookie cache and not found (decoded and "
	     "verified in full), summed over workers.");
	put(&o, "sessiongate_session_cache_misses_total %llu\n", (unsigned long long)cmisses);
	head(&o, "sessiongate_session_cache_entries", "gauge",
	     "Verified cookies held in the workers' caches now, summed over workers.");
	put(&o, "sessiongate_session_cache_entries %llu\n", (unsigned long long)centries);
	head(&o, "sessiongate_session_patches_spliced_total", "counter",
	     "Session patch headers applied to the session's JSON text directly (top-level "
	     "plain values on a session in Flask's own form), without a parsed copy, summed "
	     "over workers; the others go through the full JSON merge.");
	put(&o, "sessiongate_session_patches_spliced_total %llu\n",
	    (unsigned long long)pipeline_spliced());

	head(&o, "sessiongate_config_reloads_total", "counter",
	     "Configuration reloads (SIGHUP), by result.");
	put(&o, "sessiongate_config_reloads_total{result=\"success\"} %llu\n",
	    (unsigned long long)tot->reloads_ok);
	put(&o, "sessiongate_config_reloads_total{result=\"failure\"} %llu\n",
	    (unsigned long long)tot->reloads_failed);
	head(&o, "sessiongate_config_last_reload_success_timestamp_seconds", "gauge",
	     "When the last successful reload happened (0 = never), Unix time.");
	put(&o, "sessiongate_config_last_reload_success_timestamp_seconds %lld\n",
	    (long long)atomic_load(&last_reload_ok_s));
	head(&o, "sessiongate_access_log_errors_total", "counter",
	     "Access-log lines that could not be written.");
	put(&o, "sessiongate_access_log_errors_total %llu\n", (unsigned long long)tot->log_errors);

	if (st) {
		head(&o, "sessiongate_config_generation", "gauge",
		     "Configuration generation serving new requests (1 at start, +1 per good "
		     "reload).");
		put(&o, "sessiongate_config_generation %lu\n", st->generation);
		head(&o, "sessiongate_ready", "gauge", "1 when /readyz answers 200.");
		put(&o, "sessiongate_ready %d\n", st->ready ? 1 : 0);
		head(&o, "sessiongate_draining", "gauge",
		     "1 after SIGTERM/SIGINT, while draining.");
		put(&o, "sessiongate_draining %d\n", st->draining ? 1 : 0);
		head(&o, "sessiongate_workers", "gauge", "Worker threads (event loops).");
		put(&o, "sessiongate_workers %u\n", st->workers);
		head(&o, "sessiongate_backend_servers", "gauge", "Servers configured, by backend.");
		for (size_t i = 0; i < st->nbackends; i++)
			put(&o, "sessiongate_backend_servers{backend=\"%s\"} %u\n",
			    label(st->backends[i].name, lb, sizeof(lb)), st->backends[i].servers);
		head(&o, "sessiongate_backend_servers_up", "gauge",
		     "Servers not resting after failures (passive health), by backend.");
		for (size_t i = 0; i < st->nbackends; i++)
			put(&o, "sessiongate_backend_servers_up{backend=\"%s\"} %u\n",
			    label(st->backends[i].name, lb, sizeof(lb)), st->backends[i].up);
	}
	head(&o, "sessiongate_start_time_seconds", "gauge", "When the process started, Unix time.");
	put(&o, "sessiongate_start_time_seconds %lld\n", (long long)atomic_load(&start_time_s));
	head(&o, "sessiongate_build_info", "gauge", "Always 1; the version as a label.");
	put(&o, "sessiongate_build_info{version=\"%s\"} 1\n", SG_VERSION);
	free(tot);
	return o.err;
}
