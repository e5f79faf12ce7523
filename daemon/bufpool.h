/* daemon/bufpool.h — a per-thread pool of libevent's 16 KiB buffer chains. */
#ifndef SG_BUFPOOL_H
#define SG_BUFPOOL_H

/* Routes libevent's allocations through the pool. Before any other libevent
 * call (event_set_mem_functions' rule); returns 0 or -1. */
int bufpool_install(void);
/* Gives the calling thread's pooled chains back to malloc: at the end of
 * every thread that ran libevent. */
void bufpool_flush(void);

#endif
