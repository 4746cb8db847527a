/* Static rANS (range asymmetric numeral systems) over bytes, with a table
 * per context.
 *
 * Why rANS rather than Huffman: the exponent fields of model weights and
 * quantized integers are often very skewed, with one value taking most of a
 * tensor. Huffman spends at least one bit per symbol there, while rANS
 * comes within about 1% of the order-0 entropy (tests/test_entropy.c checks
 * this on a geometric distribution). The frequency table is chosen per
 * block between 2^8 and 2^15 slots by its total coded size, so a small
 * tensor gets a coarse table of a few dozen bytes and a large one a precise
 * table.
 *
 * Speed: each state is 32 bits and is renormalized by whole 16-bit words,
 * so a symbol moves at most one word and neither coding loop branches on
 * the data. Blocks of at least STATES_WIDE_MIN bytes interleave eight
 * states, which keeps enough independent work in flight to hide the table
 * lookups and multiplies. Shorter blocks use four, which costs 16 bytes
 * less. The decoder keeps one byte per table slot (its symbol) and one
 * word per symbol (frequency and first slot), so even a 2^15-slot table
 * fits in the L1 cache. Rounds run without bounds checks while the stream
 * contains a word for every byte of them; the last few bytes go through a
 * checked loop. Against 8-bit renormalization of a state kept above 2^23,
 * the 16-bit words cost about 0.01% of the coded size (measured with four
 * states on the exponent bytes of a 7 MB bf16 model).
 *
 * Block layout:
 *   u8 mode: 0 = stored (the n bytes follow as they are), 1 = coded.
 *   coded: one model for every context that occurs in the context array, in
 *   context order, then, unless every model is single-symbol, a varint stream
 *   length and the stream: the S initial decoder states as u32le (S = 8 when
 *   n >= STATES_WIDE_MIN, else 4), then u16le renormalization words in the
 *   order the decoder reads them. Byte i of the block's data belongs to
 *   state i % S.
 * Model: u8 kind. 1 = single symbol (u8 symbol follows, costs no bits),
 *   2 = uniform over all 256 byte values, else a table of 2^scale slots
 *   with kind = scale (8..15) + 16 * form. The table is u8 (K - 1) for
 *   K >= 2 symbols, then the symbol set in the given form: 0 = K bytes
 *   ascending, 1 = a 32-byte bitmap (bit s & 7 of byte s >> 3), 2 = runs of
 *   consecutive values, each as a byte with the number of absent values
 *   since the previous run and a byte with its length minus one. Then come
 *   the frequencies of the first K - 1 symbols as bits packed least
 *   significant first and zero-padded to a byte. Let L be the bit length
 *   of f - 1 and P that of the symbol before (0 for the first). A symbol's
 *   bits are the Elias gamma code of zigzag(L - P) + 1, then the L - 1 bits
 *   of f - 1 below its leading one. The gamma code of a value with n + 1
 *   bits is n zero bits, a one bit, then the low n bits of the value. Nearby
 *   symbols have frequencies of similar size, so this is about half the
 *   size of a varint per frequency. The last frequency is 2^scale minus the
 *   others.
 *
 * State invariant: x lies in [RANS_L, 2^32) between symbols, and the
 * encoder starts every state at RANS_L, so the decoder must end there too.
 * With RANS_L = 2^16 and at most 2^15 slots, decoding a symbol leaves x at
 * least 2 * f, so one word always brings it back above RANS_L. */
#include "entropy.h"
#include "always_inline.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>


/* The renormalization steps use inline assembly on x86-64 with gcc or
 * clang: one comparison feeds two conditional moves (state and stream
 * position). gcc 12 compiles every C form of that tried either into a
 * branch, which mispredicts every few symbols, or into mask arithmetic
 * about 15% slower overall (measured on the exponent bytes of a 7 MB bf16
 * model). Define EL_ENTROPY_NO_ASM to build the C form. */
#if defined(__GNUC__) && defined(__x86_64__) && !defined(EL_ENTROPY_NO_ASM)
#define RENORM_ASM 1
#else
#define RENORM_ASM 0
#endif

#define RANS_L (UINT32_C(1) << 16)
#define WORD_BYTES 2
#define STATE_BYTES 4
#define STATES_NARROW 4
#define STATES_WIDE 8
#define STATES_WIDE_MIN 16384
#define SCALE_MIN 8
#define SCALE_MAX 15
#define SYMBOLS 256

#define MODE_STORED 0
#define MODE_CODED 1

#define KIND_SINGLE 1
#define KIND_UNIFORM 2

/* Forms of a table's symbol set, in bits 4 and 5 of its kind byte. */
#define SET_LIST 0
#define SET_BITMAP 1
#define SET_RUNS 2

/* Longest prefix of an Elias gamma code in a table: length steps are at
 * most 30, so the coded value is at most 31. */
#define GAMMA_ZEROS_MAX 4

typedef struct model {
    int kind;
    int scale;
    uint32_t freq[SYMBOLS];
} model;

/* Encoder form of one symbol of a model. The state update
 * x' = (x / f) * 2^scale + x % f + start is computed as
 * x + start + q * (2^scale - f), with q = x / f taken as
 * (x * rcp) >> (32 + scale) for rcp = ceil(2^(32 + scale) / f). The
 * quotient is exact because renormalization leaves x below
 * 2^(32 - scale) * f: with d = rcp * f - 2^(32 + scale) < f, the product
 * exceeds x / f by x * d / (f * 2^(32 + scale)) < 1 / f, which never
 * reaches the next integer, and the product itself stays below 2^64. */
typedef struct enc_symbol {
    uint32_t bound;      /* 2^(32 - scale) * f - 1: x above it emits a word first */
    uint16_t start;
    uint16_t complement; /* 2^scale - f */
} enc_symbol;

/* The reciprocals sit apart from the other fields so that both arrays
 * have 8-byte entries, which x86 addresses with a scaled index. */
typedef struct enc_table {
    int scale;
    uint64_t rcp[SYMBOLS];
    enc_symbol symbol[SYMBOLS];
} enc_table;

/* A decoder table is one allocation: 2^scale bytes giving the symbol that
 * owns each slot, then SYMBOLS words f | first slot << 16. With the words
 * at a constant offset from the slots, the fast loops address both from
 * one register. */
typedef struct decoder_model {
    int scale;
    const uint8_t *slots;
} decoder_model;

#define DECODER_INFO_BYTES (SYMBOLS * sizeof(uint32_t))

static const uint32_t *decoder_info(const uint8_t *slots, int scale)
{
    return (const uint32_t *)(const void *)(slots + ((size_t)1 << scale));
}

static unsigned state_count(size_t n)
{
    return n >= STATES_WIDE_MIN ? STATES_WIDE : STATES_NARROW;
}

/* ---- histograms and the entropy estimate ---- */

