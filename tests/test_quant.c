#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "../codecs/codec.h"
#include "../codecs/measure.h"
#include "float_fill.h"
#include "testutil.h"

extern const el_codec el_codec_quant;
extern const el_codec el_codec_elf;
extern const el_codec el_codec_elf_ans;

static const el_dtype float_dtypes[] = {EL_F64, EL_F32, EL_F16, EL_BF16};
static const double bounds[] = {0x1p-24, 1e-5, 1e-4, 1e-3, 1e-2};

/* Encodes and decodes; returns the decoded elements and fills *len with the
 * payload size. */
static uint8_t *encode_decode(const el_codec *codec, el_dtype dt, const uint8_t *src, size_t n,
                              double bound, size_t *len)
{
    el_codec_params params = {0, bound};
    el_buf payload = {0};
    el_error err = {{0}};
    if (codec->encode(dt, src, n, &params, &payload, &err) != 0)
        fail_msg("%s encode of %zu %s at %g failed: %s", codec->name, n, el_dtype_name(dt),
                 bound, err.msg);

    uint8_t *back = malloc(n * el_dtype_size(dt) + 1);
    assert_non_null(back);
    if (codec->decode(dt, payload.data, payload.len, back, n, &err) != 0)
        fail_msg("%s decode of %zu %s failed: %s", codec->name, n, el_dtype_name(dt), err.msg);
    *len = payload.len;
    el_buf_free(&payload);
    return back;
}

/* Checks every element: NaN stays NaN, Inf stays Inf, the rest within
 * bound. */
static void assert_within(el_dtype dt, const uint8_t *a, const uint8_t *b, size_t n, double bound)
{
    double worst = el_max_abs_error(dt, a, b, n);
    if (!(worst <= bound))
        fail_msg("%s: max error %g exceeds %g", el_dtype_name(dt), worst, bound);
}

static void quant_within_bound_every_dtype(void **state)
{
    static const size_t sizes[] = {0, 1, 3, 257, 4000};
    uint8_t *data = malloc(4000 * 8);
    assert_non_null(data);
    for (size_t d = 0; d < 4; d++) {
        for (size_t b = 0; b < sizeof bounds / sizeof bounds[0]; b++) {
            for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
                el_dtype dt = float_dtypes[d];
                size_t len;
                fill_tensor(dt, sizes[k], 100 * d + 10 * b + k, data);
                uint8_t *back = encode_decode(&el_codec_quant, dt, data, sizes[k], bounds[b], &len);
                assert_within(dt, data, back, sizes[k], bounds[b]);
                free(back);
            }
        }
    }
    free(data);
}

/* NaN payloads and infinities are exceptions, stored bit for bit. */
static void quant_keeps_nan_payloads(void **state)
{
    for (size_t d = 0; d < 4; d++) {
        el_dtype dt = float_dtypes[d];
        size_t size = el_dtype_size(dt);
        uint8_t data[5 * 8];
        for (size_t i = 0; i < 3; i++)
            put_bits(dt, data, i, nan_patterns[nan_row(dt)][i]);
        el_store_double(dt, data, 3, INFINITY);
        el_store_double(dt, data, 4, -INFINITY);

        size_t len;
        uint8_t *back = encode_decode(&el_codec_quant, dt, data, 5, 1e-3, &len);
        assert_memory_equal(back, data, 5 * size);
        free(back);
    }
}

/* -0.0 decodes to +0.0, an error of 0. */
static void quant_negative_zero(void **state)
{
    float data[4] = {-0.0f, 0.0f, -0.0f, 1e-9f};
    size_t len;
    uint8_t *back = encode_decode(&el_codec_quant, EL_F32, (uint8_t *)data, 4, 1e-4, &len);
    assert_within(EL_F32, (uint8_t *)data, back, 4, 1e-4);
    float first;
    memcpy(&first, back, sizeof first);
    assert_true(first == 0.0f);
    free(back);
}

