#include "stats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Elements decoded to double before their moments are folded in. A block
 * stays in cache, so the exact two-pass mean and variance of each block cost
 * no second read of the tensor. */
#define BLOCK 4096

/* Counters come in two copies, one for even and one for odd elements. Runs
 * of equal bytes or exponents then do not serialise the increments on one
 * memory location. finish() adds the copies together. */
#define COPIES 2

/* Running state of one pass over a tensor. */
typedef struct scan {
    el_stats *s;
    uint64_t planes[COPIES][8][256]; /* byte counts per little-endian plane */
    uint64_t exponents[COPIES][2048]; /* biased exponent counts */
    uint64_t finite;           /* elements folded into mean and m2 */
    double mean, m2;           /* m2: sum of squared deviations from mean */
    double min, max;
    double block[BLOCK];       /* finite values of the current block */
    size_t n_block;

    /* Fast path of F32, F16 and BF16 tensors of at least HIST16_MIN
     * elements: counts of the 2^16 patterns of each element's upper 16 bits
     * (all of it for the 16-bit formats), from which the exponent histogram,
     * the upper byte planes and, for the 16-bit formats, every other
     * statistic follow. NULL on the general path. */
    uint32_t (*hist16)[65536];
} scan;

/* Elements counted into hist16 between folds. Each copy then takes at most
 * 2^30 counts, so no 32-bit counter can overflow.
 * NOTE: only tensors of more than 2^31 elements fold more than once, and no
 * unit test builds one. */
#define FOLD_ELEMENTS (UINT64_C(1) << 31)

/* Below this many elements the 2 x 256 KiB of hist16 cost more to clear and
 * fold than counting each field does. */
#define HIST16_MIN 65536

/* Bytes scanned between drops of the pages already read: a tensor larger
 * than memory never becomes resident as a whole. */
#define RELEASE_WINDOW (16u << 20)

/* Merges a block's exact mean and squared deviations into the running ones
 * (Chan, Golub and LeVeque's pairwise update). */
static void merge_moments(scan *sc, uint64_t n, double mean, double m2)
{
    if (sc->finite == 0) { /* the update below would give 0 * inf for huge means */
        sc->mean = mean;
        sc->m2 = m2;
        sc->finite = n;
        return;
    }

    const double total = (double)(sc->finite + n);
    const double delta = mean - sc->mean;

    sc->mean += delta * ((double)n / total);
    sc->m2 += m2 + delta * delta * ((double)sc->finite * (double)n / total);
    sc->finite += n;
}

/* Welford's update, for a block whose sum overflows a double. */
static void welford_block(const double *x, size_t n, double *mean, double *m2)
{
    double mu = 0, q = 0;
    for (size_t i = 0; i < n; i++) {
        const double delta = x[i] - mu;
        mu += delta / (double)(i + 1);
        q += delta * (x[i] - mu);
    }
    *mean = mu;
    *m2 = q;
}

/* Sums x[0..n) in four partial sums, which breaks the chain of dependent
 * additions. With `squares` set it sums (x - center)^2 instead. */
static double sum_block(const double *x, size_t n, int squares, double center)
{
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    size_t i = 0;

    if (squares) {
        for (; i + 4 <= n; i += 4) {
            const double d0 = x[i] - center, d1 = x[i + 1] - center;
            const double d2 = x[i + 2] - center, d3 = x[i + 3] - center;
            s0 += d0 * d0;
            s1 += d1 * d1;
            s2 += d2 * d2;
            s3 += d3 * d3;
        }
        for (; i < n; i++)
            s0 += (x[i] - center) * (x[i] - center);
    } else {
        for (; i + 4 <= n; i += 4) {
            s0 += x[i];
            s1 += x[i + 1];
            s2 += x[i + 2];
            s3 += x[i + 3];
        }
        for (; i < n; i++)
            s0 += x[i];
    }
    return (s0 + s1) + (s2 + s3);
}

