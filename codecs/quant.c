/* Error-bounded linear quantization, as in SZ: with E the requested bound
 * and step 2E, each weight w becomes the integer q = round(w / 2E) and
 * decodes to q * 2E, computed in double and then rounded to the dtype.
 *
 * The encoder decodes every element itself and checks |w - w'| <= E in the
 * original dtype after that rounding. An element that misses (rounding to
 * the dtype can add up to half an ulp of w), NaN, Inf and |q| > 2^52 become
 * exceptions: stored verbatim with their indices, their q set to 0. So the
 * bound holds for every element and max_error is exactly E. A weight of
 * -0.0 gets q = 0 and decodes to +0.0, which is an error of 0 and allowed
 * under a bound, so the sign of zero is not kept.
 *
 * The integers are zigzag-mapped to u >= 0 and split into a bucket symbol
 * and extra bits, as in the length codes of DEFLATE: u < 8 is its own
 * symbol; otherwise, with k the index of u's leading 1, the symbol is
 * 4 (k - 2) + (u >> (k - 2)), which keeps the two bits below the leading 1,
 * and the k - 2 bits under them are stored as they are. The symbols carry
 * the skewed part of the distribution and go through rANS; the extra bits
 * are close to uniform.
 *
 * A second mode rounds in the float domain instead: every element keeps
 * its exponent and loses the low mantissa bits whose rounding stays within
 * E, |w| <= E becomes +0.0, and the rounded bit patterns go through fields
 * (or bytegroup, when smaller). Where the dtype's own grid is coarser than
 * 2E (BF16 and F16 weights at 1e-4), linear q values are sparse and their
 * extra bits are wasted, while this mode codes the patterns at about their
 * entropy. The encoder runs both modes and keeps the smaller payload.
 *
 * Payload: u8 mode, then for mode 1 a fields payload, for mode 2 a
 * bytegroup payload, and for mode 0 (linear):
 *   u64le  the step 2E as IEEE double bits
 *   varint exception count K; when K > 0: varint length of the index
 *          deltas, entropy block of the index deltas (varints, the first is
 *          the index itself), entropy block of the K raw elements
 *   entropy block of the count symbols
 *   varint byte length of the extra bits, then the bits, LSB first */
#include "codec.h"
#include "entropy.h"
#include "zstd_frame.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The float-grid mode stores its rounded bit patterns with one of these. */
extern const el_codec el_codec_fields;
extern const el_codec el_codec_bytegroup;

#define MODE_LINEAR 0
#define MODE_GRID 1
#define MODE_GRID_PLANES 2

#define QUANT_MAX_Q 0x1p52
/* Largest bucket symbol: u < 2^54, so k <= 53. */
#define QUANT_MAX_SYMBOL (4 * 51 + 7)

static int quant_supports(el_dtype dt)
{
    return el_dtype_is_float(dt);
}

static int step_is_valid(double step)
{
    return isfinite(step) && step > 0;
}

static double quant_max_error(el_dtype dt, const el_codec_params *params)
{
    double bound = params->abs_bound;
    if (!quant_supports(dt) || !(bound > 0) || !step_is_valid(2.0 * bound))
        return -1.0;
    return bound;
}

/* ---- integer buckets ---- */

typedef struct bit_writer {
    el_buf *out;
    uint64_t acc;
    int n; /* pending bits in the low end of acc, < 8 between calls */
} bit_writer;

static int bits_put(bit_writer *w, uint64_t v, int nbits, el_error *err)
{
    w->acc |= v << w->n;
    w->n += nbits;
    while (w->n >= 8) {
        if (el_buf_append_u8(w->out, (uint8_t)w->acc, err) != 0)
            return -1;
        w->acc >>= 8;
        w->n -= 8;
    }
    return 0;
}

static int bits_flush(bit_writer *w, el_error *err)
{
    if (w->n > 0 && el_buf_append_u8(w->out, (uint8_t)w->acc, err) != 0)
        return -1;
    w->acc = 0;
    w->n = 0;
    return 0;
}

