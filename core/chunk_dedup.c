#include "chunks.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* One chunk of a tensor payload. `leader` is the index, in the sorted
 * array, of the first chunk with the same bytes (itself when it is first). */
typedef struct chunk_rec {
    el_hash128 hash;
    uint64_t size;
    uint64_t offset;
    size_t model;
    size_t tensor;
    const uint8_t *data;
    size_t leader;
} chunk_rec;

typedef struct chunk_list {
    chunk_rec *recs;
    size_t n;
    size_t cap;
} chunk_list;

/* What the hashing of one tensor produces. */
typedef struct tensor_job {
    size_t model;
    size_t tensor;
    const el_tensor *t;
    chunk_list cdc;
    chunk_list fixed;
    el_repeat_counts repeats;
    int failed;             /* out of memory */
} tensor_job;

/* The two chunk granularities, for picking a job's list and a model's
 * counts. */
typedef enum granularity { BY_CDC, BY_FIXED } granularity;

static chunk_list *job_list(tensor_job *job, granularity g)
{
    return g == BY_CDC ? &job->cdc : &job->fixed;
}

static el_chunk_counts *counts_of(el_model_dedup *md, granularity g)
{
    return g == BY_CDC ? &md->cdc : &md->fixed;
}

typedef struct job_queue {
    tensor_job *jobs;
    size_t n_jobs;
    const el_cdc_params *cdc;
    size_t fixed_size;
    atomic_size_t next;
} job_queue;

/* ---- repeated values ---------------------------------------------------- */

/* Open-addressing set of 64-bit keys with linear probing. Slot value 0
 * means empty, so key 0 is tracked apart. It grows from a small table and
 * never contains more keys than the tensor has elements. */
typedef struct value_set {
    uint64_t *slots;
    size_t cap;             /* a power of two */
    unsigned shift;         /* 64 - log2(cap) */
    size_t n;
    int has_zero;
} value_set;

static size_t slot_of(const value_set *s, uint64_t key)
{
    return (size_t)((key * 0x9e3779b97f4a7c15ULL) >> s->shift);
}

static int set_reserve(value_set *s, size_t cap)
{
    uint64_t *slots = calloc(cap, sizeof *slots);
    if (slots == NULL)
        return -1;

    unsigned log = 0;
    while (((size_t)1 << log) < cap)
        log++;

    value_set grown = { .slots = slots, .cap = cap, .shift = 64 - log,
                        .n = s->n, .has_zero = s->has_zero };
    for (size_t i = 0; i < s->cap; i++) {
        const uint64_t key = s->slots[i];
        if (key == 0)
            continue;
        size_t j = slot_of(&grown, key);
        while (slots[j] != 0)
            j = (j + 1) & (cap - 1);
        slots[j] = key;
    }
    free(s->slots);
    *s = grown;
    return 0;
}

/* Adds key. Returns 1 when it was already present, 0 when added, -1 when
 * memory runs out. The load factor stays at most 3/4. */
static int set_add(value_set *s, uint64_t key)
{
    if (key == 0) {
        const int had = s->has_zero;
        s->has_zero = 1;
        return had;
    }
    if ((s->n + 1) * 4 > s->cap * 3 && set_reserve(s, s->cap * 2) != 0)
        return -1;

    size_t j = slot_of(s, key);
    while (s->slots[j] != 0) {
        if (s->slots[j] == key)
            return 1;
        j = (j + 1) & (s->cap - 1);
    }
    s->slots[j] = key;
    s->n++;
    return 0;
}

