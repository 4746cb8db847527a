/* delta: error-bounded arithmetic delta against the base. With E the
 * requested bound and step 2E, element w with base element b becomes the
 * integer q = round((w - b) / 2E) and decodes to b + q * 2E, computed in
 * double and then rounded to the dtype.
 *
 * The encoder decodes every element itself and checks |w - w'| <= E in the
 * original dtype after that rounding. An element that misses, NaN or Inf in
 * w or b, and |q| > 2^52 become exceptions: stored verbatim with their
 * indices, their q set to 0. So the bound holds for every element and
 * max_error is exactly E. A w of -0.0 can decode to +0.0, an error of 0,
 * so the sign of zero is not kept.
 *
 * The integers go zigzag-mapped through the bucket coder of delta.c,
 * which can model them by the base's exponent (useful when the fine-tune
 * moved weights in proportion to their size).
 *
 * Payload:
 *   varint element count
 *   u64le  the step 2E as IEEE double bits
 *   integer block of the zigzagged q values
 *   varint exception count K; when K > 0: varint byte length of the index
 *          deltas, entropy block of the index deltas (varints, the first is
 *          the index itself), entropy block of the K elements' bytes */
#include "delta.h"
#include "entropy.h"
#include "zstd_frame.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Encoder and decoder must round b + q * step identically, so no fused
 * multiply-add: reconstruct() keeps the product in its own statement, and
 * the pragma turns contraction off in clang. GCC does not know the pragma,
 * but under -std=c11 its default is -ffp-contract=off. */
#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

#define MAX_Q 0x1p52
/* Bits of the largest zigzagged q: |q| <= 2^52 gives values below 2^54. */
#define MAX_Q_BITS 54

static int arith_supports(el_dtype dt)
{
    return el_dtype_is_float(dt);
}

static int step_is_valid(double step)
{
    return isfinite(step) && step > 0;
}

static double arith_max_error(el_dtype dt, const el_codec_params *params)
{
    double bound = params->abs_bound;
    if (!arith_supports(dt) || !(bound > 0) || !step_is_valid(2.0 * bound))
        return -1.0;
    return bound;
}

static uint64_t zigzag(int64_t q)
{
    return q < 0 ? 2 * (uint64_t)(-(q + 1)) + 1 : 2 * (uint64_t)q;
}

static int64_t unzigzag(uint64_t u)
{
    return u & 1 ? -(int64_t)(u >> 1) - 1 : (int64_t)(u >> 1);
}

/* Writes b + q * step, rounded to dt, into element i of dst. */
static void reconstruct(el_dtype dt, double b, int64_t q, double step, void *dst, size_t i)
{
    double product = (double)q * step;
    el_store_double(dt, dst, i, b + product);
}

/* ---- encoding ---- */

/* Returns q for w against b, or 0 with *exception set when w must be
 * stored as it is. */
static int64_t quantize(el_dtype dt, double w, double b, double step, double bound,
                        int *exception)
{
    *exception = 1;
    if (!isfinite(w) || !isfinite(b))
        return 0;
    double q = nearbyint((w - b) / step);
    if (!(fabs(q) <= MAX_Q))
        return 0;

    uint8_t decoded[8];
    reconstruct(dt, b, (int64_t)q, step, decoded, 0);
    if (!(fabs(el_load_double(dt, decoded, 0) - w) <= bound))
        return 0;
    *exception = 0;
    return (int64_t)q;
}

typedef struct exceptions {
    el_buf deltas; /* index varints, each relative to the previous index */
    el_buf values; /* the elements' bytes */
    size_t count;
    size_t last_index;
} exceptions;

static int exception_add(exceptions *x, const uint8_t *src, size_t size, size_t i,
                         el_error *err)
{
    if (el_buf_append_varint(&x->deltas, x->count ? i - x->last_index : i, err) != 0)
        return -1;
    if (el_buf_append(&x->values, src + i * size, size, err) != 0)
        return -1;
    x->count++;
    x->last_index = i;
    return 0;
}

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

static int arith_encode(el_dtype dt, const void *src, const void *base, size_t count,
                        const el_codec_params *params, el_buf *out, el_error *err)
{
    size_t bytes;
    if (arith_max_error(dt, params) < 0)
        return el_fail(err, "delta needs a float tensor and a finite bound above 0, got %s and %g",
                       el_dtype_name(dt), params->abs_bound);
    if (el_tensor_bytes(dt, count, &bytes, err) != 0)
        return -1;
    if (count > SIZE_MAX / sizeof(uint64_t))
        return el_fail(err, "delta cannot hold the integers of %zu elements", count);

    uint64_t *values = malloc(count ? count * sizeof *values : 1);
    if (values == NULL)
        return el_fail(err, "out of memory for the integers of %zu elements", count);

    double bound = params->abs_bound;
    double step = 2.0 * bound;
    size_t size = el_dtype_size(dt);
    exceptions x = {0};
    int rc = 0;
    for (size_t i = 0; i < count && rc == 0; i++) {
        int exception;
        int64_t q = quantize(dt, el_load_double(dt, src, i), el_load_double(dt, base, i),
                             step, bound, &exception);
        if (exception)
            rc = exception_add(&x, src, size, i, err);
        values[i] = zigzag(q);
    }

    uint64_t step_bits;
    memcpy(&step_bits, &step, sizeof step_bits);
    if (rc == 0)
        rc = el_delta_put_count(count, out, err);
    if (rc == 0)
        rc = el_buf_append_u64le(out, step_bits, err);
    if (rc == 0)
        rc = el_delta_ints_encode(values, count, dt, base, out, err);
    if (rc == 0)
        rc = exceptions_write(&x, out, err);
    free(values);
    el_buf_free(&x.deltas);
    el_buf_free(&x.values);
    return rc;
}

