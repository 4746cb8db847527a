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
        return el_fail(err, "%s: the trailer is missing; the file is truncated or damaged: "
                       EL_COPY_AGAIN, path);
    }

    uint64_t offset = load_u64le(trailer);
    uint64_t len = load_u64le(trailer + 8);
    uint64_t hash = load_u64le(trailer + 16);
    uint64_t limit = c->size - EL_CONTAINER_TRAILER_LEN;
    if (offset < EL_CONTAINER_MAGIC_LEN || offset > limit || len > limit - offset
        || offset + len != limit || len > EL_CONTAINER_MAX_MANIFEST) {
        el_container_close(c);
        return el_fail(err, "%s: manifest offset %llu and length %llu do not fit the file; "
                       "the file is damaged: " EL_COPY_AGAIN, path, (unsigned long long)offset,
                       (unsigned long long)len);
    }
    if (XXH3_64bits(c->map + offset, len) != hash) {
        el_container_close(c);
        return el_fail(err, "%s: manifest checksum mismatch; the file is damaged: "
                       EL_COPY_AGAIN, path);
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
                       "area; " EL_DAMAGED, (unsigned long long)index,
                       (unsigned long long)offset, (unsigned long long)length);

    char actual[17];
    snprintf(actual, sizeof actual, "%016llx",
             (unsigned long long)XXH3_64bits(c->map + offset, length));
    if (strcmp(actual, hash) != 0)
        return el_fail(err, "blob %llu checksum mismatch (stored %s, computed %s); " EL_DAMAGED,
                       (unsigned long long)index, hash, actual);

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
