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
#include "../codecs/entropy.h"
#include "../codecs/zstd_frame.h"
#include "testutil.h"

enum tensor_kind { KIND_NORMAL, KIND_NEAR_ONE, KIND_SPECIAL, KIND_MIXED, KIND_COUNT };

static const char *const kind_names[] = {"normal", "near-one", "special", "mixed"};

static const size_t test_counts[] = {0, 1, 7, 13, 1000, 4099};
#define COUNTS (sizeof test_counts / sizeof test_counts[0])

static const el_dtype float_types[] = {EL_F64, EL_F32, EL_F16, EL_BF16};
static const el_dtype lossless_types[] = {EL_F64, EL_F32, EL_F16, EL_BF16, EL_I32, EL_U8};

static const el_codec_params default_params = {0, 0.0};

/* Fills count elements of dt. Float kinds: weights with sd 0.02, values
 * within 1e-6 of ±1, every special value in turn, or a mix of the three.
 * Integer dtypes get small signed integers whatever the kind. */
static void *make_tensor(el_dtype dt, size_t count, enum tensor_kind kind, uint64_t seed)
{
    size_t size = el_dtype_size(dt);
    uint8_t *data = malloc(count * size + 1);
    assert_non_null(data);

    uint64_t rng = seed * 2654435761u + 1;
    for (size_t i = 0; i < count; i++) {
        if (!el_dtype_is_float(dt)) {
            int64_t v = (int64_t)(test_rand(&rng) % 41) - 20;
            memcpy(data + i * size, &v, size); /* little-endian host */
            continue;
        }

        enum tensor_kind k = kind == KIND_MIXED ? (enum tensor_kind)(test_rand(&rng) % 3) : kind;
        double v;
        if (k == KIND_NORMAL)
            v = test_normal(&rng, 0.02);
        else if (k == KIND_NEAR_ONE)
            v = (test_rand(&rng) & 1 ? 1.0 : -1.0) + (test_uniform(&rng) - 0.5) * 2e-6;
        else
            v = test_special_values[(i + seed) % TEST_SPECIAL_COUNT];
        el_store_double(dt, data, i, v);
    }
    return data;
}

static int encode_decode(const el_codec *codec, el_dtype dt, const void *src, size_t count,
                         const el_codec_params *params, void **decoded, size_t *payload_len)
{
    el_buf payload = {0};
    el_error err = {{0}};
    if (codec->encode(dt, src, count, params, &payload, &err) != 0) {
        el_buf_free(&payload);
        return -1;
    }

    size_t size = el_dtype_size(dt);
    uint8_t *dst = malloc(count * size + 1);
    assert_non_null(dst);
    int rc = codec->decode(dt, payload.data, payload.len, dst, count, &err);
    if (rc != 0)
        fprintf(stderr, "%s decode failed on %zu %s: %s\n", codec->name, count,
                el_dtype_name(dt), err.msg);
    assert_int_equal(rc, 0);

    *decoded = dst;
    if (payload_len)
        *payload_len = payload.len;
    el_buf_free(&payload);
    return 0;
}

static void check_lossless(const el_codec *codec)
{
    for (size_t t = 0; t < sizeof lossless_types / sizeof lossless_types[0]; t++) {
        el_dtype dt = lossless_types[t];
        for (int kind = 0; kind < KIND_COUNT; kind++) {
            for (size_t c = 0; c < COUNTS; c++) {
                size_t count = test_counts[c];
                void *src = make_tensor(dt, count, kind, c + 1);
                void *dst;
                assert_int_equal(encode_decode(codec, dt, src, count, &default_params, &dst, NULL), 0);
                if (memcmp(src, dst, count * el_dtype_size(dt)) != 0)
                    fail_msg("%s changed %s %s data of %zu elements", codec->name,
                             kind_names[kind], el_dtype_name(dt), count);
                free(src);
                free(dst);
            }
        }
    }
}

static int same_bits(el_dtype dt, const void *a, const void *b, size_t i)
{
    size_t size = el_dtype_size(dt);
    return memcmp((const uint8_t *)a + i * size, (const uint8_t *)b + i * size, size) == 0;
}

