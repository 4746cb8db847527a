/* Tests of the deflate decoder and CRC-32: stored, fixed and dynamic blocks
 * against known data (zlib's streams in samples/fixtures and streams built
 * bit by bit here), and one test per kind of malformed stream. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/inflate.h"
#include "testutil.h"

/* Deflate bit writer: header fields go first bit first, Huffman codes most
 * significant bit first (RFC 1951 section 3.1.1). */
typedef struct bit_writer {
    uint8_t bytes[4096];
    size_t n;           /* bytes started */
    unsigned bit;       /* next bit in the current byte */
} bit_writer;

static void put_bits(bit_writer *w, uint32_t value, unsigned count)
{
    for (unsigned i = 0; i < count; i++) {
        if (w->bit == 0)
            w->bytes[w->n++] = 0;
        w->bytes[w->n - 1] |= (uint8_t)(((value >> i) & 1u) << w->bit);
        w->bit = (w->bit + 1) % 8;
    }
}

static void put_code(bit_writer *w, uint32_t code, unsigned len)
{
    for (unsigned i = len; i-- > 0;)
        put_bits(w, (code >> i) & 1u, 1);
}

/* Fixed-code literal/length symbol. */
static void put_fixed(bit_writer *w, unsigned sym)
{
    if (sym < 144)
        put_code(w, 0x30 + sym, 8);
    else if (sym < 256)
        put_code(w, 0x190 + sym - 144, 9);
    else if (sym < 280)
        put_code(w, sym - 256, 7);
    else
        put_code(w, 0xc0 + sym - 280, 8);
}

/* Appends a stored block holding n bytes of data. */
static void put_stored(bit_writer *w, int final, const uint8_t *data, uint16_t n)
{
    put_bits(w, (uint32_t)final, 1);
    put_bits(w, 0, 2);
    w->bit = 0;
    w->bytes[w->n++] = (uint8_t)(n & 0xff);
    w->bytes[w->n++] = (uint8_t)(n >> 8);
    w->bytes[w->n++] = (uint8_t)(~n & 0xff);
    w->bytes[w->n++] = (uint8_t)((uint16_t)~n >> 8);
    memcpy(w->bytes + w->n, data, n);
    w->n += n;
}

/* The text that samples/fixtures/gen_zip_fixtures.py compressed. */
static size_t fixture_text(char *buf, size_t cap)
{
    size_t n = 0;
    for (int i = 0; i < 300; i++)
        n += (size_t)snprintf(buf + n, cap - n, "line %d: elves reads deflate streams\n", i);
    return n;
}

#define FIXTURE_TEXT_SIZE 11290

static uint8_t *read_fixture(const char *name, size_t *size)
{
    char path[256];
    snprintf(path, sizeof path, "samples/fixtures/%s", name);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    uint8_t *buf = malloc(1 << 16);
    assert_non_null(buf);
    *size = fread(buf, 1, 1 << 16, f);
    fclose(f);
    return buf;
}

static void crc32_known_values(void **state)
{
    assert_int_equal(el_crc32(0, (const uint8_t *)"123456789", 9), 0xCBF43926u);
    assert_int_equal(el_crc32(0, NULL, 0), 0);
    assert_int_equal(el_crc32(0, (const uint8_t *)"a", 1), 0xE8B7BE43u);

    const uint32_t part = el_crc32(0, (const uint8_t *)"1234", 4);
    assert_int_equal(el_crc32(part, (const uint8_t *)"56789", 5), 0xCBF43926u);
}

static void inflate_stored_blocks(void **state)
{
    bit_writer w = { 0 };
    put_stored(&w, 0, (const uint8_t *)"hello, ", 7);
    put_stored(&w, 0, (const uint8_t *)"", 0);
    put_stored(&w, 1, (const uint8_t *)"world", 5);

    uint8_t out[12];
    el_error err = { 0 };
    assert_int_equal(el_inflate(w.bytes, w.n, out, sizeof out, &err), 0);
    assert_memory_equal(out, "hello, world", 12);
}

