/* daemon/bufpool.h — per-thread pools of the two block sizes every request allocates. */
#ifndef SG_BUFPOOL_H
#define SG_BUFPOOL_H

#include <stddef.h>

/* Routes libevent's allocations through the pools. Before any other
 * libevent call (event_set_mem_functions' rule); returns 0 or -1. Until it
 * runs (and under ASan) the pools hold nothing and bufpool_alloc and
 * bufpool_free are malloc and free. */
int bufpool_install(void);
/* malloc(n), from the calling thread's pool when n is one of its sizes
 * (1 KiB and 16 KiB blocks, as glibc rounds them). */
void *bufpool_alloc(size_t n);
/* free(p), into the calling thread's pool when p is one of its sizes and
 * the pool has room; any block from malloc, realloc or bufpool_alloc. */
void bufpool_free(void *p);
/* Gives the calling thread's pooled blocks back to malloc: at the end of
 * every thread that ran libevent. */
void bufpool_flush(void);

#endif
