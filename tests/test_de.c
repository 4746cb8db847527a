#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "../codecs/codec.h"
#include "testutil.h"

extern const el_codec el_codec_de;

static const el_codec_params default_params = {0, 0.0};

static void *round_trip(el_dtype dt, const void *src, size_t count, el_buf *payload)
{
    el_error err = {{0}};
    if (el_codec_de.encode(dt, src, count, &default_params, payload, &err) != 0)
        fail_msg("de encode failed: %s", err.msg);

    uint8_t *dst = malloc(count * el_dtype_size(dt) + 1);
    assert_non_null(dst);
    if (el_codec_de.decode(dt, payload->data, payload->len, dst, count, &err) != 0)
        fail_msg("de decode failed: %s", err.msg);
    assert_memory_equal(dst, src, count * el_dtype_size(dt));
    return dst;
}

/* Compresses content as one zstd frame and decodes it as a de payload.
 * Returns the decoder's result, with its message in err. */
static int decode_content(el_dtype dt, const void *content, size_t content_len, size_t count,
                          el_error *err)
{
    uint8_t frame[512];
    size_t frame_len = ZSTD_compress(frame, sizeof frame, content, content_len, 3);
    assert_false(ZSTD_isError(frame_len));

    uint8_t *dst = malloc(count * el_dtype_size(dt) + 1);
    assert_non_null(dst);
    int rc = el_codec_de.decode(dt, frame, frame_len, dst, count, err);
    free(dst);
    return rc;
}

/* Elements drawn from `distinct` random bit patterns of dt. */
static void *low_cardinality(el_dtype dt, size_t count, size_t distinct, uint64_t seed)
{
    size_t size = el_dtype_size(dt);
    uint64_t *pool = malloc(distinct * sizeof *pool);
    uint8_t *data = malloc(count * size + 1);
    assert_non_null(pool);
    assert_non_null(data);

    uint64_t rng = seed;
    for (size_t k = 0; k < distinct; k++)
        pool[k] = test_rand(&rng);
    for (size_t i = 0; i < count; i++)
        memcpy(data + i * size, &pool[test_rand(&rng) % distinct], size); /* little-endian host */
    free(pool);
    return data;
}

static void de_supports_sizes(void **state)
{
    assert_true(el_codec_de.supports(EL_F64));
    assert_true(el_codec_de.supports(EL_F32));
    assert_true(el_codec_de.supports(EL_BF16));
    assert_true(el_codec_de.supports(EL_I64));
    assert_true(el_codec_de.supports(EL_U16));
    assert_false(el_codec_de.supports(EL_U8));
    assert_false(el_codec_de.supports(EL_BOOL));
    assert_false(el_codec_de.supports(EL_F8_E4M3));
    assert_true(el_codec_de.max_error(EL_F32, &default_params) == 0.0);
    assert_true(el_codec_de.max_error(EL_U8, &default_params) < 0);

    uint8_t src[4] = {1, 2, 3, 4};
    el_buf payload = {0};
    el_error err = {{0}};
    assert_int_equal(el_codec_de.encode(EL_U8, src, 4, &default_params, &payload, &err), -1);
    assert_non_null(strstr(err.msg, "U8"));
    el_buf_free(&payload);
}

/* The bytes inside the frame for a, b, c, a, a, b. Element 3 repeats a from
 * 3 back (token 2, distance bit "1"), and element 4 from 1 back (token 1, no
 * bits). Element 5 repeats b from 4 back (token 3, bits "00"). */
static void de_layout(void **state)
{
    const float src[6] = {0.5f, -2.0f, 3.25f, 0.5f, 0.5f, -2.0f};
    el_buf payload = {0};
    free(round_trip(EL_F32, src, 6, &payload));

    uint8_t content[64];
    size_t n = ZSTD_decompress(content, sizeof content, payload.data, payload.len);
    assert_false(ZSTD_isError(n));
    assert_int_equal(n, 6 + 1 + 3 * 4);

    static const uint8_t tokens[6] = {0, 0, 0, 2, 1, 3};
    assert_memory_equal(content, tokens, 6);
    assert_int_equal(content[6], 0x80); /* "1" "00" then zero padding */
    assert_memory_equal(content + 7, &src[0], 4);
    assert_memory_equal(content + 11, &src[1], 4);
    assert_memory_equal(content + 15, &src[2], 4);
    el_buf_free(&payload);
}

static void de_round_trip_dtypes(void **state)
{
    static const el_dtype types[] = {EL_F64, EL_F32, EL_F16, EL_BF16, EL_I64, EL_I32,
                                     EL_I16, EL_U64, EL_U32, EL_U16};
    static const size_t counts[] = {0, 1, 2, 100, 70000};
    static const size_t distinct[] = {1, 3, 256, 100000};
    for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
        for (size_t c = 0; c < sizeof counts / sizeof counts[0]; c++) {
            for (size_t d = 0; d < sizeof distinct / sizeof distinct[0]; d++) {
                void *src = low_cardinality(types[t], counts[c], distinct[d], 7 + t + c + d);
                el_buf payload = {0};
                free(round_trip(types[t], src, counts[c], &payload));
                el_buf_free(&payload);
                free(src);
            }
        }
    }
}

/* Every NaN payload, signalling NaNs and both zeros are distinct bit
 * patterns, so each is its own distinct value and comes back unchanged. */
static void de_keeps_nan_payloads(void **state)
{
    static const uint32_t bits[] = {
        0x7fc00000u, 0xffc00000u, 0x7f800001u, 0xff800123u, 0x7fbfffffu,
        0x00000000u, 0x80000000u, 0x7f800000u, 0xff800000u, 0x00000001u,
    };
    uint32_t src[300];
    uint64_t rng = 3;
    for (size_t i = 0; i < 300; i++)
        src[i] = bits[test_rand(&rng) % (sizeof bits / sizeof bits[0])];

    el_buf payload = {0};
    free(round_trip(EL_F32, src, 300, &payload));
    el_buf_free(&payload);
}

