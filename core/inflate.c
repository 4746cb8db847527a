#include "inflate.h"

#include <stdlib.h>
#include <string.h>

/* Limits of RFC 1951: codes are at most 15 bits long, a dynamic block has up
 * to 286 literal/length and 30 distance codes (the fixed block also defines
 * the never-used symbols 286, 287, 30 and 31), and 19 code-length codes. */
#define MAX_BITS 15
#define LITLEN_CODES 288
#define DIST_CODES 32
#define CODELEN_CODES 19
#define END_OF_BLOCK 256

/* A lookup table entry stores the symbol in the high bits and the code
 * length in the low 4 bits. Length 0 marks a bit pattern that is no code. */
#define ENTRY_LENGTH(e) ((unsigned)(e) & 15u)
#define ENTRY_SYMBOL(e) ((unsigned)(e) >> 4)

/* Decoding table of one Huffman code, indexed by the next `bits` input bits
 * (deflate sends codes first bit first, so the index is the bit-reversed
 * code padded with every possible suffix). */
typedef struct huffman {
    uint16_t table[1u << MAX_BITS];
    unsigned bits;
} huffman;

/* Input bit reader: bits are consumed from the low end of `buf`. */
typedef struct reader {
    const uint8_t *in;
    size_t n;
    size_t pos;         /* next byte to load into buf */
    uint64_t buf;
    unsigned count;     /* valid bits in buf */
} reader;

typedef struct inflater {
    reader r;
    uint8_t *out;
    size_t out_size;
    size_t out_pos;
    huffman litlen;
    huffman dist;
    el_error *err;
} inflater;

/* Base values and extra-bit counts of length codes 257..285 and distance
 * codes 0..29 (RFC 1951 section 3.2.5). */
static const uint16_t length_base[29] = {
    3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31,
    35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258,
};
static const uint8_t length_extra[29] = {
    0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2,
    3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0,
};
static const uint16_t dist_base[30] = {
    1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193,
    257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289,
    16385, 24577,
};
static const uint8_t dist_extra[30] = {
    0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6,
    7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13,
};

/* Order in which a dynamic block header lists the code-length code lengths. */
static const uint8_t codelen_order[CODELEN_CODES] = {
    16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15,
};

/* Byte offset of the reader in the input, for messages. */
static size_t reader_offset(const reader *r)
{
    return r->pos - r->count / 8;
}

static void refill(reader *r)
{
    while (r->count <= 56 && r->pos < r->n) {
        r->buf |= (uint64_t)r->in[r->pos++] << r->count;
        r->count += 8;
    }
}

/* Reads k bits (k <= 32), first bit in the lowest position. */
static int read_bits(inflater *s, unsigned k, uint32_t *value)
{
    reader *r = &s->r;
    if (r->count < k)
        refill(r);
    if (r->count < k)
        return el_fail(s->err, "deflate stream is truncated: it ends at byte %zu "
                       "inside a block", r->n);

    *value = (uint32_t)(r->buf & ((1ull << k) - 1));
    r->buf >>= k;
    r->count -= k;
    return 0;
}

/* Decodes one symbol. Bits past the end of the input read as zeros, so a
 * code that needs them is reported as truncation. */
static int decode(inflater *s, const huffman *h, unsigned *symbol)
{
    reader *r = &s->r;
    if (r->count < h->bits)
        refill(r);

    const uint16_t e = h->table[r->buf & ((1u << h->bits) - 1)];
    const unsigned len = ENTRY_LENGTH(e);
    if (len == 0)
        return el_fail(s->err, "deflate stream has an invalid Huffman code at byte "
                       "%zu", reader_offset(r));
    if (len > r->count)
        return el_fail(s->err, "deflate stream is truncated: it ends at byte %zu "
                       "inside a block", r->n);

    r->buf >>= len;
    r->count -= len;
    *symbol = ENTRY_SYMBOL(e);
    return 0;
}

static unsigned reverse_bits(unsigned code, unsigned len)
{
    unsigned out = 0;
    for (unsigned i = 0; i < len; i++) {
        out = (out << 1) | (code & 1u);
        code >>= 1;
    }
    return out;
}

