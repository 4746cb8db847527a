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
#include "../codecs/measure.h"
#include "testutil.h"

extern const el_codec el_codec_int8;
extern const el_codec el_codec_int4;

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

/* The content of the payload's zstd frame, in a buffer of at most cap bytes. */
static size_t frame_content(const el_buf *payload, uint8_t *content, size_t cap)
{
    size_t n = ZSTD_decompress(content, cap, payload->data, payload->len);
    assert_false(ZSTD_isError(n));
    return n;
}

/* Decodes hand-made content: scales, codes and exceptions, to which this
 * appends the element count that closes every payload (u64, little-endian). */
static int decode_content(const el_codec *codec, const void *content, size_t content_len,
                          size_t count, el_error *err)
{
    uint8_t whole[256];
    assert_true(content_len + 8 <= sizeof whole);
    memcpy(whole, content, content_len);
    for (int i = 0; i < 8; i++)
        whole[content_len + i] = (uint8_t)((uint64_t)count >> (8 * i));

    uint8_t frame[512];
    size_t frame_len = ZSTD_compress(frame, sizeof frame, whole, content_len + 8, 3);
    assert_false(ZSTD_isError(frame_len));

    float *dst = malloc(count * sizeof *dst + 1);
    assert_non_null(dst);
    int rc = codec->decode(EL_F32, frame, frame_len, dst, count, err);
    free(dst);
    return rc;
}

static void intq_supports_floats(void **state)
{
    const el_codec *codecs[] = {&el_codec_int8, &el_codec_int4};
    for (size_t c = 0; c < 2; c++) {
        assert_true(codecs[c]->supports(EL_F64));
        assert_true(codecs[c]->supports(EL_F32));
        assert_true(codecs[c]->supports(EL_F16));
        assert_true(codecs[c]->supports(EL_BF16));
        assert_false(codecs[c]->supports(EL_I32));
        assert_false(codecs[c]->supports(EL_F8_E5M2));
        assert_true(isinf(codecs[c]->max_error(EL_F32, &default_params)));
        assert_true(codecs[c]->max_error(EL_I32, &default_params) < 0);
    }
}

/* max|w| = 127 x 2^-7, so d = 2^-7 exactly (F16 0x2000) and every
 * w = k x 2^-7 is code k and decodes exactly. 2.5 x 2^-7 is a tie that
 * rounds away from zero to 3. */
static void int8_layout(void **state)
{
    float src[33];
    for (int i = 0; i < 32; i++)
        src[i] = (float)ldexp(i * 8 - 127, -7);
    src[31] = (float)ldexp(2.5, -7);
    src[32] = -0.25f; /* block 2 alone: d = 0.25 / 127 */

    el_buf payload = {0};
    float *dst = round_trip(&el_codec_int8, EL_F32, src, 33, &payload);
    uint8_t content[128];
    size_t n = frame_content(&payload, content, sizeof content);
    assert_int_equal(n, 2 * 2 + 33 + 1 + 8);

    assert_int_equal(content[0] | content[1] << 8, 0x2000);
    for (int i = 0; i < 31; i++) {
        assert_int_equal((int8_t)content[4 + i], i * 8 - 127);
        assert_true(dst[i] == src[i]);
    }
    assert_int_equal(content[4 + 31], 3);
    assert_true(dst[31] == (float)ldexp(3, -7));
    assert_int_equal((int8_t)content[4 + 32], -127);
    assert_true(fabsf(dst[32] + 0.25f) < 1e-4f);
    assert_int_equal(content[37], 0); /* no exceptions */
    assert_int_equal(content[38], 33); /* the element count closes the content */
    free(dst);
    el_buf_free(&payload);
}

/* The first element of largest |w| is -1.0, so d = -1 / -8 = 0.125 (F16
 * 0x3000) and q = floor(w / d + 8.5): -1.0 -> 0, 0.875 -> 15, 0 -> 8. The
 * later +1.0 would be q = 16 and is clamped to 15, decoding to 0.875, as in
 * GGUF's Q4_0. Codes pair up low nibble first. */
static void int4_layout(void **state)
{
    float src[5] = {-1.0f, 0.875f, 0.0f, 1.0f, 0.3f};
    el_buf payload = {0};
    float *dst = round_trip(&el_codec_int4, EL_F32, src, 5, &payload);
    uint8_t content[64];
    size_t n = frame_content(&payload, content, sizeof content);
    assert_int_equal(n, 2 + 3 + 1 + 8);

    assert_int_equal(content[0] | content[1] << 8, 0x3000);
    assert_int_equal(content[2], 0x0 | 0xf << 4);
    assert_int_equal(content[3], 0x8 | 0xf << 4);
    assert_int_equal(content[4], 0xa); /* 0.3 / 0.125 + 8.5 = 10.9; padding 0 */
    assert_true(dst[0] == -1.0f);
    assert_true(dst[1] == 0.875f);
    assert_true(dst[2] == 0.0f);
    assert_true(dst[3] == 0.875f);
    assert_true(dst[4] == 0.25f);
    free(dst);
    el_buf_free(&payload);
}

