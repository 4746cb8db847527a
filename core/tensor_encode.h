/* Encoding a tensor as independently decodable chunks, several at a time on
 * a worker pool. Each chunk takes the first of the layer's codecs that
 * meets its bound, so the output is the same for every thread count. */
#ifndef ELVES_TENSOR_ENCODE_H
#define ELVES_TENSOR_ENCODE_H

#include <stddef.h>
#include <stdint.h>

#include "../codecs/measure.h"
#include "pool.h"
#include "workspace.h"

/* Source bytes per chunk: big enough that codec set-up costs nothing, small
 * enough that threads x (source + payload + decoded) stays a few tens of
 * megabytes. */
#define EL_CHUNK_BYTES (4u << 20)

typedef struct el_chunk_job {
    el_task task;              /* first, so that the pool's task is the job */
    const el_workspace *ws;
    size_t m, t;               /* model and tensor */
    size_t first, count;       /* elements of the tensor this chunk covers */
    el_buf payload;
    const char *codec;         /* name of the codec that met the bound */
    int is_delta;
    uint8_t *decoded;          /* the chunk as decoding gives it back */
    size_t decoded_cap;        /* bytes allocated at decoded */
    int exact;                 /* decoded equals the source bytes */
    uint64_t payload_hash;     /* XXH3-64 of the payload, taken on the worker */
    el_error_accum accum;
    int rc;                    /* 0, or -1 with err set */
    el_error err;
} el_chunk_job;

/* Elements per chunk for a dtype and a chunk size in bytes (0: the
 * default). */
size_t el_chunk_elements(el_dtype dt, size_t chunk_bytes);

/* Queues the job for chunk [first, first + count) of tensor t of model m
 * on the pool. Wait for it with el_pool_wait(pool, &job->task); then rc is
 * 0, or -1 with err set. The job keeps the payload and decoded buffers of
 * its previous chunk, to fill them again. */
void el_chunk_job_submit(el_pool *pool, const el_workspace *ws, size_t m, size_t t,
                         size_t first, size_t count, el_chunk_job *job);

/* Frees a job's buffers and zeroes it. */
void el_chunk_job_free(el_chunk_job *job);

#endif