static void inflate_fixed_match(void **state)
{
    /* "abc", then a match of length 7 at distance 3, overlapping itself. */
    bit_writer w = { 0 };
    put_bits(&w, 1, 1);
    put_bits(&w, 1, 2);
    put_fixed(&w, 'a');
    put_fixed(&w, 'b');
    put_fixed(&w, 'c');
    put_fixed(&w, 261);         /* length 7 */
    put_code(&w, 2, 5);         /* distance 3 */
    put_fixed(&w, 256);

    uint8_t out[10];
    el_error err = { 0 };
    assert_int_equal(el_inflate(w.bytes, w.n, out, sizeof out, &err), 0);
    assert_memory_equal(out, "abcabcabca", 10);
}

static void inflate_zlib_streams(void **state)
{
    char text[FIXTURE_TEXT_SIZE + 64];
    assert_int_equal(fixture_text(text, sizeof text), FIXTURE_TEXT_SIZE);

    const char *names[] = { "inflate-fixed.bin", "inflate-dynamic.bin" };
    const unsigned types[] = { 1, 2 };
    for (int i = 0; i < 2; i++) {
        size_t n;
        uint8_t *in = read_fixture(names[i], &n);
        assert_int_equal((in[0] >> 1) & 3u, types[i]);

        uint8_t out[FIXTURE_TEXT_SIZE];
        el_error err = { 0 };
        assert_int_equal(el_inflate(in, n, out, sizeof out, &err), 0);
        assert_memory_equal(out, text, FIXTURE_TEXT_SIZE);
        assert_int_equal(el_crc32(0, out, sizeof out), 0xa91c758cu);
        free(in);
    }
}

static void inflate_bomb(void **state)
{
    el_error err = { 0 };
    uint8_t out[64];

    /* A stored block one byte longer than the buffer. */
    bit_writer w = { 0 };
    put_stored(&w, 1, (const uint8_t *)"0123456789", 10);
    assert_int_equal(el_inflate(w.bytes, w.n, out, 9, &err), -1);
    assert_non_null(strstr(err.msg, "past the declared size of 9 bytes"));

    /* A match that runs past the buffer, and a literal after it is full. */
    bit_writer m = { 0 };
    put_bits(&m, 1, 1);
    put_bits(&m, 1, 2);
    put_fixed(&m, 'x');
    put_fixed(&m, 284);         /* length 227 + 5 extra bits */
    put_bits(&m, 31, 5);        /* 258 */
    put_code(&m, 0, 5);         /* distance 1 */
    put_fixed(&m, 256);
    assert_int_equal(el_inflate(m.bytes, m.n, out, sizeof out, &err), -1);
    assert_non_null(strstr(err.msg, "past the declared size of 64 bytes"));

    bit_writer l = { 0 };
    put_bits(&l, 1, 1);
    put_bits(&l, 1, 2);
    put_fixed(&l, 'x');
    put_fixed(&l, 'y');
    put_fixed(&l, 256);
    assert_int_equal(el_inflate(l.bytes, l.n, out, 1, &err), -1);
    assert_non_null(strstr(err.msg, "past the declared size of 1 bytes"));
}

static void inflate_ends_short(void **state)
{
    bit_writer w = { 0 };
    put_stored(&w, 1, (const uint8_t *)"abc", 3);

    uint8_t out[4];
    el_error err = { 0 };
    assert_int_equal(el_inflate(w.bytes, w.n, out, 4, &err), -1);
    assert_non_null(strstr(err.msg, "ends after 3 of the declared 4 bytes"));
}

static void inflate_truncated(void **state)
{
    size_t n;
    uint8_t *in = read_fixture("inflate-dynamic.bin", &n);
    uint8_t *out = malloc(FIXTURE_TEXT_SIZE);
    assert_non_null(out);

    /* Every proper prefix of the stream must fail, none may crash. */
    for (size_t len = 0; len < n; len++) {
        el_error err = { 0 };
        assert_int_equal(el_inflate(in, len, out, FIXTURE_TEXT_SIZE, &err), -1);
        assert_true(strstr(err.msg, "truncated") != NULL ||
                    strstr(err.msg, "ends after") != NULL);
    }

    bit_writer w = { 0 };
    put_stored(&w, 1, (const uint8_t *)"abcdef", 6);
    el_error err = { 0 };
    assert_int_equal(el_inflate(w.bytes, w.n - 2, out, 6, &err), -1);
    assert_non_null(strstr(err.msg, "truncated"));

    free(in);
    free(out);
}

