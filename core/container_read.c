#include "container_read.h"
#include "pool.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "../codecs/zstd_frame.h"
#include "container_format.h"

static uint64_t load_u64le(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static int map_file(const char *path, el_container *c, el_error *err)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return el_fail(err, "cannot open %s: %s", path, strerror(errno));

    struct stat st;
    if (fstat(fd, &st) != 0) {
        close(fd);
        return el_fail(err, "cannot stat %s: %s", path, strerror(errno));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return el_fail(err, "%s is not a regular file", path);
    }
    c->size = (size_t)st.st_size;
    if (c->size < EL_CONTAINER_MAGIC_LEN + EL_CONTAINER_TRAILER_LEN) {
        close(fd);
        return el_fail(err, "%s is not an .elves container: only %zu bytes", path, c->size);
    }

    void *map = mmap(NULL, c->size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED)
        return el_fail(err, "cannot map %s: %s", path, strerror(errno));
    c->map = map;
    return 0;
}

static cJSON *required_array(cJSON *obj, const char *key, size_t *n, el_error *err)
{
    cJSON *a = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!cJSON_IsArray(a)) {
        el_fail(err, "manifest field \"%s\" is missing or not an array", key);
        return NULL;
    }
    *n = (size_t)cJSON_GetArraySize(a);
    return a;
}

/* Threads of every container opened from now on; 0: every online core. */
static int default_threads;

void el_container_set_threads(int threads)
{
    default_threads = threads > 64 ? 64 : threads;
}

int el_container_open(const char *path, el_container *c, el_error *err)
{
    memset(c, 0, sizeof *c);
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    c->threads = 1;
    if (default_threads > 0)
        c->threads = default_threads;
    else if (cores > 64)
        c->threads = 64;
    else if (cores > 1)
        c->threads = (int)cores;
    if (map_file(path, c, err) != 0)
        return -1;

    const uint8_t *trailer = c->map + c->size - EL_CONTAINER_TRAILER_LEN;
    if (memcmp(c->map, EL_CONTAINER_MAGIC, 6) != 0) {
        el_container_close(c);
        return el_fail(err, "%s is not an .elves container (bad magic)", path);
    }
    if (memcmp(c->map, EL_CONTAINER_MAGIC, EL_CONTAINER_MAGIC_LEN) != 0) {
        unsigned version = c->map[6] | (unsigned)c->map[7] << 8;
        el_container_close(c);
        return el_fail(err, "%s is an .elves container of format version %u; this elves "
                       "reads version %d: use the elves release that wrote it", path,
                       version, EL_CONTAINER_VERSION);
    }
    if (memcmp(trailer + 24, EL_CONTAINER_END, 8) != 0) {
        el_container_close(c);
        return el_fail(err, "%s: the trailer is missing; the file is truncated or damaged",
                       path);
    }

    uint64_t offset = load_u64le(trailer);
    uint64_t len = load_u64le(trailer + 8);
    uint64_t hash = load_u64le(trailer + 16);
    uint64_t limit = c->size - EL_CONTAINER_TRAILER_LEN;
    if (offset < EL_CONTAINER_MAGIC_LEN || offset > limit || len > limit - offset
        || offset + len != limit || len > EL_CONTAINER_MAX_MANIFEST) {
        el_container_close(c);
        return el_fail(err, "%s: manifest offset %llu and length %llu do not fit the file; "
                       "the file is damaged", path, (unsigned long long)offset,
                       (unsigned long long)len);
    }
    if (XXH3_64bits(c->map + offset, len) != hash) {
        el_container_close(c);
        return el_fail(err, "%s: manifest checksum mismatch; the file is damaged", path);
    }

    c->blobs_end = offset;
    size_t text_len;
    char *text = NULL;
    int rc = el_zstd_frame_content_size(c->map + offset, len, EL_CONTAINER_MAX_MANIFEST,
                                        &text_len, err);
    if (rc == 0 && (text = malloc(text_len ? text_len : 1)) == NULL)
        rc = el_fail(err, "out of memory for a %zu-byte manifest", text_len);
    if (rc == 0)
        rc = el_zstd_decode_frame(c->map + offset, len, text, text_len, err);
    if (rc != 0) {
        free(text);
        el_fail_context(err, "%s: manifest", path);
        el_container_close(c);
        return -1;
    }
    c->manifest = cJSON_ParseWithLength(text, text_len);
    free(text);
    if (!cJSON_IsObject(c->manifest)) {
        el_container_close(c);
        return el_fail(err, "%s: the manifest is not a JSON object", path);
    }

    const cJSON *version = cJSON_GetObjectItemCaseSensitive(c->manifest, "elves");
    if (!cJSON_IsNumber(version) || version->valuedouble != EL_CONTAINER_VERSION) {
        el_container_close(c);
        return el_fail(err, "%s: container version is not %d; use the elves release "
                       "that wrote it", path, EL_CONTAINER_VERSION);
    }

    c->blobs = required_array(c->manifest, "blobs", &c->n_blobs, err);
    c->tensors = c->blobs ? required_array(c->manifest, "tensors", &c->n_tensors, err) : NULL;
    c->models = c->tensors ? required_array(c->manifest, "models", &c->n_models, err) : NULL;
    c->path = strdup(path);
    rc = c->models != NULL && c->path != NULL ? 0 : -1;

    const cJSON *model;
    size_t index = 0;
    cJSON_ArrayForEach(model, c->models) {
        size_t n_files;
        if (rc != 0)
            break;
        if (!cJSON_IsString(cJSON_GetObjectItemCaseSensitive(model, "path"))
            || !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(model, "format")))
            rc = el_fail(err, "model %zu has no \"path\" or \"format\"", index);
        else if (required_array((cJSON *)model, "files", &n_files, err) == NULL)
            rc = el_fail_context(err, "model %zu", index);
        index++;
    }
    if (rc == 0 && c->n_models == 0)
        rc = el_fail(err, "the manifest lists no model");
    if (rc != 0) {
        el_fail_context(err, "%s", path);
        el_container_close(c);
        return -1;
    }
    return 0;
}