static void quant_constant_is_tiny(void **state)
{
    size_t n = 10000;
    float *data = malloc(n * sizeof *data);
    assert_non_null(data);
    for (size_t i = 0; i < n; i++)
        data[i] = 0.3125f;
    size_t len;
    uint8_t *back = encode_decode(&el_codec_quant, EL_F32, (uint8_t *)data, n, 1e-3, &len);
    assert_within(EL_F32, (uint8_t *)data, back, n, 1e-3);
    assert_true(len < 64);
    free(back);
    free(data);
}

/* Normal weights with sd 0.02 at 1e-3: about 5.3 bits of entropy per
 * weight, so well above 5x. */
static void quant_ratio_on_weights(void **state)
{
    size_t n = 100000;
    float *data = malloc(n * sizeof *data);
    assert_non_null(data);
    uint64_t s = 5;
    for (size_t i = 0; i < n; i++)
        data[i] = (float)test_normal(&s, 0.02);
    size_t len;
    uint8_t *back = encode_decode(&el_codec_quant, EL_F32, (uint8_t *)data, n, 1e-3, &len);
    assert_within(EL_F32, (uint8_t *)data, back, n, 1e-3);
    assert_true((double)(n * 4) / (double)len > 5.0);
    free(back);
    free(data);
}

static void quant_max_error_rules(void **state)
{
    el_codec_params p = {0, 1e-4};
    assert_true(el_codec_quant.max_error(EL_F32, &p) == 1e-4);
    assert_true(el_codec_quant.max_error(EL_BF16, &p) == 1e-4);
    assert_true(el_codec_quant.max_error(EL_I32, &p) < 0);
    el_codec_params zero = {0, 0.0};
    assert_true(el_codec_quant.max_error(EL_F32, &zero) < 0);
    el_codec_params huge = {0, 1e308};
    assert_true(el_codec_quant.max_error(EL_F32, &huge) < 0);
    el_codec_params nan = {0, NAN};
    assert_true(el_codec_quant.max_error(EL_F32, &nan) < 0);

    float one = 1.0f;
    el_buf payload = {0};
    el_error err = {{0}};
    assert_int_equal(el_codec_quant.encode(EL_F32, &one, 1, &zero, &payload, &err), -1);
    assert_non_null(strstr(err.msg, "bound"));
    el_buf_free(&payload);
}

/* Every prefix and every flipped byte of a payload must fail or decode
 * without touching memory it does not own (checked under ASan). */
static void corrupt_payloads(const el_codec *codec, el_dtype dt, double bound)
{
    size_t n = 500;
    size_t size = el_dtype_size(dt);
    uint8_t *data = malloc(n * size);
    uint8_t *back = malloc(n * size);
    assert_non_null(data);
    assert_non_null(back);
    fill_tensor(dt, n, 4242, data);

    el_codec_params params = {0, bound};
    el_buf payload = {0};
    el_error err = {{0}};
    assert_int_equal(codec->encode(dt, data, n, &params, &payload, &err), 0);
    for (size_t len = 0; len < payload.len; len++)
        assert_int_equal(codec->decode(dt, payload.data, len, back, n, &err), -1);

    size_t failures = 0;
    for (size_t pos = 0; pos < payload.len; pos++) {
        payload.data[pos] ^= 0x24;
        failures += codec->decode(dt, payload.data, payload.len, back, n, &err) != 0;
        payload.data[pos] ^= 0x24;
    }
    assert_true(failures > 0);
    assert_int_equal(codec->decode(dt, payload.data, payload.len, back, n + 1, &err), -1);
    el_buf_free(&payload);
    free(data);
    free(back);
}

static void quant_corrupted_fails_cleanly(void **state)
{
    for (size_t d = 0; d < 4; d++) {
        corrupt_payloads(&el_codec_quant, float_dtypes[d], 1e-5);
        corrupt_payloads(&el_codec_quant, float_dtypes[d], 1e-2);
    }
}

