/* Error-bounded linear quantization, as in SZ: with E the requested bound
 * and step 2E, each weight w becomes the integer q = round(w / 2E) and
 * decodes to q * 2E, computed in double and then rounded to the dtype.
 *
 * The encoder decodes every element itself and checks |w - w'| <= E in the
 * original dtype after that rounding. An element that misses (rounding to
 * the dtype can add up to half an ulp of w), NaN, Inf and |q| > 2^52 become
 * exceptions: stored verbatim with their indices, their q set to 0. So the
 * bound holds for every element and max_error is exactly E. A weight of
 * -0.0 gets q = 0 and decodes to +0.0, which is an error of 0 and allowed
 * under a bound, so the sign of zero is not kept.
 *
 * The integers are zigzag-mapped to u >= 0 and split into a bucket symbol
 * and extra bits, as in the length codes of DEFLATE: u < 8 is its own
 * symbol; otherwise, with k the index of u's leading 1, the symbol is
 * 4 (k - 2) + (u >> (k - 2)), which keeps the two bits below the leading 1,
 * and the k - 2 bits under them are stored as they are. The symbols carry
 * the skewed part of the distribution and go through rANS; the extra bits
 * are close to uniform.
 *
 * A second mode rounds in the float domain instead: every element keeps
 * its exponent and loses the low mantissa bits whose rounding stays within
 * E, |w| <= E becomes +0.0, and the rounded bit patterns go through fields
 * (or bytegroup, when smaller). Where the dtype's own grid is coarser than
 * 2E (BF16 and F16 weights at 1e-4), linear q values are sparse and their
 * extra bits are wasted, while this mode codes the patterns at about their
 * entropy.
 *
 * The cell mode (3) is the float-grid mode with the widest cells the bound
 * allows. The values of one binade are spaced one ulp apart, so with
 * k = floor(E / ulp) a run of 2k + 1 of them decodes to its middle value
 * within E, where rounding to 2^d ulps only groups 2^d: 7 values instead
 * of 4 at k = 3. The encoder cuts each binade into such runs and codes
 * the exponent and the run's index, which also keeps NaN and Inf exact
 * (k = 0 in their binade). Where the grid is much finer than E, the cells
 * match the linear step to within an ulp, and linear usually wins by not
 * restarting at every binade. The encoder runs every mode and keeps the
 * smallest payload.
 *
 * Payload: u8 mode, then for mode 1 a fields payload, for mode 2 a
 * bytegroup payload, and for mode 0 (linear):
 *   u64le  the step 2E as IEEE double bits
 *   varint exception count K; when K > 0: varint length of the index
 *          deltas, entropy block of the index deltas (varints, the first is
 *          the index itself), entropy block of the K raw elements
 *   entropy block of the count symbols
 *   varint byte length of the extra bits, then the bits, LSB first
 * and for mode 3 (cells):
 *   u64le  E as IEEE double bits, from which the decoder rebuilds the cells
 *   u8     t, the most index bits per element that go through rANS (1..8)
 *   F64 only: entropy block of exponent >> 8
 *   entropy block of exponent & 0xff, context exponent >> 8 for F64
 *   entropy block of each element's top min(t, L) index bits, context
 *          exponent & 0xff, with L the bit length of the binade's last index
 *   varint byte length of the bit stream, then per element, LSB first, the
 *          L - min(t, L) index bits below the top ones and the sign bit,
 *          which the zero cell omits */
#include "codec.h"
#include "entropy.h"
#include "zstd_frame.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The float-grid mode stores its rounded bit patterns with one of these. */
extern const el_codec el_codec_fields;
extern const el_codec el_codec_bytegroup;

#define MODE_LINEAR 0
#define MODE_GRID 1
#define MODE_GRID_PLANES 2
#define MODE_CELLS 3

/* Inputs larger than this pick their mode on a sample of this many
 * elements. */
#define MODE_SAMPLE_ELEMENTS 65536

#define QUANT_MAX_Q 0x1p52
/* Largest bucket symbol: u < 2^54, so k <= 53. */
#define QUANT_MAX_SYMBOL (4 * 51 + 7)

static int quant_supports(el_dtype dt)
{
    return el_dtype_is_float(dt);
}

static int step_is_valid(double step)
{
    return isfinite(step) && step > 0;
}

static double quant_max_error(el_dtype dt, const el_codec_params *params)
{
    double bound = params->abs_bound;
    if (!quant_supports(dt) || !(bound > 0) || !step_is_valid(2.0 * bound))
        return -1.0;
    return bound;
}

/* ---- integer buckets ---- */

typedef struct bit_writer {
    el_buf *out;
    uint64_t acc;
    int n; /* pending bits in the low end of acc, < 8 between calls */
} bit_writer;

