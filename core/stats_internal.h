/* Definitions shared by the statistics passes: the one for every dtype,
 * element by element, in stats.c, and the fast F32 pass and F16/BF16 pass
 * in stats_f32.c and stats_half.c. */
#ifndef ELVES_STATS_INTERNAL_H
#define ELVES_STATS_INTERNAL_H

#include <stdint.h>
#include <string.h>
#include <xxhash.h>

#include "stats.h"

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

/* Elements counted into 32-bit counters between folds into 64-bit ones.
 * Each copy then takes at most 2^30 + BLOCK counts, so no 32-bit counter
 * can overflow.
 * NOTE: only tensors of more than 2^31 elements fold before their end, and
 * no unit test builds one. */
#define FOLD_ELEMENTS (UINT64_C(1) << 31)

/* Bytes scanned between drops of the pages already read: a tensor larger
 * than memory never becomes resident as a whole. */
#define RELEASE_WINDOW (16u << 20)

/* What every pass does after a block: the tensor's checksum takes the
 * block while it is in cache, and the pages already read are dropped each
 * time RELEASE_WINDOW bytes of them have passed. */
typedef struct block_tail {
    XXH3_state_t *hash;
    uint64_t released;   /* bytes from the start whose pages were dropped */
} block_tail;

/* Ends the block of bytes [start, end) of t. */
void el_block_done(block_tail *tail, const el_tensor *t, uint64_t start, uint64_t end);

/* Merges the summary of a block into the running one. */
void el_moments_merge(moments *run, const moments *block);

/* Shannon entropy in bits of a histogram of n bins with the given total. */
double el_stats_entropy(const uint64_t *counts, size_t n, uint64_t total);

/* Fills the totals that follow from the exponent histogram, the NaN count
 * and the moments of the finite elements. */
void el_stats_finish_totals(el_stats *s, const moments *m);

/* The fast passes. Each fills s for its dtypes and returns -1 when out of
 * memory. */
int el_stats_compute_f32(const el_tensor *t, el_stats *s, block_tail *tail);
int el_stats_compute_half(const el_tensor *t, el_stats *s, block_tail *tail);

static inline float el_f32_from_bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* Value of a finite F16 pattern, which a float represents exactly. */
static inline float el_f16_value(uint32_t h)
{
    const uint32_t frac = h & 0x3ff;
    const unsigned e = (h >> 10) & 0x1f;

    /* A zero or subnormal is frac * 2^-24. A normal value is rebiased from
     * 15 to 127 with its fraction widened to 23 bits. */
    const float magnitude = e == 0 ? (float)frac * 0x1p-24f
                                   : el_f32_from_bits((e + 112) << 23 | frac << 13);
    return h & 0x8000 ? -magnitude : magnitude;
}

#endif