static int leading_bit(uint64_t u)
{
    return 63 - __builtin_clzll(u);
}

static uint8_t bucket_symbol(uint64_t u, int *nbits)
{
    if (u < 8) {
        *nbits = 0;
        return (uint8_t)u;
    }
    int k = leading_bit(u);
    *nbits = k - 2;
    return (uint8_t)(4 * (k - 2) + (u >> (k - 2)));
}

static int symbol_extra_bits(uint8_t symbol)
{
    return symbol < 8 ? 0 : symbol / 4 - 1;
}

static uint64_t zigzag(int64_t q)
{
    return q < 0 ? 2 * (uint64_t)(-(q + 1)) + 1 : 2 * (uint64_t)q;
}

static int64_t unzigzag(uint64_t u)
{
    return u & 1 ? -(int64_t)(u >> 1) - 1 : (int64_t)(u >> 1);
}

/* ---- encoding ---- */

/* Returns q for w, or 0 with *exception set when w must be stored as it is. */
static int64_t quantize(el_dtype dt, double w, double step, double bound, int *exception)
{
    *exception = 1;
    if (!isfinite(w))
        return 0;
    double q = nearbyint(w / step);
    if (fabs(q) > QUANT_MAX_Q)
        return 0;

    uint8_t decoded[8];
    el_store_double(dt, decoded, 0, q * step);
    if (!(fabs(el_load_double(dt, decoded, 0) - w) <= bound))
        return 0;
    *exception = 0;
    return (int64_t)q;
}

typedef struct exceptions {
    el_buf deltas;
    el_buf values;
    size_t count;
    size_t last_index;
} exceptions;

static int exceptions_write(const exceptions *x, el_buf *out, el_error *err)
{
    if (el_buf_append_varint(out, x->count, err) != 0)
        return -1;
    if (x->count == 0)
        return 0;
    if (el_buf_append_varint(out, x->deltas.len, err) != 0)
        return -1;
    if (el_entropy_encode(x->deltas.data, x->deltas.len, out, err) != 0)
        return -1;
    return el_entropy_encode(x->values.data, x->values.len, out, err);
}

static int linear_encode(el_dtype dt, const void *src, size_t count, double bound,
                         el_buf *out, el_error *err)
{
    double step = 2.0 * bound;
    size_t size = el_dtype_size(dt);
    uint8_t *symbols = malloc(count ? count : 1);
    if (symbols == NULL)
        return el_fail(err, "out of memory for %zu quantization symbols", count);

    exceptions x = {0};
    el_buf extra = {0};
    bit_writer bw = {&extra, 0, 0};
    int rc = 0;
    for (size_t i = 0; i < count && rc == 0; i++) {
        int exception;
        int64_t q = quantize(dt, el_load_double(dt, src, i), step, bound, &exception);
        if (exception) {
            rc = el_buf_append_varint(&x.deltas, x.count ? i - x.last_index : i, err);
            if (rc == 0)
                rc = el_buf_append(&x.values, (const uint8_t *)src + i * size, size, err);
            x.count++;
            x.last_index = i;
        }

        int nbits;
        uint64_t u = zigzag(q);
        symbols[i] = bucket_symbol(u, &nbits);
        if (rc == 0 && nbits > 0)
            rc = bits_put(&bw, u & ((UINT64_C(1) << nbits) - 1), nbits, err);
    }
    if (rc == 0)
        rc = bits_flush(&bw, err);

    uint64_t step_bits;
    memcpy(&step_bits, &step, sizeof step_bits);
    if (rc == 0)
        rc = el_buf_append_u64le(out, step_bits, err);
    if (rc == 0)
        rc = exceptions_write(&x, out, err);
    if (rc == 0)
        rc = el_entropy_encode(symbols, count, out, err);
    if (rc == 0)
        rc = el_buf_append_varint(out, extra.len, err);
    if (rc == 0)
        rc = el_buf_append(out, extra.data, extra.len, err);

    free(symbols);
    el_buf_free(&x.deltas);
    el_buf_free(&x.values);
    el_buf_free(&extra);
    return rc;
}

