#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "../codecs/codec.h"
#include "testutil.h"

extern const el_codec el_codec_cast_bf16;
extern const el_codec el_codec_cast_fp16;

static const el_codec_params default_params = {0, 0.0};

static void *round_trip(const el_codec *codec, el_dtype dt, const void *src, size_t count,
                        el_buf *payload)
{
    el_error err = {{0}};
    if (codec->encode(dt, src, count, &default_params, payload, &err) != 0)
        fail_msg("%s encode failed: %s", codec->name, err.msg);

    uint8_t *dst = malloc(count * el_dtype_size(dt) + 1);
    assert_non_null(dst);
    if (codec->decode(dt, payload->data, payload->len, dst, count, &err) != 0)
        fail_msg("%s decode failed: %s", codec->name, err.msg);
    return dst;
}

static uint32_t f32_bits(float f)
{
    uint32_t bits;
    memcpy(&bits, &f, sizeof bits);
    return bits;
}

static void cast_supports_wide_floats(void **state)
{
    const el_codec *codecs[] = {&el_codec_cast_bf16, &el_codec_cast_fp16};
    for (size_t c = 0; c < 2; c++) {
        assert_true(codecs[c]->supports(EL_F64));
        assert_true(codecs[c]->supports(EL_F32));
        assert_false(codecs[c]->supports(EL_F16));
        assert_false(codecs[c]->supports(EL_BF16));
        assert_false(codecs[c]->supports(EL_I32));
        assert_true(isinf(codecs[c]->max_error(EL_F32, &default_params)));
        assert_true(codecs[c]->max_error(EL_F16, &default_params) < 0);
    }
}

/* F32 inputs decode to exactly what the dtype helpers round them to, for
 * random bit patterns of every exponent, NaN and infinities included. */
static void cast_f32_matches_helpers(void **state)
{
    size_t count = 100000;
    float *src = malloc(count * sizeof *src);
    assert_non_null(src);
    uint64_t rng = 13;
    for (size_t i = 0; i < count; i++) {
        uint32_t bits = (uint32_t)test_rand(&rng);
        memcpy(&src[i], &bits, 4);
    }
    for (size_t i = 0; i < TEST_SPECIAL_COUNT; i++)
        src[i] = (float)test_special_values[i];

    el_buf pb = {0};
    el_buf pf = {0};
    float *bf = round_trip(&el_codec_cast_bf16, EL_F32, src, count, &pb);
    float *fp = round_trip(&el_codec_cast_fp16, EL_F32, src, count, &pf);
    for (size_t i = 0; i < count; i++) {
        float want_bf = el_bf16_to_f32(el_f32_to_bf16(src[i]));
        float want_fp = el_f16_to_f32(el_f32_to_f16(src[i]));
        if (isnan(src[i])) {
            assert_true(isnan(bf[i]) && isnan(fp[i]));
            assert_int_equal(!!signbit(bf[i]), !!signbit(src[i]));
            assert_int_equal(!!signbit(fp[i]), !!signbit(src[i]));
            continue;
        }
        if (f32_bits(bf[i]) != f32_bits(want_bf) || f32_bits(fp[i]) != f32_bits(want_fp))
            fail_msg("element %zu: %a decoded as %a / %a, expected %a / %a", i, src[i],
                     bf[i], fp[i], want_bf, want_fp);
    }
    free(bf);
    free(fp);
    free(src);
    el_buf_free(&pb);
    el_buf_free(&pf);
}

/* 1 + 2^-8 + 2^-30 lies just above the BF16 midpoint 1 + 2^-8, so it rounds
 * up to 1 + 2^-7. Through F32 it would first become the midpoint itself and
 * then round to even, down to 1.0. The same with 1 + 2^-11 for F16. */
static void cast_f64_rounds_once(void **state)
{
    double src[4] = {1 + 0x1p-8 + 0x1p-30, 1 + 0x1p-11 + 0x1p-30, 1 + 0x1p-8, -(1 + 0x1p-11)};
    el_buf pb = {0};
    el_buf pf = {0};
    double *bf = round_trip(&el_codec_cast_bf16, EL_F64, src, 4, &pb);
    double *fp = round_trip(&el_codec_cast_fp16, EL_F64, src, 4, &pf);
    assert_true(bf[0] == 1 + 0x1p-7);
    assert_true(fp[1] == 1 + 0x1p-10);
    assert_true(bf[2] == 1.0);  /* a true tie goes to even */
    assert_true(fp[3] == -1.0);
    free(bf);
    free(fp);
    el_buf_free(&pb);
    el_buf_free(&pf);
}

/* NaN keeps its sign, infinities and zeros stay, and a value beyond the
 * target's range becomes an infinity of its sign. */
