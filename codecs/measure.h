/* Measuring how far decoded tensor values are from the originals. */
#ifndef ELVES_MEASURE_H
#define ELVES_MEASURE_H

#include <stddef.h>

#include "dtype.h"

/* Largest |a[i] - b[i]| over count elements of dtype dt. Non-finite
 * originals must come back bit for bit (NaN as any NaN) or the error is
 * infinite; so is a finite original that decodes to NaN or Inf. */
double el_max_abs_error(el_dtype dt, const void *a, const void *b, size_t count);

#endif
