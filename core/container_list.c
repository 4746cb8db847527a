/* A container's contents for people: each tensor's manifest entry with its
 * shape, bound and the payload bytes of its chunks, without decoding. */
#include "container_read.h"

#include <stdio.h>
#include <string.h>

#include "container_format.h"

int el_is_container_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return 0;
    char magic[EL_CONTAINER_MAGIC_LEN];
    size_t n = fread(magic, 1, sizeof magic, f);
    fclose(f);
    return n == sizeof magic && memcmp(magic, EL_CONTAINER_MAGIC, sizeof magic) == 0;
}

/* Writes the manifest's "shape" array as "[a, b]" into out. */
static int format_shape(const cJSON *entry, char *out, size_t len, el_error *err)
{
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(entry, "shape");
    if (!cJSON_IsArray(shape))
        return el_fail(err, "manifest field \"shape\" is missing or not an array");

    size_t pos = (size_t)snprintf(out, len, "[");
    const cJSON *dim;
    cJSON_ArrayForEach(dim, shape) {
        if (!cJSON_IsNumber(dim) || dim->valuedouble < 0)
            return el_fail(err, "manifest field \"shape\" holds a value that is not a size");
        if (pos < len)
            pos += (size_t)snprintf(out + pos, len - pos, "%s%.0f", dim == shape->child ? "" : ", ",
                                    dim->valuedouble);
    }
    if (pos < len)
        snprintf(out + pos, len - pos, "]");
    return 0;
}

/* Adds up the lengths of the blobs a tensor's chunks name. */
static int stored_bytes(const el_container *c, const cJSON *chunks, uint64_t *stored,
                        size_t *n_chunks, el_error *err)
{
    *stored = 0;
    *n_chunks = 0;
    const cJSON *chunk;
    cJSON_ArrayForEach(chunk, chunks) {
        uint64_t blob, length;
        if (el_json_u64(chunk, "blob", &blob, err) != 0)
            return -1;
        if (blob >= c->n_blobs)
            return el_fail(err, "chunk names blob %llu of %zu", (unsigned long long)blob,
                           c->n_blobs);
        if (el_json_u64(cJSON_GetArrayItem(c->blobs, (int)blob), "length", &length, err) != 0)
            return -1;
        *stored += length;
        (*n_chunks)++;
    }
    return 0;
}

int el_container_list_tensor(const el_container *c, size_t index, el_container_listing *out,
                             el_error *err)
{
    memset(out, 0, sizeof *out);
    out->same_as = -1;
    if (el_container_tensor_info(c, index, &out->info, err) != 0)
        return -1;

    const cJSON *entry = cJSON_GetArrayItem(c->tensors, (int)index);
    const cJSON *bound = cJSON_GetObjectItemCaseSensitive(entry, "bound");
    out->bound = cJSON_IsString(bound) ? bound->valuestring : "?";
    if (format_shape(entry, out->shape, sizeof out->shape, err) != 0)
        return el_fail_context(err, "tensor \"%s\"", out->info.name);

    /* A copy stores nothing of its own: its payload is an earlier tensor's. */
    if (cJSON_GetObjectItemCaseSensitive(entry, "same_as") != NULL) {
        uint64_t source;
        if (el_json_u64(entry, "same_as", &source, err) != 0 || source >= index)
            return el_fail(err, "tensor \"%s\": invalid same_as reference", out->info.name);
        out->same_as = (long)source;
        return 0;
    }
    const cJSON *chunks = cJSON_GetObjectItemCaseSensitive(entry, "chunks");
    if (!cJSON_IsArray(chunks))
        return el_fail(err, "tensor \"%s\": no chunk list; the container is damaged",
                       out->info.name);
    if (stored_bytes(c, chunks, &out->stored, &out->chunks, err) != 0)
        return el_fail_context(err, "tensor \"%s\"", out->info.name);
    return 0;
}
