#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "../codecs/codec.h"
#include "float_fill.h"
#include "testutil.h"

extern const el_codec el_codec_fields;
extern const el_codec el_codec_bytegroup;

static const el_dtype float_dtypes[] = {EL_F64, EL_F32, EL_F16, EL_BF16};
static const el_codec_params exact = {0, 0.0};

/* Encodes and decodes with fields, checks the bytes come back exactly and
 * returns the payload size. */
static size_t fields_round_trip(el_dtype dt, const uint8_t *src, size_t n)
{
    el_buf payload = {0};
    el_error err = {{0}};
    if (el_codec_fields.encode(dt, src, n, &exact, &payload, &err) != 0)
        fail_msg("encode of %zu %s failed: %s", n, el_dtype_name(dt), err.msg);

    size_t bytes = n * el_dtype_size(dt);
    uint8_t *back = malloc(bytes + 1);
    assert_non_null(back);
    if (el_codec_fields.decode(dt, payload.data, payload.len, back, n, &err) != 0)
        fail_msg("decode of %zu %s failed: %s", n, el_dtype_name(dt), err.msg);
    assert_memory_equal(back, src, bytes);

    free(back);
    size_t len = payload.len;
    el_buf_free(&payload);
    return len;
}

static void fields_round_trip_every_dtype(void **state)
{
    static const size_t sizes[] = {0, 1, 3, 257, 5000};
    uint8_t *data = malloc(5000 * 8);
    assert_non_null(data);
    for (size_t d = 0; d < 4; d++) {
        for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
            fill_tensor(float_dtypes[d], sizes[k], k + 10 * d, data);
            fields_round_trip(float_dtypes[d], data, sizes[k]);
        }
    }
    free(data);
}

static void fields_nan_payloads_kept(void **state)
{
    for (size_t d = 0; d < 4; d++) {
        el_dtype dt = float_dtypes[d];
        uint8_t data[3 * 8];
        for (size_t i = 0; i < 3; i++)
            put_bits(dt, data, i, nan_patterns[nan_row(dt)][i]);
        fields_round_trip(dt, data, 3);
    }
}

static void fields_constant_is_tiny(void **state)
{
    size_t n = 10000;
    uint8_t *data = malloc(n * 8);
    assert_non_null(data);
    for (size_t d = 0; d < 4; d++) {
        for (size_t i = 0; i < n; i++)
            el_store_double(float_dtypes[d], data, i, -0.375);
        assert_true(fields_round_trip(float_dtypes[d], data, n) < 32);
    }
    free(data);
}

/* Bell-shaped weights: fields must beat bytegroup's entropy-coded byte
 * planes. On F16 the per-exponent tables of the 3-bit sign and low mantissa
 * field cost about as much as they save, and F64's extra mantissa bytes
 * neither codec can shrink, so there fields may lose up to 1%. */
static void fields_smaller_than_bytegroup(void **state)
{
    size_t n = 50000;
    uint8_t *data = malloc(n * 8);
    assert_non_null(data);
    uint64_t s = 99;
    for (size_t d = 0; d < 4; d++) {
        el_dtype dt = float_dtypes[d];
        for (size_t i = 0; i < n; i++)
            el_store_double(dt, data, i, test_normal(&s, 0.02));
        size_t fields = fields_round_trip(dt, data, n);

        el_buf planes = {0};
        el_error err = {{0}};
        assert_int_equal(el_codec_bytegroup.encode(dt, data, n, &exact, &planes, &err), 0);
        size_t limit = dt == EL_F16 || dt == EL_F64 ? planes.len + planes.len / 100 : planes.len;
        if (fields >= limit)
            fail_msg("%s: fields %zu bytes, bytegroup %zu", el_dtype_name(dt), fields, planes.len);
        el_buf_free(&planes);
    }
    free(data);
}

static void fields_supports_floats_only(void **state)
{
    assert_true(el_codec_fields.supports(EL_F32));
    assert_true(el_codec_fields.supports(EL_BF16));
    assert_false(el_codec_fields.supports(EL_I32));
    assert_false(el_codec_fields.supports(EL_F8_E4M3));
    assert_true(el_codec_fields.max_error(EL_F16, &exact) == 0.0);
    assert_true(el_codec_fields.max_error(EL_U8, &exact) < 0);

    uint8_t data[4] = {0};
    el_buf payload = {0};
    el_error err = {{0}};
    assert_int_equal(el_codec_fields.encode(EL_I32, data, 1, &exact, &payload, &err), -1);
    assert_non_null(strstr(err.msg, "I32"));
    el_buf_free(&payload);
}

static el_buf encode_sample(el_dtype dt, size_t n, uint8_t *data)
{
    el_buf payload = {0};
    el_error err = {{0}};
    fill_tensor(dt, n, 77, data);
    assert_int_equal(el_codec_fields.encode(dt, data, n, &exact, &payload, &err), 0);
    return payload;
}

static void fields_truncated_fails(void **state)
{
    size_t n = 600;
    uint8_t *data = malloc(n * 8);
    uint8_t *back = malloc(n * 8);
    assert_non_null(data);
    assert_non_null(back);
    for (size_t d = 0; d < 4; d++) {
        el_dtype dt = float_dtypes[d];
        el_buf payload = encode_sample(dt, n, data);
        el_error err = {{0}};
        for (size_t len = 0; len < payload.len; len++)
            assert_int_equal(el_codec_fields.decode(dt, payload.data, len, back, n, &err), -1);

        /* One byte too many is an error as well. */
        assert_int_equal(el_buf_append_u8(&payload, 0, &err), 0);
        assert_int_equal(el_codec_fields.decode(dt, payload.data, payload.len, back, n, &err), -1);
        el_buf_free(&payload);
    }
    free(data);
    free(back);
}

static void fields_corrupted_fails_cleanly(void **state)
{
    size_t n = 600;
    uint8_t *data = malloc(n * 4);
    uint8_t *back = malloc(n * 4);
    assert_non_null(data);
    assert_non_null(back);
    el_buf payload = encode_sample(EL_F32, n, data);

    size_t failures = 0;
    el_error err = {{0}};
    for (size_t pos = 0; pos < payload.len; pos++) {
        payload.data[pos] ^= 0x41;
        failures += el_codec_fields.decode(EL_F32, payload.data, payload.len, back, n, &err) != 0;
        payload.data[pos] ^= 0x41;
    }
    assert_true(failures > 0);
    assert_int_equal(el_codec_fields.decode(EL_F32, payload.data, payload.len, back, n - 1, &err), -1);
    el_buf_free(&payload);
    free(data);
    free(back);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fields_round_trip_every_dtype),
        cmocka_unit_test(fields_nan_payloads_kept),
        cmocka_unit_test(fields_constant_is_tiny),
        cmocka_unit_test(fields_smaller_than_bytegroup),
        cmocka_unit_test(fields_supports_floats_only),
        cmocka_unit_test(fields_truncated_fails),
        cmocka_unit_test(fields_corrupted_fails_cleanly),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
