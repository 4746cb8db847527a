#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "../codecs/entropy.h"
#include "testutil.h"

/* Bytes drawn from a geometric distribution: about half are 0, a quarter
 * 1, and so on, like an exponent plane. */
static void fill_skewed(uint8_t *dst, size_t n, uint64_t seed)
{
    uint64_t state = seed;
    for (size_t i = 0; i < n; i++) {
        uint64_t r = test_rand(&state);
        uint8_t v = 0;
        while (v < 40 && (r & 1)) {
            v++;
            r >>= 1;
        }
        dst[i] = v;
    }
}

static void fill_uniform(uint8_t *dst, size_t n, uint64_t seed)
{
    uint64_t state = seed;
    for (size_t i = 0; i < n; i++)
        dst[i] = (uint8_t)(test_rand(&state) >> 56);
}

/* Encodes, decodes and compares; returns the block size. */
static size_t round_trip_ctx(const uint8_t *src, const uint8_t *ctx, size_t n, unsigned nctx)
{
    el_buf block = {0};
    el_error err = {{0}};
    if (el_entropy_encode_ctx(src, ctx, n, nctx, &block, &err) != 0)
        fail_msg("encode failed: %s", err.msg);

    uint8_t *back = malloc(n + 1);
    assert_non_null(back);
    el_reader r = {block.data, block.len, 0};
    if (el_entropy_decode_ctx(&r, ctx, back, n, nctx, &err) != 0)
        fail_msg("decode of %zu bytes failed: %s", n, err.msg);
    assert_int_equal(r.pos, block.len);
    assert_memory_equal(back, src, n);

    free(back);
    size_t len = block.len;
    el_buf_free(&block);
    return len;
}

static size_t round_trip(const uint8_t *src, size_t n)
{
    return round_trip_ctx(src, NULL, n, 1);
}

static void entropy_round_trip_sizes(void **state)
{
    static const size_t sizes[] = {0, 1, 2, 3, 4, 5, 7, 257, 1000, 65537};
    uint8_t *data = malloc(65537);
    assert_non_null(data);
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        fill_skewed(data, sizes[k], k + 1);
        round_trip(data, sizes[k]);
        fill_uniform(data, sizes[k], k + 1);
        round_trip(data, sizes[k]);
    }
    free(data);
}

static void entropy_skewed_near_entropy(void **state)
{
    size_t n = 200000;
    uint8_t *data = malloc(n);
    assert_non_null(data);
    fill_skewed(data, n, 7);

    double bound = el_entropy_bits_per_byte(data, n) * (double)n / 8.0;
    size_t len = round_trip(data, n);
    assert_true(len < bound * 1.01 + 64);
    free(data);
}

static void entropy_uniform_is_stored(void **state)
{
    size_t n = 4096;
    uint8_t *data = malloc(n);
    assert_non_null(data);
    fill_uniform(data, n, 3);

    assert_int_equal(round_trip(data, n), n + 1);
    free(data);
}

static void entropy_constant_is_tiny(void **state)
{
    size_t n = 100000;
    uint8_t *data = malloc(n);
    assert_non_null(data);
    memset(data, 0x3c, n);

    assert_true(round_trip(data, n) <= 4);
    free(data);
}

static void entropy_two_symbols(void **state)
{
    uint8_t data[1000];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = i % 10 == 0 ? 200 : 7;

    /* 0.469 bits per byte is 59 bytes, plus 16 bytes of rANS states and
     * a table of a few bytes. */
    size_t len = round_trip(data, sizeof data);
    assert_true(len < 90);
}

static void entropy_bits_per_byte_values(void **state)
{
    uint8_t constant[16];
    memset(constant, 5, sizeof constant);
    assert_true(el_entropy_bits_per_byte(constant, sizeof constant) == 0.0);

    uint8_t halves[16];
    for (size_t i = 0; i < sizeof halves; i++)
        halves[i] = i & 1;
    assert_true(fabs(el_entropy_bits_per_byte(halves, sizeof halves) - 1.0) < 1e-12);

    uint8_t all[256];
    for (size_t i = 0; i < sizeof all; i++)
        all[i] = (uint8_t)i;
    assert_true(fabs(el_entropy_bits_per_byte(all, sizeof all) - 8.0) < 1e-12);
    assert_true(el_entropy_bits_per_byte(all, 0) == 0.0);
}

