/* A growable byte buffer, the output type of every encoder. */
#ifndef ELVES_BUF_H
#define ELVES_BUF_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

typedef struct el_buf {
    uint8_t *data;
    size_t len;
    size_t cap;
} el_buf;

/* Makes room for at least `extra` more bytes. Returns 0, or -1 when memory
 * runs out or the size overflows. */
int el_buf_reserve(el_buf *buf, size_t extra, el_error *err);

int el_buf_append(el_buf *buf, const void *bytes, size_t n, el_error *err);
int el_buf_append_u8(el_buf *buf, uint8_t v, el_error *err);
int el_buf_append_u32le(el_buf *buf, uint32_t v, el_error *err);
int el_buf_append_u64le(el_buf *buf, uint64_t v, el_error *err);

/* Appends v as an unsigned LEB128 varint (at most 10 bytes). */
int el_buf_append_varint(el_buf *buf, uint64_t v, el_error *err);

/* Bytes el_buf_append_varint takes for v. */
size_t el_varint_size(uint64_t v);

void el_buf_free(el_buf *buf);

/* A bounds-checked reader over a byte range; every read fails cleanly at the
 * end instead of running past it. */
typedef struct el_reader {
    const uint8_t *data;
    size_t len;
    size_t pos;
} el_reader;

int el_read_bytes(el_reader *r, void *out, size_t n, el_error *err);
int el_read_u8(el_reader *r, uint8_t *v, el_error *err);
int el_read_u32le(el_reader *r, uint32_t *v, el_error *err);
int el_read_u64le(el_reader *r, uint64_t *v, el_error *err);
int el_read_varint(el_reader *r, uint64_t *v, el_error *err);

/* Reads element n of a sorted index list stored as varint deltas (the first
 * from 0, each later one from prev and never 0), checking that it stays
 * below count. `what` names the list's items in messages ("outlier"). */
int el_read_index_delta(el_reader *r, const char *what, size_t n, size_t prev, size_t count,
                        size_t *index, el_error *err);

/* Returns a pointer to the next n bytes and advances, or NULL (with err set)
 * when fewer than n remain. */
const uint8_t *el_read_span(el_reader *r, size_t n, el_error *err);

#endif
