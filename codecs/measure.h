/* Measuring how far decoded tensor values are from the originals. */
#ifndef ELVES_MEASURE_H
#define ELVES_MEASURE_H

#include <stddef.h>
#include <stdint.h>

#include "dtype.h"

/* Largest |a[i] - b[i]| over count elements of dtype dt. The error is
 * infinite when a non-finite original does not come back (NaN as any NaN,
 * Inf as the same Inf), or when a finite original decodes to NaN or Inf. */
double el_max_abs_error(el_dtype dt, const void *a, const void *b, size_t count);

/* Error of a decoded tensor against its original, over every element. */
typedef struct el_error_stats {
    double max_abs;   /* largest |w - w'|; +Inf when a non-finite value changed */
    double rmse;      /* root mean square of w - w' over finite elements */
    double psnr;      /* 20 log10((max - min) / rmse) in dB; +Inf when rmse is 0 */
    double rel_l2;    /* ||w - w'||_2 / ||w||_2; 0 when both are 0 */
} el_error_stats;

void el_error_stats_compute(el_dtype dt, const void *original, const void *decoded,
                            size_t count, el_error_stats *out);

/* The same figures gathered over a tensor decoded piece by piece: add each
 * piece in order, then finish. Start from a zeroed accumulator. */
typedef struct el_error_accum {
    double max_abs;
    double sum_sq_diff, sum_sq;
    double lo, hi;
    uint64_t finite;
    int started;
} el_error_accum;

void el_error_accum_add(el_error_accum *acc, el_dtype dt, const void *original,
                        const void *decoded, size_t count);
void el_error_accum_finish(const el_error_accum *acc, el_error_stats *out);

/* Adds the figures of `part` (gathered over a later piece) into acc. */
void el_error_accum_merge(el_error_accum *acc, const el_error_accum *part);

#endif
