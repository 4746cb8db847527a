#include "stats_internal.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* A 16-bit float pattern splits into a segment, its bits above the lowest
 * `shift`, and the offset m in those lowest bits. F16 segments are the upper
 * byte (sign, exponent and the top two fraction bits, shift 8) and BF16
 * segments are sign and exponent (shift 7). Within a segment the value is
 * base + m * step, so the count, sum of m and sum of m^2 of each segment,
 * exact integers, give its mean and squared deviations with no per-element
 * arithmetic in floating point. */
#define MAX_SEGMENTS 512

/* Running state of one pass over an F16 or BF16 tensor. */
typedef struct half_scan {
    el_dtype dtype;
    int shift;
    int n_segments;
    uint64_t count[MAX_SEGMENTS];
    uint64_t sum[MAX_SEGMENTS];     /* of m */
    uint64_t sum_sq[MAX_SEGMENTS];  /* of m * m */
    uint64_t low[256];              /* lower byte plane */
    uint64_t nans, zeros;
    int min_key, max_key;           /* see half_key; valid once a finite element is seen */

    /* The current block of the per-element path, as packed sums (see
     * packed_offset) and lower byte counts, one copy per element parity. */
    uint64_t packed[COPIES][MAX_SEGMENTS];
    uint32_t low_block[COPIES][256];
} half_scan;

/* Elements per block of the per-element path. Each copy of a packed
 * segment then adds at most 4096 counts, 4096 * 255 < 2^20 to the sum of m
 * and 4096 * 255^2 < 2^28 to the sum of m^2, so no field of packed_offset
 * carries into the next. */
#define HALF_BLOCK 8192

/* Packed increment of a segment for offset m: 1 in bits 0-12 (count), m in
 * bits 13-32 and m^2 in bits 33-63, so that one addition per element updates
 * all three sums. */
#define PACK(m) (1 | (uint64_t)(m) << 13 | (uint64_t)(m) * (m) << 33)
#define PACK4(m) PACK(m), PACK((m) + 1), PACK((m) + 2), PACK((m) + 3)
#define PACK16(m) PACK4(m), PACK4((m) + 4), PACK4((m) + 8), PACK4((m) + 12)
#define PACK64(m) PACK16(m), PACK16((m) + 16), PACK16((m) + 32), PACK16((m) + 48)

static const uint64_t packed_offset[256] = { PACK64(0), PACK64(64), PACK64(128), PACK64(192) };

/* From these many elements on, F16 and BF16 tensors are counted into a
 * histogram of all 2^16 patterns, one increment per element instead of two,
 * which repays clearing and folding its 2 x 256 KiB. The fold costs more
 * for F16, whose weights spread over more patterns.
 * NOTE: estimates, measured as the crossovers of both paths on bell-shaped
 * weights on one x86-64 server (GCC 12, -O2). Other machines may favour
 * other values, and either path gives the same figures. */
#define HIST16_MIN_F16 131072
#define HIST16_MIN_BF16 65536

/* Value of a finite 16-bit float pattern. */
static double half_value(el_dtype dtype, uint32_t v)
{
    return dtype == EL_BF16 ? el_f32_from_bits(v << 16) : el_f16_value(v);
}

/* Order key of a 16-bit float pattern. Keys of finite patterns compare as
 * their values do, with -0 just below +0, and the mapping is its own
 * inverse. */
static inline int16_t half_key(uint32_t h)
{
    return (int16_t)((int32_t)(h & 0x7fff) ^ -(int32_t)(h >> 15));
}

/* Value of the pattern with the given key. */
static double half_key_value(el_dtype dtype, int key)
{
    const uint32_t h = (uint32_t)(uint16_t)half_key((uint32_t)(uint16_t)key);
    return half_value(dtype, h);
}

static void half_scan_init(half_scan *hs, el_dtype dtype)
{
    memset(hs, 0, sizeof *hs);
    hs->dtype = dtype;
    hs->shift = dtype == EL_F16 ? 8 : 7;
    hs->n_segments = 1 << (16 - hs->shift);
    hs->min_key = INT16_MAX + 1;
    hs->max_key = INT16_MIN - 1;
}

/* Biased exponent of the patterns of a segment. */
static unsigned segment_exponent(const half_scan *hs, uint32_t segment)
{
    return hs->dtype == EL_F16 ? segment >> 2 & 0x1f : segment & 0xff;
}

static int segment_is_finite(const half_scan *hs, uint32_t segment)
{
    return segment_exponent(hs, segment) != (hs->dtype == EL_F16 ? 0x1fu : 0xffu);
}

/* Whether the four counters from c on are all zero. */
static inline int empty_group(const uint64_t *c)
{
    return (c[0] | c[1] | c[2] | c[3]) == 0;
}