static void cast_special_values(void **state)
{
    double src[8] = {NAN, -NAN, INFINITY, -INFINITY, -0.0, 1e6, -1e300, 0x1p-140};
    static const el_dtype types[] = {EL_F64, EL_F32};
    for (size_t t = 0; t < 2; t++) {
        uint8_t in[8 * 8];
        for (size_t i = 0; i < 8; i++)
            el_store_double(types[t], in, i, src[i]);

        el_buf pb = {0};
        el_buf pf = {0};
        uint8_t *bf = round_trip(&el_codec_cast_bf16, types[t], in, 8, &pb);
        uint8_t *fp = round_trip(&el_codec_cast_fp16, types[t], in, 8, &pf);
        const uint8_t *outs[2] = {bf, fp};
        for (size_t c = 0; c < 2; c++) {
            const uint8_t *out = outs[c];
            assert_true(isnan(el_load_double(types[t], out, 0)));
            assert_false(signbit(el_load_double(types[t], out, 0)));
            assert_true(isnan(el_load_double(types[t], out, 1)));
            assert_true(signbit(el_load_double(types[t], out, 1)));
            assert_true(el_load_double(types[t], out, 2) == INFINITY);
            assert_true(el_load_double(types[t], out, 3) == -INFINITY);
            assert_true(el_load_double(types[t], out, 4) == 0.0);
            assert_true(signbit(el_load_double(types[t], out, 4)));
            assert_true(el_load_double(types[t], out, 6) == -INFINITY);
            assert_true(el_load_double(types[t], out, 7) == 0.0);
        }
        assert_true(el_load_double(types[t], bf, 5) == 999424.0); /* 0xf4 << 12 */
        assert_true(el_load_double(types[t], fp, 5) == INFINITY);
        free(bf);
        free(fp);
        el_buf_free(&pb);
        el_buf_free(&pf);
    }
}

/* The frame contains the low bytes, then the high bytes: 1.0 is BF16 0x3f80
 * and -2.0 is 0xc000. */
static void cast_layout(void **state)
{
    float src[2] = {1.0f, -2.0f};
    el_buf payload = {0};
    free(round_trip(&el_codec_cast_bf16, EL_F32, src, 2, &payload));

    uint8_t content[16];
    size_t n = ZSTD_decompress(content, sizeof content, payload.data, payload.len);
    assert_false(ZSTD_isError(n));
    assert_int_equal(n, 4);
    static const uint8_t want[4] = {0x80, 0x00, 0x3f, 0xc0};
    assert_memory_equal(content, want, 4);
    el_buf_free(&payload);
}

/* Normal weights: half of F32's bytes, and less once zstd has the
 * exponent-carrying high bytes to itself. */
static void cast_ratio_on_weights(void **state)
{
    size_t count = 65536;
    float *src = malloc(count * sizeof *src);
    assert_non_null(src);
    uint64_t rng = 9;
    for (size_t i = 0; i < count; i++)
        src[i] = (float)test_normal(&rng, 0.02);

    el_buf pb = {0};
    free(round_trip(&el_codec_cast_bf16, EL_F32, src, count, &pb));
    assert_true(pb.len < count * 2 * 9 / 10);
    el_buf_free(&pb);
    free(src);
}

static void cast_rejects_bad_payloads(void **state)
{
    float src[50];
    for (size_t i = 0; i < 50; i++)
        src[i] = (float)i;
    el_buf payload = {0};
    free(round_trip(&el_codec_cast_fp16, EL_F32, src, 50, &payload));

    float dst[50];
    el_error err = {{0}};
    for (size_t len = 0; len < payload.len; len++)
        assert_int_equal(el_codec_cast_fp16.decode(EL_F32, payload.data, len, dst, 50, &err), -1);
    assert_int_equal(el_codec_cast_fp16.decode(EL_F32, payload.data, payload.len, dst, 49, &err),
                     -1);
    assert_int_equal(el_codec_cast_fp16.decode(EL_F16, payload.data, payload.len, dst, 50, &err),
                     -1);
    assert_non_null(strstr(err.msg, "F16"));

    el_buf none = {0};
    assert_int_equal(el_codec_cast_bf16.encode(EL_BF16, src, 4, &default_params, &none, &err), -1);
    el_buf_free(&none);
    el_buf_free(&payload);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(cast_supports_wide_floats),
        cmocka_unit_test(cast_f32_matches_helpers),
        cmocka_unit_test(cast_f64_rounds_once),
        cmocka_unit_test(cast_special_values),
        cmocka_unit_test(cast_layout),
        cmocka_unit_test(cast_ratio_on_weights),
        cmocka_unit_test(cast_rejects_bad_payloads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
