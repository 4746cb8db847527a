/* Field split: the sign, exponent and mantissa bits of every float go to
 * separate byte streams, each entropy-coded with rANS, instead of the byte
 * planes that bytegroup uses. The exponent is coded on its own, so its few
 * common values cost about 2-3 bits in every dtype (measured on the bundled
 * real models). Every mantissa stream uses the exponent as its context,
 * because within one binade the leading mantissa bits of bell-shaped
 * weights are not uniform.
 * The lower mantissa bits are close to uniform and mostly end up stored.
 * Lossless for every bit pattern, NaN payloads included.
 *
 * With E exponent bits and M mantissa bits, the streams in payload order:
 *   H  exponent >> 8, order-0 (F64 only: E = 11)
 *   X  exponent & 0xff, context H
 *   T  the top min(M, 8) mantissa bits, context X; when M < 8 (BF16) the
 *      sign sits above them
 *   B  each further whole byte of the mantissa, high to low, context X
 *   S  sign << r | the r lowest mantissa bits, r = (M - 8) % 8, context X
 *      (M >= 8 only)
 * Each stream is one self-delimiting entropy block; nothing else is stored.
 * For BF16: X, T. F16: X, T, S (r = 2). F32: X, T, one B, S (r = 7).
 * F64: H, X, T, five B, S (r = 4). */
#include "codec.h"
#include "always_inline.h"
#include "entropy.h"
#include "zstd_frame.h"

#include <stdlib.h>

/* Most streams of any dtype: H, X, T, five B, S for F64. */
#define FIELDS_MAX_STREAMS 9

/* Bit layout of one dtype: where each stream takes its bits from. */
typedef struct field_layout {
    int mantissa_bits;
    int exponent_bits;
    int top_bits;   /* mantissa bits in T */
    int whole_bytes; /* B streams */
    int low_bits;   /* mantissa bits in S */
} field_layout;

static int fields_supports(el_dtype dt)
{
    return el_dtype_is_float(dt);
}

static double fields_max_error(el_dtype dt, const el_codec_params *params)
{
    (void)params;
    return fields_supports(dt) ? 0.0 : -1.0;
}

static field_layout layout_of(el_dtype dt)
{
    el_float_layout f = el_dtype_float_layout(dt);
    field_layout l = {0};
    l.mantissa_bits = f.mantissa_bits;
    l.exponent_bits = f.exponent_bits;
    l.top_bits = f.mantissa_bits < 8 ? f.mantissa_bits : 8;
    int rest = f.mantissa_bits - l.top_bits;
    l.whole_bytes = rest / 8;
    l.low_bits = rest % 8;
    return l;
}

static int stream_count(const field_layout *l)
{
    int has_high = l->exponent_bits > 8;
    int has_sign_stream = l->mantissa_bits >= 8;
    return has_high + 2 + l->whole_bytes + has_sign_stream;
}


static EL_ALWAYS_INLINE uint64_t load_bits(const uint8_t *src, size_t size, size_t i)
{
    uint64_t v = 0;
    for (size_t k = 0; k < size; k++)
        v |= (uint64_t)src[i * size + k] << (8 * k);
    return v;
}

static EL_ALWAYS_INLINE void store_bits(uint8_t *dst, size_t size, size_t i, uint64_t v)
{
    for (size_t k = 0; k < size; k++)
        dst[i * size + k] = (uint8_t)(v >> (8 * k));
}

/* The loops of split_fields and join_fields. They are inlined with
 * constant layouts for the common dtypes, so that the compiler turns the
 * byte loops and shifts into a few instructions per element. With the
 * layout read at run time they took a third of the codec's time. */