/* Builds the decoding table of the canonical code with these code lengths
 * (0 = symbol unused). An over-subscribed set is invalid. An incomplete set
 * is valid only for a single code of length 1 (RFC 1951 allows one distance
 * code) unless allow_incomplete is 0, as for the code-length code. An empty
 * set gives a table where every lookup fails. `what` names the code in
 * messages. */
static int build(inflater *s, huffman *h, const uint8_t *lengths, unsigned n,
                 int allow_incomplete, const char *what)
{
    unsigned count[MAX_BITS + 1] = { 0 };
    for (unsigned i = 0; i < n; i++)
        count[lengths[i]]++;

    unsigned max = 0;
    for (unsigned len = 1; len <= MAX_BITS; len++)
        if (count[len] != 0)
            max = len;

    /* Codes left at each length; it goes negative when over-subscribed. */
    int left = 1;
    for (unsigned len = 1; len <= MAX_BITS; len++) {
        left = left * 2 - (int)count[len];
        if (left < 0)
            return el_fail(s->err, "deflate stream has an over-subscribed %s code "
                           "set near byte %zu", what, reader_offset(&s->r));
    }
    if (max != 0 && left > 0 && !(allow_incomplete && max == 1))
        return el_fail(s->err, "deflate stream has an incomplete %s code set near "
                       "byte %zu", what, reader_offset(&s->r));

    h->bits = max > 0 ? max : 1;
    memset(h->table, 0, ((size_t)1 << h->bits) * sizeof h->table[0]);

    unsigned next[MAX_BITS + 2] = { 0 };
    for (unsigned len = 1; len <= MAX_BITS; len++)
        next[len + 1] = (next[len] + count[len]) << 1;

    for (unsigned sym = 0; sym < n; sym++) {
        const unsigned len = lengths[sym];
        if (len == 0)
            continue;

        const unsigned code = reverse_bits(next[len]++, len);
        const uint16_t entry = (uint16_t)((sym << 4) | len);
        for (unsigned i = code; i < (1u << h->bits); i += 1u << len)
            h->table[i] = entry;
    }
    return 0;
}

/* Appends the match of `length` bytes at `distance` back. */
static int copy_match(inflater *s, unsigned length, unsigned distance)
{
    if (distance > s->out_pos)
        return el_fail(s->err, "deflate stream refers to %u bytes back at output "
                       "byte %zu, before the start of the data (input byte %zu)",
                       distance, s->out_pos, reader_offset(&s->r));
    if (length > s->out_size - s->out_pos)
        return el_fail(s->err, "deflate stream inflates past the declared size of "
                       "%zu bytes; the member is damaged or a deflate bomb",
                       s->out_size);

    /* Byte by byte, because a match may overlap the bytes it produces. */
    uint8_t *dst = s->out + s->out_pos;
    const uint8_t *src = dst - distance;
    for (unsigned i = 0; i < length; i++)
        dst[i] = src[i];
    s->out_pos += length;
    return 0;
}

/* Decodes literals and matches with the current tables up to end of block. */
static int inflate_codes(inflater *s)
{
    for (;;) {
        unsigned sym;
        if (decode(s, &s->litlen, &sym) != 0)
            return -1;

        if (sym < 256) {
            if (s->out_pos == s->out_size)
                return el_fail(s->err, "deflate stream inflates past the declared "
                               "size of %zu bytes; the member is damaged or a "
                               "deflate bomb", s->out_size);
            s->out[s->out_pos++] = (uint8_t)sym;
            continue;
        }
        if (sym == END_OF_BLOCK)
            return 0;

        sym -= 257;
        if (sym >= 29)
            return el_fail(s->err, "deflate stream uses the reserved length code %u "
                           "at byte %zu", sym + 257, reader_offset(&s->r));
        uint32_t extra;
        if (read_bits(s, length_extra[sym], &extra) != 0)
            return -1;
        const unsigned length = length_base[sym] + extra;

        unsigned dsym;
        if (decode(s, &s->dist, &dsym) != 0)
            return -1;
        if (dsym >= 30)
            return el_fail(s->err, "deflate stream uses the reserved distance code "
                           "%u at byte %zu", dsym, reader_offset(&s->r));
        if (read_bits(s, dist_extra[dsym], &extra) != 0)
            return -1;

        if (copy_match(s, length, dist_base[dsym] + extra) != 0)
            return -1;
    }
}

