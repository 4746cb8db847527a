/* Round-trip properties of every codec in el_codecs, so a codec added to the
 * table is covered without touching this file. For every dtype a codec
 * supports, every generated tensor and every bound it accepts
 * (max_error >= 0):
 *   - encoding the same input twice gives the same bytes;
 *   - a lossless codec (max_error 0) decodes bit for bit;
 *   - a codec with a finite max_error decodes every element within it, NaN
 *     as NaN and each infinity as itself (el_max_abs_error);
 *   - a codec whose error depends on the data (+Inf) decodes, and every NaN
 *     stays NaN. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../codecs/codec.h"
#include "../codecs/measure.h"
#include "testutil.h"

enum tensor_kind {
    KIND_WEIGHTS,
    KIND_CONSTANT,
    KIND_RANDOM_BITS,
    KIND_NAN_PAYLOADS,
    KIND_INFINITIES,
    KIND_SIGNED_ZEROS,
    KIND_SUBNORMALS,
    KIND_NEAR_ONE,
    KIND_THOUSANDS,
    KIND_MIXED,
    KIND_COUNT
};

static const char *const kind_names[KIND_COUNT] = {
    "weights", "constant", "random-bits", "nan-payloads", "infinities",
    "signed-zeros", "subnormals", "near-one", "thousands", "mixed",
};

/* Integer, boolean and F8 tensors only get the first three kinds. */
#define KIND_COUNT_NOT_FLOAT 3

static const size_t counts[] = {1, 3, 257};
#define COUNTS (sizeof counts / sizeof counts[0])

static const double bounds[] = {0.0, 0x1p-24, 1e-5, 1e-4, 1e-3, 1e-2};
#define BOUNDS (sizeof bounds / sizeof bounds[0])

/* ---- generated tensors ---- */

static void store_bits(el_dtype dt, uint8_t *data, size_t i, uint64_t bits)
{
    size_t size = el_dtype_size(dt);
    for (size_t k = 0; k < size; k++)
        data[i * size + k] = (uint8_t)(bits >> (8 * k));
}

/* A NaN of dt with a random sign and payload: quiet, or signalling (quiet
 * bit clear, payload nonzero). */
static uint64_t nan_bits(el_dtype dt, uint64_t *rng)
{
    el_float_layout f = el_dtype_float_layout(dt);
    uint64_t r = test_rand(rng);
    uint64_t quiet = UINT64_C(1) << (f.mantissa_bits - 1);
    uint64_t payload = r & (quiet - 1);
    uint64_t mantissa = r >> 63 ? quiet | payload : payload | 1;
    uint64_t sign = r >> 62 & 1;
    uint64_t exponent = (UINT64_C(1) << f.exponent_bits) - 1;
    return sign << (f.exponent_bits + f.mantissa_bits) | exponent << f.mantissa_bits | mantissa;
}

static uint64_t subnormal_bits(el_dtype dt, uint64_t *rng)
{
    el_float_layout f = el_dtype_float_layout(dt);
    uint64_t r = test_rand(rng);
    uint64_t mantissa = (r & ((UINT64_C(1) << f.mantissa_bits) - 1)) | 1;
    return (r >> 63) << (f.exponent_bits + f.mantissa_bits) | mantissa;
}

/* ±1 moved by up to three units of the dtype's spacing just below 1. */
static double near_one(el_dtype dt, uint64_t *rng)
{
    int steps = (int)(test_rand(rng) % 7) - 3;
    double spacing = ldexp(1.0, -(el_dtype_float_layout(dt).mantissa_bits + 1));
    double v = 1.0 + steps * spacing;
    return test_rand(rng) & 1 ? v : -v;
}