/* Folds the finite values collected in sc->block into the statistics. */
static void flush_block(scan *sc)
{
    const double *x = sc->block;
    const size_t n = sc->n_block;
    if (n == 0)
        return;

    /* Two lanes each for min and max, for the same reason as sum_block. */
    double lo[2] = { x[0], x[0] }, hi[2] = { x[0], x[0] };
    uint64_t zeros = 0, small = 0;
    for (size_t i = 0; i < n; i++) {
        const size_t lane = i & 1;
        lo[lane] = x[i] < lo[lane] ? x[i] : lo[lane];
        hi[lane] = x[i] > hi[lane] ? x[i] : hi[lane];
        zeros += x[i] == 0;
        small += fabs(x[i]) < 1;
    }

    double mean = sum_block(x, n, 0, 0) / (double)n, m2 = 0;
    if (isfinite(mean))
        m2 = sum_block(x, n, 1, mean);
    else
        welford_block(x, n, &mean, &m2);

    const double block_min = lo[0] < lo[1] ? lo[0] : lo[1];
    const double block_max = hi[0] > hi[1] ? hi[0] : hi[1];
    sc->min = sc->finite == 0 || block_min < sc->min ? block_min : sc->min;
    sc->max = sc->finite == 0 || block_max > sc->max ? block_max : sc->max;
    sc->s->zeros += zeros;
    sc->s->abs_lt_1 += small;
    merge_moments(sc, n, mean, m2);
    sc->n_block = 0;
}

/* `size` is a constant at each call site below, so the inner loop unrolls. */
static inline void count_planes_of(scan *sc, const uint8_t *p, uint64_t count,
                                   int size)
{
    for (uint64_t i = 0; i < count; i++)
        for (int b = 0; b < size; b++)
            sc->planes[i % COPIES][b][p[i * (uint64_t)size + (uint64_t)b]]++;
}

static void count_planes(scan *sc, const uint8_t *p, uint64_t count, int size)
{
    switch (size) {
    case 1: count_planes_of(sc, p, count, 1); break;
    case 2: count_planes_of(sc, p, count, 2); break;
    case 4: count_planes_of(sc, p, count, 4); break;
    default: count_planes_of(sc, p, count, 8); break;
    }
}

static float f32_from_bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* Each kernel reads at most BLOCK elements and queues their finite values
 * for flush_block. The float kernels also count the biased exponent (NaN and
 * Inf land in the all-ones bin). Zeros and subnormals both have exponent 0,
 * so the subnormal count is derived from bin 0 afterwards. */

static void scan_f64(scan *sc, const uint8_t *p, uint64_t count)
{
    for (uint64_t i = 0; i < count; i++) {
        uint64_t u;
        memcpy(&u, p + 8 * i, 8);
        const unsigned e = (unsigned)(u >> 52) & 0x7ff;
        sc->exponents[i % COPIES][e]++;
        if (e == 0x7ff) {
            sc->s->nans += (u & 0xfffffffffffffULL) != 0;
            continue;
        }
        double v;
        memcpy(&v, &u, sizeof v);
        sc->block[sc->n_block++] = v;
    }
}

static void scan_f32(scan *sc, const uint8_t *p, uint64_t count)
{
    for (uint64_t i = 0; i < count; i++) {
        uint32_t u;
        memcpy(&u, p + 4 * i, 4);
        const unsigned e = (u >> 23) & 0xff;
        sc->exponents[i % COPIES][e]++;
        if (e == 0xff) {
            sc->s->nans += (u & 0x7fffff) != 0;
            continue;
        }
        sc->block[sc->n_block++] = f32_from_bits(u);
    }
}

static void scan_f16(scan *sc, const uint8_t *p, uint64_t count)
{
    for (uint64_t i = 0; i < count; i++) {
        const uint32_t h = (uint32_t)p[2 * i] | (uint32_t)p[2 * i + 1] << 8;
        const uint32_t sign = (h & 0x8000) << 16;
        const uint32_t frac = h & 0x3ff;
        const unsigned e = (h >> 10) & 0x1f;
        sc->exponents[i % COPIES][e]++;
        if (e == 0x1f) {
            sc->s->nans += frac != 0;
            continue;
        }

        float v;
        if (e == 0) { /* zero or subnormal: frac * 2^-24, exact in float */
            v = (float)frac * 0x1p-24f;
            v = sign ? -v : v;
        } else { /* rebias 15 -> 127 and widen the fraction to 23 bits */
            v = f32_from_bits(sign | (e + 112) << 23 | frac << 13);
        }
        sc->block[sc->n_block++] = v;
    }
}

static void scan_bf16(scan *sc, const uint8_t *p, uint64_t count)
{
    for (uint64_t i = 0; i < count; i++) {
        const uint32_t b = (uint32_t)p[2 * i] | (uint32_t)p[2 * i + 1] << 8;
        const unsigned e = (b >> 7) & 0xff;
        sc->exponents[i % COPIES][e]++;
        if (e == 0xff) {
            sc->s->nans += (b & 0x7f) != 0;
            continue;
        }
        sc->block[sc->n_block++] = f32_from_bits(b << 16);
    }
}