/* Elements between the bit writer's reservations, and the bytes reserved
 * for them: an element adds at most 51 extra bits, under 7 bytes. */
#define BITS_BLOCK 4096
#define BITS_BLOCK_BYTES (7 * BITS_BLOCK)

/* Appends nbits (at most 56) to the room bits_reserve made, which covers
 * BITS_BLOCK elements of at most 7 bytes each. */
static void bits_put(bit_writer *w, uint64_t v, int nbits)
{
    w->acc |= v << w->n;
    w->n += nbits;
    uint8_t *p = w->out->data + w->out->len;
    while (w->n >= 8) {
        *p++ = (uint8_t)w->acc;
        w->acc >>= 8;
        w->n -= 8;
    }
    w->out->len = (size_t)(p - w->out->data);
}

static int bits_reserve(bit_writer *w, el_error *err)
{
    return el_buf_reserve(w->out, BITS_BLOCK_BYTES, err);
}

static int bits_flush(bit_writer *w, el_error *err)
{
    if (w->n > 0 && el_buf_append_u8(w->out, (uint8_t)w->acc, err) != 0)
        return -1;
    w->acc = 0;
    w->n = 0;
    return 0;
}

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

static int symbol_extra_bits(uint8_t symbol)
{
    return symbol < 8 ? 0 : symbol / 4 - 1;
}

static uint64_t zigzag(int64_t q)
{
    return q < 0 ? 2 * (uint64_t)(-(q + 1)) + 1 : 2 * (uint64_t)q;
}

static int64_t unzigzag(uint64_t u)
{
    return u & 1 ? -(int64_t)(u >> 1) - 1 : (int64_t)(u >> 1);
}

/* ---- encoding ---- */

/* Returns q for w, or 0 with *exception set when w must be stored as it is. */
static int64_t quantize(el_dtype dt, double w, double step, double bound, int *exception)
{
    *exception = 1;
    if (!isfinite(w))
        return 0;
    double q = nearbyint(w / step);
    if (fabs(q) > QUANT_MAX_Q)
        return 0;

    uint8_t decoded[8];
    el_store_double(dt, decoded, 0, q * step);
    if (!(fabs(el_load_double(dt, decoded, 0) - w) <= bound))
        return 0;
    *exception = 0;
    return (int64_t)q;
}

typedef struct exceptions {
    el_buf deltas;
    el_buf values;
    size_t count;
    size_t last_index;
} exceptions;

static int exceptions_write(const exceptions *x, el_buf *out, el_error *err)
{
    if (el_buf_append_varint(out, x->count, err) != 0)
        return -1;
    if (x->count == 0)
        return 0;
    if (el_buf_append_varint(out, x->deltas.len, err) != 0)
        return -1;
    if (el_entropy_encode(x->deltas.data, x->deltas.len, out, err) != 0)
        return -1;
    return el_entropy_encode(x->values.data, x->values.len, out, err);
}

static int linear_encode(el_dtype dt, const void *src, size_t count, double bound,
                         el_buf *out, el_error *err)
{
    double step = 2.0 * bound;
    size_t size = el_dtype_size(dt);
    uint8_t *symbols = malloc(count ? count : 1);
    if (symbols == NULL)
        return el_fail(err, "out of memory for %zu quantization symbols", count);

    exceptions x = {0};
    el_buf extra = {0};
    bit_writer bw = {&extra, 0, 0};
    int rc = 0;
    for (size_t i = 0; i < count && rc == 0; i++) {
        if (i % BITS_BLOCK == 0)
            rc = bits_reserve(&bw, err);

        int exception;
        int64_t q = quantize(dt, el_load_double(dt, src, i), step, bound, &exception);
        if (exception) {
            rc = el_buf_append_varint(&x.deltas, x.count ? i - x.last_index : i, err);
            if (rc == 0)
                rc = el_buf_append(&x.values, (const uint8_t *)src + i * size, size, err);
            x.count++;
            x.last_index = i;
        }

        int nbits;
        uint64_t u = zigzag(q);
        symbols[i] = bucket_symbol(u, &nbits);
        if (rc == 0 && nbits > 0)
            bits_put(&bw, u & ((UINT64_C(1) << nbits) - 1), nbits);
    }
    if (rc == 0)
        rc = bits_flush(&bw, err);

    uint64_t step_bits;
    memcpy(&step_bits, &step, sizeof step_bits);
    if (rc == 0)
        rc = el_buf_append_u64le(out, step_bits, err);
    if (rc == 0)
        rc = exceptions_write(&x, out, err);
    if (rc == 0)
        rc = el_entropy_encode(symbols, count, out, err);
    if (rc == 0)
        rc = el_buf_append_varint(out, extra.len, err);
    if (rc == 0)
        rc = el_buf_append(out, extra.data, extra.len, err);

    free(symbols);
    el_buf_free(&x.deltas);
    el_buf_free(&x.values);
    el_buf_free(&extra);
    return rc;
}

