/* int8 and int4: uniform quantization with one scale per block of 32
 * consecutive elements of the flattened tensor, as GGUF's Q8_0 and Q4_0
 * blocks do (ggml, ggml-quants.c, quantize_row_q8_0_ref and
 * quantize_row_q4_0_ref).
 *
 * int8: d = max|w| / 127 and q = round(w / d), half away from zero, in
 * -127..127. int4: d = w_max / -8, where w_max is the first element of the
 * block with the largest |w|, and q = floor(w / d + 8.5) clamped to 0..15,
 * which decodes to (q - 8) * d, so w_max itself maps to -8. The scale is
 * stored as F16, as GGUF stores it. Unlike ggml, q is computed from the
 * F16-rounded scale the decoder uses, so the scale's rounding adds no error.
 * A scale too large for F16 saturates to 65504 instead of becoming
 * infinite, so values beyond 127 x 65504 (int8) or 8 x 65504 (int4) clip.
 *
 * NaN and infinities take no part in the scale. Their slots get the code of
 * zero and they are kept verbatim as exceptions. A block whose scale rounds
 * to zero decodes to zeros, and -0.0 may decode as +0.0.
 *
 * Payload: one zstd frame holding the scales (F16, little-endian, one per
 * block), the codes (int8: one signed byte per element; int4: two codes per
 * byte, element 2k in the low nibble and 2k + 1 in the high one, and a zero
 * high nibble after an odd last element), then the exception list: varint
 * count, varint index deltas (the first is the index itself), and the raw
 * little-endian elements. */
#include "codec.h"
#include "zstd_frame.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define INTQ_BLOCK 32
#define F16_MAX_FINITE 0x7bffu
#define F16_SIGN 0x8000u

typedef struct intq_format {
    const char *name;
    int bits; /* 8 or 4 */
} intq_format;

static const intq_format format_int8 = {"int8", 8};
static const intq_format format_int4 = {"int4", 4};

static int intq_supports(el_dtype dt)
{
    return el_dtype_is_float(dt);
}

static double intq_max_error(el_dtype dt, const el_codec_params *params)
{
    (void)params;
    return intq_supports(dt) ? INFINITY : -1.0;
}

static size_t block_count(size_t count)
{
    return count / INTQ_BLOCK + (count % INTQ_BLOCK != 0);
}

static size_t code_bytes(const intq_format *f, size_t count)
{
    return f->bits == 8 ? count : count / 2 + count % 2;
}

/* The code every non-finite slot gets: the one that decodes to zero. */
static unsigned zero_code(const intq_format *f)
{
    return f->bits == 8 ? 0u : 8u;
}

/* ---- scales ---- */

/* Rounds d to F16, saturating at the largest finite value. */
static uint16_t scale_to_f16(double d)
{
    uint8_t h[2];
    el_store_double(EL_F16, h, 0, d);
    uint16_t bits = (uint16_t)(h[0] | h[1] << 8);
    if ((bits & 0x7fffu) > F16_MAX_FINITE)
        bits = (uint16_t)((bits & F16_SIGN) | F16_MAX_FINITE);
    return bits;
}

static double scale_from_f16(uint16_t bits)
{
    uint8_t h[2] = {(uint8_t)bits, (uint8_t)(bits >> 8)};
    return el_load_double(EL_F16, h, 0);
}

/* The unrounded scale of one block: max|w| / 127 for int8, and for int4
 * w_max / -8 with w_max the first element of largest magnitude. */
static double block_scale(const intq_format *f, el_dtype dt, const void *src,
                          size_t start, size_t end)
{
    double amax = 0.0;
    double wmax = 0.0;
    for (size_t i = start; i < end; i++) {
        double w = el_load_double(dt, src, i);
        if (isfinite(w) && fabs(w) > amax) {
            amax = fabs(w);
            wmax = w;
        }
    }
    return f->bits == 8 ? amax / 127.0 : wmax / -8.0;
}

/* ---- codes ---- */

static double clamp(double v, double lo, double hi)
{
    if (v < lo)
        return lo;
    return v > hi ? hi : v;
}

