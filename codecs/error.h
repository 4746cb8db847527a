/* Error reporting shared by every layer: a function that can fail returns -1
 * and fills an el_error with a message naming the value and what to do. */
#ifndef ELVES_ERROR_H
#define ELVES_ERROR_H

#include <stddef.h>

#define EL_ERROR_MAX 512

typedef struct el_error {
    char msg[EL_ERROR_MAX];
} el_error;

/* Formats a message into err, which may be NULL. Always returns -1 so that
 * callers can write `return el_fail(err, "...")`. */
int el_fail(el_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Prepends "context: " to an existing message, for adding the file or tensor
 * name as an error travels up. Always returns -1. */
int el_fail_context(el_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