static EL_ALWAYS_INLINE void split_loop(const field_layout l, const uint8_t *src, size_t count,
                                     size_t size, uint8_t **streams)
{
    const int m = l.mantissa_bits;
    const int has_high = l.exponent_bits > 8;
    const int has_sign_stream = m >= 8;
    const int rest = m - l.top_bits;

    for (size_t i = 0; i < count; i++) {
        uint64_t v = load_bits(src, size, i);
        uint64_t mantissa = v & ((UINT64_C(1) << m) - 1);
        unsigned exponent = (unsigned)(v >> m) & ((1u << l.exponent_bits) - 1);
        unsigned sign = (unsigned)(v >> (m + l.exponent_bits)) & 1;
        int j = 0;

        if (has_high)
            streams[j++][i] = (uint8_t)(exponent >> 8);
        streams[j++][i] = (uint8_t)exponent;
        if (has_sign_stream)
            streams[j++][i] = (uint8_t)(mantissa >> rest);
        else
            streams[j++][i] = (uint8_t)(sign << m | mantissa);
        for (int b = 0; b < l.whole_bytes; b++)
            streams[j++][i] = (uint8_t)(mantissa >> (l.low_bits + 8 * (l.whole_bytes - 1 - b)));
        if (has_sign_stream)
            streams[j++][i] = (uint8_t)(sign << l.low_bits | (mantissa & ((1u << l.low_bits) - 1)));
    }
}

static EL_ALWAYS_INLINE void join_loop(const field_layout l, uint8_t *const *streams, size_t count,
                                    size_t size, uint8_t *dst)
{
    const int m = l.mantissa_bits;
    const int has_high = l.exponent_bits > 8;
    const int has_sign_stream = m >= 8;

    for (size_t i = 0; i < count; i++) {
        int j = 0;
        uint64_t exponent = 0;
        if (has_high)
            exponent = (uint64_t)streams[j++][i] << 8;
        exponent |= streams[j++][i];

        uint64_t mantissa;
        uint64_t sign;
        if (has_sign_stream) {
            mantissa = streams[j++][i];
            for (int b = 0; b < l.whole_bytes; b++)
                mantissa = mantissa << 8 | streams[j++][i];
            uint8_t last = streams[j++][i];
            mantissa = mantissa << l.low_bits | (last & ((1u << l.low_bits) - 1));
            sign = last >> l.low_bits;
        } else {
            mantissa = streams[j][i] & ((1u << m) - 1);
            sign = streams[j][i] >> m;
        }
        store_bits(dst, size, i, sign << (m + l.exponent_bits) | exponent << m | mantissa);
    }
}

/* Layouts of F32, F16 and BF16 as constants (see layout_of). */
static const field_layout LAYOUT_F32 = { 23, 8, 8, 1, 7 };
static const field_layout LAYOUT_F16 = { 10, 5, 8, 0, 2 };
static const field_layout LAYOUT_BF16 = { 7, 8, 7, 0, 0 };

static int same_layout(const field_layout *a, const field_layout *b)
{
    return a->mantissa_bits == b->mantissa_bits && a->exponent_bits == b->exponent_bits
        && a->top_bits == b->top_bits && a->whole_bytes == b->whole_bytes
        && a->low_bits == b->low_bits;
}

/* Splits the elements into the streams in payload order, each stream
 * holding count bytes, and returns the stream count. */
static int split_fields(const field_layout *l, const uint8_t *src, size_t count,
                        size_t size, uint8_t **streams)
{
    if (size == 4 && same_layout(l, &LAYOUT_F32))
        split_loop(LAYOUT_F32, src, count, 4, streams);
    else if (size == 2 && same_layout(l, &LAYOUT_F16))
        split_loop(LAYOUT_F16, src, count, 2, streams);
    else if (size == 2 && same_layout(l, &LAYOUT_BF16))
        split_loop(LAYOUT_BF16, src, count, 2, streams);
    else
        split_loop(*l, src, count, size, streams);
    return stream_count(l);
}

static void join_fields(const field_layout *l, uint8_t *const *streams, size_t count,
                        size_t size, uint8_t *dst)
{
    if (size == 4 && same_layout(l, &LAYOUT_F32))
        join_loop(LAYOUT_F32, streams, count, 4, dst);
    else if (size == 2 && same_layout(l, &LAYOUT_F16))
        join_loop(LAYOUT_F16, streams, count, 2, dst);
    else if (size == 2 && same_layout(l, &LAYOUT_BF16))
        join_loop(LAYOUT_BF16, streams, count, 2, dst);
    else
        join_loop(*l, streams, count, size, dst);
}