void el_entropy_histogram(const uint8_t *src, size_t n, uint32_t *count)
{
    memset(count, 0, SYMBOLS * sizeof *count);
    if (n < 1024) {
        for (size_t i = 0; i < n; i++)
            count[src[i]]++;
        return;
    }

    /* Four tables, so that a run of equal bytes increments four different
     * counters instead of waiting on one. */
    uint32_t part[4][SYMBOLS];
    memset(part, 0, sizeof part);
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        part[0][src[i]]++;
        part[1][src[i + 1]]++;
        part[2][src[i + 2]]++;
        part[3][src[i + 3]]++;
    }
    for (; i < n; i++)
        part[0][src[i]]++;
    for (int s = 0; s < SYMBOLS; s++)
        count[s] = part[0][s] + part[1][s] + part[2][s] + part[3][s];
}

static double histogram_bits(const uint32_t *count, uint64_t total)
{
    double bits = 0;
    for (int s = 0; s < SYMBOLS; s++) {
        if (count[s])
            bits -= count[s] * log2((double)count[s] / (double)total);
    }
    return bits;
}

double el_entropy_of_histogram(const uint32_t *count, uint64_t total)
{
    return total ? histogram_bits(count, total) / (double)total : 0.0;
}

double el_entropy_bits_per_byte(const uint8_t *src, size_t n)
{
    uint32_t count[SYMBOLS];
    el_entropy_histogram(src, n, count);
    return el_entropy_of_histogram(count, n);
}

/* ---- table normalization ---- */

/* log2(x) for x >= 1, within about 1e-7: the exponent from the leading bit
 * and a series for the mantissa. Model choice calls it for every symbol of
 * every candidate table, where libm's log2 took most of the encode time;
 * its error shifts the estimated block size by a few bits at most and
 * never changes what the decoder reads. */
static double fast_log2(uint64_t x)
{
    int e = 63 - __builtin_clzll(x);
    double m = (double)x / (double)(UINT64_C(1) << e); /* in [1, 2] after rounding */
    double t = (m - 1.4142135623730950) / (m + 1.4142135623730950);
    double t2 = t * t;
    /* log2(m) = 0.5 + 2 atanh(t) / ln 2, the series to t^7. */
    double atanh = t * (1.0 + t2 * (1.0 / 3 + t2 * (1.0 / 5 + t2 * (1.0 / 7))));
    return (double)e + 0.5 + 2.8853900817779268 * atanh;
}

static int bit_length(uint64_t v)
{
    return v ? 64 - __builtin_clzll(v) : 0;
}

/* Scales counts to frequencies that sum to 2^scale, every occurring symbol
 * at least 1. Rounding leaves the sum off by at most one per symbol, and
 * the fix-up moves those units where they cost the fewest bits. */
/* Change in coded bits when a symbol with c occurrences moves from
 * frequency f to f + step. */
static double step_cost(uint32_t c, uint32_t f, int step)
{
    return c * log2((double)f / (double)(f + (uint32_t)step));
}

/* A binary min-heap of indices into present[], ordered by delta. */
typedef struct cost_heap {
    const double *delta;
    int index[SYMBOLS];
    int n;
} cost_heap;

static void heap_sift_down(cost_heap *h, int at)
{
    for (;;) {
        int least = at;
        int left = 2 * at + 1;
        int right = left + 1;
        if (left < h->n && h->delta[h->index[left]] < h->delta[h->index[least]])
            least = left;
        if (right < h->n && h->delta[h->index[right]] < h->delta[h->index[least]])
            least = right;
        if (least == at)
            return;
        int t = h->index[at];
        h->index[at] = h->index[least];
        h->index[least] = t;
        at = least;
    }
}

static void normalize(const uint32_t *count, const uint8_t *present, int k, uint64_t total,
                      int scale, uint32_t *freq)
{
    int64_t target = INT64_C(1) << scale;
    memset(freq, 0, SYMBOLS * sizeof *freq);

    /* Symbols that would round to 0 get 1, and the others share what is
     * left in proportion, so the greedy fix-up below has only rounding
     * to undo. */
    uint64_t rare_count = 0;
    int64_t rare = 0;
    for (int i = 0; i < k; i++) {
        int s = present[i];
        if (2 * (uint64_t)count[s] * (uint64_t)target < total) {
            freq[s] = 1;
            rare_count += count[s];
            rare++;
        }
    }
    int64_t sum = rare;
    uint64_t common_total = total - rare_count;
    uint64_t common_slots = (uint64_t)(target - rare);
    for (int i = 0; i < k && common_total > 0; i++) {
        int s = present[i];
        if (freq[s])
            continue;
        uint64_t f = ((uint64_t)count[s] * common_slots + common_total / 2) / common_total;
        freq[s] = f ? (uint32_t)f : 1;
        sum += freq[s];
    }
    if (sum == target)
        return;

    /* delta[i]: bits that one more (or one fewer) unit of present[i]'s
     * frequency adds; the greedy step takes the smallest. Only the chosen
     * symbol's delta changes, so each step costs one log2. */
    int removing = sum > target;
    int step = removing ? -1 : 1;
    double delta[SYMBOLS];
    for (int i = 0; i < k; i++) {
        int s = present[i];
        if (!removing || freq[s] > 1)
            delta[i] = step_cost(count[s], freq[s], step);
    }
    cost_heap heap = {delta, {0}, 0};
    for (int i = 0; i < k; i++) {
        if (!removing || freq[present[i]] > 1)
            heap.index[heap.n++] = i;
    }
    for (int at = heap.n / 2 - 1; at >= 0; at--)
        heap_sift_down(&heap, at);

    /* The heap cannot run empty: while sum > target some frequency is
     * above 1, because k <= 256 <= target. */
    while (sum != target) {
        int i = heap.index[0];
        int s = present[i];
        freq[s] += (uint32_t)step;
        sum += step;
        if (removing && freq[s] == 1) {
            heap.index[0] = heap.index[--heap.n];
        } else {
            delta[i] = step_cost(count[s], freq[s], step);
        }
        heap_sift_down(&heap, 0);
    }
}

/* Writes v as el_buf_append_varint does and returns its length. */
static size_t put_varint(uint8_t *p, uint64_t v)
{
    size_t n = 0;
    for (; v >= 0x80; v >>= 7)
        p[n++] = (uint8_t)(v | 0x80);
    p[n++] = (uint8_t)v;
    return n;
}

/* Number of maximal runs of consecutive symbols in the ascending list
 * present[0, k). */
static int symbol_runs(const uint8_t *present, int k)
{
    int runs = 0;
    for (int i = 0; i < k; i++)
        runs += i == 0 || present[i] != present[i - 1] + 1;
    return runs;
}

/* Picks the smallest form of a symbol set and returns its size in bytes. */
static size_t set_bytes(const uint8_t *present, int k, int *form)
{
    size_t runs = 2 * (size_t)symbol_runs(present, k);
    size_t best = (size_t)k;
    *form = SET_LIST;
    if (SYMBOLS / 8 < best) {
        best = SYMBOLS / 8;
        *form = SET_BITMAP;
    }
    if (runs < best) {
        best = runs;
        *form = SET_RUNS;
    }
    return best;
}

/* Zigzag form of the change between the bit lengths of two frequencies. */
static uint32_t length_step(int length, int previous)
{
    int d = length - previous;
    return d >= 0 ? (uint32_t)(2 * d) : (uint32_t)(-2 * d - 1);
}