/* Integer kernels: every value is finite, so each one is queued. I64 and U64
 * values beyond 2^53 are rounded to the nearest double. */
#define SCAN_INT(fn, type)                                              \
    static void fn(scan *sc, const uint8_t *p, uint64_t count)          \
    {                                                                   \
        for (uint64_t i = 0; i < count; i++) {                          \
            type v;                                                     \
            memcpy(&v, p + sizeof v * i, sizeof v);                     \
            sc->block[sc->n_block++] = (double)v;                       \
        }                                                               \
    }

SCAN_INT(scan_i64, int64_t)
SCAN_INT(scan_i32, int32_t)
SCAN_INT(scan_i16, int16_t)
SCAN_INT(scan_i8, int8_t)
SCAN_INT(scan_u64, uint64_t)
SCAN_INT(scan_u32, uint32_t)
SCAN_INT(scan_u16, uint16_t)
SCAN_INT(scan_u8, uint8_t)

/* Shannon entropy in bits of a histogram with the given total. */
static double entropy(const uint64_t *counts, size_t n, uint64_t total)
{
    if (total == 0)
        return 0;

    double h = 0;
    for (size_t i = 0; i < n; i++) {
        if (counts[i] == 0)
            continue;
        const double p = (double)counts[i] / (double)total;
        h -= p * log2(p);
    }
    return h;
}

/* Runs the kernel for the dtype over at most BLOCK elements. Little-endian
 * host order is assumed, as safetensors stores little-endian data. */
static void scan_chunk(scan *sc, el_dtype dtype, const uint8_t *p, uint64_t n)
{
    switch (dtype) {
    case EL_F64: scan_f64(sc, p, n); break;
    case EL_F32: scan_f32(sc, p, n); break;
    case EL_F16: scan_f16(sc, p, n); break;
    case EL_BF16: scan_bf16(sc, p, n); break;
    case EL_I64: scan_i64(sc, p, n); break;
    case EL_I32: scan_i32(sc, p, n); break;
    case EL_I16: scan_i16(sc, p, n); break;
    case EL_I8: scan_i8(sc, p, n); break;
    case EL_U64: scan_u64(sc, p, n); break;
    case EL_U32: scan_u32(sc, p, n); break;
    case EL_U16: scan_u16(sc, p, n); break;
    /* The F8 formats get U8 statistics: their values are not decoded, since
     * no codec here treats them as floats. BOOL bytes are 0 or 1. */
    case EL_F8_E4M3:
    case EL_F8_E5M2:
    case EL_U8:
    case EL_BOOL:
    case EL_DTYPE_COUNT:
        scan_u8(sc, p, n);
        break;
    }
}

/* ---- fast path for F32, F16 and BF16 ---- */

static void count_hist16_half(scan *sc, const uint8_t *p, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++)
        sc->hist16[i % COPIES][(uint32_t)p[2 * i] | (uint32_t)p[2 * i + 1] << 8]++;
}

/* Counts the upper 16 bits and the two lower byte planes of n F32 elements.
 * Returns how many have an all-ones exponent (NaN or infinity). */
static uint64_t count_hist16_f32(scan *sc, const uint8_t *p, uint64_t n)
{
    uint64_t nonfinite = 0;
    for (uint64_t i = 0; i < n; i++) {
        const uint8_t *e = p + 4 * i;
        const uint32_t top = (uint32_t)e[2] | (uint32_t)e[3] << 8;
        sc->hist16[i % COPIES][top]++;
        sc->planes[i % COPIES][0][e[0]]++;
        sc->planes[i % COPIES][1][e[1]]++;
        nonfinite += (top & 0x7f80) == 0x7f80;
    }
    return nonfinite;
}

/* Merges the min, max, zero count and exact two-pass mean and squared
 * deviations of n finite F32 values into the running ones. Eight
 * independent lanes let the compiler keep several additions in flight. The
 * loops need no branch because blocks holding NaN or infinity go to
 * moments_f32_general instead. */
#define LANES 8