static void entropy_contexts_round_trip(void **state)
{
    size_t n = 30000;
    uint8_t *data = malloc(n);
    uint8_t *ctx = malloc(n);
    assert_non_null(data);
    assert_non_null(ctx);

    /* Each context has its own distribution: coded with contexts the
     * block must be smaller than coded without. */
    uint64_t s = 11;
    for (size_t i = 0; i < n; i++) {
        ctx[i] = (uint8_t)(test_rand(&s) % 4);
        data[i] = (uint8_t)(ctx[i] * 60 + test_rand(&s) % 3);
    }
    size_t with = round_trip_ctx(data, ctx, n, 4);
    size_t without = round_trip(data, n);
    assert_true(with < without);

    for (size_t i = 0; i < n; i++)
        ctx[i] = (uint8_t)(i % 256);
    round_trip_ctx(data, ctx, n, 256);
    round_trip_ctx(data, ctx, 1, 256);
    free(data);
    free(ctx);
}

/* Every table scale and the extreme frequencies. The contexts range from
 * one dominant symbol to all 256 equally likely, at sizes from one byte to
 * far past the largest table. So the encoder's division-free state update
 * meets frequencies from 1 to nearly 2^15. */
static void entropy_every_frequency_shape(void **state)
{
    static const size_t sizes[] = {1, 2, 5, 100, 1000, 70000};
    uint64_t s = 77;
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        size_t n = sizes[k];
        uint8_t *data = malloc(n);
        uint8_t *ctx = malloc(n);
        assert_non_null(data);
        assert_non_null(ctx);
        for (size_t i = 0; i < n; i++) {
            unsigned c = (unsigned)(test_rand(&s) % 8);
            uint64_t r = test_rand(&s);
            ctx[i] = (uint8_t)c;
            /* Context c keeps c + 1 random bits of a byte that is mostly
             * 0x80, so c = 0 is nearly constant and c = 7 near uniform. */
            uint8_t v = (uint8_t)(r >> 56);
            data[i] = (r & 0xff) < 8 ? v : (uint8_t)(0x80 ^ (v & ((1u << c) - 1)));
        }
        round_trip_ctx(data, ctx, n, 8);
        round_trip(data, n);
        free(data);
        free(ctx);
    }
}

/* A near-uniform context must not pay for a table: the block stays within
 * a few bytes of storing it. */
static void entropy_near_uniform_context_cheap(void **state)
{
    size_t n = 3000;
    uint8_t *data = malloc(n);
    uint8_t *ctx = malloc(n);
    assert_non_null(data);
    assert_non_null(ctx);
    fill_uniform(data, n, 19);
    uint64_t s = 3;
    for (size_t i = 0; i < n; i++) {
        ctx[i] = (uint8_t)(i % 2);
        if (ctx[i] == 0)
            data[i] = (uint8_t)(test_rand(&s) % 3);
    }
    size_t len = round_trip_ctx(data, ctx, n, 2);
    /* Context 1 costs its 1500 bytes plus headers, context 0 about 1.6
     * bits per byte. */
    assert_true(len < 1500 + 1500 * 1.7 / 8 + 64);
    free(data);
    free(ctx);
}

static void entropy_bad_context_rejected(void **state)
{
    uint8_t data[4] = {1, 2, 3, 4};
    uint8_t ctx[4] = {0, 1, 2, 3};
    el_buf block = {0};
    el_error err = {{0}};
    assert_int_equal(el_entropy_encode_ctx(data, ctx, 4, 3, &block, &err), -1);
    assert_non_null(strstr(err.msg, "context 3"));
    assert_int_equal(el_entropy_encode_ctx(data, ctx, 4, 0, &block, &err), -1);
    assert_int_equal(el_entropy_encode_ctx(data, ctx, 4, 257, &block, &err), -1);
    assert_int_equal(el_entropy_encode_ctx(data, NULL, 4, 2, &block, &err), -1);
    el_buf_free(&block);
}

static el_buf encode_skewed(size_t n, uint8_t *data)
{
    el_buf block = {0};
    el_error err = {{0}};
    fill_skewed(data, n, 5);
    assert_int_equal(el_entropy_encode(data, n, &block, &err), 0);
    assert_int_equal(block.data[0], 1);
    return block;
}