static inline void count_half(half_scan *hs, int copy, uint32_t h, int shift,
                              uint32_t offset_mask)
{
    hs->packed[copy][h >> shift] += packed_offset[h & offset_mask];
    hs->low_block[copy][h & 0xff]++;
}

/* `shift` is a constant at each call site below, so that the compiler can
 * turn the shifts and masks into byte moves. */
static inline void count_half_block_of(half_scan *hs, const uint8_t *p, uint64_t n,
                                       int shift)
{
    const uint32_t offset_mask = (UINT32_C(1) << shift) - 1;

    uint64_t i = 0;
    for (; i + 2 <= n; i += 2) {
        uint16_t h[2];
        memcpy(h, p + 2 * i, sizeof h);
        count_half(hs, 0, h[0], shift, offset_mask);
        count_half(hs, 1, h[1], shift, offset_mask);
    }
    if (i < n) {
        uint16_t h;
        memcpy(&h, p + 2 * i, sizeof h);
        count_half(hs, 0, h, shift, offset_mask);
    }
}

static void count_half_block(half_scan *hs, const uint8_t *p, uint64_t n)
{
    if (hs->dtype == EL_F16)
        count_half_block_of(hs, p, n, 8);
    else
        count_half_block_of(hs, p, n, 7);
}

/* Extremes and zero count of a block of 16-bit floats. */
typedef struct key_range {
    int min_key, max_key;      /* see half_key */
    uint64_t zeros;
} key_range;

/* Computes the key range of n >= 1 elements. Eight lanes of 16-bit keys
 * let the compiler use vector minimum and maximum. */
#define KEY_LANES 8

static key_range scan_keys(const uint8_t *p, uint64_t n)
{
    int16_t lo[KEY_LANES], hi[KEY_LANES];
    uint16_t zeros[KEY_LANES] = { 0 }; /* at most HALF_BLOCK / KEY_LANES each */
    for (int l = 0; l < KEY_LANES; l++) {
        lo[l] = INT16_MAX;
        hi[l] = INT16_MIN;
    }

    uint64_t i = 0;
    for (; i + KEY_LANES <= n; i += KEY_LANES) {
        uint16_t h[KEY_LANES];
        memcpy(h, p + 2 * i, sizeof h);
        for (int l = 0; l < KEY_LANES; l++) {
            const int16_t k = half_key(h[l]);
            lo[l] = k < lo[l] ? k : lo[l];
            hi[l] = k > hi[l] ? k : hi[l];
            zeros[l] += (h[l] & 0x7fff) == 0;
        }
    }
    for (; i < n; i++) {
        uint16_t h;
        memcpy(&h, p + 2 * i, sizeof h);
        const int16_t k = half_key(h);
        lo[0] = k < lo[0] ? k : lo[0];
        hi[0] = k > hi[0] ? k : hi[0];
        zeros[0] += (h & 0x7fff) == 0;
    }

    key_range r = { lo[0], hi[0], 0 };
    for (int l = 0; l < KEY_LANES; l++) {
        r.min_key = lo[l] < r.min_key ? lo[l] : r.min_key;
        r.max_key = hi[l] > r.max_key ? hi[l] : r.max_key;
        r.zeros += zeros[l];
    }
    return r;
}

/* Folds the extremes and zero count of a block that contains NaN or
 * infinity into hs, skipping those and adding the NaNs to hs->nans. */
static void scan_keys_nonfinite(half_scan *hs, const uint8_t *p, uint64_t n)
{
    const uint32_t exponent_mask = hs->dtype == EL_F16 ? 0x7c00 : 0x7f80;
    for (uint64_t i = 0; i < n; i++) {
        uint16_t h;
        memcpy(&h, p + 2 * i, sizeof h);
        if ((h & exponent_mask) == exponent_mask) {
            hs->nans += (h & ~exponent_mask & 0x7fff) != 0;
            continue;
        }
        const int k = half_key(h);
        hs->min_key = k < hs->min_key ? k : hs->min_key;
        hs->max_key = k > hs->max_key ? k : hs->max_key;
        hs->zeros += (h & 0x7fff) == 0;
    }
}