/* Checks every element: NaN, Inf and |w| >= 1 bit-identical, the rest
 * within bound and with the sign kept (so -0.0 stays -0.0). */
static void check_bounded(const char *what, el_dtype dt, const void *src, const void *dst,
                          size_t count, double bound)
{
    for (size_t i = 0; i < count; i++) {
        double w = el_load_double(dt, src, i);
        double d = el_load_double(dt, dst, i);
        if (!(fabs(w) < 1.0)) {
            if (!same_bits(dt, src, dst, i))
                fail_msg("%s %s: outlier %zu (%g) decoded as %g", what, el_dtype_name(dt), i, w, d);
            continue;
        }
        if (!(fabs(w - d) <= bound))
            fail_msg("%s %s: element %zu: |%.17g - %.17g| exceeds %g", what, el_dtype_name(dt),
                     i, w, d, bound);
        if (d != 0.0 || w == 0.0)
            assert_int_equal(!!signbit(w), !!signbit(d));
    }
}

static void zstd_round_trip(void **state)
{
    check_lossless(el_codec_find("zstd"));
}

static void bytegroup_round_trip(void **state)
{
    check_lossless(el_codec_find("bytegroup"));
}

/* Byte plane contents for the bytegroup tests. */
enum plane_fill { FILL_RANDOM, FILL_EQUAL, FILL_SKEWED, FILL_ROWS, FILL_COUNT };

static const char *const fill_names[] = {"random", "equal", "skewed", "repeated rows"};

/* Writes byte k of each of count elements of size bytes: uniform random
 * bytes, one value, a geometric distribution like an exponent, or a random
 * row of 300 bytes over and over. */
static void fill_plane(uint8_t *data, size_t count, size_t size, size_t k, enum plane_fill fill,
                       uint64_t seed)
{
    uint64_t rng = seed * 7919 + k;
    uint8_t row[300];
    for (size_t i = 0; i < sizeof row; i++)
        row[i] = (uint8_t)(test_rand(&rng) >> 56);
    for (size_t i = 0; i < count; i++) {
        uint64_t r = test_rand(&rng);
        uint8_t v = 0;
        if (fill == FILL_RANDOM)
            v = (uint8_t)(r >> 56);
        else if (fill == FILL_EQUAL)
            v = 0x5a;
        else if (fill == FILL_ROWS)
            v = row[i % sizeof row];
        else
            while (v < 30 && (r & 1)) {
                v++;
                r >>= 1;
            }
        data[i * size + k] = fill == FILL_SKEWED ? (uint8_t)(0x38 + v) : v;
    }
}

static el_buf bytegroup_payload(el_dtype dt, const void *src, size_t count)
{
    el_buf payload = {0};
    el_error err = {{0}};
    if (el_codec_find("bytegroup")->encode(dt, src, count, &default_params, &payload, &err) != 0)
        fail_msg("bytegroup encode of %zu %s elements failed: %s", count, el_dtype_name(dt),
                 err.msg);
    return payload;
}

/* One plane per mode: random bytes are stored, one value and a skewed
 * plane go through rANS, and repeated rows through zstd. */
