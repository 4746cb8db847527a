/* The tensor bytes stored as they are. `auto` falls back to it when every
 * other codec would make a layer larger. */
#include "codec.h"

#include <string.h>

#include "zstd_frame.h"

static int raw_supports(el_dtype dt)
{
    return el_dtype_size(dt) != 0;
}

static double raw_max_error(el_dtype dt, const el_codec_params *params)
{
    (void)dt, (void)params;
    return 0.0;
}

static int raw_encode(el_dtype dt, const void *src, size_t count,
                      const el_codec_params *params, el_buf *out, el_error *err)
{
    (void)params;
    size_t bytes;
    if (el_tensor_bytes(dt, count, &bytes, err) != 0)
        return -1;
    return el_buf_append(out, src, bytes, err);
}

static int raw_decode(el_dtype dt, const void *payload, size_t payload_len,
                      void *dst, size_t count, el_error *err)
{
    size_t bytes;
    if (el_tensor_bytes(dt, count, &bytes, err) != 0)
        return -1;
    if (payload_len != bytes)
        return el_fail(err, "raw payload is %zu bytes where %zu %s elements need %zu",
                       payload_len, count, el_dtype_name(dt), bytes);
    if (bytes)
        memcpy(dst, payload, bytes);
    return 0;
}

const el_codec el_codec_raw = {
    .name = "raw",
    .summary = "the bytes as they are, for layers nothing else shrinks",
    .lossless = 1,
    .supports = raw_supports,
    .max_error = raw_max_error,
    .encode = raw_encode,
    .decode = raw_decode,
};