/* ---- float-grid mode ---- */

static uint64_t load_bits(const uint8_t *src, size_t size, size_t i)
{
    uint64_t v = 0;
    for (size_t k = 0; k < size; k++)
        v |= (uint64_t)src[i * size + k] << (8 * k);
    return v;
}

static void store_bits(uint8_t *dst, size_t size, size_t i, uint64_t v)
{
    for (size_t k = 0; k < size; k++)
        dst[i * size + k] = (uint8_t)(v >> (8 * k));
}

/* Returns the bit pattern of element i with its mantissa rounded to the
 * coarsest multiple of 2^d ulps that stays within bound: |w| <= bound
 * becomes +0.0, and NaN, Inf and elements no rounding helps stay as they
 * are. Rounding the magnitude as an integer carries into the exponent
 * correctly. */
static uint64_t round_to_grid(el_dtype dt, const uint8_t *src, size_t i, double bound)
{
    size_t size = el_dtype_size(dt);
    uint64_t v = load_bits(src, size, i);
    double w = el_load_double(dt, src, i);
    if (!isfinite(w))
        return v;
    if (fabs(w) <= bound)
        return 0;

    el_float_layout f = el_dtype_float_layout(dt);
    int m = f.mantissa_bits;
    uint64_t sign = UINT64_C(1) << (8 * size - 1);
    uint64_t magnitude = v & ~sign;
    int exponent = (int)(magnitude >> m);

    /* Rounding to 2^d ulps errs by at most 2^(d-1) ulps, and with
     * bound = b * 2^k, b in [0.5, 1), that is within bound for
     * d <= k - log2(ulp). The check below guards the estimate. */
    int k;
    frexp(bound, &k);
    int ulp_log2 = (exponent > 0 ? exponent : 1) - f.bias - m;
    int d = k - ulp_log2;
    if (d > m)
        d = m;

    uint8_t candidate[8];
    for (; d > 0; d--) {
        uint64_t half = UINT64_C(1) << (d - 1);
        uint64_t rounded = (magnitude + half) & ~((UINT64_C(1) << d) - 1);
        store_bits(candidate, size, 0, (v & sign) | rounded);
        double back = el_load_double(dt, candidate, 0);
        if (isfinite(back) && fabs(back - w) <= bound)
            return (v & sign) | rounded;
    }
    return v;
}

/* Appends the float-grid payload: the rounded elements through fields and
 * through bytegroup, whichever is smaller, after its mode byte. Bytegroup's
 * zstd stage wins where rows repeat, which rANS cannot see. */
static int grid_encode(el_dtype dt, const void *src, size_t count, double bound,
                       el_buf *out, el_error *err)
{
    size_t size = el_dtype_size(dt);
    uint8_t *rounded = malloc(count ? count * size : 1);
    if (rounded == NULL)
        return el_fail(err, "out of memory for %zu rounded elements", count);
    for (size_t i = 0; i < count; i++)
        store_bits(rounded, size, i, round_to_grid(dt, src, i, bound));

    el_codec_params exact = {0, 0.0};
    el_buf fields = {0};
    el_buf planes = {0};
    int rc = el_codec_fields.encode(dt, rounded, count, &exact, &fields, err);
    if (rc == 0)
        rc = el_codec_bytegroup.encode(dt, rounded, count, &exact, &planes, err);
    free(rounded);

    if (rc == 0 && planes.len < fields.len) {
        rc = el_buf_append_u8(out, MODE_GRID_PLANES, err);
        if (rc == 0)
            rc = el_buf_append(out, planes.data, planes.len, err);
    } else if (rc == 0) {
        rc = el_buf_append_u8(out, MODE_GRID, err);
        if (rc == 0)
            rc = el_buf_append(out, fields.data, fields.len, err);
    }
    el_buf_free(&fields);
    el_buf_free(&planes);
    return rc;
}

/* ---- cell mode ---- */

/* The cells of one dtype at one bound. Magnitudes are bit patterns without
 * the sign, which order like the values they encode. */
typedef struct cell_grid {
    int mantissa_bits;
    int exponent_bits;
    uint64_t zero_top;      /* largest magnitude whose value is <= bound */
    unsigned zero_exponent; /* exponent field of zero_top */
    uint64_t zero_next;     /* mantissa where the first cell above zero starts */
    uint64_t *half;         /* per exponent: k, a cell spans 2k + 1 ulps */
    uint64_t *cells;        /* per exponent: cells in the binade, 0 if unused */
    uint8_t *bits;          /* per exponent: bit length of the largest cell index */
} cell_grid;