static int inflate_stored(inflater *s)
{
    reader *r = &s->r;

    /* Drop the bits up to the byte boundary, then hand the whole bytes still
     * in the bit buffer back to the input. */
    r->buf >>= r->count % 8;
    r->count -= r->count % 8;
    r->pos -= r->count / 8;
    r->buf = 0;
    r->count = 0;

    if (r->n - r->pos < 4)
        return el_fail(s->err, "deflate stream is truncated: it ends at byte %zu "
                       "inside a stored block header", r->n);
    const unsigned len = r->in[r->pos] | (unsigned)r->in[r->pos + 1] << 8;
    const unsigned nlen = r->in[r->pos + 2] | (unsigned)r->in[r->pos + 3] << 8;
    if (len != (~nlen & 0xffffu))
        return el_fail(s->err, "deflate stream has a stored block at byte %zu whose "
                       "length %u does not match its complement %u", r->pos, len,
                       nlen);
    r->pos += 4;

    if (len > r->n - r->pos)
        return el_fail(s->err, "deflate stream is truncated: a stored block of %u "
                       "bytes at byte %zu runs past the end at byte %zu", len,
                       r->pos, r->n);
    if (len > s->out_size - s->out_pos)
        return el_fail(s->err, "deflate stream inflates past the declared size of "
                       "%zu bytes; the member is damaged or a deflate bomb",
                       s->out_size);

    if (len > 0)
        memcpy(s->out + s->out_pos, r->in + r->pos, len);
    s->out_pos += len;
    r->pos += len;
    return 0;
}

static int inflate_fixed(inflater *s)
{
    uint8_t lengths[LITLEN_CODES];
    unsigned sym = 0;
    for (; sym < 144; sym++)
        lengths[sym] = 8;
    for (; sym < 256; sym++)
        lengths[sym] = 9;
    for (; sym < 280; sym++)
        lengths[sym] = 7;
    for (; sym < LITLEN_CODES; sym++)
        lengths[sym] = 8;

    uint8_t dist_lengths[DIST_CODES];
    memset(dist_lengths, 5, sizeof dist_lengths);

    if (build(s, &s->litlen, lengths, LITLEN_CODES, 0, "fixed literal/length") != 0 ||
        build(s, &s->dist, dist_lengths, DIST_CODES, 0, "fixed distance") != 0)
        return -1;
    return inflate_codes(s);
}

/* Reads the code lengths of a dynamic block's two codes, which are
 * themselves Huffman-coded with run-length symbols 16, 17 and 18. */
static int read_code_lengths(inflater *s, const huffman *codelen, uint8_t *lengths,
                             unsigned total)
{
    unsigned i = 0;
    while (i < total) {
        unsigned sym;
        if (decode(s, codelen, &sym) != 0)
            return -1;
        if (sym < 16) {
            lengths[i++] = (uint8_t)sym;
            continue;
        }

        uint8_t value = 0;
        uint32_t repeat;
        if (sym == 16) {
            if (i == 0)
                return el_fail(s->err, "deflate stream repeats a previous code "
                               "length at byte %zu, but there is none",
                               reader_offset(&s->r));
            value = lengths[i - 1];
            if (read_bits(s, 2, &repeat) != 0)
                return -1;
            repeat += 3;
        } else if (sym == 17) {
            if (read_bits(s, 3, &repeat) != 0)
                return -1;
            repeat += 3;
        } else {
            if (read_bits(s, 7, &repeat) != 0)
                return -1;
            repeat += 11;
        }

        if (repeat > total - i)
            return el_fail(s->err, "deflate stream repeats a code length past the "
                           "%u lengths of its block header at byte %zu", total,
                           reader_offset(&s->r));
        memset(lengths + i, value, repeat);
        i += repeat;
    }
    return 0;
}