static void entropy_truncated_fails(void **state)
{
    size_t n = 3000;
    uint8_t *data = malloc(n);
    uint8_t *back = malloc(n);
    assert_non_null(data);
    assert_non_null(back);
    el_buf block = encode_skewed(n, data);

    el_error err = {{0}};
    for (size_t len = 0; len < block.len; len++) {
        el_reader r = {block.data, len, 0};
        assert_int_equal(el_entropy_decode(&r, back, n, &err), -1);
        assert_true(err.msg[0] != '\0');
    }
    el_buf_free(&block);
    free(data);
    free(back);
}

static void entropy_corrupted_fails_cleanly(void **state)
{
    size_t n = 3000;
    uint8_t *data = malloc(n);
    uint8_t *back = malloc(n);
    assert_non_null(data);
    assert_non_null(back);
    el_buf block = encode_skewed(n, data);

    /* Every flipped byte must decode to an error or, when it still gives a
     * valid stream, to n bytes without touching memory beyond them. */
    size_t failures = 0;
    el_error err = {{0}};
    for (size_t pos = 0; pos < block.len; pos++) {
        for (unsigned flip = 1; flip < 256; flip <<= 3) {
            block.data[pos] ^= (uint8_t)flip;
            el_reader r = {block.data, block.len, 0};
            failures += el_entropy_decode(&r, back, n, &err) != 0;
            block.data[pos] ^= (uint8_t)flip;
        }
    }
    assert_true(failures > block.len);
    el_buf_free(&block);
    free(data);
    free(back);
}

static void entropy_length_mismatch_fails(void **state)
{
    size_t n = 3000;
    uint8_t *data = malloc(n + 1);
    uint8_t *back = malloc(n + 1);
    assert_non_null(data);
    assert_non_null(back);
    el_buf block = encode_skewed(n, data);

    el_error err = {{0}};
    el_reader shorter = {block.data, block.len, 0};
    assert_int_equal(el_entropy_decode(&shorter, back, n - 1, &err), -1);
    el_reader longer = {block.data, block.len, 0};
    assert_int_equal(el_entropy_decode(&longer, back, n + 1, &err), -1);
    el_buf_free(&block);
    free(data);
    free(back);
}