static double magnitude_value(const el_float_layout *f, uint64_t v)
{
    uint64_t mantissa = v & ((UINT64_C(1) << f->mantissa_bits) - 1);
    int exponent = (int)(v >> f->mantissa_bits);
    if (exponent == 0)
        return ldexp((double)mantissa, 1 - f->bias - f->mantissa_bits);
    return ldexp((double)(mantissa | UINT64_C(1) << f->mantissa_bits),
                 exponent - f->bias - f->mantissa_bits);
}

static void cell_grid_free(cell_grid *g)
{
    free(g->half);
    free(g->cells);
    free(g->bits);
}

/* Builds the cells for dt at bound. Every magnitude up to the bound is the
 * zero cell, and each binade above it is cut into runs of 2k + 1
 * consecutive values, k = floor(bound / ulp), that decode to their middle
 * value, so no member is more than k ulps from it. The last run of a binade
 * may be shorter. The NaN and Inf binade gets k = 0, which keeps its
 * patterns exactly. */
static int cell_grid_init(el_dtype dt, double bound, cell_grid *g, el_error *err)
{
    el_float_layout f = el_dtype_float_layout(dt);
    int m = f.mantissa_bits;
    size_t exponents = (size_t)1 << f.exponent_bits;
    memset(g, 0, sizeof *g);
    g->mantissa_bits = m;
    g->exponent_bits = f.exponent_bits;
    g->half = malloc(exponents * sizeof *g->half);
    g->cells = malloc(exponents * sizeof *g->cells);
    g->bits = malloc(exponents);
    if (g->half == NULL || g->cells == NULL || g->bits == NULL) {
        cell_grid_free(g);
        return el_fail(err, "out of memory for %zu binades of quantization cells", exponents);
    }

    uint64_t lo = 0;
    uint64_t hi = ((uint64_t)(exponents - 1) << m) - 1;
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo + 1) / 2;
        if (magnitude_value(&f, mid) <= bound)
            lo = mid;
        else
            hi = mid - 1;
    }
    uint64_t binade = UINT64_C(1) << m;
    g->zero_top = lo;
    g->zero_exponent = (unsigned)(lo >> m);
    g->zero_next = (lo & (binade - 1)) + 1;

    for (size_t e = 0; e < exponents; e++) {
        uint64_t k = 0;
        if (e + 1 < exponents) {
            double ulps = ldexp(bound, -((e > 0 ? (int)e : 1) - f.bias - m));
            k = ulps >= (double)binade ? binade : (uint64_t)ulps;
        }
        uint64_t width = 2 * k + 1;
        uint64_t cells = 0;
        if (e == g->zero_exponent)
            cells = 1 + (binade - g->zero_next + width - 1) / width;
        else if (e > g->zero_exponent)
            cells = (binade + width - 1) / width;
        g->half[e] = k;
        g->cells[e] = cells;
        g->bits[e] = (uint8_t)(cells > 1 ? 64 - __builtin_clzll(cells - 1) : 0);
    }
    return 0;
}

/* Splits a magnitude into its exponent and cell index within the binade. */
static uint64_t cell_index(const cell_grid *g, uint64_t magnitude, unsigned *exponent)
{
    if (magnitude <= g->zero_top) {
        *exponent = g->zero_exponent;
        return 0;
    }
    unsigned e = (unsigned)(magnitude >> g->mantissa_bits);
    uint64_t mantissa = magnitude & ((UINT64_C(1) << g->mantissa_bits) - 1);
    uint64_t width = 2 * g->half[e] + 1;
    *exponent = e;
    if (e == g->zero_exponent)
        return 1 + (mantissa - g->zero_next) / width;
    return mantissa / width;
}

/* Returns the magnitude that cell j of binade e decodes to; the caller has
 * checked that j < cells[e]. */
static uint64_t cell_value(const cell_grid *g, unsigned e, uint64_t j)
{
    uint64_t binade = UINT64_C(1) << g->mantissa_bits;
    uint64_t width = 2 * g->half[e] + 1;
    uint64_t start;
    if (e == g->zero_exponent) {
        if (j == 0)
            return 0;
        start = g->zero_next + (j - 1) * width;
    } else {
        start = j * width;
    }
    uint64_t last = binade - start < width ? binade - start - 1 : width - 1;
    uint64_t offset = g->half[e] < last ? g->half[e] : last;
    return (uint64_t)e << g->mantissa_bits | (start + offset);
}

/* Most bits of the cell index that go through rANS; the ones below them
 * and the sign go to the raw bit stream. */
#define CELL_TOP_BITS 8

