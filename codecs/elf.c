/* ELF, the exponent-less float (Su et al., "Everything You Always Wanted to
 * Know About Storage Compressibility of Pre-Trained ML Models but Were Afraid
 * to Ask", VLDB 2024), and elf-m, its error-bounded form.
 *
 * A weight w with |w| < 1 keeps m fraction bits: q = round(|w| * 2^m), ties
 * to even, and the code word is sign << m | q (m + 1 bits). It decodes to
 * w' = ±q * 2^-m, so |w - w'| <= 2^-(m+1). With m equal to the dtype's own
 * mantissa width M, q is exactly the mantissa field of y = |w| + 1 rounded in
 * the dtype's arithmetic, as the paper describes: y lies in [1, 2), where the
 * grid spacing is 2^-M, and both round the same value to the same grid with
 * the same tie rule. NaN, infinities, |w| >= 1 and the weights where q
 * rounds up to 2^m (|w| + 1 would round to 2.0) are outliers, stored
 * verbatim with their indices. Outlier slots get code word 0.
 *
 * "elf" layout: one zstd frame holding every code word bit-packed MSB first,
 * then the outlier list.
 * "elf-m" layout: u8 m, one varint frame length per code byte plane and one
 * for the outlier list, then the frames. The code words are split into
 * ceil((m + 1) / 8) little-endian byte planes, each its own zstd frame.
 * Outlier list: varint count, varint index deltas (the first is the index
 * itself), then the raw little-endian elements. */
#include "codec.h"
#include "elf_words.h"
#include "zstd_frame.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>


#define ELF_MAX_PLANES 8

/* ---- bit widths and bounds ---- */

int el_elf_max_bits(el_dtype dt)
{
    if (!el_dtype_is_float(dt))
        return -1;

    /* Past bias - 1 + M the grid 2^-m is finer than the smallest subnormal
     * step, and a code word wider than the element saves nothing. */
    el_float_layout f = el_dtype_float_layout(dt);
    int subnormal_step_bits = f.bias - 1 + f.mantissa_bits;
    int width_cap = 8 * (int)el_dtype_size(dt) - 2;
    return subnormal_step_bits < width_cap ? subnormal_step_bits : width_cap;
}

int el_elf_bits_for_bound(el_dtype dt, double abs_bound)
{
    int max_bits = el_elf_max_bits(dt);
    if (max_bits < 0 || !(abs_bound > 0))
        return -1;

    for (int m = 0; m <= max_bits; m++) {
        if (ldexp(1.0, -(m + 1)) <= abs_bound)
            return m;
    }
    return -1;
}

static int elf_supports(el_dtype dt)
{
    return el_dtype_is_float(dt);
}

static double elf_max_error(el_dtype dt, const el_codec_params *params)
{
    (void)params;
    if (!elf_supports(dt))
        return -1.0;
    return ldexp(1.0, -(el_dtype_float_layout(dt).mantissa_bits + 1));
}

static double elf_m_max_error(el_dtype dt, const el_codec_params *params)
{
    int m = el_elf_bits_for_bound(dt, params->abs_bound);
    return m < 0 ? -1.0 : ldexp(1.0, -(m + 1));
}

/* ---- outlier list ---- */

typedef struct outlier_list {
    el_buf deltas;
    el_buf values;
    size_t count;
    size_t last_index;
} outlier_list;

static int outliers_add(outlier_list *o, const uint8_t *elem, size_t size, size_t index,
                        el_error *err)
{
    size_t delta = o->count ? index - o->last_index : index;
    if (el_buf_append_varint(&o->deltas, delta, err) != 0)
        return -1;
    if (el_buf_append(&o->values, elem, size, err) != 0)
        return -1;
    o->count++;
    o->last_index = index;
    return 0;
}

static int outliers_write(const outlier_list *o, el_buf *out, el_error *err)
{
    if (el_buf_append_varint(out, o->count, err) != 0)
        return -1;
    if (el_buf_append(out, o->deltas.data, o->deltas.len, err) != 0)
        return -1;
    return el_buf_append(out, o->values.data, o->values.len, err);
}

static void outliers_free(outlier_list *o)
{
    el_buf_free(&o->deltas);
    el_buf_free(&o->values);
}

