/* Golden vectors for the bit layout of the `elf` codec. Every expected byte
 * is derived by hand from the method: a weight w with |w| < 1 becomes
 * y = |w| + 1 rounded to the dtype (ties to even), and its code word is the
 * sign bit of w followed by the M fraction bits of y (M = 23 for F32, 10 for
 * F16, 7 for BF16). Outliers (|w| >= 1, NaN, and w whose y rounds up to 2.0)
 * get code word 0 and follow as: varint count, varint index deltas, raw
 * values.
 *
 * The payload is u8 M, the frame lengths, then one zstd frame per byte
 * plane of the code words (plane 0 contains the low byte of every word) and
 * one for the outlier list. A plane that looks uniform is stored instead:
 * bit 7 of the first byte is set, a mask of the stored planes follows, then
 * those planes as they are, and only the other planes get frames (see
 * stored_planes_f32). Containers written before the planes layout
 * contain one zstd frame of the code words packed MSB first and
 * zero-padded to a byte, then the outlier list. The decoder still reads
 * those, and the packed vectors below check that.
 *
 * The same ten inputs for every dtype, with u = 2^-M the spacing of [1, 2):
 *   0: 0             y = 1                 code 0
 *   1: -0            sign only             code 1 << M
 *   2: 0.5           y = 1.5               fraction 100...0
 *   3: -0.75         y = 1.75              sign, fraction 110...0
 *   4: 2^-24         at most half of u: rounds to y = 1 (for F32 a tie
 *                    between 1 and 1 + u, and 1 has the even fraction)
 *   5: 1 - u         y = 2 - u exactly     fraction all ones
 *   6: 1 - u/2       the largest value below 1: y = 2 - u/2 is a tie
 *                    between 2 - u (odd) and 2.0 (even), so y = 2.0 and
 *                    w is an outlier (0.99999994 for F32)
 *   7: 1.0           outlier
 *   8: NaN           outlier
 *   9: 3u/2          y = 1 + 1.5u, a tie between 1 + u (odd) and 1 + 2u
 *                    (even): fraction 2
 * Outliers at 6, 7, 8: count 3, deltas 6, 1, 1. */
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

extern const el_codec el_codec_elf;

#define INPUTS 10

/* Fills the ten inputs above for dt. The NaN, given as its bits, is the
 * positive quiet NaN with no payload. */
static void make_inputs(el_dtype dt, uint64_t nan_bits, uint8_t *src)
{
    double u = ldexp(1.0, -el_dtype_float_layout(dt).mantissa_bits);
    const double values[INPUTS] = {
        0.0, -0.0, 0.5, -0.75, 0x1p-24, 1.0 - u, 1.0 - u / 2, 1.0, 0.0, 1.5 * u,
    };
    size_t size = el_dtype_size(dt);
    for (size_t i = 0; i < INPUTS; i++)
        el_store_double(dt, src, i, values[i]);
    for (size_t k = 0; k < size; k++)
        src[8 * size + k] = (uint8_t)(nan_bits >> (8 * k));
}

/* Checks the values that the code words imply, and the outliers kept. */
static void check_decoded(el_dtype dt, const uint8_t *src, const uint8_t *dst)
{
    double u = ldexp(1.0, -el_dtype_float_layout(dt).mantissa_bits);
    assert_true(el_load_double(dt, dst, 1) == 0.0 && signbit(el_load_double(dt, dst, 1)));
    assert_true(el_load_double(dt, dst, 3) == -0.75);
    assert_true(el_load_double(dt, dst, 4) == 0.0);
    assert_true(el_load_double(dt, dst, 5) == 1.0 - u);
    assert_true(el_load_double(dt, dst, 9) == 2 * u);
    size_t size = el_dtype_size(dt);
    assert_memory_equal(dst + 6 * size, src + 6 * size, 3 * size);
}