/* Top bits for a tensor of count elements: the smallest t with
 * 2^(2t + 8) >= count, from 1 to CELL_TOP_BITS. Each exponent has its own
 * table of up to 2^t symbols, which a small tensor cannot pay for. Of the
 * exponents 2t + 2, 4, 6, 8 and 10 tried, 2t + 8 gave the smallest F16 and
 * BF16 payloads at 1e-4 on the nine models the benchmark is run on. */
static int cell_top_bits(size_t count)
{
    int top = 1;
    while (top < CELL_TOP_BITS && ((uint64_t)1 << (2 * top + 8)) < count)
        top++;
    return top;
}

static int cells_encode(el_dtype dt, const void *src, size_t count, double bound,
                        el_buf *out, el_error *err)
{
    cell_grid g;
    if (cell_grid_init(dt, bound, &g, err) != 0)
        return -1;

    size_t size = el_dtype_size(dt);
    int wide = g.exponent_bits > 8;
    uint8_t *streams = malloc(count ? 3 * count : 1);
    if (streams == NULL) {
        cell_grid_free(&g);
        return el_fail(err, "out of memory for %zu quantization cells", count);
    }
    uint8_t *high = streams;
    uint8_t *low = streams + count;
    uint8_t *top = streams + 2 * count;

    el_buf extra = {0};
    bit_writer bw = {&extra, 0, 0};
    int sign_shift = g.mantissa_bits + g.exponent_bits;
    uint64_t magnitude_mask = (UINT64_C(1) << sign_shift) - 1;
    int max_top = cell_top_bits(count);
    int rc = 0;
    for (size_t i = 0; i < count && rc == 0; i++) {
        if (i % BITS_BLOCK == 0 && bits_reserve(&bw, err) != 0) {
            rc = -1;
            break;
        }

        uint64_t v = load_bits(src, size, i);
        unsigned e;
        uint64_t j = cell_index(&g, v & magnitude_mask, &e);
        int bits = g.bits[e];
        int top_bits = bits < max_top ? bits : max_top;
        int rest = bits - top_bits;
        high[i] = (uint8_t)(e >> 8);
        low[i] = (uint8_t)e;
        top[i] = (uint8_t)(j >> rest);
        /* rest is at most 52 and the sign one more bit, within the
         * 7 bytes an element may add. */
        if (rest > 0)
            bits_put(&bw, j & ((UINT64_C(1) << rest) - 1), rest);
        if ((v & magnitude_mask) > g.zero_top)
            bits_put(&bw, v >> sign_shift & 1, 1);
    }
    if (rc == 0)
        rc = bits_flush(&bw, err);

    uint64_t bound_bits;
    memcpy(&bound_bits, &bound, sizeof bound_bits);
    if (rc == 0)
        rc = el_buf_append_u64le(out, bound_bits, err);
    if (rc == 0)
        rc = el_buf_append_u8(out, (uint8_t)max_top, err);
    if (rc == 0 && wide)
        rc = el_entropy_encode(high, count, out, err);
    if (rc == 0)
        rc = el_entropy_encode_ctx(low, wide ? high : NULL, count, wide ? 8 : 1, out, err);
    if (rc == 0)
        rc = el_entropy_encode_ctx(top, low, count, 256, out, err);
    if (rc == 0)
        rc = el_buf_append_varint(out, extra.len, err);
    if (rc == 0)
        rc = el_buf_append(out, extra.data, extra.len, err);

    free(streams);
    el_buf_free(&extra);
    cell_grid_free(&g);
    return rc;
}

/* Appends the payload of one mode, its mode byte first. */
static int encode_mode(el_dtype dt, const void *src, size_t count, double bound, int mode,
                       el_buf *out, el_error *err)
{
    if (mode == MODE_LINEAR) {
        if (el_buf_append_u8(out, MODE_LINEAR, err) != 0)
            return -1;
        return linear_encode(dt, src, count, bound, out, err);
    }
    if (mode == MODE_CELLS) {
        if (el_buf_append_u8(out, MODE_CELLS, err) != 0)
            return -1;
        return cells_encode(dt, src, count, bound, out, err);
    }
    return grid_encode(dt, src, count, bound, out, err);
}

/* Encodes src in every mode and either appends the smallest payload to out
 * or, when out is NULL, sets *mode to the smallest one. The grid encoder
 * writes its own mode byte (grid or grid planes). */
static int smallest_mode(el_dtype dt, const void *src, size_t count, double bound, int *mode,
                         el_buf *out, el_error *err)
{
    static const int modes[] = { MODE_LINEAR, MODE_GRID, MODE_CELLS };
    el_buf payload[3] = {{0}};
    int rc = 0, best = 0;
    for (int i = 0; i < 3 && rc == 0; i++) {
        rc = encode_mode(dt, src, count, bound, modes[i], &payload[i], err);
        if (rc == 0 && payload[i].len < payload[best].len)
            best = i;
    }

    if (rc == 0 && out != NULL)
        rc = el_buf_append(out, payload[best].data, payload[best].len, err);
    if (rc == 0 && mode != NULL)
        *mode = modes[best];
    for (int i = 0; i < 3; i++)
        el_buf_free(&payload[i]);
    return rc;
}

