/* Distance encoding (DE), the lossless codec for low-cardinality tensors
 * from Su et al., "Everything You Always Wanted to Know About Storage
 * Compressibility of Pre-Trained ML Models but Were Afraid to Ask" (VLDB
 * 2024). An element whose bits were seen before is stored as the distance d
 * (in elements) back to their previous occurrence. A new element goes to
 * the list of distinct values.
 *
 * Each element gets a token byte: 0 for a new value, otherwise n, the bit
 * length of d (1..64). The token byte is the flag and the short length
 * field in one, so zstd can entropy-code both. The n - 1 bits of d below
 * its leading one follow in a separate bit stream, MSB first.
 *
 * Payload: one zstd frame holding the tokens (one byte per element), the
 * distance bits padded with zero bits to a whole byte, then the distinct
 * values as raw little-endian elements in order of first appearance. The
 * token count and the sizes of the other two parts follow from the element
 * count and the tokens. */
#include "codec.h"
#include "zstd_frame.h"

#include <stdlib.h>
#include <string.h>

#define DE_MAX_TOKEN 64
#define DE_FIRST_SLOTS 1024

static int de_supports(el_dtype dt)
{
    size_t size = el_dtype_size(dt);
    return size == 2 || size == 4 || size == 8;
}

static double de_max_error(el_dtype dt, const el_codec_params *params)
{
    (void)params;
    return de_supports(dt) ? 0.0 : -1.0;
}

static uint64_t load_bits(const uint8_t *src, size_t i, size_t size)
{
    const uint8_t *p = src + i * size;
    uint64_t v = 0;
    for (size_t k = size; k-- > 0;)
        v = v << 8 | p[k];
    return v;
}

static int bit_length(uint64_t v)
{
    int n = 0;
    while (v) {
        n++;
        v >>= 1;
    }
    return n;
}

/* ---- last position of every value seen so far ---- */

/* Open addressing with linear probing, doubling before the load passes one
 * half. Because there are at most min(count, 2^(8 x element size)) distinct
 * keys, max_slots is the smallest power of two >= twice that. */
/* A key and where it last occurred, side by side so that a lookup touches
 * one cache line. */
typedef struct de_slot {
    uint64_t key;
    size_t position;   /* position + 1 of the last occurrence, 0 when empty */
} de_slot;

typedef struct de_table {
    de_slot *slot;
    size_t slots;      /* a power of two */
    size_t used;
    size_t max_slots;
    int shift;         /* 64 - log2(slots), for the multiplicative hash */
} de_table;

static size_t slot_of(const de_table *t, uint64_t key)
{
    return (size_t)((key * UINT64_C(0x9e3779b97f4a7c15)) >> t->shift);
}

static int table_alloc(de_table *t, size_t slots, el_error *err)
{
    /* Not calloc. A large calloc gets fresh pages, and the first probe
     * maps each to the shared zero page. The first store then replaces
     * that mapping, which flushes the TLB of every CPU running this
     * process. Clearing the table first gives each page its own frame. */
    t->slot = slots <= SIZE_MAX / sizeof *t->slot ? malloc(slots * sizeof *t->slot) : NULL;
    if (t->slot == NULL)
        return el_fail(err, "out of memory for a de hash table of %zu slots", slots);
    memset(t->slot, 0, slots * sizeof *t->slot);
    t->slots = slots;
    t->shift = 64 - bit_length(slots - 1);
    return 0;
}

static int table_init(de_table *t, size_t count, size_t size, el_error *err)
{
    memset(t, 0, sizeof *t);
    size_t distinct_max = count;
    if (size < sizeof(size_t) && distinct_max > (size_t)1 << (8 * size))
        distinct_max = (size_t)1 << (8 * size);

    t->max_slots = 2;
    while (t->max_slots < 2 * distinct_max && t->max_slots <= SIZE_MAX / 4)
        t->max_slots *= 2;
    return table_alloc(t, t->max_slots < DE_FIRST_SLOTS ? t->max_slots : DE_FIRST_SLOTS, err);
}

static void table_free(de_table *t)
{
    free(t->slot);
}

static de_slot *table_find(de_table *t, uint64_t key)
{
    size_t mask = t->slots - 1;
    size_t s = slot_of(t, key);
    while (t->slot[s].position != 0 && t->slot[s].key != key)
        s = (s + 1) & mask;
    return &t->slot[s];
}