static void fill_float(el_dtype dt, uint8_t *data, size_t i, enum tensor_kind kind,
                       uint64_t *rng)
{
    /* The special kinds keep ordinary weights between their special values,
     * so lossy codecs see both in one block. */
    int special = test_rand(rng) % 3 == 0;
    switch (kind) {
    case KIND_WEIGHTS:
        el_store_double(dt, data, i, test_normal(rng, 0.02));
        return;
    case KIND_CONSTANT:
        el_store_double(dt, data, i, 0.0123);
        return;
    case KIND_RANDOM_BITS:
        store_bits(dt, data, i, test_rand(rng));
        return;
    case KIND_NAN_PAYLOADS:
        if (special)
            store_bits(dt, data, i, nan_bits(dt, rng));
        else
            el_store_double(dt, data, i, test_normal(rng, 0.5));
        return;
    case KIND_INFINITIES:
        el_store_double(dt, data, i, special ? (test_rand(rng) & 1 ? INFINITY : -INFINITY)
                                             : test_normal(rng, 0.5));
        return;
    case KIND_SIGNED_ZEROS:
        el_store_double(dt, data, i, special ? (test_rand(rng) & 1 ? 0.0 : -0.0)
                                             : test_normal(rng, 1e-3));
        return;
    case KIND_SUBNORMALS:
        store_bits(dt, data, i, subnormal_bits(dt, rng));
        return;
    case KIND_NEAR_ONE:
        el_store_double(dt, data, i, near_one(dt, rng));
        return;
    case KIND_THOUSANDS:
        el_store_double(dt, data, i, test_normal(rng, 3000.0));
        return;
    case KIND_MIXED:
        fill_float(dt, data, i, (enum tensor_kind)(test_rand(rng) % KIND_MIXED), rng);
        return;
    case KIND_COUNT:
        break;
    }
}

/* Integers: small signed values for "weights", one value repeated, or any
 * bits. BOOL only gets 0 and 1. */
static void fill_other(el_dtype dt, uint8_t *data, size_t i, enum tensor_kind kind,
                       uint64_t *rng)
{
    uint64_t v;
    if (kind == KIND_CONSTANT)
        v = 0x5a5a5a5a5a5a5a5aULL;
    else if (kind == KIND_WEIGHTS)
        v = (uint64_t)((int64_t)(test_rand(rng) % 41) - 20);
    else
        v = test_rand(rng);
    if (dt == EL_BOOL)
        v &= 1;
    store_bits(dt, data, i, v);
}

static uint8_t *make_tensor(el_dtype dt, size_t count, enum tensor_kind kind)
{
    uint8_t *data = malloc(count * el_dtype_size(dt) + 1);
    assert_non_null(data);
    uint64_t rng = 0x9e3779b97f4a7c15ULL ^ ((uint64_t)dt << 40 | (uint64_t)kind << 20 | count);
    for (size_t i = 0; i < count; i++) {
        if (el_dtype_is_float(dt))
            fill_float(dt, data, i, kind, &rng);
        else
            fill_other(dt, data, i, kind, &rng);
    }
    return data;
}

/* ---- the properties ---- */

/* Runs every property on one tensor. Returns 0, or -1 with the reason in
 * why when a property fails. */
static int check_round_trip(const el_codec *codec, el_dtype dt, const uint8_t *src,
                            size_t count, const el_codec_params *params, char *why,
                            size_t why_len)
{
    double max_error = codec->max_error(dt, params);
    size_t bytes = count * el_dtype_size(dt);
    el_buf first = {0};
    el_buf second = {0};
    uint8_t *dst = malloc(bytes + 1);
    el_error err = {{0}};
    int rc = -1;
    assert_non_null(dst);

    if (codec->lossless && max_error != 0.0) {
        snprintf(why, why_len, "lossless codec reports max_error %g", max_error);
    } else if (codec->encode(dt, src, count, params, &first, &err) != 0) {
        snprintf(why, why_len, "encode failed: %s", err.msg);
    } else if (codec->encode(dt, src, count, params, &second, &err) != 0) {
        snprintf(why, why_len, "second encode failed: %s", err.msg);
    } else if (first.len != second.len ||
               (first.len && memcmp(first.data, second.data, first.len) != 0)) {
        snprintf(why, why_len, "two encodings differ (%zu and %zu bytes)", first.len, second.len);
    } else if (codec->decode(dt, first.data, first.len, dst, count, &err) != 0) {
        snprintf(why, why_len, "decode failed: %s", err.msg);
    } else if (max_error == 0.0) {
        if (bytes && memcmp(src, dst, bytes) != 0)
            snprintf(why, why_len, "lossless decode differs from the input");
        else
            rc = 0;
    } else if (isfinite(max_error)) {
        double e = el_max_abs_error(dt, src, dst, count);
        if (!(e <= max_error))
            snprintf(why, why_len, "error %g exceeds max_error %g", e, max_error);
        else
            rc = 0;
    } else {
        rc = 0;
        for (size_t i = 0; i < count && el_dtype_is_float(dt); i++) {
            if (isnan(el_load_double(dt, src, i)) && !isnan(el_load_double(dt, dst, i))) {
                snprintf(why, why_len, "NaN at element %zu decoded as %g", i,
                         el_load_double(dt, dst, i));
                rc = -1;
                break;
            }
        }
    }

    free(dst);
    el_buf_free(&first);
    el_buf_free(&second);
    return rc;
}

