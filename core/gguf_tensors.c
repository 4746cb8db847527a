/* GGUF tensor infos: names, shapes, types and offsets, checked against the
 * data section, then appended to the model in offset order. */
#include "gguf_parse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(GGUF_MAX_DIMS <= EL_MAX_DIMS, "a GGUF shape must fit in el_tensor");

/* Size of a tensor name buffer for messages (see gguf_printable). */
#define SHOWN 96

/* One tensor info as read from the file. */
typedef struct info {
    gguf_string name;
    uint32_t n_dims;
    uint64_t ne[GGUF_MAX_DIMS];     /* ne[0] varies fastest */
    const gguf_tensor_type *type;
    uint64_t offset;        /* relative to the data section */
    uint64_t count;         /* elements */
    uint64_t nbytes;
    uint64_t order;         /* position in the file, for a stable sort */
} info;

static int read_name(gguf_cursor *c, uint64_t index, info *t, el_error *err)
{
    char field[64];
    snprintf(field, sizeof field, "name of tensor %llu", (unsigned long long)index);
    if (gguf_read_string(c, field, &t->name, err) != 0)
        return -1;

    if (t->name.len == 0)
        return el_fail(err, "%s: tensor %llu has an empty name; " GGUF_FIX, c->path,
                       (unsigned long long)index);
    if (t->name.len > GGUF_MAX_NAME)
        return el_fail(err, "%s: tensor %llu has a %llu-byte name, longer than the "
                       "%d-byte limit; " GGUF_FIX, c->path, (unsigned long long)index,
                       (unsigned long long)t->name.len, GGUF_MAX_NAME);
    char name[SHOWN];
    if (memchr(t->name.ptr, '\0', (size_t)t->name.len) != NULL)
        return el_fail(err, "%s: name of tensor '%s' contains a NUL byte; " GGUF_FIX,
                       c->path, gguf_printable(t->name, name, sizeof name));
    return 0;
}

static int read_shape(gguf_cursor *c, info *t, el_error *err)
{
    char name[SHOWN];
    gguf_printable(t->name, name, sizeof name);
    char field[160];
    snprintf(field, sizeof field, "n_dims of tensor '%s'", name);
    if (gguf_read_u32(c, field, &t->n_dims, err) != 0)
        return -1;
    if (t->n_dims > GGUF_MAX_DIMS)
        return el_fail(err, "%s: tensor '%s' has n_dims %u, more than the %d GGUF "
                       "allows; " GGUF_FIX, c->path, name, t->n_dims, GGUF_MAX_DIMS);

    snprintf(field, sizeof field, "dimensions of tensor '%s'", name);
    t->count = 1;
    for (uint32_t d = 0; d < t->n_dims; d++) {
        uint64_t n = 0;
        if (gguf_read_u64(c, field, &n, err) != 0)
            return -1;
        /* ggml stores sizes as int64, so larger values are negative there. */
        if (n > (uint64_t)INT64_MAX)
            return el_fail(err, "%s: tensor '%s' has dimension ne[%u] = %llu, above "
                           "the int64 range; " GGUF_FIX, c->path, name, d,
                           (unsigned long long)n);
        if (n != 0 && t->count > (uint64_t)INT64_MAX / n)
            return el_fail(err, "%s: tensor '%s' has an element count above the "
                           "int64 range (dimension ne[%u] = %llu overflows); " GGUF_FIX,
                           c->path, name, d, (unsigned long long)n);
        t->ne[d] = n;
        t->count *= n;
    }
    return 0;
}

