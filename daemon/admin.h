/* daemon/admin.h — the operations listener: /healthz, /readyz, /metrics. */
#ifndef SG_ADMIN_H
#define SG_ADMIN_H

#include <stddef.h>

#include <event2/event.h>

#include "config.h"
#include "metrics.h"

/* What the admin listener asks its owner (the main thread's server.c):
 * fills st and, when not ready, a short reason ("draining", "backend api:
 * every server down"). st->backends must stay valid until the next call. */
typedef void (*admin_state_fn)(struct metrics_state *st, char *why, size_t whylen, void *arg);

struct admin;

/* Listens on addr with base (the main thread's: it owns the reload and
 * drain state, and stays up while workers drain). NULL on failure (logged). */
struct admin *admin_new(struct event_base *base, const struct sg_addr *addr, admin_state_fn state,
			void *arg);
/* Closes the listener and every admin connection. NULL is a no-op. */
void admin_free(struct admin *a);

#endif