static void inflate_trailing_bytes(void **state)
{
    bit_writer w = { 0 };
    put_stored(&w, 1, (const uint8_t *)"abc", 3);
    w.bytes[w.n++] = 0x55;

    uint8_t out[3];
    el_error err = { 0 };
    assert_int_equal(el_inflate(w.bytes, w.n, out, 3, &err), -1);
    assert_non_null(strstr(err.msg, "after its final block"));
}

static void inflate_oversubscribed_code_lengths(void **state)
{
    /* A dynamic block whose 19 code-length codes all have length 1. */
    bit_writer w = { 0 };
    put_bits(&w, 1, 1);
    put_bits(&w, 2, 2);
    put_bits(&w, 0, 5);
    put_bits(&w, 0, 5);
    put_bits(&w, 15, 4);
    for (int i = 0; i < 19; i++)
        put_bits(&w, 1, 3);

    uint8_t out[4];
    el_error err = { 0 };
    assert_int_equal(el_inflate(w.bytes, w.n, out, sizeof out, &err), -1);
    assert_non_null(strstr(err.msg, "over-subscribed code-length"));
}

/* Starts a dynamic block whose code-length code gives symbol 0 length 1 and
 * symbols 1 and 2 length 2, so their codes are 0, 10 and 11. */
static void put_small_codelen_header(bit_writer *w)
{
    static const uint8_t order[19] = {
        16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15,
    };
    put_bits(w, 1, 1);
    put_bits(w, 2, 2);
    put_bits(w, 0, 5);          /* 257 literal/length codes */
    put_bits(w, 0, 5);          /* 1 distance code */
    put_bits(w, 14, 4);         /* 18 code-length code lengths */
    for (int i = 0; i < 18; i++) {
        const unsigned sym = order[i];
        put_bits(w, sym == 0 ? 1 : (sym == 1 || sym == 2) ? 2 : 0, 3);
    }
}

static void inflate_incomplete_code_set(void **state)
{
    /* Literal 0 and end-of-block both get length 2: half the codes unused. */
    bit_writer w = { 0 };
    put_small_codelen_header(&w);
    put_code(&w, 3, 2);                 /* literal 0: length 2 */
    for (int i = 1; i < 256; i++)
        put_code(&w, 0, 1);             /* literals 1..255: unused */
    put_code(&w, 3, 2);                 /* end of block: length 2 */
    put_code(&w, 0, 1);                 /* distance 0: unused */

    uint8_t out[4];
    el_error err = { 0 };
    assert_int_equal(el_inflate(w.bytes, w.n, out, sizeof out, &err), -1);
    assert_non_null(strstr(err.msg, "incomplete literal/length"));
}

static void inflate_repeat_without_previous(void **state)
{
    /* Code-length code: symbol 16 and symbol 0 get length 1; the first
     * length read is a repeat of a previous one that does not exist. */
    bit_writer w = { 0 };
    put_bits(&w, 1, 1);
    put_bits(&w, 2, 2);
    put_bits(&w, 0, 5);
    put_bits(&w, 0, 5);
    put_bits(&w, 0, 4);         /* 4 lengths: symbols 16, 17, 18, 0 */
    put_bits(&w, 1, 3);
    put_bits(&w, 0, 3);
    put_bits(&w, 0, 3);
    put_bits(&w, 1, 3);
    put_code(&w, 1, 1);         /* symbol 16 */
    put_bits(&w, 0, 2);

    uint8_t out[4];
    el_error err = { 0 };
    assert_int_equal(el_inflate(w.bytes, w.n, out, sizeof out, &err), -1);
    assert_non_null(strstr(err.msg, "there is none"));
}