static int table_grow(de_table *t, el_error *err)
{
    de_table old = *t;
    if (table_alloc(t, old.slots * 2, err) != 0) {
        *t = old;
        return -1;
    }
    for (size_t s = 0; s < old.slots; s++) {
        if (old.slot[s].position != 0)
            *table_find(t, old.slot[s].key) = old.slot[s];
    }
    table_free(&old);
    return 0;
}

/* Stores i as the last position of key, and sets *previous to the position
 * + 1 it replaces, or to 0 when key is new. */
static int table_update(de_table *t, uint64_t key, size_t i, size_t *previous, el_error *err)
{
    de_slot *slot = table_find(t, key);
    *previous = slot->position;
    if (slot->position == 0) {
        if (2 * (t->used + 1) > t->slots && t->slots < t->max_slots) {
            if (table_grow(t, err) != 0)
                return -1;
            slot = table_find(t, key);
        }
        slot->key = key;
        t->used++;
    }
    slot->position = i + 1;
    return 0;
}

/* ---- the distance bit stream ---- */

typedef struct bit_writer {
    el_buf *out;
    uint64_t acc;
    int n; /* pending bits in the low end of acc, always < 8 between calls */
} bit_writer;

static int bits_put(bit_writer *w, uint64_t value, int width, el_error *err)
{
    /* Pieces of at most 32 bits keep n + width within the 64-bit acc. */
    while (width > 0) {
        int piece = width > 32 ? 32 : width;
        width -= piece;
        w->acc = w->acc << piece | (value >> width & ((UINT64_C(1) << piece) - 1));
        w->n += piece;
        while (w->n >= 8) {
            w->n -= 8;
            if (el_buf_append_u8(w->out, (uint8_t)(w->acc >> w->n), err) != 0)
                return -1;
        }
    }
    return 0;
}

static int bits_flush(bit_writer *w, el_error *err)
{
    if (w->n == 0)
        return 0;
    int rc = el_buf_append_u8(w->out, (uint8_t)(w->acc << (8 - w->n)), err);
    w->n = 0;
    return rc;
}

/* The caller checks that the stream contains every bit it reads. */
typedef struct bit_reader {
    const uint8_t *p;
    uint64_t acc;
    int n;
} bit_reader;

static uint64_t bits_get(bit_reader *r, int width)
{
    uint64_t v = 0;
    while (width > 0) {
        int piece = width > 32 ? 32 : width;
        width -= piece;
        while (r->n < piece) {
            r->acc = r->acc << 8 | *r->p++;
            r->n += 8;
        }
        r->n -= piece;
        v = v << piece | (r->acc >> r->n & ((UINT64_C(1) << piece) - 1));
    }
    return v;
}

/* ---- encode ---- */

/* Fills tokens, the distance bits and the distinct values for every element. */
static int de_split(const uint8_t *src, size_t count, size_t size, uint8_t *tokens,
                    el_buf *distances, el_buf *values, el_error *err)
{
    de_table table;
    if (table_init(&table, count, size, err) != 0)
        return -1;

    bit_writer bw = {distances, 0, 0};
    int rc = 0;
    for (size_t i = 0; i < count && rc == 0; i++) {
        size_t previous;
        rc = table_update(&table, load_bits(src, i, size), i, &previous, err);
        if (rc != 0)
            break;

        if (previous == 0) {
            tokens[i] = 0;
            rc = el_buf_append(values, src + i * size, size, err);
            continue;
        }
        uint64_t d = i - (previous - 1);
        int n = bit_length(d);
        tokens[i] = (uint8_t)n;
        rc = bits_put(&bw, d, n - 1, err);
    }
    if (rc == 0)
        rc = bits_flush(&bw, err);
    table_free(&table);
    return rc;
}

static int de_encode(el_dtype dt, const void *src, size_t count,
                     const el_codec_params *params, el_buf *out, el_error *err)
{
    size_t bytes;
    if (el_tensor_bytes(dt, count, &bytes, err) != 0)
        return -1;
    if (!de_supports(dt))
        return el_fail(err, "de cannot encode %s tensors: use a dtype of 2, 4 or 8 bytes",
                       el_dtype_name(dt));

    el_buf content = {0};
    el_buf distances = {0};
    el_buf values = {0};
    int rc = el_buf_reserve(&content, count, err);
    if (rc == 0)
        rc = de_split(src, count, el_dtype_size(dt), content.data, &distances, &values, err);
    if (rc == 0) {
        content.len = count;
        rc = el_buf_append(&content, distances.data, distances.len, err);
    }
    if (rc == 0)
        rc = el_buf_append(&content, values.data, values.len, err);
    if (rc == 0)
        rc = el_zstd_append_frame(out, content.data, content.len, params->zstd_level, err);

    el_buf_free(&content);
    el_buf_free(&distances);
    el_buf_free(&values);
    return rc;
}

