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

/* Codes byte i of src with the frequency table of context ctx[i]. There is
 * one table per context value below nctx (1 to 256), and ctx may be NULL
 * when nctx is 1. The decoder must be given the same context array. */
int el_entropy_encode_ctx(const uint8_t *src, const uint8_t *ctx, size_t n, unsigned nctx,
                          el_buf *out, el_error *err);

int el_entropy_decode_ctx(el_reader *r, const uint8_t *ctx, uint8_t *dst, size_t n,
                          unsigned nctx, el_error *err);

/* Order-0 entropy of n bytes in bits per byte: the size no order-0 coder can
 * beat, shown next to achieved sizes. */
double el_entropy_bits_per_byte(const uint8_t *src, size_t n);

/* Counts the n bytes at src into count[256], which it first clears. The
 * counts are 32-bit, so n must be below 2^32. */
void el_entropy_histogram(const uint8_t *src, size_t n, uint32_t *count);

/* Returns the entropy in bits per byte of a histogram of total bytes, or
 * 0 when total is 0. */
double el_entropy_of_histogram(const uint32_t *count, uint64_t total);

#endif
