/* Byte grouping: plane k contains byte k of every little-endian element.
 * The sign and exponent bytes of floats take few values and compress well
 * once they no longer sit between near-random mantissa bytes.
 *
 * Each plane gets one of three modes, chosen from a sample of the plane:
 *   stored   the bytes as they are. This is the mode when the sample's
 *            order-0 entropy is above STORE_BITS, so that coding would save
 *            under 1.3% of the plane, as for the low mantissa bytes of
 *            floats.
 *   entropy  order-0 rANS (entropy.c), for the other planes.
 *   zstd     a zstd frame. It is tried as well when at least REPEAT_MIN of
 *            the probes of repeat_share repeat (runs, tables of repeated
 *            rows), and kept when it is smaller than the rANS block. On
 *            such planes zstd's matches beat order-0 coding by up to half
 *            (measured on real models that contain such tables).
 * Tensors under SAMPLE_MIN elements skip the sample: every plane goes
 * through rANS, which stores it when coding would not make it smaller.
 *
 * Payload:
 *   u8 plane count P (the element size)
 *   P mode bytes, plane 0 first: 0 = stored, 1 = entropy block, 2 = zstd
 *   the stored planes, count bytes each, in plane order
 *   the other planes in plane order: an entropy block (self-delimiting),
 *   or a varint frame length followed by the zstd frame.
 * Stored planes come first so that the encoder gathers them straight into
 * the payload and the decoder reads them where they are. */
#include "codec.h"
#include "entropy.h"
#include "zstd_frame.h"

#include <stdlib.h>
#include <string.h>

#define MAX_PLANES 8

#define PLANE_STORED 0
#define PLANE_ENTROPY 1
#define PLANE_ZSTD 2
/* Encoder only: rANS, and zstd in its place if the frame is smaller. */
#define PLANE_TRY_ZSTD 3

/* The same limit as el_zstd_append_frame, checked up front because a
 * tensor may end up with no zstd plane at all. */
#define ZSTD_MAX_LEVEL 19
#define ZSTD_DEFAULT_LEVEL 3

#define SAMPLE_MIN 1024
#define SAMPLE_BLOCKS 8
#define SAMPLE_BLOCK 1024 /* elements */
#define PROBES 2048
#define PROBE_STRIDE_MIN 8
#define PROBE_HASH_BITS 11
#define PROBE_MATCH 8

/* Order-0 entropy in bits per byte above which a plane is stored. */
#define STORE_BITS 7.9
/* Share of repeated probes from which zstd is tried. */
#define REPEAT_MIN 0.04

/* Elements per step of the gather and scatter loops: a constant trip count
 * lets gcc vectorize the inner loop at -O2. */
#define CHUNK 32

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

/* ---- gather and scatter ---- */

/* The two- and four-byte cases take their planes as restrict parameters,
 * which gcc needs before it vectorizes the inner loops. Each returns the
 * number of elements it handled, a multiple of CHUNK. */
static size_t gather2(const uint8_t *restrict src, size_t count, uint8_t *restrict p0,
                      uint8_t *restrict p1)
{
    size_t i = 0;
    for (; i + CHUNK <= count; i += CHUNK) {
        for (size_t j = 0; j < CHUNK; j++) {
            p0[i + j] = src[2 * (i + j)];
            p1[i + j] = src[2 * (i + j) + 1];
        }
    }
    return i;
}

static size_t gather4(const uint8_t *restrict src, size_t count, uint8_t *restrict p0,
                      uint8_t *restrict p1, uint8_t *restrict p2, uint8_t *restrict p3)
{
    size_t i = 0;
    for (; i + CHUNK <= count; i += CHUNK) {
        for (size_t j = 0; j < CHUNK; j++) {
            p0[i + j] = src[4 * (i + j)];
            p1[i + j] = src[4 * (i + j) + 1];
            p2[i + j] = src[4 * (i + j) + 2];
            p3[i + j] = src[4 * (i + j) + 3];
        }
    }
    return i;
}

static size_t scatter2(const uint8_t *restrict p0, const uint8_t *restrict p1, size_t count,
                       uint8_t *restrict dst)
{
    size_t i = 0;
    for (; i + CHUNK <= count; i += CHUNK) {
        for (size_t j = 0; j < CHUNK; j++) {
            dst[2 * (i + j)] = p0[i + j];
            dst[2 * (i + j) + 1] = p1[i + j];
        }
    }
    return i;
}