static unsigned quantize(const intq_format *f, double w, double d)
{
    if (!isfinite(w) || d == 0.0)
        return zero_code(f);

    if (f->bits == 8) {
        int q = (int)clamp(round(w / d), -127.0, 127.0);
        return (unsigned)q & 0xffu;
    }
    return (unsigned)clamp(floor(w / d + 8.5), 0.0, 15.0);
}

static double dequantize(const intq_format *f, unsigned code, double d)
{
    int q = f->bits == 8 ? (int)(int8_t)code : (int)code - 8;
    return q * d;
}

static void code_put(const intq_format *f, uint8_t *codes, size_t i, unsigned code)
{
    if (f->bits == 8)
        codes[i] = (uint8_t)code;
    else
        codes[i / 2] |= (uint8_t)(code << (i % 2 * 4));
}

static unsigned code_get(const intq_format *f, const uint8_t *codes, size_t i)
{
    if (f->bits == 8)
        return codes[i];
    return codes[i / 2] >> (i % 2 * 4) & 0xfu;
}

/* ---- exception list ---- */

typedef struct exception_list {
    el_buf deltas;
    el_buf values;
    size_t count;
    size_t last_index;
} exception_list;

static int exceptions_add(exception_list *x, const uint8_t *elem, size_t size, size_t index,
                          el_error *err)
{
    size_t delta = x->count ? index - x->last_index : index;
    if (el_buf_append_varint(&x->deltas, delta, err) != 0)
        return -1;
    if (el_buf_append(&x->values, elem, size, err) != 0)
        return -1;
    x->count++;
    x->last_index = index;
    return 0;
}

static int exceptions_write(const exception_list *x, el_buf *out, el_error *err)
{
    if (el_buf_append_varint(out, x->count, err) != 0)
        return -1;
    if (el_buf_append(out, x->deltas.data, x->deltas.len, err) != 0)
        return -1;
    return el_buf_append(out, x->values.data, x->values.len, err);
}

static void exceptions_free(exception_list *x)
{
    el_buf_free(&x->deltas);
    el_buf_free(&x->values);
}

/* Largest encoded list for count elements, saturating at SIZE_MAX: the
 * count, a 10-byte varint per index and the raw values. */
static size_t exceptions_max_bytes(size_t count, size_t size)
{
    size_t per = 10 + size;
    if (count > (SIZE_MAX - 10) / per)
        return SIZE_MAX;
    return 10 + count * per;
}

/* Reads an exception list that must fill the rest of r, checks that the
 * indices increase and stay below count and that every value is NaN or
 * infinite, and writes each value into dst. */
static int exceptions_apply(el_reader *r, el_dtype dt, uint8_t *dst, size_t count,
                            el_error *err)
{
    size_t size = el_dtype_size(dt);
    uint64_t n;
    if (el_read_varint(r, &n, err) != 0)
        return el_fail_context(err, "exception count");
    if (n > count)
        return el_fail(err, "exception count %llu exceeds the %zu elements",
                       (unsigned long long)n, count);

    /* Each exception takes at least one index byte and its value, so this
     * bounds the index array by the payload's size too. */
    if (n > (r->len - r->pos) / (1 + size))
        return el_fail(err, "exception count %llu is more than the %zu remaining bytes can hold",
                       (unsigned long long)n, r->len - r->pos);

    size_t *indices = malloc(n ? (size_t)n * sizeof *indices : 1);
    if (indices == NULL)
        return el_fail(err, "out of memory for %llu exception indices", (unsigned long long)n);

    int rc = 0;
    for (size_t k = 0; k < n && rc == 0; k++) {
        uint64_t delta;
        rc = el_read_varint(r, &delta, err);
        if (rc != 0) {
            el_fail_context(err, "exception %zu index", k);
            break;
        }
        uint64_t base = k ? indices[k - 1] : 0;
        if (k > 0 && delta == 0)
            rc = el_fail(err, "exception %zu repeats index %llu", k, (unsigned long long)base);
        else if (delta >= count - base)
            rc = el_fail(err, "exception %zu index %llu + %llu is out of range for %zu elements",
                         k, (unsigned long long)base, (unsigned long long)delta, count);
        else
            indices[k] = (size_t)(base + delta);
    }
    if (rc == 0 && r->len - r->pos != (size_t)n * size)
        rc = el_fail(err, "exception values take %zu bytes, expected %llu x %zu",
                     r->len - r->pos, (unsigned long long)n, size);

    for (size_t k = 0; k < n && rc == 0; k++) {
        const uint8_t *value = el_read_span(r, size, err);
        if (isfinite(el_load_double(dt, value, 0)))
            rc = el_fail(err, "exception %zu is a finite value, but only NaN and "
                         "infinities are stored as exceptions", k);
        else
            memcpy(dst + indices[k] * size, value, size);
    }
    free(indices);
    return rc;
}

