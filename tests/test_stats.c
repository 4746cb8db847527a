/* Tests of el_stats_compute: exact counts, moments and histograms on small
 * hand-made tensors of every dtype, and moments of a larger random tensor
 * against a plain two-pass computation. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <float.h>
#include <stdlib.h>
#include <string.h>

#include "../core/stats.h"
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
 * the histogram-based paths that large F32, F16 and BF16 tensors take. */
static void reference_stats(el_dtype dt, const void *data, size_t n, el_stats *r,
                            uint64_t *exps, uint64_t (*planes)[256])
{
    const el_float_layout f = el_dtype_float_layout(dt);
    const size_t size = el_dtype_size(dt);
    const unsigned top = (1u << f.exponent_bits) - 1;
    double sum = 0;
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
        finite++;
    }
    r->mean = sum / (double)finite;
    double m2 = 0;
    for (size_t i = 0; i < n; i++) {
        const double x = el_load_double(dt, data, i);
        if (isfinite(x))
            m2 += (x - r->mean) * (x - r->mean);
    }
    r->std = sqrt(m2 / (double)finite);
}

/* Large F32, F16 and BF16 tensors go through the 16-bit histogram: every
 * count, moment and histogram must equal the element-wise reference, with
 * NaN, infinities, signed zeros, subnormals and |w| in the thousands
 * present, and NaN in one block only so that both the branch-free and the
 * general F32 kernels run. */
static void stats_histogram_path_matches_reference(void **state)
{
    const el_dtype dtypes[] = { EL_F32, EL_F16, EL_BF16 };
    enum { N = 70001 };

    for (size_t d = 0; d < sizeof dtypes / sizeof dtypes[0]; d++) {
        const el_dtype dt = dtypes[d];
        uint8_t *data = malloc(N * el_dtype_size(dt));
        assert_non_null(data);
        uint64_t rng = 7 + d;
        for (size_t i = 0; i < N; i++)
            el_store_double(dt, data, i, test_normal(&rng, 0.05));
        const double specials[] = { NAN, -NAN, INFINITY, -INFINITY, -0.0, 0.0,
                                    1e-42, -6e-8, 1.0, -1.0, 3000.5, -5660.0 };
        for (size_t k = 0; k < sizeof specials / sizeof specials[0]; k++)
            el_store_double(dt, data, 50000 + 3 * k, specials[k]);

        el_stats ref;
        uint64_t exps[256] = {0}, planes[4][256] = {{0}};
        reference_stats(dt, data, N, &ref, exps, planes);
        el_stats s = compute(dt, data, N);

        assert_int_equal(s.count, N);
        assert_int_equal(s.nans, ref.nans);
        assert_int_equal(s.infs, ref.infs);
        assert_int_equal(s.zeros, ref.zeros);
        assert_int_equal(s.subnormals, ref.subnormals);
        assert_int_equal(s.abs_lt_1, ref.abs_lt_1);
        assert_close(s.min, ref.min, 0);
        assert_close(s.max, ref.max, 0);
        assert_close(s.mean, ref.mean, 1e-12);
        assert_close(s.std, ref.std, 1e-12);
        for (unsigned e = 0; e < s.n_exponents; e++)
            assert_int_equal(s.exponent_hist[e], exps[e]);
        for (int b = 0; b < s.n_planes; b++) {
            double counts[256];
            int k = 0;
            for (int v = 0; v < 256; v++)
                if (planes[b][v])
                    counts[k++] = (double)planes[b][v];
            assert_close(s.plane_entropy[b], entropy_of(counts, k, N), 1e-12);
        }
        el_stats_free(&s);
        free(data);
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
        cmocka_unit_test(stats_histogram_path_matches_reference),
        cmocka_unit_test(stats_inconsistent_tensor),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