static void entropy_invalid_headers_fail(void **state)
{
    uint8_t back[8];
    el_error err = {{0}};

    static const uint8_t bad_mode[] = {7, 0, 0};
    el_reader r1 = {bad_mode, sizeof bad_mode, 0};
    assert_int_equal(el_entropy_decode(&r1, back, 2, &err), -1);
    assert_non_null(strstr(err.msg, "mode 7"));

    /* A table of 2^8 slots whose first frequency takes all of them. The
     * value 256 - 1 has 8 bits, so its code is the gamma code of 2 * 8 + 1
     * (bits 00001 0001) and the low 7 bits 1111111, least significant bit
     * first. */
    static const uint8_t overfull[] = {1, 8, 1, 3, 9, 0x30, 0xfe};
    el_reader r2 = {overfull, sizeof overfull, 0};
    assert_int_equal(el_entropy_decode(&r2, back, 8, &err), -1);
    assert_non_null(strstr(err.msg, "leaves nothing"));

    /* A symbol list that is not ascending. */
    static const uint8_t unsorted[] = {1, 8, 1, 9, 3, 0x01};
    el_reader r3 = {unsorted, sizeof unsorted, 0};
    assert_int_equal(el_entropy_decode(&r3, back, 8, &err), -1);
    assert_non_null(strstr(err.msg, "ascending"));

    /* A table scale above what 8 bytes may use. */
    static const uint8_t too_fine[] = {1, 15, 1, 3, 9, 0x01};
    el_reader r4 = {too_fine, sizeof too_fine, 0};
    assert_int_equal(el_entropy_decode(&r4, back, 8, &err), -1);
    assert_non_null(strstr(err.msg, "kind 15"));

    /* A coded block for zero bytes. */
    static const uint8_t coded_empty[] = {1};
    el_reader r5 = {coded_empty, sizeof coded_empty, 0};
    assert_int_equal(el_entropy_decode(&r5, back, 0, &err), -1);

    /* Set form 3 does not exist. */
    static const uint8_t bad_form[] = {1, 8 + 3 * 16, 1, 3, 9, 0x01};
    el_reader r6 = {bad_form, sizeof bad_form, 0};
    assert_int_equal(el_entropy_decode(&r6, back, 8, &err), -1);
    assert_non_null(strstr(err.msg, "kind 56"));

    /* A run of 4 symbols from 254 passes the last byte value, and a run of
     * 3 symbols exceeds a table of 2. */
    static const uint8_t run_past_255[] = {1, 8 + 2 * 16, 3, 254, 3, 0x01};
    el_reader r7 = {run_past_255, sizeof run_past_255, 0};
    assert_int_equal(el_entropy_decode(&r7, back, 8, &err), -1);
    assert_non_null(strstr(err.msg, "symbol run"));
    static const uint8_t run_past_k[] = {1, 8 + 2 * 16, 1, 3, 2, 0x01};
    el_reader r8 = {run_past_k, sizeof run_past_k, 0};
    assert_int_equal(el_entropy_decode(&r8, back, 8, &err), -1);
    assert_non_null(strstr(err.msg, "symbol run"));

    /* Three bad frequency codes. Eight zero bits open no valid gamma code.
     * The bits of 0xf0 0x01 read as 31, a step to 15 bits, which is too
     * many for 2^8 slots. And 0x03 is frequency 1 followed by a nonzero
     * padding bit. */
    static const uint8_t long_gamma[] = {1, 8, 1, 3, 9, 0x00, 0x00};
    el_reader r9 = {long_gamma, sizeof long_gamma, 0};
    assert_int_equal(el_entropy_decode(&r9, back, 8, &err), -1);
    assert_non_null(strstr(err.msg, "leading zero bits"));
    static const uint8_t long_frequency[] = {1, 8, 1, 3, 9, 0xf0, 0x01, 0xff, 0xff};
    el_reader r10 = {long_frequency, sizeof long_frequency, 0};
    assert_int_equal(el_entropy_decode(&r10, back, 8, &err), -1);
    assert_non_null(strstr(err.msg, "15 bits"));
    static const uint8_t padding[] = {1, 8, 1, 3, 9, 0x03};
    el_reader r11 = {padding, sizeof padding, 0};
    assert_int_equal(el_entropy_decode(&r11, back, 8, &err), -1);
    assert_non_null(strstr(err.msg, "padding"));
}

/* Blocks whose context 0 is dominated by one symbol with probability
 * 1 - 2^-j and whose other symbols are spread over m values, for rising j:
 * between them they pick every table scale. */
static void fill_dominant(uint8_t *dst, size_t n, int j, unsigned m, uint64_t seed)
{
    uint64_t s = seed;
    for (size_t i = 0; i < n; i++) {
        uint64_t r = test_rand(&s);
        dst[i] = (r & ((UINT64_C(1) << j) - 1)) ? 0 : (uint8_t)(1 + (r >> 32) % m);
    }
}

/* Every table scale through the eight-state loop (one copy per scale)
 * and the four-state one. */
static void entropy_every_scale_round_trip(void **state)
{
    static const size_t sizes[] = {5000, 40000};
    static const unsigned spreads[] = {2, 8, 32};
    uint8_t *data = malloc(40000);
    assert_non_null(data);
    for (size_t z = 0; z < 2; z++) {
        int seen[16] = {0};
        for (int j = 1; j <= 14; j++) {
            for (size_t m = 0; m < 3; m++) {
                fill_dominant(data, sizes[z], j, spreads[m], (uint64_t)(j * 3 + m));
                el_buf block = {0};
                el_error err = {{0}};
                assert_int_equal(el_entropy_encode(data, sizes[z], &block, &err), 0);
                if (block.data[0] == 1 && block.data[1] >= 8)
                    seen[block.data[1] & 15] = 1;
                el_buf_free(&block);
                round_trip(data, sizes[z]);
            }
        }
        if (sizes[z] >= 16384) {
            for (int scale = 8; scale <= 15; scale++) {
                if (!seen[scale])
                    fail_msg("no block of %zu bytes used a table of scale %d", sizes[z], scale);
            }
        }
    }
    free(data);
}