/* ---- encode ---- */

/* Writes the scale and the codes of every block, and collects the
 * non-finite elements. codes must start zeroed, for the int4 nibbles. */
static int intq_split(const intq_format *f, el_dtype dt, const uint8_t *src, size_t count,
                      uint8_t *scales, uint8_t *codes, exception_list *exceptions,
                      el_error *err)
{
    size_t size = el_dtype_size(dt);
    for (size_t b = 0; b < block_count(count); b++) {
        size_t start = b * INTQ_BLOCK;
        size_t end = count - start < INTQ_BLOCK ? count : start + INTQ_BLOCK;

        uint16_t scale = scale_to_f16(block_scale(f, dt, src, start, end));
        scales[2 * b] = (uint8_t)scale;
        scales[2 * b + 1] = (uint8_t)(scale >> 8);
        double d = scale_from_f16(scale);

        for (size_t i = start; i < end; i++) {
            double w = el_load_double(dt, src, i);
            code_put(f, codes, i, quantize(f, w, d));
            if (!isfinite(w) && exceptions_add(exceptions, src + i * size, size, i, err) != 0)
                return -1;
        }
    }
    return 0;
}

static int intq_encode(const intq_format *f, el_dtype dt, const void *src, size_t count,
                       const el_codec_params *params, el_buf *out, el_error *err)
{
    size_t bytes;
    if (el_tensor_bytes(dt, count, &bytes, err) != 0)
        return -1;
    if (!intq_supports(dt))
        return el_fail(err, "%s cannot encode %s tensors: use F64, F32, F16 or BF16",
                       f->name, el_dtype_name(dt));

    size_t scale_len = 2 * block_count(count);
    size_t codes_len = code_bytes(f, count);
    el_buf content = {0};
    /* One more byte for the exception count, so that data is never NULL. */
    if (el_buf_reserve(&content, scale_len + codes_len + 1, err) != 0)
        return -1;
    content.len = scale_len + codes_len;
    memset(content.data, 0, content.len);

    exception_list exceptions = {0};
    int rc = intq_split(f, dt, src, count, content.data, content.data + scale_len,
                        &exceptions, err);
    if (rc == 0)
        rc = exceptions_write(&exceptions, &content, err);
    if (rc == 0)
        rc = el_buf_append_u64le(&content, count, err);
    if (rc == 0)
        rc = el_zstd_append_frame(out, content.data, content.len, params->zstd_level, err);
    exceptions_free(&exceptions);
    el_buf_free(&content);
    return rc;
}

/* ---- decode ---- */

/* The element count closes the content (u64, little-endian): nothing else
 * in the layout would tell a payload of n elements from one of n + 1. */
#define COUNT_TRAILER 8

static int intq_rebuild(const intq_format *f, el_dtype dt, const uint8_t *scales,
                        const uint8_t *codes, uint8_t *dst, size_t count, el_error *err)
{
    for (size_t b = 0; b < block_count(count); b++) {
        uint16_t scale = (uint16_t)(scales[2 * b] | scales[2 * b + 1] << 8);
        double d = scale_from_f16(scale);
        if (!isfinite(d))
            return el_fail(err, "block %zu has the non-finite scale 0x%04x", b, scale);

        size_t start = b * INTQ_BLOCK;
        size_t end = count - start < INTQ_BLOCK ? count : start + INTQ_BLOCK;
        for (size_t i = start; i < end; i++) {
            unsigned code = code_get(f, codes, i);
            if (f->bits == 8 && code == 0x80u)
                return el_fail(err, "element %zu has the code -128, outside -127..127", i);
            el_store_double(dt, dst, i, dequantize(f, code, d));
        }
    }

    if (f->bits == 4 && count % 2 != 0 && codes[count / 2] >> 4 != 0)
        return el_fail(err, "the padding nibble after the last code is %u, not 0",
                       codes[count / 2] >> 4);
    return 0;
}

