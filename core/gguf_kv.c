/* The GGUF header and key-value section: magic, version, counts, every
 * key-value (arrays nested to a bounded depth), duplicate keys and
 * general.alignment. */
#include "gguf_parse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Bytes of a scalar value type, or 0 for string, array and unknown types. */
static uint64_t scalar_size(uint32_t type)
{
    switch (type) {
    case GGUF_U8: case GGUF_I8: case GGUF_BOOL:
        return 1;
    case GGUF_U16: case GGUF_I16:
        return 2;
    case GGUF_U32: case GGUF_I32: case GGUF_F32:
        return 4;
    case GGUF_U64: case GGUF_I64: case GGUF_F64:
        return 8;
    default:
        return 0;
    }
}

/* Minimum bytes one value of a known type takes in the file. */
static uint64_t min_size(uint32_t type)
{
    if (type == GGUF_STRING)
        return 8;
    if (type == GGUF_ARRAY)
        return 12;
    return scalar_size(type);
}

static int read_magic(gguf_cursor *c, el_error *err)
{
    if (gguf_remaining(c) < 4)
        return el_fail(err, "%s: file is %llu bytes, too short for the GGUF magic; "
                       GGUF_FIX, c->path, (unsigned long long)c->size);

    if (memcmp(c->base, "GGUF", 4) != 0) {
        const gguf_string got = { (const char *)c->base, 4 };
        char shown[8];
        return el_fail(err, "%s: magic is \"%s\", expected \"GGUF\"; " GGUF_FIX,
                       c->path, gguf_printable(got, shown, sizeof shown));
    }
    c->pos = 4;
    return 0;
}

static uint32_t byte_swap32(uint32_t v)
{
    return (v >> 24) | ((v >> 8) & 0xff00u) | ((v << 8) & 0xff0000u) | (v << 24);
}

static int read_version(gguf_cursor *c, gguf_header *h, el_error *err)
{
    if (gguf_read_u32(c, "version", &h->version, err) != 0)
        return -1;

    const uint32_t v = h->version;
    if (v == 2 || v == 3)
        return 0;

    /* A big-endian writer stores version 3 as bytes 00 00 00 03. */
    const uint32_t swapped = byte_swap32(v);
    if ((v & 0xffffu) == 0 && swapped >= 1 && swapped <= 3)
        return el_fail(err, "%s: version field is 0x%08x, which is version %u "
                       "byte-swapped: this is a big-endian GGUF file, which elves "
                       "does not read; convert it to little-endian with llama.cpp's "
                       "gguf_convert_endian.py", c->path, v, swapped);
    if (v == 1)
        return el_fail(err, "%s: GGUF version 1 is not supported (it used 32-bit "
                       "counts and lengths); convert the model again with a "
                       "current llama.cpp", c->path);
    return el_fail(err, "%s: GGUF version %u is unknown; this build reads versions "
                   "2 and 3", c->path, v);
}

static int read_counts(gguf_cursor *c, gguf_header *h, el_error *err)
{
    if (gguf_read_u64(c, "tensor count", &h->n_tensors, err) != 0
        || gguf_read_u64(c, "key-value count", &h->n_kv, err) != 0)
        return -1;

    const uint64_t left = gguf_remaining(c);
    if (h->n_kv > left / GGUF_KV_MIN_BYTES)
        return el_fail(err, "%s: key-value count %llu cannot fit in the %llu bytes "
                       "left (each takes at least %u); " GGUF_FIX, c->path,
                       (unsigned long long)h->n_kv, (unsigned long long)left,
                       GGUF_KV_MIN_BYTES);
    if (h->n_tensors > left / GGUF_INFO_MIN_BYTES)
        return el_fail(err, "%s: tensor count %llu cannot fit in the %llu bytes "
                       "left (each tensor info takes at least %u); " GGUF_FIX, c->path,
                       (unsigned long long)h->n_tensors, (unsigned long long)left,
                       GGUF_INFO_MIN_BYTES);
    return 0;
}

