/* daemon/accesslog.c — one JSON line per request to stdout, stderr or a file,
 * batched per worker thread; random request ids. Never sees a header value
 * other than the request id: cookies, sessions and secrets cannot reach it. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "accesslog.h"
#include "sg_limits.h"
#include "log.h"
#include "metrics.h"

/* Every line fits in one PIPE_BUF write, so lines from several threads never
 * interleave even on a pipe (docker logs, journald): fields are capped. */
#define LINE_MAX_BYTES PIPE_BUF
#define PATH_LOG_MAX   2048 /* escaped bytes of the path logged; longer paths end in "..." */
#define NAME_LOG_MAX   256  /* method, backend, server, outcome */
/* A worker's batch is written when it would exceed this (or at the end of
 * the loop pass, whichever comes first). */
#define BATCH_BYTES (16 * 1024)

static int log_fd = -1;	     /* stable number; dup3() swaps the file under it */
static _Atomic bool enabled; /* false: access_log off */

struct al_thread {
	struct event *flush;
	size_t len;
	char buf[BATCH_BYTES];
};
static _Thread_local struct al_thread *self;

/* ---- output ---- */

/* Writes whole lines, at most PIPE_BUF bytes per write(2). */
static void write_lines(const char *p, size_t len)
{
	while (len > 0) {
		size_t n = len;
		if (n > LINE_MAX_BYTES) {
			n = LINE_MAX_BYTES;
			while (n > 0 && p[n - 1] != '\n')
				n--;
			if (n == 0)
				n = LINE_MAX_BYTES; /* cannot happen: every line is shorter */
		}
		ssize_t w = write(log_fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			metrics_log_error();
			return; /* a full disk must not stop the proxy */
		}
		p += w;
		len -= (size_t)w;
	}
}

static void flush_cb(evutil_socket_t fd, short what, void *arg)
{
	struct al_thread *t = arg;
	if (t->len)
		write_lines(t->buf, t->len);
	t->len = 0;
}

static void emit(const char *line, size_t len)
{
	struct al_thread *t = self;
	if (!t) {
		write_lines(line, len);
		return;
	}
	if (t->len + len > sizeof(t->buf))
		flush_cb(-1, 0, t);
	if (t->len == 0)
		event_active(t->flush, 0, 0); /* runs after this pass's other callbacks */
	memcpy(t->buf + t->len, line, len);
	t->len += len;
}

/* ---- JSON line ---- */

struct line {
	char b[LINE_MAX_BYTES];
	size_t n;
};

static void lraw(struct line *l, const char *s, size_t n)
{
	if (n > sizeof(l->b) - l->n)
		n = sizeof(l->b) - l->n;
	memcpy(l->b + l->n, s, n);
	l->n += n;
}

static void lstr(struct line *l, const char *s)
{
	lraw(l, s, strlen(s));
}

/* A JSON string of at most max escaped bytes. Non-ASCII bytes become \u00XX
 * (the line stays ASCII and valid JSON whatever a client sent). */
static void ljson(struct line *l, const char *s, size_t n, size_t max)
{
	static const char hex[] = "0123456789abcdef";
	char tmp[8];
	size_t used = 0;
	lraw(l, "\"", 1);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		size_t k = 0;
		if (c == '"' || c == '\\') {
			tmp[k++] = '\\';
			tmp[k++] = (char)c;
		} else if (c < 0x20 || c >= 0x7f) {
			memcpy(tmp, "\\u00", 4);
			k = 4;
			tmp[k++] = hex[c >> 4];
			tmp[k++] = hex[c & 15];
		} else {
			tmp[k++] = (char)c;
		}
		if (used + k > max) {
			lraw(l, "...", 3);
			break;
		}
		lraw(l, tmp, k);
		used += k;
	}
	lraw(l, "\"", 1);
}

static void lkey(struct line *l, const char *key)
{
	lraw(l, l->n > 1 ? ",\"" : "\"", l->n > 1 ? 2 : 1);
	lstr(l, key);
	lraw(l, "\":", 2);
}

static void lopt(struct line *l, const char *key, const char *s)
{
	lkey(l, key);
	if (s)
		ljson(l, s, strlen(s), NAME_LOG_MAX);
	else
		lstr(l, "null");
}