/* Bits of the frequency code of the first k - 1 symbols of present[]: per
 * symbol the Elias gamma code of length_step + 1, then the bits of f - 1
 * below its leading one. */
static size_t frequency_bits(const uint32_t *freq, const uint8_t *present, int k)
{
    size_t bits = 0;
    int previous = 0;
    for (int i = 0; i + 1 < k; i++) {
        int length = bit_length(freq[present[i]] - 1);
        bits += 2 * (size_t)(bit_length(length_step(length, previous) + 1) - 1) + 1;
        bits += length > 1 ? (size_t)(length - 1) : 0;
        previous = length;
    }
    return bits;
}

/* Bytes of a table for the k symbols listed in ascending order in
 * present[], its kind and count bytes included. */
static size_t table_bytes(const uint32_t *freq, const uint8_t *present, int k)
{
    int form;
    return 2 + set_bytes(present, k, &form) + (frequency_bits(freq, present, k) + 7) / 8;
}

/* Largest table scale for a context of total bytes. The cap keeps the
 * decoder's slot tables within 4 slots per coded byte, or 256 for tiny
 * contexts, and the decoder enforces the same cap. */
static int scale_cap(uint64_t total)
{
    int cap = bit_length(total) + 1;
    if (cap < SCALE_MIN)
        return SCALE_MIN;
    return cap < SCALE_MAX ? cap : SCALE_MAX;
}

/* Estimated bits of a block coded with freq at scale, table included. */
static double coded_bits(const uint32_t *count, const uint8_t *present, int k,
                         const uint32_t *freq, int scale)
{
    double bits = 8.0 * (double)(1 + table_bytes(freq, present, k));
    for (int i = 0; i < k; i++) {
        int s = present[i];
        bits += count[s] * (scale - fast_log2(freq[s]));
    }
    return bits;
}

/* Picks the cheapest model for one context's histogram, by estimated coded
 * size including the table, and returns that estimate in bits. */
static double choose_model(const uint32_t *count, uint64_t total, model *m)
{
    uint8_t present[SYMBOLS];
    int k = 0;
    for (int s = 0; s < SYMBOLS; s++) {
        if (count[s])
            present[k++] = (uint8_t)s;
    }

    memset(m, 0, sizeof *m);
    m->scale = SCALE_MIN;
    if (k == 1) {
        m->kind = KIND_SINGLE;
        m->freq[present[0]] = 1u << SCALE_MIN;
        return 16;
    }

    m->kind = KIND_UNIFORM;
    double best_bits = 8.0 * (double)total + 8;

    /* No table codes below the empirical entropy, and every table costs
     * its kind, count and symbol bytes and at least a bit per listed
     * frequency, so a table that cannot beat the best so far is not
     * built. This settles near-uniform contexts without normalizing. */
    double entropy = 0;
    double log_total = fast_log2(total);
    for (int i = 0; i < k; i++) {
        uint32_t c = count[present[i]];
        entropy += c * (log_total - fast_log2(c));
    }
    int form;
    double floor_bits = entropy + 8.0 * (3 + set_bytes(present, k, &form)) + (k - 1);

    uint32_t freq[SYMBOLS];
    for (int scale = scale_cap(total); scale >= SCALE_MIN && floor_bits < best_bits; scale--) {
        normalize(count, present, k, total, scale, freq);
        double bits = coded_bits(count, present, k, freq, scale);
        if (bits < best_bits) {
            best_bits = bits;
            m->kind = scale;
            m->scale = scale;
            memcpy(m->freq, freq, sizeof freq);
        }
    }
    if (m->kind == KIND_UNIFORM) {
        for (int s = 0; s < SYMBOLS; s++)
            m->freq[s] = 1;
    }
    return best_bits;
}

static void build_encoder(const model *m, enc_table *table)
{
    uint32_t start = 0;
    table->scale = m->scale;
    for (int s = 0; s < SYMBOLS; s++) {
        uint32_t f = m->freq[s];
        enc_symbol *e = &table->symbol[s];
        memset(e, 0, sizeof *e);
        table->rcp[s] = 0;
        if (f == 0)
            continue;
        table->rcp[s] = ((UINT64_C(1) << (32 + m->scale)) + f - 1) / f;
        e->bound = (uint32_t)((UINT64_C(1) << (32 - m->scale)) * f - 1);
        e->start = (uint16_t)start;
        e->complement = (uint16_t)((UINT32_C(1) << m->scale) - f);
        start += f;
    }
}

/* ---- model serialization ---- */

/* Bits packed into bytes least significant bit first. */
typedef struct bit_writer {
    el_buf *out;
    uint64_t bits;
    int count;
} bit_writer;

static int put_bits(bit_writer *w, uint32_t value, int count, el_error *err)
{
    w->bits |= (uint64_t)value << w->count;
    w->count += count;
    for (; w->count >= 8; w->count -= 8, w->bits >>= 8) {
        if (el_buf_append_u8(w->out, (uint8_t)w->bits, err) != 0)
            return -1;
    }
    return 0;
}

/* Writes the Elias gamma code of value >= 1: as many 0 bits as value has
 * bits after its leading one, a 1 bit, then those bits. */
static int put_gamma(bit_writer *w, uint32_t value, el_error *err)
{
    int tail = bit_length(value) - 1;
    if (put_bits(w, 1u << tail, tail + 1, err) != 0)
        return -1;
    return put_bits(w, value & ((1u << tail) - 1), tail, err);
}

static int flush_bits(bit_writer *w, el_error *err)
{
    return w->count > 0 ? put_bits(w, 0, 8 - w->count, err) : 0;
}

typedef struct bit_reader {
    el_reader *in;
    uint64_t bits;
    int count;
} bit_reader;

static int get_bits(bit_reader *r, int count, uint32_t *value, el_error *err)
{
    while (r->count < count) {
        uint8_t byte;
        if (el_read_u8(r->in, &byte, err) != 0)
            return -1;
        r->bits |= (uint64_t)byte << r->count;
        r->count += 8;
    }
    *value = (uint32_t)(r->bits & ((UINT64_C(1) << count) - 1));
    r->bits >>= count;
    r->count -= count;
    return 0;
}

static int get_gamma(bit_reader *r, uint32_t *value, el_error *err)
{
    int tail = 0;
    for (;;) {
        uint32_t bit;
        if (get_bits(r, 1, &bit, err) != 0)
            return -1;
        if (bit)
            break;
        if (++tail > GAMMA_ZEROS_MAX)
            return el_fail(err, "frequency code has more than %d leading zero bits",
                           GAMMA_ZEROS_MAX);
    }
    uint32_t rest;
    if (get_bits(r, tail, &rest, err) != 0)
        return -1;
    *value = 1u << tail | rest;
    return 0;
}

