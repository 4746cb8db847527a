/* A container's contents, for people and for scripts: each tensor's
 * manifest entry with its shape, bound and the payload bytes of its
 * chunks, read without decoding. */
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

    /* The last two bytes of the magic are the format version, which
     * el_container_open checks with its own message. */
    const size_t name = EL_CONTAINER_MAGIC_LEN - 2;
    return n == sizeof magic && memcmp(magic, EL_CONTAINER_MAGIC, name) == 0;
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
        return el_fail(err, "tensor \"%s\": no chunk list; " EL_DAMAGED,
                       out->info.name);
    if (stored_bytes(c, chunks, &out->stored, &out->chunks, err) != 0)
        return el_fail_context(err, "tensor \"%s\"", out->info.name);
    return 0;
}

/* One container's object in the listing document. */
static cJSON *container_json(const char *path, el_error *err)
{
    el_container c;
    if (el_container_open(path, &c, err) != 0)
        return NULL;

    cJSON *o = cJSON_CreateObject();
    cJSON *tensors = o != NULL ? cJSON_AddArrayToObject(o, "tensors") : NULL;
    int rc = tensors != NULL ? 0 : el_fail(err, "out of memory building the listing");
    uint64_t original = 0, stored = 0;
    for (size_t i = 0; rc == 0 && i < c.n_tensors; i++) {
        el_container_listing row;
        rc = el_container_list_tensor(&c, i, &row, err);
        if (rc != 0)
            break;
        original += row.info.nbytes;
        stored += row.stored;

        const cJSON *entry = cJSON_GetArrayItem(c.tensors, (int)i);
        const cJSON *source = row.same_as >= 0 ? cJSON_GetArrayItem(c.tensors, (int)row.same_as)
                                               : NULL;
        cJSON *t = cJSON_CreateObject();
        if (t == NULL || !cJSON_AddItemToArray(tensors, t)) {
            cJSON_Delete(t);
            rc = el_fail(err, "out of memory building the listing");
            break;
        }
        cJSON_AddStringToObject(t, "name", row.info.name);
        cJSON_AddStringToObject(t, "dtype", el_dtype_name(row.info.dtype));
        cJSON_AddItemToObject(t, "shape",
                              cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(entry, "shape"), 1));
        cJSON_AddNumberToObject(t, "bytes", (double)row.info.nbytes);
        cJSON_AddStringToObject(t, "codec", row.info.codec_name);
        cJSON_AddStringToObject(t, "bound", row.bound);
        cJSON_AddNumberToObject(t, "stored", (double)row.stored);
        cJSON_AddNumberToObject(t, "chunks", (double)row.chunks);
        cJSON_AddNumberToObject(t, "max_error", row.info.max_error);
        if (source != NULL)
            cJSON_AddItemToObject(t, "copy_of", cJSON_Duplicate(
                cJSON_GetObjectItemCaseSensitive(source, "name"), 0));
        else
            cJSON_AddNullToObject(t, "copy_of");
    }
    if (rc == 0) {
        cJSON_AddStringToObject(o, "path", path);
        cJSON_AddNumberToObject(o, "models", (double)c.n_models);
        cJSON_AddNumberToObject(o, "bytes", (double)original);
        cJSON_AddNumberToObject(o, "stored", (double)stored);
    }
    el_container_close(&c);
    if (rc != 0) {
        cJSON_Delete(o);
        el_fail_context(err, "%s", path);
        return NULL;
    }
    return o;
}

char *el_containers_json(const char *const *paths, size_t n, el_error *err)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *list = root != NULL ? cJSON_AddArrayToObject(root, "containers") : NULL;
    if (list == NULL) {
        cJSON_Delete(root);
        el_fail(err, "out of memory building the listing");
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        cJSON *o = container_json(paths[i], err);
        if (o == NULL) {
            cJSON_Delete(root);
            return NULL;
        }
        cJSON_AddItemToArray(list, o);
    }
    char *text = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (text == NULL)
        el_fail(err, "out of memory printing the listing");
    return text;
}
