/* Writing a model into a .elves container: opaque segments with zstd, each
 * tensor with its layer's codec, then the JSON manifest and the trailer.
 *
 * Manifest (version 1):
 *   {"elves": 1, "models": [{"format", "path", "files": [
 *        {"name", "size", "xxh3_128", "segments": [{"blob": i, "size"} |
 *                                                  {"tensor": j}],
 *         "crc_fixups": [[start, length, crc_offset...]]}]}],
 *    "blobs": [{"offset", "length", "xxh64"}],
 *    "tensors": [{"name", "dtype", "shape", "bytes", "codec", "bound",
 *                 "zstd_level", "abs_bound",
 *                 "chunks": [{"blob", "count", "codec"}] | "same_as",
 *                 "max_error", "rmse", "psnr", "rel_l2", "xxh3_128",
 *                 "decoded_xxh3_128", and for a delta "base_tensor" and
 *                 "base_xxh3_128"}]}
 * A model encoded against a base names it in "base".
 * Offsets and sizes are bytes; "same_as" is the index of an earlier tensor
 * whose payload this one shares. */
#include "container.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "container_format.h"
#include "dedup.h"
#include "tensor_encode.h"
#include "../codecs/measure.h"

/* A chunk's payload on its way to its place in the container. The pool
 * runs the write, so that the writing thread goes on to the next chunk's
 * checksums meanwhile.
 * NOTE: Linux takes the file's inode lock for every buffered write (ext4
 * and tmpfs alike), so writes into one file still take turns and their
 * copies do not run side by side. */
typedef struct blob_write {
    el_task task;          /* first, so that the pool's task is the write */
    int fd;
    const uint8_t *data;
    size_t len;
    uint64_t offset;
    const char *path;
    int pending;           /* submitted and not yet waited for */
    int rc;                /* 0, or -1 with err set */
    el_error err;
} blob_write;

typedef struct writer {
    int fd;
    char *tmp;
    uint64_t offset;       /* bytes written so far */
    cJSON *blobs;
    size_t n_blobs;
    el_progress_fn progress;
    void *ctx;
    uint64_t done, total;  /* progress, in source bytes */
    long **slots;          /* [model][tensor]: index in "tensors", or -1 */
    int uses_base;         /* some tensor of the current model is a delta */
    size_t threads;        /* chunks encoded at a time, within the memory budget */
    size_t window;         /* chunks submitted ahead of the one being written */
    el_pool *pool;

    /* Chunks in flight, oldest at ring[head], and the plan: the current
     * model's tensors that get chunks, in writing order. The pool runs
     * ahead into the next tensor while one is written. */
    const el_workspace *ws;
    size_t model;
    el_chunk_job *ring;    /* window slots */
    blob_write *writes;    /* per slot: the write of its payload */
    size_t head, in_flight;
    size_t *plan;
    size_t n_plan, plan_pos, next_chunk;
    int stop;              /* set after a failure: submit nothing more */
    int write_failed;      /* a payload write failed, with write_err */
    el_error write_err;
    size_t chunk_bytes;    /* source bytes per chunk */
    size_t n_entries;      /* entries in "tensors" so far */
    size_t report_base;    /* report->layers index of the current model's tensor 0 */

    /* Checksum of the source file being written, fed in file order from
     * the bytes each step reads anyway: opaque runs, and each tensor's
     * chunks as they are written. */
    XXH3_state_t *file_hash;
} writer;

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

static int add_number(cJSON *obj, const char *key, double v, el_error *err)
{
    if (cJSON_AddNumberToObject(obj, key, v) == NULL)
        return el_fail(err, "out of memory building the manifest");
    return 0;
}

static int add_string(cJSON *obj, const char *key, const char *v, el_error *err)
{
    if (cJSON_AddStringToObject(obj, key, v) == NULL)
        return el_fail(err, "out of memory building the manifest");
    return 0;
}

/* Lists the next blob, len bytes with XXH3-64 checksum xxh64, at the end
 * of the container. Sets *index and *offset to its index and offset. */
static int add_blob(writer *w, size_t len, uint64_t xxh64, size_t *index, uint64_t *offset,
                    el_error *err)
{
    cJSON *blob = cJSON_CreateObject();
    if (blob == NULL || !cJSON_AddItemToArray(w->blobs, blob))
        return el_fail(err, "out of memory building the manifest");

    char hash[17];
    snprintf(hash, sizeof hash, "%016llx", (unsigned long long)xxh64);
    if (add_number(blob, "offset", (double)w->offset, err) != 0
        || add_number(blob, "length", (double)len, err) != 0
        || add_string(blob, "xxh64", hash, err) != 0)
        return -1;

    *offset = w->offset;
    w->offset += len;
    *index = w->n_blobs++;
    return 0;
}

/* Appends bytes as the next blob, written before this returns. */
static int write_blob(writer *w, const el_buf *bytes, const char *out_path,
                      size_t *index, el_error *err)
{
    uint64_t offset;
    if (add_blob(w, bytes->len, XXH3_64bits(bytes->data, bytes->len), index, &offset, err) != 0)
        return -1;
    return el_pwrite_all(w->fd, bytes->data, bytes->len, offset, out_path, err);
}