static void bytegroup_plane_modes(void **state)
{
    static const struct {
        el_dtype dt;
        enum plane_fill fills[4];
        uint8_t modes[4];
    } cases[] = {
        {EL_F32, {FILL_RANDOM, FILL_EQUAL, FILL_SKEWED, FILL_ROWS}, {0, 1, 1, 2}},
        {EL_F32, {FILL_ROWS, FILL_SKEWED, FILL_RANDOM, FILL_EQUAL}, {2, 1, 0, 1}},
        {EL_BF16, {FILL_RANDOM, FILL_SKEWED}, {0, 1}},
        {EL_F16, {FILL_ROWS, FILL_RANDOM}, {2, 0}},
    };
    size_t count = 5000;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        size_t size = el_dtype_size(cases[c].dt);
        uint8_t *src = malloc(count * size);
        assert_non_null(src);
        for (size_t k = 0; k < size; k++)
            fill_plane(src, count, size, k, cases[c].fills[k], c + 1);

        el_buf payload = bytegroup_payload(cases[c].dt, src, count);
        assert_int_equal(payload.data[0], size);
        for (size_t k = 0; k < size; k++) {
            if (payload.data[1 + k] != cases[c].modes[k])
                fail_msg("case %zu: %s plane %zu has mode %u, expected %u", c,
                         fill_names[cases[c].fills[k]], k, payload.data[1 + k],
                         cases[c].modes[k]);
        }

        uint8_t *dst = malloc(count * size);
        assert_non_null(dst);
        el_error err = {{0}};
        assert_int_equal(el_codec_find("bytegroup")->decode(cases[c].dt, payload.data, payload.len,
                                                            dst, count, &err), 0);
        assert_memory_equal(src, dst, count * size);
        free(dst);
        el_buf_free(&payload);
        free(src);
    }
}

/* Every plane content at small counts, at the first sampled count, and at
 * counts that are not a multiple of the gather loop's 32 elements, for
 * element sizes 1, 2, 4 and 8. */
static void bytegroup_counts_and_fills(void **state)
{
    static const size_t counts[] = {0, 1, 3, 257, 1023, 1024, 1025, 5003};
    static const el_dtype types[] = {EL_U8, EL_BF16, EL_F16, EL_F32, EL_F64};
    const el_codec *codec = el_codec_find("bytegroup");
    for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
        size_t size = el_dtype_size(types[t]);
        for (size_t c = 0; c < sizeof counts / sizeof counts[0]; c++) {
            for (int fill = 0; fill < FILL_COUNT; fill++) {
                size_t count = counts[c];
                uint8_t *src = malloc(count * size + 1);
                uint8_t *dst = malloc(count * size + 1);
                assert_non_null(src);
                assert_non_null(dst);
                for (size_t k = 0; k < size; k++)
                    fill_plane(src, count, size, k, (enum plane_fill)((fill + k) % FILL_COUNT),
                               c + t);

                el_buf payload = bytegroup_payload(types[t], src, count);
                el_error err = {{0}};
                if (codec->decode(types[t], payload.data, payload.len, dst, count, &err) != 0)
                    fail_msg("%s, %zu elements, %s first: %s", el_dtype_name(types[t]), count,
                             fill_names[fill], err.msg);
                if (memcmp(src, dst, count * size) != 0)
                    fail_msg("%s, %zu elements, %s first: decoded bytes differ",
                             el_dtype_name(types[t]), count, fill_names[fill]);
                el_buf_free(&payload);
                free(src);
                free(dst);
            }
        }
    }
}

/* NaNs keep their sign and payload bits, and so do signed zeros and
 * subnormals, on both sides of the sampling threshold. */
static void bytegroup_nan_payloads_exact(void **state)
{
    static const el_dtype types[] = {EL_F64, EL_F32, EL_F16, EL_BF16};
    static const size_t counts[] = {100, 3000};
    const el_codec *codec = el_codec_find("bytegroup");
    for (size_t t = 0; t < 4; t++) {
        size_t size = el_dtype_size(types[t]);
        el_float_layout f = el_dtype_float_layout(types[t]);
        for (size_t c = 0; c < 2; c++) {
            size_t count = counts[c];
            uint8_t *src = malloc(count * size);
            uint8_t *dst = malloc(count * size);
            assert_non_null(src);
            assert_non_null(dst);
            uint64_t rng = t * 10 + c;
            for (size_t i = 0; i < count; i++) {
                uint64_t r = test_rand(&rng);
                uint64_t exponent_all_ones = ((UINT64_C(1) << f.exponent_bits) - 1) << f.mantissa_bits;
                uint64_t mantissa = r & ((UINT64_C(1) << f.mantissa_bits) - 1);
                uint64_t sign = (r >> 63) << (f.mantissa_bits + f.exponent_bits);
                /* NaNs with any payload, and every few elements a signed
                 * zero or a subnormal. */
                uint64_t bits = sign | exponent_all_ones | (mantissa ? mantissa : 1);
                if (i % 5 == 1)
                    bits = sign;
                if (i % 5 == 3)
                    bits = sign | mantissa;
                memcpy(src + i * size, &bits, size); /* little-endian host */
            }

            el_buf payload = bytegroup_payload(types[t], src, count);
            el_error err = {{0}};
            assert_int_equal(codec->decode(types[t], payload.data, payload.len, dst, count, &err), 0);
            if (memcmp(src, dst, count * size) != 0)
                fail_msg("%s NaN payloads of %zu elements changed", el_dtype_name(types[t]), count);
            el_buf_free(&payload);
            free(src);
            free(dst);
        }
    }
}

