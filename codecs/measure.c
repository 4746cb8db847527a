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

void el_error_accum_add(el_error_accum *acc, el_dtype dt, const void *original,
                        const void *decoded, size_t count)
{
    if (!acc->started) {
        acc->lo = INFINITY;
        acc->hi = -INFINITY;
        acc->started = 1;
    }
    double e = el_max_abs_error(dt, original, decoded, count);
    acc->max_abs = e > acc->max_abs ? e : acc->max_abs;

    for (size_t i = 0; i < count; i++) {
        double x = el_load_double(dt, original, i);
        double y = el_load_double(dt, decoded, i);
        if (!isfinite(x) || !isfinite(y))
            continue;
        double d = x - y;
        acc->sum_sq_diff += d * d;
        acc->sum_sq += x * x;
        acc->lo = x < acc->lo ? x : acc->lo;
        acc->hi = x > acc->hi ? x : acc->hi;
        acc->finite++;
    }
}

void el_error_accum_merge(el_error_accum *acc, const el_error_accum *part)
{
    if (!part->started)
        return;
    if (!acc->started) {
        *acc = *part;
        return;
    }
    acc->max_abs = part->max_abs > acc->max_abs ? part->max_abs : acc->max_abs;
    acc->sum_sq_diff += part->sum_sq_diff;
    acc->sum_sq += part->sum_sq;
    acc->lo = part->lo < acc->lo ? part->lo : acc->lo;
    acc->hi = part->hi > acc->hi ? part->hi : acc->hi;
    acc->finite += part->finite;
}

void el_error_accum_finish(const el_error_accum *acc, el_error_stats *out)
{
    out->max_abs = acc->max_abs;
    out->rmse = acc->finite ? sqrt(acc->sum_sq_diff / (double)acc->finite) : 0.0;
    out->rel_l2 = acc->sum_sq > 0 ? sqrt(acc->sum_sq_diff / acc->sum_sq)
                                  : (acc->sum_sq_diff > 0 ? INFINITY : 0.0);
    if (out->rmse == 0)
        out->psnr = INFINITY;
    else
        out->psnr = acc->hi > acc->lo ? 20.0 * log10((acc->hi - acc->lo) / out->rmse)
                                      : -INFINITY;
}

void el_error_stats_compute(el_dtype dt, const void *original, const void *decoded,
                            size_t count, el_error_stats *out)
{
    el_error_accum acc = { 0 };
    el_error_accum_add(&acc, dt, original, decoded, count);
    el_error_accum_finish(&acc, out);
}