static int write_symbols(const uint8_t *present, int k, int form, el_buf *out, el_error *err)
{
    if (form == SET_LIST)
        return el_buf_append(out, present, (size_t)k, err);
    if (form == SET_BITMAP) {
        uint8_t bitmap[SYMBOLS / 8] = {0};
        for (int i = 0; i < k; i++)
            bitmap[present[i] >> 3] |= (uint8_t)(1u << (present[i] & 7));
        return el_buf_append(out, bitmap, sizeof bitmap, err);
    }

    /* Runs: the number of absent symbols since the previous run, then the
     * run's length minus one. */
    int next = 0;
    for (int i = 0; i < k;) {
        int first = i;
        while (i + 1 < k && present[i + 1] == present[i] + 1)
            i++;
        uint8_t pair[2] = {(uint8_t)(present[first] - next), (uint8_t)(i - first)};
        if (el_buf_append(out, pair, sizeof pair, err) != 0)
            return -1;
        next = present[i] + 1;
        i++;
    }
    return 0;
}

static int write_model(const model *m, el_buf *out, el_error *err)
{
    uint8_t present[SYMBOLS];
    int k = 0;
    for (int s = 0; s < SYMBOLS; s++) {
        if (m->freq[s])
            present[k++] = (uint8_t)s;
    }

    if (m->kind == KIND_SINGLE) {
        uint8_t single[2] = {KIND_SINGLE, present[0]};
        return el_buf_append(out, single, sizeof single, err);
    }
    if (m->kind == KIND_UNIFORM)
        return el_buf_append_u8(out, KIND_UNIFORM, err);

    int form;
    set_bytes(present, k, &form);
    uint8_t head[2] = {(uint8_t)(m->scale | form << 4), (uint8_t)(k - 1)};
    if (el_buf_append(out, head, sizeof head, err) != 0
        || write_symbols(present, k, form, out, err) != 0)
        return -1;

    bit_writer w = {out, 0, 0};
    int previous = 0;
    for (int i = 0; i + 1 < k; i++) {
        uint32_t v = m->freq[present[i]] - 1;
        int length = bit_length(v);
        if (put_gamma(&w, length_step(length, previous) + 1, err) != 0)
            return -1;
        if (length > 1 && put_bits(&w, v & ((1u << (length - 1)) - 1), length - 1, err) != 0)
            return -1;
        previous = length;
    }
    return flush_bits(&w, err);
}

static int read_symbols(el_reader *r, int k, int form, uint8_t *present, el_error *err)
{
    if (form == SET_LIST) {
        const uint8_t *list = el_read_span(r, (size_t)k, err);
        if (list == NULL)
            return -1;
        for (int i = 0; i < k; i++) {
            if (i > 0 && list[i] <= list[i - 1])
                return el_fail(err, "symbol list is not ascending at entry %d (%u after %u)",
                               i, list[i], list[i - 1]);
            present[list[i]] = 1;
        }
        return 0;
    }

    if (form == SET_BITMAP) {
        const uint8_t *bitmap = el_read_span(r, SYMBOLS / 8, err);
        if (bitmap == NULL)
            return -1;
        int seen = 0;
        for (int s = 0; s < SYMBOLS; s++) {
            present[s] = (uint8_t)(bitmap[s >> 3] >> (s & 7) & 1);
            seen += present[s];
        }
        if (seen != k)
            return el_fail(err, "symbol bitmap has %d symbols, the table declares %d", seen, k);
        return 0;
    }

    int next = 0;
    int seen = 0;
    while (seen < k) {
        const uint8_t *pair = el_read_span(r, 2, err);
        if (pair == NULL)
            return -1;
        int first = next + pair[0];
        int run = pair[1] + 1;
        if (first + run > SYMBOLS || seen + run > k)
            return el_fail(err, "symbol run of %d from symbol %d exceeds the byte values "
                           "or the %d symbols the table declares", run, first, k);
        memset(present + first, 1, (size_t)run);
        seen += run;
        next = first + run;
    }
    return 0;
}

/* Reads the frequency code of the symbols in present[] but the last, into
 * freq[], checking each against the table size total. */
static int read_frequencies(el_reader *r, const uint8_t *present, int k, uint32_t total,
                            uint32_t *freq, el_error *err)
{
    bit_reader b = {r, 0, 0};
    int previous = 0;
    int seen = 0;
    for (int s = 0; s < SYMBOLS && seen + 1 < k; s++) {
        if (!present[s])
            continue;
        seen++;
        uint32_t code = 0;
        if (get_gamma(&b, &code, err) != 0)
            return -1;
        uint32_t step = code - 1;
        int length = previous + (step & 1 ? -(int)((step + 1) / 2) : (int)(step / 2));
        if (length < 0 || length > bit_length(total - 1))
            return el_fail(err, "frequency of symbol %d has %d bits, outside 0 to %d",
                           s, length, bit_length(total - 1));
        uint32_t v = (uint32_t)length;
        if (length > 1) {
            uint32_t low;
            if (get_bits(&b, length - 1, &low, err) != 0)
                return -1;
            v = 1u << (length - 1) | low;
        }
        if (v + 1 >= total)
            return el_fail(err, "frequency %u of symbol %d leaves nothing of the table size %u "
                           "for the others", v + 1, s, total);
        freq[s] = v + 1;
        previous = length;
    }
    if (b.bits != 0)
        return el_fail(err, "frequency code ends with nonzero padding bits");
    return 0;
}

/* Reads one model and checks that its frequencies sum to 2^scale with every
 * listed symbol at least 1. max_scale bounds the table size. */
static int read_model(el_reader *r, int max_scale, model *m, el_error *err)
{
    uint8_t kind;
    if (el_read_u8(r, &kind, err) != 0)
        return -1;

    memset(m, 0, sizeof *m);
    m->kind = kind;
    m->scale = SCALE_MIN;
    if (kind == KIND_SINGLE) {
        uint8_t s;
        if (el_read_u8(r, &s, err) != 0)
            return -1;
        m->freq[s] = 1u << SCALE_MIN;
        return 0;
    }
    if (kind == KIND_UNIFORM) {
        for (int s = 0; s < SYMBOLS; s++)
            m->freq[s] = 1;
        return 0;
    }
    int scale = kind & 15;
    int form = kind >> 4;
    if (scale < SCALE_MIN || scale > max_scale || form > SET_RUNS)
        return el_fail(err, "table kind %u is invalid: expected 1, 2 or a scale of %d to %d bits "
                       "plus 16 times a set form of 0 to %d", kind, SCALE_MIN, max_scale, SET_RUNS);
    m->kind = scale;
    m->scale = scale;

    uint8_t k_minus_one;
    if (el_read_u8(r, &k_minus_one, err) != 0)
        return -1;
    int k = k_minus_one + 1;
    if (k < 2)
        return el_fail(err, "table lists 1 symbol, which needs the single-symbol kind");

    uint8_t present[SYMBOLS] = {0};
    if (read_symbols(r, k, form, present, err) != 0)
        return -1;
    uint32_t total = UINT32_C(1) << scale;
    if (read_frequencies(r, present, k, total, m->freq, err) != 0)
        return -1;

    uint32_t sum = 0;
    int last = SYMBOLS - 1;
    while (!present[last])
        last--;
    for (int s = 0; s < last; s++)
        sum += m->freq[s];
    if (sum >= total)
        return el_fail(err, "frequencies sum to %u, leaving nothing of %u for symbol %d",
                       sum, total, last);
    m->freq[last] = total - sum;
    return 0;
}

