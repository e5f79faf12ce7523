/* daemon/log.h — error log (leveled, thread-safe, stderr) and the access-log hook. */
#ifndef SG_LOG_H
#define SG_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum log_level { LOG_LVL_DEBUG, LOG_LVL_INFO, LOG_LVL_WARN, LOG_LVL_ERROR };

/* "debug"|"info"|"warn"|"error" (NULL = info); 0 or -1 on an unknown name. */
int log_level_parse(const char *name, enum log_level *ret);
void log_set_level(enum log_level level);
bool log_enabled(enum log_level level);

/* One line each: "2024-05-01T12:00:00.123Z warn message". Never pass cookie
 * values, session contents or secrets to these. */
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Logs at error level and exits 1: only for start-up failures, never per request. */
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* One finished request, as the access log (issue 5) sees it. Strings are
 * slices valid only during the hook call; none of them is a secret. */
struct log_access {
	int64_t start_us;           /* wall clock, microseconds since the epoch */
	int64_t duration_us;
	const char *client; size_t client_len;   /* "ip" of the peer */
	const char *method; size_t method_len;
	const char *path; size_t path_len;       /* request target as received */
	const char *request_id; size_t request_id_len;
	const char *backend;                     /* NULL when unrouted */
	const char *server;                      /* "host:port" or NULL */
	int status;                              /* sent to the client; 0 = none */
	uint64_t bytes_in, bytes_out;            /* body bytes from / to the client */
	const char *session_outcome;             /* set by the pipeline, NULL = none */
	bool resigned;
};
typedef void (*log_access_fn)(const struct log_access *rec, void *arg);
/* Installs the writer (NULL = access log off). Call before workers start. */
void log_access_set_hook(log_access_fn fn, void *arg);
void log_access(const struct log_access *rec);

#endif