/* Encodes with quant and returns the payload, failing the test on error. */
static el_buf encode_payload(el_dtype dt, const uint8_t *src, size_t n, double bound)
{
    el_codec_params params = {0, bound};
    el_buf payload = {0};
    el_error err = {{0}};
    if (el_codec_quant.encode(dt, src, n, &params, &payload, &err) != 0)
        fail_msg("quant encode of %zu %s at %g failed: %s", n, el_dtype_name(dt), bound,
                 err.msg);
    return payload;
}

/* F16 weights at 1e-4 sit where the dtype's grid is about as coarse as the
 * bound. The cell mode (mode byte 3) wins there, keeps NaN payloads and
 * infinities bit for bit and keeps every other element within the bound. */
static void quant_cells_on_f16_weights(void **state)
{
    size_t n = 20000;
    uint8_t *data = malloc(n * 2);
    uint8_t *back = malloc(n * 2);
    assert_non_null(data);
    assert_non_null(back);
    uint64_t s = 31;
    for (size_t i = 0; i < n; i++)
        el_store_double(EL_F16, data, i, test_normal(&s, 0.05));
    fill_tensor(EL_F16, 400, 9, data);

    el_buf payload = encode_payload(EL_F16, data, n, 1e-4);
    assert_int_equal(payload.data[0], 3);
    el_error err = {{0}};
    if (el_codec_quant.decode(EL_F16, payload.data, payload.len, back, n, &err) != 0)
        fail_msg("decode failed: %s", err.msg);
    assert_within(EL_F16, data, back, n, 1e-4);
    for (size_t i = 0; i < n; i++) {
        double w = el_load_double(EL_F16, data, i);
        if (!isfinite(w))
            assert_memory_equal(back + 2 * i, data + 2 * i, 2);
    }

    /* About 10.3 bits per weight (10.1 for the same weights in F32, where
     * linear quantization wins); the old modes needed more. */
    assert_true((double)payload.len * 8.0 / (double)n < 10.5);
    el_buf_free(&payload);
    free(data);
    free(back);
}

/* The cell mode's edge cases, one dtype and bound at a time: empty, 1, 3
 * and 257 elements, a constant, subnormals, -0.0, |w| in the thousands
 * and values right at the bound. */
static void quant_cells_edge_cases(void **state)
{
    static const size_t sizes[] = {0, 1, 3, 257};
    uint8_t data[257 * 8];
    for (size_t d = 0; d < 4; d++) {
        el_dtype dt = float_dtypes[d];
        el_float_layout f = el_dtype_float_layout(dt);
        double tiny = ldexp(1.0, 1 - f.bias - f.mantissa_bits);
        for (size_t b = 0; b < sizeof bounds / sizeof bounds[0]; b++) {
            double bound = bounds[b];
            for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
                size_t n = sizes[k];
                static const double cases[] = {-0.0, 0.0, 1.0, -1.0, 2500.0, -4096.5};
                for (size_t i = 0; i < n; i++) {
                    double v;
                    if (i % 5 == 0)
                        v = cases[i / 5 % 6];
                    else if (i % 5 == 1)
                        v = tiny * (double)(i % 7);
                    else if (i % 5 == 2)
                        v = bound * (1.0 + ldexp((double)(i % 3) - 1.0, -20));
                    else
                        v = 0.37;
                    el_store_double(dt, data, i, v);
                }
                size_t len;
                uint8_t *back = encode_decode(&el_codec_quant, dt, data, n, bound, &len);
                assert_within(dt, data, back, n, bound);
                free(back);
            }
        }
    }
}

/* Truncated payloads of the cell mode fail, and flipped bytes fail or
 * decode without touching memory outside the buffers (checked under
 * ASan). */
