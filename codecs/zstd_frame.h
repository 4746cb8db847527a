/* zstd frame helpers shared by the codecs and the container. */
#ifndef ELVES_ZSTD_FRAME_H
#define ELVES_ZSTD_FRAME_H

#include <stddef.h>

#include "buf.h"
#include "dtype.h"
#include "error.h"

/* Appends src compressed as one zstd frame that records its content size.
 * level 0 means the default level 3; levels above 19 are rejected. */
int el_zstd_append_frame(el_buf *out, const void *src, size_t len, int level,
                         el_error *err);

/* Appends src as one zstd frame of Huffman-coded literals with few or no
 * matches: for bytes without repeated strings, faster than level 1 and as
 * small. */
int el_zstd_append_literals_frame(el_buf *out, const void *src, size_t len, el_error *err);

/* Decompresses one whole frame into dst, which it must fill exactly. */
int el_zstd_decode_frame(const void *frame, size_t frame_len, void *dst,
                         size_t dst_len, el_error *err);

/* Reads the content size a whole frame declares, at most max_len. */
int el_zstd_frame_content_size(const void *frame, size_t frame_len,
                               size_t max_len, size_t *out, el_error *err);

/* Computes count * element size, failing instead of wrapping around. */
int el_tensor_bytes(el_dtype dt, size_t count, size_t *out, el_error *err);

#endif
