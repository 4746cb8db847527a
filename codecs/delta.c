/* The delta codec table and the integer coding both delta codecs share.
 *
 * Integers are split as in the length codes of DEFLATE. A value u < 8 is
 * its own symbol. Otherwise, with k the index of u's leading 1, the symbol
 * is 4 (k - 2) + (u >> (k - 2)), which keeps the two bits under the leading
 * 1, and the k - 2 bits below them go to a bit stream as they are. For 64-bit
 * values k <= 63, so the largest symbol is 4 * 61 + 7 = 251 and every
 * symbol fits a byte.
 *
 * The symbols of a float tensor go through one of three models, the one
 * that codes smallest:
 *   PLAIN     one rANS table.
 *   EXPONENT  one table per exponent of the base element.
 *   ROTATED   one table for symbol + 4 (max(e, floor) - ref) mod 252, with
 *             e the base element's exponent. A fine-tune that moves every
 *             weight by about the same amount moves a weight one binade
 *             lower by twice as many ulps, which is 4 symbols more. The
 *             rotation lines those distributions up, so one table fits all
 *             binades and small tensors do not pay for a table per
 *             exponent. Below the floor, where weights are smaller than the
 *             change itself, the length stops depending on e.
 *
 * Integer block:
 *   u8     model: 0 = PLAIN, 1 = EXPONENT, 2 = ROTATED (float dtypes only)
 *   ROTATED only: varint ref, varint floor (floor <= ref < 2^exponent bits)
 *   entropy block of the symbols
 *   varint byte length of the extra bits, then the bits, LSB first */
#include "delta.h"
#include "entropy.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

extern const el_delta_codec el_delta_codec_xor;
extern const el_delta_codec el_delta_codec_arith;

const el_delta_codec *const el_delta_codecs[] = {
    &el_delta_codec_xor,
    &el_delta_codec_arith,
    NULL,
};

const el_delta_codec *el_delta_codec_find(const char *name)
{
    for (size_t i = 0; el_delta_codecs[i] != NULL; i++) {
        if (strcmp(el_delta_codecs[i]->name, name) == 0)
            return el_delta_codecs[i];
    }
    return NULL;
}

/* ---- element count ---- */

int el_delta_put_count(size_t count, el_buf *out, el_error *err)
{
    return el_buf_append_varint(out, count, err);
}

int el_delta_check_count(el_reader *r, size_t count, const char *codec, el_error *err)
{
    uint64_t stored;
    if (el_read_varint(r, &stored, err) != 0)
        return el_fail_context(err, "%s element count", codec);
    if (stored != count)
        return el_fail(err, "%s payload holds %llu elements, but %zu were requested: "
                       "decode it with the element count it was encoded with",
                       codec, (unsigned long long)stored, count);
    return 0;
}

/* ---- bucket symbols ---- */

#define MAX_SYMBOL (4 * 61 + 7)

static int leading_bit(uint64_t u)
{
    return 63 - __builtin_clzll(u);
}

static uint8_t bucket_symbol(uint64_t u, int *nbits)
{
    if (u < 8) {
        *nbits = 0;
        return (uint8_t)u;
    }
    int k = leading_bit(u);
    *nbits = k - 2;
    return (uint8_t)(4 * (k - 2) + (u >> (k - 2)));
}

static int symbol_extra_bits(unsigned symbol)
{
    return symbol < 8 ? 0 : (int)symbol / 4 - 1;
}

/* Bits in the largest value of the symbol's range. */
static int symbol_value_bits(unsigned symbol)
{
    return symbol < 8 ? leading_bit(symbol | 1) + 1 : symbol_extra_bits(symbol) + 3;
}

typedef struct bit_writer {
    el_buf *out;
    uint64_t acc;
    int n; /* pending bits in the low end of acc, < 8 between calls */
} bit_writer;

/* Appends the low nbits of v, nbits <= 32 so that acc cannot overflow. */
static int bits_put32(bit_writer *w, uint64_t v, int nbits, el_error *err)
{
    w->acc |= (v & ((UINT64_C(1) << nbits) - 1)) << w->n;
    w->n += nbits;
    while (w->n >= 8) {
        if (el_buf_append_u8(w->out, (uint8_t)w->acc, err) != 0)
            return -1;
        w->acc >>= 8;
        w->n -= 8;
    }
    return 0;
}