static void bytegroup_malformed_payload_fails(void **state)
{
    size_t count = 5000;
    uint8_t *src = malloc(count * 4);
    uint8_t *dst = malloc(count * 4);
    assert_non_null(src);
    assert_non_null(dst);
    static const enum plane_fill fills[] = {FILL_RANDOM, FILL_EQUAL, FILL_SKEWED, FILL_ROWS};
    for (size_t k = 0; k < 4; k++)
        fill_plane(src, count, 4, k, fills[k], 9);
    el_buf payload = bytegroup_payload(EL_F32, src, count);
    const el_codec *codec = el_codec_find("bytegroup");
    el_error err = {{0}};

    /* The planes of F32 read as BF16 elements. */
    assert_int_equal(codec->decode(EL_BF16, payload.data, payload.len, dst, count, &err), -1);
    assert_non_null(strstr(err.msg, "4 byte planes"));

    payload.data[2] = 3;
    assert_int_equal(codec->decode(EL_F32, payload.data, payload.len, dst, count, &err), -1);
    assert_non_null(strstr(err.msg, "mode 3"));
    payload.data[2] = 1;

    /* The stored plane cut short. */
    assert_int_equal(codec->decode(EL_F32, payload.data, 1 + 4 + count - 1, dst, count, &err), -1);

    /* A byte after the last plane. */
    assert_int_equal(el_buf_append_u8(&payload, 0, &err), 0);
    assert_int_equal(codec->decode(EL_F32, payload.data, payload.len, dst, count, &err), -1);
    assert_non_null(strstr(err.msg, "after its last plane"));
    payload.len--;
    assert_int_equal(codec->decode(EL_F32, payload.data, payload.len, dst, count, &err), 0);
    assert_memory_equal(src, dst, count * 4);

    /* The zstd plane (the last) claims a frame longer than the payload: its
     * varint length follows the entropy blocks of planes 1 and 2, so
     * decoding them finds where it starts. */
    el_reader r = {payload.data, payload.len, 1 + 4 + count};
    uint8_t *plane = malloc(count);
    assert_non_null(plane);
    assert_int_equal(el_entropy_decode(&r, plane, count, &err), 0);
    assert_int_equal(el_entropy_decode(&r, plane, count, &err), 0);
    payload.data[r.pos] |= 0x7f;
    assert_int_equal(codec->decode(EL_F32, payload.data, payload.len, dst, count, &err), -1);
    assert_non_null(strstr(err.msg, "zstd frame"));

    free(plane);
    el_buf_free(&payload);
    free(src);
    free(dst);
}

static void lossless_other_dtypes(void **state)
{
    static const el_dtype types[] = {EL_F8_E4M3, EL_I64, EL_U16, EL_BOOL};
    for (size_t c = 0; c < 2; c++) {
        const el_codec *codec = el_codec_find(c ? "bytegroup" : "zstd");
        for (size_t t = 0; t < 4; t++) {
            size_t size = el_dtype_size(types[t]);
            size_t count = 333;
            uint8_t *src = malloc(count * size);
            uint64_t rng = 9;
            for (size_t i = 0; i < count * size; i++)
                src[i] = (uint8_t)(test_rand(&rng) & 3);
            void *dst;
            assert_true(codec->supports(types[t]));
            assert_int_equal(encode_decode(codec, types[t], src, count, &default_params, &dst, NULL), 0);
            assert_memory_equal(src, dst, count * size);
            free(src);
            free(dst);
        }
    }
}