/* Checks one codec on one dtype over every kind, size and bound. Returns
 * the number of combinations checked. */
static size_t check_codec_dtype(const el_codec *codec, el_dtype dt)
{
    size_t kinds = el_dtype_is_float(dt) ? KIND_COUNT : KIND_COUNT_NOT_FLOAT;
    size_t checked = 0;
    char why[EL_ERROR_MAX + 64];

    for (size_t b = 0; b < BOUNDS; b++) {
        el_codec_params params = {0, bounds[b]};
        if (!(codec->max_error(dt, &params) >= 0))
            continue;

        uint8_t empty[1] = {0};
        if (check_round_trip(codec, dt, empty, 0, &params, why, sizeof why) != 0)
            fail_msg("%s on an empty %s tensor, bound %g: %s", codec->name,
                     el_dtype_name(dt), bounds[b], why);
        checked++;

        for (size_t k = 0; k < kinds; k++) {
            for (size_t c = 0; c < COUNTS; c++) {
                uint8_t *src = make_tensor(dt, counts[c], (enum tensor_kind)k);
                if (check_round_trip(codec, dt, src, counts[c], &params, why, sizeof why) != 0)
                    fail_msg("%s on %zu %s elements (%s), bound %g: %s", codec->name,
                             counts[c], el_dtype_name(dt), kind_names[k], bounds[b], why);
                free(src);
                checked++;
            }
        }
    }
    return checked;
}

static void properties_every_codec(void **state)
{
    assert_true(el_codec_count() > 0);
    for (size_t c = 0; el_codecs[c] != NULL; c++) {
        size_t checked = 0;
        for (int dt = 0; dt < EL_DTYPE_COUNT; dt++) {
            if (el_codecs[c]->supports((el_dtype)dt))
                checked += check_codec_dtype(el_codecs[c], (el_dtype)dt);
        }
        if (checked == 0)
            fail_msg("%s accepts no dtype at any bound, so nothing was checked",
                     el_codecs[c]->name);
    }
}

/* ---- codecs that break a property, to show the checks can fail ---- */

static int any_dtype(el_dtype dt)
{
    return el_dtype_size(dt) != 0;
}

static double zero_error(el_dtype dt, const el_codec_params *params)
{
    return 0.0;
}

static double data_error(el_dtype dt, const el_codec_params *params)
{
    return INFINITY;
}

static double tiny_error(el_dtype dt, const el_codec_params *params)
{
    return 1e-9;
}

static int copy_encode(el_dtype dt, const void *src, size_t count,
                       const el_codec_params *params, el_buf *out, el_error *err)
{
    return el_buf_append(out, src, count * el_dtype_size(dt), err);
}

static int copy_decode(el_dtype dt, const void *payload, size_t payload_len,
                       void *dst, size_t count, el_error *err)
{
    if (payload_len != count * el_dtype_size(dt))
        return el_fail(err, "payload is %zu bytes, expected %zu", payload_len,
                       count * el_dtype_size(dt));
    memcpy(dst, payload, payload_len);
    return 0;
}

static int flip_decode(el_dtype dt, const void *payload, size_t payload_len,
                       void *dst, size_t count, el_error *err)
{
    if (copy_decode(dt, payload, payload_len, dst, count, err) != 0)
        return -1;
    ((uint8_t *)dst)[payload_len - 1] ^= 0x01;
    return 0;
}