static int bits_put(bit_writer *w, uint64_t v, int nbits, el_error *err)
{
    if (nbits > 32) {
        if (bits_put32(w, v, 32, err) != 0)
            return -1;
        v >>= 32;
        nbits -= 32;
    }
    return bits_put32(w, v, nbits, err);
}

typedef struct bit_reader {
    const uint8_t *data;
    size_t pos;
    uint64_t acc;
    int n; /* pending bits in the low end of acc */
} bit_reader;

/* Reads nbits <= 32 bits. The caller has checked that the stream contains
 * every bit the symbols need. */
static uint64_t bits_get32(bit_reader *b, int nbits)
{
    while (b->n < nbits) {
        b->acc |= (uint64_t)b->data[b->pos++] << b->n;
        b->n += 8;
    }
    uint64_t v = b->acc & ((UINT64_C(1) << nbits) - 1);
    b->acc >>= nbits;
    b->n -= nbits;
    return v;
}

static uint64_t bits_get(bit_reader *b, int nbits)
{
    if (nbits <= 32)
        return bits_get32(b, nbits);
    uint64_t low = bits_get32(b, 32);
    return low | bits_get32(b, nbits - 32) << 32;
}


/* ---- symbol models ---- */

#define MODEL_PLAIN 0
#define MODEL_EXPONENT 1
#define MODEL_ROTATED 2

/* Symbols 0..MAX_SYMBOL, the ring the rotation turns. */
#define RING (MAX_SYMBOL + 1)

/* F64 exponents below 2^-192 share context 0 and those above 2^63 share 255:
 * weights sit far inside that range. */
#define WIDE_EXPONENT_OFFSET 192

/* Floors tried below the most common exponent. */
#define FLOOR_SPAN 8

/* Per-element inputs of the models, derived from the base. */
typedef struct symbol_model {
    uint16_t *exponents; /* biased exponent of each base element */
    uint8_t *contexts;   /* the exponent clamped into a byte */
    unsigned nctx;
    unsigned exponent_values; /* 2^exponent bits */
} symbol_model;

static void symbol_model_free(symbol_model *m)
{
    free(m->exponents);
    free(m->contexts);
}

/* Loads the exponents of a float base, and leaves m empty for other dtypes. */
static int symbol_model_init(symbol_model *m, el_dtype dt, const void *base, size_t n,
                             el_error *err)
{
    memset(m, 0, sizeof *m);
    if (!el_dtype_is_float(dt))
        return 0;
    el_float_layout f = el_dtype_float_layout(dt);
    m->exponents = malloc(n ? n * sizeof *m->exponents : 1);
    m->contexts = malloc(n ? n : 1);
    if (m->exponents == NULL || m->contexts == NULL) {
        symbol_model_free(m);
        return el_fail(err, "out of memory for the exponents of %zu base elements", n);
    }
    m->exponent_values = 1u << f.exponent_bits;
    m->nctx = f.exponent_bits > 8 ? 256 : m->exponent_values;
    for (size_t i = 0; i < n; i++) {
        int e = (int)el_load_exponent(dt, base, i);
        m->exponents[i] = (uint16_t)e;
        if (f.exponent_bits > 8) {
            e -= f.bias - WIDE_EXPONENT_OFFSET;
            if (e < 0)
                e = 0;
            if (e > 255)
                e = 255;
        }
        m->contexts[i] = (uint8_t)e;
    }
    return 0;
}

static unsigned rotation(unsigned exponent, unsigned ref, unsigned floor_exponent)
{
    long steps = (long)(exponent < floor_exponent ? floor_exponent : exponent) - (long)ref;
    long r = 4 * steps % RING;
    return (unsigned)(r < 0 ? r + RING : r);
}

/* Order-0 cost in bits of the symbols rotated with ref and floor. */
static double rotated_bits(const uint8_t *symbols, const uint16_t *exponents, size_t n,
                           unsigned ref, unsigned floor_exponent)
{
    uint32_t count[RING] = {0};
    for (size_t i = 0; i < n; i++)
        count[(symbols[i] + rotation(exponents[i], ref, floor_exponent)) % RING]++;
    double bits = 0;
    for (int s = 0; s < RING; s++) {
        if (count[s])
            bits -= count[s] * log2((double)count[s] / (double)n);
    }
    return bits;
}

/* Picks ref, the most common exponent, and the floor whose rotation gives
 * the lowest order-0 cost. */
