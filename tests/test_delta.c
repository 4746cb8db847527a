#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <float.h>
#include <stdlib.h>
#include <string.h>

#include "../codecs/delta.h"
#include "../codecs/measure.h"
#include "float_fill.h"
#include "testutil.h"

static const el_dtype float_dtypes[] = {EL_F64, EL_F32, EL_F16, EL_BF16};
static const el_dtype integer_dtypes[] = {EL_I64, EL_I32, EL_I16, EL_I8, EL_U64,
                                          EL_U32, EL_U16, EL_U8,  EL_BOOL};
static const size_t sizes[] = {0, 1, 3, 257, 4096};
static const double bounds[] = {0x1p-24, 1e-5, 1e-4, 1e-3};

#define MAX_COUNT 4096

/* How a fine-tune differs from its base in the generated pairs. */
typedef enum variant {
    VARIANT_IDENTICAL,
    VARIANT_NOISE,     /* about 1% relative noise on every element */
    VARIANT_DIFFERENT, /* an unrelated tensor */
    VARIANT_COUNT
} variant;

static uint64_t get_bits(el_dtype dt, const uint8_t *src, size_t i)
{
    size_t size = el_dtype_size(dt);
    uint64_t v = 0;
    for (size_t k = 0; k < size; k++)
        v |= (uint64_t)src[i * size + k] << (8 * k);
    return v;
}

static void fill_integers(el_dtype dt, size_t n, uint64_t seed, uint8_t *out)
{
    uint64_t state = seed * 0x9E3779B97F4A7C15ULL + 1;
    for (size_t i = 0; i < n; i++) {
        uint64_t v = test_rand(&state);
        if (dt == EL_BOOL)
            v &= 1;
        else if (test_rand(&state) % 2)
            v = (uint64_t)(int64_t)(test_normal(&state, 100.0));
        put_bits(dt, out, i, v);
    }
}

static void fill_base(el_dtype dt, size_t n, uint64_t seed, uint8_t *out)
{
    if (el_dtype_is_float(dt))
        fill_tensor(dt, n, seed, out);
    else
        fill_integers(dt, n, seed, out);
}

/* Derives a fine-tune of base. Noise keeps the specials of the base: only
 * finite values move, so NaN, Inf and -0.0 also appear in both tensors at
 * the same index. */
static void fill_tuned(el_dtype dt, variant v, const uint8_t *base, size_t n, uint64_t seed,
                       uint8_t *out)
{
    size_t size = el_dtype_size(dt);
    uint64_t state = seed + 77;
    if (v == VARIANT_DIFFERENT) {
        fill_base(dt, n, seed + 1000, out);
        return;
    }
    memcpy(out, base, n * size);
    if (v == VARIANT_IDENTICAL)
        return;
    for (size_t i = 0; i < n; i++) {
        if (!el_dtype_is_float(dt)) {
            uint64_t change = test_rand(&state) % 5;
            put_bits(dt, out, i, get_bits(dt, base, i) + change - 2);
            continue;
        }
        double w = el_load_double(dt, base, i);
        if (isfinite(w) && w != 0.0)
            el_store_double(dt, out, i, w * (1.0 + test_normal(&state, 0.01)));
    }
}

static el_buf encode_or_fail(const el_delta_codec *codec, el_dtype dt, const uint8_t *src,
                             const uint8_t *base, size_t n, double bound)
{
    el_codec_params params = {0, bound};
    el_buf payload = {0};
    el_error err = {{0}};
    if (codec->encode(dt, src, base, n, &params, &payload, &err) != 0)
        fail_msg("%s encode of %zu %s failed: %s", codec->name, n, el_dtype_name(dt), err.msg);
    return payload;
}

static uint8_t *decode_or_fail(const el_delta_codec *codec, el_dtype dt, const el_buf *payload,
                               const uint8_t *base, size_t n)
{
    el_error err = {{0}};
    uint8_t *back = malloc(n * el_dtype_size(dt) + 1);
    assert_non_null(back);
    if (codec->decode(dt, payload->data, payload->len, base, back, n, &err) != 0)
        fail_msg("%s decode of %zu %s failed: %s", codec->name, n, el_dtype_name(dt), err.msg);
    return back;
}

/* Checks every element: NaN and Inf come back bit for bit, the rest
 * within bound. */