static void access_hook(const struct log_access *r, void *arg)
{
	if (!atomic_load_explicit(&enabled, memory_order_relaxed))
		return;
	struct line l;
	l.n = 0;
	char tmp[64];
	time_t sec = (time_t)(r->start_us / 1000000);
	struct tm tm;
	gmtime_r(&sec, &tm);
	lraw(&l, "{", 1);
	lkey(&l, "time");
	int k = snprintf(tmp, sizeof(tmp), "\"%04d-%02d-%02dT%02d:%02d:%02d.%03dZ\"",
			 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
			 tm.tm_sec, (int)(r->start_us / 1000 % 1000));
	lraw(&l, tmp, (size_t)k);
	lkey(&l, "request_id");
	ljson(&l, r->request_id ? r->request_id : "", r->request_id_len, SG_REQUEST_ID_MAX * 6);
	lkey(&l, "client");
	ljson(&l, r->client, r->client_len, NAME_LOG_MAX);
	lkey(&l, "method");
	ljson(&l, r->method, r->method_len, NAME_LOG_MAX);
	lkey(&l, "path");
	ljson(&l, r->path, r->path_len, PATH_LOG_MAX);
	int64_t d = r->duration_us < 0 ? 0 : r->duration_us;
	k = snprintf(tmp, sizeof(tmp), ",\"status\":%d,\"bytes_in\":%" PRIu64, r->status,
		     r->bytes_in);
	lraw(&l, tmp, (size_t)k);
	k = snprintf(tmp, sizeof(tmp),
		     ",\"bytes_out\":%" PRIu64 ",\"duration_ms\":%" PRId64 ".%03d", r->bytes_out,
		     d / 1000, (int)(d % 1000));
	lraw(&l, tmp, (size_t)k);
	lopt(&l, "backend", r->backend);
	lopt(&l, "server", r->server);
	lopt(&l, "session", r->session_outcome);
	lkey(&l, "resigned");
	lstr(&l, r->resigned ? "true" : "false");
	/* room for "}\n" is kept: every field above is capped well below it */
	if (l.n > sizeof(l.b) - 2)
		l.n = sizeof(l.b) - 2;
	lraw(&l, "}\n", 2);
	emit(l.b, l.n);
}

/* ---- targets ---- */

/* A new descriptor for target, or -1 (logged). "off" gives /dev/null. */
static int target_fd(const char *target)
{
	int fd;
	if (strcmp(target, "stdout") == 0)
		fd = fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3);
	else if (strcmp(target, "stderr") == 0)
		fd = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
	else if (strcmp(target, "off") == 0)
		fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	else
		fd = open(target, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);
	if (fd < 0)
		log_error("access_log %s: %s", target, strerror(errno));
	return fd;
}

int accesslog_open(const char *target)
{
	int fd = target_fd(target);
	if (fd < 0)
		return -1;
	log_fd = fd;
	atomic_store(&enabled, strcmp(target, "off") != 0);
	log_access_set_hook(access_hook, NULL);
	return 0;
}

int accesslog_reopen(const char *target)
{
	if (log_fd < 0)
		return accesslog_open(target);
	int fd = target_fd(target);
	if (fd < 0)
		return -1;
	/* dup3 replaces the file behind log_fd in one step: a worker's write
	 * goes wholly to the old file or wholly to the new one */
	if (dup3(fd, log_fd, O_CLOEXEC) < 0) {
		log_error("access_log %s: %s", target, strerror(errno));
		close(fd);
		return -1;
	}
	close(fd);
	atomic_store(&enabled, strcmp(target, "off") != 0);
	return 0;
}

void accesslog_close(void)
{
	accesslog_thread_stop();
	log_access_set_hook(NULL, NULL);
	if (log_fd >= 0)
		close(log_fd);
	log_fd = -1;
}

void accesslog_thread_start(struct event_base *base)
{
	if (self)
		return;
	struct al_thread *t = malloc(sizeof(*t));
	if (!t)
		return; /* lines are then written one by one */
	t->len = 0;
	t->flush = event_new(base, -1, 0, flush_cb, t);
	if (!t->flush) {
		free(t);
		return;
	}
	self = t;
}

void accesslog_thread_stop(void)
{
	struct al_thread *t = self;
	if (!t)
		return;
	flush_cb(-1, 0, t);
	event_free(t->flush);
	free(t);
	self = NULL;
}

/* ---- request ids ---- */

bool accesslog_request_id_ok(const char *v, size_t len)
{
	if (len == 0 || len > SG_REQUEST_ID_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)v[i] <= 0x20 || (unsigned char)v[i] >= 0x7f)
			return false;
	return true;
}

/* getrandom() once per 32 ids: one syscall less per request, still the
 * kernel's CSPRNG (ids may be shown to users, so not guessable). */
static _Thread_local struct {
	unsigned char b[512];
	size_t off;
} pool = {.off = 512};

void accesslog_request_id_new(char out[ACCESSLOG_REQUEST_ID_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	if (pool.off + 16 > sizeof(pool.b)) {
		size_t got = 0;
		while (got < sizeof(pool.b)) {
			ssize_t n = getrandom(pool.b + got, sizeof(pool.b) - got, 0);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				break;
			got += (size_t)n;
		}
		if (got < sizeof(pool.b)) {
			/* no entropy source (seccomp?): unique, not secret */
			static _Atomic uint64_t seq;
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			uint64_t a = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
			uint64_t s = atomic_fetch_add(&seq, 1);
			for (size_t i = got; i < sizeof(pool.b); i++)
				pool.b[i] = (unsigned char)((i % 16 < 8 ? a >> (8 * (i % 8))
									: s >> (8 * (i % 8))) ^
							    (unsigned char)getpid());
		}
		pool.off = 0;
	}
	for (int i = 0; i < 16; i++) {
		unsigned char c = pool.b[pool.off + (size_t)i];
		out[2 * i] = hex[c >> 4];
		out[2 * i + 1] = hex[c & 15];
	}
	memset(pool.b + pool.off, 0, 16); /* a used id never comes out again */
	pool.off += 16;
	out[ACCESSLOG_REQUEST_ID_LEN] = '\0';
}
