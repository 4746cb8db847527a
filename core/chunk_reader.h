/* Decoding the chunks of a list of tensors in order on a worker pool, which
 * runs ahead across tensor boundaries. While the caller writes one
 * tensor's last chunk, the workers already decode the next tensor's first
 * ones. */
#ifndef ELVES_CHUNK_READER_H
#define ELVES_CHUNK_READER_H

#include <stddef.h>
#include <stdint.h>

#include "container_read.h"

typedef struct el_chunk_reader el_chunk_reader;

/* One decoded chunk. bytes stay valid until the next call to
 * el_chunk_reader_next. */
typedef struct el_chunk {
    size_t tensor;            /* position in the list given to the reader */
    const uint8_t *bytes;
    size_t len;
    uint64_t offset;          /* in the tensor, in bytes */
    int last;                 /* the tensor's last chunk: its checksum matched */
} el_chunk;

/* Starts decoding tensors[0..n) of c, c->threads chunks at a time. The
 * list is copied. Returns NULL with err set when out of memory. */
el_chunk_reader *el_chunk_reader_start(const el_container *c, const uint64_t *tensors,
                                       size_t n, el_error *err);

/* Returns 1 with the next chunk, 0 after the last chunk of the last
 * tensor, or -1 with err set. A tensor without elements yields one chunk
 * of length 0. The last chunk of a tensor comes back only once the
 * checksum of the whole tensor matched. So a caller that writes chunks as
 * they come must discard its output after a failure. */
int el_chunk_reader_next(el_chunk_reader *r, el_chunk *out, el_error *err);

/* Waits for the chunks still in flight and frees the reader. */
void el_chunk_reader_finish(el_chunk_reader *r);

#endif
