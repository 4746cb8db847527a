/* The analysis on background threads: workers take layers one at a time
 * (requested layers first, then table order), mark each ready when done,
 * and a coordinating thread finds the duplicates once every layer is done.
 * With ws->refine set, the workers then encode every layer larger than a
 * prediction sample in full, and the owner of the workspace swaps these
 * exact figures in for the estimates (el_workspace_apply_exact).
 *
 * Each layer is written by exactly one worker, which publishes it with a
 * release store of its state. Readers load the state with acquire before
 * they read the layer. The dup fields are published the same way by
 * duplicates_ready. */
#include "workspace.h"

#include "tensor_encode.h"
#include "workspace_internal.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_WORKERS 64

/* Layers the user asked for, latest on top. Older requests fall off the
 * bottom; their layers are still analysed in table order. */
#define MAX_REQUESTS 128

enum layer_state { LAYER_PENDING, LAYER_TAKEN, LAYER_READY };

/* States of a layer's exact predictions. Only layers larger than a sample
 * have estimates to replace; the others start at EXACT_DONE. */
enum exact_state { EXACT_PENDING, EXACT_TAKEN, EXACT_STORED, EXACT_DONE };

struct el_analysis {
    el_workspace *ws;
    size_t n_layers;          /* over every model */
    size_t *first;            /* index of each model's first layer, n_models + 1 */
    atomic_uchar *state;      /* enum layer_state per layer */

    uint64_t total_bytes;
    atomic_uint_fast64_t done_bytes;
    atomic_int duplicates_ready;
    atomic_int finished;      /* the coordinator has nothing left to do */
    atomic_int cancelled;

    pthread_mutex_t lock;     /* guards the fields below */
    size_t next;              /* first layer in table order not yet taken */
    size_t requests[MAX_REQUESTS];
    size_t n_requests;
    int failed;
    el_error error;           /* the first failure */

    pthread_t coordinator;
    int joined;               /* the coordinator was joined (caller only) */

    /* Exact predictions. A layer's worker writes exact_bound before it
     * publishes the layer as ready, and a refining worker writes exact[]
     * before it publishes EXACT_STORED. The owner reads both after an
     * acquire load of exact_state. */
    int refine;               /* ws->refine when the analysis started */
    int zstd_level;           /* ws->zstd_level when the analysis started */
    double *exact_bound;      /* the abs bound each layer was predicted at */
    el_prediction (*exact)[EL_MAX_CODECS];
    atomic_uchar *exact_state; /* enum exact_state per layer */
    size_t exact_next;        /* next layer in table order, under lock */
    uint64_t exact_total;     /* bytes of the layers with estimates */
    atomic_uint_fast64_t exact_done;
    atomic_int exact_finished;
    atomic_int paused;
};

static size_t layer_index(const struct el_analysis *a, size_t model, size_t tensor)
{
    return a->first[model] + tensor;
}

static void layer_position(const struct el_analysis *a, size_t index,
                           size_t *model, size_t *tensor)
{
    size_t m = 0;
    while (index >= a->first[m + 1])
        m++;
    *model = m;
    *tensor = index - a->first[m];
}

static int is_pending(const struct el_analysis *a, size_t index)
{
    return atomic_load_explicit(&a->state[index], memory_order_relaxed) == LAYER_PENDING;
}

/* Claims the next layer whose entry in states is `pending`: the latest
 * request still pending, else the next one in table order from *cursor,
 * and marks it `taken`. Returns 0 when none is left or the analysis stops
 * (on cancellation, and on a failure too when stop_on_failure is set). */
