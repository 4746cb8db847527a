#include "chunk_reader.h"
#include "container_format.h"
#include "pool.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <xxhash.h>

/* The base model's bytes for a delta tensor, checked by checksum. */
static int base_bytes(const el_container *c, const el_container_tensor *info,
                      const uint8_t **out, el_error *err)
{
    if (c->base == NULL)
        return el_fail(err, "tensor \"%s\" is stored as a delta against a base model; pass "
                       "that model with --base", info->name);

    long t = el_model_find(c->base, info->base_tensor);
    if (t < 0)
        return el_fail(err, "tensor \"%s\" needs base tensor \"%s\", which %s does not "
                       "have; pass the base model it was compressed against", info->name,
                       info->base_tensor, c->base->path);
    const el_tensor *bt = &c->base->tensors[t];
    XXH128_hash_t h = XXH3_128bits(bt->data, bt->nbytes);
    char actual[33];
    snprintf(actual, sizeof actual, "%016llx%016llx", (unsigned long long)h.high64,
             (unsigned long long)h.low64);
    if (bt->dtype != info->dtype || bt->nbytes != info->nbytes
        || strcmp(actual, info->base_hash) != 0)
        return el_fail(err, "tensor \"%s\": base tensor \"%s\" in %s is not the one it "
                       "was compressed against (checksum differs); pass the same base model",
                       info->name, info->base_tensor, c->base->path);
    *out = bt->data;
    return 0;
}

/* Drops a decoded payload's pages from memory; they are read again if a
 * later tensor shares them. Keeps restore's resident memory to a chunk. */
static void release_payload(const uint8_t *payload, size_t len)
{
    long page = sysconf(_SC_PAGESIZE);
    uintptr_t first = ((uintptr_t)payload + (uintptr_t)page - 1) & ~((uintptr_t)page - 1);
    uintptr_t last = ((uintptr_t)payload + len) & ~((uintptr_t)page - 1);
    if (last > first)
        madvise((void *)first, last - first, MADV_DONTNEED);
}

/* Decodes one chunk of a tensor with the codec it names. */
static int decode_chunk(const el_container *c, const el_container_tensor *info,
                        const cJSON *chunk, uint64_t first, uint64_t count, uint8_t *dst,
                        const uint8_t **base, el_error *err)
{
    uint64_t blob;
    const cJSON *codec_name = cJSON_GetObjectItemCaseSensitive(chunk, "codec");
    if (!cJSON_IsString(codec_name) || el_json_u64(chunk, "blob", &blob, err) != 0)
        return el_fail(err, "a chunk has no blob or codec; " EL_DAMAGED);

    const uint8_t *payload;
    size_t payload_len;
    if (el_container_blob(c, blob, &payload, &payload_len, err) != 0)
        return -1;

    const el_codec *codec = el_codec_find(codec_name->valuestring);
    if (codec != NULL) {
        int rc = codec->decode(info->dtype, payload, payload_len, dst, count, err);
        release_payload(payload, payload_len);
        return rc;
    }

    const el_delta_codec *delta = el_delta_codec_find(codec_name->valuestring);
    if (delta == NULL)
        return el_fail(err, "unknown codec \"%s\"; this elves build does not have it",
                       codec_name->valuestring);
    if (info->base_tensor == NULL)
        return el_fail(err, "delta chunk without a base tensor; " EL_DAMAGED);
    if (*base == NULL && base_bytes(c, info, base, err) != 0)
        return -1;
    size_t size = el_dtype_size(info->dtype);
    int rc = delta->decode(info->dtype, payload, payload_len, *base + first * size, dst, count,
                           err);
    release_payload(payload, payload_len);
    return rc;
}

/* What the jobs of one tensor need. A tensor stored once for several
 * names decodes the chunks of the first one (stored), but is checked
 * against its own entry (info). */
typedef struct tensor_plan {
    el_container_tensor info;
    el_container_tensor stored;
    const cJSON *chunks;
    const uint8_t *base;       /* base tensor bytes for a delta, else NULL */
} tensor_plan;

typedef struct decode_job {
    el_task task;              /* first, so that the pool's task is the job */
    const el_container *c;
    const tensor_plan *plan;
    size_t tensor;             /* position in the reader's list */
    const cJSON *chunk;
    uint64_t first, count;     /* elements */
    uint8_t *buf;              /* kept from chunk to chunk, cap bytes */
    size_t cap;
    int rc;
    el_error err;
} decode_job;

struct el_chunk_reader {
    const el_container *c;
    el_pool *pool;
    decode_job *jobs;          /* window slots, the oldest at jobs[consumed % window] */
    size_t window;
    size_t submitted, consumed;
    uint64_t *tensors;
    size_t n;
    tensor_plan *plans;

    /* Scheduling: the tensor whose chunks are submitted next, and where. */
    size_t next_tensor;
    int next_ready;            /* plans[next_tensor] is filled */
    const cJSON *next_chunk;
    uint64_t next_first;
    int failed;                /* scheduling stopped at next_tensor with fail_err */
    el_error fail_err;