/* ---- float-grid mode ---- */

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

/* Returns the bit pattern of element i with its mantissa rounded to the
 * coarsest multiple of 2^d ulps that stays within bound: |w| <= bound
 * becomes +0.0, and NaN, Inf and elements no rounding helps stay as they
 * are. Rounding the magnitude as an integer carries into the exponent
 * correctly. */
static uint64_t round_to_grid(el_dtype dt, const uint8_t *src, size_t i, double bound)
{
    size_t size = el_dtype_size(dt);
    uint64_t v = load_bits(src, size, i);
    double w = el_load_double(dt, src, i);
    if (!isfinite(w))
        return v;
    if (fabs(w) <= bound)
        return 0;

    el_float_layout f = el_dtype_float_layout(dt);
    int m = f.mantissa_bits;
    uint64_t sign = UINT64_C(1) << (8 * size - 1);
    uint64_t magnitude = v & ~sign;
    int exponent = (int)(magnitude >> m);

    /* Rounding to 2^d ulps errs by at most 2^(d-1) ulps, and with
     * bound = b * 2^k, b in [0.5, 1), that is within bound for
     * d <= k - log2(ulp). The check below guards the estimate. */
    int k;
    frexp(bound, &k);
    int ulp_log2 = (exponent > 0 ? exponent : 1) - f.bias - m;
    int d = k - ulp_log2;
    if (d > m)
        d = m;

    uint8_t candidate[8];
    for (; d > 0; d--) {
        uint64_t half = UINT64_C(1) << (d - 1);
        uint64_t rounded = (magnitude + half) & ~((UINT64_C(1) << d) - 1);
        store_bits(candidate, size, 0, (v & sign) | rounded);
        double back = el_load_double(dt, candidate, 0);
        if (isfinite(back) && fabs(back - w) <= bound)
            return (v & sign) | rounded;
    }
    return v;
}

/* Appends the float-grid payload: the rounded elements through fields and
 * through bytegroup, whichever is smaller, after its mode byte. Bytegroup's
 * zstd stage wins where rows repeat, which rANS cannot see. */
static int grid_encode(el_dtype dt, const void *src, size_t count, double bound,
                       el_buf *out, el_error *err)
{
    size_t size = el_dtype_size(dt);
    uint8_t *rounded = malloc(count ? count * size : 1);
    if (rounded == NULL)
        return el_fail(err, "out of memory for %zu rounded elements", count);
    for (size_t i = 0; i < count; i++)
        store_bits(rounded, size, i, round_to_grid(dt, src, i, bound));

    el_codec_params exact = {0, 0.0};
    el_buf fields = {0};
    el_buf planes = {0};
    int rc = el_codec_fields.encode(dt, rounded, count, &exact, &fields, err);
    if (rc == 0)
        rc = el_codec_bytegroup.encode(dt, rounded, count, &exact, &planes, err);
    free(rounded);

    if (rc == 0 && planes.len < fields.len) {
        rc = el_buf_append_u8(out, MODE_GRID_PLANES, err);
        if (rc == 0)
            rc = el_buf_append(out, planes.data, planes.len, err);
    } else if (rc == 0) {
        rc = el_buf_append_u8(out, MODE_GRID, err);
        if (rc == 0)
            rc = el_buf_append(out, fields.data, fields.len, err);
    }
    el_buf_free(&fields);
    el_buf_free(&planes);
    return rc;
}