static void elf_round_trip(void **state)
{
    const el_codec *elf = el_codec_find("elf");
    for (size_t t = 0; t < 4; t++) {
        el_dtype dt = float_types[t];
        double bound = ldexp(1.0, -(el_dtype_float_layout(dt).mantissa_bits + 1));
        assert_true(elf->max_error(dt, &default_params) == bound);

        for (int kind = 0; kind < KIND_COUNT; kind++) {
            for (size_t c = 0; c < COUNTS; c++) {
                size_t count = test_counts[c];
                void *src = make_tensor(dt, count, kind, c + 7);
                void *dst;
                assert_int_equal(encode_decode(elf, dt, src, count, &default_params, &dst, NULL), 0);
                check_bounded("elf", dt, src, dst, count, bound);
                free(src);
                free(dst);
            }
        }
    }
}

static void elf_f32_error_bound(void **state)
{
    const el_codec *elf = el_codec_find("elf");
    size_t count = 100000;
    float *src = malloc(count * sizeof *src);
    uint64_t rng = 3;
    for (size_t i = 0; i < count; i++) {
        uint32_t bits = (uint32_t)test_rand(&rng);
        memcpy(&src[i], &bits, sizeof bits);
    }

    void *dst;
    assert_int_equal(encode_decode(elf, EL_F32, src, count, &default_params, &dst, NULL), 0);
    check_bounded("elf", EL_F32, src, dst, count, 0x1p-24);
    free(src);
    free(dst);
}

static void elf_rejects_integers(void **state)
{
    const el_codec *elf = el_codec_find("elf");
    int32_t src[4] = {1, 2, 3, 4};
    el_buf payload = {0};
    el_error err = {{0}};
    assert_false(elf->supports(EL_I32));
    assert_true(elf->max_error(EL_I32, &default_params) < 0);
    assert_int_equal(elf->encode(EL_I32, src, 4, &default_params, &payload, &err), -1);
    assert_non_null(strstr(err.msg, "I32"));
    el_buf_free(&payload);
}

static const double elf_m_bounds[] = {1e-2, 1e-3, 1e-4, 1e-5, 1e-6};

static void elf_m_round_trip(void **state)
{
    const el_codec *elf_m = el_codec_find("elf-m");
    for (size_t t = 0; t < 4; t++) {
        el_dtype dt = float_types[t];
        for (size_t b = 0; b < sizeof elf_m_bounds / sizeof elf_m_bounds[0]; b++) {
            el_codec_params params = {0, elf_m_bounds[b]};
            double max_error = elf_m->max_error(dt, &params);
            if (max_error < 0) {
                /* F16 and BF16 grids stop at 2^-15, coarser than 1e-5. */
                assert_true(dt == EL_F16 || dt == EL_BF16);
                assert_true(elf_m_bounds[b] < 0x1p-15);
                continue;
            }
            assert_true(max_error <= elf_m_bounds[b]);

            for (int kind = 0; kind < KIND_COUNT; kind++) {
                for (size_t c = 0; c < COUNTS; c++) {
                    size_t count = test_counts[c];
                    void *src = make_tensor(dt, count, kind, c + 11);
                    void *dst;
                    assert_int_equal(encode_decode(elf_m, dt, src, count, &params, &dst, NULL), 0);
                    check_bounded("elf-m", dt, src, dst, count, elf_m_bounds[b]);
                    free(src);
                    free(dst);
                }
            }
        }
    }
}

