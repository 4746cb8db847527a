/* cast-bf16 and cast-fp16: F64 and F32 weights rounded to a 16-bit float,
 * to nearest even in one step (an F64 is not rounded through F32 first, which
 * could round twice). NaN stays NaN with its sign, infinities stay infinite,
 * and values beyond the target's range become infinite, an error the export
 * measures and rejects. Decoding widens back exactly.
 *
 * F16 inputs are not accepted: a cast to BF16 would keep the element size
 * and only drop 3 mantissa bits, while the lossless codecs already shrink
 * F16 tensors without any error.
 *
 * Payload: one zstd frame holding the low bytes of every 16-bit value, then
 * the high bytes. The high bytes carry the sign and most of the exponent,
 * take few values, and compress well apart from the low ones. */
#include "codec.h"
#include "zstd_frame.h"

#include <math.h>
#include <stdlib.h>

typedef struct cast_format {
    const char *name;
    el_dtype target; /* EL_BF16 or EL_F16 */
} cast_format;

static const cast_format format_bf16 = {"cast-bf16", EL_BF16};
static const cast_format format_fp16 = {"cast-fp16", EL_F16};

static int cast_supports(el_dtype dt)
{
    return dt == EL_F64 || dt == EL_F32;
}

static double cast_max_error(el_dtype dt, const el_codec_params *params)
{
    (void)params;
    return cast_supports(dt) ? INFINITY : -1.0;
}

static uint16_t narrow(const cast_format *f, el_dtype dt, const void *src, size_t i)
{
    double w = el_load_double(dt, src, i);
    if (dt == EL_F32)
        return f->target == EL_BF16 ? el_f32_to_bf16((float)w) : el_f32_to_f16((float)w);

    /* Sized for any dtype, although the target is always 16-bit. */
    uint8_t h[8] = {0};
    el_store_double(f->target, h, 0, w);
    return (uint16_t)(h[0] | h[1] << 8);
}

static int cast_encode(const cast_format *f, el_dtype dt, const void *src, size_t count,
                       const el_codec_params *params, el_buf *out, el_error *err)
{
    size_t bytes;
    if (el_tensor_bytes(dt, count, &bytes, err) != 0)
        return -1;
    if (!cast_supports(dt))
        return el_fail(err, "%s cannot encode %s tensors: use F64 or F32",
                       f->name, el_dtype_name(dt));

    /* count <= bytes / 4, so 2 * count cannot overflow. */
    uint8_t *planes = malloc(count ? 2 * count : 1);
    if (planes == NULL)
        return el_fail(err, "out of memory for %zu 16-bit values", count);

    for (size_t i = 0; i < count; i++) {
        uint16_t h = narrow(f, dt, src, i);
        planes[i] = (uint8_t)h;
        planes[count + i] = (uint8_t)(h >> 8);
    }

    int rc = el_zstd_append_frame(out, planes, 2 * count, params->zstd_level, err);
    free(planes);
    return rc;
}

static int cast_decode(const cast_format *f, el_dtype dt, const void *payload,
                       size_t payload_len, void *dst, size_t count, el_error *err)
{
    size_t bytes;
    if (el_tensor_bytes(dt, count, &bytes, err) != 0)
        return -1;
    if (!cast_supports(dt))
        return el_fail(err, "%s cannot decode %s tensors: use F64 or F32",
                       f->name, el_dtype_name(dt));

    uint8_t *planes = malloc(count ? 2 * count : 1);
    if (planes == NULL)
        return el_fail(err, "out of memory for %zu 16-bit values", count);

    int rc = el_zstd_decode_frame(payload, payload_len, planes, 2 * count, err);
    for (size_t i = 0; i < count && rc == 0; i++) {
        uint8_t h[8] = {planes[i], planes[count + i]}; /* sized for any dtype */
        el_store_double(dt, dst, i, el_load_double(f->target, h, 0));
    }
    free(planes);
    return rc == 0 ? 0 : el_fail_context(err, "%s payload", f->name);
}

static int cast_bf16_encode(el_dtype dt, const void *src, size_t count,
                            const el_codec_params *params, el_buf *out, el_error *err)
{
    return cast_encode(&format_bf16, dt, src, count, params, out, err);
}

static int cast_bf16_decode(el_dtype dt, const void *payload, size_t payload_len,
                            void *dst, size_t count, el_error *err)
{
    return cast_decode(&format_bf16, dt, payload, payload_len, dst, count, err);
}

static int cast_fp16_encode(el_dtype dt, const void *src, size_t count,
                            const el_codec_params *params, el_buf *out, el_error *err)
{
    return cast_encode(&format_fp16, dt, src, count, params, out, err);
}

static int cast_fp16_decode(el_dtype dt, const void *payload, size_t payload_len,
                            void *dst, size_t count, el_error *err)
{
    return cast_decode(&format_fp16, dt, payload, payload_len, dst, count, err);
}

const el_codec el_codec_cast_bf16 = {
    .name = "cast-bf16",
    .summary = "lossy: F32/F64 rounded to bfloat16 (8 bits of precision, F32's range)",
    .lossless = 0,
    .supports = cast_supports,
    .max_error = cast_max_error,
    .encode = cast_bf16_encode,
    .decode = cast_bf16_decode,
};

const el_codec el_codec_cast_fp16 = {
    .name = "cast-fp16",
    .summary = "lossy: F32/F64 rounded to float16 (11 bits of precision, |w| up to 65504)",
    .lossless = 0,
    .supports = cast_supports,
    .max_error = cast_max_error,
    .encode = cast_fp16_encode,
    .decode = cast_fp16_decode,
};
