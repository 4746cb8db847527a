/* Static rANS (range asymmetric numeral systems) over bytes, with a table
 * per context.
 *
 * Why rANS rather than Huffman: the exponent fields of model weights and
 * quantized integers are often very skewed, with one value taking most of a
 * tensor. Huffman spends at least one bit per symbol there, while rANS
 * comes within about 1% of the order-0 entropy (tests/test_entropy.c checks
 * this on a geometric distribution). Decoding is one table lookup, a multiply and an add per byte,
 * with four interleaved states so that the multiplies of neighbouring bytes
 * overlap. The frequency table is chosen per block between 2^8 and 2^15
 * slots by its total coded size, so a small tensor gets a coarse table of a
 * few dozen bytes and a large one a precise table.
 *
 * Block layout:
 *   u8 mode: 0 = stored (the n bytes follow as they are), 1 = coded.
 *   coded: one model for every context that occurs in the context array, in
 *   context order, then, unless every model is single-symbol, a varint stream
 *   length and the stream: four u32le initial decoder states, then the
 *   renormalization bytes in the order the decoder reads them.
 * Model: u8 kind. 1 = single symbol (u8 symbol follows, costs no bits),
 *   2 = uniform over all 256 byte values, 8..15 = a table of 2^kind slots:
 *   u8 (K - 1) for K >= 2 symbols, their values (K bytes ascending when
 *   K <= 32, else a 32-byte bitmap, bit s & 7 of byte s >> 3), then K - 1
 *   varints f - 1 in symbol order; the last frequency is 2^kind minus the
 *   others.
 *
 * State invariant: x lies in [RANS_L, RANS_L * 256) between symbols, and the
 * encoder starts every state at RANS_L, so the decoder must end there too. */
#include "entropy.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define RANS_L (UINT32_C(1) << 23)
#define RANS_STATES 4
#define SCALE_MIN 8
#define SCALE_MAX 15
#define SYMBOLS 256

#define MODE_STORED 0
#define MODE_CODED 1

#define KIND_SINGLE 1
#define KIND_UNIFORM 2

/* Symbol lists up to this length are cheaper than the 32-byte bitmap. */
#define LIST_MAX 32

typedef struct model {
    int kind;
    int scale;
    uint32_t freq[SYMBOLS];
} model;

/* Encoder form of one symbol of a model. The state update
 * x' = (x / f) * 2^scale + x % f + start is computed as
 * x + start + q * (2^scale - f) with q = x / f taken as (x * rcp) >> shift:
 * for x < 2^31, rcp = ceil(2^(31 + l) / f) with l = ceil(log2 f) and
 * shift = 31 + l give the exact quotient (Granlund and Montgomery,
 * "Division by invariant integers using multiplication", PLDI 1994), so
 * the stream does not change and no division is left in the loop. */
typedef struct enc_symbol {
    uint64_t rcp;
    uint32_t limit; /* x at or above this is renormalized first */
    uint32_t complement; /* 2^scale - f */
    uint32_t start;
    uint32_t shift;
} enc_symbol;

typedef struct slot {
    uint16_t freq;
    uint16_t bias; /* slot index minus the first slot of its symbol */
    uint8_t symbol;
} slot;

typedef struct decoder_model {
    int scale;
    slot *slots; /* 2^scale entries */
} decoder_model;

/* ---- entropy estimate ---- */

static double histogram_bits(const uint32_t *count, uint64_t total)
{
    double bits = 0;
    for (int s = 0; s < SYMBOLS; s++) {
        if (count[s])
            bits -= count[s] * log2((double)count[s] / (double)total);
    }
    return bits;
}