static void quant_cells_corrupted_fails_cleanly(void **state)
{
    size_t n = 3000;
    uint8_t *data = malloc(n * 8);
    uint8_t *back = malloc(n * 8);
    assert_non_null(data);
    assert_non_null(back);
    /* Dtypes and bounds where the cells win, so that the payloads test
     * the cell decoder. */
    static const el_dtype dtypes[] = {EL_F16, EL_BF16};
    for (size_t d = 0; d < 2; d++) {
        el_dtype dt = dtypes[d];
        uint64_t s = 5 + d;
        for (size_t i = 0; i < n; i++)
            el_store_double(dt, data, i, test_normal(&s, 0.05));
        fill_tensor(dt, 60, 70 + d, data);

        el_buf payload = encode_payload(dt, data, n, 1e-4);
        assert_int_equal(payload.data[0], 3);
        el_error err = {{0}};
        for (size_t len = 0; len < payload.len; len++)
            assert_int_equal(el_codec_quant.decode(dt, payload.data, len, back, n, &err), -1);
        size_t failures = 0;
        for (size_t pos = 0; pos < payload.len; pos++) {
            payload.data[pos] ^= 0x5a;
            failures += el_codec_quant.decode(dt, payload.data, payload.len, back, n, &err) != 0;
            payload.data[pos] ^= 0x5a;
        }
        /* A flipped sign or low index bit still decodes: the container's
         * checksums catch those. */
        assert_true(failures > 0);
        el_buf_free(&payload);
    }
    free(data);
    free(back);
}

static void elf_ans_within_bound_every_dtype(void **state)
{
    static const size_t sizes[] = {0, 1, 3, 257, 4000};
    uint8_t *data = malloc(4000 * 8);
    assert_non_null(data);
    el_codec_params exact = {0, 0.0};
    for (size_t d = 0; d < 4; d++) {
        el_dtype dt = float_dtypes[d];
        double bound = el_codec_elf_ans.max_error(dt, &exact);
        assert_true(bound == ldexp(1.0, -(el_dtype_float_layout(dt).mantissa_bits + 1)));
        for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
            size_t len;
            fill_tensor(dt, sizes[k], 50 + k, data);
            uint8_t *back = encode_decode(&el_codec_elf_ans, dt, data, sizes[k], 0.0, &len);
            assert_within(dt, data, back, sizes[k], bound);
            free(back);
        }
    }
    free(data);
}

/* elf-ans changes only the coding stage, so it decodes to the same bits as
 * elf, and on weights it is smaller. */
static void elf_ans_matches_elf(void **state)
{
    size_t n = 20000;
    uint8_t *data = malloc(n * 8);
    assert_non_null(data);
    uint64_t s = 8;
    for (size_t d = 0; d < 4; d++) {
        el_dtype dt = float_dtypes[d];
        for (size_t i = 0; i < n; i++)
            el_store_double(dt, data, i, test_normal(&s, 0.05));
        fill_tensor(dt, 300, d, data);

        size_t ans_len, elf_len;
        uint8_t *ans = encode_decode(&el_codec_elf_ans, dt, data, n, 0.0, &ans_len);
        uint8_t *elf = encode_decode(&el_codec_elf, dt, data, n, 0.0, &elf_len);
        assert_memory_equal(ans, elf, n * el_dtype_size(dt));
        assert_true(ans_len < elf_len);
        free(ans);
        free(elf);
    }
    free(data);
}

static void elf_ans_corrupted_fails_cleanly(void **state)
{
    for (size_t d = 0; d < 4; d++)
        corrupt_payloads(&el_codec_elf_ans, float_dtypes[d], 0.0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(quant_within_bound_every_dtype),
        cmocka_unit_test(quant_keeps_nan_payloads),
        cmocka_unit_test(quant_negative_zero),
        cmocka_unit_test(quant_constant_is_tiny),
        cmocka_unit_test(quant_ratio_on_weights),
        cmocka_unit_test(quant_max_error_rules),
        cmocka_unit_test(quant_corrupted_fails_cleanly),
        cmocka_unit_test(quant_cells_on_f16_weights),
        cmocka_unit_test(quant_cells_edge_cases),
        cmocka_unit_test(quant_cells_corrupted_fails_cleanly),
        cmocka_unit_test(elf_ans_within_bound_every_dtype),
        cmocka_unit_test(elf_ans_matches_elf),
        cmocka_unit_test(elf_ans_corrupted_fails_cleanly),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