static void inflate_distance_too_far(void **state)
{
    /* One literal, then a match at distance 2. */
    bit_writer w = { 0 };
    put_bits(&w, 1, 1);
    put_bits(&w, 1, 2);
    put_fixed(&w, 'a');
    put_fixed(&w, 257);
    put_code(&w, 1, 5);
    put_fixed(&w, 256);

    uint8_t out[4];
    el_error err = { 0 };
    assert_int_equal(el_inflate(w.bytes, w.n, out, sizeof out, &err), -1);
    assert_non_null(strstr(err.msg, "2 bytes back at output byte 1"));
}

static void inflate_reserved_codes(void **state)
{
    uint8_t out[4];
    el_error err = { 0 };

    bit_writer t = { 0 };
    put_bits(&t, 1, 1);
    put_bits(&t, 3, 2);
    put_bits(&t, 0, 13);
    assert_int_equal(el_inflate(t.bytes, t.n, out, sizeof out, &err), -1);
    assert_non_null(strstr(err.msg, "reserved type 3"));

    bit_writer l = { 0 };
    put_bits(&l, 1, 1);
    put_bits(&l, 1, 2);
    put_fixed(&l, 'a');
    put_fixed(&l, 286);
    put_fixed(&l, 256);
    assert_int_equal(el_inflate(l.bytes, l.n, out, sizeof out, &err), -1);
    assert_non_null(strstr(err.msg, "reserved length code 286"));

    bit_writer d = { 0 };
    put_bits(&d, 1, 1);
    put_bits(&d, 1, 2);
    put_fixed(&d, 'a');
    put_fixed(&d, 257);
    put_code(&d, 30, 5);
    put_fixed(&d, 256);
    assert_int_equal(el_inflate(d.bytes, d.n, out, sizeof out, &err), -1);
    assert_non_null(strstr(err.msg, "reserved distance code 30"));
}

static void inflate_stored_length_mismatch(void **state)
{
    bit_writer w = { 0 };
    put_stored(&w, 1, (const uint8_t *)"abc", 3);
    w.bytes[3] ^= 0x01;         /* NLEN no longer the complement of LEN */

    uint8_t out[3];
    el_error err = { 0 };
    assert_int_equal(el_inflate(w.bytes, w.n, out, sizeof out, &err), -1);
    assert_non_null(strstr(err.msg, "does not match its complement"));
}

static void inflate_corrupted_streams(void **state)
{
    size_t n;
    uint8_t *in = read_fixture("inflate-dynamic.bin", &n);
    uint8_t *copy = malloc(n);
    uint8_t *out = malloc(FIXTURE_TEXT_SIZE);
    assert_non_null(copy);
    assert_non_null(out);

    /* Flipped bits must give an error or, rarely, another valid stream of
     * the same size; the sanitizers catch any read or write out of bounds. */
    uint64_t seed = 0x1f2e3d4c5b6a7988ull;
    int failed = 0;
    for (int round = 0; round < 2000; round++) {
        memcpy(copy, in, n);
        const int flips = 1 + (int)(test_rand(&seed) % 4);
        for (int f = 0; f < flips; f++) {
            const uint64_t bit = test_rand(&seed) % (n * 8);
            copy[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        }
        el_error err = { 0 };
        if (el_inflate(copy, n, out, FIXTURE_TEXT_SIZE, &err) != 0)
            failed++;
    }
    assert_true(failed > 1500);

    free(in);
    free(copy);
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(crc32_known_values),
        cmocka_unit_test(inflate_stored_blocks),
        cmocka_unit_test(inflate_fixed_match),
        cmocka_unit_test(inflate_zlib_streams),
        cmocka_unit_test(inflate_bomb),
        cmocka_unit_test(inflate_ends_short),
        cmocka_unit_test(inflate_truncated),
        cmocka_unit_test(inflate_trailing_bytes),
        cmocka_unit_test(inflate_oversubscribed_code_lengths),
        cmocka_unit_test(inflate_incomplete_code_set),
        cmocka_unit_test(inflate_repeat_without_previous),
        cmocka_unit_test(inflate_distance_too_far),
        cmocka_unit_test(inflate_reserved_codes),
        cmocka_unit_test(inflate_stored_length_mismatch),
        cmocka_unit_test(inflate_corrupted_streams),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
