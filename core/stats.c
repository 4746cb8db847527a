#include "stats.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* Elements per chunk of a pass. A chunk stays in cache, so the exact
 * two-pass mean and variance of each chunk cost no second read of the
 * tensor. */
#define BLOCK 4096

/* Counters come in two copies, one for even and one for odd elements. Runs
 * of equal bytes or exponents then do not serialise the increments on one
 * memory location. Each path adds the copies together when it finishes. */
#define COPIES 2

/* Summary of a set of finite elements. min and max are only meaningful
 * when finite > 0. */
typedef struct moments {
    uint64_t finite;
    uint64_t zeros;            /* +0.0 and -0.0 for floats, 0 for integers */
    double min, max;
    double mean, m2;           /* m2: sum of squared deviations from mean */
} moments;

/* Running state of one pass over a tensor. */
typedef struct scan {
    el_stats *s;
    uint64_t planes[COPIES][8][256]; /* byte counts per little-endian plane */
    uint64_t exponents[COPIES][2048]; /* biased exponent counts */
    moments m;                 /* of the finite elements scanned so far */
    double block[BLOCK];       /* finite values of the current block */
    size_t n_block;
} scan;

/* Elements counted into 32-bit counters between folds into 64-bit ones.
 * Each copy then takes at most 2^30 + BLOCK counts, so no 32-bit counter
 * can overflow.
 * NOTE: only tensors of more than 2^31 elements fold before their end, and
 * no unit test builds one. */
#define FOLD_ELEMENTS (UINT64_C(1) << 31)

/* Bytes scanned between drops of the pages already read: a tensor larger
 * than memory never becomes resident as a whole. */
#define RELEASE_WINDOW (16u << 20)

/* Merges the summary of a block into the running one. Means and squared
 * deviations combine by Chan, Golub and LeVeque's pairwise update. */