/* Unpacks the block's sums into the totals and clears the block. */
static void flush_packed(half_scan *hs)
{
    for (int segment = 0; segment < hs->n_segments; segment++) {
        /* Weights typically occupy a few dozen segments, so most groups of
         * four are empty. n_segments is a multiple of four. */
        if (segment % 4 == 0 && empty_group(hs->packed[0] + segment) &&
            empty_group(hs->packed[1] + segment)) {
            segment += 3;
            continue;
        }
        for (int c = 0; c < COPIES; c++) {
            const uint64_t w = hs->packed[c][segment];
            if (w == 0)
                continue;
            hs->count[segment] += w & 0x1fff;
            hs->sum[segment] += w >> 13 & 0xfffff;
            hs->sum_sq[segment] += w >> 33;
            hs->packed[c][segment] = 0;
        }
    }

    for (int v = 0; v < 256; v++)
        hs->low[v] += (uint64_t)hs->low_block[0][v] + hs->low_block[1][v];
    memset(hs->low_block, 0, sizeof hs->low_block);
}

/* One pass over the tensor in HALF_BLOCK-sized chunks, two increments per
 * element. Serves every size, and takes tensors under HIST16_MIN_F16 or
 * HIST16_MIN_BF16 elements. */
static void scan_half_packed(half_scan *hs, const el_tensor *t, block_tail *tail)
{
    /* Keys of finite patterns lie in [-limit, limit), where limit is the
     * smallest pattern with an all-ones exponent. */
    const int limit = hs->dtype == EL_F16 ? 0x7c00 : 0x7f80;
    for (uint64_t i = 0; i < t->count; i += HALF_BLOCK) {
        const uint64_t n = t->count - i < HALF_BLOCK ? t->count - i : HALF_BLOCK;
        const uint8_t *p = t->data + i * 2;

        /* The keys come first: their loads have no stores to wait for, so
         * they fetch the block from memory faster than the counting does.
         * A key range beyond the finite one means NaN or infinity. */
        const key_range r = scan_keys(p, n);
        if (r.min_key < -limit || r.max_key >= limit) {
            scan_keys_nonfinite(hs, p, n);
        } else {
            hs->min_key = r.min_key < hs->min_key ? r.min_key : hs->min_key;
            hs->max_key = r.max_key > hs->max_key ? r.max_key : hs->max_key;
            hs->zeros += r.zeros;
        }
        count_half_block(hs, p, n);
        flush_packed(hs);

        el_block_done(tail, t, i * 2, (i + n) * 2);
    }
}

/* Folds the histogram of all patterns into the segment sums, the lower byte
 * plane, the NaN and zero counts and the extremes. */
static void fold_hist16(half_scan *hs, uint32_t (*hist)[65536])
{
    const uint32_t width = UINT32_C(1) << hs->shift;
    const uint32_t frac_mask = hs->dtype == EL_F16 ? 0x3ff : 0x7f;

    for (uint32_t segment = 0; segment < (uint32_t)hs->n_segments; segment++) {
        const uint32_t first = segment << hs->shift;
        const uint32_t *h0 = hist[0] + first, *h1 = hist[1] + first;

        /* Weights leave most segments empty, and this test reads a segment
         * faster than the sums below do. */
        uint32_t any = 0;
        for (uint32_t m = 0; m < width; m++)
            any |= h0[m] | h1[m];
        if (any == 0)
            continue;

        uint64_t count = 0, sum = 0, sum_sq = 0;
        for (uint32_t m = 0; m < width; m++) {
            const uint64_t c = (uint64_t)h0[m] + h1[m];
            count += c;
            sum += c * m;
            sum_sq += c * m * m;
            hs->low[(first + m) & 0xff] += c;
        }
        hs->count[segment] += count;
        hs->sum[segment] += sum;
        hs->sum_sq[segment] += sum_sq;

        /* Only the pattern with m = 0 can have a zero fraction. */
        const uint64_t at_zero = (uint64_t)h0[0] + h1[0];
        if (!segment_is_finite(hs, segment)) {
            hs->nans += count - ((first & frac_mask) == 0 ? at_zero : 0);
            continue;
        }
        hs->zeros += (first & 0x7fff) == 0 ? at_zero : 0;

        uint32_t lo = 0, hi = width - 1;
        while ((h0[lo] | h1[lo]) == 0)
            lo++;
        while ((h0[hi] | h1[hi]) == 0)
            hi--;
        const int k_lo = half_key(first + lo), k_hi = half_key(first + hi);
        const int k_min = k_lo < k_hi ? k_lo : k_hi, k_max = k_lo < k_hi ? k_hi : k_lo;
        hs->min_key = k_min < hs->min_key ? k_min : hs->min_key;
        hs->max_key = k_max > hs->max_key ? k_max : hs->max_key;
    }
}

static void count_hist16_block(uint32_t (*hist)[65536], const uint8_t *p, uint64_t n)
{
    uint64_t i = 0;
    for (; i + 2 <= n; i += 2) {
        uint16_t h[2];
        memcpy(h, p + 2 * i, sizeof h);
        hist[0][h[0]]++;
        hist[1][h[1]]++;
    }
    if (i < n) {
        uint16_t h;
        memcpy(&h, p + 2 * i, sizeof h);
        hist[0][h]++;
    }
}