/* With a positive w_max the scale is negative and w_max maps to -8. */
static void int4_positive_max(void **state)
{
    float src[3] = {0.5f, 2.0f, -2.0f};
    el_buf payload = {0};
    float *dst = round_trip(&el_codec_int4, EL_F32, src, 3, &payload);
    uint8_t content[64];
    frame_content(&payload, content, sizeof content);
    assert_int_equal(content[0] | content[1] << 8, 0xb400); /* -0.25 */
    assert_true(dst[1] == 2.0f);
    assert_true(dst[0] == 0.5f);
    assert_true(dst[2] == -1.75f); /* +8 clamps to 7 */
    free(dst);
    el_buf_free(&payload);
}

/* Per-block scale from the F16-rounded max|w|: int8 errs by at most d / 2,
 * and int4 by d / 2 except where the clamp at +7 costs up to a whole d. */
static void intq_error_per_block(void **state)
{
    const el_codec *codecs[] = {&el_codec_int8, &el_codec_int4};
    static const el_dtype types[] = {EL_F64, EL_F32, EL_F16, EL_BF16};
    size_t count = 4099;
    uint8_t *src = malloc(count * 8);
    assert_non_null(src);

    for (size_t c = 0; c < 2; c++) {
        for (size_t t = 0; t < 4; t++) {
            uint64_t rng = 21 + t;
            for (size_t i = 0; i < count; i++)
                el_store_double(types[t], src, i, test_normal(&rng, i < 2048 ? 0.02 : 3000.0));

            el_buf payload = {0};
            uint8_t *dst = round_trip(codecs[c], types[t], src, count, &payload);
            for (size_t b = 0; b * 32 < count; b++) {
                double amax = 0;
                for (size_t i = b * 32; i < count && i < b * 32 + 32; i++)
                    amax = fmax(amax, fabs(el_load_double(types[t], src, i)));
                double d = amax / (c == 0 ? 127.0 : 8.0) * (1 + 0x1p-10);
                /* Storing into an F16 or BF16 tensor rounds once more. */
                double allowed = (c == 0 ? d / 2 : d) + amax * 0x1p-8;
                for (size_t i = b * 32; i < count && i < b * 32 + 32; i++) {
                    double e = fabs(el_load_double(types[t], src, i) -
                                    el_load_double(types[t], dst, i));
                    if (!(e <= allowed))
                        fail_msg("%s %s element %zu: error %g above %g", codecs[c]->name,
                                 el_dtype_name(types[t]), i, e, allowed);
                }
            }
            free(dst);
            el_buf_free(&payload);
        }
    }
    free(src);
}

/* NaN (with its payload) and infinities come back bit for bit and take no
 * part in the scale, so the finite neighbours keep a fine grid. */
static void intq_keeps_non_finite(void **state)
{
    const el_codec *codecs[] = {&el_codec_int8, &el_codec_int4};
    static const uint32_t odd_bits[] = {0x7fc00001u, 0xff800000u, 0x7f800000u, 0x7f800005u};
    float src[40];
    for (size_t i = 0; i < 40; i++)
        src[i] = (float)i / 64.0f;
    for (size_t k = 0; k < 4; k++)
        memcpy(&src[3 + 9 * k], &odd_bits[k], 4);

    for (size_t c = 0; c < 2; c++) {
        el_buf payload = {0};
        float *dst = round_trip(codecs[c], EL_F32, src, 40, &payload);
        for (size_t i = 0; i < 40; i++) {
            if (!isfinite(src[i]))
                assert_memory_equal(&dst[i], &src[i], 4);
            else
                assert_true(fabsf(dst[i] - src[i]) <= (c == 0 ? 0.004f : 0.04f));
        }
        free(dst);
        el_buf_free(&payload);
    }
}

static void intq_zero_blocks(void **state)
{
    const el_codec *codecs[] = {&el_codec_int8, &el_codec_int4};
    float src[70] = {0};
    src[5] = -0.0f;
    src[40] = NAN;
    for (size_t c = 0; c < 2; c++) {
        el_buf payload = {0};
        float *dst = round_trip(codecs[c], EL_F32, src, 70, &payload);
        assert_true(el_max_abs_error(EL_F32, src, dst, 70) == 0.0);
        assert_true(isnan(dst[40]));
        free(dst);
        el_buf_free(&payload);
    }
}

/* A scale beyond F16's range saturates to 65504: values clip instead of
 * turning into infinities. */
static void intq_huge_values_clip(void **state)
{
    const el_codec *codecs[] = {&el_codec_int8, &el_codec_int4};
    float src[3] = {1e10f, -3e9f, 1.0f};
    for (size_t c = 0; c < 2; c++) {
        el_buf payload = {0};
        float *dst = round_trip(codecs[c], EL_F32, src, 3, &payload);
        for (size_t i = 0; i < 3; i++)
            assert_true(isfinite(dst[i]));
        assert_true(fabsf(dst[0]) <= 127.0f * 65504.0f);
        free(dst);
        el_buf_free(&payload);
    }
}