/* A constant tensor is one distinct value and then distance 1 everywhere:
 * a run zstd turns into a few bytes. */
static void de_constant_is_tiny(void **state)
{
    size_t count = 100000;
    float *src = malloc(count * sizeof *src);
    assert_non_null(src);
    for (size_t i = 0; i < count; i++)
        src[i] = 0.125f;

    el_buf payload = {0};
    free(round_trip(EL_F32, src, count, &payload));
    assert_true(payload.len < 200);
    el_buf_free(&payload);
    free(src);
}

/* 256 distinct values in random order: about 8 bits of information per
 * element, so de must get well below the 32 of F32. */
static void de_low_cardinality_shrinks(void **state)
{
    size_t count = 65536;
    void *src = low_cardinality(EL_F32, count, 256, 11);
    el_buf payload = {0};
    free(round_trip(EL_F32, src, count, &payload));
    assert_true(payload.len < count * 4 / 2);
    el_buf_free(&payload);
    free(src);
}

/* All distinct: the hash table has to grow from its first size to hold
 * every element. Distances to far-back repeats take 17 bits. */
static void de_all_distinct_and_far(void **state)
{
    size_t count = 200000;
    uint64_t *src = malloc(count * sizeof *src);
    assert_non_null(src);
    uint64_t rng = 5;
    for (size_t i = 0; i < count; i++)
        src[i] = i < 100000 ? test_rand(&rng) : src[i - 100000];

    el_buf payload = {0};
    free(round_trip(EL_U64, src, count, &payload));
    el_buf_free(&payload);
    free(src);
}

static void de_rejects_bad_distance(void **state)
{
    el_error err = {{0}};

    /* Element 0 cannot repeat anything. */
    const uint8_t first[1] = {1};
    assert_int_equal(decode_content(EL_U16, first, 1, 1, &err), -1);
    assert_non_null(strstr(err.msg, "before the start"));

    /* Element 1 refers 3 back: token 2 with bit "1". */
    const uint8_t far[2 + 1 + 2] = {0, 2, 0x80, 0x34, 0x12};
    assert_int_equal(decode_content(EL_U16, far, sizeof far, 2, &err), -1);
    assert_non_null(strstr(err.msg, "3 elements back"));

    /* A 65-bit distance does not exist. */
    const uint8_t huge[2 + 2] = {0, 65, 0x34, 0x12};
    assert_int_equal(decode_content(EL_U16, huge, sizeof huge, 2, &err), -1);
    assert_non_null(strstr(err.msg, "65"));

    /* The same payload with distance 1 decodes. */
    const uint8_t good[2 + 2] = {0, 1, 0x34, 0x12};
    assert_int_equal(decode_content(EL_U16, good, sizeof good, 2, &err), 0);
}

static void de_rejects_bad_lengths(void **state)
{
    el_error err = {{0}};

    /* Two new values, but only one in the list. */
    const uint8_t short_list[2 + 2] = {0, 0, 0x34, 0x12};
    assert_int_equal(decode_content(EL_U16, short_list, sizeof short_list, 2, &err), -1);
    assert_non_null(strstr(err.msg, "2 distinct values"));

    /* One value too many in the list. */
    const uint8_t long_list[2 + 4] = {0, 1, 0x34, 0x12, 0x78, 0x56};
    assert_int_equal(decode_content(EL_U16, long_list, sizeof long_list, 2, &err), -1);

    /* Distance bits missing: token 2 needs one. */
    const uint8_t no_bits[3 + 4] = {0, 0, 2, 0x34, 0x12, 0x78, 0x56};
    assert_int_equal(decode_content(EL_U16, no_bits, sizeof no_bits, 3, &err), -1);

    /* Padding after the bit "0" must be zero. */
    const uint8_t padding[3 + 1 + 4] = {0, 0, 2, 0x01, 0x34, 0x12, 0x78, 0x56};
    assert_int_equal(decode_content(EL_U16, padding, sizeof padding, 3, &err), -1);
    assert_non_null(strstr(err.msg, "padding"));

    /* Fewer bytes than tokens. */
    const uint8_t few[1] = {0};
    assert_int_equal(decode_content(EL_U16, few, sizeof few, 3, &err), -1);
}

static void de_rejects_truncated(void **state)
{
    uint16_t src[1000];
    for (size_t i = 0; i < 1000; i++)
        src[i] = (uint16_t)(i % 37);
    el_buf payload = {0};
    free(round_trip(EL_U16, src, 1000, &payload));

    uint16_t dst[1000];
    el_error err = {{0}};
    for (size_t len = 0; len < payload.len; len += 3)
        assert_int_equal(el_codec_de.decode(EL_U16, payload.data, len, dst, 1000, &err), -1);
    assert_int_equal(el_codec_de.decode(EL_U16, payload.data, payload.len, dst, 999, &err), -1);
    el_buf_free(&payload);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(de_supports_sizes),
        cmocka_unit_test(de_layout),
        cmocka_unit_test(de_round_trip_dtypes),
        cmocka_unit_test(de_keeps_nan_payloads),
        cmocka_unit_test(de_constant_is_tiny),
        cmocka_unit_test(de_low_cardinality_shrinks),
        cmocka_unit_test(de_all_distinct_and_far),
        cmocka_unit_test(de_rejects_bad_distance),
        cmocka_unit_test(de_rejects_bad_lengths),
        cmocka_unit_test(de_rejects_truncated),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
