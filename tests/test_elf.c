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

static const el_codec_params exact_params = {0, 0.0};

static void *encode_decode(const el_codec *codec, el_dtype dt, const void *src, size_t count,
                           const el_codec_params *params, el_buf *payload)
{
    el_error err = {{0}};
    assert_int_equal(codec->encode(dt, src, count, params, payload, &err), 0);

    void *dst = malloc(count * el_dtype_size(dt) + 1);
    assert_non_null(dst);
    if (codec->decode(dt, payload->data, payload->len, dst, count, &err) != 0)
        fail_msg("%s decode failed: %s", codec->name, err.msg);
    return dst;
}

/* Random F32 bit patterns with every exponent below 127 equally likely,
 * so tiny, subnormal and near-one weights all appear. */
static float random_small_float(uint64_t *state)
{
    uint32_t exp = (uint32_t)(test_rand(state) % 128);
    uint32_t bits = (uint32_t)(test_rand(state) & 0x807fffffu) | exp << 23;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

static void max_bits_per_dtype(void **state)
{
    assert_int_equal(el_elf_max_bits(EL_F16), 14);
    assert_int_equal(el_elf_max_bits(EL_BF16), 14);
    assert_int_equal(el_elf_max_bits(EL_F32), 30);
    assert_int_equal(el_elf_max_bits(EL_F64), 62);
    assert_int_equal(el_elf_max_bits(EL_I32), -1);
    assert_int_equal(el_elf_max_bits(EL_F8_E4M3), -1);
}

static void bits_for_bound_table(void **state)
{
    assert_int_equal(el_elf_bits_for_bound(EL_F32, 1e-2), 6);
    assert_int_equal(el_elf_bits_for_bound(EL_F32, 1e-3), 9);
    assert_int_equal(el_elf_bits_for_bound(EL_F32, 0x1p-24), 23);
    assert_int_equal(el_elf_bits_for_bound(EL_F32, 0x1.1p-24), 23);
    assert_int_equal(el_elf_bits_for_bound(EL_F32, 0x1p-31), 30);
    assert_int_equal(el_elf_bits_for_bound(EL_F32, 0x1.fp-32), -1);
    assert_int_equal(el_elf_bits_for_bound(EL_F32, 0.5), 0);
    assert_int_equal(el_elf_bits_for_bound(EL_F32, 3.0), 0);
    assert_int_equal(el_elf_bits_for_bound(EL_F32, 0.0), -1);
    assert_int_equal(el_elf_bits_for_bound(EL_F32, -1e-3), -1);
    assert_int_equal(el_elf_bits_for_bound(EL_F32, NAN), -1);
    assert_int_equal(el_elf_bits_for_bound(EL_F16, 1e-4), 13);
    assert_int_equal(el_elf_bits_for_bound(EL_F16, 1e-5), -1);
    assert_int_equal(el_elf_bits_for_bound(EL_F64, 1e-15), 49);
    assert_int_equal(el_elf_bits_for_bound(EL_I32, 1e-3), -1);
}

static void max_error_per_dtype(void **state)
{
    const el_codec *elf = el_codec_find("elf");
    el_codec_params loose = {0, 0.25};
    assert_true(elf->max_error(EL_F32, &exact_params) == 0x1p-24);
    assert_true(elf->max_error(EL_F32, &loose) == 0x1p-24);
    assert_true(elf->max_error(EL_F16, &exact_params) == 0x1p-11);
    assert_true(elf->max_error(EL_BF16, &exact_params) == 0x1p-8);
    assert_true(elf->max_error(EL_F64, &exact_params) == 0x1p-53);

    const el_codec *elf_m = el_codec_find("elf-m");
    el_codec_params bound = {0, 1e-3};
    assert_true(elf_m->max_error(EL_F32, &bound) == 0x1p-10);
    assert_true(elf_m->max_error(EL_F32, &exact_params) < 0);
    assert_true(elf_m->max_error(EL_I32, &bound) < 0);
}

/* The defining property: for a non-outlier F32 weight, the decoded value is
 * ±(y - 1) with y = |w| + 1.0f rounded in float arithmetic, and outliers
 * (y == 2.0f, |w| >= 1, NaN, Inf) come back bit for bit. */
static void elf_matches_float_arithmetic(void **state)
{
    const el_codec *elf = el_codec_find("elf");
    size_t count = 200000;
    float *src = malloc(count * sizeof *src);
    uint64_t rng = 17;
    for (size_t i = 0; i < count; i++)
        src[i] = random_small_float(&rng);
    for (size_t i = 0; i < TEST_SPECIAL_COUNT; i++)
        src[i] = (float)test_special_values[i];
    src[TEST_SPECIAL_COUNT] = 0x1.fffffep-1f;
    src[TEST_SPECIAL_COUNT + 1] = -0x1.ffffffp-1f;

    el_buf payload = {0};
    float *dst = encode_decode(elf, EL_F32, src, count, &exact_params, &payload);
    size_t outliers = 0;
    for (size_t i = 0; i < count; i++) {
        volatile float y = fabsf(src[i]) + 1.0f;
        if (!(fabsf(src[i]) < 1.0f) || y == 2.0f) {
            assert_memory_equal(&src[i], &dst[i], sizeof(float));
            outliers++;
            continue;
        }
        float want = copysignf(y - 1.0f, src[i]);
        if (memcmp(&want, &dst[i], sizeof want) != 0)
            fail_msg("element %zu: %a decoded as %a, expected %a", i, src[i], dst[i], want);
    }
    assert_true(outliers > 0);
    free(src);
    free(dst);
    el_buf_free(&payload);
}

/* The same property for F16, with |w| + 1 rounded to F16 once. */
static void elf_matches_f16_arithmetic(void **state)
{
    const el_codec *elf = el_codec_find("elf");
    uint16_t src[65536];
    for (uint32_t h = 0; h <= 0xffff; h++)
        src[h] = (uint16_t)h;

    el_buf payload = {0};
    uint16_t *dst = encode_decode(elf, EL_F16, src, 65536, &exact_params, &payload);
    for (uint32_t h = 0; h <= 0xffff; h++) {
        double w = el_load_double(EL_F16, src, h);
        uint16_t y16;
        el_store_double(EL_F16, &y16, 0, fabs(w) + 1.0); /* exact in double, one rounding */
        double y = el_load_double(EL_F16, &y16, 0);
        if (!(fabs(w) < 1.0) || y == 2.0) {
            assert_int_equal(dst[h], src[h]);
            continue;
        }
        double got = el_load_double(EL_F16, dst, h);
        assert_true(got == copysign(y - 1.0, w));
        assert_int_equal(!!signbit(got), !!signbit(w));
    }
    free(dst);
    el_buf_free(&payload);
}

/* Normal weights with sd 0.02: the low plane of their code words contains
 * uniform mantissa bits, so it is stored as it is, right after m and the
 * mask. zstd shrinks the top plane of sign and leading bits, whose frame
 * comes after the stored planes and the frame lengths. */
static void elf_stores_noise_planes(void **state)
{
    const size_t count = 1 << 16;
    float *src = malloc(count * sizeof *src);
    uint64_t rng = 43;
    for (size_t i = 0; i < count; i++)
        src[i] = (float)test_normal(&rng, 0.02);

    el_buf payload = {0};
    float *dst = encode_decode(el_codec_find("elf"), EL_F32, src, count, &exact_params, &payload);
    assert_int_equal(payload.data[0], 0x80 | 23);
    const unsigned mask = payload.data[1];
    assert_true(mask & 1);
    assert_false(mask & 4);

    size_t stored = (mask & 1) + (mask >> 1 & 1);
    size_t pos = 2 + stored * count;
    size_t frames = 3 - stored + 1;
    size_t lengths[4];
    for (size_t j = 0; j < frames; j++) {
        lengths[j] = 0;
        for (int shift = 0;; shift += 7) {
            uint8_t b = payload.data[pos++];
            lengths[j] |= (size_t)(b & 0x7f) << shift;
            if (!(b & 0x80))
                break;
        }
    }
    assert_true(lengths[frames - 2] < count * 3 / 4);

    for (size_t i = 0; i < count; i++)
        assert_true(fabsf(dst[i] - src[i]) <= 0x1p-24f);
    free(src);
    free(dst);
    el_buf_free(&payload);
}

static void elf_keeps_negative_zero(void **state)
{
    static const el_dtype types[] = {EL_F64, EL_F32, EL_F16, EL_BF16};
    for (size_t c = 0; c < 2; c++) {
        const el_codec *codec = el_codec_find(c ? "elf-m" : "elf");
        el_codec_params params = {0, 1e-2};
        for (size_t t = 0; t < 4; t++) {
            uint8_t src[3 * 8];
            el_store_double(types[t], src, 0, -0.0);
            el_store_double(types[t], src, 1, -0x1p-14);
            el_store_double(types[t], src, 2, 0.0);
            el_buf payload = {0};
            void *dst = encode_decode(codec, types[t], src, 3, &params, &payload);
            assert_true(signbit(el_load_double(types[t], dst, 0)));
            assert_true(signbit(el_load_double(types[t], dst, 1)));
            assert_false(signbit(el_load_double(types[t], dst, 2)));
            free(dst);
            el_buf_free(&payload);
        }
    }
}

/* At the finest m every decoded value must be exact in the dtype, because
 * rounding on store would break the bound. Subnormal inputs stress this. */
static void elf_m_finest_grid(void **state)
{
    static const el_dtype types[] = {EL_F64, EL_F32, EL_F16, EL_BF16};
    const el_codec *elf_m = el_codec_find("elf-m");
    for (size_t t = 0; t < 4; t++) {
        el_dtype dt = types[t];
        int m = el_elf_max_bits(dt);
        el_codec_params params = {0, ldexp(1.0, -(m + 1))};
        assert_int_equal(el_elf_bits_for_bound(dt, params.abs_bound), m);

        size_t count = 20000;
        uint8_t *src = malloc(count * el_dtype_size(dt));
        uint64_t rng = 23;
        for (size_t i = 0; i < count; i++) {
            double w = ldexp(test_uniform(&rng), -(int)(test_rand(&rng) % 40));
            el_store_double(dt, src, i, test_rand(&rng) & 1 ? -w : w);
        }

        el_buf payload = {0};
        void *dst = encode_decode(elf_m, dt, src, count, &params, &payload);
        assert_int_equal(payload.data[0] & 0x7f, m);
        for (size_t i = 0; i < count; i++) {
            double w = el_load_double(dt, src, i);
            double d = el_load_double(dt, dst, i);
            if (fabs(w) < 1.0 && !(fabs(w - d) <= params.abs_bound))
                fail_msg("%s m=%d element %zu: %a decoded as %a", el_dtype_name(dt), m, i, w, d);
        }
        free(src);
        free(dst);
        el_buf_free(&payload);
    }
}

/* With m = M, elf-m keeps exactly what elf keeps. */
static void elf_m_full_bits_equals_elf(void **state)
{
    size_t count = 5000;
    float *src = malloc(count * sizeof *src);
    uint64_t rng = 29;
    for (size_t i = 0; i < count; i++)
        src[i] = random_small_float(&rng);

    el_codec_params params = {0, 0x1p-24};
    el_buf a = {0}, b = {0};
    float *via_elf = encode_decode(el_codec_find("elf"), EL_F32, src, count, &exact_params, &a);
    float *via_elf_m = encode_decode(el_codec_find("elf-m"), EL_F32, src, count, &params, &b);
    assert_memory_equal(via_elf, via_elf_m, count * sizeof(float));
    free(src);
    free(via_elf);
    free(via_elf_m);
    el_buf_free(&a);
    el_buf_free(&b);
}

/* 0.999 needs q = round(0.999 * 64) = 64 = 2^6 at m = 6, so it is kept as
 * an outlier instead of decoding to 1.0. */
static void elf_m_round_up_is_outlier(void **state)
{
    float src[3] = {0.999f, -0.995f, 0.5f};
    el_codec_params params = {0, 1e-2};
    assert_int_equal(el_elf_bits_for_bound(EL_F32, 1e-2), 6);

    el_buf payload = {0};
    float *dst = encode_decode(el_codec_find("elf-m"), EL_F32, src, 3, &params, &payload);
    assert_memory_equal(&dst[0], &src[0], sizeof(float));
    assert_memory_equal(&dst[1], &src[1], sizeof(float));
    assert_true(dst[2] == 0.5f);
    free(dst);
    el_buf_free(&payload);
}

static void elf_m_rejects_bad_m(void **state)
{
    float src[4] = {0.1f, 0.2f, -0.3f, 0.4f};
    el_codec_params params = {0, 1e-3};
    el_buf payload = {0};
    el_error err = {{0}};
    const el_codec *elf_m = el_codec_find("elf-m");
    assert_int_equal(elf_m->encode(EL_F32, src, 4, &params, &payload, &err), 0);

    float dst[4];
    static const uint8_t bad_m[] = {31, 63, 255};
    for (size_t i = 0; i < 3; i++) {
        payload.data[0] = bad_m[i];
        assert_int_equal(elf_m->decode(EL_F32, payload.data, payload.len, dst, 4, &err), -1);
        assert_non_null(strstr(err.msg, "out of range"));
    }
    assert_int_equal(elf_m->decode(EL_F16, payload.data, payload.len, dst, 4, &err), -1);
    el_buf_free(&payload);
}

static void elf_empty_tensor(void **state)
{
    el_codec_params params = {0, 1e-3};
    for (size_t c = 0; c < 2; c++) {
        const el_codec *codec = el_codec_find(c ? "elf-m" : "elf");
        el_buf payload = {0};
        void *dst = encode_decode(codec, EL_F32, NULL, 0, &params, &payload);
        assert_true(payload.len > 0);
        free(dst);
        el_buf_free(&payload);
    }
}

/* Normal weights with sd 0.02 have no outliers, so elf stores 24 of 32
 * bits. zstd then gains a little more from the sign and top bits. */
static void elf_compresses_weights(void **state)
{
    size_t count = 1 << 16;
    float *src = malloc(count * sizeof *src);
    uint64_t rng = 41;
    for (size_t i = 0; i < count; i++)
        src[i] = (float)test_normal(&rng, 0.02);

    el_buf payload = {0};
    float *dst = encode_decode(el_codec_find("elf"), EL_F32, src, count, &exact_params, &payload);
    assert_true(payload.len < count * 3 + 64);
    free(src);
    free(dst);
    el_buf_free(&payload);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(max_bits_per_dtype),
        cmocka_unit_test(bits_for_bound_table),
        cmocka_unit_test(max_error_per_dtype),
        cmocka_unit_test(elf_matches_float_arithmetic),
        cmocka_unit_test(elf_matches_f16_arithmetic),
        cmocka_unit_test(elf_stores_noise_planes),
        cmocka_unit_test(elf_keeps_negative_zero),
        cmocka_unit_test(elf_m_finest_grid),
        cmocka_unit_test(elf_m_full_bits_equals_elf),
        cmocka_unit_test(elf_m_round_up_is_outlier),
        cmocka_unit_test(elf_m_rejects_bad_m),
        cmocka_unit_test(elf_empty_tensor),
        cmocka_unit_test(elf_compresses_weights),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