static void run_blob_write(el_task *task)
{
    blob_write *b = (blob_write *)task;
    b->rc = el_pwrite_all(b->fd, b->data, b->len, b->offset, b->path, &b->err);
}

/* Appends the payload of the job in ring slot `slot` as the next blob and
 * queues its write. The slot keeps the payload until finish_write. */
static int queue_chunk_write(writer *w, size_t slot, const char *out_path, size_t *index,
                             el_error *err)
{
    const el_chunk_job *job = &w->ring[slot];
    blob_write *b = &w->writes[slot];
    if (add_blob(w, job->payload.len, job->payload_hash, index, &b->offset, err) != 0)
        return -1;

    b->task.run = run_blob_write;
    b->fd = w->fd;
    b->data = job->payload.data;
    b->len = job->payload.len;
    b->path = out_path;
    b->pending = 1;
    el_pool_submit(w->pool, &b->task);
    return 0;
}

/* Waits for the write queued from ring slot `slot`, if any. A failed write
 * stops the export: write_failed and write_err keep the first failure. */
static void finish_write(writer *w, size_t slot)
{
    blob_write *b = &w->writes[slot];
    if (!b->pending)
        return;
    el_pool_wait(w->pool, &b->task);
    b->pending = 0;
    if (b->rc != 0 && !w->write_failed) {
        w->write_failed = 1;
        w->write_err = b->err;
        w->stop = 1;
    }
}

/* Waits for every queued write. Returns -1 with err set when one failed. */
static int finish_writes(writer *w, el_error *err)
{
    for (size_t i = 0; i < w->window; i++)
        finish_write(w, i);
    if (w->write_failed) {
        *err = w->write_err;
        return -1;
    }
    return 0;
}

/* Hex XXH3-128 of a tensor's bytes, read a window at a time so that a
 * tensor larger than the memory budget never becomes resident. */
static void hash_hex(const el_tensor *t, char out[33])
{
    el_hash128_hex(el_tensor_hash(t), out);
}
static int tensor_entry(const el_tensor *t, cJSON **out, el_error *err)
{
    cJSON *entry = cJSON_CreateObject();
    cJSON *shape = cJSON_CreateArray();
    if (entry == NULL || shape == NULL) {
        cJSON_Delete(entry);
        cJSON_Delete(shape);
        return el_fail(err, "out of memory building the manifest");
    }
    cJSON_AddItemToObject(entry, "shape", shape);
    for (int d = 0; d < t->ndim; d++)
        cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)t->shape[d]));

    /* "xxh3_128" comes later: write_chunks hashes the source a chunk at a
     * time as it writes, and a reference copies it from its first copy. */
    *out = entry;
    if (add_string(entry, "name", t->name, err) != 0
        || add_string(entry, "dtype", el_dtype_name(t->dtype), err) != 0
        || add_number(entry, "bytes", (double)t->nbytes, err) != 0)
        return -1;
    return 0;
}

/* Result of trying one codec on one tensor. */
/* Metrics are written with three significant digits: they inform, the
 * bound check uses max_error, and full precision made the manifest of a
 * small model grow past what a lossy plan saved. JSON has no Inf, so a
 * lossless layer's PSNR is written as null. */
static int add_metric(cJSON *entry, const char *key, double v, el_error *err)
{
    char text[32];
    snprintf(text, sizeof text, "%.3g", v);
    cJSON *item = isfinite(v) ? cJSON_CreateNumber(strtod(text, NULL)) : cJSON_CreateNull();
    if (item == NULL || !cJSON_AddItemToObject(entry, key, item))
        return el_fail(err, "out of memory building the manifest");
    return 0;
}

static int add_error_fields(cJSON *entry, const el_error_stats *e, el_error *err)
{
    if (add_number(entry, "max_error", e->max_abs, err) != 0
        || add_metric(entry, "rmse", e->rmse, err) != 0
        || add_metric(entry, "psnr", e->psnr, err) != 0
        || add_metric(entry, "rel_l2", e->rel_l2, err) != 0)
        return -1;
    return 0;
}

/* Records a duplicate that shares the payload of the earlier entry `first`. */
static int write_reference(long first, cJSON *tensors, cJSON *entry, el_export_layer *rep,
                           el_error *err)
{
    cJSON *first_entry = cJSON_GetArrayItem(tensors, (int)first);
    cJSON *codec = cJSON_GetObjectItem(first_entry, "codec");
    cJSON *hash = cJSON_GetObjectItem(first_entry, "decoded_xxh3_128");
    cJSON *max_error = cJSON_GetObjectItem(first_entry, "max_error");

    /* A duplicate has the bytes of its first copy, so their checksum too. */
    if (add_string(entry, "xxh3_128",
                   cJSON_GetObjectItem(first_entry, "xxh3_128")->valuestring, err) != 0)
        return -1;

    rep->duplicate = 1;
    const el_codec *standalone = el_codec_find(codec->valuestring);
    rep->codec = standalone != NULL ? standalone->name
                                    : el_delta_codec_find(codec->valuestring)->name;
    rep->error.max_abs = max_error->valuedouble;
    rep->exact = strcmp(hash->valuestring,
                        cJSON_GetObjectItem(entry, "xxh3_128")->valuestring) == 0;
    if (add_string(entry, "codec", codec->valuestring, err) != 0
        || add_number(entry, "same_as", (double)first, err) != 0
        || add_string(entry, "decoded_xxh3_128", hash->valuestring, err) != 0)
        return -1;

    static const char *const copied[] = { "max_error", "rmse", "psnr", "rel_l2",
                                          "base_tensor", "base_xxh3_128" };
    for (size_t i = 0; i < sizeof copied / sizeof copied[0]; i++) {
        if (cJSON_GetObjectItem(first_entry, copied[i]) == NULL)
            continue;
        cJSON *item = cJSON_Duplicate(cJSON_GetObjectItem(first_entry, copied[i]), 0);
        if (item == NULL || !cJSON_AddItemToObject(entry, copied[i], item))
            return el_fail(err, "out of memory building the manifest");
    }
    return 0;
}