static int take_next(struct el_analysis *a, atomic_uchar *states, unsigned char pending,
                     unsigned char taken, size_t *cursor, int stop_on_failure, size_t *index)
{
    int found = 0;

    pthread_mutex_lock(&a->lock);
    if ((stop_on_failure && a->failed) || atomic_load(&a->cancelled)) {
        pthread_mutex_unlock(&a->lock);
        return 0;
    }
    while (!found && a->n_requests > 0) {
        size_t i = a->requests[--a->n_requests];
        if (atomic_load_explicit(&states[i], memory_order_relaxed) == pending) {
            *index = i;
            found = 1;
        }
    }
    while (!found && *cursor < a->n_layers) {
        size_t i = (*cursor)++;
        if (atomic_load_explicit(&states[i], memory_order_relaxed) == pending) {
            *index = i;
            found = 1;
        }
    }
    if (found)
        atomic_store_explicit(&states[*index], taken, memory_order_relaxed);
    pthread_mutex_unlock(&a->lock);
    return found;
}

/* Claims the next layer to analyse. */
static int take_layer(struct el_analysis *a, size_t *index)
{
    return take_next(a, a->state, LAYER_PENDING, LAYER_TAKEN, &a->next, 1, index);
}

static void *analysis_worker(void *arg)
{
    struct el_analysis *a = arg;
    size_t index;

    while (take_layer(a, &index)) {
        size_t m, t;
        layer_position(a, index, &m, &t);

        el_error err;
        if (el_layer_analyse(a->ws, m, t, &err) != 0) {
            pthread_mutex_lock(&a->lock);
            if (!a->failed) {
                a->failed = 1;
                a->error = err;
            }
            pthread_mutex_unlock(&a->lock);
            return NULL;
        }
        a->exact_bound[index] = a->ws->layers[m][t].abs_bound;
        atomic_store_explicit(&a->state[index], LAYER_READY, memory_order_release);
        atomic_fetch_add(&a->done_bytes, a->ws->models[m].tensors[t].nbytes);
    }
    return NULL;
}

/* Fills every layer's dup field from the hashes the analysis took; only
 * tensors whose hashes match are read again. */
static int find_duplicates(el_workspace *ws, el_error *err)
{
    el_dup **dups = calloc(ws->n_models, sizeof *dups);
    const el_model **models = calloc(ws->n_models, sizeof *models);
    int rc = -1;
    if (dups == NULL || models == NULL) {
        el_fail(err, "out of memory finding duplicates");
        goto out;
    }
    for (size_t m = 0; m < ws->n_models; m++) {
        models[m] = &ws->models[m];
        dups[m] = calloc(ws->models[m].n_tensors + 1, sizeof *dups[m]);
        if (dups[m] == NULL) {
            el_fail(err, "out of memory finding duplicates");
            goto out;
        }
        for (size_t t = 0; t < ws->models[m].n_tensors; t++)
            dups[m][t].hash = ws->layers[m][t].stats.hash;
    }
    if (el_group_duplicates(models, ws->n_models, dups, err) != 0)
        goto out;
    for (size_t m = 0; m < ws->n_models; m++)
        for (size_t t = 0; t < ws->models[m].n_tensors; t++)
            ws->layers[m][t].dup = dups[m][t];
    rc = 0;

out:
    if (dups != NULL)
        for (size_t m = 0; m < ws->n_models; m++)
            free(dups[m]);
    free(dups);
    free(models);
    return rc;
}

static void record_failure(struct el_analysis *a, const el_error *err)
{
    pthread_mutex_lock(&a->lock);
    if (!a->failed) {
        a->failed = 1;
        a->error = *err;
    }
    pthread_mutex_unlock(&a->lock);
}

/* ---- exact predictions ---- */

static int exact_pending(const struct el_analysis *a, size_t index)
{
    return atomic_load_explicit(&a->exact_state[index], memory_order_relaxed) == EXACT_PENDING;
}

/* Claims the next layer to encode in full, requested layers first. */
static int take_exact(struct el_analysis *a, size_t *index)
{
    return take_next(a, a->exact_state, EXACT_PENDING, EXACT_TAKEN, &a->exact_next, 0, index);
}

typedef struct exact_pass {
    struct el_analysis *a;
    const el_tensor *tensor;
} exact_pass;

/* Called after each chunk: drops the chunk's pages, waits while an export
 * has the pass paused, and stops it when the analysis is cancelled. */
