/* Error bounds: parsing, formatting and the codec parameters they imply. */
#include "workspace.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int el_bound_parse(const char *text, el_bound *out, el_error *err)
{
    if (strcmp(text, "lossless") == 0) {
        *out = (el_bound){ EL_BOUND_LOSSLESS, 0.0 };
        return 0;
    }

    if (strncmp(text, "abs:", 4) != 0)
        return el_fail(err, "invalid bound \"%s\": use \"lossless\" or \"abs:E\" "
                       "with E the largest absolute error, e.g. abs:1e-4", text);

    const char *number = text + 4;
    char *end = NULL;
    errno = 0;
    double e = strtod(number, &end);
    if (end == number || *end != '\0' || errno == ERANGE)
        return el_fail(err, "invalid bound \"%s\": \"%s\" is not a number", text, number);
    if (!(e > 0) || !isfinite(e))
        return el_fail(err, "invalid bound \"%s\": the error must be positive and finite; "
                       "use \"lossless\" for no error", text);

    *out = (el_bound){ EL_BOUND_ABS, e };
    return 0;
}

void el_bound_format(el_bound bound, char *buf, size_t len)
{
    if (bound.kind == EL_BOUND_LOSSLESS)
        snprintf(buf, len, "lossless");
    else
        snprintf(buf, len, "abs:%g", bound.abs);
}

int el_bound_allows(el_bound bound, const el_codec *codec, double max_error)
{
    if (max_error < 0)
        return 0;
    if (bound.kind == EL_BOUND_LOSSLESS)
        return codec->lossless;
    return max_error <= bound.abs;
}

el_codec_params el_bound_params(el_bound bound, int zstd_level)
{
    el_codec_params params = { zstd_level, 0.0 };
    if (bound.kind == EL_BOUND_ABS)
        params.abs_bound = bound.abs;
    return params;
}
