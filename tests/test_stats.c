/* Tests of el_stats_compute: exact counts, moments and histograms on small
 * hand-made tensors of every dtype, and the F32, F16 and BF16 paths against
 * an element-by-element reference at the sizes where their blocks and
 * methods change. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <float.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "../core/stats.h"
#include "float_fill.h"
#include "testutil.h"

/* cmocka 1.1.5 has no double comparison. */
#define assert_close(actual, expected, tolerance)                           \
    do {                                                                    \
        const double a_ = (actual), e_ = (expected);                        \
        if (!(fabs(a_ - e_) <= (tolerance)))                                \
            fail_msg("%s is %.17g, expected %.17g", #actual, a_, e_);       \
    } while (0)

static el_tensor make_tensor(el_dtype dtype, const void *data, uint64_t count)
{
    return (el_tensor){
        .name = "t",
        .dtype = dtype,
        .ndim = 1,
        .shape = { count },
        .count = count,
        .nbytes = count * el_dtype_size(dtype),
        .data = data,
    };
}

static el_stats compute(el_dtype dtype, const void *data, uint64_t count)
{
    const el_tensor t = make_tensor(dtype, data, count);
    el_stats s;
    el_error err = { { 0 } };
    if (el_stats_compute(&t, &s, &err) != 0)
        fail_msg("el_stats_compute failed: %s", err.msg);
    return s;
}

static uint64_t hist_sum(const el_stats *s)
{
    uint64_t sum = 0;
    for (unsigned i = 0; i < s->n_exponents; i++)
        sum += s->exponent_hist[i];
    return sum;
}

/* Shannon entropy in bits of the given counts. */
static double entropy_of(const double *counts, int n, double total)
{
    double h = 0;
    for (int i = 0; i < n; i++)
        h -= counts[i] / total * log2(counts[i] / total);
    return h;
}

static void stats_f32_exact(void **state)
{
    const float v[] = {
        0.0f, -0.0f, 1.0f, -2.0f, 0.5f, 0x1p-149f, 0x1p-130f,
        NAN, INFINITY, -INFINITY, 3.0f,
    };
    el_stats s = compute(EL_F32, v, 11);

    assert_int_equal(s.count, 11);
    assert_int_equal(s.zeros, 2);
    assert_int_equal(s.nans, 1);
    assert_int_equal(s.infs, 2);
    assert_int_equal(s.subnormals, 2);
    assert_int_equal(s.abs_lt_1, 5);
    assert_close(s.min, -2.0, 0);
    assert_close(s.max, 3.0, 0);
    assert_close(s.mean, 0.3125, 1e-15);
    assert_close(s.std, sqrt(14.25 / 8 - 0.3125 * 0.3125), 1e-15);

    assert_int_equal(s.n_exponents, 256);
    assert_int_equal(s.exponent_hist[0], 4);
    assert_int_equal(s.exponent_hist[126], 1);
    assert_int_equal(s.exponent_hist[127], 1);
    assert_int_equal(s.exponent_hist[128], 2);
    assert_int_equal(s.exponent_hist[255], 3);
    assert_int_equal(hist_sum(&s), 11);
    assert_int_equal(el_stats_distinct_exponents(&s), 5);

    const double bins[] = { 4, 1, 1, 2, 3 };
    assert_close(s.exponent_entropy, entropy_of(bins, 5, 11), 1e-12);
    assert_int_equal(s.n_planes, 4);
    el_stats_free(&s);
    assert_null(s.exponent_hist);
}

static void stats_f16_exact(void **state)
{
    const uint16_t v[] = {
        0x0000, 0x8000, 0x3c00, 0xc000, 0x0001, 0x83ff,
        0x7c00, 0x7e00, 0x7bff, 0x3800,
    };
    el_stats s = compute(EL_F16, v, 10);

    assert_int_equal(s.zeros, 2);
    assert_int_equal(s.subnormals, 2);
    assert_int_equal(s.nans, 1);
    assert_int_equal(s.infs, 1);
    assert_int_equal(s.abs_lt_1, 5);
    assert_close(s.min, -2.0, 0);
    assert_close(s.max, 65504.0, 0);
    const double sum = 1 - 2 + 0x1p-24 - 1023 * 0x1p-24 + 65504 + 0.5;
    assert_close(s.mean, sum / 8, 1e-9);

    assert_int_equal(s.n_exponents, 32);
    assert_int_equal(s.exponent_hist[0], 4);
    assert_int_equal(s.exponent_hist[14], 1);
    assert_int_equal(s.exponent_hist[15], 1);
    assert_int_equal(s.exponent_hist[16], 1);
    assert_int_equal(s.exponent_hist[30], 1);
    assert_int_equal(s.exponent_hist[31], 2);
    assert_int_equal(hist_sum(&s), 10);
    assert_int_equal(s.n_planes, 2);
    el_stats_free(&s);
}

static void stats_f16_subnormal_values(void **state)
{
    const uint16_t v[] = { 0x0001, 0x8001, 0x03ff };
    el_stats s = compute(EL_F16, v, 3);

    assert_close(s.min, -0x1p-24, 0);
    assert_close(s.max, 1023 * 0x1p-24, 0);
    assert_int_equal(s.subnormals, 3);
    assert_int_equal(s.zeros, 0);
    el_stats_free(&s);
}

static void stats_bf16_exact(void **state)
{
    const uint16_t v[] = { 0x3f80, 0xc040, 0x0001, 0x7f80, 0xffc0, 0x0000, 0x3f00 };
    el_stats s = compute(EL_BF16, v, 7);

    assert_int_equal(s.zeros, 1);
    assert_int_equal(s.subnormals, 1);
    assert_int_equal(s.nans, 1);
    assert_int_equal(s.infs, 1);
    assert_int_equal(s.abs_lt_1, 3);
    assert_close(s.min, -3.0, 0);
    assert_close(s.max, 1.0, 0);
    assert_close(s.mean, (1 - 3 + 0x1p-133 + 0.5) / 5, 1e-15);

    assert_int_equal(s.n_exponents, 256);
    assert_int_equal(s.exponent_hist[0], 2);
    assert_int_equal(s.exponent_hist[126], 1);
    assert_int_equal(s.exponent_hist[127], 1);
    assert_int_equal(s.exponent_hist[128], 1);
    assert_int_equal(s.exponent_hist[255], 2);
    assert_int_equal(hist_sum(&s), 7);
    el_stats_free(&s);
}

static void stats_f64_exact(void **state)
{
    const double v[] = { 1.0, -0.5, 4.9406564584124654e-324, NAN, -INFINITY, 0.0 };
    el_stats s = compute(EL_F64, v, 6);

    assert_int_equal(s.zeros, 1);
    assert_int_equal(s.subnormals, 1);
    assert_int_equal(s.nans, 1);
    assert_int_equal(s.infs, 1);
    assert_int_equal(s.abs_lt_1, 3);
    assert_close(s.min, -0.5, 0);
    assert_close(s.max, 1.0, 0);
    assert_close(s.mean, 0.125, 1e-15);

    assert_int_equal(s.n_exponents, 2048);
    assert_int_equal(s.exponent_hist[0], 2);
    assert_int_equal(s.exponent_hist[1022], 1);
    assert_int_equal(s.exponent_hist[1023], 1);
    assert_int_equal(s.exponent_hist[2047], 2);
    assert_int_equal(hist_sum(&s), 6);
    assert_int_equal(s.n_planes, 8);
    el_stats_free(&s);
}

static void stats_f64_huge_sum(void **state)
{
    const double v[] = { 1e308, 1e308, 1e308, 1e308 };
    el_stats s = compute(EL_F64, v, 4);

    assert_close(s.mean, 1e308, 1e293);
    assert_close(s.std, 0, 0);
    assert_close(s.max, 1e308, 0);
    el_stats_free(&s);
}

static void stats_only_nan(void **state)
{
    const float v[] = { NAN, INFINITY };
    el_stats s = compute(EL_F32, v, 2);

    assert_int_equal(s.nans, 1);
    assert_int_equal(s.infs, 1);
    assert_close(s.min, 0, 0);
    assert_close(s.max, 0, 0);
    assert_close(s.mean, 0, 0);
    assert_close(s.std, 0, 0);
    assert_int_equal(s.abs_lt_1, 0);
    el_stats_free(&s);
}

static void stats_empty(void **state)
{
    el_stats s = compute(EL_F32, NULL, 0);

    assert_int_equal(s.count, 0);
    assert_non_null(s.exponent_hist);
    assert_int_equal(hist_sum(&s), 0);
    assert_close(s.exponent_entropy, 0, 0);
    assert_close(s.plane_entropy[0], 0, 0);
    assert_close(s.mean, 0, 0);
    el_stats_free(&s);
}

static void stats_int8(void **state)
{
    const int8_t v[] = { -3, 0, 5, 0, 127, -128 };
    el_stats s = compute(EL_I8, v, 6);

    assert_null(s.exponent_hist);
    assert_int_equal(s.n_exponents, 0);
    assert_int_equal(s.zeros, 2);
    assert_int_equal(s.abs_lt_1, 2);
    assert_int_equal(s.nans, 0);
    assert_int_equal(s.subnormals, 0);
    assert_close(s.min, -128, 0);
    assert_close(s.max, 127, 0);
    assert_close(s.mean, 1.0 / 6, 1e-15);
    assert_int_equal(s.n_planes, 1);
    el_stats_free(&s);
}

static void stats_int_widths(void **state)
{
    const int16_t i16[] = { -300, 0, 300, 1 };
    const int32_t i32[] = { -70000, 0, 70001, 1 };
    const int64_t i64[] = { INT64_MIN, 0, 2, 1 };
    const uint16_t u16[] = { 65535, 0, 1, 0 };
    const uint32_t u32[] = { 4000000000u, 0, 1, 0 };
    const uint64_t u64[] = { 1ull << 53, 0, 1, 0 };

    el_stats s = compute(EL_I16, i16, 4);
    assert_close(s.min, -300, 0);
    assert_close(s.max, 300, 0);
    assert_close(s.mean, 0.25, 0);
    assert_int_equal(s.zeros, 1);

    s = compute(EL_I32, i32, 4);
    assert_close(s.min, -70000, 0);
    assert_close(s.mean, 0.5, 0);

    s = compute(EL_I64, i64, 4);
    assert_close(s.min, -0x1p63, 0);
    assert_close(s.max, 2, 0);

    s = compute(EL_U16, u16, 4);
    assert_close(s.max, 65535, 0);
    assert_int_equal(s.zeros, 2);

    s = compute(EL_U32, u32, 4);
    assert_close(s.max, 4e9, 0);

    s = compute(EL_U64, u64, 4);
    assert_close(s.max, 0x1p53, 0);
    assert_int_equal(s.abs_lt_1, 2);
    assert_int_equal(s.n_planes, 8);
}

static void stats_bool(void **state)
{
    const uint8_t v[] = { 1, 0, 1, 1 };
    el_stats s = compute(EL_BOOL, v, 4);

    assert_null(s.exponent_hist);
    assert_close(s.mean, 0.75, 0);
    assert_close(s.std, sqrt(0.75 * 0.25), 1e-15);
    assert_int_equal(s.zeros, 1);
}

static void stats_f8_as_bytes(void **state)
{
    const uint8_t v[] = { 0x00, 0x38, 0xff };
    el_stats s = compute(EL_F8_E4M3, v, 3);

    assert_null(s.exponent_hist);
    assert_int_equal(s.nans, 0);
    assert_close(s.max, 255, 0);
    assert_close(s.mean, (0x38 + 0xff) / 3.0, 1e-12);

    s = compute(EL_F8_E5M2, v, 3);
    assert_close(s.min, 0, 0);
}

static void plane_entropy_u8(void **state)
{
    uint8_t all[256];
    for (int i = 0; i < 256; i++)
        all[i] = (uint8_t)i;
    el_stats s = compute(EL_U8, all, 256);
    assert_close(s.plane_entropy[0], 8.0, 1e-12);

    memset(all, 7, sizeof all);
    s = compute(EL_U8, all, 256);
    assert_close(s.plane_entropy[0], 0.0, 0);
}

static void plane_entropy_f32(void **state)
{
    /* 1.0 is 00 00 80 3f and 2.0 is 00 00 00 40 in little-endian order. */
    const float v[] = { 1.0f, 2.0f };
    el_stats s = compute(EL_F32, v, 2);

    assert_close(s.plane_entropy[0], 0.0, 0);
    assert_close(s.plane_entropy[1], 0.0, 0);
    assert_close(s.plane_entropy[2], 1.0, 1e-12);
    assert_close(s.plane_entropy[3], 1.0, 1e-12);
    assert_close(s.exponent_entropy, 1.0, 1e-12);
    el_stats_free(&s);
}

static void stats_random_matches_two_pass(void **state)
{
    /* Not a multiple of the internal block, so the last block is partial. */
    enum { N = 10007 };
    float *v = malloc(N * sizeof *v);
    assert_non_null(v);
    uint64_t rng = 42;
    for (int i = 0; i < N; i++)
        v[i] = (float)(test_normal(&rng, 0.05) + 0.01);
    v[100] = NAN;
    v[5000] = 0x1p-140f;

    double sum = 0, lo = INFINITY, hi = -INFINITY;
    uint64_t small = 0, finite = 0;
    for (int i = 0; i < N; i++) {
        if (!isfinite(v[i]))
            continue;
        finite++;
        sum += v[i];
        lo = fmin(lo, v[i]);
        hi = fmax(hi, v[i]);
        small += fabsf(v[i]) < 1;
    }
    const double mean = sum / (double)finite;
    double m2 = 0;
    for (int i = 0; i < N; i++)
        if (isfinite(v[i]))
            m2 += (v[i] - mean) * (v[i] - mean);

    el_stats s = compute(EL_F32, v, N);
    assert_int_equal(s.count, N);
    assert_int_equal(hist_sum(&s), N);
    assert_int_equal(s.nans, 1);
    assert_int_equal(s.subnormals, 1);
    assert_int_equal(s.abs_lt_1, small);
    assert_close(s.min, lo, 0);
    assert_close(s.max, hi, 0);
    assert_close(s.mean, mean, 1e-12);
    assert_close(s.std, sqrt(m2 / (double)finite), 1e-12);
    el_stats_free(&s);
    free(v);
}

/* Statistics of a tensor computed one element at a time, the reference for
 * the fast paths that F32, F16 and BF16 tensors take. Sums are long double,
 * so that with |w| up to 1e30 the reference stays more accurate than the
 * code under test. mean_abs receives the mean magnitude of the finite
 * elements, the scale of summation errors. */
static void reference_stats(el_dtype dt, const void *data, size_t n, el_stats *r,
                            uint64_t *exps, uint64_t (*planes)[256], double *mean_abs)
{
    const el_float_layout f = el_dtype_float_layout(dt);
    const size_t size = el_dtype_size(dt);
    const unsigned top = (1u << f.exponent_bits) - 1;
    long double sum = 0, sum_abs = 0;
    uint64_t finite = 0;

    memset(r, 0, sizeof *r);
    for (size_t i = 0; i < n; i++) {
        uint64_t bits = 0;
        memcpy(&bits, (const uint8_t *)data + i * size, size);
        for (size_t b = 0; b < size; b++)
            planes[b][bits >> (8 * b) & 0xff]++;
        const unsigned e = (unsigned)(bits >> f.mantissa_bits) & top;
        exps[e]++;

        const double x = el_load_double(dt, data, i);
        if (isnan(x))
            r->nans++;
        else if (isinf(x))
            r->infs++;
        if (!isfinite(x))
            continue;
        r->zeros += x == 0;
        r->subnormals += e == 0 && x != 0;
        r->abs_lt_1 += fabs(x) < 1;
        r->min = finite == 0 || x < r->min ? x : r->min;
        r->max = finite == 0 || x > r->max ? x : r->max;
        sum += x;
        sum_abs += fabs(x);
        finite++;
    }
    *mean_abs = 0;
    if (finite == 0)
        return;

    const long double mean = sum / (long double)finite;
    long double m2 = 0;
    for (size_t i = 0; i < n; i++) {
        const double x = el_load_double(dt, data, i);
        if (isfinite(x))
            m2 += (x - mean) * (x - mean);
    }
    r->mean = (double)mean;
    r->std = (double)sqrtl(m2 / (long double)finite);
    *mean_abs = (double)(sum_abs / (long double)finite);
}

/* Fails with the dtype and size in the message, since the checks below run
 * over many of both. */
#define expect_count(actual, expected)                                       \
    do {                                                                     \
        const uint64_t a_ = (actual), e_ = (expected);                       \
        if (a_ != e_)                                                        \
            fail_msg("%s, %zu elements: %s is %llu, expected %llu",          \
                     el_dtype_name(dt), n, #actual, (unsigned long long)a_,  \
                     (unsigned long long)e_);                                \
    } while (0)

#define expect_close(actual, expected, tolerance)                            \
    do {                                                                     \
        const double a_ = (actual), e_ = (expected);                         \
        if (!(fabs(a_ - e_) <= (tolerance)))                                 \
            fail_msg("%s, %zu elements: %s is %.17g, expected %.17g",        \
                     el_dtype_name(dt), n, #actual, a_, e_);                 \
    } while (0)

/* Checks every count, extreme, moment and histogram against the reference.
 * Means and standard deviations may differ by summation order only, so they
 * are compared relative to the magnitude of the elements. */
static void check_matches_reference(el_dtype dt, const void *data, size_t n)
{
    el_stats ref;
    uint64_t exps[256] = { 0 }, planes[4][256] = { { 0 } };
    double mean_abs;
    reference_stats(dt, data, n, &ref, exps, planes, &mean_abs);
    el_stats s = compute(dt, data, n);

    expect_count(s.count, n);
    expect_count(s.nans, ref.nans);
    expect_count(s.infs, ref.infs);
    expect_count(s.zeros, ref.zeros);
    expect_count(s.subnormals, ref.subnormals);
    expect_count(s.abs_lt_1, ref.abs_lt_1);
    expect_close(s.min, ref.min, 0);
    expect_close(s.max, ref.max, 0);
    const double tolerance = 1e-12 * (mean_abs + ref.std);
    expect_close(s.mean, ref.mean, tolerance);
    expect_close(s.std, ref.std, tolerance);

    for (unsigned e = 0; e < s.n_exponents; e++)
        expect_count(s.exponent_hist[e], exps[e]);
    for (int b = 0; b < s.n_planes; b++) {
        double counts[256];
        int k = 0;
        for (int v = 0; v < 256; v++)
            if (planes[b][v])
                counts[k++] = (double)planes[b][v];
        expect_close(s.plane_entropy[b], entropy_of(counts, k, (double)n), 1e-12);
    }
    el_stats_free(&s);
}

/* Fills n elements with finite values only. One in 32 each is a signed
 * zero, a subnormal, a value a few ulps around +-1 or a value in the
 * thousands, and the rest are bell-shaped. */
static void fill_finite(el_dtype dt, size_t n, uint64_t seed, uint8_t *out)
{
    const el_float_layout f = el_dtype_float_layout(dt);
    const double tiny = ldexp(1.0, 1 - f.bias - f.mantissa_bits);
    uint64_t rng = seed * 0x9E3779B97F4A7C15ULL + 1;

    for (size_t i = 0; i < n; i++) {
        const double sign = test_rand(&rng) & 1 ? -1.0 : 1.0;
        double v;
        switch (test_rand(&rng) % 32) {
        case 0:
            v = sign * 0.0;
            break;
        case 1:
            v = sign * tiny * (double)(test_rand(&rng) % 64);
            break;
        case 2:
            v = sign * (1.0 + ldexp((double)(test_rand(&rng) % 9) - 4.0, -f.mantissa_bits));
            break;
        case 3:
            v = (test_uniform(&rng) - 0.5) * 8000.0;
            break;
        default:
            v = test_normal(&rng, 0.05);
            break;
        }
        el_store_double(dt, out, i, v);
    }
}

/* BF16 and F16 tensors from these many elements on are counted into a
 * histogram of all 2^16 patterns (HIST16_MIN_BF16 and HIST16_MIN_F16 in
 * core/stats.c). */
#define BF16_HISTOGRAM_MIN 65536
#define F16_HISTOGRAM_MIN 131072

/* Sizes on both sides of every block length and method switch of the F32,
 * F16 and BF16 paths: pairs of elements, lanes of 8, blocks of 4096 and
 * 8192, and the pattern histograms. */
static const size_t edge_sizes[] = {
    1, 2, 3, 7, 8, 9, 15, 16, 17, 4095, 4096, 4097, 8191, 8192, 8193, 16385,
    BF16_HISTOGRAM_MIN - 1, BF16_HISTOGRAM_MIN, BF16_HISTOGRAM_MIN + 1,
    F16_HISTOGRAM_MIN - 1, F16_HISTOGRAM_MIN, F16_HISTOGRAM_MIN + 1,
};

static const el_dtype fast_dtypes[] = { EL_F32, EL_F16, EL_BF16 };

#define COUNT_OF(a) (sizeof (a) / sizeof (a)[0])

/* Checks every fast dtype at every edge size on data from fill, with
 * seeds from seed on. */
static void check_edge_sizes(void (*fill)(el_dtype, size_t, uint64_t, uint8_t *), uint64_t seed)
{
    for (size_t d = 0; d < COUNT_OF(fast_dtypes); d++) {
        for (size_t k = 0; k < COUNT_OF(edge_sizes); k++) {
            const el_dtype dt = fast_dtypes[d];
            const size_t n = edge_sizes[k];
            uint8_t *data = malloc(n * el_dtype_size(dt));
            assert_non_null(data);
            fill(dt, n, seed + k, data);
            check_matches_reference(dt, data, n);
            free(data);
        }
    }
}

/* Tensors from fill_tensor, in which one element in sixteen is a NaN with
 * payload and infinities occur among the special values, so that all but
 * the smallest tensors take the paths that filter NaN and infinity out of a
 * block. */
static void stats_fast_paths_with_nonfinite(void **state)
{
    check_edge_sizes(fill_tensor, 11);
}

/* Only finite values, so the branch-free paths run on every block. */
static void stats_fast_paths_finite(void **state)
{
    check_edge_sizes(fill_finite, 29);
}

/* Bell-shaped weights with NaN, infinities, signed zeros, subnormals, +-1
 * and |w| in the thousands in one block only, so that a tensor mixes blocks
 * of both kinds. */
static void stats_fast_paths_mixed_blocks(void **state)
{
    const double specials[] = { NAN, -NAN, INFINITY, -INFINITY, -0.0, 0.0,
                                1e-42, -6e-8, 1.0, -1.0, 3000.5, -5660.0 };
    const size_t sizes[] = { 40, 10007, 70001, F16_HISTOGRAM_MIN + 3 };

    for (size_t d = 0; d < COUNT_OF(fast_dtypes); d++) {
        for (size_t k = 0; k < COUNT_OF(sizes); k++) {
            const el_dtype dt = fast_dtypes[d];
            const size_t n = sizes[k];
            uint8_t *data = malloc(n * el_dtype_size(dt));
            assert_non_null(data);
            uint64_t rng = 7 + d;
            for (size_t i = 0; i < n; i++)
                el_store_double(dt, data, i, test_normal(&rng, 0.05));
            for (size_t s = 0; s < COUNT_OF(specials); s++)
                el_store_double(dt, data, n / 2 + 3 * s - 20, specials[s]);
            check_matches_reference(dt, data, n);
            free(data);
        }
    }
}

/* Blocks that contain no finite value at all, before and after finite ones. */
static void stats_fast_paths_nonfinite_blocks(void **state)
{
    const size_t sizes[] = { 5, 9000, F16_HISTOGRAM_MIN + 9000 };

    for (size_t d = 0; d < COUNT_OF(fast_dtypes); d++) {
        for (size_t k = 0; k < COUNT_OF(sizes); k++) {
            const el_dtype dt = fast_dtypes[d];
            const size_t n = sizes[k];
            uint8_t *data = malloc(n * el_dtype_size(dt));
            assert_non_null(data);
            for (size_t i = 0; i < n; i++)
                el_store_double(dt, data, i, i % 3 == 0 ? INFINITY : NAN);
            el_store_double(dt, data, n - 1, -2.5);
            check_matches_reference(dt, data, n);
            free(data);
        }
    }
}

/* A block whose only special value is one infinity or one NaN of either
 * sign, at each position of the lanes, must still be detected as not
 * finite. */
static void stats_fast_paths_lone_special(void **state)
{
    const double specials[] = { INFINITY, -INFINITY, NAN, -NAN };
    const size_t n = 40;

    for (size_t d = 0; d < COUNT_OF(fast_dtypes); d++) {
        for (size_t k = 0; k < COUNT_OF(specials); k++) {
            for (size_t at = 0; at < 10; at++) {
                const el_dtype dt = fast_dtypes[d];
                uint8_t data[40 * 4];
                uint64_t rng = 3 + at;
                for (size_t i = 0; i < n; i++)
                    el_store_double(dt, data, i, test_normal(&rng, 0.05));
                el_store_double(dt, data, at * 3, specials[k]);
                check_matches_reference(dt, data, n);
            }
        }
    }
}

/* Equal values must give a standard deviation of exactly zero, on both
 * F16 and BF16 methods as well as on F32. */
static void stats_fast_paths_constant(void **state)
{
    const double values[] = { 0.3, -1.0, 1.0009765625, 6e-8, -0.0 };
    const size_t sizes[] = { 3, 8192, F16_HISTOGRAM_MIN + 1 };

    for (size_t d = 0; d < COUNT_OF(fast_dtypes); d++) {
        for (size_t v = 0; v < COUNT_OF(values); v++) {
            for (size_t k = 0; k < COUNT_OF(sizes); k++) {
                const el_dtype dt = fast_dtypes[d];
                const size_t n = sizes[k];
                uint8_t *data = malloc(n * el_dtype_size(dt));
                assert_non_null(data);
                for (size_t i = 0; i < n; i++)
                    el_store_double(dt, data, i, values[v]);
                const double x = el_load_double(dt, data, 0);

                el_stats s = compute(dt, data, n);
                expect_close(s.std, 0, 0);
                expect_close(s.mean, x, 0);
                expect_close(s.min, x, 0);
                expect_close(s.max, x, 0);
                expect_count(s.zeros, x == 0 ? n : 0);
                el_stats_free(&s);
                free(data);
            }
        }
    }
}

static void stats_inconsistent_tensor(void **state)
{
    const float v[] = { 1, 2 };
    el_tensor t = make_tensor(EL_F32, v, 2);
    t.name = "layer.weight";
    t.nbytes = 7;

    el_stats s;
    el_error err = { { 0 } };
    assert_int_equal(el_stats_compute(&t, &s, &err), -1);
    assert_non_null(strstr(err.msg, "layer.weight"));
    assert_null(s.exponent_hist);
}

/* Every path takes the checksum of the tensor's bytes while it scans them:
 * F32, F16 and BF16 under and over the size where they change method, and
 * the element-by-element path, with counts that end inside a block. */
static void stats_hash_every_path(void **state)
{
    static const struct { el_dtype dtype; uint64_t count; } cases[] = {
        { EL_F32, 0 },        { EL_F32, 3 * 4096 + 17 }, { EL_F16, 100 },
        { EL_F16, 131072 + 5 }, { EL_BF16, 999 },         { EL_BF16, 65536 + 3 },
        { EL_I8, 1001 },      { EL_F64, 513 },
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const size_t nbytes = (size_t)cases[c].count * el_dtype_size(cases[c].dtype);
        uint8_t *bytes = malloc(nbytes + 1);
        assert_non_null(bytes);
        uint32_t x = 2463534242u + (uint32_t)c;
        for (size_t i = 0; i < nbytes; i++) {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            bytes[i] = (uint8_t)x;
        }

        el_stats s = compute(cases[c].dtype, bytes, cases[c].count);
        const XXH128_hash_t want = XXH3_128bits(bytes, nbytes);
        if (s.hash.lo != want.low64 || s.hash.hi != want.high64)
            fail_msg("case %zu: the hash differs from XXH3-128 of the bytes", c);
        el_stats_free(&s);
        free(bytes);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(stats_f32_exact),
        cmocka_unit_test(stats_f16_exact),
        cmocka_unit_test(stats_f16_subnormal_values),
        cmocka_unit_test(stats_bf16_exact),
        cmocka_unit_test(stats_f64_exact),
        cmocka_unit_test(stats_f64_huge_sum),
        cmocka_unit_test(stats_only_nan),
        cmocka_unit_test(stats_empty),
        cmocka_unit_test(stats_int8),
        cmocka_unit_test(stats_int_widths),
        cmocka_unit_test(stats_bool),
        cmocka_unit_test(stats_f8_as_bytes),
        cmocka_unit_test(plane_entropy_u8),
        cmocka_unit_test(plane_entropy_f32),
        cmocka_unit_test(stats_random_matches_two_pass),
        cmocka_unit_test(stats_fast_paths_with_nonfinite),
        cmocka_unit_test(stats_fast_paths_finite),
        cmocka_unit_test(stats_fast_paths_mixed_blocks),
        cmocka_unit_test(stats_fast_paths_nonfinite_blocks),
        cmocka_unit_test(stats_fast_paths_lone_special),
        cmocka_unit_test(stats_fast_paths_constant),
        cmocka_unit_test(stats_inconsistent_tensor),
        cmocka_unit_test(stats_hash_every_path),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