static void assert_each_within(el_dtype dt, const uint8_t *original, const uint8_t *decoded,
                               size_t n, double bound)
{
    for (size_t i = 0; i < n; i++) {
        double w = el_load_double(dt, original, i);
        double back = el_load_double(dt, decoded, i);
        if (!isfinite(w)) {
            if (get_bits(dt, original, i) != get_bits(dt, decoded, i))
                fail_msg("%s element %zu: non-finite bits 0x%llx came back as 0x%llx",
                         el_dtype_name(dt), i, (unsigned long long)get_bits(dt, original, i),
                         (unsigned long long)get_bits(dt, decoded, i));
            continue;
        }
        if (!(fabs(back - w) <= bound))
            fail_msg("%s element %zu: %.17g decoded as %.17g, error above %g",
                     el_dtype_name(dt), i, w, back, bound);
    }
}

/* Runs fn on every dtype in the list, size and variant with fresh data. */
typedef void (*pair_check)(el_dtype dt, variant v, const uint8_t *src, const uint8_t *base,
                           size_t n);

static void for_each_pair(const el_dtype *dtypes, size_t ndtypes, pair_check fn)
{
    uint8_t *base = malloc(MAX_COUNT * 8);
    uint8_t *src = malloc(MAX_COUNT * 8);
    assert_non_null(base);
    assert_non_null(src);
    for (size_t d = 0; d < ndtypes; d++) {
        for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
            for (int v = 0; v < VARIANT_COUNT; v++) {
                uint64_t seed = 1000 * d + 10 * k + (uint64_t)v;
                fill_base(dtypes[d], sizes[k], seed, base);
                fill_tuned(dtypes[d], (variant)v, base, sizes[k], seed, src);
                fn(dtypes[d], (variant)v, src, base, sizes[k]);
            }
        }
    }
    free(base);
    free(src);
}

/* ---- lookup ---- */

static void delta_find_by_name(void **state)
{
    const el_delta_codec *xor_codec = el_delta_codec_find("xor-delta");
    const el_delta_codec *arith = el_delta_codec_find("delta");
    assert_non_null(xor_codec);
    assert_non_null(arith);
    assert_string_equal(xor_codec->name, "xor-delta");
    assert_string_equal(arith->name, "delta");
    assert_true(xor_codec->lossless);
    assert_false(arith->lossless);
    assert_null(el_delta_codec_find("xor"));
    assert_null(el_delta_codec_find(""));
}

static void delta_table_ends_with_null(void **state)
{
    size_t n = 0;
    while (el_delta_codecs[n] != NULL)
        n++;
    assert_int_equal(n, 2);
}

/* ---- xor-delta ---- */

static const el_delta_codec *xor_codec(void)
{
    return el_delta_codec_find("xor-delta");
}

static void check_bit_exact(el_dtype dt, variant v, const uint8_t *src, const uint8_t *base,
                            size_t n)
{
    (void)v;
    el_buf payload = encode_or_fail(xor_codec(), dt, src, base, n, 0.0);
    uint8_t *back = decode_or_fail(xor_codec(), dt, &payload, base, n);
    if (n > 0)
        assert_memory_equal(back, src, n * el_dtype_size(dt));
    free(back);
    el_buf_free(&payload);
}

static void xor_bit_exact_floats(void **state)
{
    for_each_pair(float_dtypes, 4, check_bit_exact);
}

static void xor_bit_exact_integers(void **state)
{
    for_each_pair(integer_dtypes, sizeof integer_dtypes / sizeof integer_dtypes[0],
                  check_bit_exact);
}

static void xor_bit_exact_f8(void **state)
{
    static const el_dtype f8[] = {EL_F8_E4M3, EL_F8_E5M2};
    for_each_pair(f8, 2, check_bit_exact);
}

static void xor_identical_is_tiny(void **state)
{
    for (size_t d = 0; d < 4; d++) {
        el_dtype dt = float_dtypes[d];
        uint8_t *base = malloc(MAX_COUNT * 8);
        assert_non_null(base);
        fill_base(dt, MAX_COUNT, d, base);
        el_buf payload = encode_or_fail(xor_codec(), dt, base, base, MAX_COUNT, 0.0);
        assert_true(payload.len <= 8);
        uint8_t *back = decode_or_fail(xor_codec(), dt, &payload, base, MAX_COUNT);
        assert_memory_equal(back, base, MAX_COUNT * el_dtype_size(dt));
        free(back);
        free(base);
        el_buf_free(&payload);
    }
}