static int inflate_dynamic(inflater *s)
{
    uint32_t hlit, hdist, hclen;
    if (read_bits(s, 5, &hlit) != 0 || read_bits(s, 5, &hdist) != 0 ||
        read_bits(s, 4, &hclen) != 0)
        return -1;
    const unsigned n_litlen = hlit + 257;
    const unsigned n_dist = hdist + 1;
    if (n_litlen > 286 || n_dist > 30)
        return el_fail(s->err, "deflate stream declares %u literal/length and %u "
                       "distance codes at byte %zu, more than the 286 and 30 "
                       "allowed", n_litlen, n_dist, reader_offset(&s->r));

    uint8_t lengths[LITLEN_CODES + DIST_CODES] = { 0 };
    for (unsigned i = 0; i < hclen + 4; i++) {
        uint32_t len;
        if (read_bits(s, 3, &len) != 0)
            return -1;
        lengths[codelen_order[i]] = (uint8_t)len;
    }
    /* The code-length code is built in the distance table, which is rebuilt
     * right after it is used. */
    if (build(s, &s->dist, lengths, CODELEN_CODES, 0, "code-length") != 0)
        return -1;

    memset(lengths, 0, sizeof lengths);
    if (read_code_lengths(s, &s->dist, lengths, n_litlen + n_dist) != 0)
        return -1;
    if (lengths[END_OF_BLOCK] == 0)
        return el_fail(s->err, "deflate stream has a block without an end-of-block "
                       "code at byte %zu", reader_offset(&s->r));

    if (build(s, &s->litlen, lengths, n_litlen, 1, "literal/length") != 0 ||
        build(s, &s->dist, lengths + n_litlen, n_dist, 1, "distance") != 0)
        return -1;
    return inflate_codes(s);
}

static int inflate_blocks(inflater *s)
{
    uint32_t final = 0;
    while (!final) {
        uint32_t type;
        if (read_bits(s, 1, &final) != 0 || read_bits(s, 2, &type) != 0)
            return -1;

        int rc;
        if (type == 0)
            rc = inflate_stored(s);
        else if (type == 1)
            rc = inflate_fixed(s);
        else if (type == 2)
            rc = inflate_dynamic(s);
        else
            rc = el_fail(s->err, "deflate stream has a block of the reserved type 3 "
                         "at byte %zu", reader_offset(&s->r));
        if (rc != 0)
            return -1;
    }

    if (s->out_pos != s->out_size)
        return el_fail(s->err, "deflate stream ends after %zu of the declared %zu "
                       "bytes; the member is truncated or damaged", s->out_pos,
                       s->out_size);
    if (reader_offset(&s->r) != s->r.n)
        return el_fail(s->err, "deflate stream ends at byte %zu of %zu; the member "
                       "has data after its final block", reader_offset(&s->r),
                       s->r.n);
    return 0;
}

int el_inflate(const uint8_t *in, size_t in_size, uint8_t *out, size_t out_size,
               el_error *err)
{
    /* The tables are 128 KiB, too large for the stack. */
    inflater *s = malloc(sizeof *s);
    if (s == NULL)
        return el_fail(err, "out of memory for the deflate decoder");

    s->r = (reader){ .in = in, .n = in_size };
    s->out = out;
    s->out_size = out_size;
    s->out_pos = 0;
    s->err = err;

    const int rc = inflate_blocks(s);
    free(s);
    return rc;
}

uint32_t el_crc32(uint32_t crc, const uint8_t *data, size_t n)
{
    /* Building the table costs 2048 steps, nothing next to a member's bytes,
     * and keeps the function free of shared state. */
    uint32_t table[256];
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1u) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        table[i] = c;
    }

    crc = ~crc;
    for (size_t i = 0; i < n; i++)
        crc = table[(crc ^ data[i]) & 0xffu] ^ (crc >> 8);
    return ~crc;
}
