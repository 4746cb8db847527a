#include "tensor_encode.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

/* A standalone codec, or a delta codec with the base tensor it encodes
 * against. */
typedef struct coder {
    const char *name;
    const el_codec *codec;
    const el_delta_codec *delta;
    const el_tensor *base;
} coder;

size_t el_chunk_elements(el_dtype dt, size_t chunk_bytes)
{
    size_t n = (chunk_bytes ? chunk_bytes : EL_CHUNK_BYTES) / el_dtype_size(dt);
    return n ? n : 1;
}

/* The coders an export tries, best first: the layer's delta codec if it has
 * one, then its fixed codec or, for auto, every codec that honours the
 * bound by predicted ratio. A prediction from a sample can be wrong, so a
 * chunk that misses its bound takes the next one. A fixed codec whose
 * error depends on the data (int8, int4, the casts) was judged on the
 * sample alone, so after it come the codecs auto would take, as for a
 * layer that cannot take the fixed codec at all. */
static size_t list_coders(const el_workspace *ws, const el_layer *layer, el_dtype dt,
                          const el_codec_params *params, coder *out)
{
    size_t n = 0;
    const el_delta_codec *delta = el_layer_delta(layer);
    if (delta != NULL)
        out[n++] = (coder){ delta->name, NULL, delta, el_layer_base_tensor(ws, layer) };

    int order[EL_MAX_CODECS];
    size_t k = el_layer_candidates(layer, ws->policy, order, EL_MAX_CODECS);
    for (size_t i = 0; i < k; i++)
        out[n++] = (coder){ el_codecs[order[i]]->name, el_codecs[order[i]], NULL, NULL };
    if (layer->codec == NULL || !isinf(layer->codec->max_error(dt, params)))
        return n;

    el_layer as_auto = *layer;
    as_auto.codec = NULL;
    k = el_layer_candidates(&as_auto, ws->policy, order, EL_MAX_CODECS);
    for (size_t i = 0; i < k; i++)
        if (el_codecs[order[i]] != layer->codec)
            out[n++] = (coder){ el_codecs[order[i]]->name, el_codecs[order[i]], NULL, NULL };
    return n;
}

/* Encodes and decodes one chunk with one coder. Returns 0 when it meets the
 * bound, 1 when it misses, -1 on a failure. */
static int try_coder(const coder *c, const el_tensor *t, const el_layer *layer,
                     const el_codec_params *params, el_chunk_job *job)
{
    size_t size = el_dtype_size(t->dtype);
    const uint8_t *src = t->data + job->first * size;
    const uint8_t *base = c->delta != NULL ? c->base->data + job->first * size : NULL;

    job->payload.len = 0;
    int rc = c->delta != NULL
        ? c->delta->encode(t->dtype, src, base, job->count, params, &job->payload, &job->err)
        : c->codec->encode(t->dtype, src, job->count, params, &job->payload, &job->err);
    if (rc == 0)
        rc = c->delta != NULL
            ? c->delta->decode(t->dtype, job->payload.data, job->payload.len, base,
                               job->decoded, job->count, &job->err)
            : c->codec->decode(t->dtype, job->payload.data, job->payload.len, job->decoded,
                               job->count, &job->err);
    if (rc != 0)
        return el_fail_context(&job->err, "tensor \"%s\": %s", t->name, c->name);

    job->exact = memcmp(job->decoded, src, job->count * size) == 0;
    /* Under a lossy bound every chunk feeds the layer's RMSE, PSNR and
     * relative L2, exact ones included; lossless layers need none. */
    memset(&job->accum, 0, sizeof job->accum);
    if (!job->exact || layer->bound.kind != EL_BOUND_LOSSLESS)
        el_error_accum_add(&job->accum, t->dtype, src, job->decoded, job->count);

    if (layer->bound.kind == EL_BOUND_LOSSLESS && !job->exact) {
        el_fail(&job->err, "tensor \"%s\": codec %s did not restore the bytes exactly under "
                "a lossless bound", t->name, c->name);
        return 1;
    }
    if (layer->bound.kind != EL_BOUND_LOSSLESS && !(job->accum.max_abs <= layer->abs_bound)) {
        el_fail(&job->err, "tensor \"%s\": codec %s reached error %g, above the bound %g; "
                "choose another codec for this layer", t->name, c->name, job->accum.max_abs,
                layer->abs_bound);
        return 1;
    }
    /* The writer drops the source pages once it has hashed them. The
     * payload's checksum is taken here, off the writing thread. */
    job->payload_hash = XXH3_64bits(job->payload.data, job->payload.len);
    job->codec = c->name;
    job->is_delta = c->delta != NULL;
    return 0;
}

static void run_job(el_task *task)
{
    el_chunk_job *job = (el_chunk_job *)task;
    const el_tensor *t = &job->ws->models[job->m].tensors[job->t];
    const el_layer *layer = &job->ws->layers[job->m][job->t];
    el_codec_params params = el_bound_params(layer->abs_bound, job->ws->zstd_level);
    coder coders[EL_MAX_CODECS + 1];
    size_t n = list_coders(job->ws, layer, t->dtype, &params, coders);

    size_t bytes = job->count * el_dtype_size(t->dtype) + 1;
    if (job->decoded_cap < bytes) {
        free(job->decoded);
        job->decoded = malloc(bytes);
        job->decoded_cap = job->decoded != NULL ? bytes : 0;
    }
    if (job->decoded == NULL) {
        job->rc = el_fail(&job->err, "out of memory for a chunk of tensor \"%s\"", t->name);
        return;
    }
    job->rc = el_fail(&job->err, "tensor \"%s\": no codec fits its plan", t->name);
    for (size_t i = 0; i < n; i++) {
        int rc = try_coder(&coders[i], t, layer, &params, job);
        if (rc <= 0) {
            job->rc = rc;
            return;
        }
        job->rc = -1;
    }
}

void el_chunk_job_submit(el_pool *pool, const el_workspace *ws, size_t m, size_t t,
                         size_t first, size_t count, el_chunk_job *job)
{
    /* Reusing the buffers spares a page fault per page of every chunk, and
     * the unmapping that interrupts the other threads to flush their TLBs. */
    el_buf payload = job->payload;
    uint8_t *decoded = job->decoded;
    size_t decoded_cap = job->decoded_cap;
    memset(job, 0, sizeof *job);
    job->payload = payload;
    job->payload.len = 0;
    job->decoded = decoded;
    job->decoded_cap = decoded_cap;
    job->task.run = run_job;
    job->ws = ws;
    job->m = m;
    job->t = t;
    job->first = first;
    job->count = count;
    el_pool_submit(pool, &job->task);
}

void el_chunk_job_free(el_chunk_job *job)
{
    el_buf_free(&job->payload);
    free(job->decoded);
    memset(job, 0, sizeof *job);
}
