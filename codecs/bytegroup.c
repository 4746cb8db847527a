/* Byte grouping: plane k contains byte k of every little-endian element, and
 * each plane is its own zstd frame. The sign and exponent bytes of floats
 * take few values and compress well once they no longer sit between
 * near-random mantissa bytes.
 *
 * Payload: u8 plane count (the element size), one varint per plane with its
 * frame length, then the frames in plane order. */
#include "codec.h"
#include "zstd_frame.h"

#include <stdlib.h>

static int bytegroup_supports(el_dtype dt)
{
    return el_dtype_size(dt) != 0;
}

static double bytegroup_max_error(el_dtype dt, const el_codec_params *params)
{
    (void)dt;
    (void)params;
    return 0.0;
}

static void gather_plane(const uint8_t *src, size_t count, size_t size, size_t k,
                         uint8_t *plane)
{
    for (size_t i = 0; i < count; i++)
        plane[i] = src[i * size + k];
}

static void scatter_plane(const uint8_t *plane, size_t count, size_t size, size_t k,
                          uint8_t *dst)
{
    for (size_t i = 0; i < count; i++)
        dst[i * size + k] = plane[i];
}

static int bytegroup_encode(el_dtype dt, const void *src, size_t count,
                            const el_codec_params *params, el_buf *out, el_error *err)
{
    size_t bytes;
    if (el_tensor_bytes(dt, count, &bytes, err) != 0)
        return -1;
    size_t size = el_dtype_size(dt);

    /* The frames go to a scratch buffer first because the header, which
     * lists their lengths, comes before them. */
    uint8_t *plane = malloc(count ? count : 1);
    if (plane == NULL)
        return el_fail(err, "out of memory for a byte plane of %zu bytes", count);

    el_buf frames = {0};
    size_t lengths[8];
    int rc = 0;
    for (size_t k = 0; k < size && rc == 0; k++) {
        size_t before = frames.len;
        gather_plane(src, count, size, k, plane);
        rc = el_zstd_append_frame(&frames, plane, count, params->zstd_level, err);
        lengths[k] = frames.len - before;
    }
    free(plane);

    if (rc == 0)
        rc = el_buf_append_u8(out, (uint8_t)size, err);
    for (size_t k = 0; k < size && rc == 0; k++)
        rc = el_buf_append_varint(out, lengths[k], err);
    if (rc == 0)
        rc = el_buf_append(out, frames.data, frames.len, err);
    el_buf_free(&frames);
    return rc;
}

static int bytegroup_decode(el_dtype dt, const void *payload, size_t payload_len,
                            void *dst, size_t count, el_error *err)
{
    size_t bytes;
    if (el_tensor_bytes(dt, count, &bytes, err) != 0)
        return -1;
    size_t size = el_dtype_size(dt);

    el_reader r = {payload, payload_len, 0};
    uint8_t planes;
    if (el_read_u8(&r, &planes, err) != 0)
        return el_fail_context(err, "bytegroup header");
    if (planes != size)
        return el_fail(err, "bytegroup payload has %u byte planes, but %s elements have %zu bytes",
                       planes, el_dtype_name(dt), size);

    uint64_t lengths[8];
    uint64_t total = 0;
    for (size_t k = 0; k < size; k++) {
        if (el_read_varint(&r, &lengths[k], err) != 0)
            return el_fail_context(err, "bytegroup plane %zu length", k);
        if (lengths[k] > payload_len - r.pos)
            return el_fail(err, "bytegroup plane %zu claims %llu bytes, more than the payload holds",
                           k, (unsigned long long)lengths[k]);
        total += lengths[k];
    }
    if (total != payload_len - r.pos)
        return el_fail(err, "bytegroup planes add up to %llu bytes, but %zu follow the header",
                       (unsigned long long)total, payload_len - r.pos);

    uint8_t *plane = malloc(count ? count : 1);
    if (plane == NULL)
        return el_fail(err, "out of memory for a byte plane of %zu bytes", count);

    int rc = 0;
    for (size_t k = 0; k < size && rc == 0; k++) {
        const uint8_t *frame = el_read_span(&r, (size_t)lengths[k], err);
        rc = el_zstd_decode_frame(frame, (size_t)lengths[k], plane, count, err);
        if (rc != 0)
            el_fail_context(err, "bytegroup plane %zu", k);
        else
            scatter_plane(plane, count, size, k, dst);
    }
    free(plane);
    return rc;
}

const el_codec el_codec_bytegroup = {
    .name = "bytegroup",
    .summary = "lossless: each byte plane through its own zstd frame",
    .lossless = 1,
    .supports = bytegroup_supports,
    .max_error = bytegroup_max_error,
    .encode = bytegroup_encode,
    .decode = bytegroup_decode,
};
