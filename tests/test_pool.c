/* Tests of the worker pool: every task runs exactly once at any thread
 * count, waiting in submission order works while later tasks are still
 * queued, and stopping runs what is left. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdint.h>

#include "../core/pool.h"

typedef struct square_task {
    el_task task;
    uint64_t in, out;
    int runs;
} square_task;

static void run_square(el_task *task)
{
    square_task *t = (square_task *)task;
    uint64_t x = t->in;
    for (int i = 0; i < 1000; i++) /* enough work for the threads to overlap */
        x = x * 6364136223846793005u + 1442695040888963407u;
    t->out = x;
    t->runs++;
}

static uint64_t expected_square(uint64_t in)
{
    for (int i = 0; i < 1000; i++)
        in = in * 6364136223846793005u + 1442695040888963407u;
    return in;
}

static void pool_runs_each_task_once(void **state)
{
    enum { N = 200 };
    static square_task tasks[N];
    const int counts[] = { 1, 2, 4 };

    for (size_t c = 0; c < sizeof counts / sizeof counts[0]; c++) {
        el_pool *pool = el_pool_start(counts[c]);
        assert_non_null(pool);
        for (int i = 0; i < N; i++) {
            tasks[i] = (square_task){ .task.run = run_square, .in = (uint64_t)i };
            el_pool_submit(pool, &tasks[i].task);
        }
        for (int i = 0; i < N; i++) {
            el_pool_wait(pool, &tasks[i].task);
            assert_int_equal(tasks[i].runs, 1);
            assert_true(tasks[i].out == expected_square((uint64_t)i));
        }
        el_pool_stop(pool);
    }
}

/* A window of three slots reused in order, as the container writer uses
 * the pool. */
static void pool_window_reuses_slots(void **state)
{
    enum { N = 50, WINDOW = 3 };
    square_task slots[WINDOW];
    el_pool *pool = el_pool_start(2);
    assert_non_null(pool);

    int submitted = 0;
    for (; submitted < WINDOW; submitted++) {
        slots[submitted] = (square_task){ .task.run = run_square, .in = (uint64_t)submitted };
        el_pool_submit(pool, &slots[submitted].task);
    }
    for (int i = 0; i < N; i++) {
        square_task *t = &slots[i % WINDOW];
        el_pool_wait(pool, &t->task);
        assert_true(t->out == expected_square((uint64_t)i));
        if (submitted < N) {
            *t = (square_task){ .task.run = run_square, .in = (uint64_t)submitted };
            el_pool_submit(pool, &t->task);
            submitted++;
        }
    }
    el_pool_stop(pool);
}

static void pool_stop_runs_queued_tasks(void **state)
{
    enum { N = 20 };
    square_task tasks[N];
    el_pool *pool = el_pool_start(3);
    assert_non_null(pool);
    for (int i = 0; i < N; i++) {
        tasks[i] = (square_task){ .task.run = run_square, .in = (uint64_t)i };
        el_pool_submit(pool, &tasks[i].task);
    }
    el_pool_stop(pool);
    for (int i = 0; i < N; i++)
        assert_int_equal(tasks[i].runs, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pool_runs_each_task_once),
        cmocka_unit_test(pool_window_reuses_slots),
        cmocka_unit_test(pool_stop_runs_queued_tasks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
