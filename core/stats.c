#include "stats.h"
#include "stats_internal.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* Running state of one pass over a tensor. */
typedef struct scan {
    el_stats *s;
    uint64_t planes[COPIES][8][256]; /* byte counts per little-endian plane */
    uint64_t exponents[COPIES][2048]; /* biased exponent counts */
    moments m;                 /* of the finite elements scanned so far */
    double block[BLOCK];       /* finite values of the current block */
    size_t n_block;
} scan;

/* Merges the summary of a block into the running one. Means and squared
 * deviations combine by Chan, Golub and LeVeque's pairwise update. */
void el_moments_merge(moments *run, const moments *block)
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
    el_moments_merge(&sc->m, &block);
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
        sc->block[sc->n_block++] = el_f32_from_bits(u);
    }
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
        sc->block[sc->n_block++] = el_f16_value(h);
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
        sc->block[sc->n_block++] = el_f32_from_bits(b << 16);
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
double el_stats_entropy(const uint64_t *counts, size_t n, uint64_t total)
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

static void scan_tensor(scan *sc, const el_tensor *t, size_t size, block_tail *tail)
{
    for (uint64_t i = 0; i < t->count; i += BLOCK) {
        const uint64_t n = t->count - i < BLOCK ? t->count - i : BLOCK;
        const uint8_t *p = t->data + i * size;

        count_planes(sc, p, n, (int)size);
        scan_chunk(sc, t->dtype, p, n);
        flush_block(sc);

        el_block_done(tail, t, i * size, (i + n) * size);
    }
}

/* Fills the totals that follow from the exponent histogram, the NaN count
 * and the moments of the finite elements. */
void el_stats_finish_totals(el_stats *s, const moments *m)
{
    s->zeros = m->zeros;
    if (s->exponent_hist != NULL) {
        const unsigned top = s->n_exponents - 1;
        s->infs = s->exponent_hist[top] - s->nans;
        s->subnormals = s->exponent_hist[0] - s->zeros;
        s->exponent_entropy = el_stats_entropy(s->exponent_hist, s->n_exponents, s->count);
    }

    if (m->finite > 0) {
        s->min = m->min;
        s->max = m->max;
        s->mean = m->mean;
        s->std = sqrt(m->m2 / (double)m->finite);
    }
}

void el_block_done(block_tail *tail, const el_tensor *t, uint64_t start, uint64_t end)
{
    XXH3_128bits_update(tail->hash, t->data + start, (size_t)(end - start));
    if (!t->derived && end - tail->released >= RELEASE_WINDOW) {
        el_release_range(t->data + tail->released, end - tail->released);
        tail->released = end;
    }
}

/* Fills the totals that follow from the counts of the scan. */
static void finish(scan *sc, el_stats *s)
{
    if (s->exponent_hist != NULL)
        for (unsigned e = 0; e < s->n_exponents; e++)
            for (int c = 0; c < COPIES; c++)
                s->exponent_hist[e] += sc->exponents[c][e];
    el_stats_finish_totals(s, &sc->m);

    for (int b = 0; b < s->n_planes; b++) {
        uint64_t counts[256];
        for (int v = 0; v < 256; v++) {
            counts[v] = 0;
            for (int c = 0; c < COPIES; c++)
                counts[v] += sc->planes[c][b][v];
        }
        s->plane_entropy[b] = el_stats_entropy(counts, 256, s->count);
    }
}

/* Computes the statistics of a tensor of another dtype. Returns -1 when
 * out of memory. */
static int compute_scanned(const el_tensor *t, el_stats *s, block_tail *tail)
{
    scan *sc = calloc(1, sizeof *sc);
    if (sc == NULL)
        return -1;
    sc->s = s;

    scan_tensor(sc, t, el_dtype_size(t->dtype), tail);
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

    block_tail tail = { .hash = XXH3_createState() };
    int rc = tail.hash != NULL ? 0 : -1;
    if (rc == 0)
        XXH3_128bits_reset(tail.hash);
    if (rc == 0 && t->dtype == EL_F32)
        rc = el_stats_compute_f32(t, &s, &tail);
    else if (rc == 0 && (t->dtype == EL_F16 || t->dtype == EL_BF16))
        rc = el_stats_compute_half(t, &s, &tail);
    else if (rc == 0)
        rc = compute_scanned(t, &s, &tail);
    if (rc != 0) {
        XXH3_freeState(tail.hash);
        free(s.exponent_hist);
        return el_fail(err, "tensor '%s': out of memory for statistics", name);
    }
    XXH128_hash_t h = XXH3_128bits_digest(tail.hash);
    XXH3_freeState(tail.hash);
    s.hash = (el_hash128){ .lo = h.low64, .hi = h.high64 };

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