/* Normal weights: int8 keeps about a quarter of F32's 4 bytes, int4 less. */
static void intq_ratio_on_weights(void **state)
{
    size_t count = 65536;
    float *src = malloc(count * sizeof *src);
    assert_non_null(src);
    uint64_t rng = 9;
    for (size_t i = 0; i < count; i++)
        src[i] = (float)test_normal(&rng, 0.02);

    el_buf p8 = {0};
    el_buf p4 = {0};
    free(round_trip(&el_codec_int8, EL_F32, src, count, &p8));
    free(round_trip(&el_codec_int4, EL_F32, src, count, &p4));
    assert_true(p8.len < count * 4 / 3);
    assert_true(p4.len < p8.len * 2 / 3);
    el_buf_free(&p8);
    el_buf_free(&p4);
    free(src);
}

static void intq_rejects_bad_payloads(void **state)
{
    el_error err = {{0}};

    /* scale 1.0, codes 1 and -128, no exceptions */
    const uint8_t minus_128[2 + 2 + 1] = {0x00, 0x3c, 0x01, 0x80, 0x00};
    assert_int_equal(decode_content(&el_codec_int8, minus_128, sizeof minus_128, 2, &err), -1);
    assert_non_null(strstr(err.msg, "-128"));

    const uint8_t fine[2 + 2 + 1] = {0x00, 0x3c, 0x01, 0x81, 0x00};
    assert_int_equal(decode_content(&el_codec_int8, fine, sizeof fine, 2, &err), 0);

    const uint8_t inf_scale[2 + 2 + 1] = {0x00, 0x7c, 0x01, 0x81, 0x00};
    assert_int_equal(decode_content(&el_codec_int8, inf_scale, sizeof inf_scale, 2, &err), -1);
    assert_non_null(strstr(err.msg, "scale"));

    /* One exception at index 1 holding the finite value 1.0f. */
    const uint8_t finite_exception[2 + 2 + 1 + 1 + 4] = {
        0x00, 0x3c, 0x01, 0x00, 0x01, 0x01, 0x00, 0x00, 0x80, 0x3f,
    };
    assert_int_equal(decode_content(&el_codec_int8, finite_exception,
                                    sizeof finite_exception, 2, &err), -1);
    assert_non_null(strstr(err.msg, "finite"));

    /* The same exception holding +Inf decodes. */
    const uint8_t inf_exception[2 + 2 + 1 + 1 + 4] = {
        0x00, 0x3c, 0x01, 0x00, 0x01, 0x01, 0x00, 0x00, 0x80, 0x7f,
    };
    assert_int_equal(decode_content(&el_codec_int8, inf_exception,
                                    sizeof inf_exception, 2, &err), 0);

    /* An exception index past the end. */
    const uint8_t far_exception[2 + 2 + 1 + 1 + 4] = {
        0x00, 0x3c, 0x01, 0x00, 0x01, 0x02, 0x00, 0x00, 0x80, 0x7f,
    };
    assert_int_equal(decode_content(&el_codec_int8, far_exception,
                                    sizeof far_exception, 2, &err), -1);

    /* int4, three codes: the high nibble after the last must be zero. */
    const uint8_t padding[2 + 2 + 1] = {0x00, 0x3c, 0x88, 0x18, 0x00};
    assert_int_equal(decode_content(&el_codec_int4, padding, sizeof padding, 3, &err), -1);
    assert_non_null(strstr(err.msg, "padding"));

    /* Scales and codes cut short. */
    assert_int_equal(decode_content(&el_codec_int8, fine, 3, 2, &err), -1);
}

static void intq_rejects_truncated(void **state)
{
    float src[100];
    for (size_t i = 0; i < 100; i++)
        src[i] = (float)i / 50.0f;
    el_buf payload = {0};
    free(round_trip(&el_codec_int4, EL_F32, src, 100, &payload));

    float dst[100];
    el_error err = {{0}};
    for (size_t len = 0; len < payload.len; len += 2)
        assert_int_equal(el_codec_int4.decode(EL_F32, payload.data, len, dst, 100, &err), -1);
    assert_int_equal(el_codec_int4.decode(EL_F32, payload.data, payload.len, dst, 64, &err), -1);
    el_buf_free(&payload);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(intq_supports_floats),
        cmocka_unit_test(int8_layout),
        cmocka_unit_test(int4_layout),
        cmocka_unit_test(int4_positive_max),
        cmocka_unit_test(intq_error_per_block),
        cmocka_unit_test(intq_keeps_non_finite),
        cmocka_unit_test(intq_zero_blocks),
        cmocka_unit_test(intq_huge_values_clip),
        cmocka_unit_test(intq_ratio_on_weights),
        cmocka_unit_test(intq_rejects_bad_payloads),
        cmocka_unit_test(intq_rejects_truncated),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
