/* daemon/notify.h — systemd's sd_notify datagram protocol, without libsystemd. */
#ifndef SG_NOTIFY_H
#define SG_NOTIFY_H

/* Sends state (e.g. "READY=1", several assignments separated by '\n') as one
 * datagram to $NOTIFY_SOCKET: an absolute path, or '@' for the abstract
 * namespace. Returns 0 when sent or when $NOTIFY_SOCKET is unset or empty
 * (not under systemd), -1 with errno set otherwise. Blocking-safe: a
 * datagram send to a local socket never waits on the event loop's peers. */
int notify_send(const char *state);

/* READY=1: startup finished, listeners are accepting (Type=notify). */
int notify_ready(void);

/* RELOADING=1 with MONOTONIC_USEC=<now> (systemd 253+ requires the timestamp
 * for Type=notify-reload); send notify_ready() when the reload is done. */
int notify_reloading(void);

/* STOPPING=1: shutdown began (drain). */
int notify_stopping(void);

/* STATUS=<text> shown by `systemctl status`; newlines in the formatted text
 * become spaces so it cannot inject other assignments, and it is truncated
 * to NOTIFY_STATUS_MAX bytes. */
#define NOTIFY_STATUS_MAX 256
int notify_status(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