static int exact_chunk_done(void *ctx, size_t first, size_t n)
{
    exact_pass *pass = ctx;
    const el_tensor *t = pass->tensor;
    size_t size = el_dtype_size(t->dtype);
    if (!t->derived)
        el_release_range(t->data + first * size, n * size);

    while (atomic_load(&pass->a->paused) && !atomic_load(&pass->a->cancelled)) {
        struct timespec pause = { 0, 20 * 1000 * 1000 };
        nanosleep(&pause, NULL);
    }
    return atomic_load(&pass->a->cancelled);
}

/* Encodes one layer in full with every codec at the bound it was predicted
 * at. A failure leaves the layer with its estimates. */
static void exact_layer(struct el_analysis *a, size_t index)
{
    size_t m, t;
    layer_position(a, index, &m, &t);
    const el_tensor *tensor = &a->ws->models[m].tensors[t];
    el_codec_params params = el_bound_params(a->exact_bound[index], a->zstd_level);
    size_t chunk = el_chunk_elements(tensor->dtype, a->ws->chunk_bytes);
    exact_pass pass = { a, tensor };

    int rc = 0;
    for (size_t i = 0; el_codecs[i] != NULL && i < EL_MAX_CODECS && rc == 0; i++) {
        el_error err;
        rc = el_codec_predict_exact(el_codecs[i], tensor->dtype, tensor->data, tensor->count,
                                    &params, chunk, exact_chunk_done, &pass, &a->exact[index][i],
                                    &err);
    }
    atomic_fetch_add(&a->exact_done, tensor->nbytes);
    atomic_store_explicit(&a->exact_state[index], rc == 0 ? EXACT_STORED : EXACT_DONE,
                          memory_order_release);
}

static void *exact_worker(void *arg)
{
    struct el_analysis *a = arg;
    size_t index;
    while (take_exact(a, &index))
        exact_layer(a, index);
    return NULL;
}

static void run_workers(struct el_analysis *a, void *(*fn)(void *))
{
    pthread_t ids[MAX_WORKERS];
    size_t started = 0;

    for (int i = 0; i < a->ws->threads && i < MAX_WORKERS; i++)
        if (pthread_create(&ids[started], NULL, fn, a) == 0)
            started++;
    if (started == 0)
        fn(a);
    for (size_t i = 0; i < started; i++)
        pthread_join(ids[i], NULL);
}

/* Runs the workers to the end, then the duplicate search, then, with
 * refine set, the exact pass. */
static void *analysis_coordinator(void *arg)
{
    struct el_analysis *a = arg;
    el_workspace *ws = a->ws;
    run_workers(a, analysis_worker);

    pthread_mutex_lock(&a->lock);
    int stop = a->failed || atomic_load(&a->cancelled);
    pthread_mutex_unlock(&a->lock);

    /* NOTE: el_group_duplicates cannot be cancelled, so freeing the
     * analysis during this step waits until it has compared every pair
     * of tensors whose hashes match. */
    el_error err;
    if (!stop && find_duplicates(ws, &err) != 0)
        record_failure(a, &err);
    else if (!stop)
        atomic_store_explicit(&a->duplicates_ready, 1, memory_order_release);

    atomic_store_explicit(&a->finished, 1, memory_order_release);

    if (!stop && a->refine)
        run_workers(a, exact_worker);
    atomic_store_explicit(&a->exact_finished, 1, memory_order_release);
    return NULL;
}

static void analysis_destroy(struct el_analysis *a)
{
    if (a == NULL)
        return;
    pthread_mutex_destroy(&a->lock);
    free(a->state);
    free(a->first);
    free(a->exact_bound);
    free(a->exact);
    free(a->exact_state);
    free(a);
}