/* Context of stream j and its count: X takes H; T, B and S take X, since
 * which mantissa bits carry information depends on the binade. */
static const uint8_t *stream_context(const field_layout *l, uint8_t *const *streams, int j,
                                     unsigned *nctx)
{
    int has_high = l->exponent_bits > 8;
    int exponent_stream = has_high;
    *nctx = 1;
    if (has_high && j == exponent_stream) {
        *nctx = 1u << (l->exponent_bits - 8);
        return streams[0];
    }
    if (j > exponent_stream) {
        *nctx = 256;
        return streams[exponent_stream];
    }
    return NULL;
}

static int alloc_streams(uint8_t **streams, size_t count, el_error *err)
{
    for (int j = 0; j < FIELDS_MAX_STREAMS; j++)
        streams[j] = NULL;
    uint8_t *block = malloc(count ? FIELDS_MAX_STREAMS * count : 1);
    if (block == NULL)
        return el_fail(err, "out of memory for %d field streams of %zu bytes",
                       FIELDS_MAX_STREAMS, count);
    for (int j = 0; j < FIELDS_MAX_STREAMS; j++)
        streams[j] = block + (size_t)j * count;
    return 0;
}

static int fields_encode(el_dtype dt, const void *src, size_t count,
                         const el_codec_params *params, el_buf *out, el_error *err)
{
    (void)params;
    size_t bytes;
    if (el_tensor_bytes(dt, count, &bytes, err) != 0)
        return -1;
    if (!fields_supports(dt))
        return el_fail(err, "fields cannot encode %s tensors: use F64, F32, F16 or BF16",
                       el_dtype_name(dt));

    field_layout l = layout_of(dt);
    uint8_t *streams[FIELDS_MAX_STREAMS];
    if (alloc_streams(streams, count, err) != 0)
        return -1;

    int nstreams = split_fields(&l, src, count, el_dtype_size(dt), streams);
    int rc = 0;
    for (int j = 0; j < nstreams && rc == 0; j++) {
        unsigned nctx;
        const uint8_t *ctx = stream_context(&l, streams, j, &nctx);
        rc = el_entropy_encode_ctx(streams[j], ctx, count, nctx, out, err);
    }
    free(streams[0]);
    return rc;
}

static int fields_decode(el_dtype dt, const void *payload, size_t payload_len,
                         void *dst, size_t count, el_error *err)
{
    size_t bytes;
    if (el_tensor_bytes(dt, count, &bytes, err) != 0)
        return -1;
    if (!fields_supports(dt))
        return el_fail(err, "fields cannot decode %s tensors: use F64, F32, F16 or BF16",
                       el_dtype_name(dt));

    field_layout l = layout_of(dt);
    uint8_t *streams[FIELDS_MAX_STREAMS];
    if (alloc_streams(streams, count, err) != 0)
        return -1;

    int nstreams = stream_count(&l);
    el_reader r = {payload, payload_len, 0};
    int rc = 0;
    for (int j = 0; j < nstreams && rc == 0; j++) {
        unsigned nctx;
        const uint8_t *ctx = stream_context(&l, streams, j, &nctx);
        rc = el_entropy_decode_ctx(&r, ctx, streams[j], count, nctx, err);
        if (rc != 0)
            el_fail_context(err, "fields stream %d of %d", j + 1, nstreams);
    }
    if (rc == 0 && r.pos != payload_len)
        rc = el_fail(err, "fields payload has %zu bytes after its last stream",
                     payload_len - r.pos);
    if (rc == 0)
        join_fields(&l, streams, count, el_dtype_size(dt), dst);
    free(streams[0]);
    return rc;
}

const el_codec el_codec_fields = {
    .name = "fields",
    .summary = "lossless: exponent, top mantissa and low mantissa fields, rANS-coded",
    .lossless = 1,
    .supports = fields_supports,
    .max_error = fields_max_error,
    .encode = fields_encode,
    .decode = fields_decode,
};