static int read_type(gguf_cursor *c, info *t, el_error *err)
{
    char name[SHOWN];
    gguf_printable(t->name, name, sizeof name);
    char field[160];
    snprintf(field, sizeof field, "type of tensor '%s'", name);
    uint32_t id = 0;
    if (gguf_read_u32(c, field, &id, err) != 0)
        return -1;

    const char *removed = NULL;
    t->type = gguf_tensor_type_find(id, &removed);
    if (removed != NULL)
        return el_fail(err, "%s: tensor '%s' has type id %u (%s), which ggml removed; "
                       "convert or quantize the model again with a current llama.cpp",
                       c->path, name, id, removed);
    if (t->type == NULL)
        return el_fail(err, "%s: tensor '%s' has unknown type id %u; " GGUF_FIX
                       ", or use a newer elves if a new ggml type was added",
                       c->path, name, id);

    /* ggml quantizes rows, so every row holds whole blocks. */
    const uint64_t row = t->n_dims > 0 ? t->ne[0] : 1;
    const uint32_t block = t->type->block_size;
    if (row % block != 0)
        return el_fail(err, "%s: tensor '%s' of type %s has rows of ne[0] = %llu "
                       "elements, not a whole number of %u-element blocks; " GGUF_FIX,
                       c->path, name, t->type->name, (unsigned long long)row, block);

    const uint64_t blocks = t->count / block;
    if (blocks > UINT64_MAX / t->type->type_size)
        return el_fail(err, "%s: tensor '%s' of %llu elements of type %s has a byte "
                       "size above 2^64; " GGUF_FIX, c->path, name,
                       (unsigned long long)t->count, t->type->name);
    t->nbytes = blocks * t->type->type_size;
    return 0;
}

static int read_info(gguf_cursor *c, uint64_t index, info *t, el_error *err)
{
    t->order = index;
    if (read_name(c, index, t, err) != 0 || read_shape(c, t, err) != 0
        || read_type(c, t, err) != 0)
        return -1;

    char name[SHOWN];
    char field[160];
    snprintf(field, sizeof field, "offset of tensor '%s'",
             gguf_printable(t->name, name, sizeof name));
    return gguf_read_u64(c, field, &t->offset, err);
}