static size_t scatter4(const uint8_t *restrict p0, const uint8_t *restrict p1,
                       const uint8_t *restrict p2, const uint8_t *restrict p3, size_t count,
                       uint8_t *restrict dst)
{
    size_t i = 0;
    for (; i + CHUNK <= count; i += CHUNK) {
        for (size_t j = 0; j < CHUNK; j++) {
            dst[4 * (i + j)] = p0[i + j];
            dst[4 * (i + j) + 1] = p1[i + j];
            dst[4 * (i + j) + 2] = p2[i + j];
            dst[4 * (i + j) + 3] = p3[i + j];
        }
    }
    return i;
}

/* Copies byte k of each of the count elements at src to planes[k]. */
static void gather_planes(const uint8_t *src, size_t count, size_t size, uint8_t *const *planes)
{
    size_t i = 0;
    if (size == 1) {
        memcpy(planes[0], src, count);
        return;
    }
    if (size == 2)
        i = gather2(src, count, planes[0], planes[1]);
    else if (size == 4)
        i = gather4(src, count, planes[0], planes[1], planes[2], planes[3]);
    for (; i < count; i++) {
        for (size_t k = 0; k < size; k++)
            planes[k][i] = src[i * size + k];
    }
}

/* Writes planes[k][i] to byte k of element i of dst. */
static void scatter_planes(const uint8_t *const *planes, size_t count, size_t size, uint8_t *dst)
{
    size_t i = 0;
    if (size == 1) {
        memcpy(dst, planes[0], count);
        return;
    }
    if (size == 2)
        i = scatter2(planes[0], planes[1], count, dst);
    else if (size == 4)
        i = scatter4(planes[0], planes[1], planes[2], planes[3], count, dst);
    for (; i < count; i++) {
        for (size_t k = 0; k < size; k++)
            dst[i * size + k] = planes[k][i];
    }
}

/* ---- plane modes ---- */

/* Share of probes in plane k that repeat an earlier probe. A probe is the
 * PROBE_MATCH bytes of the plane from every stride-th element, where
 * stride is a power of two of at least PROBE_STRIDE_MIN chosen to give at
 * most PROBES probes. A run, a periodic stretch or a copy of earlier rows
 * at a distance that is a multiple of stride repeats its probes, while
 * order-0 data of a few bits per byte almost never does. Only the last
 * probe of each hash is kept.
 * NOTE: repeats at a distance that is not a multiple of stride go unseen.
 * Samples that join blocks from far apart in a tensor (el_predict_gather)
 * shift copied rows to such distances, so a prediction can miss the zstd
 * gain that the whole tensor gets. */
static double repeat_share(const uint8_t *src, size_t count, size_t size, size_t k)
{
    size_t stride = PROBE_STRIDE_MIN;
    while (count / stride > PROBES)
        stride *= 2;

    uint64_t seen[1 << PROBE_HASH_BITS];
    uint8_t used[1 << PROBE_HASH_BITS];
    memset(used, 0, sizeof used);
    size_t probes = 0;
    size_t repeats = 0;
    for (size_t j = 0; j + PROBE_MATCH <= count; j += stride) {
        uint64_t probe = 0;
        for (size_t t = 0; t < PROBE_MATCH; t++)
            probe |= (uint64_t)src[(j + t) * size + k] << (8 * t);
        size_t h = (size_t)((probe * UINT64_C(0x9E3779B97F4A7C15)) >> (64 - PROBE_HASH_BITS));
        repeats += used[h] && seen[h] == probe;
        seen[h] = probe;
        used[h] = 1;
        probes++;
    }
    return probes ? (double)repeats / (double)probes : 0.0;
}

/* Picks the mode of each plane: its order-0 entropy comes from up to
 * SAMPLE_BLOCKS evenly spaced blocks of SAMPLE_BLOCK elements, and its
 * repeats from repeat_share. */
