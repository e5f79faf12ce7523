/* daemon/notify.c — systemd's sd_notify datagram protocol, without libsystemd. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "notify.h"

/* Fills *sun from a NOTIFY_SOCKET value; returns the address length or -1. */
static socklen_t notify_addr(const char *path, struct sockaddr_un *sun)
{
	size_t len = strlen(path);

	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	if (path[0] == '@') {
		/* Abstract names are not NUL-terminated: the length is the name. */
		if (len > sizeof(sun->sun_path)) {
			errno = ENAMETOOLONG;
			return (socklen_t)-1;
		}
		memcpy(sun->sun_path + 1, path + 1, len - 1);
		return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
	}
	if (path[0] != '/') {
		/* systemd also knows vsock:CID:PORT; a VM guest manager is out of scope. */
		errno = EAFNOSUPPORT;
		return (socklen_t)-1;
	}
	if (len >= sizeof(sun->sun_path)) {
		errno = ENAMETOOLONG;
		return (socklen_t)-1;
	}
	memcpy(sun->sun_path, path, len + 1);
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + 1);
}

int notify_send(const char *state)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sun;
	socklen_t alen;
	size_t len = strlen(state);
	ssize_t n;
	int fd, saved;

	if (path == NULL || path[0] == '\0')
		return 0;
	if ((alen = notify_addr(path, &sun)) == (socklen_t)-1)
		return -1;
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	/* MSG_NOSIGNAL: a vanished manager must not SIGPIPE the proxy. */
	n = sendto(fd, state, len, MSG_NOSIGNAL, (struct sockaddr *)&sun, alen);
	saved = errno;
	close(fd);
	if (n != (ssize_t)len) {
		errno = n == -1 ? saved : EMSGSIZE;
		return -1;
	}
	return 0;
}

int notify_ready(void)
{
	return notify_send("READY=1");
}

int notify_reloading(void)
{
	struct timespec ts;
	char buf[64];

	/* CLOCK_MONOTONIC is what systemd compares MONOTONIC_USEC against. */
	if (clock_gettime(CLOCK_MONOTONIC, &ts) == -1)
		return -1;
	snprintf(buf, sizeof(buf), "RELOADING=1\nMONOTONIC_USEC=%llu",
		 (unsigned long long)ts.tv_sec * 1000000ULL +
		     (unsigned long long)ts.tv_nsec / 1000ULL);
	return notify_send(buf);
}

int notify_stopping(void)
{
	return notify_send("STOPPING=1");
}

int notify_status(const char *fmt, ...)
{
	char buf[sizeof("STATUS=") + NOTIFY_STATUS_MAX];
	const size_t pre = sizeof("STATUS=") - 1;
	va_list ap;
	int n;

	memcpy(buf, "STATUS=", pre);
	va_start(ap, fmt);
	n = vsnprintf(buf + pre, sizeof(buf) - pre, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -1;
	for (char *p = buf + pre; *p != '\0'; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	return notify_send(buf);
}
