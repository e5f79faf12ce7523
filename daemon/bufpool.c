/* daemon/bufpool.c — a per-thread pool of libevent's 16 KiB buffer chains.
 *
 * Why: every socket read reserves a 16 KiB chain (sockread.c) that is freed
 * again once the request or response in it is consumed: three per proxied
 * request. A block that size is beyond glibc's tcache, so each malloc walks
 * the bins and first consolidates the fast bins, and each free goes back
 * through them (glibc's slow paths were ~4 % of the proxy's CPU samples
 * under load, these chains and calloc most of it).
 * Kept in a small per-thread stack instead, as HAProxy keeps its buffers in
 * per-thread pools, a chain costs a push and a pop. Everything else goes to
 * malloc untouched. */
#include <malloc.h>
#include <stdlib.h>

#include <event2/event.h>

#include "bufpool.h"

enum {
	POOL_BLOCK = 16 * 1024, /* libevent's chain for a sockread reserve */
	POOL_DEPTH = 8,		/* per thread: a few connections' worth in flight */
};

static _Thread_local struct {
	void *block[POOL_DEPTH];
	int n;
} pool;
static size_t pool_usable; /* malloc_usable_size of a POOL_BLOCK allocation */

static void *pool_malloc(size_t n)
{
	if (n == POOL_BLOCK && pool.n > 0)
		return pool.block[--pool.n];
	return malloc(n);
}

static void *pool_realloc(void *p, size_t n)
{
	return realloc(p, n);
}

/* A block of exactly the usable size a POOL_BLOCK request gets holds
 * POOL_BLOCK bytes, whoever asked for it first. */
static void pool_free(void *p)
{
	if (p && pool.n < POOL_DEPTH && malloc_usable_size(p) == pool_usable) {
		pool.block[pool.n++] = p;
		return;
	}
	free(p);
}

int bufpool_install(void)
{
#ifdef __SANITIZE_ADDRESS__
	/* under ASan every chain keeps going through its quarantine, so a use
	 * after free is still caught (HAProxy's -dMno-cache, in effect) */
	return 0;
#endif
	void *probe = malloc(POOL_BLOCK);
	if (!probe)
		return -1;
	pool_usable = malloc_usable_size(probe);
	free(probe);
	event_set_mem_functions(pool_malloc, pool_realloc, pool_free);
	return 0;
}

void bufpool_flush(void)
{
	while (pool.n > 0)
		free(pool.block[--pool.n]);
}
