/* Per-tensor statistics and exponent histograms. */
#ifndef ELVES_STATS_H
#define ELVES_STATS_H

#include <stddef.h>
#include <stdint.h>

#include "model.h"

typedef struct el_stats {
    uint64_t count;
    uint64_t zeros;         /* +0.0 and -0.0 for floats, 0 for integers */
    uint64_t nans;
    uint64_t infs;
    uint64_t subnormals;
    uint64_t abs_lt_1;      /* elements with |w| < 1 (integers: only 0) */
    double min, max;        /* over finite elements; 0 when there are none */
    double mean, std;       /* population standard deviation, finite elements */

    /* Exponent histogram for F64/F32/F16/BF16: counts per biased exponent,
     * 2^exponent_bits entries; NULL for other dtypes. */
    uint64_t *exponent_hist;
    unsigned n_exponents;
    double exponent_entropy; /* bits per element, Shannon, order 0 */

    int n_planes;            /* element size in bytes */
    double plane_entropy[8]; /* bits per byte of each little-endian byte plane */

    el_hash128 hash;         /* XXH3-128 of the tensor's bytes */
} el_stats;

int el_stats_compute(const el_tensor *t, el_stats *out, el_error *err);

void el_stats_free(el_stats *s);

/* Ratio an ideal order-0 coder of the byte planes would reach: element size
 * over the sum of the planes' entropies. A bound for byte-plane coders such
 * as bytegroup and ZipNN, not for codecs that model fields or drop bits. */
double el_stats_order0_ratio(const el_stats *s);

/* Number of distinct biased exponents that occur. */
unsigned el_stats_distinct_exponents(const el_stats *s);

#endif