static int quant_encode(el_dtype dt, const void *src, size_t count,
                        const el_codec_params *params, el_buf *out, el_error *err)
{
    size_t bytes;
    if (el_tensor_bytes(dt, count, &bytes, err) != 0)
        return -1;
    if (quant_max_error(dt, params) < 0)
        return el_fail(err, "quant needs a float tensor and a finite bound above 0, got %s and %g",
                       el_dtype_name(dt), params->abs_bound);

    /* Large inputs pick the mode on a sample, then encode in that mode
     * only, because trying all three tripled the time. On the reference
     * models of BENCHMARKS.md this moved quant's and auto's ratios by at
     * most 0.001. */
    int mode = -1;
    if (count > MODE_SAMPLE_ELEMENTS) {
        size_t size = el_dtype_size(dt);
        size_t block = MODE_SAMPLE_ELEMENTS / EL_PREDICT_BLOCKS;
        uint8_t *sample = malloc(block * EL_PREDICT_BLOCKS * size);
        if (sample == NULL)
            return el_fail(err, "out of memory for a %zu-element quant sample",
                           block * EL_PREDICT_BLOCKS);
        el_predict_gather(src, count, size, block, sample);
        int rc = smallest_mode(dt, sample, block * EL_PREDICT_BLOCKS, params->abs_bound, &mode,
                               NULL, err);
        free(sample);
        if (rc != 0)
            return -1;
    }
    if (mode < 0)
        return smallest_mode(dt, src, count, params->abs_bound, NULL, out, err);
    return encode_mode(dt, src, count, params->abs_bound, mode, out, err);
}

/* ---- decoding ---- */

/* Reads the symbols and extra bits and writes q * step to every element. */
static int decode_values(el_reader *r, el_dtype dt, double step, void *dst, size_t count,
                         el_error *err)
{
    uint8_t *symbols = malloc(count ? count : 1);
    if (symbols == NULL)
        return el_fail(err, "out of memory for %zu quantization symbols", count);
    if (el_entropy_decode(r, symbols, count, err) != 0) {
        free(symbols);
        return el_fail_context(err, "quantization symbols");
    }

    uint64_t total_bits = 0;
    for (size_t i = 0; i < count; i++) {
        uint8_t symbol = symbols[i];
        if (symbol > QUANT_MAX_SYMBOL) {
            free(symbols);
            return el_fail(err, "quantization symbol %zu is %u, above the largest %d",
                           i, symbol, QUANT_MAX_SYMBOL);
        }
        total_bits += (uint64_t)symbol_extra_bits(symbols[i]);
    }

    uint64_t extra_len;
    const uint8_t *extra = NULL;
    int rc = el_read_varint(r, &extra_len, err);
    if (rc == 0 && extra_len != (total_bits + 7) / 8)
        rc = el_fail(err, "extra bits take %llu bytes, but the symbols need %llu",
                     (unsigned long long)extra_len, (unsigned long long)(total_bits + 7) / 8);
    if (rc == 0)
        extra = el_read_span(r, (size_t)extra_len, err);
    if (extra == NULL)
        rc = -1;

    uint64_t acc = 0;
    int n = 0;
    size_t pos = 0;
    for (size_t i = 0; i < count && rc == 0; i++) {
        uint8_t symbol = symbols[i];
        uint64_t u = symbol;
        int nbits = symbol_extra_bits(symbol);
        if (nbits > 0) {
            while (n < nbits) {
                acc |= (uint64_t)extra[pos++] << n;
                n += 8;
            }
            u = (uint64_t)(symbol % 4 + 4) << nbits | (acc & ((UINT64_C(1) << nbits) - 1));
            acc >>= nbits;
            n -= nbits;
        }
        el_store_double(dt, dst, i, (double)unzigzag(u) * step);
    }
    free(symbols);
    return rc;
}

typedef struct bit_reader {
    const uint8_t *data;
    size_t len;
    size_t pos;
    uint64_t acc;
    int n; /* pending bits in the low end of acc */
} bit_reader;

/* Reads nbits <= 56 bits, LSB first; fails at the end of the data. */
static int bits_get(bit_reader *b, int nbits, uint64_t *v)
{
    while (b->n < nbits) {
        if (b->pos == b->len)
            return -1;
        b->acc |= (uint64_t)b->data[b->pos++] << b->n;
        b->n += 8;
    }
    *v = b->acc & ((UINT64_C(1) << nbits) - 1);
    b->acc >>= nbits;
    b->n -= nbits;
    return 0;
}