/* The entry whose payload this tensor can share: an identical tensor
 * written earlier, in this model or an earlier one of the container, under
 * the same codec and bound. Returns -1 when there is none. The first copy
 * normally comes first in file order; when it does not, this copy is
 * stored again. */
static long shared_entry(const writer *w, const el_workspace *ws, size_t m, size_t t)
{
    const el_layer *layer = &ws->layers[m][t];
    if (!layer->dup.is_duplicate || w->slots[layer->dup.of.model] == NULL)
        return -1;

    const el_layer *first = &ws->layers[layer->dup.of.model][layer->dup.of.tensor];
    if (first->chosen != layer->chosen || first->abs_bound != layer->abs_bound
        || !el_bound_equal(first->bound, layer->bound))
        return -1;
    return w->slots[layer->dup.of.model][layer->dup.of.tensor];
}

static size_t chunk_count(const writer *w, const el_tensor *tensor)
{
    size_t per_chunk = el_chunk_elements(tensor->dtype, w->chunk_bytes);
    return (tensor->count + per_chunk - 1) / per_chunk;
}

/* Submits chunks from the plan until window of them are in flight. */
static void fill_window(writer *w)
{
    const el_model *model = &w->ws->models[w->model];
    while (!w->stop && w->in_flight < w->window && w->plan_pos < w->n_plan) {
        const el_tensor *tensor = &model->tensors[w->plan[w->plan_pos]];
        if (w->next_chunk == chunk_count(w, tensor)) {
            w->plan_pos++;
            w->next_chunk = 0;
            continue;
        }

        size_t slot = (w->head + w->in_flight) % w->window;
        finish_write(w, slot);
        if (w->stop)
            break;

        size_t per_chunk = el_chunk_elements(tensor->dtype, w->chunk_bytes);
        size_t first = w->next_chunk * per_chunk;
        size_t count = tensor->count - first < per_chunk ? tensor->count - first : per_chunk;
        el_chunk_job *job = &w->ring[slot];
        el_chunk_job_submit(w->pool, w->ws, w->model, w->plan[w->plan_pos], first, count, job);
        w->in_flight++;
        w->next_chunk++;
    }
}

/* Waits for the oldest job in flight and returns it. The caller then calls
 * release_oldest, which hands its slot back for a later chunk. */
static el_chunk_job *take_oldest(writer *w)
{
    el_chunk_job *job = &w->ring[w->head];
    el_pool_wait(w->pool, &job->task);
    return job;
}

static void release_oldest(writer *w)
{
    w->head = (w->head + 1) % w->window;
    w->in_flight--;
}

/* Waits for every job in flight. Called after a failure. */
static void drain_window(writer *w)
{
    w->stop = 1;
    while (w->in_flight > 0) {
        take_oldest(w);
        release_oldest(w);
    }
}

/* Adds len bytes of tensor t, from byte `at` of the tensor, to the file
 * checksum. Readers point a stored tensor's data at its bytes in the file
 * mapping, so `read` is normally those bytes, just read. Otherwise they
 * are read from the mapping. */
static void hash_file_bytes(writer *w, const el_workspace *ws, size_t m, size_t t,
                            uint64_t at, size_t len, const uint8_t *read)
{
    const el_tensor *tensor = &ws->models[m].tensors[t];
    const uint8_t *in_file = ws->models[m].files[tensor->file].map + tensor->offset + at;
    XXH3_128bits_update(w->file_hash, in_file, len);
    if (in_file != read)
        el_release_range(in_file, len);
}

/* Adds the bytes of a tensor that no chunk reads (a copy written as a
 * reference) to the file checksum, a window at a time. */
static void hash_unread_tensor(writer *w, const el_workspace *ws, size_t m, size_t t)
{
    const el_tensor *tensor = &ws->models[m].tensors[t];
    for (uint64_t pos = 0, window = 16u << 20; pos < tensor->nbytes; pos += window) {
        size_t n = tensor->nbytes - pos < window ? (size_t)(tensor->nbytes - pos) : (size_t)window;
        hash_file_bytes(w, ws, m, t, pos, n, NULL);
    }
}

/* Writes the chunks of one tensor in order, as the pool encodes them ahead,
 * and records them with the tensor's error figures and the checksum of its
 * decoded bytes. */