static int choose_rotation(const symbol_model *m, const uint8_t *symbols, size_t n,
                           unsigned *ref, unsigned *floor_exponent, el_error *err)
{
    size_t *count = calloc(m->exponent_values, sizeof *count);
    if (count == NULL)
        return el_fail(err, "out of memory for an exponent histogram");
    for (size_t i = 0; i < n; i++)
        count[m->exponents[i]]++;
    *ref = 0;
    for (unsigned e = 1; e < m->exponent_values; e++) {
        if (count[e] > count[*ref])
            *ref = e;
    }
    free(count);

    unsigned lowest = *ref > FLOOR_SPAN ? *ref - FLOOR_SPAN : 0;
    *floor_exponent = 0;
    double best = rotated_bits(symbols, m->exponents, n, *ref, 0);
    for (unsigned f = lowest; f <= *ref; f++) {
        double bits = rotated_bits(symbols, m->exponents, n, *ref, f);
        if (bits < best) {
            best = bits;
            *floor_exponent = f;
        }
    }
    return 0;
}

/* Appends the model header and the symbols coded under one model. */
static int write_model(const symbol_model *m, int model, const uint8_t *symbols, size_t n,
                       uint8_t *scratch, el_buf *out, el_error *err)
{
    if (el_buf_append_u8(out, (uint8_t)model, err) != 0)
        return -1;
    if (model == MODEL_PLAIN)
        return el_entropy_encode_ctx(symbols, NULL, n, 1, out, err);
    if (model == MODEL_EXPONENT)
        return el_entropy_encode_ctx(symbols, m->contexts, n, m->nctx, out, err);

    unsigned ref = 0, floor_exponent = 0;
    if (choose_rotation(m, symbols, n, &ref, &floor_exponent, err) != 0)
        return -1;
    for (size_t i = 0; i < n; i++)
        scratch[i] = (uint8_t)((symbols[i] + rotation(m->exponents[i], ref, floor_exponent))
                               % RING);
    if (el_buf_append_varint(out, ref, err) != 0)
        return -1;
    if (el_buf_append_varint(out, floor_exponent, err) != 0)
        return -1;
    return el_entropy_encode_ctx(scratch, NULL, n, 1, out, err);
}

/* Appends the symbols under the model that codes them smallest. */
static int write_symbols(const symbol_model *m, const uint8_t *symbols, size_t n,
                         el_buf *out, el_error *err)
{
    int models = m->exponents != NULL ? 3 : 1;
    uint8_t *scratch = malloc(n ? n : 1);
    if (scratch == NULL)
        return el_fail(err, "out of memory for %zu rotated symbols", n);

    el_buf best = {0};
    int rc = 0;
    for (int model = 0; model < models && rc == 0; model++) {
        el_buf candidate = {0};
        rc = write_model(m, model, symbols, n, scratch, &candidate, err);
        if (rc == 0 && (model == 0 || candidate.len < best.len)) {
            el_buf_free(&best);
            best = candidate;
        } else {
            el_buf_free(&candidate);
        }
    }
    if (rc == 0)
        rc = el_buf_append(out, best.data, best.len, err);
    free(scratch);
    el_buf_free(&best);
    return rc;
}

/* Reads the model header and the symbols, undoing any rotation. */
static int read_symbols(el_reader *r, const symbol_model *m, uint8_t *symbols, size_t n,
                        el_error *err)
{
    uint8_t model;
    if (el_read_u8(r, &model, err) != 0)
        return el_fail_context(err, "symbol model");
    if (model > MODEL_ROTATED)
        return el_fail(err, "symbol model %u is invalid: expected 0, 1 or 2", model);
    if (model != MODEL_PLAIN && m->exponents == NULL)
        return el_fail(err, "symbol model %u is valid for float tensors only", model);
    if (model == MODEL_EXPONENT)
        return el_entropy_decode_ctx(r, m->contexts, symbols, n, m->nctx, err);

    uint64_t ref = 0;
    uint64_t floor_exponent = 0;
    if (model == MODEL_ROTATED) {
        if (el_read_varint(r, &ref, err) != 0 || el_read_varint(r, &floor_exponent, err) != 0)
            return el_fail_context(err, "symbol rotation");
        if (ref >= m->exponent_values || floor_exponent > ref)
            return el_fail(err, "symbol rotation ref %llu, floor %llu is invalid: expected "
                           "floor <= ref < %u", (unsigned long long)ref,
                           (unsigned long long)floor_exponent, m->exponent_values);
    }
    if (el_entropy_decode_ctx(r, NULL, symbols, n, 1, err) != 0)
        return -1;
    if (model == MODEL_PLAIN)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (symbols[i] > MAX_SYMBOL)
            return el_fail(err, "rotated symbol %zu is %u, above the largest %d",
                           i, symbols[i], MAX_SYMBOL);
        unsigned turn = rotation(m->exponents[i], (unsigned)ref, (unsigned)floor_exponent);
        symbols[i] = (uint8_t)((symbols[i] + RING - turn) % RING);
    }
    return 0;
}