static void elf_m_looser_is_smaller(void **state)
{
    const el_codec *elf_m = el_codec_find("elf-m");
    size_t count = 50000;
    void *src = make_tensor(EL_F32, count, KIND_NORMAL, 21);

    size_t previous = 0;
    for (size_t b = 0; b < sizeof elf_m_bounds / sizeof elf_m_bounds[0]; b++) {
        el_codec_params params = {0, elf_m_bounds[b]};
        void *dst;
        size_t len;
        assert_int_equal(encode_decode(elf_m, EL_F32, src, count, &params, &dst, &len), 0);
        if (b > 0 && !(len > previous))
            fail_msg("bound %g gave %zu bytes, not more than %zu for the looser bound",
                     elf_m_bounds[b], len, previous);
        previous = len;
        free(dst);
    }
    free(src);
}

static void elf_m_rejects_tight_bound(void **state)
{
    const el_codec *elf_m = el_codec_find("elf-m");
    float src[2] = {0.1f, 0.2f};
    static const double bad[] = {0.0, -1.0, 1e-12};
    for (size_t i = 0; i < 3; i++) {
        el_codec_params params = {0, bad[i]};
        el_buf payload = {0};
        el_error err = {{0}};
        assert_true(elf_m->max_error(EL_F32, &params) < 0);
        assert_int_equal(elf_m->encode(EL_F32, src, 2, &params, &payload, &err), -1);
        assert_non_null(strstr(err.msg, "bound"));
        el_buf_free(&payload);
    }
}

/* Every codec with a zstd stage rejects a level zstd does not have. */
static void zstd_rejects_bad_level(void **state)
{
    static const char *const zstd_staged[] = {"zstd", "bytegroup", "elf", "elf-m"};
    el_codec_params params = {42, 1e-3};
    float src[2] = {0.1f, 0.2f};
    for (size_t i = 0; i < sizeof zstd_staged / sizeof zstd_staged[0]; i++) {
        const el_codec *codec = el_codec_find(zstd_staged[i]);
        el_buf payload = {0};
        el_error err = {{0}};
        assert_non_null(codec);
        assert_int_equal(codec->encode(EL_F32, src, 2, &params, &payload, &err), -1);
        assert_non_null(strstr(err.msg, "level"));
        el_buf_free(&payload);
    }
}

/* A payload decoded with the wrong element count must fail, not write past
 * or leave part of dst. */
static void decode_rejects_wrong_count(void **state)
{
    el_codec_params params = {0, 1e-3};
    size_t count = 100;
    void *src = make_tensor(EL_F32, count, KIND_MIXED, 4);
    for (size_t i = 0; el_codecs[i] != NULL; i++) {
        el_buf payload = {0};
        el_error err = {{0}};
        assert_int_equal(el_codecs[i]->encode(EL_F32, src, count, &params, &payload, &err), 0);

        float *dst = malloc((count + 1) * sizeof *dst);
        if (el_codecs[i]->decode(EL_F32, payload.data, payload.len, dst, count + 1, &err) != -1
            || el_codecs[i]->decode(EL_F32, payload.data, payload.len, dst, count - 1, &err) != -1)
            fail_msg("codec %s decoded a payload of %zu elements with the wrong count",
                     el_codecs[i]->name, count);
        assert_true(strlen(err.msg) > 0);
        free(dst);
        el_buf_free(&payload);
    }
    free(src);
}

/* Every proper prefix and many random byte flips of a small payload:
 * decoding must fail or succeed without touching memory out of bounds. */