static uint64_t load_key(const uint8_t *p, size_t width)
{
    if (width == 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        return v;
    }
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* Elements of 1 or 2 bytes: a bitmap over every possible value. */
static uint64_t repeats_small(const uint8_t *data, uint64_t n, size_t width)
{
    uint64_t seen[65536 / 64];
    memset(seen, 0, sizeof seen);

    uint64_t repeated = 0;
    for (uint64_t i = 0; i < n; i++) {
        unsigned v = data[i * width];
        if (width == 2)
            v |= (unsigned)data[i * width + 1] << 8;
        const uint64_t bit = 1ULL << (v & 63);
        if (seen[v >> 6] & bit)
            repeated++;
        seen[v >> 6] |= bit;
    }
    return repeated;
}

/* NOTE: 4- and 8-byte elements cost 11 to 21 bytes of set per distinct
 * value (up to 32 while the table grows) until the tensor is counted. */
static int repeats_wide(const uint8_t *data, uint64_t n, size_t width,
                        uint64_t *repeated)
{
    value_set s = { 0 };
    if (set_reserve(&s, 64) != 0)
        return -1;

    uint64_t count = 0;
    for (uint64_t i = 0; i < n; i++) {
        const int r = set_add(&s, load_key(data + i * width, width));
        if (r < 0) {
            free(s.slots);
            return -1;
        }
        count += (uint64_t)r;
    }
    free(s.slots);
    *repeated = count;
    return 0;
}

static int count_repeats(const el_tensor *t, el_repeat_counts *out)
{
    const size_t width = el_dtype_size(t->dtype);
    const uint64_t n = t->nbytes / width;
    uint64_t repeated = 0;

    if (width <= 2)
        repeated = repeats_small(t->data, n, width);
    else if (repeats_wide(t->data, n, width, &repeated) != 0)
        return -1;

    *out = (el_repeat_counts){ .elements = n, .repeated = repeated,
                               .repeated_bytes = repeated * width };
    return 0;
}

/* ---- chunking and hashing, one tensor per job --------------------------- */

static int list_push(chunk_list *l, const tensor_job *job, uint64_t offset,
                     uint64_t size)
{
    if (l->n == l->cap) {
        const size_t cap = l->cap > 0 ? l->cap * 2 : 16;
        chunk_rec *recs = realloc(l->recs, cap * sizeof *recs);
        if (recs == NULL)
            return -1;
        l->recs = recs;
        l->cap = cap;
    }

    const uint8_t *data = job->t->data + offset;
    l->recs[l->n++] = (chunk_rec){
        .hash = el_hash128_bytes(data, (size_t)size),
        .size = size,
        .offset = offset,
        .model = job->model,
        .tensor = job->tensor,
        .data = data,
    };
    return 0;
}

static int run_job(tensor_job *job, const el_cdc_params *cdc, size_t fixed_size)
{
    const uint8_t *data = job->t->data;
    const size_t len = (size_t)job->t->nbytes;

    for (size_t at = 0; at < len;) {
        const size_t n = el_cdc_cut(data + at, len - at, cdc);
        if (list_push(&job->cdc, job, at, n) != 0)
            return -1;
        at += n;
    }
    for (size_t at = 0; at < len; at += fixed_size) {
        const size_t n = len - at < fixed_size ? len - at : fixed_size;
        if (list_push(&job->fixed, job, at, n) != 0)
            return -1;
    }
    return count_repeats(job->t, &job->repeats);
}

static void *worker(void *arg)
{
    job_queue *q = arg;
    for (;;) {
        const size_t i = atomic_fetch_add(&q->next, 1);
        if (i >= q->n_jobs)
            return NULL;
        if (run_job(&q->jobs[i], q->cdc, q->fixed_size) != 0)
            q->jobs[i].failed = 1;
    }
}

/* Runs every job on `threads` threads, the calling one included. When a
 * thread cannot be started the others take its share, so the result does
 * not depend on how many started. */
static void run_jobs(job_queue *q, int threads)
{
    size_t extra = (size_t)threads - 1;
    if (extra + 1 > q->n_jobs)
        extra = q->n_jobs > 0 ? q->n_jobs - 1 : 0;

    pthread_t *ids = calloc(extra > 0 ? extra : 1, sizeof *ids);
    size_t started = 0;
    while (ids != NULL && started < extra &&
           pthread_create(&ids[started], NULL, worker, q) == 0)
        started++;

    worker(q);
    for (size_t i = 0; i < started; i++)
        pthread_join(ids[i], NULL);
    free(ids);
}

/* ---- matching chunks ---------------------------------------------------- */

static int compare_u64(uint64_t a, uint64_t b)
{
    return a < b ? -1 : a > b;
}

/* Orders by content key (hash, size), then by position, so that the first
 * of each run of equal keys is the earliest occurrence. */
static int compare_recs(const void *pa, const void *pb)
{
    const chunk_rec *a = pa;
    const chunk_rec *b = pb;
    int c;

    if ((c = compare_u64(a->hash.hi, b->hash.hi)) != 0 ||
        (c = compare_u64(a->hash.lo, b->hash.lo)) != 0 ||
        (c = compare_u64(a->size, b->size)) != 0 ||
        (c = compare_u64(a->model, b->model)) != 0 ||
        (c = compare_u64(a->tensor, b->tensor)) != 0)
        return c;
    return compare_u64(a->offset, b->offset);
}

static int same_key(const chunk_rec *a, const chunk_rec *b)
{
    return a->hash.hi == b->hash.hi && a->hash.lo == b->hash.lo &&
           a->size == b->size;
}

/* Sets `leader` for a run of equal keys. The hash only proposes a match: a
 * member whose bytes differ from every earlier leader (a hash collision)
 * becomes a leader itself. */
static void resolve_run(chunk_rec *r, size_t start, size_t end)
{
    for (size_t i = start; i < end; i++) {
        r[i].leader = i;
        for (size_t j = start; j < i; j++) {
            if (r[j].leader != j ||
                memcmp(r[j].data, r[i].data, (size_t)r[i].size) != 0)
                continue;
            r[i].leader = j;
            break;
        }
    }
}

/* Sorts the chunks and resolves every run. Returns the run starts, with
 * n_runs + 1 entries (the last is n), or NULL when memory runs out. */
static size_t *match_chunks(chunk_rec *r, size_t n, size_t *n_runs)
{
    qsort(r, n, sizeof *r, compare_recs);

    size_t *starts = malloc((n + 1) * sizeof *starts);
    if (starts == NULL)
        return NULL;

    size_t k = 0;
    size_t start = 0;
    for (size_t i = 1; i <= n; i++) {
        if (i < n && same_key(&r[start], &r[i]))
            continue;
        resolve_run(r, start, i);
        starts[k++] = start;
        start = i;
    }
    starts[k] = n;
    *n_runs = k;
    return starts;
}

static void add_piece(el_chunk_counts *c, uint64_t size, int dup, int cross)
{
    c->bytes += size;
    c->chunks++;
    if (dup) {
        c->dup_bytes += size;
        c->dup_chunks++;
    }
    if (cross) {
        c->cross_bytes += size;
        c->cross_chunks++;
    }
}

/* Counts every chunk into its model's counts and into the total. */
static void count_chunks(const chunk_rec *r, size_t n, el_dedup_report *out,
                         granularity g)
{
    for (size_t i = 0; i < n; i++) {
        const chunk_rec *first = &r[r[i].leader];
        const int dup = r[i].leader != i && first->model == r[i].model;
        const int cross = r[i].leader != i && first->model != r[i].model;
        add_piece(counts_of(&out->models[r[i].model], g), r[i].size, dup, cross);
        add_piece(counts_of(&out->total, g), r[i].size, dup, cross);
    }
}

/* A duplicate content found while scanning runs: its first copy (leader)
 * and the end of the run that contains its copies. */
typedef struct group_candidate {
    const chunk_rec *first;
    size_t leader;
    size_t run_end;
    uint64_t n_copies;
    uint64_t dup_bytes;
} group_candidate;

/* Adds one content's per-model bytes to the shared matrix. models and bytes
 * list the models it occurs in, ascending. */
static void add_shared(uint64_t *shared, size_t n_models, const size_t *models,
                       const uint64_t *bytes, size_t k)
{
    for (size_t a = 0; a < k; a++)
        for (size_t b = 0; b < k; b++)
            if (a != b)
                shared[models[a] * n_models + models[b]] += bytes[a];
}

/* Walks the contents of one run, filling the shared matrix and listing
 * duplicate contents. A run has one content per leader, so more than one
 * only after a hash collision. */
static int scan_run(const chunk_rec *r, size_t start, size_t end,
                    el_dedup_report *out, size_t *models, uint64_t *bytes,
                    group_candidate **cands, size_t *n_cands, size_t *cap_cands)
{
    for (size_t l = start; l < end; l++) {
        if (r[l].leader != l)
            continue;

        size_t k = 0;
        uint64_t copies = 0;
        for (size_t i = l; i < end; i++) {
            if (r[i].leader != l)
                continue;
            copies++;
            if (k == 0 || models[k - 1] != r[i].model) {
                models[k] = r[i].model;
                bytes[k++] = 0;
            }
            bytes[k - 1] += r[i].size;
        }
        add_shared(out->shared_bytes, out->n_models, models, bytes, k);
        if (copies < 2)
            continue;

        if (*n_cands == *cap_cands) {
            const size_t cap = *cap_cands > 0 ? *cap_cands * 2 : 64;
            group_candidate *grown = realloc(*cands, cap * sizeof *grown);
            if (grown == NULL)
                return -1;
            *cands = grown;
            *cap_cands = cap;
        }
        (*cands)[(*n_cands)++] = (group_candidate){
            .first = &r[l], .leader = l, .run_end = end,
            .n_copies = copies, .dup_bytes = (copies - 1) * r[l].size,
        };
    }
    return 0;
}

static int compare_candidates(const void *pa, const void *pb)
{
    const group_candidate *a = pa;
    const group_candidate *b = pb;
    if (a->dup_bytes != b->dup_bytes)
        return a->dup_bytes > b->dup_bytes ? -1 : 1;

    const chunk_rec *x = a->first;
    const chunk_rec *y = b->first;
    int c;
    if ((c = compare_u64(x->model, y->model)) != 0 ||
        (c = compare_u64(x->tensor, y->tensor)) != 0)
        return c;
    return compare_u64(x->offset, y->offset);
}

static int make_group(const chunk_rec *r, const group_candidate *c,
                      el_chunk_group *g)
{
    const size_t listed = c->n_copies < EL_DEDUP_GROUP_COPIES
                              ? (size_t)c->n_copies : EL_DEDUP_GROUP_COPIES;
    *g = (el_chunk_group){
        .hash = r[c->leader].hash,
        .size = r[c->leader].size,
        .n_copies = c->n_copies,
        .dup_bytes = c->dup_bytes,
        .copies = malloc(listed * sizeof *g->copies),
    };
    if (g->copies == NULL)
        return -1;

    for (size_t i = c->leader; i < c->run_end && g->n_listed < listed; i++) {
        if (r[i].leader != c->leader)
            continue;
        g->copies[g->n_listed++] = (el_chunk_ref){
            .model = r[i].model, .tensor = r[i].tensor, .offset = r[i].offset,
        };
    }
    return 0;
}

/* Fills the shared matrix and the top chunk groups from matched CDC
 * chunks. Groups are ordered by duplicate bytes, then by first position. */
static int cdc_groups(const chunk_rec *r, const size_t *starts, size_t n_runs,
                      el_dedup_report *out)
{
    const size_t n = out->n_models > 0 ? out->n_models : 1;
    size_t *models = malloc(n * sizeof *models);
    uint64_t *bytes = malloc(n * sizeof *bytes);
    group_candidate *cands = NULL;
    size_t n_cands = 0, cap_cands = 0;
    int rc = -1;

    if (models == NULL || bytes == NULL)
        goto done;
    for (size_t k = 0; k < n_runs; k++)
        if (scan_run(r, starts[k], starts[k + 1], out, models, bytes,
                     &cands, &n_cands, &cap_cands) != 0)
            goto done;

    if (n_cands > 0)
        qsort(cands, n_cands, sizeof *cands, compare_candidates);

    const size_t keep = n_cands < EL_DEDUP_TOP_GROUPS ? n_cands : EL_DEDUP_TOP_GROUPS;
    out->chunk_groups = calloc(keep > 0 ? keep : 1, sizeof *out->chunk_groups);
    if (out->chunk_groups == NULL)
        goto done;
    for (size_t i = 0; i < keep; i++) {
        if (make_group(r, &cands[i], &out->chunk_groups[i]) != 0)
            goto done;
        out->n_chunk_groups++;
    }
    rc = 0;

done:
    free(models);
    free(bytes);
    free(cands);
    return rc;
}

/* ---- whole tensors ------------------------------------------------------ */

static int tensor_groups(const el_model *const *models, el_dup *const *dups,
                         el_dedup_report *out)
{
    size_t total = 0;
    for (size_t m = 0; m < out->n_models; m++)
        total += models[m]->n_tensors;

    size_t *base = malloc((out->n_models + 1) * sizeof *base);
    size_t *copies = calloc(total > 0 ? total : 1, sizeof *copies);
    size_t *group = malloc((total > 0 ? total : 1) * sizeof *group);
    int rc = -1;
    if (base == NULL || copies == NULL || group == NULL)
        goto done;

    base[0] = 0;
    for (size_t m = 0; m < out->n_models; m++)
        base[m + 1] = base[m] + models[m]->n_tensors;

    /* Copies per original, then one group per original with copies. */
    size_t n_groups = 0;
    for (size_t m = 0; m < out->n_models; m++)
        for (size_t t = 0; t < models[m]->n_tensors; t++)
            if (dups[m][t].is_duplicate)
                copies[base[dups[m][t].of.model] + dups[m][t].of.tensor]++;
    for (size_t i = 0; i < total; i++)
        n_groups += copies[i] > 0;

    out->tensor_groups = calloc(n_groups > 0 ? n_groups : 1, sizeof *out->tensor_groups);
    if (out->tensor_groups == NULL)
        goto done;

    for (size_t m = 0; m < out->n_models; m++) {
        for (size_t t = 0; t < models[m]->n_tensors; t++) {
            const el_dup *d = &dups[m][t];
            const size_t self = base[m] + t;
            if (!d->is_duplicate && copies[self] == 0)
                continue;

            if (!d->is_duplicate) {
                el_tensor_group *g = &out->tensor_groups[out->n_tensor_groups];
                g->copies = malloc((copies[self] + 1) * sizeof *g->copies);
                if (g->copies == NULL)
                    goto done;
                g->nbytes = models[m]->tensors[t].nbytes;
                group[self] = out->n_tensor_groups++;
                g->copies[g->n_copies++] = (el_tensor_ref){ m, t };
                continue;
            }
            el_tensor_group *g = &out->tensor_groups[group[base[d->of.model] + d->of.tensor]];
            g->copies[g->n_copies++] = (el_tensor_ref){ m, t };
        }
    }
    rc = 0;

done:
    free(base);
    free(copies);
    free(group);
    return rc;
}

static int whole_tensors(const el_model *const *models, el_dedup_report *out,
                         el_error *err)
{
    el_dup **dups = calloc(out->n_models > 0 ? out->n_models : 1, sizeof *dups);
    int rc = -1;
    if (dups == NULL) {
        el_fail(err, "out of memory finding duplicate tensors");
        goto done;
    }
    for (size_t m = 0; m < out->n_models; m++) {
        dups[m] = calloc(models[m]->n_tensors > 0 ? models[m]->n_tensors : 1,
                         sizeof *dups[m]);
        if (dups[m] == NULL) {
            el_fail(err, "out of memory finding duplicate tensors of %s",
                    models[m]->path);
            goto done;
        }
    }
    if (el_find_duplicates(models, out->n_models, dups, err) != 0)
        goto done;

    for (size_t m = 0; m < out->n_models; m++) {
        for (size_t t = 0; t < models[m]->n_tensors; t++) {
            const el_dup *d = &dups[m][t];
            const uint64_t size = models[m]->tensors[t].nbytes;
            if (size == 0)
                continue;
            const int dup = d->is_duplicate && d->of.model == m;
            const int cross = d->is_duplicate && d->of.model != m;
            add_piece(&out->models[m].tensor, size, dup, cross);
            add_piece(&out->total.tensor, size, dup, cross);
        }
    }
    if (tensor_groups(models, dups, out) != 0) {
        el_fail(err, "out of memory listing duplicate tensor groups");
        goto done;
    }
    rc = 0;

done:
    for (size_t m = 0; dups != NULL && m < out->n_models; m++)
        free(dups[m]);
    free(dups);
    return rc;
}

/* ---- the report --------------------------------------------------------- */

/* Concatenates the jobs' lists of one granularity in job order, freeing
 * them. Returns NULL when memory runs out. */
static chunk_rec *gather(tensor_job *jobs, size_t n_jobs, granularity g,
                         size_t *n_out)
{
    size_t n = 0;
    for (size_t i = 0; i < n_jobs; i++)
        n += job_list(&jobs[i], g)->n;

    chunk_rec *all = malloc((n > 0 ? n : 1) * sizeof *all);
    if (all == NULL)
        return NULL;

    size_t at = 0;
    for (size_t i = 0; i < n_jobs; i++) {
        chunk_list *l = job_list(&jobs[i], g);
        if (l->n > 0)
            memcpy(all + at, l->recs, l->n * sizeof *all);
        at += l->n;
        free(l->recs);
        *l = (chunk_list){ 0 };
    }
    *n_out = n;
    return all;
}

static int hash_tensors(const el_model *const *models, const el_cdc_params *cdc,
                        int threads, el_dedup_report *out, tensor_job **jobs_out,
                        size_t *n_jobs_out, el_error *err)
{
    size_t n_jobs = 0;
    for (size_t m = 0; m < out->n_models; m++)
        n_jobs += models[m]->n_tensors;

    tensor_job *jobs = calloc(n_jobs > 0 ? n_jobs : 1, sizeof *jobs);
    if (jobs == NULL)
        return el_fail(err, "out of memory preparing %zu tensors for chunking", n_jobs);

    size_t k = 0;
    for (size_t m = 0; m < out->n_models; m++)
        for (size_t t = 0; t < models[m]->n_tensors; t++)
            jobs[k++] = (tensor_job){ .model = m, .tensor = t,
                                      .t = &models[m]->tensors[t] };
    *jobs_out = jobs;
    *n_jobs_out = n_jobs;

    job_queue q = { .jobs = jobs, .n_jobs = n_jobs, .cdc = cdc,
                    .fixed_size = out->fixed_size };
    atomic_init(&q.next, 0);
    run_jobs(&q, threads);

    for (size_t i = 0; i < n_jobs; i++) {
        if (jobs[i].failed)
            return el_fail(err, "out of memory chunking tensor %s of %s",
                           jobs[i].t->name, models[jobs[i].model]->path);
        el_model_dedup *md = &out->models[jobs[i].model];
        md->tensor_repeats[jobs[i].tensor] = jobs[i].repeats;
        md->repeats.elements += jobs[i].repeats.elements;
        md->repeats.repeated += jobs[i].repeats.repeated;
        md->repeats.repeated_bytes += jobs[i].repeats.repeated_bytes;
        out->total.repeats.elements += jobs[i].repeats.elements;
        out->total.repeats.repeated += jobs[i].repeats.repeated;
        out->total.repeats.repeated_bytes += jobs[i].repeats.repeated_bytes;
    }
    return 0;
}

/* Matches one granularity's chunks and counts them. For CDC chunks it also
 * builds the shared matrix and the top groups. */
static int analyse_chunks(tensor_job *jobs, size_t n_jobs, granularity g,
                          el_dedup_report *out, el_error *err)
{
    size_t n = 0, n_runs = 0;
    chunk_rec *recs = gather(jobs, n_jobs, g, &n);
    size_t *starts = recs != NULL ? match_chunks(recs, n, &n_runs) : NULL;
    int rc = -1;

    if (starts == NULL) {
        el_fail(err, "out of memory matching %zu chunks", n);
        goto done;
    }
    count_chunks(recs, n, out, g);
    if (g == BY_CDC && cdc_groups(recs, starts, n_runs, out) != 0) {
        el_fail(err, "out of memory grouping %zu duplicate chunks", n);
        goto done;
    }
    rc = 0;

done:
    free(recs);
    free(starts);
    return rc;
}

static int setup_report(const el_model *const *models, size_t n_models,
                        el_dedup_report *out, el_error *err)
{
    out->models = calloc(n_models > 0 ? n_models : 1, sizeof *out->models);
    out->shared_bytes = calloc(n_models > 0 ? n_models * n_models : 1,
                               sizeof *out->shared_bytes);
    if (out->models == NULL || out->shared_bytes == NULL)
        return el_fail(err, "out of memory for the report on %zu models", n_models);

    out->n_models = n_models;
    for (size_t m = 0; m < n_models; m++) {
        const size_t n = models[m]->n_tensors;
        out->models[m].tensor_repeats = calloc(n > 0 ? n : 1,
                                               sizeof *out->models[m].tensor_repeats);
        if (out->models[m].tensor_repeats == NULL)
            return el_fail(err, "out of memory for the report on %s", models[m]->path);
    }
    return 0;
}

int el_dedup_analyse(const el_model *const *models, size_t n_models,
                     const el_cdc_params *p, size_t fixed_size, int threads,
                     el_dedup_report *out, el_error *err)
{
    memset(out, 0, sizeof *out);
    if (threads < 1)
        return el_fail(err, "thread count %d is invalid: use 1 or more", threads);

    /* Re-deriving the masks validates a caller-filled struct too. */
    el_cdc_params cdc = el_cdc_params_default();
    if (p != NULL &&
        el_cdc_params_init(&cdc, p->min_size, p->avg_size, p->max_size, err) != 0)
        return -1;
    out->cdc = cdc;
    out->fixed_size = fixed_size > 0 ? fixed_size : EL_DEDUP_FIXED_DEFAULT;

    tensor_job *jobs = NULL;
    size_t n_jobs = 0;
    int rc = -1;
    if (setup_report(models, n_models, out, err) != 0 ||
        hash_tensors(models, &cdc, threads, out, &jobs, &n_jobs, err) != 0 ||
        analyse_chunks(jobs, n_jobs, BY_CDC, out, err) != 0 ||
        analyse_chunks(jobs, n_jobs, BY_FIXED, out, err) != 0 ||
        whole_tensors(models, out, err) != 0)
        goto done;
    rc = 0;

done:
    for (size_t i = 0; i < n_jobs; i++) {
        free(jobs[i].cdc.recs);
        free(jobs[i].fixed.recs);
    }
    free(jobs);
    if (rc != 0)
        el_dedup_report_free(out);
    return rc;
}

void el_dedup_report_free(el_dedup_report *r)
{
    for (size_t m = 0; r->models != NULL && m < r->n_models; m++)
        free(r->models[m].tensor_repeats);
    free(r->models);
    free(r->shared_bytes);
    for (size_t g = 0; r->tensor_groups != NULL && g < r->n_tensor_groups; g++)
        free(r->tensor_groups[g].copies);
    free(r->tensor_groups);
    for (size_t g = 0; r->chunk_groups != NULL && g < r->n_chunk_groups; g++)
        free(r->chunk_groups[g].copies);
    free(r->chunk_groups);
    memset(r, 0, sizeof *r);
}