static int write_chunks(writer *w, const el_workspace *ws, size_t m, size_t t,
                        const char *out_path, cJSON *entry, el_export_layer *rep,
                        el_error *err)
{
    const el_tensor *tensor = &ws->models[m].tensors[t];
    const el_layer *layer = &ws->layers[m][t];
    size_t per_chunk = el_chunk_elements(tensor->dtype, w->chunk_bytes);
    size_t n_chunks = chunk_count(w, tensor);

    cJSON *chunks = cJSON_AddArrayToObject(entry, "chunks");
    XXH3_state_t *hash = XXH3_createState();
    XXH3_state_t *source_hash = XXH3_createState();
    if (chunks == NULL || hash == NULL || source_hash == NULL) {
        XXH3_freeState(hash);
        XXH3_freeState(source_hash);
        return el_fail(err, "out of memory");
    }
    XXH3_128bits_reset(hash);
    XXH3_128bits_reset(source_hash);
    size_t size = el_dtype_size(tensor->dtype);

    el_error_accum accum = { 0 };
    int exact = 1, any_delta = 0, rc = 0;
    const char *first_codec = NULL;
    for (size_t i = 0; i < n_chunks && rc == 0; i++) {
        fill_window(w);
        if (w->write_failed) {
            *err = w->write_err;
            rc = -1;
            break;
        }
        el_chunk_job *job = w->in_flight > 0 ? take_oldest(w) : NULL;
        /* The plan lists the tensors write_file encodes, in its order, so
         * the oldest job is always this tensor's next chunk. */
        if (job == NULL || job->m != m || job->t != t || job->first != i * per_chunk) {
            rc = el_fail(err, "tensor \"%s\": chunk %zu was not scheduled; this is a bug "
                         "in elves, please report it", tensor->name, i);
            break;
        }
        if (job->rc != 0) {
            *err = job->err;
            rc = -1;
        }

        size_t blob;
        if (rc == 0)
            rc = queue_chunk_write(w, w->head, out_path, &blob, err);
        cJSON *chunk = rc == 0 ? cJSON_CreateObject() : NULL;
        if (rc == 0 && (chunk == NULL || !cJSON_AddItemToArray(chunks, chunk)))
            rc = el_fail(err, "out of memory building the manifest");
        if (rc == 0 && (add_number(chunk, "blob", (double)blob, err) != 0
                        || add_number(chunk, "count", (double)job->count, err) != 0
                        || add_string(chunk, "codec", job->codec, err) != 0))
            rc = -1;
        if (rc == 0) {
            /* The job left its source pages mapped, so the checksum of the
             * original bytes reads them once more, and only then are they
             * dropped: no pass over the whole tensor is needed for it.
             * While every chunk so far decoded exactly, the decoded bytes
             * are the source bytes, so one checksum serves both. The
             * decoded one starts from a copy at the first inexact chunk. */
            const uint8_t *src = tensor->data + job->first * size;
            if (exact && !job->exact)
                XXH3_copyState(hash, source_hash);
            XXH3_128bits_update(source_hash, src, job->count * size);
            hash_file_bytes(w, ws, m, t, job->first * size, job->count * size, src);
            if (!tensor->derived)
                el_release_range(src, job->count * size);
            if (!(exact && job->exact))
                XXH3_128bits_update(hash, job->decoded, job->count * size);
            el_error_accum_merge(&accum, &job->accum);
            exact &= job->exact;
            any_delta |= job->is_delta;
            rep->stored += job->payload.len;
            first_codec = first_codec ? first_codec : job->codec;
        }
        release_oldest(w);
    }
    if (rc != 0)
        drain_window(w);
    el_tensor_release(&ws->models[m], tensor);

    XXH128_hash_t source_h = XXH3_128bits_digest(source_hash);
    XXH128_hash_t h = exact ? source_h : XXH3_128bits_digest(hash);
    XXH3_freeState(hash);
    XXH3_freeState(source_hash);
    if (rc != 0)
        return -1;

    char decoded_hash[33], original_hash[33];
    snprintf(decoded_hash, sizeof decoded_hash, "%016llx%016llx",
             (unsigned long long)h.high64, (unsigned long long)h.low64);
    snprintf(original_hash, sizeof original_hash, "%016llx%016llx",
             (unsigned long long)source_h.high64, (unsigned long long)source_h.low64);
    if (add_string(entry, "xxh3_128", original_hash, err) != 0)
        return -1;
    el_error_stats stats = { 0.0, 0.0, INFINITY, 0.0 };
    if (!exact || layer->bound.kind != EL_BOUND_LOSSLESS)
        el_error_accum_finish(&accum, &stats);

    /* The tensor's codec is its first chunk's; a chunk that missed the
     * bound with it names its own. */
    const el_codec *standalone = el_layer_codec(layer);
    rep->codec = "raw";
    if (first_codec != NULL)
        rep->codec = first_codec;
    else if (standalone != NULL)
        rep->codec = standalone->name;
    rep->error = stats;
    rep->exact = exact;

    const el_tensor *base = el_layer_base_tensor(ws, layer);
    w->uses_base |= any_delta;
    if (any_delta) {
        char base_hash[33];
        hash_hex(base, base_hash);
        if (add_string(entry, "base_tensor", base->name, err) != 0
            || add_string(entry, "base_xxh3_128", base_hash, err) != 0)
            return -1;
    }
    if (add_string(entry, "codec", rep->codec, err) != 0
        || add_error_fields(entry, &stats, err) != 0
        || add_string(entry, "decoded_xxh3_128", decoded_hash, err) != 0)
        return -1;
    return 0;
}