int el_workspace_analyse_start(el_workspace *ws, el_error *err)
{
    el_workspace_analysis_free(ws);

    struct el_analysis *a = calloc(1, sizeof *a);
    if (a == NULL)
        return el_fail(err, "out of memory starting the analysis");
    a->ws = ws;
    a->first = calloc(ws->n_models + 1, sizeof *a->first);
    for (size_t m = 0; a->first != NULL && m < ws->n_models; m++) {
        a->first[m + 1] = a->first[m] + ws->models[m].n_tensors;
        a->total_bytes += el_model_tensor_bytes(&ws->models[m]);
    }
    a->n_layers = a->first != NULL ? a->first[ws->n_models] : 0;
    size_t slots = a->n_layers ? a->n_layers : 1;
    a->state = calloc(slots, sizeof *a->state);
    a->exact_bound = calloc(slots, sizeof *a->exact_bound);
    a->exact = calloc(slots, sizeof *a->exact);
    a->exact_state = calloc(slots, sizeof *a->exact_state);
    if (a->first == NULL || a->state == NULL || a->exact_bound == NULL || a->exact == NULL
        || a->exact_state == NULL || pthread_mutex_init(&a->lock, NULL) != 0) {
        free(a->state);
        free(a->first);
        free(a->exact_bound);
        free(a->exact);
        free(a->exact_state);
        free(a);
        return el_fail(err, "out of memory starting the analysis");
    }
    a->refine = ws->refine;
    a->zstd_level = ws->zstd_level;
    for (size_t i = 0; i < a->n_layers; i++) {
        size_t m, t;
        layer_position(a, i, &m, &t);
        const el_tensor *tensor = &ws->models[m].tensors[t];
        int estimated = a->refine && tensor->nbytes > ws->sample_bytes;
        atomic_init(&a->state[i], LAYER_PENDING);
        atomic_init(&a->exact_state[i], estimated ? EXACT_PENDING : EXACT_DONE);
        a->exact_total += estimated ? tensor->nbytes : 0;
    }
    atomic_init(&a->exact_done, 0);
    atomic_init(&a->exact_finished, 0);
    atomic_init(&a->paused, 0);
    atomic_init(&a->done_bytes, 0);
    atomic_init(&a->duplicates_ready, 0);
    atomic_init(&a->finished, 0);
    atomic_init(&a->cancelled, 0);

    if (pthread_create(&a->coordinator, NULL, analysis_coordinator, a) != 0) {
        analysis_destroy(a);
        return el_fail(err, "cannot start the analysis thread; the system is out of threads");
    }
    ws->analysis = a;
    return 0;
}

void el_workspace_analysis_progress(const el_workspace *ws, uint64_t *done,
                                    uint64_t *total, int *finished)
{
    const struct el_analysis *a = ws->analysis;

    *done = a != NULL ? atomic_load(&a->done_bytes) : 0;
    *total = a != NULL ? a->total_bytes : 0;
    *finished = a != NULL ? atomic_load_explicit(&a->finished, memory_order_acquire) : 0;
}

int el_workspace_analysis_error(const el_workspace *ws, el_error *err)
{
    struct el_analysis *a = ws->analysis;
    if (a == NULL)
        return 0;

    pthread_mutex_lock(&a->lock);
    int failed = a->failed;
    el_error first = a->error;
    pthread_mutex_unlock(&a->lock);
    if (failed) {
        if (err != NULL)
            *err = first;
        return -1;
    }
    if (atomic_load(&a->cancelled))
        return el_fail(err, "analysis cancelled");
    return 0;
}

static void join_coordinator(struct el_analysis *a)
{
    if (!a->joined) {
        pthread_join(a->coordinator, NULL);
        a->joined = 1;
    }
}

int el_workspace_analyse_wait(el_workspace *ws, el_error *err)
{
    if (ws->analysis == NULL)
        return el_fail(err, "no analysis to wait for: start one first");
    join_coordinator(ws->analysis);
    return el_workspace_analysis_error(ws, err);
}

void el_workspace_analysis_free(el_workspace *ws)
{
    struct el_analysis *a = ws->analysis;
    if (a == NULL)
        return;

    atomic_store(&a->cancelled, 1);
    join_coordinator(a);
    analysis_destroy(a);
    ws->analysis = NULL;
}