static void choose_modes(const uint8_t *src, size_t count, size_t size, uint8_t *modes)
{
    if (count < SAMPLE_MIN) {
        memset(modes, PLANE_ENTROPY, size);
        return;
    }

    size_t block = count < SAMPLE_BLOCK ? count : SAMPLE_BLOCK;
    size_t blocks = count / block < SAMPLE_BLOCKS ? count / block : SAMPLE_BLOCKS;
    for (size_t k = 0; k < size; k++) {
        uint32_t total[256] = {0};
        for (size_t j = 0; j < blocks; j++) {
            size_t first = blocks > 1 ? j * (count - block) / (blocks - 1) : 0;
            uint8_t bytes[SAMPLE_BLOCK];
            for (size_t i = 0; i < block; i++)
                bytes[i] = src[(first + i) * size + k];

            uint32_t count_in_block[256];
            el_entropy_histogram(bytes, block, count_in_block);
            for (int s = 0; s < 256; s++)
                total[s] += count_in_block[s];
        }

        if (repeat_share(src, count, size, k) >= REPEAT_MIN)
            modes[k] = PLANE_TRY_ZSTD;
        else if (el_entropy_of_histogram(total, (uint64_t)blocks * block) > STORE_BITS)
            modes[k] = PLANE_STORED;
        else
            modes[k] = PLANE_ENTROPY;
    }
}

/* ---- encoding ---- */

/* Appends plane as an entropy block, or as a zstd frame when try_zstd is
 * set and the frame is smaller. *mode receives the mode written. */
static int encode_plane(const uint8_t *plane, size_t count, int try_zstd, int level,
                        el_buf *out, uint8_t *mode, el_error *err)
{
    size_t start = out->len;
    *mode = PLANE_ENTROPY;
    if (el_entropy_encode(plane, count, out, err) != 0)
        return -1;
    if (!try_zstd)
        return 0;

    el_buf frame = {0};
    int rc = el_zstd_append_frame(&frame, plane, count, level, err);
    size_t rans_len = out->len - start;
    if (rc == 0 && el_varint_size(frame.len) + frame.len < rans_len) {
        out->len = start;
        rc = el_buf_append_varint(out, frame.len, err);
        if (rc == 0)
            rc = el_buf_append(out, frame.data, frame.len, err);
        *mode = PLANE_ZSTD;
    }
    el_buf_free(&frame);
    return rc;
}

static int bytegroup_encode(el_dtype dt, const void *src, size_t count,
                            const el_codec_params *params, el_buf *out, el_error *err)
{
    size_t bytes;
    if (el_tensor_bytes(dt, count, &bytes, err) != 0)
        return -1;
    int level = params->zstd_level;
    if (level < 0 || level > ZSTD_MAX_LEVEL)
        return el_fail(err, "zstd level %d is invalid: use 1 to %d, or 0 for the default %d",
                       level, ZSTD_MAX_LEVEL, ZSTD_DEFAULT_LEVEL);
    size_t size = el_dtype_size(dt);
    if (size > MAX_PLANES)
        return el_fail(err, "%s elements of %zu bytes exceed the %d byte planes bytegroup codes",
                       el_dtype_name(dt), size, MAX_PLANES);

    uint8_t modes[MAX_PLANES];
    choose_modes(src, count, size, modes);
    size_t stored = 0;
    for (size_t k = 0; k < size; k++)
        stored += modes[k] == PLANE_STORED;

    /* The header and the stored planes are written in place, and the
     * other planes are gathered into scratch first. Reserving the largest
     * payload up front saves copies as it grows: a plane takes at most
     * count + 1 bytes, and the entropy coder reserves 10 bytes more than
     * it keeps. */
    size_t header = out->len;
    uint8_t *scratch = NULL;
    if (size - stored > 0) {
        scratch = malloc((size - stored) * count + 1);
        if (scratch == NULL)
            return el_fail(err, "out of memory for %zu byte planes of %zu bytes",
                           size - stored, count);
    }
    size_t largest = bytes + 2 * size + 11;
    if (largest < bytes) {
        free(scratch);
        return el_fail(err, "bytegroup payload of %zu bytes is too large to address", bytes);
    }
    if (el_buf_reserve(out, largest, err) != 0) {
        free(scratch);
        return -1;
    }

    uint8_t *planes[MAX_PLANES];
    uint8_t *next_stored = out->data + header + 1 + size;
    uint8_t *next_scratch = scratch;
    for (size_t k = 0; k < size; k++) {
        uint8_t **next = modes[k] == PLANE_STORED ? &next_stored : &next_scratch;
        planes[k] = *next;
        *next += count;
    }
    gather_planes(src, count, size, planes);

    out->data[header] = (uint8_t)size;
    out->len = header + 1 + size + stored * count;

    int rc = 0;
    for (size_t k = 0; k < size && rc == 0; k++) {
        if (modes[k] == PLANE_STORED)
            continue;
        rc = encode_plane(planes[k], count, modes[k] == PLANE_TRY_ZSTD, level, out, &modes[k],
                          err);
        if (rc != 0)
            el_fail_context(err, "bytegroup plane %zu", k);
    }
    free(scratch);
    if (rc != 0)
        return -1;

    memcpy(out->data + header + 1, modes, size);
    return 0;
}