static int check_value_type(const gguf_cursor *c, uint32_t type, const char *field,
                            el_error *err)
{
    if (type < GGUF_TYPE_COUNT)
        return 0;
    return el_fail(err, "%s: %s has type %u, but key-value types are 0 to %d; "
                   GGUF_FIX, c->path, field, type, GGUF_TYPE_COUNT - 1);
}

/* Skips `count` elements of `type` belonging to an array nested `depth`
 * deep (1 for a key's own array). */
static int skip_elements(gguf_cursor *c, uint32_t type, uint64_t count, int depth,
                         const char *field, el_error *err)
{
    if (check_value_type(c, type, field, err) != 0)
        return -1;
    if (count > gguf_remaining(c) / min_size(type))
        return el_fail(err, "%s: %s is an array of %llu %s elements, which cannot "
                       "fit in the %llu bytes left; " GGUF_FIX, c->path, field,
                       (unsigned long long)count, gguf_value_type_name(type),
                       (unsigned long long)gguf_remaining(c));

    if (type == GGUF_STRING) {
        gguf_string s;
        for (uint64_t i = 0; i < count; i++)
            if (gguf_read_string(c, field, &s, err) != 0)
                return -1;
        return 0;
    }
    if (type != GGUF_ARRAY)
        return gguf_skip(c, count * scalar_size(type), field, err);

    if (depth >= GGUF_MAX_ARRAY_DEPTH)
        return el_fail(err, "%s: %s nests arrays more than %d deep; " GGUF_FIX,
                       c->path, field, GGUF_MAX_ARRAY_DEPTH);
    for (uint64_t i = 0; i < count; i++) {
        uint32_t inner_type = 0;
        uint64_t inner_count = 0;
        if (gguf_read_u32(c, field, &inner_type, err) != 0
            || gguf_read_u64(c, field, &inner_count, err) != 0
            || skip_elements(c, inner_type, inner_count, depth + 1, field, err) != 0)
            return -1;
    }
    return 0;
}

static int read_kv(gguf_cursor *c, uint64_t index, gguf_kv *kv, el_error *err)
{
    char field[160];
    snprintf(field, sizeof field, "key of key-value %llu", (unsigned long long)index);
    if (gguf_read_string(c, field, &kv->key, err) != 0)
        return -1;

    char key[96];
    snprintf(field, sizeof field, "key '%s'", gguf_printable(kv->key, key, sizeof key));
    if (gguf_read_u32(c, field, &kv->type, err) != 0
        || check_value_type(c, kv->type, field, err) != 0)
        return -1;
    kv->value_pos = c->pos;

    snprintf(field, sizeof field, "value of key '%s'", key);
    if (kv->type == GGUF_STRING) {
        gguf_string s;
        return gguf_read_string(c, field, &s, err);
    }
    if (kv->type != GGUF_ARRAY)
        return gguf_skip(c, scalar_size(kv->type), field, err);

    if (gguf_read_u32(c, field, &kv->elem_type, err) != 0
        || gguf_read_u64(c, field, &kv->count, err) != 0)
        return -1;
    return skip_elements(c, kv->elem_type, kv->count, 1, field, err);
}

static int compare_keys(const void *a, const void *b)
{
    const gguf_kv *const *x = a;
    const gguf_kv *const *y = b;
    const uint64_t n = (*x)->key.len < (*y)->key.len ? (*x)->key.len : (*y)->key.len;
    const int order = memcmp((*x)->key.ptr, (*y)->key.ptr, (size_t)n);
    if (order != 0)
        return order;
    return (*x)->key.len < (*y)->key.len ? -1 : (*x)->key.len > (*y)->key.len;
}

static int check_unique_keys(const gguf_header *h, el_error *err)
{
    if (h->n_kv < 2)
        return 0;

    const gguf_kv **sorted = malloc((size_t)h->n_kv * sizeof *sorted);
    if (sorted == NULL)
        return el_fail(err, "%s: out of memory checking %llu keys", h->path,
                       (unsigned long long)h->n_kv);
    for (uint64_t i = 0; i < h->n_kv; i++)
        sorted[i] = &h->kv[i];
    qsort(sorted, (size_t)h->n_kv, sizeof *sorted, compare_keys);

    int rc = 0;
    for (uint64_t i = 1; i < h->n_kv && rc == 0; i++) {
        if (compare_keys(&sorted[i - 1], &sorted[i]) == 0) {
            char key[96];
            rc = el_fail(err, "%s: key '%s' appears twice in the key-values; "
                         GGUF_FIX, h->path, gguf_printable(sorted[i]->key, key,
                                                           sizeof key));
        }
    }
    free(sorted);
    return rc;
}

