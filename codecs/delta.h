/* Delta codecs: encode a tensor against a base tensor of the same dtype and
 * element count (the same layer in the model it was fine-tuned from). The
 * payload alone cannot be decoded: the decoder needs the same base bytes,
 * which the container checks by checksum before decoding. */
#ifndef ELVES_DELTA_H
#define ELVES_DELTA_H

#include <stddef.h>

#include "codec.h"

typedef struct el_delta_codec {
    const char *name;
    const char *summary;
    int lossless;

    int (*supports)(el_dtype dt);

    /* As el_codec.max_error: 0 for lossless, negative when the parameters
     * cannot be honoured, +Inf when the error depends on the data. */
    double (*max_error)(el_dtype dt, const el_codec_params *params);

    int (*encode)(el_dtype dt, const void *src, const void *base, size_t count,
                  const el_codec_params *params, el_buf *out, el_error *err);

    int (*decode)(el_dtype dt, const void *payload, size_t payload_len,
                  const void *base, void *dst, size_t count, el_error *err);
} el_delta_codec;

/* All delta codecs, terminated by NULL. */
extern const el_delta_codec *const el_delta_codecs[];

const el_delta_codec *el_delta_codec_find(const char *name);

/* ---- shared by the delta codecs ---- */

/* Appends n unsigned integers, one per element: a bucket symbol per value
 * (the position of its leading 1 and the two bits under it) coded with
 * rANS, then the bits under those, stored as they are. For a float dtype
 * the encoder may model the symbols by the exponents of the base elements,
 * when that codes smaller. For other dtypes base is not read. */
int el_delta_ints_encode(const uint64_t *values, size_t n, el_dtype dt, const void *base,
                         el_buf *out, el_error *err);

/* Reads what el_delta_ints_encode wrote, given the same dtype and base.
 * Rejects any value of more than max_bits bits (1..64). */
int el_delta_ints_decode(el_reader *r, el_dtype dt, const void *base, int max_bits,
                         uint64_t *values, size_t n, el_error *err);

/* Writes the element count that starts every delta payload, and checks it
 * against the count the caller decodes. */
int el_delta_put_count(size_t count, el_buf *out, el_error *err);
int el_delta_check_count(el_reader *r, size_t count, const char *codec, el_error *err);

#endif