static int write_tensor(writer *w, const el_workspace *ws, size_t m, size_t t,
                        const char *out_path, cJSON *tensors, el_export_layer *rep,
                        el_error *err)
{
    const el_tensor *tensor = &ws->models[m].tensors[t];
    const el_layer *layer = &ws->layers[m][t];
    el_codec_params params = el_bound_params(layer->abs_bound, ws->zstd_level);

    cJSON *entry = NULL;
    if (tensor_entry(tensor, &entry, err) != 0) {
        cJSON_Delete(entry);
        return -1;
    }
    cJSON_AddItemToArray(tensors, entry);
    w->slots[m][t] = (long)w->n_entries++;

    char bound[64];
    el_bound_format(layer->bound, bound, sizeof bound);
    if (add_string(entry, "bound", bound, err) != 0
        || add_number(entry, "zstd_level", params.zstd_level, err) != 0
        || add_number(entry, "abs_bound", params.abs_bound, err) != 0)
        return -1;

    rep->predicted = el_layer_predicted_bytes(ws, m, t);
    rep->lossless = layer->bound.kind == EL_BOUND_LOSSLESS;

    long first = shared_entry(w, ws, m, t);
    if (first >= 0) {
        hash_unread_tensor(w, ws, m, t);
        return write_reference(first, tensors, entry, rep, err);
    }

    return write_chunks(w, ws, m, t, out_path, entry, rep, err);
}

static int report_progress(writer *w, uint64_t bytes, const char *label, el_error *err)
{
    w->done += bytes;
    if (w->progress != NULL && w->progress(w->ctx, w->done, w->total, label))
        return el_fail(err, "export cancelled; nothing was written");
    return 0;
}

/* Writes one opaque segment (zstd) and adds it to segments. */
static int write_opaque(writer *w, const void *bytes, size_t len, const char *out_path,
                        cJSON *segments, el_error *err)
{
    el_buf frame = { 0 };
    size_t blob;
    int rc = el_zstd_append_frame(&frame, bytes, len, EL_OPAQUE_ZSTD_LEVEL, err);
    if (rc == 0)
        rc = write_blob(w, &frame, out_path, &blob, err);
    el_buf_free(&frame);
    if (rc != 0)
        return -1;

    cJSON *seg = cJSON_CreateObject();
    if (seg == NULL || !cJSON_AddItemToArray(segments, seg))
        return el_fail(err, "out of memory building the manifest");
    if (add_number(seg, "blob", (double)blob, err) != 0
        || add_number(seg, "size", (double)len, err) != 0)
        return -1;
    return 0;
}

/* Adds a file's entry to files. Its "xxh3_128" is a placeholder of the
 * same length until set_file_hash fills it in. */
static cJSON *file_entry(const char *name, uint64_t size, cJSON *files, el_error *err)
{
    cJSON *entry = cJSON_CreateObject();
    if (entry == NULL || !cJSON_AddItemToArray(files, entry)) {
        el_fail(err, "out of memory building the manifest");
        return NULL;
    }
    if (cJSON_AddArrayToObject(entry, "segments") == NULL
        || add_string(entry, "name", name, err) != 0
        || add_number(entry, "size", (double)size, err) != 0
        || add_string(entry, "xxh3_128", "00000000000000000000000000000000", err) != 0)
        return NULL;
    return entry;
}

static int set_file_hash(cJSON *entry, XXH3_state_t *state, el_error *err)
{
    XXH128_hash_t h = XXH3_128bits_digest(state);
    char hash[33];
    snprintf(hash, sizeof hash, "%016llx%016llx", (unsigned long long)h.high64,
             (unsigned long long)h.low64);
    if (cJSON_SetValuestring(cJSON_GetObjectItem(entry, "xxh3_128"), hash) == NULL)
        return el_fail(err, "out of memory building the manifest");
    return 0;
}

/* Writes an opaque run of the file being written, for its checksum too. */
static int write_file_run(writer *w, const uint8_t *bytes, size_t len, const char *out_path,
                          cJSON *segments, el_error *err)
{
    XXH3_128bits_update(w->file_hash, bytes, len);
    return write_opaque(w, bytes, len, out_path, segments, err);
}

/* Records the file's CRC-32 fields as [start, length, offset...] lists, for
 * restore to recompute after a lossy plan changed bytes they cover. */
static int add_crc_fixups(cJSON *entry, const el_file *file, el_error *err)
{
    if (file->n_crc_fixups == 0)
        return 0;

    cJSON *list = cJSON_AddArrayToObject(entry, "crc_fixups");
    if (list == NULL)
        return el_fail(err, "out of memory building the manifest");
    for (size_t i = 0; i < file->n_crc_fixups; i++) {
        const el_crc_fixup *fix = &file->crc_fixups[i];
        cJSON *item = cJSON_CreateArray();
        if (item == NULL || !cJSON_AddItemToArray(list, item))
            return el_fail(err, "out of memory building the manifest");
        cJSON_AddItemToArray(item, cJSON_CreateNumber((double)fix->start));
        cJSON_AddItemToArray(item, cJSON_CreateNumber((double)fix->length));
        for (size_t k = 0; k < fix->n_at; k++)
            cJSON_AddItemToArray(item, cJSON_CreateNumber((double)fix->at[k]));
    }
    return 0;
}