/* ---- decode ---- */

/* Bytes per element a valid payload can take at most: the token, up to 63
 * distance bits, and the element itself in the distinct list. */
static size_t de_max_bytes_per_element(size_t size)
{
    return 1 + 8 + size;
}

/* Checks every token and the sizes of the two parts that follow them. */
static int de_check_tokens(const uint8_t *tokens, size_t count, size_t size,
                           size_t content_len, el_error *err)
{
    uint64_t distance_bits = 0;
    size_t distinct = 0;
    for (size_t i = 0; i < count; i++) {
        if (tokens[i] == 0) {
            distinct++;
            continue;
        }
        if (tokens[i] > DE_MAX_TOKEN)
            return el_fail(err, "token %zu is %u, but distances have at most %d bits",
                           i, tokens[i], DE_MAX_TOKEN);
        distance_bits += (uint64_t)tokens[i] - 1;
    }

    uint64_t expected = (uint64_t)count + (distance_bits + 7) / 8 + (uint64_t)distinct * size;
    if (expected != content_len)
        return el_fail(err, "tokens call for %llu distance bits and %zu distinct values "
                       "(%llu bytes in all), but the payload contains %zu bytes",
                       (unsigned long long)distance_bits, distinct,
                       (unsigned long long)expected, content_len);
    return 0;
}

static int de_rebuild(const uint8_t *content, size_t count, size_t size, uint8_t *dst,
                      el_error *err)
{
    const uint8_t *tokens = content;
    bit_reader br = {content + count, 0, 0};
    size_t distance_bits = 0;
    for (size_t i = 0; i < count; i++)
        distance_bits += tokens[i] ? tokens[i] - 1u : 0u;
    const uint8_t *values = content + count + (distance_bits + 7) / 8;

    for (size_t i = 0; i < count; i++) {
        int n = tokens[i];
        if (n == 0) {
            memcpy(dst + i * size, values, size);
            values += size;
            continue;
        }
        uint64_t d = UINT64_C(1) << (n - 1) | bits_get(&br, n - 1);
        if (d > i)
            return el_fail(err, "element %zu refers %llu elements back, before the start",
                           i, (unsigned long long)d);
        memcpy(dst + i * size, dst + (i - (size_t)d) * size, size);
    }

    if (br.n > 0 && (br.acc & ((UINT64_C(1) << br.n) - 1)) != 0)
        return el_fail(err, "distance bits end with %d nonzero padding bits", br.n);
    return 0;
}

static int de_decode(el_dtype dt, const void *payload, size_t payload_len,
                     void *dst, size_t count, el_error *err)
{
    size_t bytes;
    if (el_tensor_bytes(dt, count, &bytes, err) != 0)
        return -1;
    if (!de_supports(dt))
        return el_fail(err, "de cannot decode %s tensors: use a dtype of 2, 4 or 8 bytes",
                       el_dtype_name(dt));
    size_t size = el_dtype_size(dt);

    /* Beyond this count the size sums below could overflow. No tensor that
     * fits in memory comes close. */
    size_t per_element = de_max_bytes_per_element(size);
    if (count > SIZE_MAX / per_element)
        return el_fail(err, "de cannot decode %zu elements: at most %zu fit",
                       count, SIZE_MAX / per_element);

    size_t content_len;
    if (el_zstd_frame_content_size(payload, payload_len, count * per_element,
                                   &content_len, err) != 0)
        return el_fail_context(err, "de payload");
    if (content_len < count)
        return el_fail(err, "de payload contains %zu bytes, fewer than its %zu tokens",
                       content_len, count);

    uint8_t *content = malloc(content_len ? content_len : 1);
    if (content == NULL)
        return el_fail(err, "out of memory decoding %zu bytes of de payload", content_len);

    int rc = el_zstd_decode_frame(payload, payload_len, content, content_len, err);
    if (rc == 0)
        rc = de_check_tokens(content, count, size, content_len, err);
    if (rc == 0)
        rc = de_rebuild(content, count, size, dst, err);
    free(content);
    return rc == 0 ? 0 : el_fail_context(err, "de payload");
}

const el_codec el_codec_de = {
    .name = "de",
    .summary = "lossless: repeated values as distances to their last occurrence",
    .lossless = 1,
    .supports = de_supports,
    .max_error = de_max_error,
    .encode = de_encode,
    .decode = de_decode,
};
