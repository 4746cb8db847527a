/* Error bounds and policies: parsing, formatting and the codec parameters
 * they imply. */
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

    el_bound_kind kind;
    if (strncmp(text, "abs:", 4) == 0)
        kind = EL_BOUND_ABS;
    else if (strncmp(text, "rel:", 4) == 0)
        kind = EL_BOUND_REL;
    else
        return el_fail(err, "invalid bound \"%s\": use \"lossless\", \"abs:E\" with E "
                       "the largest absolute error (e.g. abs:1e-4), or \"rel:R\" with R "
                       "a share of the layer's max - min (e.g. rel:1e-3)", text);

    const char *number = text + 4;
    char *end = NULL;
    errno = 0;
    double e = strtod(number, &end);
    if (end == number || *end != '\0' || errno == ERANGE)
        return el_fail(err, "invalid bound \"%s\": \"%s\" is not a number", text, number);
    if (!(e > 0) || !isfinite(e))
        return el_fail(err, "invalid bound \"%s\": the error must be positive and finite; "
                       "use \"lossless\" for no error", text);

    *out = (el_bound){ kind, e };
    return 0;
}

void el_bound_format(el_bound bound, char *buf, size_t len)
{
    if (bound.kind == EL_BOUND_LOSSLESS)
        snprintf(buf, len, "lossless");
    else
        snprintf(buf, len, "%s:%g", bound.kind == EL_BOUND_ABS ? "abs" : "rel", bound.value);
}

double el_bound_resolve(el_bound bound, const el_stats *stats)
{
    switch (bound.kind) {
    case EL_BOUND_ABS:
        return bound.value;
    case EL_BOUND_REL:
        return stats->max > stats->min ? bound.value * (stats->max - stats->min) : 0.0;
    case EL_BOUND_LOSSLESS:
        break;
    }
    return 0.0;
}

int el_bound_allows(el_bound bound, double abs_bound, const el_codec *codec,
                    double max_error)
{
    if (max_error < 0)
        return 0;
    if (bound.kind == EL_BOUND_LOSSLESS || abs_bound <= 0)
        return codec->lossless;
    return max_error <= abs_bound;
}

el_codec_params el_bound_params(double abs_bound, int zstd_level)
{
    el_codec_params params = { zstd_level, abs_bound > 0 ? abs_bound : 0.0 };
    return params;
}

int el_bound_equal(el_bound a, el_bound b)
{
    return a.kind == b.kind && (a.kind == EL_BOUND_LOSSLESS || a.value == b.value);
}

static const char *const policy_names[EL_POLICY_COUNT] = { "auto", "elves-paper" };

const char *el_policy_name(el_policy policy)
{
    return policy < EL_POLICY_COUNT ? policy_names[policy] : "?";
}

int el_policy_parse(const char *text, el_policy *out, el_error *err)
{
    for (int p = 0; p < EL_POLICY_COUNT; p++) {
        if (strcmp(text, policy_names[p]) == 0) {
            *out = (el_policy)p;
            return 0;
        }
    }
    return el_fail(err, "unknown policy \"%s\": use auto or elves-paper", text);
}

int el_policy_allows(el_policy policy, const el_codec *codec)
{
    if (policy != EL_POLICY_PAPER)
        return 1;

    /* raw + zstd is our zstd codec; de and elf end in zstd themselves. */
    return strcmp(codec->name, "zstd") == 0 || strcmp(codec->name, "de") == 0
        || strcmp(codec->name, "elf") == 0;
}