static int compare_offsets(const void *a, const void *b)
{
    const info *x = a;
    const info *y = b;
    if (x->offset != y->offset)
        return x->offset < y->offset ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

/* Checks each tensor's alignment and range, then sorts them by offset and
 * checks that no two non-empty ones overlap. Gaps are allowed: they stay in
 * the file's opaque bytes. */
static int check_layout(const gguf_cursor *c, const gguf_header *h, info *infos,
                        uint64_t data_size, el_error *err)
{
    char name[SHOWN], other[SHOWN];
    for (uint64_t i = 0; i < h->n_tensors; i++) {
        const info *t = &infos[i];
        gguf_printable(t->name, name, sizeof name);
        if (t->offset % h->alignment != 0)
            return el_fail(err, "%s: tensor '%s' has offset %llu, not a multiple of "
                           "the alignment %u; " GGUF_FIX, c->path, name,
                           (unsigned long long)t->offset, h->alignment);
        if (t->offset > data_size || t->nbytes > data_size - t->offset)
            return el_fail(err, "%s: tensor '%s' (%llu bytes at offset %llu) ends "
                           "past the %llu-byte data section; the file is truncated "
                           "or damaged: download or convert it again", c->path,
                           name, (unsigned long long)t->nbytes,
                           (unsigned long long)t->offset, (unsigned long long)data_size);
    }

    if (h->n_tensors > 1)
        qsort(infos, (size_t)h->n_tensors, sizeof *infos, compare_offsets);

    const info *prev = NULL;
    for (uint64_t i = 0; i < h->n_tensors; i++) {
        const info *t = &infos[i];
        if (t->nbytes == 0)
            continue;
        if (prev != NULL && t->offset < prev->offset + prev->nbytes)
            return el_fail(err, "%s: tensor '%s' (bytes %llu-%llu of the data section) "
                           "overlaps tensor '%s' (bytes %llu-%llu); " GGUF_FIX, c->path,
                           gguf_printable(t->name, name, sizeof name),
                           (unsigned long long)t->offset,
                           (unsigned long long)(t->offset + t->nbytes),
                           gguf_printable(prev->name, other, sizeof other), (unsigned long long)prev->offset,
                           (unsigned long long)(prev->offset + prev->nbytes));
        prev = t;
    }
    return 0;
}

/* Appends the sorted infos to the model. n_tensors grows one by one so that
 * el_model_close frees every name already copied if one copy fails. */
static int append(el_model *model, size_t file, const info *infos, uint64_t n,
                  uint64_t data_start, el_error *err)
{
    el_file *f = &model->files[file];
    if (n == 0)
        return 0;

    el_tensor *grown = realloc(model->tensors, (model->n_tensors + n) * sizeof *grown);
    if (grown == NULL)
        return el_fail(err, "%s: out of memory for %llu tensors", f->path,
                       (unsigned long long)n);
    model->tensors = grown;

    for (uint64_t i = 0; i < n; i++) {
        const info *in = &infos[i];
        el_tensor *t = &model->tensors[model->n_tensors];
        memset(t, 0, sizeof *t);

        t->name = strndup(in->name.ptr, (size_t)in->name.len);
        if (t->name == NULL)
            return el_fail(err, "%s: out of memory for tensor names", f->path);
        model->n_tensors++;

        /* GGUF lists ne[0] (fastest) first; el_tensor lists outermost first. */
        t->ndim = (int)in->n_dims;
        for (uint32_t d = 0; d < in->n_dims; d++)
            t->shape[d] = in->ne[in->n_dims - 1 - d];

        t->dtype = in->type->dtype;
        t->type_name = in->type->is_dtype ? NULL : in->type->name;
        t->count = in->type->is_dtype ? in->count : in->nbytes;
        t->nbytes = in->nbytes;
        t->file = file;
        t->offset = data_start + in->offset;
        t->data = f->map + t->offset;
    }
    return 0;
}

int gguf_add_tensors(el_model *model, size_t file, gguf_cursor *c,
                     const gguf_header *h, el_error *err)
{
    if (h->n_tensors > gguf_remaining(c) / GGUF_INFO_MIN_BYTES)
        return el_fail(err, "%s: tensor count %llu cannot fit in the %llu bytes after "
                       "the key-values; " GGUF_FIX, c->path,
                       (unsigned long long)h->n_tensors,
                       (unsigned long long)gguf_remaining(c));

    info *infos = NULL;
    uint64_t cap = 0;
    int rc = 0;
    for (uint64_t i = 0; i < h->n_tensors && rc == 0; i++) {
        info *grown = gguf_reserve(infos, &cap, i, sizeof *infos);
        if (grown == NULL) {
            rc = el_fail(err, "%s: out of memory for %llu tensor infos", c->path,
                         (unsigned long long)h->n_tensors);
            break;
        }
        infos = grown;
        memset(&infos[i], 0, sizeof infos[i]);
        rc = read_info(c, i, &infos[i], err);
    }

    /* The data section starts at the first aligned offset after the infos. */
    const uint64_t pad = (h->alignment - c->pos % h->alignment) % h->alignment;
    const uint64_t data_start = c->pos + pad;
    if (rc == 0 && h->n_tensors > 0 && data_start > c->size)
        rc = el_fail(err, "%s: the data section would start at byte %llu, past the "
                     "end of the %llu-byte file; the file is truncated or damaged: "
                     "download or convert it again", c->path,
                     (unsigned long long)data_start, (unsigned long long)c->size);

    if (rc == 0 && h->n_tensors > 0)
        rc = check_layout(c, h, infos, c->size - data_start, err);
    if (rc == 0) {
        /* A file without tensors may end before its padding. */
        model->files[file].data_start = data_start < c->size ? data_start : c->size;
        rc = append(model, file, infos, h->n_tensors, data_start, err);
    }

    free(infos);
    return rc;
}
