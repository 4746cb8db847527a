/* Tests of the bit-level ELF code words against the plain definition
 * q = nearbyint(ldexp(|w|, m)) computed in double arithmetic: every 16-bit
 * pattern of F16 and BF16 at every m, and random bit patterns, normal
 * weights and rounding ties for F32 and F64, and then their byte planes. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../codecs/codec.h"
#include "../codecs/elf_words.h"
#include "testutil.h"

/* The definition: code word of w, or -1 for an outlier. */
static int64_t reference_word(double w, int m)
{
    if (!(fabs(w) < 1.0))
        return -1;
    double q = nearbyint(ldexp(fabs(w), m));
    if (q >= ldexp(1.0, m))
        return -1;
    return (int64_t)((uint64_t)(signbit(w) ? 1 : 0) << m | (uint64_t)q);
}

/* Checks that the byte planes of n elements contain the code words codes[]
 * with the outliers found[0..k), and that joining them gives the values
 * el_elf_values gives. F32, F16 and BF16 up to m = 23 take a path of their
 * own there, which this compares with the element-by-element words. */
static void check_planes(el_dtype dt, const uint8_t *src, size_t n, int m,
                         const uint64_t *codes, const size_t *found, size_t k)
{
    const size_t size = el_dtype_size(dt);
    const size_t nplanes = (size_t)(m + 8) / 8;
    uint8_t *planes = malloc(nplanes * n);
    uint8_t *joined = malloc(n * size);
    uint8_t *expected = malloc(n * size);
    assert_true(planes && joined && expected);

    el_buf outliers = {0};
    el_error err;
    uint8_t *plane_at[8];
    el_elf_plane_pointers(planes, nplanes, n, plane_at);
    assert_int_equal(el_elf_split_planes(dt, src, n, m, plane_at, &outliers, &err), 0);
    assert_int_equal(outliers.len, k * sizeof *found);
    assert_memory_equal(outliers.data, found, outliers.len);
    for (size_t i = 0; i < n; i++) {
        uint64_t code = 0;
        for (size_t j = 0; j < nplanes; j++)
            code |= (uint64_t)planes[j * n + i] << (8 * j);
        if (code != codes[i])
            fail_msg("%s m=%d element %zu: planes hold 0x%llx, expected 0x%llx",
                     el_dtype_name(dt), m, i, (unsigned long long)code,
                     (unsigned long long)codes[i]);
    }

    assert_int_equal(el_elf_join_planes((const uint8_t *const *)plane_at, nplanes, n, dt, m,
                                        joined, &err), 0);
    el_elf_values(dt, codes, n, m, expected, 0);
    for (size_t i = 0; i < n; i++) {
        if (memcmp(joined + i * size, expected + i * size, size) != 0)
            fail_msg("%s m=%d element %zu joins to %.17g, expected %.17g", el_dtype_name(dt),
                     m, i, el_load_double(dt, joined, i), el_load_double(dt, expected, i));
    }
    el_buf_free(&outliers);
    free(planes);
    free(joined);
    free(expected);
}

/* Checks the code words, the outlier list and the decoded values of n
 * elements against the definition, then their byte planes. */
static void check_elements(el_dtype dt, const uint8_t *src, size_t n, int m)
{
    const size_t size = el_dtype_size(dt);
    uint64_t *codes = malloc(n * sizeof *codes);
    size_t *found = malloc(n * sizeof *found);
    uint8_t *decoded = malloc(n * size);
    uint8_t *expected = malloc(n * size);
    assert_true(codes && found && decoded && expected);

    el_elf_words_ctx words;
    el_elf_words_begin(&words, dt, m, n);
    size_t k = el_elf_words(&words, src, n, codes, found);
    el_elf_words_end(&words);
    size_t next = 0;
    for (size_t i = 0; i < n; i++) {
        int64_t want = reference_word(el_load_double(dt, src, i), m);
        if (want < 0) {
            if (next >= k || found[next] != i)
                fail_msg("%s m=%d element %zu (%.17g) should be an outlier", el_dtype_name(dt),
                         m, i, el_load_double(dt, src, i));
            assert_int_equal(codes[i], 0);
            next++;
            continue;
        }
        if ((int64_t)codes[i] != want)
            fail_msg("%s m=%d element %zu (%.17g): code 0x%llx, expected 0x%llx",
                     el_dtype_name(dt), m, i, el_load_double(dt, src, i),
                     (unsigned long long)codes[i], (unsigned long long)want);

        double v = ldexp((double)(codes[i] & ((UINT64_C(1) << m) - 1)), -m);
        el_store_double(dt, expected, i, (codes[i] >> m) ? -v : v);
    }
    assert_int_equal(next, k);
    check_planes(dt, src, n, m, codes, found, k);

    el_elf_values(dt, codes, n, m, decoded, 0);
    for (size_t i = 0; i < n; i++) {
        if (reference_word(el_load_double(dt, src, i), m) < 0)
            continue;
        if (memcmp(decoded + i * size, expected + i * size, size) != 0)
            fail_msg("%s m=%d element %zu decodes to %.17g, expected %.17g", el_dtype_name(dt),
                     m, i, el_load_double(dt, decoded, i), el_load_double(dt, expected, i));
    }
    free(codes);
    free(found);
    free(decoded);
    free(expected);
}

static void elf_words_every_half_pattern(void **state)
{
    const el_dtype dtypes[] = { EL_F16, EL_BF16 };
    uint8_t *src = malloc(65536 * 2);
    assert_non_null(src);
    for (uint32_t v = 0; v < 65536; v++) {
        src[2 * v] = (uint8_t)v;
        src[2 * v + 1] = (uint8_t)(v >> 8);
    }

    for (size_t d = 0; d < 2; d++)
        for (int m = 0; m <= el_elf_max_bits(dtypes[d]); m++)
            check_elements(dtypes[d], src, 65536, m);
    free(src);
}

/* Fills n elements: random bit patterns, normal weights at three scales,
 * the special values and values on the rounding ties (k + 1/2) * 2^-m. */
static void fill_wide(el_dtype dt, uint8_t *src, size_t n, int m, uint64_t *rng)
{
    const size_t size = el_dtype_size(dt);
    for (size_t i = 0; i < n; i++) {
        uint64_t bits = test_rand(rng);
        switch (i % 6) {
        case 0:
            memcpy(src + i * size, &bits, size);
            continue;
        case 1:
            el_store_double(dt, src, i, test_normal(rng, 0.02));
            break;
        case 2:
            el_store_double(dt, src, i, test_normal(rng, 0.5));
            break;
        case 3:
            el_store_double(dt, src, i, test_normal(rng, 1e-6));
            break;
        case 4: {
            double tie = ldexp((double)(bits % 4096) + 0.5, -m);
            el_store_double(dt, src, i, bits & 1 << 20 ? -tie : tie);
            break;
        }
        default:
            el_store_double(dt, src, i, test_special_values[bits % TEST_SPECIAL_COUNT]);
            break;
        }
    }
}

static void elf_words_wide_formats(void **state)
{
    const el_dtype dtypes[] = { EL_F32, EL_F64 };
    enum { N = 20011 };
    uint64_t rng = 99;
    uint8_t *src = malloc(N * 8);
    assert_non_null(src);

    for (size_t d = 0; d < 2; d++) {
        const int max_bits = el_elf_max_bits(dtypes[d]);
        for (int m = 0; m <= max_bits; m++) {
            fill_wide(dtypes[d], src, N, m, &rng);
            check_elements(dtypes[d], src, N, m);
        }
    }
    free(src);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(elf_words_every_half_pattern),
        cmocka_unit_test(elf_words_wide_formats),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
