#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "../codecs/dtype.h"
#include "testutil.h"

static uint32_t bits_of_float(float f)
{
    uint32_t b;
    memcpy(&b, &f, sizeof b);
    return b;
}

/* F16 value from its fields, written independently of dtype.c. */
static double f16_formula(uint16_t h)
{
    int sign = h >> 15;
    int exp = h >> 10 & 0x1f;
    int mant = h & 0x3ff;
    double v;
    if (exp == 0)
        v = ldexp(mant, -24);
    else if (exp == 31)
        v = mant ? NAN : INFINITY;
    else
        v = ldexp(1024 + mant, exp - 25);
    return sign ? -v : v;
}

/* Rounds a double to F16 by searching the sorted positive F16 values for
 * the two neighbours of |v|: slow, but shares nothing with dtype.c. */
static uint16_t f16_reference(double v)
{
    uint16_t sign = signbit(v) ? 0x8000 : 0;
    double a = fabs(v);
    if (a >= 65520.0) /* halfway from 65504 to 65536, ties to the even 65536 */
        return sign | 0x7c00;

    unsigned lo = 0, hi = 0x7bff;
    while (lo < hi) {
        unsigned mid = (lo + hi + 1) / 2;
        if (f16_formula((uint16_t)mid) <= a)
            lo = mid;
        else
            hi = mid - 1;
    }
    if (lo == 0x7bff)
        return sign | 0x7bff;

    double below = a - f16_formula((uint16_t)lo);
    double above = f16_formula((uint16_t)(lo + 1)) - a;
    if (below < above || (below == above && lo % 2 == 0))
        return sign | (uint16_t)lo;
    return sign | (uint16_t)(lo + 1);
}

/* Random double whose magnitude spans the F16 range and beyond, with a full
 * 53-bit significand. */
static double random_wide_double(uint64_t *state, int min_exp, int max_exp)
{
    double m = 1.0 + test_uniform(state);
    int e = min_exp + (int)(test_rand(state) % (uint64_t)(max_exp - min_exp + 1));
    double v = ldexp(m, e);
    return test_rand(state) & 1 ? -v : v;
}

static void dtype_names_parse(void **state)
{
    for (int i = 0; i < EL_DTYPE_COUNT; i++) {
        el_dtype parsed;
        assert_int_equal(el_dtype_parse(el_dtype_name((el_dtype)i), &parsed), 0);
        assert_int_equal(parsed, i);
        assert_true(el_dtype_size((el_dtype)i) > 0);
    }

    el_dtype unused;
    assert_int_equal(el_dtype_parse("F128", &unused), -1);
    assert_int_equal(el_dtype_parse("f32", &unused), -1);
    assert_string_equal(el_dtype_name(EL_BF16), "BF16");
    assert_string_equal(el_dtype_name(EL_F8_E4M3), "F8_E4M3");
}

static void dtype_sizes(void **state)
{
    assert_int_equal(el_dtype_size(EL_F64), 8);
    assert_int_equal(el_dtype_size(EL_F32), 4);
    assert_int_equal(el_dtype_size(EL_F16), 2);
    assert_int_equal(el_dtype_size(EL_BF16), 2);
    assert_int_equal(el_dtype_size(EL_F8_E4M3), 1);
    assert_int_equal(el_dtype_size(EL_F8_E5M2), 1);
    assert_int_equal(el_dtype_size(EL_I64), 8);
    assert_int_equal(el_dtype_size(EL_U16), 2);
    assert_int_equal(el_dtype_size(EL_BOOL), 1);
}

static void dtype_float_layouts(void **state)
{
    assert_true(el_dtype_is_float(EL_F64));
    assert_true(el_dtype_is_float(EL_F32));
    assert_true(el_dtype_is_float(EL_F16));
    assert_true(el_dtype_is_float(EL_BF16));
    assert_false(el_dtype_is_float(EL_F8_E4M3));
    assert_false(el_dtype_is_float(EL_F8_E5M2));
    assert_false(el_dtype_is_float(EL_I32));

    el_float_layout f32 = el_dtype_float_layout(EL_F32);
    assert_int_equal(f32.exponent_bits, 8);
    assert_int_equal(f32.mantissa_bits, 23);
    assert_int_equal(f32.bias, 127);
    el_float_layout bf16 = el_dtype_float_layout(EL_BF16);
    assert_int_equal(bf16.mantissa_bits, 7);
    el_float_layout i32 = el_dtype_float_layout(EL_I32);
    assert_int_equal(i32.exponent_bits, 0);
    assert_int_equal(i32.mantissa_bits, 0);
}

