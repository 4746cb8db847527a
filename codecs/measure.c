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