/* Upper bound of an encoded outlier list for count elements, saturating at
 * SIZE_MAX: a 10-byte varint per index plus the count, and the raw values. */
static size_t outliers_max_bytes(size_t count, size_t size)
{
    size_t per = 10 + size;
    if (count > (SIZE_MAX - 10) / per)
        return SIZE_MAX;
    return 10 + count * per;
}

/* Parses an outlier list that must fill the rest of r, and writes each raw
 * element into dst. */
static int outliers_apply(el_reader *r, el_dtype dt, void *dst, size_t count, el_error *err)
{
    size_t size = el_dtype_size(dt);
    uint64_t k;
    if (el_read_varint(r, &k, err) != 0)
        return el_fail_context(err, "outlier count");
    if (k > count)
        return el_fail(err, "outlier count %llu exceeds the %zu elements",
                       (unsigned long long)k, count);

    /* The first pass validates the indices and finds where the values
     * start. The second copies each value to its index. */
    el_reader idx = *r;
    size_t index = 0;
    for (size_t n = 0; n < k; n++) {
        if (el_read_index_delta(r, "outlier", n, index, count, &index, err) != 0)
            return -1;
    }
    if (r->len - r->pos != (size_t)k * size)
        return el_fail(err, "outlier values take %zu bytes, expected %llu x %zu",
                       r->len - r->pos, (unsigned long long)k, size);

    index = 0;
    for (size_t n = 0; n < k; n++) {
        el_read_index_delta(&idx, "outlier", n, index, count, &index, err);
        const uint8_t *value = el_read_span(r, size, err);
        memcpy((uint8_t *)dst + index * size, value, size);
    }
    return 0;
}

/* ---- elf: bit-packed code words ---- */

typedef struct bit_writer {
    uint8_t *p;
    uint64_t acc;
    int n; /* pending bits in the low end of acc, always < 8 between calls */
} bit_writer;

static void bits_put(bit_writer *w, uint64_t code, int width)
{
    w->acc = w->acc << width | code;
    w->n += width;
    while (w->n >= 8) {
        w->n -= 8;
        *w->p++ = (uint8_t)(w->acc >> w->n);
    }
}

static void bits_flush(bit_writer *w)
{
    if (w->n > 0)
        *w->p++ = (uint8_t)(w->acc << (8 - w->n));
    w->n = 0;
}

typedef struct bit_reader {
    const uint8_t *p;
    uint64_t acc;
    int n;
} bit_reader;

static uint64_t bits_get(bit_reader *r, int width)
{
    while (r->n < width) {
        r->acc = r->acc << 8 | *r->p++;
        r->n += 8;
    }
    r->n -= width;
    return r->acc >> r->n & ((UINT64_C(1) << width) - 1);
}

/* Bytes of count code words of width bits, without overflowing the product
 * count * width. */
static size_t packed_bytes(size_t count, int width)
{
    return count / 8 * (size_t)width + (count % 8 * (size_t)width + 7) / 8;
}

/* Appends n code words of `width` bits, MSB first. When the width is whole
 * bytes (24 for F32, 8 for BF16) and no bits are pending, the words are
 * written byte by byte without the bit writer. */
static void pack_words(bit_writer *w, const uint64_t *codes, size_t n, int width)
{
    if (width % 8 == 0 && w->n == 0) {
        const int nbytes = width / 8;
        for (size_t i = 0; i < n; i++)
            for (int b = nbytes - 1; b >= 0; b--)
                *w->p++ = (uint8_t)(codes[i] >> (8 * b));
        return;
    }
    for (size_t i = 0; i < n; i++)
        bits_put(w, codes[i], width);
}

