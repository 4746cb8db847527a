/* xor-delta: lossless coding of a tensor against its base, bit for bit,
 * NaN payloads included.
 *
 * Each element becomes one unsigned integer by one of two transforms, and
 * the encoder keeps the one that codes smaller:
 *   XOR         the element's bits XOR the base element's bits. Exact
 *               where a fine-tune left whole fields alone.
 *   DIFFERENCE  the difference of the two bit patterns mapped to integers
 *               that order like the values (for floats, negatives are
 *               complemented so that -0.0 and +0.0 are neighbours), taken
 *               modulo 2^bits and zigzag-mapped. A small change in value is
 *               a small integer even where it carries into the exponent,
 *               which XOR turns into a long run of 1s.
 * The integers go through the bucket coder of delta.c, which can model
 * their length by the base's exponent: a change of fixed size spans more
 * ulps in a lower binade.
 *
 * Payload: varint element count, u8 transform (0 = identical to the base,
 * nothing follows; 1 = XOR; 2 = DIFFERENCE), then the integer block. */
#include "delta.h"
#include "zstd_frame.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define TRANSFORM_IDENTICAL 0
#define TRANSFORM_XOR 1
#define TRANSFORM_DIFFERENCE 2

static int xor_supports(el_dtype dt)
{
    return el_dtype_size(dt) != 0;
}

static double xor_max_error(el_dtype dt, const el_codec_params *params)
{
    (void)params;
    return xor_supports(dt) ? 0.0 : -1.0;
}

static int is_signed_integer(el_dtype dt)
{
    return dt == EL_I64 || dt == EL_I32 || dt == EL_I16 || dt == EL_I8;
}

/* The bit patterns of one dtype as integers that order like its values. */
typedef struct key_map {
    uint64_t mask; /* all bits of an element */
    uint64_t sign; /* the top bit */
    int is_float;
    int is_signed;
} key_map;

static key_map key_map_of(el_dtype dt)
{
    int bits = 8 * (int)el_dtype_size(dt);
    key_map k;
    k.mask = bits == 64 ? ~UINT64_C(0) : (UINT64_C(1) << bits) - 1;
    k.sign = UINT64_C(1) << (bits - 1);
    k.is_float = el_dtype_is_float(dt);
    k.is_signed = is_signed_integer(dt);
    return k;
}

static uint64_t to_key(const key_map *k, uint64_t v)
{
    if (k->is_float)
        return v & k->sign ? ~v & k->mask : v | k->sign;
    if (k->is_signed)
        return v ^ k->sign;
    return v;
}

static uint64_t from_key(const key_map *k, uint64_t key)
{
    if (k->is_float)
        return key & k->sign ? key & ~k->sign : ~key & k->mask;
    if (k->is_signed)
        return key ^ k->sign;
    return key;
}

/* Returns the zigzag of a - b for two keys, read as a signed number of the
 * element's width. The result fits that width. */
static uint64_t key_difference(const key_map *k, uint64_t a, uint64_t b)
{
    uint64_t d = (a - b) & k->mask;
    if (d & k->sign)
        d |= ~k->mask;
    return d << 1 ^ (uint64_t)-(int64_t)(d >> 63);
}

static uint64_t key_add(const key_map *k, uint64_t b, uint64_t zigzag)
{
    uint64_t d = zigzag >> 1 ^ (uint64_t)-(int64_t)(zigzag & 1);
    return (b + d) & k->mask;
}

static uint64_t load_bits(const uint8_t *src, size_t size, size_t i)
{
    uint64_t v = 0;
    for (size_t k = 0; k < size; k++)
        v |= (uint64_t)src[i * size + k] << (8 * k);
    return v;
}

static void store_bits(uint8_t *dst, size_t size, size_t i, uint64_t v)
{
    for (size_t k = 0; k < size; k++)
        dst[i * size + k] = (uint8_t)(v >> (8 * k));
}

static void transform(el_dtype dt, int kind, const uint8_t *src, const uint8_t *base,
                      size_t count, uint64_t *values)
{
    size_t size = el_dtype_size(dt);
    key_map k = key_map_of(dt);
    for (size_t i = 0; i < count; i++) {
        uint64_t a = load_bits(src, size, i);
        uint64_t b = load_bits(base, size, i);
        if (kind == TRANSFORM_XOR)
            values[i] = a ^ b;
        else
            values[i] = key_difference(&k, to_key(&k, a), to_key(&k, b));
    }
}

/* Appends the transform byte and the integer block of one transform. */
static int encode_transform(el_dtype dt, int kind, const void *src, const void *base,
                            size_t count, uint64_t *values, el_buf *out, el_error *err)
{
    transform(dt, kind, src, base, count, values);
    if (el_buf_append_u8(out, (uint8_t)kind, err) != 0)
        return -1;
    return el_delta_ints_encode(values, count, dt, base, out, err);
}