static void moments_f32(scan *sc, const uint8_t *p, uint64_t n)
{
    float lo[LANES], hi[LANES];
    double sum[LANES] = {0}, sq[LANES] = {0};
    uint64_t zeros[LANES] = {0};
    float first;
    memcpy(&first, p, sizeof first);
    for (int l = 0; l < LANES; l++)
        lo[l] = hi[l] = first;

    uint64_t i = 0;
    for (; i + LANES <= n; i += LANES) {
        float x[LANES];
        memcpy(x, p + 4 * i, sizeof x);
        for (int l = 0; l < LANES; l++) {
            lo[l] = x[l] < lo[l] ? x[l] : lo[l];
            hi[l] = x[l] > hi[l] ? x[l] : hi[l];
            zeros[l] += x[l] == 0.0f;
            sum[l] += x[l];
        }
    }
    for (; i < n; i++) {
        float x;
        memcpy(&x, p + 4 * i, sizeof x);
        lo[0] = x < lo[0] ? x : lo[0];
        hi[0] = x > hi[0] ? x : hi[0];
        zeros[0] += x == 0.0f;
        sum[0] += x;
    }

    double total = 0;
    uint64_t zero_count = 0;
    float block_min = lo[0], block_max = hi[0];
    for (int l = 0; l < LANES; l++) {
        total += sum[l];
        zero_count += zeros[l];
        block_min = lo[l] < block_min ? lo[l] : block_min;
        block_max = hi[l] > block_max ? hi[l] : block_max;
    }

    /* Finite floats sum to at most 2^128 x 2^12 here, so the mean is finite
     * and the second pass needs no Welford fallback. */
    const double mean = total / (double)n;
    i = 0;
    for (; i + LANES <= n; i += LANES) {
        float x[LANES];
        memcpy(x, p + 4 * i, sizeof x);
        for (int l = 0; l < LANES; l++) {
            const double d = (double)x[l] - mean;
            sq[l] += d * d;
        }
    }
    for (; i < n; i++) {
        float x;
        memcpy(&x, p + 4 * i, sizeof x);
        sq[0] += ((double)x - mean) * ((double)x - mean);
    }
    double m2 = 0;
    for (int l = 0; l < LANES; l++)
        m2 += sq[l];

    sc->min = sc->finite == 0 || block_min < sc->min ? block_min : sc->min;
    sc->max = sc->finite == 0 || block_max > sc->max ? block_max : sc->max;
    sc->s->zeros += zero_count;
    merge_moments(sc, n, mean, m2);
}

/* Computes the moments of an F32 block that holds NaN or infinity with the
 * general kernel. That kernel also counts exponents and |w| < 1, which
 * hist16 has already counted, so those counters are restored after it. */
static void moments_f32_general(scan *sc, const uint8_t *p, uint64_t n)
{
    uint64_t small_before = sc->s->abs_lt_1;
    uint64_t saved[COPIES][256];
    memcpy(saved[0], sc->exponents[0], sizeof saved[0]);
    memcpy(saved[1], sc->exponents[1], sizeof saved[1]);

    scan_f32(sc, p, n);
    flush_block(sc);

    memcpy(sc->exponents[0], saved[0], sizeof saved[0]);
    memcpy(sc->exponents[1], saved[1], sizeof saved[1]);
    sc->s->abs_lt_1 = small_before;
}

static void fold_hist16(scan *sc, el_dtype dtype);

/* Folds hist16 and clears it once FOLD_ELEMENTS have been counted. */
static void fold_if_full(scan *sc, el_dtype dtype, uint64_t *since_fold, uint64_t n)
{
    *since_fold += n;
    if (*since_fold < FOLD_ELEMENTS)
        return;
    fold_hist16(sc, dtype);
    memset(sc->hist16, 0, COPIES * sizeof *sc->hist16);
    *since_fold = 0;
}

static void scan_tensor_f32(scan *sc, const el_tensor *t)
{
    uint64_t released = 0, since_fold = 0;
    for (uint64_t i = 0; i < t->count; i += BLOCK) {
        const uint64_t n = t->count - i < BLOCK ? t->count - i : BLOCK;
        const uint8_t *p = t->data + i * 4;

        if (count_hist16_f32(sc, p, n) == 0)
            moments_f32(sc, p, n);
        else
            moments_f32_general(sc, p, n);
        fold_if_full(sc, t->dtype, &since_fold, n);

        uint64_t scanned = (i + n) * 4;
        if (!t->derived && scanned - released >= RELEASE_WINDOW) {
            el_release_range(t->data + released, scanned - released);
            released = scanned;
        }
    }
}