static int elf_encode(el_dtype dt, const void *src, size_t count,
                      const el_codec_params *params, el_buf *out, el_error *err)
{
    size_t bytes;
    if (el_tensor_bytes(dt, count, &bytes, err) != 0)
        return -1;
    if (!elf_supports(dt))
        return el_fail(err, "elf cannot encode %s tensors: use F64, F32, F16 or BF16",
                       el_dtype_name(dt));

    size_t size = el_dtype_size(dt);
    int m = el_dtype_float_layout(dt).mantissa_bits;
    size_t packed_len = packed_bytes(count, m + 1);

    el_buf content = {0};
    uint64_t *codes = malloc(EL_ELF_BLOCK * sizeof *codes);
    size_t *found = malloc(EL_ELF_BLOCK * sizeof *found);
    if (codes == NULL || found == NULL || el_buf_reserve(&content, packed_len, err) != 0) {
        free(codes);
        free(found);
        el_buf_free(&content);
        return el_fail(err, "out of memory for %zu bytes of elf code words", packed_len);
    }

    bit_writer bw = {content.data, 0, 0};
    outlier_list outliers = {0};
    el_elf_words_ctx words;
    el_elf_words_begin(&words, dt, m, count);
    int rc = 0;
    for (size_t i = 0; i < count && rc == 0; i += EL_ELF_BLOCK) {
        size_t n = count - i < EL_ELF_BLOCK ? count - i : EL_ELF_BLOCK;
        const uint8_t *block = (const uint8_t *)src + i * size;
        size_t k = el_elf_words(&words, block, n, codes, found);
        for (size_t j = 0; j < k && rc == 0; j++)
            rc = outliers_add(&outliers, block + found[j] * size, size, i + found[j], err);
        pack_words(&bw, codes, n, m + 1);
    }
    bits_flush(&bw);
    content.len = packed_len;
    el_elf_words_end(&words);
    free(codes);
    free(found);

    if (rc == 0)
        rc = outliers_write(&outliers, &content, err);
    if (rc == 0)
        rc = el_zstd_append_frame(out, content.data, content.len, params->zstd_level, err);
    outliers_free(&outliers);
    el_buf_free(&content);
    return rc;
}

/* Writes every packed code word to dst. The m + 1 bit width keeps q below
 * 2^m, so only the padding at the end needs checking. */
static int elf_unpack(const uint8_t *packed, el_dtype dt, void *dst, size_t count, int m,
                      el_error *err)
{
    uint64_t *codes = malloc(EL_ELF_BLOCK * sizeof *codes);
    if (codes == NULL)
        return el_fail(err, "out of memory for a block of elf code words");

    const int width = m + 1;
    bit_reader br = {packed, 0, 0};
    for (size_t i = 0; i < count; i += EL_ELF_BLOCK) {
        size_t n = count - i < EL_ELF_BLOCK ? count - i : EL_ELF_BLOCK;
        if (width % 8 == 0) {
            for (size_t j = 0; j < n; j++) {
                uint64_t code = 0;
                for (int b = 0; b < width / 8; b++)
                    code = code << 8 | *br.p++;
                codes[j] = code;
            }
        } else {
            for (size_t j = 0; j < n; j++)
                codes[j] = bits_get(&br, width);
        }
        el_elf_values(dt, codes, n, m, dst, i);
    }
    free(codes);

    if (br.n > 0 && (br.acc & ((UINT64_C(1) << br.n) - 1)) != 0)
        return el_fail(err, "elf code words end with %d nonzero padding bits", br.n);
    return 0;
}

static int elf_decode(el_dtype dt, const void *payload, size_t payload_len,
                      void *dst, size_t count, el_error *err)
{
    size_t bytes;
    if (el_tensor_bytes(dt, count, &bytes, err) != 0)
        return -1;
    if (!elf_supports(dt))
        return el_fail(err, "elf cannot decode %s tensors: use F64, F32, F16 or BF16",
                       el_dtype_name(dt));

    int m = el_dtype_float_layout(dt).mantissa_bits;
    size_t packed_len = packed_bytes(count, m + 1);
    size_t list_max = outliers_max_bytes(count, el_dtype_size(dt));
    size_t max_len = list_max > SIZE_MAX - packed_len ? SIZE_MAX : packed_len + list_max;

    size_t content_len;
    if (el_zstd_frame_content_size(payload, payload_len, max_len, &content_len, err) != 0)
        return el_fail_context(err, "elf payload");
    if (content_len < packed_len)
        return el_fail(err, "elf payload contains %zu bytes, fewer than the %zu bytes of code words",
                       content_len, packed_len);

    uint8_t *content = malloc(content_len ? content_len : 1);
    if (content == NULL)
        return el_fail(err, "out of memory decoding %zu bytes of elf payload", content_len);

    int rc = el_zstd_decode_frame(payload, payload_len, content, content_len, err);
    if (rc == 0)
        rc = elf_unpack(content, dt, dst, count, m, err);
    if (rc == 0) {
        el_reader r = {content + packed_len, content_len - packed_len, 0};
        rc = outliers_apply(&r, dt, dst, count, err);
    }
    free(content);
    return rc == 0 ? 0 : el_fail_context(err, "elf payload");
}