static int quant_encode(el_dtype dt, const void *src, size_t count,
                        const el_codec_params *params, el_buf *out, el_error *err)
{
    size_t bytes;
    if (el_tensor_bytes(dt, count, &bytes, err) != 0)
        return -1;
    if (quant_max_error(dt, params) < 0)
        return el_fail(err, "quant needs a float tensor and a finite bound above 0, got %s and %g",
                       el_dtype_name(dt), params->abs_bound);

    el_buf linear = {0};
    el_buf grid = {0};
    int rc = el_buf_append_u8(&linear, MODE_LINEAR, err);
    if (rc == 0)
        rc = linear_encode(dt, src, count, params->abs_bound, &linear, err);
    if (rc == 0)
        rc = grid_encode(dt, src, count, params->abs_bound, &grid, err);

    if (rc == 0) {
        const el_buf *best = grid.len < linear.len ? &grid : &linear;
        rc = el_buf_append(out, best->data, best->len, err);
    }
    el_buf_free(&linear);
    el_buf_free(&grid);
    return rc;
}

/* ---- decoding ---- */

/* Reads the symbols and extra bits and writes q * step to every element. */
static int decode_values(el_reader *r, el_dtype dt, double step, void *dst, size_t count,
                         el_error *err)
{
    uint8_t *symbols = malloc(count ? count : 1);
    if (symbols == NULL)
        return el_fail(err, "out of memory for %zu quantization symbols", count);
    if (el_entropy_decode(r, symbols, count, err) != 0) {
        free(symbols);
        return el_fail_context(err, "quantization symbols");
    }

    uint64_t total_bits = 0;
    for (size_t i = 0; i < count; i++) {
        uint8_t symbol = symbols[i];
        if (symbol > QUANT_MAX_SYMBOL) {
            free(symbols);
            return el_fail(err, "quantization symbol %zu is %u, above the largest %d",
                           i, symbol, QUANT_MAX_SYMBOL);
        }
        total_bits += (uint64_t)symbol_extra_bits(symbols[i]);
    }

    uint64_t extra_len;
    const uint8_t *extra = NULL;
    int rc = el_read_varint(r, &extra_len, err);
    if (rc == 0 && extra_len != (total_bits + 7) / 8)
        rc = el_fail(err, "extra bits take %llu bytes, but the symbols need %llu",
                     (unsigned long long)extra_len, (unsigned long long)(total_bits + 7) / 8);
    if (rc == 0)
        extra = el_read_span(r, (size_t)extra_len, err);
    if (extra == NULL)
        rc = -1;

    uint64_t acc = 0;
    int n = 0;
    size_t pos = 0;
    for (size_t i = 0; i < count && rc == 0; i++) {
        uint8_t symbol = symbols[i];
        uint64_t u = symbol;
        int nbits = symbol_extra_bits(symbol);
        if (nbits > 0) {
            while (n < nbits) {
                acc |= (uint64_t)extra[pos++] << n;
                n += 8;
            }
            u = (uint64_t)(symbol % 4 + 4) << nbits | (acc & ((UINT64_C(1) << nbits) - 1));
            acc >>= nbits;
            n -= nbits;
        }
        el_store_double(dt, dst, i, (double)unzigzag(u) * step);
    }
    free(symbols);
    return rc;
}

static int read_exception_index(el_reader *r, size_t n, size_t prev, size_t count,
                                 size_t *index, el_error *err)
{
    uint64_t delta;
    if (el_read_varint(r, &delta, err) != 0)
        return el_fail_context(err, "exception %zu index", n);
    if (n > 0 && delta == 0)
        return el_fail(err, "exception %zu repeats index %zu", n, prev);

    uint64_t base = n > 0 ? prev : 0;
    if (delta >= count - base)
        return el_fail(err, "exception %zu index %llu + %llu is out of range for %zu elements",
                       n, (unsigned long long)base, (unsigned long long)delta, count);
    *index = (size_t)(base + delta);
    return 0;
}

/* Decodes the exception list into indices and values; the caller writes
 * them over the decoded elements. */