    /* Consuming: the tensor whose chunks the caller receives, and the
     * checksum of what it received of it so far. */
    size_t tensor;
    uint64_t received;         /* elements */
    XXH3_state_t *hash;
};

static void run_decode_job(el_task *task)
{
    decode_job *job = (decode_job *)task;
    const uint8_t *base = job->plan->base;
    job->rc = decode_chunk(job->c, &job->plan->stored, job->chunk, job->first, job->count,
                           job->buf, &base, &job->err);
}

/* Fills the plan of tensor k: its entry, the entry its chunks come from,
 * and the base bytes of a delta. */
static int prepare(el_chunk_reader *r, size_t k, el_error *err)
{
    const el_container *c = r->c;
    tensor_plan *p = &r->plans[k];
    uint64_t index = r->tensors[k];
    if (index > SIZE_MAX || el_container_tensor_info(c, (size_t)index, &p->info, err) != 0)
        return -1;

    /* The target of same_as must come earlier and have its own chunks, so
     * references never chain or loop. */
    const cJSON *entry = cJSON_GetArrayItem(c->tensors, (int)index);
    uint64_t source = index;
    if (cJSON_GetObjectItemCaseSensitive(entry, "same_as") != NULL) {
        if (el_json_u64(entry, "same_as", &source, err) != 0 || source >= index)
            return el_fail(err, "tensor \"%s\": invalid same_as reference", p->info.name);
    }
    const cJSON *stored = cJSON_GetArrayItem(c->tensors, (int)source);
    p->chunks = cJSON_GetObjectItemCaseSensitive(stored, "chunks");
    if (el_container_tensor_info(c, (size_t)source, &p->stored, err) != 0)
        return el_fail_context(err, "tensor \"%s\"", p->info.name);
    if (!cJSON_IsArray(p->chunks))
        return el_fail(err, "tensor \"%s\": no chunk list; " EL_DAMAGED,
                       p->info.name);
    if (p->stored.dtype != p->info.dtype || p->stored.nbytes != p->info.nbytes)
        return el_fail(err, "tensor \"%s\": same_as points at a tensor of another "
                       "type or size", p->info.name);

    if (p->stored.base_tensor != NULL && base_bytes(c, &p->stored, &p->base, err) != 0)
        return el_fail_context(err, "tensor \"%s\"", p->info.name);
    return 0;
}

/* Submits the next chunk into the free slot job. Returns 0, or -1 with err
 * set when the chunk list is damaged. */
static int submit_next(el_chunk_reader *r, decode_job *job, el_error *err)
{
    const tensor_plan *p = &r->plans[r->next_tensor];
    const size_t size = el_dtype_size(p->info.dtype);
    uint64_t count;
    if (el_json_u64(r->next_chunk, "count", &count, err) != 0)
        return -1;
    if (count == 0 || count > p->info.count - r->next_first)
        return el_fail(err, "chunk of %llu elements at element %llu overruns the %llu "
                       "elements; " EL_DAMAGED, (unsigned long long)count,
                       (unsigned long long)r->next_first, (unsigned long long)p->info.count);

    if (job->cap < count * size) {
        free(job->buf);
        job->buf = malloc((size_t)(count * size));
        job->cap = job->buf != NULL ? (size_t)(count * size) : 0;
        if (job->buf == NULL)
            return el_fail(err, "out of memory for a %llu-byte chunk",
                           (unsigned long long)(count * size));
    }

    job->task = (el_task){ .run = run_decode_job };
    job->c = r->c;
    job->plan = p;
    job->tensor = r->next_tensor;
    job->chunk = r->next_chunk;
    job->first = r->next_first;
    job->count = count;
    job->rc = 0;
    el_pool_submit(r->pool, &job->task);

    r->submitted++;
    r->next_first += count;
    r->next_chunk = r->next_chunk->next;
    return 0;
}

/* Submits chunks, of this tensor and the ones after it, until every slot
 * is busy. A failure stops the scheduling, and the caller gets its error on
 * reaching that tensor. */
static void fill_window(el_chunk_reader *r)
{
    while (!r->failed && r->next_tensor < r->n && r->submitted - r->consumed < r->window) {
        if (!r->next_ready) {
            if (prepare(r, r->next_tensor, &r->fail_err) != 0) {
                r->failed = 1;
                break;
            }
            r->next_ready = 1;
            r->next_chunk = r->plans[r->next_tensor].chunks->child;
            r->next_first = 0;
        }
        if (r->next_chunk == NULL) {
            r->next_tensor++;
            r->next_ready = 0;
            continue;
        }
        decode_job *job = &r->jobs[r->submitted % r->window];
        if (submit_next(r, job, &r->fail_err) != 0)
            r->failed = 1;
    }
}