void el_workspace_prioritise(el_workspace *ws, size_t model, size_t tensor)
{
    struct el_analysis *a = ws->analysis;
    if (a == NULL || model >= ws->n_models || tensor >= ws->models[model].n_tensors)
        return;

    size_t index = layer_index(a, model, tensor);
    pthread_mutex_lock(&a->lock);
    if (is_pending(a, index) || exact_pending(a, index)) {
        size_t n = a->n_requests;
        for (size_t i = 0; i < n; i++) {
            if (a->requests[i] == index) {
                memmove(&a->requests[i], &a->requests[i + 1], (n - i - 1) * sizeof *a->requests);
                n--;
                break;
            }
        }
        if (n == MAX_REQUESTS) {
            memmove(&a->requests[0], &a->requests[1], (n - 1) * sizeof *a->requests);
            n--;
        }
        a->requests[n++] = index;
        a->n_requests = n;
    }
    pthread_mutex_unlock(&a->lock);
}

int el_layer_ready(const el_workspace *ws, size_t model, size_t tensor)
{
    const struct el_analysis *a = ws->analysis;
    if (a == NULL)
        return 0;
    return atomic_load_explicit(&a->state[layer_index(a, model, tensor)],
                                memory_order_acquire) == LAYER_READY;
}

int el_workspace_duplicates_ready(const el_workspace *ws)
{
    const struct el_analysis *a = ws->analysis;
    return a != NULL && atomic_load_explicit(&a->duplicates_ready, memory_order_acquire);
}

int el_workspace_analyse(el_workspace *ws, el_progress_fn progress, void *ctx,
                         el_error *err)
{
    if (el_workspace_analyse_start(ws, err) != 0)
        return -1;

    /* The calling thread reports progress, so callbacks never run on a
     * worker (the terminal application draws in them). */
    for (;;) {
        uint64_t done, total;
        int finished;
        el_workspace_analysis_progress(ws, &done, &total, &finished);
        if (progress != NULL && progress(ctx, done, total, "analysing"))
            atomic_store(&ws->analysis->cancelled, 1);
        if (finished || progress == NULL)
            break;
        struct timespec pause = { 0, 20 * 1000 * 1000 };
        nanosleep(&pause, NULL);
    }
    return el_workspace_analyse_wait(ws, err);
}

void el_workspace_exact_progress(const el_workspace *ws, uint64_t *done, uint64_t *total,
                                 int *finished)
{
    const struct el_analysis *a = ws->analysis;

    *done = a != NULL ? atomic_load(&a->exact_done) : 0;
    *total = a != NULL ? a->exact_total : 0;
    *finished = a != NULL ? atomic_load_explicit(&a->exact_finished, memory_order_acquire) : 0;
}

void el_workspace_pause_exact(el_workspace *ws, int paused)
{
    if (ws->analysis != NULL)
        atomic_store(&ws->analysis->paused, paused);
}

size_t el_workspace_apply_exact(el_workspace *ws)
{
    struct el_analysis *a = ws->analysis;
    if (a == NULL)
        return 0;

    size_t applied = 0;
    for (size_t index = 0; index < a->n_layers; index++) {
        if (atomic_load_explicit(&a->exact_state[index], memory_order_acquire) != EXACT_STORED)
            continue;
        atomic_store_explicit(&a->exact_state[index], EXACT_DONE, memory_order_relaxed);

        /* Figures for a bound the user has changed since are stale. */
        size_t m, t;
        layer_position(a, index, &m, &t);
        el_layer *layer = &ws->layers[m][t];
        if (layer->abs_bound != a->exact_bound[index] || ws->zstd_level != a->zstd_level)
            continue;

        for (size_t i = 0; el_codecs[i] != NULL && i < EL_MAX_CODECS; i++)
            if (layer->pred[i].estimated)
                layer->pred[i] = a->exact[index][i];
        el_layer_choose(ws, layer);
        el_choose_delta(ws, layer);
        applied++;
    }
    return applied;
}