double el_entropy_bits_per_byte(const uint8_t *src, size_t n)
{
    if (n == 0)
        return 0.0;

    uint32_t count[SYMBOLS] = {0};
    for (size_t i = 0; i < n; i++)
        count[src[i]]++;
    return histogram_bits(count, n) / (double)n;
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
    double m = (double)x / ldexp(1.0, e); /* in [1, 2] after rounding */
    double t = (m - 1.4142135623730950) / (m + 1.4142135623730950);
    double t2 = t * t;
    /* log2(m) = 0.5 + 2 atanh(t) / ln 2, the series to t^7. */
    double atanh = t * (1.0 + t2 * (1.0 / 3 + t2 * (1.0 / 5 + t2 * (1.0 / 7))));
    return (double)e + 0.5 + 2.8853900817779268 * atanh;
}

static int bit_length(uint64_t v)
{
    int n = 0;
    while (v) {
        n++;
        v >>= 1;
    }
    return n;
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

static size_t varint_size(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static size_t table_bytes(const uint32_t *freq)
{
    int k = 0;
    size_t bytes = 2;
    for (int s = 0; s < SYMBOLS; s++) {
        if (!freq[s])
            continue;
        bytes += varint_size(freq[s] - 1);
        k++;
    }
    /* The last frequency is implied; its varint is not written. */
    int last = SYMBOLS - 1;
    while (!freq[last])
        last--;
    bytes -= varint_size(freq[last] - 1);
    return bytes + (k <= LIST_MAX ? (size_t)k : SYMBOLS / 8);
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
    double bits = 8.0 * (double)(1 + table_bytes(freq));
    for (int i = 0; i < k; i++) {
        int s = present[i];
        bits += count[s] * (scale - fast_log2(freq[s]));
    }
    return bits;
}

/* Picks the cheapest model for one context's histogram, by estimated coded
 * size including the table. */
static void choose_model(const uint32_t *count, uint64_t total, model *m)
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
        return;
    }

    m->kind = KIND_UNIFORM;
    double best_bits = 8.0 * (double)total + 8;

    /* No table codes below the empirical entropy, and every table costs
     * its kind, count and symbol bytes and at least a byte per listed
     * frequency, so a table that cannot beat the best so far is not
     * built. This settles near-uniform contexts without normalizing. */
    double entropy = 0;
    for (int i = 0; i < k; i++) {
        uint32_t c = count[present[i]];
        entropy += c * (fast_log2(total) - fast_log2(c));
    }
    double floor_bits = entropy + 8.0 * (3 + (k <= LIST_MAX ? k : SYMBOLS / 8) + k - 1);

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
}

static void build_encoder(const model *m, enc_symbol *table)
{
    uint32_t start = 0;
    for (int s = 0; s < SYMBOLS; s++) {
        uint32_t f = m->freq[s];
        enc_symbol *e = &table[s];
        memset(e, 0, sizeof *e);
        if (f == 0)
            continue;
        int l = 0;
        while ((UINT32_C(1) << l) < f)
            l++;
        e->rcp = ((UINT64_C(1) << (31 + l)) + f - 1) / f;
        e->shift = (uint32_t)(31 + l);
        e->limit = ((RANS_L >> m->scale) << 8) * f;
        e->complement = (UINT32_C(1) << m->scale) - f;
        e->start = start;
        start += f;
    }
}

/* ---- model serialization ---- */

static int write_model(const model *m, el_buf *out, el_error *err)
{
    if (el_buf_append_u8(out, (uint8_t)m->kind, err) != 0)
        return -1;
    if (m->kind == KIND_SINGLE) {
        int s = 0;
        while (!m->freq[s])
            s++;
        return el_buf_append_u8(out, (uint8_t)s, err);
    }
    if (m->kind == KIND_UNIFORM)
        return 0;

    int k = 0;
    int last = 0;
    uint8_t list[SYMBOLS];
    uint8_t bitmap[SYMBOLS / 8] = {0};
    for (int s = 0; s < SYMBOLS; s++) {
        if (!m->freq[s])
            continue;
        list[k++] = (uint8_t)s;
        bitmap[s >> 3] |= (uint8_t)(1u << (s & 7));
        last = s;
    }

    int rc = el_buf_append_u8(out, (uint8_t)(k - 1), err);
    if (rc == 0 && k <= LIST_MAX)
        rc = el_buf_append(out, list, (size_t)k, err);
    else if (rc == 0)
        rc = el_buf_append(out, bitmap, sizeof bitmap, err);
    for (int s = 0; s < last && rc == 0; s++) {
        if (m->freq[s])
            rc = el_buf_append_varint(out, m->freq[s] - 1, err);
    }
    return rc;
}