/* ---- decoding ---- */

/* Reads the exception list and writes each stored element over dst. */
static int apply_exceptions(el_reader *r, size_t size, size_t count, uint8_t *dst,
                            el_error *err)
{
    uint64_t k;
    if (el_read_varint(r, &k, err) != 0)
        return el_fail_context(err, "exception count");
    if (k > count)
        return el_fail(err, "exception count %llu exceeds the %zu elements",
                       (unsigned long long)k, count);
    if (k == 0)
        return 0;

    uint64_t deltas_len;
    if (el_read_varint(r, &deltas_len, err) != 0)
        return el_fail_context(err, "exception index length");
    if (deltas_len < k || deltas_len > 10 * k)
        return el_fail(err, "%llu bytes of exception indices cannot hold %llu varints",
                       (unsigned long long)deltas_len, (unsigned long long)k);

    uint8_t *deltas = malloc((size_t)deltas_len);
    size_t *indices = malloc((size_t)k * sizeof *indices);
    uint8_t *values = malloc((size_t)k * size);
    int rc = 0;
    if (deltas == NULL || indices == NULL || values == NULL)
        rc = el_fail(err, "out of memory for %llu exceptions", (unsigned long long)k);
    if (rc == 0)
        rc = el_entropy_decode(r, deltas, (size_t)deltas_len, err);

    el_reader dr = {deltas, (size_t)deltas_len, 0};
    size_t index = 0;
    for (size_t n = 0; n < k && rc == 0; n++) {
        rc = el_read_index_delta(&dr, "exception", n, index, count, &index, err);
        indices[n] = index;
    }
    if (rc == 0 && dr.pos != dr.len)
        rc = el_fail(err, "exception indices leave %zu bytes unread", dr.len - dr.pos);
    if (rc == 0)
        rc = el_entropy_decode(r, values, (size_t)k * size, err);
    for (size_t n = 0; n < k && rc == 0; n++)
        memcpy(dst + indices[n] * size, values + n * size, size);

    free(deltas);
    free(indices);
    free(values);
    return rc == 0 ? 0 : el_fail_context(err, "exception list");
}

/* Reads the integer block and writes b + q * step to every element. */
static int decode_values(el_reader *r, el_dtype dt, const void *base, double step,
                         void *dst, size_t count, el_error *err)
{
    uint64_t *values = malloc(count ? count * sizeof *values : 1);
    if (values == NULL)
        return el_fail(err, "out of memory for the integers of %zu elements", count);
    int rc = el_delta_ints_decode(r, dt, base, MAX_Q_BITS, values, count, err);
    for (size_t i = 0; i < count && rc == 0; i++)
        reconstruct(dt, el_load_double(dt, base, i), unzigzag(values[i]), step, dst, i);
    free(values);
    return rc;
}

static int arith_decode(el_dtype dt, const void *payload, size_t payload_len,
                        const void *base, void *dst, size_t count, el_error *err)
{
    size_t bytes;
    if (!arith_supports(dt))
        return el_fail(err, "delta cannot decode %s tensors: use F64, F32, F16 or BF16",
                       el_dtype_name(dt));
    if (el_tensor_bytes(dt, count, &bytes, err) != 0)
        return -1;
    if (count > SIZE_MAX / sizeof(uint64_t))
        return el_fail(err, "delta cannot hold the integers of %zu elements", count);

    el_reader r = {payload, payload_len, 0};
    if (el_delta_check_count(&r, count, "delta", err) != 0)
        return -1;
    uint64_t step_bits;
    if (el_read_u64le(&r, &step_bits, err) != 0)
        return el_fail_context(err, "delta header");
    double step;
    memcpy(&step, &step_bits, sizeof step);
    if (!step_is_valid(step))
        return el_fail(err, "delta step %g is invalid: it must be finite and above 0", step);

    if (decode_values(&r, dt, base, step, dst, count, err) != 0)
        return el_fail_context(err, "delta payload");
    if (apply_exceptions(&r, el_dtype_size(dt), count, dst, err) != 0)
        return el_fail_context(err, "delta payload");
    if (r.pos != payload_len)
        return el_fail(err, "delta payload has %zu bytes after its exception list",
                       payload_len - r.pos);
    return 0;
}

const el_delta_codec el_delta_codec_arith = {
    .name = "delta",
    .summary = "error-bounded: q = round((w - b) / 2E) against the base, rANS-coded integers",
    .lossless = 0,
    .supports = arith_supports,
    .max_error = arith_max_error,
    .encode = arith_encode,
    .decode = arith_decode,
};