/* One changed element among many identical ones adds a few bytes. */
static void xor_one_change_is_small(void **state)
{
    size_t n = MAX_COUNT;
    float *base = malloc(n * sizeof *base);
    float *src = malloc(n * sizeof *src);
    assert_non_null(base);
    assert_non_null(src);
    uint64_t s = 3;
    for (size_t i = 0; i < n; i++)
        base[i] = src[i] = (float)test_normal(&s, 0.05);
    src[1234] = -src[1234];
    el_buf payload = encode_or_fail(xor_codec(), EL_F32, (uint8_t *)src, (uint8_t *)base, n, 0);
    assert_true(payload.len < 48);
    uint8_t *back = decode_or_fail(xor_codec(), EL_F32, &payload, (uint8_t *)base, n);
    assert_memory_equal(back, src, n * sizeof *src);
    free(back);
    free(base);
    free(src);
    el_buf_free(&payload);
}

/* Weights moved by 3% of their spread, as in a full fine-tune. An estimate
 * of the limit for Gaussian changes, log2 of the change in ulps plus 2.05,
 * gives about 21 bits per element, so 23 leaves room for model overhead. */
static void xor_small_changes_compress(void **state)
{
    size_t n = 65536;
    float *base = malloc(n * sizeof *base);
    float *src = malloc(n * sizeof *src);
    assert_non_null(base);
    assert_non_null(src);
    uint64_t s = 11;
    for (size_t i = 0; i < n; i++) {
        base[i] = (float)test_normal(&s, 0.1);
        src[i] = base[i] + (float)test_normal(&s, 0.003);
    }
    el_buf payload = encode_or_fail(xor_codec(), EL_F32, (uint8_t *)src, (uint8_t *)base, n, 0);
    double bits = 8.0 * (double)payload.len / (double)n;
    assert_true(bits < 23.0);
    uint8_t *back = decode_or_fail(xor_codec(), EL_F32, &payload, (uint8_t *)base, n);
    assert_memory_equal(back, src, n * sizeof *src);
    free(back);
    free(base);
    free(src);
    el_buf_free(&payload);
}

/* NaN payloads, infinities, -0.0 and subnormals on both sides of the pair
 * and swapped with each other. */
static void xor_specials_against_specials(void **state)
{
    for (size_t d = 0; d < 4; d++) {
        el_dtype dt = float_dtypes[d];
        el_float_layout f = el_dtype_float_layout(dt);
        double tiny = ldexp(1.0, 1 - f.bias - f.mantissa_bits);
        uint8_t values[10 * 8];
        for (size_t i = 0; i < 3; i++)
            put_bits(dt, values, i, nan_patterns[nan_row(dt)][i]);
        el_store_double(dt, values, 3, INFINITY);
        el_store_double(dt, values, 4, -INFINITY);
        el_store_double(dt, values, 5, -0.0);
        el_store_double(dt, values, 6, 0.0);
        el_store_double(dt, values, 7, tiny);
        el_store_double(dt, values, 8, -3 * tiny);
        el_store_double(dt, values, 9, 1234.5);

        size_t size = el_dtype_size(dt);
        uint8_t base[100 * 8];
        uint8_t src[100 * 8];
        for (size_t i = 0; i < 10; i++) {
            for (size_t j = 0; j < 10; j++) {
                memcpy(base + (10 * i + j) * size, values + i * size, size);
                memcpy(src + (10 * i + j) * size, values + j * size, size);
            }
        }
        el_buf payload = encode_or_fail(xor_codec(), dt, src, base, 100, 0.0);
        uint8_t *back = decode_or_fail(xor_codec(), dt, &payload, base, 100);
        assert_memory_equal(back, src, 100 * size);
        free(back);
        el_buf_free(&payload);
    }
}

/* The payload picks its symbol model per tensor, stored in byte 4 here
 * after a 3-byte count and the transform. Integers get one table. Floats
 * whose binades change differently get a table per base exponent, and
 * floats that all moved by about the same amount get the rotated table. */