static void f16_decode_exhaustive(void **state)
{
    for (uint32_t h = 0; h <= 0xffff; h++) {
        float f = el_f16_to_f32((uint16_t)h);
        double want = f16_formula((uint16_t)h);
        if (isnan(want)) {
            assert_true(isnan(f));
            assert_int_equal(!!signbit(f), h >> 15);
            assert_true(bits_of_float(f) & 0x00400000u);
        } else {
            assert_true((double)f == want);
            assert_int_equal(!!signbit(f), h >> 15);
        }
    }
}

static void f16_round_trip_exhaustive(void **state)
{
    for (uint32_t h = 0; h <= 0xffff; h++) {
        float f = el_f16_to_f32((uint16_t)h);
        uint16_t back = el_f32_to_f16(f);
        if (isnan(f)) {
            assert_int_equal(back & 0x7c00, 0x7c00);
            assert_int_not_equal(back & 0x03ff, 0);
            assert_int_equal(back & 0x8000, h & 0x8000);
        } else {
            assert_int_equal(back, h);
        }
    }
}

static void f16_rounding_matches_reference(void **state)
{
    uint64_t seed = 11;
    for (int i = 0; i < 200000; i++) {
        double v = random_wide_double(&seed, -30, 17);
        uint16_t want = f16_reference(v);

        uint16_t stored;
        el_store_double(EL_F16, &stored, 0, v);
        assert_int_equal(stored, want);

        float f = (float)v;
        assert_int_equal(el_f32_to_f16(f), f16_reference((double)f));
    }
}

static void f16_rounding_ties(void **state)
{
    assert_int_equal(el_f32_to_f16(1.0f + 0x1p-11f), 0x3c00);
    assert_int_equal(el_f32_to_f16(1.0f + 3 * 0x1p-11f), 0x3c02);
    assert_int_equal(el_f32_to_f16(-1.0f - 0x1p-11f), 0xbc00);
    assert_int_equal(el_f32_to_f16(65519.0f), 0x7bff);
    assert_int_equal(el_f32_to_f16(65520.0f), 0x7c00);
    assert_int_equal(el_f32_to_f16(0x1p-25f), 0x0000);
    assert_int_equal(el_f32_to_f16(3 * 0x1p-25f), 0x0002);
    assert_int_equal(el_f32_to_f16(0x1.8p-25f), 0x0001);
    assert_int_equal(el_f32_to_f16(0x1.ffcp-15f), 0x0400); /* subnormal rounds up to normal */
    assert_int_equal(el_f32_to_f16(-0.0f), 0x8000);
    assert_int_equal(el_f32_to_f16(1e-30f), 0x0000);
    assert_int_equal(el_f32_to_f16(-1e30f), 0xfc00);
}

/* 1 + 2^-11 + 2^-40 lies just above a tie. Rounding through float first
 * would drop the 2^-40 and round the tie down to 1.0. */
static void f16_store_no_double_rounding(void **state)
{
    uint16_t h;
    el_store_double(EL_F16, &h, 0, 1.0 + 0x1p-11 + 0x1p-40);
    assert_int_equal(h, 0x3c01);
    el_store_double(EL_F16, &h, 0, 0x1p-25 + 0x1p-60);
    assert_int_equal(h, 0x0001);
}

static void bf16_exhaustive(void **state)
{
    for (uint32_t b = 0; b <= 0xffff; b++) {
        float f = el_bf16_to_f32((uint16_t)b);
        uint16_t back = el_f32_to_bf16(f);
        if (isnan(f)) {
            assert_true(bits_of_float(f) & 0x00400000u);
            assert_int_equal(!!signbit(f), b >> 15);
            assert_int_equal(back & 0x7f80, 0x7f80);
            assert_int_not_equal(back & 0x007f, 0);
            assert_int_equal(back & 0x8000, b & 0x8000);
        } else {
            assert_int_equal(bits_of_float(f), b << 16);
            assert_int_equal(back, b);
        }
    }
}

