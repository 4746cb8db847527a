/* The NumPy .npy header (format versions 1.0, 2.0 and 3.0): magic, header
 * length and the Python dict literal {'descr', 'fortran_order', 'shape'}.
 * The dict is read by a small tokenizer, never evaluated, and object arrays
 * are rejected, so nothing in the file is ever unpickled. Used for .npy files
 * and for the members of .npz archives. */
#ifndef ELVES_NPY_H
#define ELVES_NPY_H

#include <stddef.h>
#include <stdint.h>

#include "../codecs/error.h"
#include "model.h"

/* Largest header accepted. NumPy writes well under 1 KiB for the dtypes
 * read here, so a larger one is damaged or hostile. */
#define EL_NPY_MAX_HEADER (1u << 20)

typedef struct el_npy_header {
    el_dtype dtype;
    int big_endian;         /* '>' with an element size above one byte */
    int fortran_order;
    int ndim;               /* 0 for a scalar */
    uint64_t shape[EL_MAX_DIMS];
    uint64_t count;         /* product of shape, 1 for a scalar */
    uint64_t nbytes;        /* count times the element size */
    uint64_t data_offset;   /* bytes before the array data: magic, lengths, dict */
} el_npy_header;

/* Parses the header at the start of bytes (n bytes: the whole .npy file or
 * member) and checks that exactly out->nbytes of array data follow it.
 * Returns 0, or -1 with err naming the field, its value and what to do; the
 * caller adds the file or member name. */
int el_npy_parse(const uint8_t *bytes, uint64_t n, el_npy_header *out, el_error *err);

/* Whether the array data is already C-order little-endian, so that it can be
 * used in place. A Fortran-order array with at most one dimension longer
 * than 1 has the same layout as in C order. */
int el_npy_is_native(const el_npy_header *h);

/* Converts the array data (h->nbytes bytes) to C order and little-endian into
 * dst, which must not overlap src. */
void el_npy_to_native(const el_npy_header *h, const uint8_t *src, uint8_t *dst);

#endif
