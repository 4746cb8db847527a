/* elf-ans: the exponent-less float of the `elf` codec with rANS in place of
 * zstd. Same code words, outliers and error: a weight with |w| < 1 becomes
 * sign << M | q with q = round(|w| * 2^M) (ties to even) and M the dtype's
 * mantissa width, and decodes to ±q * 2^-M, so |w - w'| <= 2^-(M+1).
 * NaN, Inf, |w| >= 1 and weights whose q rounds up to 2^M are outliers,
 * stored verbatim with their indices; their code word is 0.
 *
 * Payload:
 *   varint outlier count K; when K > 0: varint length of the index deltas,
 *   entropy block of the deltas (varints, the first is the index itself),
 *   entropy block of the K raw elements
 *   the code words as ceil((M + 1) / 8) little-endian byte planes, top
 *   plane first, each one entropy block. The plane under the top one uses
 *   the top plane as its context, because the top byte gives the magnitude
 *   of |w| and so how many of the next bits are leading zeros. */
#include "codec.h"
#include "elf_words.h"
#include "entropy.h"
#include "zstd_frame.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define ELF_ANS_MAX_PLANES 8

static int elf_ans_supports(el_dtype dt)
{
    return el_dtype_is_float(dt);
}

static double elf_ans_max_error(el_dtype dt, const el_codec_params *params)
{
    (void)params;
    if (!elf_ans_supports(dt))
        return -1.0;
    return ldexp(1.0, -(el_dtype_float_layout(dt).mantissa_bits + 1));
}

static size_t plane_count(int m)
{
    return (size_t)(m + 1 + 7) / 8;
}

static int write_outliers(const el_buf *deltas, const el_buf *values, size_t k, el_buf *out,
                          el_error *err)
{
    if (el_buf_append_varint(out, k, err) != 0)
        return -1;
    if (k == 0)
        return 0;
    if (el_buf_append_varint(out, deltas->len, err) != 0)
        return -1;
    if (el_entropy_encode(deltas->data, deltas->len, out, err) != 0)
        return -1;
    return el_entropy_encode(values->data, values->len, out, err);
}

/* Context of plane j of nplanes, 0 being the lowest byte. */
static void plane_context(const uint8_t *planes, size_t count, size_t nplanes, size_t j,
                         const uint8_t **ctx, unsigned *nctx)
{
    *ctx = NULL;
    *nctx = 1;
    if (nplanes >= 2 && j == nplanes - 2) {
        *ctx = planes + (nplanes - 1) * count;
        *nctx = 256;
    }
}

static int elf_ans_encode(el_dtype dt, const void *src, size_t count,
                          const el_codec_params *params, el_buf *out, el_error *err)
{
    (void)params;
    size_t bytes;
    if (el_tensor_bytes(dt, count, &bytes, err) != 0)
        return -1;
    if (!elf_ans_supports(dt))
        return el_fail(err, "elf-ans cannot encode %s tensors: use F64, F32, F16 or BF16",
                       el_dtype_name(dt));

    int m = el_dtype_float_layout(dt).mantissa_bits;
    size_t size = el_dtype_size(dt);
    size_t nplanes = plane_count(m);
    uint8_t *planes = malloc(count ? nplanes * count : 1);
    if (planes == NULL)
        return el_fail(err, "out of memory for %zu code word planes of %zu bytes", nplanes, count);

    el_buf deltas = {0};
    el_buf values = {0};
    el_buf found = {0};
    uint8_t *plane_at[ELF_ANS_MAX_PLANES];
    el_elf_plane_pointers(planes, nplanes, count, plane_at);
    int rc = el_elf_split_planes(dt, src, count, m, plane_at, &found, err);
    const size_t *index = (const size_t *)found.data;
    size_t k = found.len / sizeof *index;
    for (size_t j = 0; j < k && rc == 0; j++) {
        rc = el_buf_append_varint(&deltas, j ? index[j] - index[j - 1] : index[j], err);
        if (rc == 0)
            rc = el_buf_append(&values, (const uint8_t *)src + index[j] * size, size, err);
    }
    el_buf_free(&found);

    if (rc == 0)
        rc = write_outliers(&deltas, &values, k, out, err);
    for (size_t j = nplanes; j-- > 0 && rc == 0;) {
        const uint8_t *ctx;
        unsigned nctx;
        plane_context(planes, count, nplanes, j, &ctx, &nctx);
        rc = el_entropy_encode_ctx(planes + j * count, ctx, count, nctx, out, err);
    }
    free(planes);
    el_buf_free(&deltas);
    el_buf_free(&values);
    return rc;
}