static void bf16_rounding_ties(void **state)
{
    assert_int_equal(el_f32_to_bf16(1.0f + 0x1p-8f), 0x3f80);
    assert_int_equal(el_f32_to_bf16(1.0f + 3 * 0x1p-8f), 0x3f82);
    assert_int_equal(el_f32_to_bf16(1.0f + 0x1p-8f + 0x1p-20f), 0x3f81);
    assert_int_equal(el_f32_to_bf16(0x1.fffffep127f), 0x7f80);
    assert_int_equal(el_f32_to_bf16(0x1p-149f), 0x0000);
    assert_int_equal(el_f32_to_bf16(-0.0f), 0x8000);

    uint16_t b;
    el_store_double(EL_BF16, &b, 0, 1.0 + 0x1p-8 + 0x1p-40);
    assert_int_equal(b, 0x3f81);
}

/* The shift-and-round F32 path and the generic double path must agree on
 * every float. */
static void bf16_paths_agree(void **state)
{
    uint64_t seed = 5;
    for (int i = 0; i < 500000; i++) {
        uint32_t bits = (uint32_t)test_rand(&seed);
        float f;
        memcpy(&f, &bits, sizeof f);
        if (isnan(f))
            continue;

        uint16_t via_double;
        el_store_double(EL_BF16, &via_double, 0, (double)f);
        assert_int_equal(el_f32_to_bf16(f), via_double);
    }
}

static void store_load_floats(void **state)
{
    static const el_dtype types[] = {EL_F64, EL_F32, EL_F16, EL_BF16};
    static const double values[] = {0.0, 0.5, -0.75, 1.0, -2.0, 0x1p-14, 1024.0};
    uint8_t buf[1 + 8 * 4];

    for (size_t t = 0; t < 4; t++) {
        for (size_t v = 0; v < sizeof values / sizeof values[0]; v++) {
            /* Offset by one byte, so loads and stores are unaligned. */
            void *base = buf + 1;
            el_store_double(types[t], base, 3, values[v]);
            assert_true(el_load_double(types[t], base, 3) == values[v]);
        }
    }

    uint8_t f32[4];
    el_store_double(EL_F32, f32, 0, 0.1);
    assert_true(el_load_double(EL_F32, f32, 0) == (double)0.1f);
    el_store_double(EL_F32, f32, 0, 1.0);
    assert_int_equal(f32[3], 0x3f);
    assert_int_equal(f32[2], 0x80);
    assert_int_equal(f32[0], 0x00);

    uint8_t f64[8];
    el_store_double(EL_F64, f64, 0, 0.1);
    assert_true(el_load_double(EL_F64, f64, 0) == 0.1);
}

static void store_load_special(void **state)
{
    static const el_dtype types[] = {EL_F64, EL_F32, EL_F16, EL_BF16};
    uint8_t buf[8];
    for (size_t t = 0; t < 4; t++) {
        el_store_double(types[t], buf, 0, NAN);
        assert_true(isnan(el_load_double(types[t], buf, 0)));
        el_store_double(types[t], buf, 0, -NAN);
        assert_true(signbit(el_load_double(types[t], buf, 0)));
        el_store_double(types[t], buf, 0, -INFINITY);
        assert_true(el_load_double(types[t], buf, 0) == -INFINITY);
        el_store_double(types[t], buf, 0, -0.0);
        assert_true(el_load_double(types[t], buf, 0) == 0.0);
        assert_true(signbit(el_load_double(types[t], buf, 0)));
    }
}

static void load_integers(void **state)
{
    uint8_t i32[8] = {0xfb, 0xff, 0xff, 0xff, 0x10, 0x00, 0x00, 0x00};
    assert_true(el_load_double(EL_I32, i32, 0) == -5.0);
    assert_true(el_load_double(EL_I32, i32, 1) == 16.0);
    assert_true(el_load_double(EL_U32, i32, 0) == 4294967291.0);

    uint8_t bytes[2] = {200, 0x80};
    assert_true(el_load_double(EL_U8, bytes, 0) == 200.0);
    assert_true(el_load_double(EL_I8, bytes, 1) == -128.0);
    assert_true(el_load_double(EL_I16, bytes, 0) == -32568.0);
    assert_true(el_load_double(EL_BOOL, bytes, 0) == 1.0);

    uint8_t i64[8] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    assert_true(el_load_double(EL_I64, i64, 0) == -1.0);
    assert_true(el_load_double(EL_U64, i64, 0) == 18446744073709551616.0);
}