static void xor_symbol_models_round_trip(void **state)
{
    /* Small enough that on the case built for the rotated table, a table
     * per base exponent costs more than it saves. */
    size_t n = 32768;
    uint8_t *base = malloc(n * 4);
    uint8_t *src = malloc(n * 4);
    assert_non_null(base);
    assert_non_null(src);
    static const struct {
        el_dtype dt;
        int model;
    } cases[] = {{EL_I32, 0}, {EL_F32, 1}, {EL_F32, 2}};

    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        uint64_t s = 21 + c;
        for (size_t i = 0; i < n; i++) {
            if (cases[c].dt == EL_I32) {
                int32_t v = (int32_t)test_normal(&s, 1000.0);
                int32_t moved = v + (int32_t)(test_rand(&s) % 7) - 3;
                memcpy(base + 4 * i, &v, 4);
                memcpy(src + 4 * i, &moved, 4);
            } else if (cases[c].model == 1) {
                /* Weights near 1.5 move, weights near 0.001 stay. */
                float v = i % 2 ? 1.5f + (float)test_normal(&s, 0.1) : 0.001f;
                float moved = i % 2 ? v + (float)test_normal(&s, 0.01) : v;
                memcpy(base + 4 * i, &v, 4);
                memcpy(src + 4 * i, &moved, 4);
            } else {
                float v = (float)test_normal(&s, 0.1);
                float moved = v + (float)test_normal(&s, 0.003);
                memcpy(base + 4 * i, &v, 4);
                memcpy(src + 4 * i, &moved, 4);
            }
        }
        el_buf payload = encode_or_fail(xor_codec(), cases[c].dt, src, base, n, 0.0);
        assert_int_equal(payload.data[4], cases[c].model);
        uint8_t *back = decode_or_fail(xor_codec(), cases[c].dt, &payload, base, n);
        assert_memory_equal(back, src, n * 4);
        free(back);
        el_buf_free(&payload);
    }
    free(base);
    free(src);
}

static void xor_max_error_is_zero(void **state)
{
    el_codec_params p = {0, 1e-3};
    assert_true(xor_codec()->max_error(EL_F32, &p) == 0.0);
    assert_true(xor_codec()->max_error(EL_I8, &p) == 0.0);
    assert_true(xor_codec()->supports(EL_BF16));
    assert_true(xor_codec()->supports(EL_U64));
}

/* ---- delta ---- */

static const el_delta_codec *arith_codec(void)
{
    return el_delta_codec_find("delta");
}

static void check_bound(el_dtype dt, variant v, const uint8_t *src, const uint8_t *base,
                        size_t n)
{
    (void)v;
    for (size_t b = 0; b < sizeof bounds / sizeof bounds[0]; b++) {
        el_buf payload = encode_or_fail(arith_codec(), dt, src, base, n, bounds[b]);
        uint8_t *back = decode_or_fail(arith_codec(), dt, &payload, base, n);
        assert_each_within(dt, src, back, n, bounds[b]);
        assert_true(el_max_abs_error(dt, src, back, n) <= bounds[b]);
        free(back);
        el_buf_free(&payload);
    }
}

static void delta_bound_every_element(void **state)
{
    for_each_pair(float_dtypes, 4, check_bound);
}

/* NaN and Inf in the base but not in the fine-tune, and the reverse, are
 * exceptions and come back exactly. */
static void delta_non_finite_base(void **state)
{
    float base[6] = {NAN, INFINITY, -INFINITY, 0.5f, 0.25f, -1.0f};
    float src[6] = {0.125f, 0.5f, -2.0f, NAN, INFINITY, -INFINITY};
    el_buf payload = encode_or_fail(arith_codec(), EL_F32, (uint8_t *)src, (uint8_t *)base, 6,
                                    1e-3);
    uint8_t *back = decode_or_fail(arith_codec(), EL_F32, &payload, (uint8_t *)base, 6);
    assert_memory_equal(back, src, sizeof src);
    free(back);
    el_buf_free(&payload);
}

static void delta_identical_is_tiny(void **state)
{
    uint8_t *base = malloc(MAX_COUNT * 4);
    assert_non_null(base);
    uint64_t s = 9;
    for (size_t i = 0; i < MAX_COUNT; i++)
        el_store_double(EL_F32, base, i, test_normal(&s, 0.05));
    el_buf payload = encode_or_fail(arith_codec(), EL_F32, base, base, MAX_COUNT, 1e-4);
    assert_true(payload.len < 24);
    uint8_t *back = decode_or_fail(arith_codec(), EL_F32, &payload, base, MAX_COUNT);
    assert_each_within(EL_F32, base, back, MAX_COUNT, 1e-4);
    free(back);
    free(base);
    el_buf_free(&payload);
}