/* ---- integer blocks ---- */

int el_delta_ints_encode(const uint64_t *values, size_t n, el_dtype dt, const void *base,
                         el_buf *out, el_error *err)
{
    symbol_model m;
    if (symbol_model_init(&m, dt, base, n, err) != 0)
        return -1;
    uint8_t *symbols = malloc(n ? n : 1);
    if (symbols == NULL) {
        symbol_model_free(&m);
        return el_fail(err, "out of memory for %zu integer symbols", n);
    }

    el_buf extra = {0};
    bit_writer w = {&extra, 0, 0};
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        int nbits;
        symbols[i] = bucket_symbol(values[i], &nbits);
        if (nbits > 0)
            rc = bits_put(&w, values[i], nbits, err);
    }
    if (rc == 0 && w.n > 0)
        rc = el_buf_append_u8(&extra, (uint8_t)w.acc, err);

    if (rc == 0)
        rc = write_symbols(&m, symbols, n, out, err);
    if (rc == 0)
        rc = el_buf_append_varint(out, extra.len, err);
    if (rc == 0)
        rc = el_buf_append(out, extra.data, extra.len, err);
    free(symbols);
    el_buf_free(&extra);
    symbol_model_free(&m);
    return rc;
}

/* Checks every symbol against max_bits and returns the extra bits they
 * need in *total. */
static int check_symbols(const uint8_t *symbols, size_t n, int max_bits, uint64_t *total,
                         el_error *err)
{
    *total = 0;
    for (size_t i = 0; i < n; i++) {
        if (symbols[i] > MAX_SYMBOL)
            return el_fail(err, "integer symbol %zu is %u, above the largest %d",
                           i, symbols[i], MAX_SYMBOL);
        if (symbol_value_bits(symbols[i]) > max_bits)
            return el_fail(err, "integer symbol %zu (%u) codes a value wider than %d bits",
                           i, symbols[i], max_bits);
        *total += (uint64_t)symbol_extra_bits(symbols[i]);
    }
    return 0;
}

int el_delta_ints_decode(el_reader *r, el_dtype dt, const void *base, int max_bits,
                         uint64_t *values, size_t n, el_error *err)
{
    symbol_model m;
    if (symbol_model_init(&m, dt, base, n, err) != 0)
        return -1;
    uint8_t *symbols = malloc(n ? n : 1);
    if (symbols == NULL) {
        symbol_model_free(&m);
        return el_fail(err, "out of memory for %zu integer symbols", n);
    }

    uint64_t total_bits = 0;
    int rc = read_symbols(r, &m, symbols, n, err);
    if (rc != 0)
        el_fail_context(err, "integer symbols");
    if (rc == 0)
        rc = check_symbols(symbols, n, max_bits, &total_bits, err);

    uint64_t extra_len = 0;
    const uint8_t *extra = NULL;
    if (rc == 0)
        rc = el_read_varint(r, &extra_len, err);
    if (rc == 0 && extra_len != (total_bits + 7) / 8)
        rc = el_fail(err, "extra bits take %llu bytes, but the symbols need %llu",
                     (unsigned long long)extra_len, (unsigned long long)(total_bits + 7) / 8);
    if (rc == 0) {
        extra = el_read_span(r, (size_t)extra_len, err);
        rc = extra == NULL ? -1 : 0;
    }

    bit_reader b = {extra, 0, 0, 0};
    for (size_t i = 0; i < n && rc == 0; i++) {
        unsigned symbol = symbols[i];
        int nbits = symbol_extra_bits(symbol);
        if (nbits == 0)
            values[i] = symbol;
        else
            values[i] = (uint64_t)(symbol % 4 + 4) << nbits | bits_get(&b, nbits);
    }
    free(symbols);
    symbol_model_free(&m);
    return rc;
}