/* ---- elf-m: code words in byte planes ---- */

static int elf_m_bits(el_dtype dt, const el_codec_params *params, int *m, el_error *err)
{
    if (!elf_supports(dt))
        return el_fail(err, "elf-m cannot handle %s tensors: use F64, F32, F16 or BF16",
                       el_dtype_name(dt));

    *m = el_elf_bits_for_bound(dt, params->abs_bound);
    if (*m < 0) {
        int max_bits = el_elf_max_bits(dt);
        return el_fail(err, "abs bound %g is invalid for elf-m on %s: use a bound of at least 2^-%d (%g)",
                       params->abs_bound, el_dtype_name(dt), max_bits + 1,
                       ldexp(1.0, -(max_bits + 1)));
    }
    return 0;
}

static size_t plane_count(int m)
{
    return (size_t)(m + 1 + 7) / 8;
}

/* Fills the code word planes and collects the outliers. */
static int elf_m_split(el_dtype dt, const uint8_t *src, size_t count, int m, uint8_t *planes,
                       outlier_list *outliers, el_error *err)
{
    size_t size = el_dtype_size(dt);
    el_buf found = {0};
    int rc = el_elf_split_planes(dt, src, count, m, planes, &found, err);
    const size_t *index = (const size_t *)found.data;
    for (size_t j = 0; j < found.len / sizeof *index && rc == 0; j++)
        rc = outliers_add(outliers, src + index[j] * size, size, index[j], err);
    el_buf_free(&found);
    return rc;
}

static int elf_m_encode(el_dtype dt, const void *src, size_t count,
                        const el_codec_params *params, el_buf *out, el_error *err)
{
    size_t bytes;
    int m = 0;
    if (el_tensor_bytes(dt, count, &bytes, err) != 0 || elf_m_bits(dt, params, &m, err) != 0)
        return -1;

    /* nplanes <= element size, because m + 1 <= 8 * size - 1. */
    size_t nplanes = plane_count(m);
    uint8_t *planes = malloc(bytes ? nplanes * count : 1);
    if (planes == NULL)
        return el_fail(err, "out of memory for %zu code word planes of %zu bytes", nplanes, count);

    outlier_list outliers = {0};
    el_buf list = {0};
    el_buf frames = {0};
    size_t lengths[ELF_MAX_PLANES + 1];
    int rc = elf_m_split(dt, src, count, m, planes, &outliers, err);
    for (size_t j = 0; j < nplanes && rc == 0; j++) {
        size_t before = frames.len;
        rc = el_zstd_append_frame(&frames, planes + j * count, count, params->zstd_level, err);
        lengths[j] = frames.len - before;
    }
    if (rc == 0)
        rc = outliers_write(&outliers, &list, err);
    if (rc == 0) {
        size_t before = frames.len;
        rc = el_zstd_append_frame(&frames, list.data, list.len, params->zstd_level, err);
        lengths[nplanes] = frames.len - before;
    }

    if (rc == 0)
        rc = el_buf_append_u8(out, (uint8_t)m, err);
    for (size_t j = 0; j <= nplanes && rc == 0; j++)
        rc = el_buf_append_varint(out, lengths[j], err);
    if (rc == 0)
        rc = el_buf_append(out, frames.data, frames.len, err);

    free(planes);
    outliers_free(&outliers);
    el_buf_free(&list);
    el_buf_free(&frames);
    return rc;
}

/* Reads m and the frame lengths, checking that the frames fill the rest of
 * the payload exactly. */