/* Sizes around the switch from four to eight states and around whole
 * rounds of eight. */
static void entropy_state_count_boundary(void **state)
{
    static const size_t sizes[] = {16376, 16383, 16384, 16385, 16391, 16392, 16399};
    uint8_t *data = malloc(16399);
    assert_non_null(data);
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        fill_skewed(data, sizes[k], k + 40);
        round_trip(data, sizes[k]);
        fill_dominant(data, sizes[k], 10, 8, k + 50);
        round_trip(data, sizes[k]);
    }
    free(data);
}

/* The table stores its symbol set in the smallest of three forms. */
static void entropy_symbol_set_forms(void **state)
{
    static const struct {
        unsigned first, step, count;
        int form;
    } sets[] = {
        {3, 70, 3, 0},   /* three scattered symbols: a list */
        {0, 2, 128, 1},  /* every other value: a bitmap */
        {10, 1, 50, 2},  /* one run of 50 values */
    };
    size_t n = 20000;
    uint8_t *data = malloc(n);
    assert_non_null(data);
    for (size_t k = 0; k < 3; k++) {
        uint64_t s = k + 1;
        for (size_t i = 0; i < n; i++) {
            uint64_t r = test_rand(&s);
            /* Half the bytes take the first symbol, so a table pays. */
            unsigned pick = r & 1 ? 0 : (unsigned)((r >> 8) % sets[k].count);
            data[i] = (uint8_t)(sets[k].first + pick * sets[k].step);
        }
        el_buf block = {0};
        el_error err = {{0}};
        assert_int_equal(el_entropy_encode(data, n, &block, &err), 0);
        assert_int_equal(block.data[0], 1);
        assert_int_equal(block.data[1] >> 4, sets[k].form);
        el_buf_free(&block);
        round_trip(data, n);
    }
    free(data);
}

/* A context with one symbol codes without changing its state, also in
 * the eight-state loop, between contexts that need the stream. */
static void entropy_single_symbol_context(void **state)
{
    size_t n = 40000;
    uint8_t *data = malloc(n);
    uint8_t *ctx = malloc(n);
    assert_non_null(data);
    assert_non_null(ctx);
    uint64_t s = 21;
    for (size_t i = 0; i < n; i++) {
        uint64_t r = test_rand(&s);
        ctx[i] = (uint8_t)(r % 3);
        data[i] = ctx[i] == 1 ? 77 : (uint8_t)((r >> 16) % (ctx[i] ? 200 : 5));
    }
    round_trip_ctx(data, ctx, n, 3);
    round_trip_ctx(data, ctx, 1000, 3);
    free(data);
    free(ctx);
}

/* A million skewed bytes cost less than 0.3% over their order-0 entropy. */
static void entropy_large_block_near_entropy(void **state)
{
    size_t n = 1000000;
    uint8_t *data = malloc(n);
    assert_non_null(data);
    fill_skewed(data, n, 7);

    double bound = el_entropy_bits_per_byte(data, n) * (double)n / 8.0;
    size_t len = round_trip(data, n);
    if (!(len < bound * 1.003))
        fail_msg("%zu bytes for an entropy bound of %.0f", len, bound);
    free(data);
}

/* Every prefix of an eight-state block fails, and every flipped byte fails
 * or decodes without touching memory past the output. */
static void entropy_wide_block_damage_fails_cleanly(void **state)
{
    size_t n = 20000;
    uint8_t *data = malloc(n);
    uint8_t *back = malloc(n);
    assert_non_null(data);
    assert_non_null(back);
    el_buf block = encode_skewed(n, data);

    el_error err = {{0}};
    for (size_t len = 0; len < block.len; len += 7) {
        uint8_t *prefix = malloc(len ? len : 1);
        assert_non_null(prefix);
        memcpy(prefix, block.data, len);
        el_reader r = {prefix, len, 0};
        assert_int_equal(el_entropy_decode(&r, back, n, &err), -1);
        free(prefix);
    }

    size_t failures = 0;
    for (size_t pos = 0; pos < block.len; pos += 3) {
        block.data[pos] ^= 0x24;
        el_reader r = {block.data, block.len, 0};
        failures += el_entropy_decode(&r, back, n, &err) != 0;
        block.data[pos] ^= 0x24;
    }
    assert_true(failures > block.len / 6);
    el_buf_free(&block);
    free(data);
    free(back);
}

