/* A fixed set of worker threads for chunk jobs whose results the caller
 * consumes in order: it submits jobs ahead, then waits for the oldest. */
#ifndef ELVES_POOL_H
#define ELVES_POOL_H

/* A unit of work, embedded as the first member of the job struct that run
 * receives back. */
typedef struct el_task {
    void (*run)(struct el_task *task);
    struct el_task *next;     /* queue link, owned by the pool */
    int done;                 /* set under the pool's lock once run returns */
} el_task;

typedef struct el_pool el_pool;

/* Starts threads - 1 workers: the thread that waits is the last worker, so
 * `threads` tasks run at once and -T 1 runs everything on the caller's
 * thread. Returns NULL when out of memory; a pool that could start fewer
 * workers than asked still works with the ones it has. */
el_pool *el_pool_start(int threads);

/* Queues a task. It runs on a worker, or inside el_pool_wait. */
void el_pool_submit(el_pool *pool, el_task *task);

/* Returns once the task has run. While it waits, the caller runs queued
 * tasks itself, oldest first. */
void el_pool_wait(el_pool *pool, el_task *task);

/* Runs whatever is still queued, stops the workers and frees the pool. */
void el_pool_stop(el_pool *pool);

#endif