/* Joins the exponent, cell index and sign of every element. Exponents
 * below the zero cell, indices past their binade and a bit stream of the
 * wrong length are rejected. */
static int join_cells(const cell_grid *g, int max_top, const uint8_t *high,
                      const uint8_t *low, const uint8_t *top, bit_reader *bits, el_dtype dt,
                      void *dst, size_t count, el_error *err)
{
    size_t size = el_dtype_size(dt);
    int sign_shift = g->mantissa_bits + g->exponent_bits;
    for (size_t i = 0; i < count; i++) {
        unsigned e = (unsigned)(high ? high[i] << 8 : 0) | low[i];
        if (e >> g->exponent_bits)
            return el_fail(err, "element %zu has exponent %u, wider than %d bits",
                           i, e, g->exponent_bits);
        if (g->cells[e] == 0)
            return el_fail(err, "element %zu has exponent %u, below the zero cell's %u",
                           i, e, g->zero_exponent);
        int nbits = g->bits[e];
        int top_bits = nbits < max_top ? nbits : max_top;
        int rest = nbits - top_bits;
        if (top[i] >> top_bits)
            return el_fail(err, "element %zu has top cell bits 0x%02x, wider than %d bits",
                           i, top[i], top_bits);

        uint64_t j = (uint64_t)top[i] << rest;
        uint64_t part = 0;
        if (rest > 0 && bits_get(bits, rest, &part) != 0)
            return el_fail(err, "cell bits end early at element %zu of %zu", i, count);
        j |= part;
        if (j >= g->cells[e])
            return el_fail(err, "element %zu has cell %llu of binade %u, which has %llu",
                           i, (unsigned long long)j, e, (unsigned long long)g->cells[e]);

        uint64_t v = cell_value(g, e, j);
        uint64_t sign = 0;
        if (!(e == g->zero_exponent && j == 0) && bits_get(bits, 1, &sign) != 0)
            return el_fail(err, "cell bits end early at element %zu of %zu", i, count);
        store_bits(dst, size, i, sign << sign_shift | v);
    }
    if (bits->pos != bits->len)
        return el_fail(err, "cell bits leave %zu bytes unread", bits->len - bits->pos);
    return 0;
}

static int cells_decode(el_reader *r, el_dtype dt, void *dst, size_t count, el_error *err)
{
    uint64_t bound_bits;
    if (el_read_u64le(r, &bound_bits, err) != 0)
        return el_fail_context(err, "cell header");
    double bound;
    memcpy(&bound, &bound_bits, sizeof bound);
    if (!(bound > 0) || !step_is_valid(2.0 * bound))
        return el_fail(err, "cell bound %g is invalid: it must be finite and above 0", bound);
    uint8_t max_top;
    if (el_read_u8(r, &max_top, err) != 0)
        return el_fail_context(err, "cell header");
    if (max_top < 1 || max_top > CELL_TOP_BITS)
        return el_fail(err, "cell index top width %u is invalid: expected 1 to %d",
                       max_top, CELL_TOP_BITS);

    cell_grid g;
    if (cell_grid_init(dt, bound, &g, err) != 0)
        return -1;
    int wide = g.exponent_bits > 8;
    uint8_t *streams = malloc(count ? 3 * count : 1);
    if (streams == NULL) {
        cell_grid_free(&g);
        return el_fail(err, "out of memory for %zu quantization cells", count);
    }
    uint8_t *high = streams;
    uint8_t *low = streams + count;
    uint8_t *top = streams + 2 * count;

    int rc = 0;
    if (wide)
        rc = el_entropy_decode(r, high, count, err);
    if (rc == 0)
        rc = el_entropy_decode_ctx(r, wide ? high : NULL, low, count, wide ? 8 : 1, err);
    if (rc == 0)
        rc = el_entropy_decode_ctx(r, low, top, count, 256, err);

    uint64_t extra_len = 0;
    const uint8_t *extra = NULL;
    if (rc == 0)
        rc = el_read_varint(r, &extra_len, err);
    if (rc == 0 && extra_len > r->len - r->pos)
        rc = el_fail(err, "cell bits claim %llu bytes, but %zu remain",
                     (unsigned long long)extra_len, r->len - r->pos);
    if (rc == 0) {
        extra = el_read_span(r, (size_t)extra_len, err);
        rc = extra == NULL ? -1 : 0;
    }
    if (rc == 0) {
        bit_reader bits = {extra, (size_t)extra_len, 0, 0, 0};
        rc = join_cells(&g, max_top, wide ? high : NULL, low, top, &bits, dt, dst, count, err);
    }
    free(streams);
    cell_grid_free(&g);
    return rc;
}