/* Finds the varint stream length of a coded block: the position after
 * which the length and the stream fill the block exactly. */
static size_t stream_length_at(const el_buf *block)
{
    for (size_t pos = 1; pos < block->len; pos++) {
        el_reader r = {block->data, block->len, pos};
        uint64_t len;
        el_error err;
        if (el_read_varint(&r, &len, &err) == 0 && r.pos + len == block->len)
            return pos;
    }
    fail_msg("no stream length found in a block of %zu bytes", block->len);
    return 0;
}

/* Rewrites the stream length at pos to len, keeping its varint size. */
static void set_stream_length(el_buf *block, size_t pos, uint64_t len)
{
    el_reader r = {block->data, block->len, pos};
    uint64_t old;
    el_error err;
    assert_int_equal(el_read_varint(&r, &old, &err), 0);
    size_t bytes = r.pos - pos;
    for (size_t i = 0; i < bytes; i++, len >>= 7)
        block->data[pos + i] = (uint8_t)((len & 0x7f) | (i + 1 < bytes ? 0x80 : 0));
    assert_int_equal(len, 0);
}

static void entropy_malformed_stream_fails(void **state)
{
    size_t n = 20000;
    uint8_t *data = malloc(n);
    uint8_t *back = malloc(n);
    assert_non_null(data);
    assert_non_null(back);
    el_buf block = encode_skewed(n, data);
    size_t at = stream_length_at(&block);
    el_reader r = {block.data, block.len, at};
    uint64_t len;
    el_error err = {{0}};
    assert_int_equal(el_read_varint(&r, &len, &err), 0);
    size_t stream = r.pos;

    /* One byte more: not a whole number of 16-bit words. */
    assert_int_equal(el_buf_append_u8(&block, 0, &err), 0);
    set_stream_length(&block, at, len + 1);
    el_reader odd = {block.data, block.len, 0};
    assert_int_equal(el_entropy_decode(&odd, back, n, &err), -1);
    assert_non_null(strstr(err.msg, "whole 16-bit word"));

    /* One word more: left over after the last symbol. */
    assert_int_equal(el_buf_append_u8(&block, 0, &err), 0);
    set_stream_length(&block, at, len + 2);
    el_reader extra = {block.data, block.len, 0};
    assert_int_equal(el_entropy_decode(&extra, back, n, &err), -1);
    assert_non_null(strstr(err.msg, "left after"));

    /* The first state below 2^16. */
    block.len -= 2;
    set_stream_length(&block, at, len);
    memcpy(block.data + stream, "\x01\x00\x00\x00", 4);
    el_reader low = {block.data, block.len, 0};
    assert_int_equal(el_entropy_decode(&low, back, n, &err), -1);
    assert_non_null(strstr(err.msg, "below"));

    el_buf_free(&block);
    free(data);
    free(back);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(entropy_round_trip_sizes),
        cmocka_unit_test(entropy_skewed_near_entropy),
        cmocka_unit_test(entropy_uniform_is_stored),
        cmocka_unit_test(entropy_constant_is_tiny),
        cmocka_unit_test(entropy_two_symbols),
        cmocka_unit_test(entropy_bits_per_byte_values),
        cmocka_unit_test(entropy_contexts_round_trip),
        cmocka_unit_test(entropy_every_frequency_shape),
        cmocka_unit_test(entropy_near_uniform_context_cheap),
        cmocka_unit_test(entropy_bad_context_rejected),
        cmocka_unit_test(entropy_truncated_fails),
        cmocka_unit_test(entropy_corrupted_fails_cleanly),
        cmocka_unit_test(entropy_length_mismatch_fails),
        cmocka_unit_test(entropy_invalid_headers_fail),
        cmocka_unit_test(entropy_every_scale_round_trip),
        cmocka_unit_test(entropy_state_count_boundary),
        cmocka_unit_test(entropy_symbol_set_forms),
        cmocka_unit_test(entropy_single_symbol_context),
        cmocka_unit_test(entropy_large_block_near_entropy),
        cmocka_unit_test(entropy_wide_block_damage_fails_cleanly),
        cmocka_unit_test(entropy_malformed_stream_fails),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