static void merge_moments(moments *run, const moments *block)
{
    if (block->finite == 0)
        return;
    if (run->finite == 0) { /* the update below would give 0 * inf for huge means */
        *run = *block;
        return;
    }

    const double total = (double)(run->finite + block->finite);
    const double delta = block->mean - run->mean;

    run->mean += delta * ((double)block->finite / total);
    run->m2 += block->m2 + delta * delta * ((double)run->finite * (double)block->finite / total);
    run->finite += block->finite;
    run->zeros += block->zeros;
    run->min = block->min < run->min ? block->min : run->min;
    run->max = block->max > run->max ? block->max : run->max;
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

    moments block = {
        .finite = n,
        .zeros = zeros,
        .min = lo[0] < lo[1] ? lo[0] : lo[1],
        .max = hi[0] > hi[1] ? hi[0] : hi[1],
        .mean = sum_block(x, n, 0, 0) / (double)n,
    };
    if (isfinite(block.mean))
        block.m2 = sum_block(x, n, 1, block.mean);
    else
        welford_block(x, n, &block.mean, &block.m2);

    sc->s->abs_lt_1 += small;
    merge_moments(&sc->m, &block);
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

/* Value of a finite F16 pattern, which a float represents exactly. */
static float f16_value(uint32_t h)
{
    const uint32_t frac = h & 0x3ff;
    const unsigned e = (h >> 10) & 0x1f;

    /* A zero or subnormal is frac * 2^-24. A normal value is rebiased from
     * 15 to 127 with its fraction widened to 23 bits. */
    const float magnitude = e == 0 ? (float)frac * 0x1p-24f
                                   : f32_from_bits((e + 112) << 23 | frac << 13);
    return h & 0x8000 ? -magnitude : magnitude;
}

static void scan_f16(scan *sc, const uint8_t *p, uint64_t count)
{
    for (uint64_t i = 0; i < count; i++) {
        const uint32_t h = (uint32_t)p[2 * i] | (uint32_t)p[2 * i + 1] << 8;
        const unsigned e = (h >> 10) & 0x1f;
        sc->exponents[i % COPIES][e]++;
        if (e == 0x1f) {
            sc->s->nans += (h & 0x3ff) != 0;
            continue;
        }
        sc->block[sc->n_block++] = f16_value(h);
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

/* Counts below this get their entropy term computed once per histogram. */
#define TERM_MEMO 1024

/* Shannon entropy in bits of a histogram with the given total. */
static double entropy(const uint64_t *counts, size_t n, uint64_t total)
{
    if (total == 0)
        return 0;

    /* The histograms of small tensors repeat a few small counts across most
     * bins, and log2 would otherwise dominate their cost. A remembered term
     * is the same double as a recomputed one, so the sum does not change. */
    double memo[TERM_MEMO];
    uint64_t known[TERM_MEMO / 64] = { 0 }; /* bit c set: memo[c] is the term of count c */

    double h = 0;
    for (size_t i = 0; i < n; i++) {
        /* Runs of empty bins are skipped four at a time, because small
         * tensors leave most bins empty. Every histogram here has a multiple
         * of four bins. */
        if (i % 4 == 0 && (counts[i] | counts[i + 1] | counts[i + 2] | counts[i + 3]) == 0) {
            i += 3;
            continue;
        }
        const uint64_t c = counts[i];
        if (c == 0)
            continue;
        if (c < TERM_MEMO && (known[c / 64] >> c % 64 & 1)) {
            h -= memo[c];
            continue;
        }

        const double p = (double)c / (double)total;
        const double term = p * log2(p);
        if (c < TERM_MEMO) {
            memo[c] = term;
            known[c / 64] |= UINT64_C(1) << c % 64;
        }
        h -= term;
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

/* One pass over the tensor in cache-sized chunks: byte planes, then the
 * dtype kernel, then the moments of the chunk. el_stats_compute sends F32,
 * F16 and BF16 tensors to the faster paths below instead. */

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

/* Fills the totals that follow from the exponent histogram, the NaN count
 * and the moments of the finite elements. */
static void finish_totals(el_stats *s, const moments *m)
{
    s->zeros = m->zeros;
    if (s->exponent_hist != NULL) {
        const unsigned top = s->n_exponents - 1;
        s->infs = s->exponent_hist[top] - s->nans;
        s->subnormals = s->exponent_hist[0] - s->zeros;
        s->exponent_entropy = entropy(s->exponent_hist, s->n_exponents, s->count);
    }

    if (m->finite > 0) {
        s->min = m->min;
        s->max = m->max;
        s->mean = m->mean;
        s->std = sqrt(m->m2 / (double)m->finite);
    }
}

/* Fills the totals that follow from the counts of the scan. */
static void finish(scan *sc, el_stats *s)
{
    if (s->exponent_hist != NULL)
        for (unsigned e = 0; e < s->n_exponents; e++)
            for (int c = 0; c < COPIES; c++)
                s->exponent_hist[e] += sc->exponents[c][e];
    finish_totals(s, &sc->m);

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

/* ---- F32 ---- */

/* Running min, max, zero count and sum of four consecutive F32 values at a
 * time, one lane each, so that the compiler can map them onto vector
 * registers. */
#define LANES 4

typedef struct lanes {
    float lo[LANES], hi[LANES];
    uint32_t zeros[LANES];     /* at most BLOCK / LANES each */
    double sum[LANES];
} lanes;

static inline void lanes_init(lanes *a, float first)
{
    for (int l = 0; l < LANES; l++) {
        a->lo[l] = a->hi[l] = first;
        a->zeros[l] = 0;
        a->sum[l] = 0;
    }
}

static inline void lanes_add(lanes *a, const uint8_t *p)
{
    float x[LANES];
    memcpy(x, p, sizeof x);
    for (int l = 0; l < LANES; l++) {
        a->lo[l] = x[l] < a->lo[l] ? x[l] : a->lo[l];
        a->hi[l] = x[l] > a->hi[l] ? x[l] : a->hi[l];
        a->zeros[l] += x[l] == 0.0f;
        a->sum[l] += x[l];
    }
}

static inline void squares_add(double *q, const uint8_t *p, double mean)
{
    float x[LANES];
    memcpy(x, p, sizeof x);
    for (int l = 0; l < LANES; l++) {
        const double d = (double)x[l] - mean;
        q[l] += d * d;
    }
}

/* Computes the min, max, zero count and exact two-pass mean and squared
 * deviations of n >= 1 F32 values, at most BLOCK of them. Each step takes
 * two groups of lanes, so that two independent chains of additions hide the
 * latency of each. The loops have no branch. Given a NaN or infinity, the
 * mean comes out NaN or infinite and the other figures are meaningless. */
static moments moments_f32(const uint8_t *p, uint64_t n)
{
    float first;
    memcpy(&first, p, sizeof first);
    lanes a, b;
    lanes_init(&a, first);
    lanes_init(&b, first);

    uint64_t i = 0;
    for (; i + 2 * LANES <= n; i += 2 * LANES) {
        lanes_add(&a, p + 4 * i);
        lanes_add(&b, p + 4 * (i + LANES));
    }

    float block_min = first, block_max = first;
    double total = 0;
    uint64_t zero_count = 0;
    for (; i < n; i++) {
        float x;
        memcpy(&x, p + 4 * i, sizeof x);
        block_min = x < block_min ? x : block_min;
        block_max = x > block_max ? x : block_max;
        zero_count += x == 0.0f;
        total += x;
    }
    for (int l = 0; l < LANES; l++) {
        block_min = a.lo[l] < block_min ? a.lo[l] : block_min;
        block_min = b.lo[l] < block_min ? b.lo[l] : block_min;
        block_max = a.hi[l] > block_max ? a.hi[l] : block_max;
        block_max = b.hi[l] > block_max ? b.hi[l] : block_max;
        zero_count += a.zeros[l] + b.zeros[l];
        total += a.sum[l] + b.sum[l];
    }

    /* Finite floats sum to at most 2^128 x 2^12 here, so the mean is finite
     * and the second pass needs no Welford fallback. */
    const double mean = total / (double)n;
    double qa[LANES] = { 0 }, qb[LANES] = { 0 }, m2 = 0;
    for (i = 0; i + 2 * LANES <= n; i += 2 * LANES) {
        squares_add(qa, p + 4 * i, mean);
        squares_add(qb, p + 4 * (i + LANES), mean);
    }
    for (; i < n; i++) {
        float x;
        memcpy(&x, p + 4 * i, sizeof x);
        m2 += ((double)x - mean) * ((double)x - mean);
    }
    for (int l = 0; l < LANES; l++)
        m2 += qa[l] + qb[l];

    return (moments){
        .finite = n,
        .zeros = zero_count,
        .min = block_min,
        .max = block_max,
        .mean = mean,
        .m2 = m2,
    };
}

/* Counts of F32 elements, one copy of them. Each element adds one count to
 * `top`, indexed by its sign and biased exponent, and one to each of the
 * three lower byte planes in `low`. The exponent histogram and the upper
 * byte plane follow from `top`. */
typedef struct f32_counts {
    uint32_t top[512];
    uint32_t low[3][256];
} f32_counts;

/* Running state of one pass over an F32 tensor. */
typedef struct f32_scan {
    f32_counts copy[COPIES];   /* even elements, odd elements */
    uint64_t top[512];         /* totals of the copies as of the last fold */
    uint64_t low[3][256];
    uint64_t nans;
    moments m;                 /* of the finite elements scanned so far */
    float finite[BLOCK];       /* finite values of a block that contains NaN or infinity */
} f32_scan;

/* The counting loops below take two elements per step, one for each copy. */
_Static_assert(COPIES == 2, "the counting loops assume two copies");

static inline void count_f32(f32_counts *c, uint32_t u)
{
    c->low[0][u & 0xff]++;
    c->low[1][u >> 8 & 0xff]++;
    c->low[2][u >> 16 & 0xff]++;
    c->top[u >> 23]++;
}

static void count_f32_block(f32_scan *fs, const uint8_t *p, uint64_t n)
{
    uint64_t i = 0;
    for (; i + 2 <= n; i += 2) {
        uint32_t u[2];
        memcpy(u, p + 4 * i, sizeof u);
        count_f32(&fs->copy[0], u[0]);
        count_f32(&fs->copy[1], u[1]);
    }
    if (i < n) {
        uint32_t u;
        memcpy(&u, p + 4 * i, sizeof u);
        count_f32(&fs->copy[0], u);
    }
}

/* Copies the finite ones of n F32 elements into fs->finite and adds the NaNs
 * among the others to fs->nans. Returns how many were copied. */
static uint64_t gather_finite_f32(f32_scan *fs, const uint8_t *p, uint64_t n)
{
    uint64_t k = 0;
    for (uint64_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, p + 4 * i, sizeof u);
        if ((u & 0x7f800000) == 0x7f800000) {
            fs->nans += (u & 0x7fffff) != 0;
            continue;
        }
        fs->finite[k++] = f32_from_bits(u);
    }
    return k;
}

/* Adds the copies to the 64-bit totals and clears them. */
static void fold_f32(f32_scan *fs)
{
    for (int c = 0; c < COPIES; c++) {
        for (int v = 0; v < 512; v++)
            fs->top[v] += fs->copy[c].top[v];
        for (int b = 0; b < 3; b++)
            for (int v = 0; v < 256; v++)
                fs->low[b][v] += fs->copy[c].low[b][v];
    }
    memset(fs->copy, 0, sizeof fs->copy);
}

/* Scans the tensor in BLOCK-sized chunks, taking the moments of each chunk
 * and then its counts while it is in cache. */
static void scan_f32_tensor(f32_scan *fs, const el_tensor *t)
{
    uint64_t released = 0, since_fold = 0;
    for (uint64_t i = 0; i < t->count; i += BLOCK) {
        const uint64_t n = t->count - i < BLOCK ? t->count - i : BLOCK;
        const uint8_t *p = t->data + i * 4;

        /* The moments come first because their loads wait for no stores,
         * so they bring the block into cache sooner than the counting
         * would. A sum of finite floats cannot overflow here (see
         * moments_f32), so a mean that is not finite means the block
         * contains NaN or infinity, and its finite values are gathered. */
        moments block = moments_f32(p, n);
        count_f32_block(fs, p, n);
        if (!isfinite(block.mean)) {
            const uint64_t k = gather_finite_f32(fs, p, n);
            block = k > 0 ? moments_f32((const uint8_t *)fs->finite, k) : (moments){ 0 };
        }
        merge_moments(&fs->m, &block);

        since_fold += n;
        if (since_fold >= FOLD_ELEMENTS) {
            fold_f32(fs);
            since_fold = 0;
        }

        const uint64_t scanned = (i + n) * 4;
        if (!t->derived && scanned - released >= RELEASE_WINDOW) {
            el_release_range(t->data + released, scanned - released);
            released = scanned;
        }
    }
}

/* Fills s from the counts and moments of the scan. The loops have no
 * branch and no scattered store, since for small tensors they cost more
 * than the scan. */
static void finish_f32(const f32_scan *fs, el_stats *s)
{
    uint64_t top[512], upper[256], small = 0;
    for (int v = 0; v < 512; v++)
        top[v] = fs->top[v] + fs->copy[0].top[v] + fs->copy[1].top[v];
    for (int e = 0; e < 256; e++)
        s->exponent_hist[e] = top[e] + top[e | 256];
    for (int e = 0; e < 127; e++)
        small += s->exponent_hist[e];
    for (int v = 0; v < 256; v++)
        upper[v] = top[2 * v] + top[2 * v + 1];

    for (int b = 0; b < 3; b++) {
        uint64_t counts[256];
        for (int v = 0; v < 256; v++)
            counts[v] = fs->low[b][v] + fs->copy[0].low[b][v] + fs->copy[1].low[b][v];
        s->plane_entropy[b] = entropy(counts, 256, s->count);
    }
    s->plane_entropy[3] = entropy(upper, 256, s->count);
    s->abs_lt_1 = small;
    s->nans = fs->nans;
    finish_totals(s, &fs->m);
}

/* Computes the statistics of an F32 tensor. Returns -1 when out of memory. */
static int compute_f32(const el_tensor *t, el_stats *s)
{
    /* Only the counters need clearing, because `finite` is written before
     * it is read. */
    f32_scan *fs = malloc(sizeof *fs);
    if (fs == NULL)
        return -1;
    memset(fs, 0, offsetof(f32_scan, finite));

    scan_f32_tensor(fs, t);
    finish_f32(fs, s);
    free(fs);
    return 0;
}

/* ---- F16 and BF16 ---- */

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
    return dtype == EL_BF16 ? f32_from_bits(v << 16) : f16_value(v);
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
static void scan_half_packed(half_scan *hs, const el_tensor *t)
{
    /* Keys of finite patterns lie in [-limit, limit), where limit is the
     * smallest pattern with an all-ones exponent. */
    const int limit = hs->dtype == EL_F16 ? 0x7c00 : 0x7f80;
    uint64_t released = 0;
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

        const uint64_t scanned = (i + n) * 2;
        if (!t->derived && scanned - released >= RELEASE_WINDOW) {
            el_release_range(t->data + released, scanned - released);
            released = scanned;
        }
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
static void scan_half_hist16(half_scan *hs, const el_tensor *t, uint32_t (*hist)[65536])
{
    uint64_t released = 0, since_fold = 0;
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

        const uint64_t scanned = (i + n) * 2;
        if (!t->derived && scanned - released >= RELEASE_WINDOW) {
            el_release_range(t->data + released, scanned - released);
            released = scanned;
        }
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
        merge_moments(&m, &part);
    }

    /* The segments give count, mean and squared deviations only. */
    m.zeros = hs->zeros;
    if (m.finite > 0) {
        m.min = half_key_value(hs->dtype, hs->min_key);
        m.max = half_key_value(hs->dtype, hs->max_key);
    }

    s->plane_entropy[0] = entropy(hs->low, 256, s->count);
    s->plane_entropy[1] = entropy(upper, 256, s->count);
    s->abs_lt_1 = small;
    s->nans = hs->nans;
    finish_totals(s, &m);
}

/* Computes the statistics of an F16 or BF16 tensor. Returns -1 when out of
 * memory. */
static int compute_half(const el_tensor *t, el_stats *s)
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
        scan_half_hist16(hs, t, hist);
    else
        scan_half_packed(hs, t);
    finish_half(hs, s);

    free(hist);
    free(hs);
    return 0;
}

/* ---- every other dtype ---- */

/* Computes the statistics of a tensor of another dtype. Returns -1 when
 * out of memory. */
static int compute_scanned(const el_tensor *t, el_stats *s)
{
    scan *sc = calloc(1, sizeof *sc);
    if (sc == NULL)
        return -1;
    sc->s = s;

    scan_tensor(sc, t, el_dtype_size(t->dtype));
    finish(sc, s);
    free(sc);
    return 0;
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

    int rc;
    if (t->dtype == EL_F32)
        rc = compute_f32(t, &s);
    else if (t->dtype == EL_F16 || t->dtype == EL_BF16)
        rc = compute_half(t, &s);
    else
        rc = compute_scanned(t, &s);
    if (rc != 0) {
        free(s.exponent_hist);
        return el_fail(err, "tensor '%s': out of memory for statistics", name);
    }

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