static int read_exceptions(el_reader *r, size_t size, size_t count, size_t *k,
                           size_t **indices, uint8_t **values, el_error *err)
{
    uint64_t stored;
    *indices = NULL;
    *values = NULL;
    if (el_read_varint(r, &stored, err) != 0)
        return el_fail_context(err, "exception count");
    if (stored > count)
        return el_fail(err, "exception count %llu exceeds the %zu elements",
                       (unsigned long long)stored, count);
    *k = (size_t)stored;
    if (*k == 0)
        return 0;

    uint64_t deltas_len;
    if (el_read_varint(r, &deltas_len, err) != 0)
        return el_fail_context(err, "exception index length");
    if (deltas_len < *k || deltas_len > 10 * (uint64_t)*k)
        return el_fail(err, "%llu bytes of exception indices cannot hold %zu varints",
                       (unsigned long long)deltas_len, *k);

    uint8_t *deltas = malloc((size_t)deltas_len);
    *indices = malloc(*k * sizeof **indices);
    *values = malloc(*k * size);
    if (deltas == NULL || *indices == NULL || *values == NULL) {
        free(deltas);
        return el_fail(err, "out of memory for %zu exceptions", *k);
    }

    int rc = el_entropy_decode(r, deltas, (size_t)deltas_len, err);
    el_reader dr = {deltas, (size_t)deltas_len, 0};
    size_t index = 0;
    for (size_t n = 0; n < *k && rc == 0; n++) {
        rc = read_exception_index(&dr, n, index, count, &index, err);
        (*indices)[n] = index;
    }
    if (rc == 0 && dr.pos != dr.len)
        rc = el_fail(err, "exception indices leave %zu bytes unread", dr.len - dr.pos);
    if (rc == 0)
        rc = el_entropy_decode(r, *values, *k * size, err);
    free(deltas);
    return rc == 0 ? 0 : el_fail_context(err, "exception list");
}

static int quant_decode(el_dtype dt, const void *payload, size_t payload_len,
                        void *dst, size_t count, el_error *err)
{
    size_t bytes;
    if (el_tensor_bytes(dt, count, &bytes, err) != 0)
        return -1;
    if (!quant_supports(dt))
        return el_fail(err, "quant cannot decode %s tensors: use F64, F32, F16 or BF16",
                       el_dtype_name(dt));

    el_reader r = {payload, payload_len, 0};
    uint8_t mode;
    if (el_read_u8(&r, &mode, err) != 0)
        return el_fail_context(err, "quant header");
    if (mode == MODE_GRID || mode == MODE_GRID_PLANES) {
        const el_codec *inner = mode == MODE_GRID ? &el_codec_fields : &el_codec_bytegroup;
        if (inner->decode(dt, r.data + r.pos, r.len - r.pos, dst, count, err) != 0)
            return el_fail_context(err, "quant float-grid payload");
        return 0;
    }
    if (mode != MODE_LINEAR)
        return el_fail(err, "quant mode %u is invalid: expected 0, 1 or 2", mode);

    uint64_t step_bits;
    if (el_read_u64le(&r, &step_bits, err) != 0)
        return el_fail_context(err, "quant header");
    double step;
    memcpy(&step, &step_bits, sizeof step);
    if (!step_is_valid(step))
        return el_fail(err, "quantization step %g is invalid: it must be finite and above 0", step);

    size_t size = el_dtype_size(dt);
    size_t k = 0;
    size_t *indices;
    uint8_t *values;
    int rc = read_exceptions(&r, size, count, &k, &indices, &values, err);
    if (rc == 0)
        rc = decode_values(&r, dt, step, dst, count, err);
    if (rc == 0 && r.pos != payload_len)
        rc = el_fail(err, "quant payload has %zu bytes after its extra bits", payload_len - r.pos);
    for (size_t n = 0; n < k && rc == 0; n++)
        memcpy((uint8_t *)dst + indices[n] * size, values + n * size, size);

    free(indices);
    free(values);
    return rc == 0 ? 0 : el_fail_context(err, "quant payload");
}

const el_codec el_codec_quant = {
    .name = "quant",
    .summary = "error-bounded linear quantization with step 2E, rANS-coded integers",
    .lossless = 0,
    .supports = quant_supports,
    .max_error = quant_max_error,
    .encode = quant_encode,
    .decode = quant_decode,
};