static int xor_encode(el_dtype dt, const void *src, const void *base, size_t count,
                      const el_codec_params *params, el_buf *out, el_error *err)
{
    (void)params;
    size_t bytes;
    if (!xor_supports(dt))
        return el_fail(err, "xor-delta cannot encode %s tensors", el_dtype_name(dt));
    if (el_tensor_bytes(dt, count, &bytes, err) != 0)
        return -1;
    if (el_delta_put_count(count, out, err) != 0)
        return -1;
    if (bytes == 0 || memcmp(src, base, bytes) == 0)
        return el_buf_append_u8(out, TRANSFORM_IDENTICAL, err);

    if (count > SIZE_MAX / sizeof(uint64_t))
        return el_fail(err, "xor-delta cannot hold the deltas of %zu elements", count);
    uint64_t *values = malloc(count * sizeof *values);
    if (values == NULL)
        return el_fail(err, "out of memory for the deltas of %zu elements", count);

    el_buf xor_payload = {0};
    el_buf difference_payload = {0};
    int rc = encode_transform(dt, TRANSFORM_XOR, src, base, count, values, &xor_payload, err);
    if (rc == 0)
        rc = encode_transform(dt, TRANSFORM_DIFFERENCE, src, base, count, values,
                              &difference_payload, err);
    if (rc == 0) {
        const el_buf *best = difference_payload.len < xor_payload.len ? &difference_payload
                                                                      : &xor_payload;
        rc = el_buf_append(out, best->data, best->len, err);
    }
    free(values);
    el_buf_free(&xor_payload);
    el_buf_free(&difference_payload);
    return rc;
}

static void apply_transform(el_dtype dt, int kind, const uint64_t *values,
                            const uint8_t *base, size_t count, uint8_t *dst)
{
    size_t size = el_dtype_size(dt);
    key_map k = key_map_of(dt);
    for (size_t i = 0; i < count; i++) {
        uint64_t b = load_bits(base, size, i);
        uint64_t a;
        if (kind == TRANSFORM_XOR)
            a = b ^ values[i];
        else
            a = from_key(&k, key_add(&k, to_key(&k, b), values[i]));
        store_bits(dst, size, i, a);
    }
}

static int xor_decode(el_dtype dt, const void *payload, size_t payload_len,
                      const void *base, void *dst, size_t count, el_error *err)
{
    size_t bytes;
    if (!xor_supports(dt))
        return el_fail(err, "xor-delta cannot decode %s tensors", el_dtype_name(dt));
    if (el_tensor_bytes(dt, count, &bytes, err) != 0)
        return -1;

    el_reader r = {payload, payload_len, 0};
    uint8_t kind;
    if (el_delta_check_count(&r, count, "xor-delta", err) != 0)
        return -1;
    if (el_read_u8(&r, &kind, err) != 0)
        return el_fail_context(err, "xor-delta transform");
    if (kind > TRANSFORM_DIFFERENCE)
        return el_fail(err, "xor-delta transform %u is invalid: expected 0, 1 or 2", kind);

    if (kind == TRANSFORM_IDENTICAL) {
        if (r.pos != payload_len)
            return el_fail(err, "xor-delta payload has %zu bytes after its header",
                           payload_len - r.pos);
        if (bytes > 0)
            memcpy(dst, base, bytes);
        return 0;
    }

    if (count > SIZE_MAX / sizeof(uint64_t))
        return el_fail(err, "xor-delta cannot hold the deltas of %zu elements", count);
    uint64_t *values = malloc(count ? count * sizeof *values : 1);
    if (values == NULL)
        return el_fail(err, "out of memory for the deltas of %zu elements", count);
    int rc = el_delta_ints_decode(&r, dt, base, 8 * (int)el_dtype_size(dt), values, count, err);
    if (rc != 0)
        el_fail_context(err, "xor-delta payload");
    if (rc == 0 && r.pos != payload_len)
        rc = el_fail(err, "xor-delta payload has %zu bytes after its extra bits",
                     payload_len - r.pos);
    if (rc == 0)
        apply_transform(dt, kind, values, base, count, dst);
    free(values);
    return rc;
}

const el_delta_codec el_delta_codec_xor = {
    .name = "xor-delta",
    .summary = "lossless: XOR or integer difference of the bits against the base, rANS-coded",
    .lossless = 1,
    .supports = xor_supports,
    .max_error = xor_max_error,
    .encode = xor_encode,
    .decode = xor_decode,
};
