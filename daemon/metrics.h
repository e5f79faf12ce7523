/* daemon/metrics.h — counters and gauges for /metrics: each thread counts in
 * its own block (plain relaxed load + store, no lock on the hot path), the
 * admin listener sums the blocks at scrape time and renders the Prometheus
 * text exposition format. */
#ifndef SG_METRICS_H
#define SG_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/buffer.h>

#include "pipeline.h"

/* Backend label slots: 0 is "" (requests answered before routing), then one
 * per backend name ever loaded; names beyond the last slot share "_other". */
#define METRICS_SLOTS	  64
#define METRICS_SLOT_NONE 0u

enum metrics_upstream_error {
	MU_CONNECT_ERROR,   /* refused, unreachable, reset while connecting */
	MU_CONNECT_TIMEOUT, /* timeouts.connect elapsed */
	MU_RESPONSE_TIMEOUT /* no (complete) response within timeouts.response */
};

/* Records the process start time (main, once). */
void metrics_start(void);

/* The slot of a backend name (registered on first sight); NULL -> slot 0.
 * Lock-free for known names: cheap enough to call per request. */
unsigned metrics_backend(const char *name);

/* One answered request (status != 0); method is an enum llhttp_method. */
void metrics_request(unsigned slot, int method, int status, uint64_t bytes_in, uint64_t bytes_out,
		     int64_t duration_us);
/* Client connections accepted (+1) / closed (-1). */
void metrics_client_conn(int delta);
/* Upstream connections opened (+1) / closed (-1) to a backend's servers. */
void metrics_upstream_conn(unsigned slot, int delta);
void metrics_upstream_error(unsigned slot, enum metrics_upstream_error e);
/* The session events of one pipeline call for a request routed to slot, as
 * pipeline_thread_take gave them (mask, and n[c] for each c in it). */
void metrics_pipeline(unsigned slot, uint32_t mask, const uint32_t n[PC_COUNT]);
/* SIGHUP outcome (main thread). */
void metrics_reload(bool ok);
/* Access-log lines that could not be written. */
void metrics_log_error(void);

/* Open client connections now (sum over threads), for STATUS= lines. */
uint64_t metrics_client_connections(void);

/* What only the main thread knows, rendered as gauges. */
struct metrics_backend_state {
	const char *name;
	unsigned servers, up; /* configured / not resting per passive health */
};
struct metrics_state {
	bool ready, draining;
	unsigned long generation;
	unsigned workers;
	const struct metrics_backend_state *backends;
	size_t nbackends;
};

/* Appends the whole exposition (text format 0.0.4) to out; 0 or -1 (ENOMEM). */
int metrics_render(struct evbuffer *out, const struct metrics_state *st);

#endif