static int elf_m_read_header(el_reader *r, el_dtype dt, int *m, uint64_t *lengths,
                             el_error *err)
{
    uint8_t stored;
    if (el_read_u8(r, &stored, err) != 0)
        return -1;
    int max_bits = el_elf_max_bits(dt);
    if (stored > max_bits)
        return el_fail(err, "m = %u is out of range for %s: at most %d", stored,
                       el_dtype_name(dt), max_bits);
    *m = stored;

    size_t nframes = plane_count(*m) + 1;
    size_t remaining = r->len - r->pos;
    uint64_t total = 0;
    for (size_t j = 0; j < nframes; j++) {
        if (el_read_varint(r, &lengths[j], err) != 0)
            return el_fail_context(err, "frame %zu length", j);
        if (lengths[j] > remaining)
            return el_fail(err, "frame %zu claims %llu bytes, more than the payload holds",
                           j, (unsigned long long)lengths[j]);
        total += lengths[j];
    }
    if (total != r->len - r->pos)
        return el_fail(err, "frames add up to %llu bytes, but %zu follow the header",
                       (unsigned long long)total, r->len - r->pos);
    return 0;
}

static int elf_m_decode_outliers(const uint8_t *frame, size_t frame_len, el_dtype dt,
                                 void *dst, size_t count, el_error *err)
{
    size_t max_len = outliers_max_bytes(count, el_dtype_size(dt));
    size_t list_len;
    if (el_zstd_frame_content_size(frame, frame_len, max_len, &list_len, err) != 0)
        return el_fail_context(err, "outlier list");

    uint8_t *list = malloc(list_len ? list_len : 1);
    if (list == NULL)
        return el_fail(err, "out of memory for an outlier list of %zu bytes", list_len);

    int rc = el_zstd_decode_frame(frame, frame_len, list, list_len, err);
    if (rc == 0) {
        el_reader r = {list, list_len, 0};
        rc = outliers_apply(&r, dt, dst, count, err);
    }
    free(list);
    return rc == 0 ? 0 : el_fail_context(err, "outlier list");
}

static int elf_m_decode(el_dtype dt, const void *payload, size_t payload_len,
                        void *dst, size_t count, el_error *err)
{
    size_t bytes;
    if (el_tensor_bytes(dt, count, &bytes, err) != 0)
        return -1;
    if (!elf_supports(dt))
        return el_fail(err, "elf-m cannot decode %s tensors: use F64, F32, F16 or BF16",
                       el_dtype_name(dt));

    el_reader r = {payload, payload_len, 0};
    int m = 0;
    uint64_t lengths[ELF_MAX_PLANES + 1];
    if (elf_m_read_header(&r, dt, &m, lengths, err) != 0)
        return el_fail_context(err, "elf-m header");

    size_t nplanes = plane_count(m);
    uint8_t *planes = malloc(bytes ? nplanes * count : 1);
    if (planes == NULL)
        return el_fail(err, "out of memory for %zu code word planes of %zu bytes", nplanes, count);

    int rc = 0;
    for (size_t j = 0; j < nplanes && rc == 0; j++) {
        const uint8_t *frame = el_read_span(&r, (size_t)lengths[j], err);
        rc = el_zstd_decode_frame(frame, (size_t)lengths[j], planes + j * count, count, err);
        if (rc != 0)
            el_fail_context(err, "code word plane %zu", j);
    }
    if (rc == 0)
        rc = el_elf_join_planes(planes, nplanes, count, dt, m, dst, err);
    if (rc == 0) {
        const uint8_t *frame = el_read_span(&r, (size_t)lengths[nplanes], err);
        rc = elf_m_decode_outliers(frame, (size_t)lengths[nplanes], dt, dst, count, err);
    }
    free(planes);
    return rc == 0 ? 0 : el_fail_context(err, "elf-m payload");
}

const el_codec el_codec_elf = {
    .name = "elf",
    .summary = "ELF: weights in (-1, 1) lose their exponent, error <= half an ulp of 1.0",
    .lossless = 0,
    .supports = elf_supports,
    .max_error = elf_max_error,
    .encode = elf_encode,
    .decode = elf_decode,
};

const el_codec el_codec_elf_m = {
    .name = "elf-m",
    .summary = "error-bounded ELF: keeps the fewest mantissa bits that meet abs:E",
    .lossless = 0,
    .supports = elf_supports,
    .max_error = elf_m_max_error,
    .encode = elf_m_encode,
    .decode = elf_m_decode,
};