/* Orders tensor indices by (file, offset), the order segments are written;
 * ctx is the model. */
static int compare_offsets(const void *a, const void *b, void *ctx)
{
    const el_model *model = ctx;
    const el_tensor *x = &model->tensors[*(const size_t *)a];
    const el_tensor *y = &model->tensors[*(const size_t *)b];
    if (x->file != y->file)
        return x->file < y->file ? -1 : 1;
    if (x->offset != y->offset)
        return x->offset < y->offset ? -1 : 1;
    return *(const size_t *)a < *(const size_t *)b ? -1 : 1;
}

static int add_tensor_segment(cJSON *segments, size_t entry, el_error *err)
{
    cJSON *seg = cJSON_CreateObject();
    if (seg == NULL || !cJSON_AddItemToArray(segments, seg)
        || add_number(seg, "tensor", (double)entry, err) != 0)
        return el_fail(err, "out of memory building the manifest");
    return 0;
}

/* Writes one source file as segments: each stored tensor's byte range, and
 * an opaque segment for every run of bytes between them (headers, metadata,
 * padding, zip records). */
static int write_file(writer *w, const el_workspace *ws, size_t m, size_t f,
                      const size_t *order, size_t n_order, const char *out_path,
                      cJSON *files, cJSON *tensors, el_export_report *report, el_error *err)
{
    const el_model *model = &ws->models[m];
    const el_file *file = &model->files[f];
    cJSON *entry = file_entry(file->name, file->size, files, err);
    if (entry == NULL || add_crc_fixups(entry, file, err) != 0)
        return -1;
    cJSON *segments = cJSON_GetObjectItem(entry, "segments");
    XXH3_128bits_reset(w->file_hash);

    uint64_t pos = 0;
    for (size_t i = 0; i < n_order; i++) {
        size_t t = order[i];
        const el_tensor *tensor = &model->tensors[t];
        if (tensor->file != f || tensor->derived)
            continue;

        /* An empty tensor has no bytes in the file, so it needs an entry in
         * the manifest but no segment, wherever its offset points. */
        if (tensor->nbytes == 0) {
            if (write_tensor(w, ws, m, t, out_path, tensors,
                             &report->layers[w->report_base + t], err) != 0)
                return -1;
            continue;
        }
        if (tensor->offset < pos || tensor->nbytes > file->size - tensor->offset)
            return el_fail(err, "tensor \"%s\" overlaps another stored tensor of %s; "
                           "the reader should have marked it derived", tensor->name,
                           file->name);

        if (tensor->offset > pos
            && (write_file_run(w, file->map + pos, tensor->offset - pos, out_path, segments,
                               err) != 0
                || report_progress(w, tensor->offset - pos, file->name, err) != 0))
            return -1;

        el_export_layer *rep = &report->layers[w->report_base + t];
        if (add_tensor_segment(segments, w->n_entries, err) != 0
            || write_tensor(w, ws, m, t, out_path, tensors, rep, err) != 0
            || report_progress(w, tensor->nbytes, tensor->name, err) != 0)
            return -1;
        report->predicted += rep->predicted;
        pos = tensor->offset + tensor->nbytes;
    }

    if (pos < file->size
        && (write_file_run(w, file->map + pos, file->size - pos, out_path, segments, err) != 0
            || report_progress(w, file->size - pos, file->name, err) != 0))
        return -1;
    return set_file_hash(entry, w->file_hash, err);
}

/* Lists the tensors of model m that write_file will encode, in its order:
 * stored ones with bytes, less those it will write as references to an
 * earlier copy. The references are found by running shared_entry on a
 * scratch copy of the model's slots, marked as write_file would mark
 * them. */
static int plan_model(writer *w, const el_workspace *ws, size_t m, const size_t *order)
{
    const el_model *model = &ws->models[m];
    long *scratch = malloc((model->n_tensors + 1) * sizeof *scratch);
    size_t *plan = realloc(w->plan, (model->n_tensors + 1) * sizeof *plan);
    if (scratch == NULL || plan == NULL) {
        free(scratch);
        w->plan = plan != NULL ? plan : w->plan;
        return -1;
    }
    w->plan = plan;
    for (size_t t = 0; t < model->n_tensors; t++)
        scratch[t] = -1;

    long *real = w->slots[m];
    w->slots[m] = scratch;
    w->n_plan = 0;
    for (size_t f = 0; f < model->n_files; f++) {
        for (size_t i = 0; i < model->n_tensors; i++) {
            size_t t = order[i];
            const el_tensor *tensor = &model->tensors[t];
            if (tensor->file != f || tensor->derived)
                continue;
            int shared = shared_entry(w, ws, m, t) >= 0;
            scratch[t] = 0;
            if (!shared && tensor->nbytes > 0)
                w->plan[w->n_plan++] = t;
        }
    }
    w->slots[m] = real;
    free(scratch);

    w->model = m;
    w->plan_pos = 0;
    w->next_chunk = 0;
    return 0;
}