/* Decodes the exception list into indices and values; the caller writes
 * them over the decoded elements. */
static int read_exceptions(el_reader *r, size_t size, size_t count, size_t *k,
                           size_t **indices, uint8_t **values, el_error *err)
{
    uint64_t stored;
    *indices = NULL;
    *values = NULL;
    if (el_read_varint(r, &stored, err) != 0)
        return el_fail_context(err, "exception count");
    if (stored > count)
        return el_fail(err, "exception count %llu exceeds the %zu elements",
                       (unsigned long long)stored, count);
    *k = (size_t)stored;
    if (*k == 0)
        return 0;

    uint64_t deltas_len;
    if (el_read_varint(r, &deltas_len, err) != 0)
        return el_fail_context(err, "exception index length");
    if (deltas_len < *k || deltas_len > 10 * (uint64_t)*k)
        return el_fail(err, "%llu bytes of exception indices cannot hold %zu varints",
                       (unsigned long long)deltas_len, *k);

    uint8_t *deltas = malloc((size_t)deltas_len);
    *indices = malloc(*k * sizeof **indices);
    *values = malloc(*k * size);
    if (deltas == NULL || *indices == NULL || *values == NULL) {
        free(deltas);
        return el_fail(err, "out of memory for %zu exceptions", *k);
    }

    int rc = el_entropy_decode(r, deltas, (size_t)deltas_len, err);
    el_reader dr = {deltas, (size_t)deltas_len, 0};
    size_t index = 0;
    for (size_t n = 0; n < *k && rc == 0; n++) {
        rc = el_read_index_delta(&dr, "exception", n, index, count, &index, err);
        (*indices)[n] = index;
    }
    if (rc == 0 && dr.pos != dr.len)
        rc = el_fail(err, "exception indices leave %zu bytes unread", dr.len - dr.pos);
    if (rc == 0)
        rc = el_entropy_decode(r, *values, *k * size, err);
    free(deltas);
    return rc == 0 ? 0 : el_fail_context(err, "exception list");
}

static int quant_decode(el_dtype dt, const void *payload, size_t payload_len,
                        void *dst, size_t count, el_error *err)
{
    size_t bytes;
    if (el_tensor_bytes(dt, count, &bytes, err) != 0)
        return -1;
    if (!quant_supports(dt))
        return el_fail(err, "quant cannot decode %s tensors: use F64, F32, F16 or BF16",
                       el_dtype_name(dt));

    el_reader r = {payload, payload_len, 0};
    uint8_t mode;
    if (el_read_u8(&r, &mode, err) != 0)
        return el_fail_context(err, "quant header");
    if (mode == MODE_GRID || mode == MODE_GRID_PLANES) {
        const el_codec *inner = mode == MODE_GRID ? &el_codec_fields : &el_codec_bytegroup;
        if (inner->decode(dt, r.data + r.pos, r.len - r.pos, dst, count, err) != 0)
            return el_fail_context(err, "quant float-grid payload");
        return 0;
    }
    if (mode == MODE_CELLS) {
        if (cells_decode(&r, dt, dst, count, err) != 0)
            return el_fail_context(err, "quant cell payload");
        if (r.pos != payload_len)
            return el_fail(err, "quant payload has %zu bytes after its cell bits",
                           payload_len - r.pos);
        return 0;
    }
    if (mode != MODE_LINEAR)
        return el_fail(err, "quant mode %u is invalid: expected 0, 1, 2 or 3", mode);

    uint64_t step_bits;
    if (el_read_u64le(&r, &step_bits, err) != 0)
        return el_fail_context(err, "quant header");
    double step;
    memcpy(&step, &step_bits, sizeof step);
    if (!step_is_valid(step))
        return el_fail(err, "quantization step %g is invalid: it must be finite and above 0", step);

    size_t size = el_dtype_size(dt);
    size_t k = 0;
    size_t *indices;
    uint8_t *values;
    int rc = read_exceptions(&r, size, count, &k, &indices, &values, err);
    if (rc == 0)
        rc = decode_values(&r, dt, step, dst, count, err);
    if (rc == 0 && r.pos != payload_len)
        rc = el_fail(err, "quant payload has %zu bytes after its extra bits", payload_len - r.pos);
    for (size_t n = 0; n < k && rc == 0; n++)
        memcpy((uint8_t *)dst + indices[n] * size, values + n * size, size);

    free(indices);
    free(values);
    return rc == 0 ? 0 : el_fail_context(err, "quant payload");
}

const el_codec el_codec_quant = {
    .name = "quant",
    .summary = "error-bounded linear quantization with step 2E, rANS-coded integers",
    .lossless = 0,
    .supports = quant_supports,
    .max_error = quant_max_error,
    .encode = quant_encode,
    .decode = quant_decode,
};