/* ---- decoding ---- */

/* Decodes the non-stored plane k from r into plane. */
static int decode_plane(el_reader *r, uint8_t mode, size_t k, uint8_t *plane, size_t count,
                        el_error *err)
{
    if (mode == PLANE_ENTROPY) {
        if (el_entropy_decode(r, plane, count, err) != 0)
            return el_fail_context(err, "bytegroup plane %zu", k);
        return 0;
    }

    uint64_t len;
    if (el_read_varint(r, &len, err) != 0)
        return el_fail_context(err, "bytegroup plane %zu frame length", k);
    if (len > r->len - r->pos)
        return el_fail(err, "bytegroup plane %zu claims a %llu-byte zstd frame, but %zu bytes remain",
                       k, (unsigned long long)len, r->len - r->pos);
    const uint8_t *frame = el_read_span(r, (size_t)len, err);
    if (el_zstd_decode_frame(frame, (size_t)len, plane, count, err) != 0)
        return el_fail_context(err, "bytegroup plane %zu", k);
    return 0;
}

static int bytegroup_decode(el_dtype dt, const void *payload, size_t payload_len,
                            void *dst, size_t count, el_error *err)
{
    size_t bytes;
    if (el_tensor_bytes(dt, count, &bytes, err) != 0)
        return -1;
    size_t size = el_dtype_size(dt);

    el_reader r = {payload, payload_len, 0};
    uint8_t planes_in_payload;
    if (el_read_u8(&r, &planes_in_payload, err) != 0)
        return el_fail_context(err, "bytegroup header");
    if (planes_in_payload != size)
        return el_fail(err, "bytegroup payload has %u byte planes, but %s elements have %zu bytes",
                       planes_in_payload, el_dtype_name(dt), size);

    const uint8_t *modes = el_read_span(&r, size, err);
    if (modes == NULL)
        return el_fail_context(err, "bytegroup plane modes");
    size_t stored = 0;
    for (size_t k = 0; k < size; k++) {
        if (modes[k] > PLANE_ZSTD)
            return el_fail(err, "bytegroup plane %zu has mode %u: expected 0 (stored), "
                           "1 (entropy) or 2 (zstd)", k, modes[k]);
        stored += modes[k] == PLANE_STORED;
    }

    const uint8_t *stored_bytes = el_read_span(&r, stored * count, err);
    if (stored_bytes == NULL)
        return el_fail_context(err, "bytegroup stored planes of %zu bytes each", count);

    uint8_t *scratch = NULL;
    if (size - stored > 0) {
        scratch = malloc((size - stored) * count + 1);
        if (scratch == NULL)
            return el_fail(err, "out of memory for %zu byte planes of %zu bytes",
                           size - stored, count);
    }

    const uint8_t *planes[MAX_PLANES];
    uint8_t *next_scratch = scratch;
    int rc = 0;
    for (size_t k = 0; k < size && rc == 0; k++) {
        if (modes[k] == PLANE_STORED) {
            planes[k] = stored_bytes;
            stored_bytes += count;
            continue;
        }
        rc = decode_plane(&r, modes[k], k, next_scratch, count, err);
        planes[k] = next_scratch;
        next_scratch += count;
    }
    if (rc == 0 && r.pos != payload_len)
        rc = el_fail(err, "bytegroup payload has %zu bytes after its last plane",
                     payload_len - r.pos);
    if (rc == 0)
        scatter_planes(planes, count, size, dst);
    free(scratch);
    return rc;
}

const el_codec el_codec_bytegroup = {
    .name = "bytegroup",
    .summary = "lossless: byte planes, each stored, rANS-coded or zstd-compressed",
    .lossless = 1,
    .supports = bytegroup_supports,
    .max_error = bytegroup_max_error,
    .encode = bytegroup_encode,
    .decode = bytegroup_decode,
};