el_chunk_reader *el_chunk_reader_start(const el_container *c, const uint64_t *tensors,
                                       size_t n, el_error *err)
{
    el_chunk_reader *r = calloc(1, sizeof *r);
    if (r == NULL) {
        el_fail(err, "out of memory");
        return NULL;
    }
    r->c = c;
    r->n = n;
    r->window = c->threads > 1 ? (size_t)c->threads + 1 : 1;
    r->jobs = calloc(r->window, sizeof *r->jobs);
    r->tensors = malloc((n ? n : 1) * sizeof *r->tensors);
    r->plans = calloc(n ? n : 1, sizeof *r->plans);
    r->hash = XXH3_createState();
    r->pool = el_pool_start(c->threads);
    if (r->jobs == NULL || r->tensors == NULL || r->plans == NULL || r->hash == NULL
        || r->pool == NULL) {
        el_chunk_reader_finish(r);
        el_fail(err, "out of memory");
        return NULL;
    }
    if (n > 0)
        memcpy(r->tensors, tensors, n * sizeof *tensors);
    XXH3_128bits_reset(r->hash);
    return r;
}

/* Checks the checksum of the tensor just received in full against the
 * one its entry records. */
static int check_tensor(const el_chunk_reader *r, const tensor_plan *p, el_error *err)
{
    XXH128_hash_t h = XXH3_128bits_digest(r->hash);
    char actual[33];
    snprintf(actual, sizeof actual, "%016llx%016llx", (unsigned long long)h.high64,
             (unsigned long long)h.low64);
    const char *expected = p->info.lossless ? p->info.hash : p->info.decoded_hash;
    if (strcmp(actual, expected) != 0)
        return el_fail(err, "tensor \"%s\": checksum mismatch after decoding (stored %s, "
                       "computed %s); " EL_DAMAGED, p->info.name, expected,
                       actual);
    return 0;
}

/* Moves on to the next tensor once the current one is done. */
static void next_tensor(el_chunk_reader *r)
{
    r->tensor++;
    r->received = 0;
    XXH3_128bits_reset(r->hash);
}

int el_chunk_reader_next(el_chunk_reader *r, el_chunk *out, el_error *err)
{
    if (r->tensor == r->n)
        return 0;
    fill_window(r);
    const tensor_plan *p = &r->plans[r->tensor];
    memset(out, 0, sizeof *out);
    out->tensor = r->tensor;

    /* The oldest job in flight is the current tensor's next chunk, unless
     * its list ended or scheduling stopped at it. */
    decode_job *job = &r->jobs[r->consumed % r->window];
    if (r->consumed == r->submitted || job->tensor != r->tensor) {
        if (r->failed && r->next_tensor == r->tensor) {
            /* A failure in prepare names the tensor itself. One in
             * submit_next happens after prepare filled the plan, which
             * supplies the name. */
            *err = r->fail_err;
            if (!r->next_ready)
                return -1;
            return el_fail_context(err, "tensor \"%s\" (%s)", p->info.name,
                                   p->info.codec_name);
        }
        if (r->received != p->info.count)
            return el_fail(err, "tensor \"%s\": chunks hold %llu of %llu elements; "
                           EL_DAMAGED, p->info.name,
                           (unsigned long long)r->received, (unsigned long long)p->info.count);
        /* Only a tensor without elements gets here without a chunk. */
        if (check_tensor(r, p, err) != 0)
            return -1;
        out->last = 1;
        next_tensor(r);
        return 1;
    }

    el_pool_wait(r->pool, &job->task);
    r->consumed++;
    if (job->rc != 0) {
        *err = job->err;
        return el_fail_context(err, "tensor \"%s\" (%s)", p->info.name, p->info.codec_name);
    }

    const size_t size = el_dtype_size(p->info.dtype);
    XXH3_128bits_update(r->hash, job->buf, job->count * size);
    r->received += job->count;
    out->bytes = job->buf;
    out->len = (size_t)(job->count * size);
    out->offset = job->first * size;
    if (r->received == p->info.count) {
        if (check_tensor(r, p, err) != 0)
            return -1;
        out->last = 1;
        next_tensor(r);
    }
    return 1;
}

void el_chunk_reader_finish(el_chunk_reader *r)
{
    if (r == NULL)
        return;
    for (; r->consumed < r->submitted; r->consumed++)
        el_pool_wait(r->pool, &r->jobs[r->consumed % r->window].task);
    el_pool_stop(r->pool);
    for (size_t i = 0; r->jobs != NULL && i < r->window; i++)
        free(r->jobs[i].buf);
    free(r->jobs);
    free(r->tensors);
    free(r->plans);
    XXH3_freeState(r->hash);
    free(r);
}

/* Decoding one tensor is a reader over a list of one. */
int el_container_decode_stream(const el_container *c, size_t index, el_chunk_sink sink,
                               void *ctx, el_error *err)
{
    const uint64_t list[1] = { index };
    el_chunk_reader *r = el_chunk_reader_start(c, list, 1, err);
    if (r == NULL)
        return -1;

    el_chunk chunk;
    int rc;
    while ((rc = el_chunk_reader_next(r, &chunk, err)) == 1) {
        if (sink != NULL && chunk.len > 0
            && sink(ctx, chunk.bytes, chunk.len, chunk.offset, err) != 0) {
            rc = -1;
            break;
        }
    }
    el_chunk_reader_finish(r);
    return rc < 0 ? -1 : 0;
}
