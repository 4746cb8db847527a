#include "measure.h"

#include <math.h>
#include <string.h>

double el_max_abs_error(el_dtype dt, const void *a, const void *b, size_t count)
{
    if (!el_dtype_is_float(dt))
        return memcmp(a, b, count * el_dtype_size(dt)) == 0 ? 0.0 : INFINITY;

    double worst = 0;
    for (size_t i = 0; i < count; i++) {
        double x = el_load_double(dt, a, i);
        double y = el_load_double(dt, b, i);

        if (isnan(x)) {
            if (!isnan(y))
                return INFINITY;
            continue;
        }
        if (isinf(x) || isinf(y) || isnan(y)) {
            if (x != y)
                return INFINITY;
            continue;
        }

        double d = fabs(x - y);
        if (d > worst)
            worst = d;
    }
    return worst;
}

void el_error_stats_compute(el_dtype dt, const void *original, const void *decoded,
                            size_t count, el_error_stats *out)
{
    out->max_abs = el_max_abs_error(dt, original, decoded, count);

    double sum_sq_diff = 0, sum_sq = 0;
    double lo = INFINITY, hi = -INFINITY;
    size_t finite = 0;
    for (size_t i = 0; i < count; i++) {
        double x = el_load_double(dt, original, i);
        double y = el_load_double(dt, decoded, i);
        if (!isfinite(x) || !isfinite(y))
            continue;
        double d = x - y;
        sum_sq_diff += d * d;
        sum_sq += x * x;
        lo = x < lo ? x : lo;
        hi = x > hi ? x : hi;
        finite++;
    }

    out->rmse = finite ? sqrt(sum_sq_diff / (double)finite) : 0.0;
    out->rel_l2 = sum_sq > 0 ? sqrt(sum_sq_diff / sum_sq) : (sum_sq_diff > 0 ? INFINITY : 0.0);
    if (out->rmse == 0)
        out->psnr = INFINITY;
    else
        out->psnr = hi > lo ? 20.0 * log10((hi - lo) / out->rmse) : -INFINITY;
}