static void scan_tensor_half(scan *sc, const el_tensor *t)
{
    uint64_t released = 0, since_fold = 0;
    for (uint64_t i = 0; i < t->count; i += BLOCK) {
        const uint64_t n = t->count - i < BLOCK ? t->count - i : BLOCK;
        count_hist16_half(sc, t->data + i * 2, n);
        fold_if_full(sc, t->dtype, &since_fold, n);

        uint64_t scanned = (i + n) * 2;
        if (!t->derived && scanned - released >= RELEASE_WINDOW) {
            el_release_range(t->data + released, scanned - released);
            released = scanned;
        }
    }
}

/* Value of a finite 16-bit float pattern. */
static double half_value(el_dtype dtype, uint32_t v)
{
    if (dtype == EL_BF16)
        return f32_from_bits(v << 16);

    const double mag = (v >> 10 & 0x1f) == 0 ? ldexp(v & 0x3ff, -24)
                                              : ldexp((v & 0x3ff) | 0x400, (int)(v >> 10 & 0x1f) - 25);
    return v & 0x8000 ? -mag : mag;
}

/* Whether the 8 patterns from v on have no count in either copy. Weights
 * occupy a few thousand of the 65,536 patterns, so the folds below skip
 * most of the table 8 bins at a time. */
static int empty_run(const scan *sc, uint32_t v)
{
    uint32_t any = 0;
    for (int k = 0; k < 8; k++)
        any |= sc->hist16[0][v + k] | sc->hist16[1][v + k];
    return any == 0;
}

/* Folds hist16 into the exponent histogram and the upper byte planes. For
 * the 16-bit formats each pattern is one value, so it also gives min, max,
 * mean and squared deviations of the counted elements exactly. */
static void fold_hist16(scan *sc, el_dtype dtype)
{
    const int half = dtype != EL_F32;
    const int mantissa_bits = dtype == EL_F16 ? 10 : 7; /* within the 16 bits */
    const unsigned exp_top = dtype == EL_F16 ? 0x1f : 0xff;
    const unsigned bias = dtype == EL_F16 ? 15 : 127;
    const int plane = half ? 0 : 2;
    el_stats *s = sc->s;

    double sum = 0, lo = 0, hi = 0;
    uint64_t finite = 0;
    for (uint32_t v = 0; v < 65536; v++) {
        if (v % 8 == 0 && empty_run(sc, v)) {
            v += 7;
            continue;
        }
        const uint64_t c = (uint64_t)sc->hist16[0][v] + sc->hist16[1][v];
        if (c == 0)
            continue;

        const unsigned e = (v & 0x7fff) >> mantissa_bits;
        const uint32_t frac = v & ((1u << mantissa_bits) - 1);
        sc->exponents[0][e] += c;
        sc->planes[0][plane][v & 0xff] += c;
        sc->planes[0][plane + 1][v >> 8] += c;
        s->abs_lt_1 += e < bias ? c : 0;
        if (!half)
            continue;

        if (e == exp_top) {
            s->nans += frac != 0 ? c : 0;
            continue;
        }
        const double x = half_value(dtype, v);
        s->zeros += (v & 0x7fff) == 0 ? c : 0;
        lo = finite == 0 || x < lo ? x : lo;
        hi = finite == 0 || x > hi ? x : hi;
        sum += (double)c * x;
        finite += c;
    }
    if (!half || finite == 0)
        return;

    const double mean = sum / (double)finite;
    double m2 = 0;
    for (uint32_t v = 0; v < 65536; v++) {
        if (v % 8 == 0 && empty_run(sc, v)) {
            v += 7;
            continue;
        }
        const uint64_t c = (uint64_t)sc->hist16[0][v] + sc->hist16[1][v];
        if (c == 0 || (v & 0x7fff) >> mantissa_bits == exp_top)
            continue;
        const double d = half_value(dtype, v) - mean;
        m2 += (double)c * d * d;
    }
    sc->min = sc->finite == 0 || lo < sc->min ? lo : sc->min;
    sc->max = sc->finite == 0 || hi > sc->max ? hi : sc->max;
    merge_moments(sc, finite, mean, m2);
}

/* One pass over the tensor in cache-sized chunks: byte planes, then the
 * dtype kernel, then the moments of the chunk. */

