/* Order-0 entropy coding of byte streams, the stage under bytegroup, quant
 * and the entropy-coded ELF variant. */
#ifndef ELVES_ENTROPY_H
#define ELVES_ENTROPY_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "error.h"

/* Appends a self-delimiting block coding the n bytes at src to out. Falls
 * back to storing the bytes when coding would not make them smaller. */
int el_entropy_encode(const uint8_t *src, size_t n, el_buf *out, el_error *err);

/* Decodes one block from r into dst, which receives exactly n bytes; fails
 * cleanly on malformed, truncated or mismatched input. */
int el_entropy_decode(el_reader *r, uint8_t *dst, size_t n, el_error *err);

/* Order-0 entropy of n bytes in bits per byte: the size no order-0 coder can
 * beat, shown next to achieved sizes. */
double el_entropy_bits_per_byte(const uint8_t *src, size_t n);

#endif
