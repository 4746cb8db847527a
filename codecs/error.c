#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int el_fail(el_error *err, const char *fmt, ...)
{
    if (err == NULL)
        return -1;

    va_list args;
    va_start(args, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, args);
    va_end(args);
    return -1;
}

int el_fail_context(el_error *err, const char *fmt, ...)
{
    if (err == NULL)
        return -1;

    char prefix[EL_ERROR_MAX];
    va_list args;
    va_start(args, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, args);
    va_end(args);

    /* Joined by hand: snprintf("%s: %s") into a fixed buffer is a
     * truncation warning under -Wformat-truncation. Over-long messages are
     * cut at the end, keeping the context. */
    char joined[EL_ERROR_MAX];
    size_t used = strlen(prefix);
    memcpy(joined, prefix, used);
    if (used + 2 < sizeof joined) {
        memcpy(joined + used, ": ", 2);
        used += 2;
    }
    size_t rest = strlen(err->msg);
    if (rest > sizeof joined - 1 - used)
        rest = sizeof joined - 1 - used;
    memcpy(joined + used, err->msg, rest);
    joined[used + rest] = '\0';
    memcpy(err->msg, joined, sizeof joined);
    return -1;
}