/* ---- coding ---- */

static void put_u32le(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_u32le(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Words are little-endian. On little-endian hosts they are copied whole,
 * because gcc 12 does not merge the two byte accesses in the coding loops. */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
static EL_ALWAYS_INLINE uint32_t get_u16le(const uint8_t *p)
{
    uint16_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static EL_ALWAYS_INLINE void put_u16le(uint8_t *p, uint32_t v)
{
    uint16_t w = (uint16_t)v;
    memcpy(p, &w, sizeof w);
}
#else
static EL_ALWAYS_INLINE uint32_t get_u16le(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8;
}

static EL_ALWAYS_INLINE void put_u16le(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
#endif

/* Moves the low 16 bits of x into a word below *next when x is above
 * bound, and returns x without them in that case. The word is stored in
 * any case and kept only when due, so the caller leaves room for it. */
static EL_ALWAYS_INLINE uint32_t flush_word(uint32_t x, uint32_t bound, uint8_t **next)
{
    uint8_t *p = *next;
    uint8_t *before = p - WORD_BYTES;
    uint32_t shifted = x >> 16;
    put_u16le(before, x);
#if RENORM_ASM
    __asm__("cmpl %[bound], %[x]\n\t"
            "cmoval %[shifted], %[x]\n\t"
            "cmovaq %[before], %[p]"
            : [x] "+r"(x), [p] "+r"(p)
            : [bound] "rm"(bound), [shifted] "r"(shifted), [before] "r"(before)
            : "cc");
#else
    int64_t due = -(int64_t)(x > bound);
    p -= ((uint64_t)bound - x) >> 63 << 1;
    x ^= (x ^ shifted) & (uint32_t)due;
#endif
    *next = p;
    return x;
}

/* Pushes one symbol into state x, first moving a word of it below *p when
 * the state would overflow. */
static EL_ALWAYS_INLINE uint32_t rans_put(uint32_t x, const enc_table *t, uint8_t symbol, int scale,
                                       uint8_t **p)
{
    const enc_symbol *e = &t->symbol[symbol];
    x = flush_word(x, e->bound, p);
    uint32_t q = (uint32_t)(((uint64_t)x * t->rcp[symbol]) >> (32 + scale));
    return x + e->start + q * e->complement;
}

static EL_ALWAYS_INLINE uint32_t rans_put_ctx(uint32_t x, const enc_table *t, uint8_t symbol,
                                           uint8_t **p)
{
    return rans_put(x, t, symbol, t->scale, p);
}

/* Codes `rounds` rounds of `states` bytes at src (4 or 8, a constant
 * here like scale), last round first. tables is NULL for order-0 coding
 * with order0, else ctx gives the table of each byte. The states stay in
 * registers, which needs them as separate variables. */
static EL_ALWAYS_INLINE void encode_rounds(uint32_t *x, unsigned states, const uint8_t *src,
                                        const uint8_t *ctx, size_t rounds,
                                        const enc_table *order0, int scale,
                                        const enc_table *const *tables, uint8_t **p)
{
    uint32_t x0 = x[0], x1 = x[1], x2 = x[2], x3 = x[3];
    uint32_t x4 = 0, x5 = 0, x6 = 0, x7 = 0;
    if (states == STATES_WIDE)
        x4 = x[4], x5 = x[5], x6 = x[6], x7 = x[7];
    uint8_t *q = *p;
    while (rounds-- > 0) {
        const uint8_t *s = src + rounds * states;
        if (tables == NULL) {
            if (states == STATES_WIDE) {
                x7 = rans_put(x7, order0, s[7], scale, &q);
                x6 = rans_put(x6, order0, s[6], scale, &q);
                x5 = rans_put(x5, order0, s[5], scale, &q);
                x4 = rans_put(x4, order0, s[4], scale, &q);
            }
            x3 = rans_put(x3, order0, s[3], scale, &q);
            x2 = rans_put(x2, order0, s[2], scale, &q);
            x1 = rans_put(x1, order0, s[1], scale, &q);
            x0 = rans_put(x0, order0, s[0], scale, &q);
        } else {
            const uint8_t *c = ctx + rounds * states;
            if (states == STATES_WIDE) {
                x7 = rans_put_ctx(x7, tables[c[7]], s[7], &q);
                x6 = rans_put_ctx(x6, tables[c[6]], s[6], &q);
                x5 = rans_put_ctx(x5, tables[c[5]], s[5], &q);
                x4 = rans_put_ctx(x4, tables[c[4]], s[4], &q);
            }
            x3 = rans_put_ctx(x3, tables[c[3]], s[3], &q);
            x2 = rans_put_ctx(x2, tables[c[2]], s[2], &q);
            x1 = rans_put_ctx(x1, tables[c[1]], s[1], &q);
            x0 = rans_put_ctx(x0, tables[c[0]], s[0], &q);
        }
    }
    x[0] = x0, x[1] = x1, x[2] = x2, x[3] = x3;
    if (states == STATES_WIDE)
        x[4] = x4, x[5] = x5, x[6] = x6, x[7] = x7;
    *p = q;
}

/* One copy of encode_rounds per state count and, for order-0 coding,
 * per table scale. */
static void encode_order0(uint32_t *x, unsigned states, const uint8_t *src, size_t rounds,
                          const enc_table *t, uint8_t **p)
{
#define ENCODE_SCALE(w, sc) encode_rounds(x, w, src, NULL, rounds, t, sc, NULL, p)
#define ENCODE_SCALES(w)                                                    \
    switch (t->scale) {                                                     \
    case 8: ENCODE_SCALE(w, 8); break;                                      \
    case 9: ENCODE_SCALE(w, 9); break;                                      \
    case 10: ENCODE_SCALE(w, 10); break;                                    \
    case 11: ENCODE_SCALE(w, 11); break;                                    \
    case 12: ENCODE_SCALE(w, 12); break;                                    \
    case 13: ENCODE_SCALE(w, 13); break;                                    \
    case 14: ENCODE_SCALE(w, 14); break;                                    \
    default: ENCODE_SCALE(w, 15); break;                                    \
    }
    if (states == STATES_WIDE)
        ENCODE_SCALES(STATES_WIDE)
    else
        ENCODE_SCALES(STATES_NARROW)
#undef ENCODE_SCALES
#undef ENCODE_SCALE
}

static void encode_ctx(uint32_t *x, unsigned states, const uint8_t *src, const uint8_t *ctx,
                       size_t rounds, const enc_table *const *tables, uint8_t **p)
{
    if (states == STATES_WIDE)
        encode_rounds(x, STATES_WIDE, src, ctx, rounds, NULL, 0, tables, p);
    else
        encode_rounds(x, STATES_NARROW, src, ctx, rounds, NULL, 0, tables, p);
}

/* Codes bytes [first, end) of src backwards, byte i into state i % states.
 * The state count is a power of two, so the remainder is a mask. */
static void encode_span(uint32_t *x, unsigned states, const uint8_t *src, const uint8_t *ctx,
                        size_t first, size_t end, const enc_table *const *tables, uint8_t **p)
{
    for (size_t i = end; i-- > first;) {
        const enc_table *t = tables[ctx ? ctx[i] : 0];
        uint32_t *state = &x[i & (states - 1)];
        *state = rans_put_ctx(*state, t, src[i], p);
    }
}

/* Codes src backwards into buf[0, cap) from its end and returns the start
 * of the stream, or NULL when the stream would not fit. tables[c] is the
 * encoder table of context c. */
static uint8_t *rans_encode(const uint8_t *src, const uint8_t *ctx, size_t n,
                            const enc_table *const *tables, uint8_t *buf, size_t cap)
{
    unsigned states = state_count(n);
    uint32_t x[STATES_WIDE];
    for (unsigned k = 0; k < states; k++)
        x[k] = RANS_L;
    uint8_t *p = buf + cap;

    /* The decoder reads whole rounds first, so the bytes after the last
     * whole round are coded first. */
    size_t rounds = n / states;
    size_t tail = n - rounds * states;
    if ((size_t)(p - buf) < WORD_BYTES * tail)
        return NULL;
    encode_span(x, states, src, ctx, n - tail, n, tables, &p);

    while (rounds > 0) {
        /* Every byte of a batch may emit a word, so a batch gets at most
         * as many rounds as there are words of room. */
        size_t batch = (size_t)(p - buf) / (WORD_BYTES * states);
        if (batch == 0)
            return NULL;
        if (batch > rounds)
            batch = rounds;
        rounds -= batch;
        size_t first = rounds * states;
        if (ctx == NULL)
            encode_order0(x, states, src + first, batch, tables[0], &p);
        else
            encode_ctx(x, states, src + first, ctx + first, batch, tables, &p);
    }

    if ((size_t)(p - buf) < STATE_BYTES * states)
        return NULL;
    for (unsigned k = states; k-- > 0;) {
        p -= STATE_BYTES;
        put_u32le(p, x[k]);
    }
    return p;
}

/* Fills the table at slots, 2^scale + DECODER_INFO_BYTES bytes aligned
 * for uint32_t. */
static void build_decoder(const model *m, uint8_t *slots, decoder_model *d)
{
    uint32_t *info = (uint32_t *)(void *)(slots + ((size_t)1 << m->scale));
    uint32_t start = 0;
    d->scale = m->scale;
    d->slots = slots;
    for (int s = 0; s < SYMBOLS; s++) {
        uint32_t f = m->freq[s];
        info[s] = f | start << 16;
        if (f > 0)
            memset(slots + start, s, f);
        start += f;
    }
}

/* Returns v with the word at *next shifted in, and advances *next, when v
 * is below RANS_L. The word is read in any case, so the caller guarantees
 * that it exists. */
static EL_ALWAYS_INLINE uint32_t refill_word(uint32_t v, const uint8_t **next)
{
    const uint8_t *p = *next;
    uint32_t refilled = v << 16 | get_u16le(p);
#if RENORM_ASM
    const uint8_t *after = p + WORD_BYTES;
    __asm__("cmpl %[limit], %[v]\n\t"
            "cmovbl %[refilled], %[v]\n\t"
            "cmovbq %[after], %[p]"
            : [v] "+r"(v), [p] "+r"(p)
            : [limit] "i"(RANS_L), [refilled] "r"(refilled), [after] "r"(after)
            : "cc");
#else
    int64_t due = -(int64_t)(v < RANS_L);
    p += (((uint64_t)v - RANS_L) >> 63) * WORD_BYTES;
    v ^= (v ^ refilled) & (uint32_t)due;
#endif
    *next = p;
    return v;
}

/* Pops one symbol from state x into *out and returns the new state. */
static EL_ALWAYS_INLINE uint32_t rans_get(uint32_t x, const uint8_t *slots, int scale, uint8_t *out,
                                       const uint8_t **next)
{
    uint32_t slot = x & ((UINT32_C(1) << scale) - 1);
    uint32_t symbol = slots[slot];
    uint32_t fs = decoder_info(slots, scale)[symbol];
    *out = (uint8_t)symbol;
    return refill_word((fs & 0xffff) * (x >> scale) + slot - (fs >> 16), next);
}

static EL_ALWAYS_INLINE uint32_t rans_get_ctx(uint32_t x, const decoder_model *m, uint8_t *out,
                                           const uint8_t **next)
{
    return rans_get(x, m->slots, m->scale, out, next);
}

/* Decodes `rounds` rounds of `states` bytes (4 or 8, a constant here like
 * scale) into dst. ctx is NULL for order-0 coding with models[0], else it
 * gives the model of each byte. The stream contains at least one word per
 * byte of the rounds from *next on. */
static EL_ALWAYS_INLINE void decode_rounds(uint32_t *x, unsigned states, const uint8_t **next,
                                        size_t rounds, const decoder_model *models, int scale,
                                        const uint8_t *ctx, uint8_t *dst)
{
    uint32_t x0 = x[0], x1 = x[1], x2 = x[2], x3 = x[3];
    uint32_t x4 = 0, x5 = 0, x6 = 0, x7 = 0;
    if (states == STATES_WIDE)
        x4 = x[4], x5 = x[5], x6 = x[6], x7 = x[7];
    const uint8_t *slots = ctx == NULL ? models[0].slots : NULL;
    const uint8_t *p = *next;
    for (; rounds > 0; rounds--, dst += states) {
        if (ctx == NULL) {
            x0 = rans_get(x0, slots, scale, dst + 0, &p);
            x1 = rans_get(x1, slots, scale, dst + 1, &p);
            x2 = rans_get(x2, slots, scale, dst + 2, &p);
            x3 = rans_get(x3, slots, scale, dst + 3, &p);
            if (states == STATES_WIDE) {
                x4 = rans_get(x4, slots, scale, dst + 4, &p);
                x5 = rans_get(x5, slots, scale, dst + 5, &p);
                x6 = rans_get(x6, slots, scale, dst + 6, &p);
                x7 = rans_get(x7, slots, scale, dst + 7, &p);
            }
        } else {
            x0 = rans_get_ctx(x0, &models[ctx[0]], dst + 0, &p);
            x1 = rans_get_ctx(x1, &models[ctx[1]], dst + 1, &p);
            x2 = rans_get_ctx(x2, &models[ctx[2]], dst + 2, &p);
            x3 = rans_get_ctx(x3, &models[ctx[3]], dst + 3, &p);
            if (states == STATES_WIDE) {
                x4 = rans_get_ctx(x4, &models[ctx[4]], dst + 4, &p);
                x5 = rans_get_ctx(x5, &models[ctx[5]], dst + 5, &p);
                x6 = rans_get_ctx(x6, &models[ctx[6]], dst + 6, &p);
                x7 = rans_get_ctx(x7, &models[ctx[7]], dst + 7, &p);
            }
            ctx += states;
        }
    }
    x[0] = x0, x[1] = x1, x[2] = x2, x[3] = x3;
    if (states == STATES_WIDE)
        x[4] = x4, x[5] = x5, x[6] = x6, x[7] = x7;
    *next = p;
}

/* One copy of decode_rounds per state count and, for order-0 coding, per
 * table scale. */
static void decode_order0(uint32_t *x, unsigned states, const uint8_t **next, size_t rounds,
                          const decoder_model *m, uint8_t *dst)
{
#define DECODE_SCALE(w, sc) decode_rounds(x, w, next, rounds, m, sc, NULL, dst)
#define DECODE_SCALES(w)                                                    \
    switch (m->scale) {                                                     \
    case 8: DECODE_SCALE(w, 8); break;                                      \
    case 9: DECODE_SCALE(w, 9); break;                                      \
    case 10: DECODE_SCALE(w, 10); break;                                    \
    case 11: DECODE_SCALE(w, 11); break;                                    \
    case 12: DECODE_SCALE(w, 12); break;                                    \
    case 13: DECODE_SCALE(w, 13); break;                                    \
    case 14: DECODE_SCALE(w, 14); break;                                    \
    default: DECODE_SCALE(w, 15); break;                                    \
    }
    if (states == STATES_WIDE)
        DECODE_SCALES(STATES_WIDE)
    else
        DECODE_SCALES(STATES_NARROW)
#undef DECODE_SCALES
#undef DECODE_SCALE
}

static void decode_ctx(uint32_t *x, unsigned states, const uint8_t **next, size_t rounds,
                       const decoder_model *models, const uint8_t *ctx, uint8_t *dst)
{
    if (states == STATES_WIDE)
        decode_rounds(x, STATES_WIDE, next, rounds, models, 0, ctx, dst);
    else
        decode_rounds(x, STATES_NARROW, next, rounds, models, 0, ctx, dst);
}

static int rans_decode(const uint8_t *stream, size_t len, const uint8_t *ctx,
                       const decoder_model *models, uint8_t *dst, size_t n, el_error *err)
{
    unsigned states = state_count(n);
    if (len < STATE_BYTES * states)
        return el_fail(err, "rANS stream of %zu bytes is shorter than its %u initial states",
                       len, states);
    if ((len - STATE_BYTES * states) % WORD_BYTES != 0)
        return el_fail(err, "rANS stream of %zu bytes does not end on a whole 16-bit word", len);

    uint32_t x[STATES_WIDE];
    for (unsigned k = 0; k < states; k++) {
        x[k] = get_u32le(stream + STATE_BYTES * k);
        if (x[k] < RANS_L)
            return el_fail(err, "rANS state %u is 0x%08x, below 0x%08x",
                           k, (unsigned)x[k], (unsigned)RANS_L);
    }

    const uint8_t *next = stream + STATE_BYTES * states;
    const uint8_t *end = stream + len;
    size_t i = 0;
    for (;;) {
        /* Unchecked rounds: each byte takes at most one word, so a batch
         * of as many rounds as whole rounds of words remain cannot run
         * past the stream. */
        size_t rounds = (size_t)(end - next) / (WORD_BYTES * states);
        if (rounds > (n - i) / states)
            rounds = (n - i) / states;
        if (rounds == 0)
            break;
        if (ctx == NULL)
            decode_order0(x, states, &next, rounds, &models[0], dst + i);
        else
            decode_ctx(x, states, &next, rounds, models, ctx + i, dst + i);
        i += rounds * states;
    }

    for (; i < n; i++) {
        const decoder_model *m = &models[ctx ? ctx[i] : 0];
        uint32_t *s = &x[i & (states - 1)];
        uint32_t slot = *s & ((UINT32_C(1) << m->scale) - 1);
        uint32_t symbol = m->slots[slot];
        uint32_t fs = decoder_info(m->slots, m->scale)[symbol];
        dst[i] = (uint8_t)symbol;
        uint32_t v = (fs & 0xffff) * (*s >> m->scale) + slot - (fs >> 16);
        if (v < RANS_L) {
            if (end - next < WORD_BYTES)
                return el_fail(err, "rANS stream ends early at byte %zu of %zu", i, n);
            v = v << 16 | get_u16le(next);
            next += WORD_BYTES;
        }
        *s = v;
    }

    if (next != end)
        return el_fail(err, "rANS stream has %zu words left after the last symbol",
                       (size_t)(end - next) / WORD_BYTES);
    for (unsigned k = 0; k < states; k++) {
        if (x[k] != RANS_L)
            return el_fail(err, "rANS state %u ends at 0x%08x instead of 0x%08x: the data is corrupt",
                           k, (unsigned)x[k], (unsigned)RANS_L);
    }
    return 0;
}

/* ---- blocks ---- */

static int check_contexts(const uint8_t *ctx, size_t n, unsigned nctx, el_error *err)
{
    if (nctx < 1 || nctx > SYMBOLS)
        return el_fail(err, "context count %u is invalid: use 1 to %d", nctx, SYMBOLS);
    if (nctx > 1 && ctx == NULL)
        return el_fail(err, "%u contexts need a context array", nctx);
    if (nctx == SYMBOLS)
        return 0; /* every byte is a valid context */
    for (size_t i = 0; ctx && i < n; i++) {
        if (ctx[i] >= nctx)
            return el_fail(err, "context %u of byte %zu is out of range: at most %u",
                           ctx[i], i, nctx - 1);
    }
    return 0;
}

static int write_stored(const uint8_t *src, size_t n, el_buf *out, el_error *err)
{
    if (el_buf_append_u8(out, MODE_STORED, err) != 0)
        return -1;
    return el_buf_append(out, src, n, err);
}

/* Appends the coded block unless it would take limit bytes or more, and
 * sets *written to 1 when it did. The stream is coded into the free space
 * of out, behind room for the head and its length, and then moved down
 * next to them. */
static int write_coded(const uint8_t *src, const uint8_t *ctx, size_t n, unsigned nctx,
                       model *models, const uint64_t *totals, size_t limit,
                       el_buf *out, int *written, el_error *err)
{
    el_buf head = {0};
    int rc = el_buf_append_u8(&head, MODE_CODED, err);
    int needs_stream = 0;
    unsigned used = 0;
    for (unsigned c = 0; c < nctx && rc == 0; c++) {
        if (!totals[c])
            continue;
        rc = write_model(&models[c], &head, err);
        needs_stream |= models[c].kind != KIND_SINGLE;
        used++;
    }

    *written = 0;
    if (rc == 0 && !needs_stream && head.len < limit) {
        rc = el_buf_append(out, head.data, head.len, err);
        *written = rc == 0;
    }
    size_t cap = limit > head.len ? limit - head.len : 0;
    if (rc != 0 || !needs_stream || cap == 0) {
        el_buf_free(&head);
        return rc;
    }

    /* The varint of a stream length below limit takes at most 10 bytes. */
    size_t room = head.len + 10;
    enc_table *storage = malloc((size_t)used * sizeof *storage);
    if (storage == NULL)
        rc = el_fail(err, "out of memory for %u rANS encoder tables", used);
    if (rc == 0)
        rc = el_buf_reserve(out, room + cap, err);

    if (rc == 0) {
        const enc_table *tables[SYMBOLS] = {NULL};
        enc_table *next = storage;
        for (unsigned c = 0; c < nctx; c++) {
            if (!totals[c])
                continue;
            build_encoder(&models[c], next);
            tables[c] = next++;
        }
        uint8_t *block = out->data + out->len;
        uint8_t *stream = rans_encode(src, ctx, n, tables, block + room, cap);
        size_t len = stream ? (size_t)(block + room + cap - stream) : 0;
        if (stream && head.len + el_varint_size(len) + len < limit) {
            memcpy(block, head.data, head.len);
            size_t length_bytes = put_varint(block + head.len, len);
            memmove(block + head.len + length_bytes, stream, len);
            out->len += head.len + length_bytes + len;
            *written = 1;
        }
    }
    free(storage);
    el_buf_free(&head);
    return rc;
}

int el_entropy_encode_ctx(const uint8_t *src, const uint8_t *ctx, size_t n, unsigned nctx,
                          el_buf *out, el_error *err)
{
    if (check_contexts(ctx, n, nctx, err) != 0)
        return -1;
    /* NOTE: the histograms count in 32 bits, so longer blocks are stored. */
    if (n == 0 || n > UINT32_MAX)
        return write_stored(src, n, out, err);

    uint32_t *counts = calloc(nctx, SYMBOLS * sizeof *counts);
    uint64_t *totals = calloc(nctx, sizeof *totals);
    model *models = malloc(nctx * sizeof *models);
    int rc = 0;
    if (counts == NULL || totals == NULL || models == NULL)
        rc = el_fail(err, "out of memory for %u entropy coding contexts", nctx);

    if (rc == 0 && ctx == NULL) {
        el_entropy_histogram(src, n, counts);
        totals[0] = n;
    }
    for (size_t i = 0; ctx != NULL && i < n && rc == 0; i++) {
        counts[ctx[i] * SYMBOLS + src[i]]++;
        totals[ctx[i]]++;
    }

    double bits = 8; /* the mode byte */
    for (unsigned c = 0; c < nctx && rc == 0; c++) {
        if (totals[c])
            bits += choose_model(&counts[c * SYMBOLS], totals[c], &models[c]);
    }

    /* Stored costs n + 1 bytes, so a coded block must be shorter. The
     * estimate leaves out only the stream's states and padding, so a block
     * estimated at n + 1 bytes or more is stored without coding it. */
    int written = 0;
    if (rc == 0 && bits < 8.0 * (double)(n + 1))
        rc = write_coded(src, ctx, n, nctx, models, totals, n + 1, out, &written, err);
    if (rc == 0 && !written)
        rc = write_stored(src, n, out, err);

    free(counts);
    free(totals);
    free(models);
    return rc;
}

int el_entropy_encode(const uint8_t *src, size_t n, el_buf *out, el_error *err)
{
    return el_entropy_encode_ctx(src, NULL, n, 1, out, err);
}

/* Reads the model of every context that occurs and builds its decoder
 * tables, whose slot arrays share one allocation returned in *slots_out. */
static int read_models(el_reader *r, const uint64_t *totals, unsigned nctx,
                       decoder_model *dec, uint8_t **slots_out, int *needs_stream,
                       el_error *err)
{
    model *models = malloc(nctx * sizeof *models);
    if (models == NULL)
        return el_fail(err, "out of memory for %u entropy coding tables", nctx);

    size_t total_slots = 0;
    int rc = 0;
    *needs_stream = 0;
    for (unsigned c = 0; c < nctx && rc == 0; c++) {
        if (!totals[c])
            continue;
        rc = read_model(r, scale_cap(totals[c]), &models[c], err);
        if (rc != 0) {
            el_fail_context(err, "entropy table of context %u", c);
            break;
        }
        total_slots += ((size_t)1 << models[c].scale) + DECODER_INFO_BYTES;
        *needs_stream |= models[c].kind != KIND_SINGLE;
    }

    uint8_t *slots = NULL;
    if (rc == 0) {
        slots = malloc(total_slots ? total_slots : 1);
        if (slots == NULL)
            rc = el_fail(err, "out of memory for %zu bytes of rANS tables", total_slots);
    }

    size_t pos = 0;
    for (unsigned c = 0; c < nctx && rc == 0; c++) {
        if (!totals[c])
            continue;
        build_decoder(&models[c], slots + pos, &dec[c]);
        pos += ((size_t)1 << models[c].scale) + DECODER_INFO_BYTES;
    }

    free(models);
    if (rc != 0) {
        free(slots);
        return -1;
    }
    *slots_out = slots;
    return 0;
}

int el_entropy_decode_ctx(el_reader *r, const uint8_t *ctx, uint8_t *dst, size_t n,
                          unsigned nctx, el_error *err)
{
    if (check_contexts(ctx, n, nctx, err) != 0)
        return -1;

    uint8_t mode;
    if (el_read_u8(r, &mode, err) != 0)
        return el_fail_context(err, "entropy block mode");
    if (mode == MODE_STORED)
        return el_read_bytes(r, dst, n, err) == 0 ? 0 : el_fail_context(err, "stored block");
    if (mode != MODE_CODED)
        return el_fail(err, "entropy block mode %u is invalid: expected 0 (stored) or 1 (coded)",
                       mode);
    if (n == 0)
        return el_fail(err, "coded entropy block for 0 bytes: expected a stored block");

    /* Only the contexts that occur get a model, so the array is left
     * uninitialized elsewhere. */
    uint64_t *totals = calloc(nctx, sizeof *totals);
    decoder_model *dec = malloc(nctx * sizeof *dec);
    if (totals == NULL || dec == NULL) {
        free(totals);
        free(dec);
        return el_fail(err, "out of memory for %u entropy coding contexts", nctx);
    }
    if (ctx == NULL)
        totals[0] = n;
    for (size_t i = 0; ctx != NULL && i < n; i++)
        totals[ctx[i]]++;

    uint8_t *slots = NULL;
    int needs_stream = 0;
    int rc = read_models(r, totals, nctx, dec, &slots, &needs_stream, err);

    uint64_t len = 0;
    const uint8_t *stream = NULL;
    if (rc == 0 && needs_stream) {
        rc = el_read_varint(r, &len, err);
        if (rc == 0 && len > r->len - r->pos)
            rc = el_fail(err, "rANS stream claims %llu bytes, but %zu remain",
                         (unsigned long long)len, r->len - r->pos);
        if (rc == 0)
            stream = el_read_span(r, (size_t)len, err);
    }

    if (rc == 0 && needs_stream) {
        rc = rans_decode(stream, (size_t)len, ctx, dec, dst, n, err);
    } else if (rc == 0) {
        /* Every context has one symbol, which its slot 0 holds. */
        if (ctx == NULL)
            memset(dst, dec[0].slots[0], n);
        for (size_t i = 0; ctx != NULL && i < n; i++)
            dst[i] = dec[ctx[i]].slots[0];
    }

    free(slots);
    free(totals);
    free(dec);
    return rc;
}

int el_entropy_decode(el_reader *r, uint8_t *dst, size_t n, el_error *err)
{
    return el_entropy_decode_ctx(r, NULL, dst, n, 1, err);
}