static void decode_survives_corruption(void **state)
{
    el_codec_params params = {0, 1e-3};
    size_t count = 37;
    for (size_t t = 0; t < 4; t++) {
        el_dtype dt = float_types[t];
        void *src = make_tensor(dt, count, KIND_MIXED, 8);
        size_t size = el_dtype_size(dt);
        for (size_t i = 0; el_codecs[i] != NULL; i++) {
            const el_codec *codec = el_codecs[i];
            el_buf payload = {0};
            el_error err = {{0}};
            if (!codec->supports(dt) || codec->max_error(dt, &params) < 0)
                continue;
            assert_int_equal(codec->encode(dt, src, count, &params, &payload, &err), 0);
            uint8_t *dst = malloc(count * size);

            for (size_t len = 0; len < payload.len; len++) {
                /* A copy of exactly len bytes, so the sanitizer reports
                 * any read past the end. */
                uint8_t *prefix = malloc(len ? len : 1);
                memcpy(prefix, payload.data, len);
                int rc = codec->decode(dt, prefix, len, dst, count, &err);
                if (rc == 0)
                    fail_msg("%s decoded a %zu-byte prefix of a %zu-byte payload",
                             codec->name, len, payload.len);
                free(prefix);
            }

            uint64_t rng = 77;
            uint8_t *copy = malloc(payload.len);
            for (int round = 0; round < 3000; round++) {
                memcpy(copy, payload.data, payload.len);
                int flips = 1 + (int)(test_rand(&rng) % 3);
                for (int f = 0; f < flips; f++)
                    copy[test_rand(&rng) % payload.len] ^= (uint8_t)(1 + test_rand(&rng) % 255);
                codec->decode(dt, copy, payload.len, dst, count, &err);
            }
            free(copy);
            free(dst);
            el_buf_free(&payload);
        }
        free(src);
    }
}

static void registry_lists_codecs(void **state)
{
    static const char *const names[] = {"raw", "zstd", "bytegroup", "elf", "elf-m"};
    assert_true(el_codec_count() >= 5);
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const el_codec *codec = el_codec_find(names[i]);
        assert_non_null(codec);
        assert_string_equal(codec->name, names[i]);
    }
    for (size_t i = 0; el_codecs[i] != NULL; i++) {
        assert_ptr_equal(el_codec_find(el_codecs[i]->name), el_codecs[i]);
        assert_non_null(el_codecs[i]->summary);
    }
    assert_null(el_codecs[el_codec_count()]);
    assert_null(el_codec_find("gzip"));
    assert_true(el_codec_find("zstd")->lossless);
    assert_false(el_codec_find("elf")->lossless);
}

static size_t full_encoded_size(const el_codec *codec, el_dtype dt, const void *src,
                                size_t count, const el_codec_params *params)
{
    el_buf payload = {0};
    el_error err = {{0}};
    assert_int_equal(codec->encode(dt, src, count, params, &payload, &err), 0);
    size_t len = payload.len;
    el_buf_free(&payload);
    return len;
}

static void predict_samples_large(void **state)
{
    el_codec_params params = {0, 1e-4};
    size_t count = 1 << 20;
    void *src = make_tensor(EL_F32, count, KIND_NORMAL, 31);

    for (size_t i = 0; el_codecs[i] != NULL; i++) {
        el_prediction p;
        el_error err = {{0}};
        assert_int_equal(el_codec_predict(el_codecs[i], EL_F32, src, count, &params,
                                          256 * 1024, &p, &err), 0);
        assert_int_equal(p.applicable, 1);
        assert_int_equal(p.estimated, 1);

        double full = (double)(count * 4) / (double)full_encoded_size(el_codecs[i], EL_F32, src,
                                                                      count, &params);
        if (fabs(p.ratio - full) > 0.1 * full)
            fail_msg("%s: predicted ratio %.3f, full encode %.3f", el_codecs[i]->name,
                     p.ratio, full);
    }
    free(src);
}

static void predict_exact_small(void **state)
{
    el_codec_params params = {0, 1e-4};
    size_t count = 1000;
    void *src = make_tensor(EL_F32, count, KIND_MIXED, 32);

    for (size_t i = 0; el_codecs[i] != NULL; i++) {
        el_prediction p;
        el_error err = {{0}};
        assert_int_equal(el_codec_predict(el_codecs[i], EL_F32, src, count, &params,
                                          count * 4, &p, &err), 0);
        assert_int_equal(p.applicable, 1);
        assert_int_equal(p.estimated, 0);
        double exact = (double)(count * 4) / (double)full_encoded_size(el_codecs[i], EL_F32, src,
                                                                       count, &params);
        assert_true(p.ratio == exact);
        double guaranteed = el_codecs[i]->max_error(EL_F32, &params);
        if (isinf(guaranteed))
            assert_true(p.max_error >= 0);
        else
            assert_true(p.max_error == guaranteed);
    }
    free(src);
}

