/* daemon/accesslog.h — the JSON access log (one line per request, batched per
 * worker, reopened for logrotate) and request ids. */
#ifndef SG_ACCESSLOG_H
#define SG_ACCESSLOG_H

#include <stdbool.h>
#include <stddef.h>

#include <event2/event.h>

/* Opens target ("stdout", "stderr", "off" or a file path, appended to) and
 * installs the log.h access hook. Main thread, before workers start.
 * Returns 0, or -1 (logged) when the file cannot be opened. */
int accesslog_open(const char *target);
/* SIGHUP/SIGUSR1 (main thread, workers running): reopens target, which may
 * differ from the previous one. The file descriptor workers write to is
 * replaced atomically (dup3), so no lock is needed; on failure the previous
 * target stays in use and -1 is returned (logged). */
int accesslog_reopen(const char *target);
/* Flushes and closes (exit). */
void accesslog_close(void);

/* A worker thread's lines are batched and written once per event-loop pass
 * (after the callbacks that finished them) in whole-line writes of at most
 * PIPE_BUF bytes. Call from the worker thread before and after its loop.
 * Threads that never call it write each line at once. */
void accesslog_thread_start(struct event_base *base);
void accesslog_thread_stop(void);

/* Request ids: at most SG_REQUEST_ID_MAX bytes of visible ASCII (0x21-0x7e). */
bool accesslog_request_id_ok(const char *v, size_t len);
/* Writes a new random 128-bit id as 32 lowercase hex digits plus NUL. */
#define ACCESSLOG_REQUEST_ID_LEN 32
void accesslog_request_id_new(char out[ACCESSLOG_REQUEST_ID_LEN + 1]);

#endif