const cJSON *el_container_model(const el_container *c, size_t index, const char **name)
{
    const cJSON *model = cJSON_GetArrayItem(c->models, (int)index);
    if (name != NULL)
        *name = cJSON_GetObjectItemCaseSensitive(model, "path")->valuestring;
    return cJSON_GetObjectItemCaseSensitive(model, "files");
}

void el_container_close(el_container *c)
{
    if (c->map != NULL)
        munmap((void *)c->map, c->size);
    cJSON_Delete(c->manifest);
    free(c->path);
    memset(c, 0, sizeof *c);
}

int el_json_u64(const cJSON *obj, const char *key, uint64_t *out, el_error *err)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!cJSON_IsNumber(item))
        return el_fail(err, "manifest field \"%s\" is missing or not a number", key);

    double v = item->valuedouble;
    if (!(v >= 0) || v > 9007199254740992.0 || floor(v) != v)
        return el_fail(err, "manifest field \"%s\" is %g, not a whole number in "
                       "[0, 2^53]", key, v);
    *out = (uint64_t)v;
    return 0;
}

static const char *json_string(const cJSON *obj, const char *key, el_error *err)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!cJSON_IsString(item)) {
        el_fail(err, "manifest field \"%s\" is missing or not a string", key);
        return NULL;
    }
    return item->valuestring;
}

int el_container_blob(const el_container *c, uint64_t index, const uint8_t **data,
                      size_t *len, el_error *err)
{
    if (index >= c->n_blobs)
        return el_fail(err, "blob %llu does not exist (%zu blobs)",
                       (unsigned long long)index, c->n_blobs);

    const cJSON *blob = cJSON_GetArrayItem(c->blobs, (int)index);
    uint64_t offset, length;
    const char *hash = json_string(blob, "xxh64", err);
    if (hash == NULL || el_json_u64(blob, "offset", &offset, err) != 0
        || el_json_u64(blob, "length", &length, err) != 0)
        return el_fail_context(err, "blob %llu", (unsigned long long)index);
    if (offset < EL_CONTAINER_MAGIC_LEN || offset > c->blobs_end
        || length > c->blobs_end - offset)
        return el_fail(err, "blob %llu (offset %llu, length %llu) lies outside the data "
                       "area; the container is damaged", (unsigned long long)index,
                       (unsigned long long)offset, (unsigned long long)length);

    char actual[17];
    snprintf(actual, sizeof actual, "%016llx",
             (unsigned long long)XXH3_64bits(c->map + offset, length));
    if (strcmp(actual, hash) != 0)
        return el_fail(err, "blob %llu checksum mismatch (stored %s, computed %s); the "
                       "container is damaged", (unsigned long long)index, hash, actual);

    *data = c->map + offset;
    *len = length;
    return 0;
}

