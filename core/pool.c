#include "pool.h"

#include <pthread.h>
#include <stdlib.h>

#define MAX_WORKERS 63

struct el_pool {
    pthread_mutex_t lock;
    pthread_cond_t work;      /* signalled when a task is queued or on stop */
    pthread_cond_t finished;  /* broadcast when a task is done */
    el_task *head, *tail;     /* FIFO of tasks not yet started */
    int stopping;
    int n_workers;
    pthread_t workers[MAX_WORKERS];
};

/* Takes the oldest queued task, or NULL. Called with the lock held. */
static el_task *take(el_pool *p)
{
    el_task *task = p->head;
    if (task != NULL) {
        p->head = task->next;
        if (p->head == NULL)
            p->tail = NULL;
    }
    return task;
}

/* Runs a task outside the lock and marks it done. Called with the lock
 * held; returns with it held. */
static void run_unlocked(el_pool *p, el_task *task)
{
    pthread_mutex_unlock(&p->lock);
    task->run(task);
    pthread_mutex_lock(&p->lock);
    task->done = 1;
    pthread_cond_broadcast(&p->finished);
}

static void *worker(void *arg)
{
    el_pool *p = arg;
    pthread_mutex_lock(&p->lock);
    for (;;) {
        el_task *task = take(p);
        if (task != NULL) {
            run_unlocked(p, task);
            continue;
        }
        if (p->stopping)
            break;
        pthread_cond_wait(&p->work, &p->lock);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

el_pool *el_pool_start(int threads)
{
    el_pool *p = calloc(1, sizeof *p);
    if (p == NULL)
        return NULL;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->work, NULL);
    pthread_cond_init(&p->finished, NULL);

    int workers = threads > 1 ? threads - 1 : 0;
    workers = workers > MAX_WORKERS ? MAX_WORKERS : workers;
    for (int i = 0; i < workers; i++) {
        if (pthread_create(&p->workers[p->n_workers], NULL, worker, p) != 0)
            break;
        p->n_workers++;
    }
    return p;
}

void el_pool_submit(el_pool *p, el_task *task)
{
    task->next = NULL;
    task->done = 0;
    pthread_mutex_lock(&p->lock);
    if (p->tail != NULL)
        p->tail->next = task;
    else
        p->head = task;
    p->tail = task;
    pthread_cond_signal(&p->work);
    pthread_mutex_unlock(&p->lock);
}

void el_pool_wait(el_pool *p, el_task *task)
{
    pthread_mutex_lock(&p->lock);
    while (!task->done) {
        el_task *other = take(p);
        if (other != NULL)
            run_unlocked(p, other);
        else
            pthread_cond_wait(&p->finished, &p->lock);
    }
    pthread_mutex_unlock(&p->lock);
}

void el_pool_stop(el_pool *p)
{
    if (p == NULL)
        return;

    pthread_mutex_lock(&p->lock);
    for (el_task *task = take(p); task != NULL; task = take(p))
        run_unlocked(p, task);
    p->stopping = 1;
    pthread_cond_broadcast(&p->work);
    pthread_mutex_unlock(&p->lock);

    for (int i = 0; i < p->n_workers; i++)
        pthread_join(p->workers[i], NULL);
    pthread_cond_destroy(&p->finished);
    pthread_cond_destroy(&p->work);
    pthread_mutex_destroy(&p->lock);
    free(p);
}