static void delta_max_error_rules(void **state)
{
    el_codec_params p = {0, 1e-4};
    assert_true(arith_codec()->max_error(EL_F32, &p) == 1e-4);
    assert_true(arith_codec()->max_error(EL_BF16, &p) == 1e-4);
    assert_true(arith_codec()->max_error(EL_I32, &p) < 0);
    p.abs_bound = 0.0;
    assert_true(arith_codec()->max_error(EL_F32, &p) < 0);
    p.abs_bound = -1e-3;
    assert_true(arith_codec()->max_error(EL_F32, &p) < 0);
    p.abs_bound = INFINITY;
    assert_true(arith_codec()->max_error(EL_F32, &p) < 0);
    p.abs_bound = DBL_MAX;
    assert_true(arith_codec()->max_error(EL_F32, &p) < 0);
    assert_false(arith_codec()->supports(EL_I8));
}

static void delta_rejects_invalid_bound(void **state)
{
    float data[2] = {1.0f, 2.0f};
    el_codec_params p = {0, 0.0};
    el_buf payload = {0};
    el_error err = {{0}};
    assert_int_equal(arith_codec()->encode(EL_F32, data, data, 2, &p, &payload, &err), -1);
    assert_non_null(strstr(err.msg, "bound"));
    assert_int_equal(arith_codec()->encode(EL_I32, data, data, 2, &p, &payload, &err), -1);
    el_buf_free(&payload);
}

/* ---- malformed input ---- */

/* A payload of each codec on 257 noisy F32 elements with specials. */
static el_buf sample_payload(const el_delta_codec *codec, uint8_t *src, uint8_t *base)
{
    fill_base(EL_F32, 257, 5, base);
    fill_tuned(EL_F32, VARIANT_NOISE, base, 257, 5, src);
    return encode_or_fail(codec, EL_F32, src, base, 257, codec->lossless ? 0.0 : 1e-4);
}

static const el_delta_codec *codec_at(size_t i)
{
    return el_delta_codecs[i];
}

static void delta_truncated_fails(void **state)
{
    uint8_t base[257 * 4], src[257 * 4], back[257 * 4];
    for (size_t c = 0; codec_at(c) != NULL; c++) {
        const el_delta_codec *codec = codec_at(c);
        el_buf payload = sample_payload(codec, src, base);
        for (size_t len = 0; len < payload.len; len++) {
            el_error err = {{0}};
            uint8_t *copy = malloc(len ? len : 1);
            assert_non_null(copy);
            memcpy(copy, payload.data, len);
            if (codec->decode(EL_F32, copy, len, base, back, 257, &err) != -1)
                fail_msg("%s decoded a payload cut to %zu of %zu bytes", codec->name, len,
                         payload.len);
            assert_true(err.msg[0] != '\0');
            free(copy);
        }
        el_buf_free(&payload);
    }
}

static void delta_trailing_bytes_fail(void **state)
{
    uint8_t base[257 * 4], src[257 * 4], back[257 * 4];
    for (size_t c = 0; codec_at(c) != NULL; c++) {
        const el_delta_codec *codec = codec_at(c);
        el_buf payload = sample_payload(codec, src, base);
        el_error err = {{0}};
        assert_int_equal(el_buf_append_u8(&payload, 0, &err), 0);
        assert_int_equal(codec->decode(EL_F32, payload.data, payload.len, base, back, 257, &err),
                         -1);
        el_buf_free(&payload);
    }
}

/* Every single-byte change either fails or decodes to something; the
 * sanitizer build catches any read or write out of bounds. */
