#include "stats_internal.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

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
        fs->finite[k++] = el_f32_from_bits(u);
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
static void scan_f32_tensor(f32_scan *fs, const el_tensor *t, block_tail *tail)
{
    uint64_t since_fold = 0;
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
        el_moments_merge(&fs->m, &block);

        since_fold += n;
        if (since_fold >= FOLD_ELEMENTS) {
            fold_f32(fs);
            since_fold = 0;
        }

        el_block_done(tail, t, i * 4, (i + n) * 4);
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
        s->plane_entropy[b] = el_stats_entropy(counts, 256, s->count);
    }
    s->plane_entropy[3] = el_stats_entropy(upper, 256, s->count);
    s->abs_lt_1 = small;
    s->nans = fs->nans;
    el_stats_finish_totals(s, &fs->m);
}

/* Computes the statistics of an F32 tensor. Returns -1 when out of memory. */
int el_stats_compute_f32(const el_tensor *t, el_stats *s, block_tail *tail)
{
    /* Only the counters need clearing, because `finite` is written before
     * it is read. */
    f32_scan *fs = malloc(sizeof *fs);
    if (fs == NULL)
        return -1;
    memset(fs, 0, offsetof(f32_scan, finite));

    scan_f32_tensor(fs, t, tail);
    finish_f32(fs, s);
    free(fs);
    return 0;
}