static void predict_not_applicable(void **state)
{
    int32_t src[16] = {0};
    el_prediction p;
    el_error err = {{0}};
    el_codec_params params = {0, 1e-3};
    assert_int_equal(el_codec_predict(el_codec_find("elf"), EL_I32, src, 16, &params,
                                      1024, &p, &err), 0);
    assert_int_equal(p.applicable, 0);
    assert_true(p.ratio == 0.0);

    float f[16] = {0};
    el_codec_params lossless = {0, 0.0};
    assert_int_equal(el_codec_predict(el_codec_find("elf-m"), EL_F32, f, 16, &lossless,
                                      1024, &p, &err), 0);
    assert_int_equal(p.applicable, 0);
    assert_true(p.ratio == 0.0);
}

/* A sample budget below one block of eight elements still works. */
static void predict_tiny_budget(void **state)
{
    void *src = make_tensor(EL_F16, 5, KIND_NORMAL, 1);
    el_prediction p;
    el_error err = {{0}};
    assert_int_equal(el_codec_predict(el_codec_find("bytegroup"), EL_F16, src, 5,
                                      &default_params, 3, &p, &err), 0);
    assert_int_equal(p.estimated, 1);
    assert_true(p.ratio > 0.0);
    free(src);
}

/* Every sample block starts at a multiple of EL_PREDICT_ALIGN elements
 * inside the tensor, the first at element 0. Element i of the source is i,
 * which tells where each block came from. */
static void predict_gather_aligns_blocks(void **state)
{
    static const size_t counts[] = { 100000, 65600, 1000003 };
    for (size_t c = 0; c < sizeof counts / sizeof counts[0]; c++) {
        size_t count = counts[c];
        uint32_t *src = malloc(count * sizeof *src);
        assert_non_null(src);
        for (size_t i = 0; i < count; i++)
            src[i] = (uint32_t)i;

        size_t block = 8192;
        uint32_t *sample = malloc(block * EL_PREDICT_BLOCKS * sizeof *sample);
        assert_non_null(sample);
        el_predict_gather((const uint8_t *)src, count, sizeof *src, block, (uint8_t *)sample);
        for (size_t b = 0; b < EL_PREDICT_BLOCKS; b++) {
            uint32_t start = sample[b * block];
            assert_int_equal(start % EL_PREDICT_ALIGN, 0);
            assert_true(start + block <= count);
            assert_int_equal(sample[b * block + block - 1], start + block - 1);
        }
        assert_int_equal(sample[0], 0);
        assert_true(sample[(EL_PREDICT_BLOCKS - 1) * block] + block + EL_PREDICT_ALIGN > count);
        free(sample);
        free(src);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(zstd_round_trip),
        cmocka_unit_test(bytegroup_round_trip),
        cmocka_unit_test(bytegroup_plane_modes),
        cmocka_unit_test(bytegroup_counts_and_fills),
        cmocka_unit_test(bytegroup_nan_payloads_exact),
        cmocka_unit_test(bytegroup_malformed_payload_fails),
        cmocka_unit_test(lossless_other_dtypes),
        cmocka_unit_test(elf_round_trip),
        cmocka_unit_test(elf_f32_error_bound),
        cmocka_unit_test(elf_rejects_integers),
        cmocka_unit_test(elf_m_round_trip),
        cmocka_unit_test(elf_m_looser_is_smaller),
        cmocka_unit_test(elf_m_rejects_tight_bound),
        cmocka_unit_test(zstd_rejects_bad_level),
        cmocka_unit_test(decode_rejects_wrong_count),
        cmocka_unit_test(decode_survives_corruption),
        cmocka_unit_test(registry_lists_codecs),
        cmocka_unit_test(predict_samples_large),
        cmocka_unit_test(predict_exact_small),
        cmocka_unit_test(predict_not_applicable),
        cmocka_unit_test(predict_tiny_budget),
        cmocka_unit_test(predict_gather_aligns_blocks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