static void store_integer_noop(void **state)
{
    uint8_t buf[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    el_store_double(EL_I32, buf, 1, 42.0);
    el_store_double(EL_U8, buf, 0, 42.0);
    el_store_double(EL_BOOL, buf, 0, 1.0);
    for (int i = 0; i < 8; i++)
        assert_int_equal(buf[i], i + 1);
}

static void load_exponent_fields(void **state)
{
    uint8_t buf[8];
    el_store_double(EL_F32, buf, 0, 1.0);
    assert_int_equal(el_load_exponent(EL_F32, buf, 0), 127);
    el_store_double(EL_F32, buf, 0, -0.375);
    assert_int_equal(el_load_exponent(EL_F32, buf, 0), 125);
    el_store_double(EL_F32, buf, 0, 0x1p-140);
    assert_int_equal(el_load_exponent(EL_F32, buf, 0), 0);
    el_store_double(EL_F32, buf, 0, INFINITY);
    assert_int_equal(el_load_exponent(EL_F32, buf, 0), 255);
    el_store_double(EL_F16, buf, 0, 1.0);
    assert_int_equal(el_load_exponent(EL_F16, buf, 0), 15);
    el_store_double(EL_BF16, buf, 0, 2.0);
    assert_int_equal(el_load_exponent(EL_BF16, buf, 0), 128);
    el_store_double(EL_F64, buf, 0, 1.0);
    assert_int_equal(el_load_exponent(EL_F64, buf, 0), 1023);
    assert_int_equal(el_load_exponent(EL_I32, buf, 0), 0);
}

static void f8_values(void **state)
{
    uint8_t b[1] = {0x38};
    assert_true(el_load_double(EL_F8_E4M3, b, 0) == 1.0);
    b[0] = 0x7e;
    assert_true(el_load_double(EL_F8_E4M3, b, 0) == 448.0);
    b[0] = 0x7f;
    assert_true(isnan(el_load_double(EL_F8_E4M3, b, 0)));
    b[0] = 0x01;
    assert_true(el_load_double(EL_F8_E4M3, b, 0) == 0x1p-9);
    b[0] = 0x3c;
    assert_true(el_load_double(EL_F8_E5M2, b, 0) == 1.0);
    b[0] = 0x7c;
    assert_true(el_load_double(EL_F8_E5M2, b, 0) == INFINITY);

    el_store_double(EL_F8_E4M3, b, 0, 1000.0);
    assert_true(isnan(el_load_double(EL_F8_E4M3, b, 0)));
    el_store_double(EL_F8_E5M2, b, 0, 1e6);
    assert_int_equal(b[0], 0x7c);
}

static void f8_round_trip_exhaustive(void **state)
{
    static const el_dtype types[] = {EL_F8_E4M3, EL_F8_E5M2};
    for (size_t t = 0; t < 2; t++) {
        for (unsigned v = 0; v < 256; v++) {
            /* Eight bytes, although F8 needs one: the compiler cannot see
             * that the F32 and F64 paths of the inline loads never run. */
            uint8_t b[8] = {(uint8_t)v};
            double d = el_load_double(types[t], b, 0);
            uint8_t back[8];
            el_store_double(types[t], back, 0, d);
            if (isnan(d))
                assert_true(isnan(el_load_double(types[t], back, 0)));
            else
                assert_int_equal(back[0], v);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(dtype_names_parse),
        cmocka_unit_test(dtype_sizes),
        cmocka_unit_test(dtype_float_layouts),
        cmocka_unit_test(f16_decode_exhaustive),
        cmocka_unit_test(f16_round_trip_exhaustive),
        cmocka_unit_test(f16_rounding_matches_reference),
        cmocka_unit_test(f16_rounding_ties),
        cmocka_unit_test(f16_store_no_double_rounding),
        cmocka_unit_test(bf16_exhaustive),
        cmocka_unit_test(bf16_rounding_ties),
        cmocka_unit_test(bf16_paths_agree),
        cmocka_unit_test(store_load_floats),
        cmocka_unit_test(store_load_special),
        cmocka_unit_test(load_integers),
        cmocka_unit_test(store_integer_noop),
        cmocka_unit_test(load_exponent_fields),
        cmocka_unit_test(f8_values),
        cmocka_unit_test(f8_round_trip_exhaustive),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