static int read_symbols(el_reader *r, int k, uint8_t *present, el_error *err)
{
    if (k <= LIST_MAX) {
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
    if (kind < SCALE_MIN || kind > max_scale)
        return el_fail(err, "table kind %u is invalid: expected 1, 2 or a scale of %d to %d bits",
                       kind, SCALE_MIN, max_scale);
    m->scale = kind;

    uint8_t k_minus_one;
    if (el_read_u8(r, &k_minus_one, err) != 0)
        return -1;
    int k = k_minus_one + 1;
    if (k < 2)
        return el_fail(err, "table lists 1 symbol, which needs the single-symbol kind");

    uint8_t present[SYMBOLS] = {0};
    if (read_symbols(r, k, present, err) != 0)
        return -1;

    uint64_t total = UINT64_C(1) << m->scale;
    uint64_t sum = 0;
    int seen = 0;
    for (int s = 0; s < SYMBOLS; s++) {
        if (!present[s])
            continue;
        if (++seen == k) {
            if (sum >= total)
                return el_fail(err, "frequencies sum to %llu, leaving nothing of %llu for symbol %d",
                               (unsigned long long)sum, (unsigned long long)total, s);
            m->freq[s] = (uint32_t)(total - sum);
            break;
        }
        uint64_t f;
        if (el_read_varint(r, &f, err) != 0)
            return -1;
        if (f >= total)
            return el_fail(err, "frequency %llu of symbol %d exceeds the table size %llu",
                           (unsigned long long)f + 1, s, (unsigned long long)total);
        m->freq[s] = (uint32_t)f + 1;
        sum += m->freq[s];
    }
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

/* Pushes one symbol into state x, writing renormalization bytes below *p. */
static inline uint32_t rans_put(uint32_t x, const enc_symbol *e, uint8_t **p)
{
    /* A symbol emits at most two bytes, because x < 2^31 and the limit is
     * at least 2^16. */
    while (x >= e->limit) {
        *--*p = (uint8_t)x;
        x >>= 8;
    }
    uint32_t q = (uint32_t)((x * e->rcp) >> e->shift);
    return x + e->start + q * e->complement;
}

/* Codes src backwards into buf[0, cap) from its end and returns the start
 * of the stream, or NULL when the stream would not fit. tables[c] is the
 * encoder table of context c, and byte i goes to state i % 4. */
static uint8_t *rans_encode(const uint8_t *src, const uint8_t *ctx, size_t n,
                            const enc_symbol *const *tables, uint8_t *buf, size_t cap)
{
    uint32_t x[RANS_STATES] = {RANS_L, RANS_L, RANS_L, RANS_L};
    uint8_t *p = buf + cap;
    const uint8_t zero_ctx[RANS_STATES] = {0};

    size_t i = n;
    while (i % RANS_STATES != 0) {
        i--;
        if ((size_t)(p - buf) < 2 + 4 * RANS_STATES)
            return NULL;
        x[i % RANS_STATES] = rans_put(x[i % RANS_STATES], &tables[ctx ? ctx[i] : 0][src[i]], &p);
    }

    /* Four symbols per round keep the states in registers. */
    uint32_t x0 = x[0], x1 = x[1], x2 = x[2], x3 = x[3];
    while (i > 0) {
        i -= RANS_STATES;
        if ((size_t)(p - buf) < 8 + 4 * RANS_STATES)
            return NULL;
        const uint8_t *c = ctx ? ctx + i : zero_ctx;
        x3 = rans_put(x3, &tables[c[3]][src[i + 3]], &p);
        x2 = rans_put(x2, &tables[c[2]][src[i + 2]], &p);
        x1 = rans_put(x1, &tables[c[1]][src[i + 1]], &p);
        x0 = rans_put(x0, &tables[c[0]][src[i]], &p);
    }
    x[0] = x0;
    x[1] = x1;
    x[2] = x2;
    x[3] = x3;

    for (int k = RANS_STATES - 1; k >= 0; k--) {
        p -= 4;
        put_u32le(p, x[k]);
    }
    return p;
}

static void build_slots(const model *m, slot *slots)
{
    size_t pos = 0;
    for (int s = 0; s < SYMBOLS; s++) {
        for (uint32_t j = 0; j < m->freq[s]; j++) {
            slots[pos].freq = (uint16_t)m->freq[s];
            slots[pos].bias = (uint16_t)j;
            slots[pos].symbol = (uint8_t)s;
            pos++;
        }
    }
}

static int rans_decode(const uint8_t *stream, size_t len, const uint8_t *ctx,
                       const decoder_model *models, uint8_t *dst, size_t n, el_error *err)
{
    if (len < 4 * RANS_STATES)
        return el_fail(err, "rANS stream of %zu bytes is shorter than its %d initial states",
                       len, 4 * RANS_STATES);

    uint32_t x[RANS_STATES];
    for (int k = 0; k < RANS_STATES; k++) {
        x[k] = get_u32le(stream + 4 * k);
        if (x[k] < RANS_L || x[k] >= RANS_L << 8)
            return el_fail(err, "rANS state %d is 0x%08x, outside [0x%08x, 0x%08x)",
                           k, (unsigned)x[k], (unsigned)RANS_L, (unsigned)(RANS_L << 8));
    }

    const uint8_t *p = stream + 4 * RANS_STATES;
    const uint8_t *end = stream + len;
    for (size_t i = 0; i < n; i++) {
        const decoder_model *m = &models[ctx ? ctx[i] : 0];
        uint32_t *s = &x[i % RANS_STATES];
        const slot *e = &m->slots[*s & ((UINT32_C(1) << m->scale) - 1)];

        dst[i] = e->symbol;
        *s = e->freq * (*s >> m->scale) + e->bias;
        while (*s < RANS_L) {
            if (p == end)
                return el_fail(err, "rANS stream ends early at byte %zu of %zu", i, n);
            *s = *s << 8 | *p++;
        }
    }

    if (p != end)
        return el_fail(err, "rANS stream has %zu bytes left after the last symbol",
                       (size_t)(end - p));
    for (int k = 0; k < RANS_STATES; k++) {
        if (x[k] != RANS_L)
            return el_fail(err, "rANS state %d ends at 0x%08x instead of 0x%08x: the data is corrupt",
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
 * sets *written to 1 when it did. */
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
    uint8_t *buf = NULL;
    uint8_t *stream = NULL;
    enc_symbol *symbols = NULL;
    const enc_symbol *tables[SYMBOLS] = {NULL};
    size_t cap = limit > head.len ? limit - head.len : 0;
    if (rc == 0 && needs_stream && cap > 0) {
        buf = malloc(cap);
        symbols = malloc((size_t)used * SYMBOLS * sizeof *symbols);
        if (buf == NULL || symbols == NULL)
            rc = el_fail(err, "out of memory for a rANS stream of %zu bytes", cap);
    }
    if (rc == 0 && symbols != NULL) {
        enc_symbol *next = symbols;
        for (unsigned c = 0; c < nctx; c++) {
            if (!totals[c])
                continue;
            build_encoder(&models[c], next);
            tables[c] = next;
            next += SYMBOLS;
        }
        stream = rans_encode(src, ctx, n, tables, buf, cap);
    }

    if (rc == 0 && (stream || !needs_stream)) {
        size_t len = stream ? (size_t)(buf + cap - stream) : 0;
        size_t total = head.len + (needs_stream ? varint_size(len) + len : 0);
        if (total < limit) {
            rc = el_buf_append(out, head.data, head.len, err);
            if (rc == 0 && needs_stream)
                rc = el_buf_append_varint(out, len, err);
            if (rc == 0 && needs_stream)
                rc = el_buf_append(out, stream, len, err);
            *written = rc == 0;
        }
    }
    free(buf);
    free(symbols);
    el_buf_free(&head);
    return rc;
}

int el_entropy_encode_ctx(const uint8_t *src, const uint8_t *ctx, size_t n, unsigned nctx,
                          el_buf *out, el_error *err)
{
    if (check_contexts(ctx, n, nctx, err) != 0)
        return -1;
    if (n == 0)
        return write_stored(src, n, out, err);

    uint32_t *counts = calloc(nctx, SYMBOLS * sizeof *counts);
    uint64_t *totals = calloc(nctx, sizeof *totals);
    model *models = malloc(nctx * sizeof *models);
    int rc = 0;
    if (counts == NULL || totals == NULL || models == NULL)
        rc = el_fail(err, "out of memory for %u entropy coding contexts", nctx);

    for (size_t i = 0; i < n && rc == 0; i++) {
        unsigned c = ctx ? ctx[i] : 0;
        counts[c * SYMBOLS + src[i]]++;
        totals[c]++;
    }

    for (unsigned c = 0; c < nctx && rc == 0; c++) {
        if (totals[c])
            choose_model(&counts[c * SYMBOLS], totals[c], &models[c]);
    }

    /* Stored costs n + 1 bytes, so a coded block must be shorter. */
    int written = 0;
    if (rc == 0)
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

/* Reads the model of every context that occurs and builds its slot table. */
static int read_models(el_reader *r, const uint64_t *totals, unsigned nctx,
                       decoder_model *dec, slot **slots_out, int *needs_stream,
                       el_error *err)
{
    model *m = malloc(sizeof *m);
    int *scales = calloc(nctx, sizeof *scales);
    uint32_t (*freqs)[SYMBOLS] = malloc(nctx * sizeof *freqs);
    if (m == NULL || scales == NULL || freqs == NULL) {
        free(m);
        free(scales);
        free(freqs);
        return el_fail(err, "out of memory for %u entropy coding tables", nctx);
    }

    size_t total_slots = 0;
    int rc = 0;
    *needs_stream = 0;
    for (unsigned c = 0; c < nctx && rc == 0; c++) {
        if (!totals[c])
            continue;
        rc = read_model(r, scale_cap(totals[c]), m, err);
        if (rc != 0) {
            el_fail_context(err, "entropy table of context %u", c);
            break;
        }
        scales[c] = m->scale;
        memcpy(freqs[c], m->freq, sizeof freqs[c]);
        total_slots += (size_t)1 << m->scale;
        *needs_stream |= m->kind != KIND_SINGLE;
    }

    slot *slots = NULL;
    if (rc == 0) {
        slots = malloc(total_slots ? total_slots * sizeof *slots : 1);
        if (slots == NULL)
            rc = el_fail(err, "out of memory for %zu rANS slots", total_slots);
    }

    size_t pos = 0;
    for (unsigned c = 0; c < nctx && rc == 0; c++) {
        if (!totals[c])
            continue;
        memset(m, 0, sizeof *m);
        m->scale = scales[c];
        memcpy(m->freq, freqs[c], sizeof freqs[c]);
        dec[c].scale = scales[c];
        dec[c].slots = slots + pos;
        build_slots(m, dec[c].slots);
        pos += (size_t)1 << scales[c];
    }

    free(m);
    free(scales);
    free(freqs);
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

    uint64_t *totals = calloc(nctx, sizeof *totals);
    decoder_model *dec = calloc(nctx, sizeof *dec);
    if (totals == NULL || dec == NULL) {
        free(totals);
        free(dec);
        return el_fail(err, "out of memory for %u entropy coding contexts", nctx);
    }
    for (size_t i = 0; i < n; i++)
        totals[ctx ? ctx[i] : 0]++;

    slot *slots = NULL;
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
        for (size_t i = 0; i < n; i++)
            dst[i] = dec[ctx ? ctx[i] : 0].slots[0].symbol;
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