static void scan_tensor(scan *sc, const el_tensor *t, size_t size)
{
    uint64_t released = 0;
    for (uint64_t i = 0; i < t->count; i += BLOCK) {
        const uint64_t n = t->count - i < BLOCK ? t->count - i : BLOCK;
        const uint8_t *p = t->data + i * size;

        count_planes(sc, p, n, (int)size);
        scan_chunk(sc, t->dtype, p, n);
        flush_block(sc);

        uint64_t scanned = (i + n) * size;
        if (!t->derived && scanned - released >= RELEASE_WINDOW) {
            el_release_range(t->data + released, scanned - released);
            released = scanned;
        }
    }
}

/* Fills the totals that follow from the counts of the scan. */
static void finish(scan *sc, el_stats *s)
{
    if (s->exponent_hist != NULL) {
        for (unsigned e = 0; e < s->n_exponents; e++)
            for (int c = 0; c < COPIES; c++)
                s->exponent_hist[e] += sc->exponents[c][e];

        const unsigned top = s->n_exponents - 1;
        s->infs = s->exponent_hist[top] - s->nans;
        s->subnormals = s->exponent_hist[0] - s->zeros;
        s->exponent_entropy = entropy(s->exponent_hist, s->n_exponents, s->count);
    }

    if (sc->finite > 0) {
        s->min = sc->min;
        s->max = sc->max;
        s->mean = sc->mean;
        s->std = sqrt(sc->m2 / (double)sc->finite);
    }

    for (int b = 0; b < s->n_planes; b++) {
        uint64_t counts[256];
        for (int v = 0; v < 256; v++) {
            counts[v] = 0;
            for (int c = 0; c < COPIES; c++)
                counts[v] += sc->planes[c][b][v];
        }
        s->plane_entropy[b] = entropy(counts, 256, s->count);
    }
}

int el_stats_compute(const el_tensor *t, el_stats *out, el_error *err)
{
    memset(out, 0, sizeof *out);
    const char *name = t->name != NULL ? t->name : "(unnamed)";

    const size_t size = el_dtype_size(t->dtype);
    if (size == 0 || size > 8 || t->count > UINT64_MAX / size ||
        t->count * size != t->nbytes || (t->count > 0 && t->data == NULL))
        return el_fail(err, "tensor '%s': %llu elements of dtype %d do not make "
                       "%llu bytes; the tensor table is inconsistent", name,
                       (unsigned long long)t->count, (int)t->dtype,
                       (unsigned long long)t->nbytes);

    el_stats s = { .count = t->count, .n_planes = (int)size };
    if (el_dtype_is_float(t->dtype)) {
        s.n_exponents = 1u << el_dtype_float_layout(t->dtype).exponent_bits;
        s.exponent_hist = calloc(s.n_exponents, sizeof *s.exponent_hist);
        if (s.exponent_hist == NULL)
            return el_fail(err, "tensor '%s': out of memory for the exponent "
                           "histogram", name);
    }

    scan *sc = calloc(1, sizeof *sc);
    if (sc == NULL) {
        free(s.exponent_hist);
        return el_fail(err, "tensor '%s': out of memory for statistics", name);
    }
    sc->s = &s;

    const int fast = (t->dtype == EL_F32 || t->dtype == EL_F16 || t->dtype == EL_BF16) &&
                     t->count >= HIST16_MIN;
    if (fast)
        sc->hist16 = calloc(COPIES, sizeof *sc->hist16);
    if (sc->hist16 != NULL) {
        if (t->dtype == EL_F32)
            scan_tensor_f32(sc, t);
        else
            scan_tensor_half(sc, t);
        fold_hist16(sc, t->dtype);
    } else {
        scan_tensor(sc, t, size);
    }
    finish(sc, &s);

    free(sc->hist16);
    free(sc);
    *out = s;
    return 0;
}

void el_stats_free(el_stats *s)
{
    free(s->exponent_hist);
    s->exponent_hist = NULL;
    s->n_exponents = 0;
}

unsigned el_stats_distinct_exponents(const el_stats *s)
{
    unsigned n = 0;
    for (unsigned i = 0; i < s->n_exponents; i++)
        n += s->exponent_hist[i] != 0;
    return n;
}

double el_stats_order0_ratio(const el_stats *s)
{
    double bits = 0;
    for (int p = 0; p < s->n_planes; p++)
        bits += s->plane_entropy[p];
    return bits > 0 ? 8.0 * s->n_planes / bits : 0.0;
}