/* Reads the outlier list into indices and values, which the caller frees
 * and writes over the decoded elements last. */
static int read_outliers(el_reader *r, size_t size, size_t count, size_t *k,
                         size_t **indices, uint8_t **values, el_error *err)
{
    uint64_t stored;
    *indices = NULL;
    *values = NULL;
    if (el_read_varint(r, &stored, err) != 0)
        return el_fail_context(err, "outlier count");
    if (stored > count)
        return el_fail(err, "outlier count %llu exceeds the %zu elements",
                       (unsigned long long)stored, count);
    *k = (size_t)stored;
    if (*k == 0)
        return 0;

    uint64_t deltas_len;
    if (el_read_varint(r, &deltas_len, err) != 0)
        return el_fail_context(err, "outlier index length");
    if (deltas_len < *k || deltas_len > 10 * (uint64_t)*k)
        return el_fail(err, "%llu bytes of outlier indices cannot hold %zu varints",
                       (unsigned long long)deltas_len, *k);

    uint8_t *deltas = malloc((size_t)deltas_len);
    *indices = malloc(*k * sizeof **indices);
    *values = malloc(*k * size);
    if (deltas == NULL || *indices == NULL || *values == NULL) {
        free(deltas);
        return el_fail(err, "out of memory for %zu outliers", *k);
    }

    int rc = el_entropy_decode(r, deltas, (size_t)deltas_len, err);
    el_reader dr = {deltas, (size_t)deltas_len, 0};
    size_t index = 0;
    for (size_t n = 0; n < *k && rc == 0; n++) {
        rc = el_read_index_delta(&dr, "outlier", n, index, count, &index, err);
        (*indices)[n] = index;
    }
    if (rc == 0 && dr.pos != dr.len)
        rc = el_fail(err, "outlier indices leave %zu bytes unread", dr.len - dr.pos);
    if (rc == 0)
        rc = el_entropy_decode(r, *values, *k * size, err);
    free(deltas);
    return rc == 0 ? 0 : el_fail_context(err, "outlier list");
}

static int elf_ans_decode(el_dtype dt, const void *payload, size_t payload_len,
                          void *dst, size_t count, el_error *err)
{
    size_t bytes;
    if (el_tensor_bytes(dt, count, &bytes, err) != 0)
        return -1;
    if (!elf_ans_supports(dt))
        return el_fail(err, "elf-ans cannot decode %s tensors: use F64, F32, F16 or BF16",
                       el_dtype_name(dt));

    int m = el_dtype_float_layout(dt).mantissa_bits;
    size_t size = el_dtype_size(dt);
    size_t nplanes = plane_count(m);
    el_reader r = {payload, payload_len, 0};
    size_t k = 0;
    size_t *indices;
    uint8_t *values;
    int rc = read_outliers(&r, size, count, &k, &indices, &values, err);

    uint8_t *planes = NULL;
    if (rc == 0) {
        planes = malloc(count ? nplanes * count : 1);
        if (planes == NULL)
            rc = el_fail(err, "out of memory for %zu code word planes of %zu bytes",
                         nplanes, count);
    }
    for (size_t j = nplanes; j-- > 0 && rc == 0;) {
        const uint8_t *ctx;
        unsigned nctx;
        plane_context(planes, count, nplanes, j, &ctx, &nctx);
        rc = el_entropy_decode_ctx(&r, ctx, planes + j * count, count, nctx, err);
        if (rc != 0)
            el_fail_context(err, "code word plane %zu", j);
    }
    if (rc == 0 && r.pos != payload_len)
        rc = el_fail(err, "%zu bytes follow the last code word plane", payload_len - r.pos);
    uint8_t *plane_at[ELF_ANS_MAX_PLANES];
    if (rc == 0) {
        el_elf_plane_pointers(planes, nplanes, count, plane_at);
        rc = el_elf_join_planes((const uint8_t *const *)plane_at, nplanes, count, dt, m, dst,
                                err);
    }
    for (size_t n = 0; n < k && rc == 0; n++)
        memcpy((uint8_t *)dst + indices[n] * size, values + n * size, size);

    free(planes);
    free(indices);
    free(values);
    return rc == 0 ? 0 : el_fail_context(err, "elf-ans payload");
}

const el_codec el_codec_elf_ans = {
    .name = "elf-ans",
    .summary = "ELF with rANS instead of zstd: same code words, error <= half an ulp of 1.0",
    .lossless = 0,
    .supports = elf_ans_supports,
    .max_error = elf_ans_max_error,
    .encode = elf_ans_encode,
    .decode = elf_ans_decode,
};