int el_container_tensor_info(const el_container *c, size_t index,
                             el_container_tensor *out, el_error *err)
{
    memset(out, 0, sizeof *out);
    if (index >= c->n_tensors)
        return el_fail(err, "tensor %zu does not exist (%zu tensors)", index, c->n_tensors);

    const cJSON *t = cJSON_GetArrayItem(c->tensors, (int)index);
    out->name = json_string(t, "name", err);
    const char *dtype = out->name ? json_string(t, "dtype", err) : NULL;
    const char *codec = dtype ? json_string(t, "codec", err) : NULL;
    const char *bound = codec ? json_string(t, "bound", err) : NULL;
    out->hash = bound ? json_string(t, "xxh3_128", err) : NULL;
    out->decoded_hash = out->hash ? json_string(t, "decoded_xxh3_128", err) : NULL;
    if (out->decoded_hash == NULL || el_json_u64(t, "bytes", &out->nbytes, err) != 0)
        return el_fail_context(err, "tensor %zu", index);

    if (el_dtype_parse(dtype, &out->dtype) != 0)
        return el_fail(err, "tensor \"%s\": unknown dtype \"%s\"", out->name, dtype);
    out->codec_name = codec;
    out->codec = el_codec_find(codec);
    out->delta = el_delta_codec_find(codec);
    if (cJSON_GetObjectItemCaseSensitive(t, "base_tensor") != NULL) {
        out->base_tensor = json_string(t, "base_tensor", err);
        out->base_hash = out->base_tensor ? json_string(t, "base_xxh3_128", err) : NULL;
        if (out->base_hash == NULL)
            return el_fail_context(err, "tensor \"%s\"", out->name);
    }
    if (out->codec == NULL && out->delta == NULL)
        return el_fail(err, "tensor \"%s\": unknown codec \"%s\"; this elves build does "
                       "not have it", out->name, codec);
    size_t size = el_dtype_size(out->dtype);
    if (out->nbytes % size != 0)
        return el_fail(err, "tensor \"%s\": %llu bytes is not a whole number of %s "
                       "elements", out->name, (unsigned long long)out->nbytes, dtype);
    out->count = out->nbytes / size;

    out->lossless = strcmp(bound, "lossless") == 0;
    const cJSON *abs_bound = cJSON_GetObjectItemCaseSensitive(t, "abs_bound");
    const cJSON *max_error = cJSON_GetObjectItemCaseSensitive(t, "max_error");
    if (!cJSON_IsNumber(abs_bound) || !cJSON_IsNumber(max_error))
        return el_fail(err, "tensor \"%s\": abs_bound or max_error is missing", out->name);
    out->abs_bound = abs_bound->valuedouble;
    out->max_error = max_error->valuedouble;
    return 0;
}

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
        return el_fail(err, "a chunk has no blob or codec; the container is damaged");

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
        return el_fail(err, "delta chunk without a base tensor; the container is damaged");
    if (*base == NULL && base_bytes(c, info, base, err) != 0)
        return -1;
    size_t size = el_dtype_size(info->dtype);
    int rc = delta->decode(info->dtype, payload, payload_len, *base + first * size, dst, count,
                           err);
    release_payload(payload, payload_len);
    return rc;
}

typedef struct decode_job {
    el_task task;              /* first, so that the pool's task is the job */
    const el_container *c;
    const el_container_tensor *info;
    const uint8_t *base;       /* resolved before any job starts */
    const cJSON *chunk;
    uint64_t first, count;     /* elements */
    uint8_t *buf;
    int rc;
    el_error err;
} decode_job;

static void run_decode_job(el_task *task)
{
    decode_job *job = (decode_job *)task;
    const uint8_t *base = job->base;
    job->rc = decode_chunk(job->c, job->info, job->chunk, job->first, job->count, job->buf,
                           &base, &job->err);
}

