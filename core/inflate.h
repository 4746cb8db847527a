/* A raw deflate decoder (RFC 1951) that writes into a caller buffer of the
 * exact expected size, and the CRC-32 that zip archives store per member.
 * Both take untrusted input: every code length, distance and size is
 * checked, and the decoder never writes past the buffer. */
#ifndef ELVES_INFLATE_H
#define ELVES_INFLATE_H

#include <stddef.h>
#include <stdint.h>

#include "../codecs/error.h"

/* Decodes the deflate stream in `in` (in_size bytes) into `out`, which must
 * come out exactly out_size bytes long. Fails when the stream would write one
 * byte more (a deflate bomb) or ends before out_size bytes. Also fails when it
 * runs past in_size, has bytes after its final block, uses an invalid code
 * set or refers to a distance before the start of the output. Returns 0, or
 * -1 with err naming the problem and its input byte offset. out may be NULL
 * when out_size is 0. */
int el_inflate(const uint8_t *in, size_t in_size, uint8_t *out, size_t out_size,
               el_error *err);

/* CRC-32 as zip, gzip and PNG use it (reflected polynomial 0xEDB88320, initial
 * value and final XOR 0xFFFFFFFF). Pass 0 as crc for the first chunk and the
 * previous result to continue. */
uint32_t el_crc32(uint32_t crc, const uint8_t *data, size_t n);

#endif