static int write_files(writer *w, const el_workspace *ws, size_t m, const char *out_path,
                       cJSON *files, cJSON *tensors, el_export_report *report, el_error *err)
{
    const el_model *model = &ws->models[m];

    if (model->index_json != NULL) {
        cJSON *entry = file_entry(model->index_name, model->index_json_len, files, err);
        XXH3_128bits_reset(w->file_hash);
        if (entry == NULL
            || write_file_run(w, (const uint8_t *)model->index_json, model->index_json_len,
                              out_path, cJSON_GetObjectItem(entry, "segments"), err) != 0
            || set_file_hash(entry, w->file_hash, err) != 0)
            return -1;
    }

    size_t *order = malloc((model->n_tensors + 1) * sizeof *order);
    w->slots[m] = malloc((model->n_tensors + 1) * sizeof *w->slots[m]);
    if (order == NULL || w->slots[m] == NULL) {
        free(order);
        return el_fail(err, "out of memory");
    }
    for (size_t t = 0; t < model->n_tensors; t++) {
        order[t] = t;
        w->slots[m][t] = -1;
    }
    qsort_r(order, model->n_tensors, sizeof *order, compare_offsets, (void *)model);
    if (plan_model(w, ws, m, order) != 0) {
        free(order);
        return el_fail(err, "out of memory");
    }

    /* Derived tensors are restored by the segments that hold their bytes;
     * the report lists them with nothing stored. */
    w->report_base = report->n_layers;
    for (size_t t = 0; t < model->n_tensors; t++) {
        el_export_layer *rep = &report->layers[w->report_base + t];
        rep->name = strdup(model->tensors[t].name);
        rep->model = m;
        rep->original = model->tensors[t].nbytes;
        rep->derived = model->tensors[t].derived;
        rep->lossless = 1;
        rep->exact = 1;
        rep->codec = "-";
        report->n_layers++;
        if (rep->name == NULL) {
            free(order);
            return el_fail(err, "out of memory");
        }
    }

    int rc = 0;
    for (size_t f = 0; rc == 0 && f < model->n_files; f++)
        rc = write_file(w, ws, m, f, order, model->n_tensors, out_path, files, tensors,
                        report, err);
    free(order);
    return rc;
}

/* Adds one model's entry to "models" and writes its files. */
static int write_model(writer *w, const el_workspace *ws, size_t m, const char *out_path,
                       cJSON *models, cJSON *tensors, el_export_report *report,
                       el_error *err)
{
    const el_model *model = &ws->models[m];
    cJSON *entry = cJSON_CreateObject();
    if (entry == NULL || !cJSON_AddItemToArray(models, entry))
        return el_fail(err, "out of memory building the manifest");
    cJSON *files = cJSON_AddArrayToObject(entry, "files");
    if (files == NULL || add_string(entry, "format", model->format, err) != 0
        || add_string(entry, "path", base_name(model->path), err) != 0)
        return el_fail(err, "out of memory building the manifest");

    w->uses_base = 0;
    if (write_files(w, ws, m, out_path, files, tensors, report, err) != 0)
        return -1;

    /* Restoring needs the same base: its name here for messages, and every
     * delta tensor records its base tensor's checksum. */
    if (w->uses_base && add_string(entry, "base", base_name(ws->models[ws->base].path),
                                   err) != 0)
        return -1;
    return 0;
}

static int write_manifest(writer *w, cJSON *root, const char *out_path, el_error *err)
{
    char *text = cJSON_PrintUnformatted(root);
    if (text == NULL)
        return el_fail(err, "out of memory printing the manifest");
    el_buf frame = { 0 };
    int rc = el_zstd_append_frame(&frame, text, strlen(text), EL_OPAQUE_ZSTD_LEVEL, err);
    free(text);
    if (rc != 0)
        return -1;
    size_t len = frame.len;

    uint8_t trailer[EL_CONTAINER_TRAILER_LEN];
    uint64_t fields[3] = { w->offset, len, XXH3_64bits(frame.data, len) };
    for (int i = 0; i < 3; i++)
        for (int b = 0; b < 8; b++)
            trailer[8 * i + b] = (uint8_t)(fields[i] >> (8 * b));
    memcpy(trailer + 24, EL_CONTAINER_END, 8);

    rc = el_pwrite_all(w->fd, frame.data, len, w->offset, out_path, err);
    if (rc == 0)
        rc = el_pwrite_all(w->fd, trailer, sizeof trailer, w->offset + len, out_path, err);
    w->offset += len + sizeof trailer;
    el_buf_free(&frame);
    return rc;
}

/* Fixed memory of one encoding thread besides its chunk buffers: a zstd
 * context and coding tables. An estimate that covers zstd's level 19
 * window on 4 MiB inputs. */
#define THREAD_FIXED_BYTES ((size_t)24 << 20)

/* Threads and chunk size that fit the memory budget: fewer threads first,
 * then smaller chunks, down to 64 KiB. The chunk size is part of the
 * container, the thread count is not. */