/* Zeroes every element, so NaN becomes 0. */
static int zero_decode(el_dtype dt, const void *payload, size_t payload_len,
                       void *dst, size_t count, el_error *err)
{
    memset(dst, 0, count * el_dtype_size(dt));
    return 0;
}

static int counting_encode(el_dtype dt, const void *src, size_t count,
                           const el_codec_params *params, el_buf *out, el_error *err)
{
    static uint8_t calls;
    calls++;
    return el_buf_append_u8(out, calls, err);
}

static void properties_catch_broken_codecs(void **state)
{
    const el_codec flips_bit = {"flips-bit", "", 1, any_dtype, zero_error,
                                copy_encode, flip_decode};
    const el_codec drops_nan = {"drops-nan", "", 0, any_dtype, data_error,
                                copy_encode, zero_decode};
    const el_codec too_far = {"too-far", "", 0, any_dtype, tiny_error,
                              copy_encode, zero_decode};
    const el_codec random_output = {"random-output", "", 0, any_dtype, data_error,
                                    counting_encode, zero_decode};
    const el_codec lies = {"lies", "", 1, any_dtype, tiny_error, copy_encode, copy_decode};
    const el_codec honest = {"honest", "", 1, any_dtype, zero_error, copy_encode, copy_decode};

    el_codec_params params = {0, 0.0};
    char why[EL_ERROR_MAX + 64];
    uint8_t *weights = make_tensor(EL_F32, 257, KIND_WEIGHTS);
    uint8_t *nans = make_tensor(EL_F32, 257, KIND_NAN_PAYLOADS);

    assert_int_equal(check_round_trip(&flips_bit, EL_F32, weights, 257, &params, why,
                                      sizeof why), -1);
    assert_non_null(strstr(why, "differs"));
    assert_int_equal(check_round_trip(&drops_nan, EL_F32, nans, 257, &params, why,
                                      sizeof why), -1);
    assert_non_null(strstr(why, "NaN"));
    assert_int_equal(check_round_trip(&drops_nan, EL_F32, weights, 257, &params, why,
                                      sizeof why), 0);
    assert_int_equal(check_round_trip(&too_far, EL_F32, weights, 257, &params, why,
                                      sizeof why), -1);
    assert_non_null(strstr(why, "exceeds"));
    assert_int_equal(check_round_trip(&random_output, EL_F32, weights, 257, &params, why,
                                      sizeof why), -1);
    assert_non_null(strstr(why, "differ"));
    assert_int_equal(check_round_trip(&lies, EL_F32, weights, 257, &params, why,
                                      sizeof why), -1);
    assert_int_equal(check_round_trip(&honest, EL_F32, nans, 257, &params, why,
                                      sizeof why), 0);
    free(weights);
    free(nans);
}

/* The generators produce what their names promise. */
static void properties_generators(void **state)
{
    static const el_dtype types[] = {EL_F64, EL_F32, EL_F16, EL_BF16};
    for (size_t t = 0; t < 4; t++) {
        uint8_t *nans = make_tensor(types[t], 257, KIND_NAN_PAYLOADS);
        uint8_t *subs = make_tensor(types[t], 257, KIND_SUBNORMALS);
        size_t nan_count = 0;
        size_t signalling = 0;
        int quiet_bit = el_dtype_float_layout(types[t]).mantissa_bits - 1;
        for (size_t i = 0; i < 257; i++) {
            uint64_t bits = 0;
            memcpy(&bits, nans + i * el_dtype_size(types[t]), el_dtype_size(types[t]));
            if (isnan(el_load_double(types[t], nans, i))) {
                nan_count++;
                signalling += !(bits >> quiet_bit & 1);
            }
            assert_int_equal(el_load_exponent(types[t], subs, i), 0);
            assert_true(el_load_double(types[t], subs, i) != 0.0);
        }
        assert_true(nan_count > 40);
        assert_true(signalling > 10);
        free(nans);
        free(subs);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(properties_generators),
        cmocka_unit_test(properties_catch_broken_codecs),
        cmocka_unit_test(properties_every_codec),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