static int read_alignment(gguf_header *h, el_error *err)
{
    h->alignment = GGUF_DEFAULT_ALIGNMENT;
    const gguf_kv *kv = gguf_find_kv(h, "general.alignment");
    if (kv == NULL)
        return 0;

    if (kv->type != GGUF_U32)
        return el_fail(err, "%s: key 'general.alignment' has type %s, expected u32; "
                       GGUF_FIX, h->path, gguf_value_type_name(kv->type));

    int64_t a = 0;
    if (gguf_kv_integer(h, kv, &a, err) != 0)
        return -1;
    if (a == 0 || (a & (a - 1)) != 0 || a > GGUF_MAX_ALIGNMENT)
        return el_fail(err, "%s: general.alignment is %lld, expected a power of two "
                       "from 1 to %u; " GGUF_FIX, h->path, (long long)a,
                       GGUF_MAX_ALIGNMENT);
    h->alignment = (uint32_t)a;
    return 0;
}

int gguf_parse_header(gguf_cursor *c, gguf_header *h, el_error *err)
{
    memset(h, 0, sizeof *h);
    h->path = c->path;
    h->base = c->base;

    if (read_magic(c, err) != 0 || read_version(c, h, err) != 0
        || read_counts(c, h, err) != 0)
        return -1;

    for (uint64_t i = 0; i < h->n_kv; i++) {
        gguf_kv *grown = gguf_reserve(h->kv, &h->kv_cap, i, sizeof *h->kv);
        if (grown == NULL) {
            gguf_header_free(h);
            return el_fail(err, "%s: out of memory for %llu key-values", c->path,
                           (unsigned long long)h->n_kv);
        }
        h->kv = grown;
        memset(&h->kv[i], 0, sizeof h->kv[i]);
        if (read_kv(c, i, &h->kv[i], err) != 0) {
            gguf_header_free(h);
            return -1;
        }
    }
    h->infos_pos = c->pos;

    if (check_unique_keys(h, err) != 0 || read_alignment(h, err) != 0) {
        gguf_header_free(h);
        return -1;
    }
    return 0;
}

void gguf_header_free(gguf_header *h)
{
    free(h->kv);
    h->kv = NULL;
    h->kv_cap = 0;
}

const gguf_kv *gguf_find_kv(const gguf_header *h, const char *key)
{
    for (uint64_t i = 0; i < h->n_kv; i++)
        if (gguf_string_is(h->kv[i].key, key))
            return &h->kv[i];
    return NULL;
}

int gguf_kv_integer(const gguf_header *h, const gguf_kv *kv, int64_t *out,
                    el_error *err)
{
    const uint64_t size = scalar_size(kv->type);
    char key[96];
    gguf_printable(kv->key, key, sizeof key);
    if (size == 0 || kv->type == GGUF_F32 || kv->type == GGUF_F64)
        return el_fail(err, "%s: key '%s' has type %s, expected an integer; "
                       GGUF_FIX, h->path, key, gguf_value_type_name(kv->type));

    /* Parsing checked that these bytes are in the file. */
    const uint8_t *p = h->base + kv->value_pos;
    uint64_t v = 0;
    for (int i = (int)size - 1; i >= 0; i--)
        v = (v << 8) | p[i];

    const int is_signed = kv->type == GGUF_I8 || kv->type == GGUF_I16
                          || kv->type == GGUF_I32 || kv->type == GGUF_I64;
    if (is_signed && size < 8 && (v >> (8 * size - 1)) != 0)
        v |= ~0ull << (8 * size);
    if (!is_signed && v > (uint64_t)INT64_MAX)
        return el_fail(err, "%s: key '%s' is %llu, too large; " GGUF_FIX, h->path,
                       key, (unsigned long long)v);
    *out = (int64_t)v;
    return 0;
}
