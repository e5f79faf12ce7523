/* daemon/bufpool.c — per-thread pools of the two block sizes every request allocates.
 *
 * Why: every socket read reserves a 16 KiB libevent chain (sockread.c) that
 * is freed again once the request or response in it is consumed, three per
 * proxied request; that size is beyond glibc's per-thread cache (tcache), so
 * each malloc walks the bins after consolidating the fast bins. The request
 * (1,032 bytes), each head's first buffer and libevent's smallest chain
 * (1,024 bytes) fit the tcache's largest bin, but it holds seven: with tens
 * of requests in flight the rest go through glibc's large bins
 * (_int_malloc, unlink_chunk). glibc's slow paths were ~4 % of the proxy's
 * CPU samples under wrk. Kept in small per-thread stacks instead, as
 * HAProxy keeps its buffers in per-thread pools, such a block costs a push
 * and a pop. Everything else goes to malloc untouched. */
#include <malloc.h>
#include <stdlib.h>

#include <event2/event.h>

#include "bufpool.h"

enum { CLASS_1K, CLASS_16K, NCLASS, DEPTH_MAX = 64 };

/* What a class is asked for, and how many blocks a thread keeps: a few
 * connections' read chains, a few dozen requests' smaller blocks. */
static const size_t class_ask[NCLASS] = {1024, 16 * 1024};
static const int class_depth[NCLASS] = {64, 8};

/* malloc_usable_size of a block malloc gives for class_ask: 0 (no block
 * matches) until bufpool_install. */
static size_t class_usable[NCLASS];

static _Thread_local struct {
	void *block[DEPTH_MAX];
	int n;
} pool[NCLASS];

/* The class whose blocks malloc would also give for n bytes (the same
 * chunk size: glibc rounds requests up to 16 bytes), or -1. */
static int class_for(size_t n)
{
	for (int c = 0; c < NCLASS; c++)
		if (n <= class_usable[c] && n + 16 > class_usable[c])
			return c;
	return -1;
}

void *bufpool_alloc(size_t n)
{
	int c = class_for(n);
	if (c >= 0 && pool[c].n > 0)
		return pool[c].block[--pool[c].n];
	return malloc(n);
}

void bufpool_free(void *p)
{
	if (!p)
		return;
	size_t usable = malloc_usable_size(p);
	for (int c = 0; c < NCLASS; c++) {
		if (usable == class_usable[c]) {
			if (pool[c].n < class_depth[c]) {
				pool[c].block[pool[c].n++] = p;
				return;
			}
			break;
		}
	}
	free(p);
}

int bufpool_install(void)
{
#ifdef __SANITIZE_ADDRESS__
	/* under ASan every block keeps going through its quarantine, so a use
	 * after free is still caught (HAProxy's -dMno-cache, in effect) */
	return 0;
#endif
	for (int c = 0; c < NCLASS; c++) {
		void *probe = malloc(class_ask[c]);
		if (!probe)
			return -1;
		class_usable[c] = malloc_usable_size(probe);
		free(probe);
	}
	event_set_mem_functions(bufpool_alloc, realloc, bufpool_free);
	return 0;
}

void bufpool_flush(void)
{
	for (int c = 0; c < NCLASS; c++)
		while (pool[c].n > 0)
			free(pool[c].block[--pool[c].n]);
}