/* Reads one varint of the payload header. */
static size_t read_varint(const uint8_t *p, size_t *pos)
{
    size_t v = 0;
    for (int shift = 0;; shift += 7) {
        uint8_t b = p[(*pos)++];
        v |= (size_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return v;
    }
}

/* Encodes the inputs, checks each plane and the outlier list against
 * planes (nplanes x INPUTS bytes) and list, then the decoded values. */
static void check_golden(el_dtype dt, uint64_t nan_bits, const uint8_t *planes,
                         size_t nplanes, const uint8_t *list, size_t list_len)
{
    uint8_t src[INPUTS * 8];
    uint8_t dst[INPUTS * 8];
    make_inputs(dt, nan_bits, src);

    el_codec_params params = {0, 0.0};
    el_buf payload = {0};
    el_error err = {{0}};
    assert_int_equal(el_codec_elf.encode(dt, src, INPUTS, &params, &payload, &err), 0);

    size_t pos = 0;
    assert_int_equal(payload.data[pos++], el_dtype_float_layout(dt).mantissa_bits);
    size_t lengths[4];
    for (size_t j = 0; j <= nplanes; j++)
        lengths[j] = read_varint(payload.data, &pos);
    for (size_t j = 0; j <= nplanes; j++) {
        uint8_t content[128];
        size_t n = ZSTD_decompress(content, sizeof content, payload.data + pos, lengths[j]);
        assert_false(ZSTD_isError(n));
        if (j < nplanes) {
            assert_int_equal(n, INPUTS);
            assert_memory_equal(content, planes + j * INPUTS, INPUTS);
        } else {
            assert_int_equal(n, list_len);
            assert_memory_equal(content, list, list_len);
        }
        pos += lengths[j];
    }
    assert_int_equal(pos, payload.len);

    assert_int_equal(el_codec_elf.decode(dt, payload.data, payload.len, dst, INPUTS, &err), 0);
    check_decoded(dt, src, dst);
    el_buf_free(&payload);
}

/* Decodes packed, the content of a payload in the packed layout. */
static void check_packed(el_dtype dt, uint64_t nan_bits, const uint8_t *packed, size_t len)
{
    uint8_t src[INPUTS * 8];
    uint8_t dst[INPUTS * 8];
    make_inputs(dt, nan_bits, src);

    uint8_t frame[256];
    size_t frame_len = ZSTD_compress(frame, sizeof frame, packed, len, 3);
    assert_false(ZSTD_isError(frame_len));
    el_error err = {{0}};
    assert_int_equal(el_codec_elf.decode(dt, frame, frame_len, dst, INPUTS, &err), 0);
    check_decoded(dt, src, dst);
}

/* 24-bit code words 0x000000, 0x800000, 0x400000, 0xe00000, 0x000000,
 * 0x7fffff, three outlier slots and 0x000002, in three planes. */
static void golden_f32(void **state)
{
    static const uint8_t planes[] = {
        0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0x00, 0x00, 0x00, 0x02, /* bits 0-7 */
        0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0x00, 0x00, 0x00, 0x00, /* bits 8-15 */
        0x00, 0x80, 0x40, 0xe0, 0x00, 0x7f, 0x00, 0x00, 0x00, 0x00, /* bits 16-23 */
    };
    static const uint8_t list[] = {
        0x03, 0x06, 0x01, 0x01, /* 3 outliers at 6, 7, 8 */
        0xff, 0xff, 0x7f, 0x3f, /* 0x3f7fffff */
        0x00, 0x00, 0x80, 0x3f, /* 1.0f */
        0x00, 0x00, 0xc0, 0x7f, /* quiet NaN */
    };
    check_golden(EL_F32, 0x7fc00000u, planes, 3, list, sizeof list);
}

/* The same code words, three bytes each, MSB first. */
static void packed_f32(void **state)
{
    static const uint8_t want[] = {
        0x00, 0x00, 0x00, /* 0 */
        0x80, 0x00, 0x00, /* -0: sign bit 23 */
        0x40, 0x00, 0x00, /* 0.5: fraction 0x400000 */
        0xe0, 0x00, 0x00, /* -0.75: sign | 0x600000 */
        0x00, 0x00, 0x00, /* 2^-24: tie, down to 1.0 */
        0x7f, 0xff, 0xff, /* 1 - 2^-23: fraction 0x7fffff */
        0x00, 0x00, 0x00, /* 0.99999994: outlier slot */
        0x00, 0x00, 0x00, /* 1.0: outlier slot */
        0x00, 0x00, 0x00, /* NaN: outlier slot */
        0x00, 0x00, 0x02, /* 3 x 2^-24: tie, up to fraction 2 */
        0x03, 0x06, 0x01, 0x01, /* 3 outliers at 6, 7, 8 */
        0xff, 0xff, 0x7f, 0x3f, /* 0x3f7fffff */
        0x00, 0x00, 0x80, 0x3f, /* 1.0f */
        0x00, 0x00, 0xc0, 0x7f, /* quiet NaN */
    };
    check_packed(EL_F32, 0x7fc00000u, want, sizeof want);
}

/* 11-bit code words: 0x000, 0x400, 0x200, 0x700, 0x000, 0x3ff, 0x000,
 * 0x000, 0x000, 0x002, in two planes. */
static void golden_f16(void **state)
{
    static const uint8_t planes[] = {
        0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0x00, 0x00, 0x00, 0x02, /* bits 0-7 */
        0x00, 0x04, 0x02, 0x07, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00, /* bits 8-10 */
    };
    static const uint8_t list[] = {
        0x03, 0x06, 0x01, 0x01, /* 3 outliers at 6, 7, 8 */
        0xff, 0x3b, /* 1 - 2^-11 */
        0x00, 0x3c, /* 1.0 */
        0x00, 0x7e, /* quiet NaN */
    };
    check_golden(EL_F16, 0x7e00u, planes, 2, list, sizeof list);
}

/* The same code words packed MSB first, i.e. the bits
 *   00000000000 10000000000 01000000000 11100000000 00000000000
 *   01111111111 00000000000 00000000000 00000000000 00000000010
 * and two padding bits, which regroup into the 14 bytes below. */
static void packed_f16(void **state)
{
    static const uint8_t want[] = {
        0x00, /* 00000000: code 0 */
        0x10, /* 000 | 10000: end of code 0, start of -0 */
        0x01, /* 000000 | 01: end of -0, start of 0.5 */
        0x00, /* 00000000 */
        0x70, /* 0 | 1110000: end of 0.5, start of -0.75 */
        0x00, /* 0000 | 0000: end of -0.75, start of 2^-24 */
        0x00, /* 0000000 | 0: end of 2^-24, start of 1 - 2^-10 */
        0xff, /* 11111111 */
        0xc0, /* 11 | 000000: end of 1 - 2^-10, start of the outlier slots */
        0x00, 0x00, 0x00, 0x00,
        0x08, /* 000010 | 00: end of 3 x 2^-11, then padding */
        0x03, 0x06, 0x01, 0x01, /* 3 outliers at 6, 7, 8 */
        0xff, 0x3b, /* 1 - 2^-11 */
        0x00, 0x3c, /* 1.0 */
        0x00, 0x7e, /* quiet NaN */
    };
    check_packed(EL_F16, 0x7e00u, want, sizeof want);
}

/* 8-bit code words, one plane. */
static void golden_bf16(void **state)
{
    static const uint8_t planes[] = {
        0x00, 0x80, 0x40, 0xe0, 0x00, 0x7f, 0x00, 0x00, 0x00, 0x02,
    };
    static const uint8_t list[] = {
        0x03, 0x06, 0x01, 0x01, /* 3 outliers at 6, 7, 8 */
        0x7f, 0x3f, /* 1 - 2^-8 */
        0x80, 0x3f, /* 1.0 */
        0xc0, 0x7f, /* quiet NaN */
    };
    check_golden(EL_BF16, 0x7fc0u, planes, 1, list, sizeof list);
}

/* The same code words, one byte each. */
static void packed_bf16(void **state)
{
    static const uint8_t want[] = {
        0x00, /* 0 */
        0x80, /* -0 */
        0x40, /* 0.5 */
        0xe0, /* -0.75 */
        0x00, /* 2^-24, far below half of 2^-7 */
        0x7f, /* 1 - 2^-7 */
        0x00, 0x00, 0x00, /* outlier slots */
        0x02, /* 3 x 2^-8: tie, up to fraction 2 */
        0x03, 0x06, 0x01, 0x01, /* 3 outliers at 6, 7, 8 */
        0x7f, 0x3f, /* 1 - 2^-8 */
        0x80, 0x3f, /* 1.0 */
        0xc0, 0x7f, /* quiet NaN */
    };
    check_packed(EL_BF16, 0x7fc0u, want, sizeof want);
}

/* 8192 F32 weights k * 2^-23 with k a 16-bit pseudo-random number: y is
 * 1 + k * 2^-23 exactly, so the code word is k. Planes 0 and 1 are uniform
 * and stored; plane 2 is all zero and gets a frame. */
static void stored_planes_f32(void **state)
{
    enum { N = 8192 };
    static float src[N], dst[N];
    static uint8_t low[N], mid[N];
    uint32_t x = 88172645u;
    for (size_t i = 0; i < N; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        const uint32_t k = x >> 16;
        src[i] = ldexpf((float)k, -23);
        low[i] = (uint8_t)k;
        mid[i] = (uint8_t)(k >> 8);
    }

    el_codec_params params = {0, 0.0};
    el_buf payload = {0};
    el_error err = {{0}};
    assert_int_equal(el_codec_elf.encode(EL_F32, src, N, &params, &payload, &err), 0);
    assert_int_equal(payload.data[0], 0x80 | 23);
    assert_int_equal(payload.data[1], 0x03);
    assert_memory_equal(payload.data + 2, low, N);
    assert_memory_equal(payload.data + 2 + N, mid, N);

    size_t pos = 2 + 2 * (size_t)N;
    size_t plane_len = read_varint(payload.data, &pos);
    size_t list_len = read_varint(payload.data, &pos);
    assert_int_equal(pos + plane_len + list_len, payload.len);
    uint8_t top[N], list[16];
    assert_int_equal(ZSTD_decompress(top, sizeof top, payload.data + pos, plane_len), N);
    for (size_t i = 0; i < N; i++)
        assert_int_equal(top[i], 0);
    assert_int_equal(ZSTD_decompress(list, sizeof list, payload.data + pos + plane_len, list_len),
                     1);
    assert_int_equal(list[0], 0); /* no outliers */

    assert_int_equal(el_codec_elf.decode(EL_F32, payload.data, payload.len, dst, N, &err), 0);
    assert_memory_equal(dst, src, sizeof src);

    /* A mask naming a fourth plane, and a stored plane cut short. */
    payload.data[1] = 0x0b;
    assert_int_equal(el_codec_elf.decode(EL_F32, payload.data, payload.len, dst, N, &err), -1);
    assert_non_null(strstr(err.msg, "mask"));
    payload.data[1] = 0x03;
    assert_int_equal(el_codec_elf.decode(EL_F32, payload.data, 2 + N + 100, dst, N, &err), -1);
    assert_non_null(strstr(err.msg, "stored plane 1"));
    el_buf_free(&payload);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(golden_f32),
        cmocka_unit_test(golden_f16),
        cmocka_unit_test(golden_bf16),
        cmocka_unit_test(packed_f32),
        cmocka_unit_test(packed_f16),
        cmocka_unit_test(packed_bf16),
        cmocka_unit_test(stored_planes_f32),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