static void fit_budget(const el_workspace *ws, size_t *threads, size_t *chunk_bytes)
{
    size_t budget = ws->memory_budget ? ws->memory_budget : EL_MEMORY_DEFAULT;
    size_t chunk = ws->chunk_bytes ? ws->chunk_bytes : EL_CHUNK_BYTES;
    size_t n = ws->threads > 1 ? (size_t)ws->threads : 1;

    /* A chunk in flight keeps its source pages, its decoded copy and its
     * payload in memory, about three chunks in all, and with several
     * threads one more chunk than threads is in flight. */
    while (n > 1 && (n + 1) * 3 * chunk + n * THREAD_FIXED_BYTES > budget)
        n--;
    if (3 * chunk + THREAD_FIXED_BYTES > budget) {
        size_t room = budget > THREAD_FIXED_BYTES ? budget - THREAD_FIXED_BYTES : 0;
        chunk = room / 3 < ((size_t)64 << 10) ? (size_t)64 << 10 : room / 3;
    }
    *threads = n;
    *chunk_bytes = chunk;
}

int el_export_models(const el_workspace *ws, const size_t *models, size_t n_models,
                     const char *out_path, el_progress_fn progress, void *ctx,
                     el_export_report *report, el_error *err)
{
    memset(report, 0, sizeof *report);
    size_t n_layers = 0;
    for (size_t i = 0; i < n_models; i++)
        n_layers += ws->models[models[i]].n_tensors;
    report->layers = calloc(n_layers + 1, sizeof *report->layers);
    writer w = { .fd = -1, .progress = progress, .ctx = ctx };
    fit_budget(ws, &w.threads, &w.chunk_bytes);
    w.window = w.threads > 1 ? w.threads + 1 : 1;
    w.pool = el_pool_start((int)w.threads);
    w.ring = calloc(w.window, sizeof *w.ring);
    w.writes = calloc(w.window, sizeof *w.writes);
    w.ws = ws;
    w.slots = calloc(ws->n_models, sizeof *w.slots);
    w.file_hash = XXH3_createState();
    if (report->layers == NULL || w.slots == NULL || w.pool == NULL || w.ring == NULL
        || w.writes == NULL || w.file_hash == NULL) {
        XXH3_freeState(w.file_hash);
        free(w.slots);
        free(w.ring);
        free(w.writes);
        el_pool_stop(w.pool);
        return el_fail(err, "out of memory");
    }

    for (size_t i = 0; i < n_models; i++) {
        const el_model *model = &ws->models[models[i]];
        for (size_t f = 0; f < model->n_files; f++) {
            w.total += model->files[f].size;
            report->original += model->files[f].size;
        }
    }

    cJSON *root = cJSON_CreateObject();
    cJSON *model_list = cJSON_AddArrayToObject(root, "models");
    cJSON *tensors = cJSON_AddArrayToObject(root, "tensors");
    w.blobs = cJSON_AddArrayToObject(root, "blobs");
    int rc = -1;
    if (model_list == NULL || tensors == NULL || w.blobs == NULL
        || add_number(root, "elves", EL_CONTAINER_VERSION, err) != 0) {
        el_fail(err, "out of memory building the manifest");
        goto out;
    }

    for (size_t i = 0; i < n_models; i++) {
        const el_model *model = &ws->models[models[i]];
        for (size_t f = 0; f < model->n_files; f++)
            if (el_check_not_input(out_path, model->files[f].path, err) != 0)
                goto out;
    }

    w.fd = el_create_temp(out_path, &w.tmp, err);
    if (w.fd < 0)
        goto out;
    if (el_write_all(w.fd, EL_CONTAINER_MAGIC, EL_CONTAINER_MAGIC_LEN, out_path, err) != 0)
        goto out;
    w.offset = EL_CONTAINER_MAGIC_LEN;

    for (size_t i = 0; i < n_models; i++)
        if (write_model(&w, ws, models[i], out_path, model_list, tensors, report, err) != 0)
            goto out;
    if (finish_writes(&w, err) != 0 || write_manifest(&w, root, out_path, err) != 0)
        goto out;

    rc = el_commit_temp(w.fd, w.tmp, out_path, err);
    w.fd = -1;
    w.tmp = NULL;
    report->stored = w.offset;

out:
    /* Every queued write ends before the file is closed or removed. */
    drain_window(&w);
    for (size_t i = 0; i < w.window; i++)
        finish_write(&w, i);
    if (rc != 0)
        el_abandon_temp(w.fd, w.tmp);
    for (size_t m = 0; m < ws->n_models; m++)
        free(w.slots[m]);
    free(w.slots);
    el_pool_stop(w.pool);
    for (size_t i = 0; i < w.window; i++)
        el_chunk_job_free(&w.ring[i]);
    free(w.ring);
    free(w.writes);
    free(w.plan);
    XXH3_freeState(w.file_hash);
    cJSON_Delete(root);
    return rc;
}

int el_export(const el_workspace *ws, size_t m, const char *out_path,
              el_progress_fn progress, void *ctx, el_export_report *report,
              el_error *err)
{
    return el_export_models(ws, &m, 1, out_path, progress, ctx, report, err);
}

void el_export_report_free(el_export_report *report)
{
    for (size_t i = 0; report->layers != NULL && i < report->n_layers; i++)
        free(report->layers[i].name);
    free(report->layers);
    memset(report, 0, sizeof *report);
}