static int intq_decode(const intq_format *f, el_dtype dt, const void *payload,
                       size_t payload_len, void *dst, size_t count, el_error *err)
{
    size_t bytes;
    if (el_tensor_bytes(dt, count, &bytes, err) != 0)
        return -1;
    if (!intq_supports(dt))
        return el_fail(err, "%s cannot decode %s tensors: use F64, F32, F16 or BF16",
                       f->name, el_dtype_name(dt));

    /* el_tensor_bytes accepted count elements of at least 2 bytes, so count
     * <= SIZE_MAX / 2 and the scale and code lengths cannot overflow. */
    size_t fixed_len = 2 * block_count(count) + code_bytes(f, count);
    size_t list_max = exceptions_max_bytes(count, el_dtype_size(dt)) + COUNT_TRAILER;
    size_t max_len = list_max > SIZE_MAX - fixed_len ? SIZE_MAX : fixed_len + list_max;

    size_t content_len;
    if (el_zstd_frame_content_size(payload, payload_len, max_len, &content_len, err) != 0)
        return el_fail_context(err, "%s payload", f->name);
    if (content_len < fixed_len + COUNT_TRAILER)
        return el_fail(err, "%s payload contains %zu bytes, fewer than the %zu bytes of "
                       "scales, codes and element count", f->name, content_len,
                       fixed_len + COUNT_TRAILER);

    uint8_t *content = malloc(content_len ? content_len : 1);
    if (content == NULL)
        return el_fail(err, "out of memory decoding %zu bytes of %s payload",
                       content_len, f->name);

    size_t scale_len = 2 * block_count(count);
    int rc = el_zstd_decode_frame(payload, payload_len, content, content_len, err);
    if (rc == 0) {
        el_reader trailer = {content + content_len - COUNT_TRAILER, COUNT_TRAILER, 0};
        uint64_t stored_count;
        el_read_u64le(&trailer, &stored_count, NULL);
        if (stored_count != count)
            rc = el_fail(err, "payload holds %llu elements, %zu were expected",
                         (unsigned long long)stored_count, count);
    }
    if (rc == 0)
        rc = intq_rebuild(f, dt, content, content + scale_len, dst, count, err);
    if (rc == 0) {
        el_reader r = {content + fixed_len, content_len - fixed_len - COUNT_TRAILER, 0};
        rc = exceptions_apply(&r, dt, dst, count, err);
    }
    free(content);
    return rc == 0 ? 0 : el_fail_context(err, "%s payload", f->name);
}

static int int8_encode(el_dtype dt, const void *src, size_t count,
                       const el_codec_params *params, el_buf *out, el_error *err)
{
    return intq_encode(&format_int8, dt, src, count, params, out, err);
}

static int int8_decode(el_dtype dt, const void *payload, size_t payload_len,
                       void *dst, size_t count, el_error *err)
{
    return intq_decode(&format_int8, dt, payload, payload_len, dst, count, err);
}

static int int4_encode(el_dtype dt, const void *src, size_t count,
                       const el_codec_params *params, el_buf *out, el_error *err)
{
    return intq_encode(&format_int4, dt, src, count, params, out, err);
}

static int int4_decode(el_dtype dt, const void *payload, size_t payload_len,
                       void *dst, size_t count, el_error *err)
{
    return intq_decode(&format_int4, dt, payload, payload_len, dst, count, err);
}

const el_codec el_codec_int8 = {
    .name = "int8",
    .summary = "lossy: 8-bit integers with an F16 scale per 32 weights, as GGUF Q8_0",
    .lossless = 0,
    .supports = intq_supports,
    .max_error = intq_max_error,
    .encode = int8_encode,
    .decode = int8_decode,
};

const el_codec el_codec_int4 = {
    .name = "int4",
    .summary = "lossy: 4-bit integers with an F16 scale per 32 weights, as GGUF Q4_0",
    .lossless = 0,
    .supports = intq_supports,
    .max_error = intq_max_error,
    .encode = int4_encode,
    .decode = int4_decode,
};