/* One pass over the tensor counting each pattern, for tensors of at least
 * HIST16_MIN_F16 or HIST16_MIN_BF16 elements. */
static void scan_half_hist16(half_scan *hs, const el_tensor *t, uint32_t (*hist)[65536],
                             block_tail *tail)
{
    uint64_t since_fold = 0;
    for (uint64_t i = 0; i < t->count; i += BLOCK) {
        const uint64_t n = t->count - i < BLOCK ? t->count - i : BLOCK;
        const uint8_t *p = t->data + i * 2;

        count_hist16_block(hist, p, n);
        since_fold += n;
        if (since_fold >= FOLD_ELEMENTS) {
            fold_hist16(hs, hist);
            memset(hist, 0, COPIES * sizeof *hist);
            since_fold = 0;
        }

        el_block_done(tail, t, i * 2, (i + n) * 2);
    }
    fold_hist16(hs, hist);
}

/* Count, mean and squared deviations of the elements of a finite segment,
 * which contains at least one. The sums of m are exact, and so are the
 * moments of m about the integer r nearest their mean, so the only rounding
 * is in the last few operations.
 * NOTE: the 64-bit sums hold for tensors of up to 2^47 elements. */
static moments segment_moments(const half_scan *hs, uint32_t segment)
{
    const uint32_t first = segment << hs->shift;
    const double base = half_value(hs->dtype, first);
    const double step = half_value(hs->dtype, first + 1) - base;

    const uint64_t n = hs->count[segment], s1 = hs->sum[segment];
    const uint64_t r = (s1 + n / 2) / n;
    const int64_t d = (int64_t)s1 - (int64_t)(r * n);                 /* sum of (m - r) */
    const uint64_t q = hs->sum_sq[segment] - 2 * r * s1 + r * r * n; /* sum of (m - r)^2 */

    const double mean_m = (double)r + (double)d / (double)n;
    const double m2_m = (double)q - (double)d * (double)d / (double)n;
    return (moments){
        .finite = n,
        .mean = base + step * mean_m,
        .m2 = step * step * (m2_m > 0 ? m2_m : 0),
    };
}

/* Fills s from the segment sums and the counts kept beside them. */
static void finish_half(const half_scan *hs, el_stats *s)
{
    const unsigned bias = hs->dtype == EL_F16 ? 15 : 127;
    const int segment_bits = 16 - hs->shift;
    uint64_t upper[256] = { 0 }, small = 0;
    moments m = { 0 };

    for (uint32_t segment = 0; segment < (uint32_t)hs->n_segments; segment++) {
        if (segment % 4 == 0 && empty_group(hs->count + segment)) {
            segment += 3;
            continue;
        }
        const uint64_t count = hs->count[segment];
        if (count == 0)
            continue;

        const unsigned e = segment_exponent(hs, segment);
        s->exponent_hist[e] += count;
        small += e < bias ? count : 0;
        upper[segment >> (segment_bits - 8)] += count;
        if (!segment_is_finite(hs, segment))
            continue;

        const moments part = segment_moments(hs, segment);
        el_moments_merge(&m, &part);
    }

    /* The segments give count, mean and squared deviations only. */
    m.zeros = hs->zeros;
    if (m.finite > 0) {
        m.min = half_key_value(hs->dtype, hs->min_key);
        m.max = half_key_value(hs->dtype, hs->max_key);
    }

    s->plane_entropy[0] = el_stats_entropy(hs->low, 256, s->count);
    s->plane_entropy[1] = el_stats_entropy(upper, 256, s->count);
    s->abs_lt_1 = small;
    s->nans = hs->nans;
    el_stats_finish_totals(s, &m);
}

/* Computes the statistics of an F16 or BF16 tensor. Returns -1 when out of
 * memory. */
int el_stats_compute_half(const el_tensor *t, el_stats *s, block_tail *tail)
{
    half_scan *hs = malloc(sizeof *hs);
    if (hs == NULL)
        return -1;
    half_scan_init(hs, t->dtype);

    /* Without memory for the histogram the per-element path still gives
     * every figure. */
    uint32_t (*hist)[65536] = NULL;
    if (t->count >= (t->dtype == EL_F16 ? HIST16_MIN_F16 : HIST16_MIN_BF16))
        hist = calloc(COPIES, sizeof *hist);
    if (hist != NULL)
        scan_half_hist16(hs, t, hist, tail);
    else
        scan_half_packed(hs, t, tail);
    finish_half(hs, s);

    free(hist);
    free(hs);
    return 0;
}

/* ---- every other dtype ---- */