int el_container_decode_stream(const el_container *c, size_t index, el_chunk_sink sink,
                               void *ctx, el_error *err)
{
    el_container_tensor info;
    if (el_container_tensor_info(c, index, &info, err) != 0)
        return -1;

    /* A tensor stored once for several names points at the first one. The
     * target must come earlier and have its own chunks, so references never
     * chain or loop. */
    const cJSON *entry = cJSON_GetArrayItem(c->tensors, (int)index);
    uint64_t source = index;
    if (cJSON_GetObjectItemCaseSensitive(entry, "same_as") != NULL) {
        if (el_json_u64(entry, "same_as", &source, err) != 0 || source >= index)
            return el_fail(err, "tensor \"%s\": invalid same_as reference", info.name);
    }
    const cJSON *stored = cJSON_GetArrayItem(c->tensors, (int)source);
    const cJSON *chunks = cJSON_GetObjectItemCaseSensitive(stored, "chunks");
    el_container_tensor stored_info;
    if (el_container_tensor_info(c, source, &stored_info, err) != 0)
        return el_fail_context(err, "tensor \"%s\"", info.name);
    if (!cJSON_IsArray(chunks))
        return el_fail(err, "tensor \"%s\": no chunk list; the container is damaged",
                       info.name);
    if (stored_info.dtype != info.dtype || stored_info.nbytes != info.nbytes)
        return el_fail(err, "tensor \"%s\": same_as points at a tensor of another "
                       "type or size", info.name);

    size_t size = el_dtype_size(info.dtype);
    const uint8_t *base = NULL;
    if (stored_info.base_tensor != NULL && base_bytes(c, &stored_info, &base, err) != 0)
        return el_fail_context(err, "tensor \"%s\"", info.name);

    /* Chunks decode on the pool, up to one more than threads ahead, and
     * reach the checksum and the sink in order. */
    size_t window = c->threads > 1 ? (size_t)c->threads + 1 : 1;
    XXH3_state_t *hash = XXH3_createState();
    decode_job *jobs = calloc(window, sizeof *jobs);
    el_pool *pool = el_pool_start(c->threads);
    if (hash == NULL || jobs == NULL || pool == NULL) {
        XXH3_freeState(hash);
        free(jobs);
        el_pool_stop(pool);
        return el_fail(err, "out of memory");
    }
    XXH3_128bits_reset(hash);

    uint64_t first = 0;
    size_t submitted = 0, consumed = 0;
    int rc = 0;
    const cJSON *chunk = chunks->child;
    while (consumed < submitted || (rc == 0 && chunk != NULL)) {
        /* Fill the window, then take the oldest job. After a failure only
         * the jobs already submitted are waited for. */
        for (; rc == 0 && chunk != NULL && submitted - consumed < window; chunk = chunk->next) {
            decode_job *job = &jobs[submitted % window];
            uint64_t count;
            rc = el_json_u64(chunk, "count", &count, err);
            if (rc == 0 && (count == 0 || count > info.count - first))
                rc = el_fail(err, "chunk of %llu elements at element %llu overruns the %llu "
                             "elements; the container is damaged", (unsigned long long)count,
                             (unsigned long long)first, (unsigned long long)info.count);
            uint8_t *buf = NULL;
            if (rc == 0 && (buf = malloc((size_t)(count * size))) == NULL)
                rc = el_fail(err, "out of memory for a %llu-byte chunk",
                             (unsigned long long)(count * size));
            if (rc != 0)
                break;

            *job = (decode_job){ .task.run = run_decode_job, .c = c, .info = &stored_info,
                                 .base = base, .chunk = chunk, .first = first, .count = count,
                                 .buf = buf };
            el_pool_submit(pool, &job->task);
            first += count;
            submitted++;
        }
        if (consumed == submitted)
            break;

        decode_job *job = &jobs[consumed % window];
        el_pool_wait(pool, &job->task);
        consumed++;
        if (rc == 0 && job->rc != 0) {
            if (err != NULL)
                *err = job->err;
            rc = -1;
        }
        if (rc == 0) {
            XXH3_128bits_update(hash, job->buf, job->count * size);
            rc = sink != NULL ? sink(ctx, job->buf, job->count * size, job->first * size, err)
                              : 0;
        }
        free(job->buf);
        job->buf = NULL;
    }
    el_pool_stop(pool);
    free(jobs);
    if (rc == 0 && first != info.count)
        rc = el_fail(err, "chunks hold %llu of %llu elements; the container is damaged",
                     (unsigned long long)first, (unsigned long long)info.count);

    XXH128_hash_t h = XXH3_128bits_digest(hash);
    XXH3_freeState(hash);
    if (rc != 0)
        return el_fail_context(err, "tensor \"%s\" (%s)", info.name, info.codec_name);

    char actual[33];
    snprintf(actual, sizeof actual, "%016llx%016llx", (unsigned long long)h.high64,
             (unsigned long long)h.low64);
    const char *expected = info.lossless ? info.hash : info.decoded_hash;
    if (strcmp(actual, expected) != 0)
        return el_fail(err, "tensor \"%s\": checksum mismatch after decoding (stored %s, "
                       "computed %s); the container is damaged", info.name, expected, actual);
    return 0;
}

static int collect(void *ctx, const uint8_t *bytes, size_t len, uint64_t offset,
                   el_error *err)
{
    (void)err;
    memcpy((uint8_t *)ctx + offset, bytes, len);
    return 0;
}

int el_container_decode(const el_container *c, size_t index, uint8_t **out,
                        el_error *err)
{
    *out = NULL;
    el_container_tensor info;
    if (el_container_tensor_info(c, index, &info, err) != 0)
        return -1;
    if (info.nbytes > SIZE_MAX / 2)
        return el_fail(err, "tensor \"%s\": %llu bytes is too large", info.name,
                       (unsigned long long)info.nbytes);

    uint8_t *decoded = malloc(info.nbytes ? info.nbytes : 1);
    if (decoded == NULL)
        return el_fail(err, "out of memory decoding tensor \"%s\" (%llu bytes)", info.name,
                       (unsigned long long)info.nbytes);
    if (el_container_decode_stream(c, index, collect, decoded, err) != 0) {
        free(decoded);
        return -1;
    }
    *out = decoded;
    return 0;
}