static void delta_corrupted_fails_cleanly(void **state)
{
    uint8_t base[257 * 4], src[257 * 4], back[257 * 4];
    static const uint8_t flips[] = {0x01, 0x80, 0xff};
    for (size_t c = 0; codec_at(c) != NULL; c++) {
        const el_delta_codec *codec = codec_at(c);
        el_buf payload = sample_payload(codec, src, base);
        for (size_t i = 0; i < payload.len; i++) {
            for (size_t f = 0; f < sizeof flips; f++) {
                el_error err = {{0}};
                uint8_t *copy = malloc(payload.len);
                assert_non_null(copy);
                memcpy(copy, payload.data, payload.len);
                copy[i] ^= flips[f];
                int rc = codec->decode(EL_F32, copy, payload.len, base, back, 257, &err);
                assert_true(rc == 0 || rc == -1);
                if (rc == -1)
                    assert_true(err.msg[0] != '\0');
                free(copy);
            }
        }
        el_buf_free(&payload);
    }
}

static void delta_wrong_count_rejected(void **state)
{
    uint8_t base[258 * 4], src[257 * 4], back[258 * 4];
    for (size_t c = 0; codec_at(c) != NULL; c++) {
        const el_delta_codec *codec = codec_at(c);
        el_buf payload = sample_payload(codec, src, base);
        el_error err = {{0}};
        assert_int_equal(codec->decode(EL_F32, payload.data, payload.len, base, back, 256, &err),
                         -1);
        assert_non_null(strstr(err.msg, "257"));
        assert_int_equal(codec->decode(EL_F32, payload.data, payload.len, base, back, 258, &err),
                         -1);
        assert_non_null(strstr(err.msg, "258"));
        el_buf_free(&payload);
    }
}

/* Decoding against another base gives other values or an error, and never
 * touches memory outside the buffers (checked by the sanitizer build). */
static void delta_other_base_never_overruns(void **state)
{
    uint8_t base[257 * 4], other[257 * 4], src[257 * 4], back[257 * 4];
    for (size_t c = 0; codec_at(c) != NULL; c++) {
        const el_delta_codec *codec = codec_at(c);
        el_buf payload = sample_payload(codec, src, base);
        for (uint64_t seed = 0; seed < 8; seed++) {
            el_error err = {{0}};
            fill_base(EL_F32, 257, 100 + seed, other);
            int rc = codec->decode(EL_F32, payload.data, payload.len, other, back, 257, &err);
            assert_true(rc == 0 || rc == -1);
            if (rc == 0)
                assert_memory_not_equal(back, src, sizeof back);
        }
        el_buf_free(&payload);
    }
}

/* A payload decoded as another dtype of the same element size fails or
 * decodes without overrunning. */
static void delta_other_dtype_never_overruns(void **state)
{
    uint8_t base[257 * 4], src[257 * 4], back[257 * 4];
    el_buf payload = sample_payload(xor_codec(), src, base);
    el_error err = {{0}};
    int rc = xor_codec()->decode(EL_I32, payload.data, payload.len, base, back, 257, &err);
    assert_true(rc == 0 || rc == -1);
    el_buf_free(&payload);

    payload = sample_payload(arith_codec(), src, base);
    assert_int_equal(arith_codec()->decode(EL_I32, payload.data, payload.len, base, back, 257,
                                           &err),
                     -1);
    el_buf_free(&payload);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(delta_find_by_name),
        cmocka_unit_test(delta_table_ends_with_null),
        cmocka_unit_test(xor_bit_exact_floats),
        cmocka_unit_test(xor_bit_exact_integers),
        cmocka_unit_test(xor_bit_exact_f8),
        cmocka_unit_test(xor_identical_is_tiny),
        cmocka_unit_test(xor_one_change_is_small),
        cmocka_unit_test(xor_small_changes_compress),
        cmocka_unit_test(xor_specials_against_specials),
        cmocka_unit_test(xor_symbol_models_round_trip),
        cmocka_unit_test(xor_max_error_is_zero),
        cmocka_unit_test(delta_bound_every_element),
        cmocka_unit_test(delta_non_finite_base),
        cmocka_unit_test(delta_identical_is_tiny),
        cmocka_unit_test(delta_max_error_rules),
        cmocka_unit_test(delta_rejects_invalid_bound),
        cmocka_unit_test(delta_truncated_fails),
        cmocka_unit_test(delta_trailing_bytes_fail),
        cmocka_unit_test(delta_corrupted_fails_cleanly),
        cmocka_unit_test(delta_wrong_count_rejected),
        cmocka_unit_test(delta_other_base_never_overruns),
        cmocka_unit_test(delta_other_dtype_never_overruns),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
