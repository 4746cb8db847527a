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
 * Layout of both: the code words are split into ceil((m + 1) / 8)
 * little-endian byte planes. Planes that zstd cannot shrink are stored as
 * they are, the others are zstd frames.
 *   u8 m, with bit 7 set when a plane is stored;
 *   with bit 7: u8 mask, bit j set when plane j is stored, then the stored
 *     planes in order, count bytes each;
 *   one varint frame length per other plane and one for the outlier list;
 *   the frames, planes in order, the outlier list last.
 * Earlier versions wrote every plane as a frame, which this layout reads
 * as a mask of zero. "elf" always has m equal to the dtype's mantissa
 * width. It also decodes an older layout, described above decode_packed.
 * Outlier list: varint count, varint index deltas (the first is the index
 * itself), then the raw little-endian elements. */
#include "codec.h"
#include "elf_words.h"
#include "entropy.h"
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

/* ---- code word planes, shared by elf and elf-m ---- */

/* Planes whose sampled order-0 entropy is above this many bits per byte
 * are stored: zstd would save under 1.25% of them. An 8 KiB sample of
 * uniform bytes measures about 0.02 bits low. */
#define STORE_BITS 7.9
#define SAMPLE_BLOCKS 16
#define SAMPLE_BLOCK 512 /* elements, so one byte of each plane per element */

/* Set in the first byte, above m (at most 52), when a mask of stored
 * planes follows. */
#define STORED_FLAG 0x80

static size_t plane_count(int m)
{
    return (size_t)(m + 1 + 7) / 8;
}

/* Marks in raw[] the planes that look uniform. The low planes of ELF code
 * words hold the least significant mantissa bits, which often are, and
 * then the zstd stage gains nothing. The estimate comes from the code
 * words of SAMPLE_BLOCKS runs of SAMPLE_BLOCK elements spread over the
 * input, so that it is known before the planes are written. */
static int sample_noise(el_dtype dt, const uint8_t *src, size_t count, int m, int *raw,
                        el_error *err)
{
    const size_t nplanes = plane_count(m);
    for (size_t j = 0; j < nplanes; j++)
        raw[j] = 0;
    if (count < SAMPLE_BLOCKS * SAMPLE_BLOCK)
        return 0;

    uint8_t sample[ELF_MAX_PLANES][SAMPLE_BLOCK];
    uint8_t *at[ELF_MAX_PLANES];
    uint32_t total[ELF_MAX_PLANES][256] = {{0}};
    el_buf found = {0};
    for (size_t j = 0; j < nplanes; j++)
        at[j] = sample[j];

    const size_t size = el_dtype_size(dt);
    for (size_t b = 0; b < SAMPLE_BLOCKS; b++) {
        size_t first = b * (count - SAMPLE_BLOCK) / (SAMPLE_BLOCKS - 1);
        found.len = 0;
        if (el_elf_split_planes(dt, src + first * size, SAMPLE_BLOCK, m, at, &found, err) != 0) {
            el_buf_free(&found);
            return -1;
        }
        for (size_t j = 0; j < nplanes; j++) {
            uint32_t in_block[256];
            el_entropy_histogram(sample[j], SAMPLE_BLOCK, in_block);
            for (int v = 0; v < 256; v++)
                total[j][v] += in_block[v];
        }
    }
    el_buf_free(&found);

    for (size_t j = 0; j < nplanes; j++)
        raw[j] = el_entropy_of_histogram(total[j], SAMPLE_BLOCKS * SAMPLE_BLOCK) > STORE_BITS;
    return 0;
}

/* Fills the code word planes and collects the outliers. */
static int split(el_dtype dt, const uint8_t *src, size_t count, int m, uint8_t *const *planes,
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

/* Points the nraw stored planes at their place in out, just after m and
 * the mask, and the others at coded, one after another. Reserves the
 * room in out. */
static int place_planes(el_buf *out, const int *raw, size_t nplanes, size_t nraw, size_t count,
                        uint8_t *coded, uint8_t **at, el_error *err)
{
    if (nraw > 0 && el_buf_reserve(out, 2 + nraw * count, err) != 0)
        return -1;

    uint8_t *stored = nraw > 0 ? out->data + out->len + 2 : NULL;
    for (size_t j = 0, k = 0, c = 0; j < nplanes; j++)
        at[j] = raw[j] ? stored + k++ * count : coded + c++ * count;
    return 0;
}

/* Appends the planes layout of the file comment for m fraction bits.
 *
 * Code word planes hold few repeated strings, so at the default levels, up
 * to 3, they are coded as literals only. On the F32 and BF16 real models
 * that was as small as level 1 and about 1.3x faster. Level 3 was 3 to 4x
 * slower than level 1, and larger. Higher levels, which a user sets to
 * trade speed for size, are kept. */
static int encode_planes(el_dtype dt, const void *src, size_t count, int m, int level,
                         el_buf *out, el_error *err)
{
    /* nplanes <= element size, because m + 1 <= 8 * size - 1. */
    const size_t nplanes = plane_count(m);
    int raw[ELF_MAX_PLANES];
    if (sample_noise(dt, src, count, m, raw, err) != 0)
        return -1;
    size_t nraw = 0;
    for (size_t j = 0; j < nplanes; j++)
        nraw += raw[j] != 0;

    uint8_t *coded = malloc(nplanes > nraw && count ? (nplanes - nraw) * count : 1);
    if (coded == NULL)
        return el_fail(err, "out of memory for %zu code word planes of %zu bytes",
                       nplanes - nraw, count);

    outlier_list outliers = {0};
    el_buf list = {0};
    el_buf frames[ELF_MAX_PLANES + 1] = {{0}};
    uint8_t *at[ELF_MAX_PLANES];
    const size_t head = out->len;
    int rc = place_planes(out, raw, nplanes, nraw, count, coded, at, err);
    if (rc == 0)
        rc = split(dt, src, count, m, at, &outliers, err);
    if (rc == 0 && nraw > 0) {
        unsigned mask = 0;
        for (size_t j = 0; j < nplanes; j++)
            mask |= (unsigned)(raw[j] != 0) << j;
        out->data[head] = (uint8_t)(m | STORED_FLAG);
        out->data[head + 1] = (uint8_t)mask;
        out->len = head + 2 + nraw * count;
    } else if (rc == 0) {
        rc = el_buf_append_u8(out, (uint8_t)m, err);
    }

    size_t nframes = 0;
    for (size_t j = 0; j < nplanes && rc == 0; j++) {
        if (raw[j])
            continue;
        if (level <= 3)
            rc = el_zstd_append_literals_frame(&frames[nframes++], at[j], count, err);
        else
            rc = el_zstd_append_frame(&frames[nframes++], at[j], count, level, err);
    }
    if (rc == 0)
        rc = outliers_write(&outliers, &list, err);
    if (rc == 0)
        rc = el_zstd_append_frame(&frames[nframes++], list.data, list.len, level, err);

    for (size_t j = 0; j < nframes && rc == 0; j++)
        rc = el_buf_append_varint(out, frames[j].len, err);
    for (size_t j = 0; j < nframes && rc == 0; j++)
        rc = el_buf_append(out, frames[j].data, frames[j].len, err);

    free(coded);
    outliers_free(&outliers);
    el_buf_free(&list);
    for (size_t j = 0; j <= nplanes; j++)
        el_buf_free(&frames[j]);
    return rc;
}

/* The header of a planes payload: m, the planes stored as they are, and
 * the lengths of the zstd frames that follow them, one per other plane
 * and the last for the outlier list. */
typedef struct planes_header {
    int m;
    unsigned mask;                           /* bit j: plane j is stored */
    const uint8_t *stored[ELF_MAX_PLANES];   /* each count bytes, in the payload */
    uint64_t lengths[ELF_MAX_PLANES + 1];
    size_t nframes;
} planes_header;

/* Reads the header, checking that the frames fill the rest of the payload
 * exactly. */
static int read_planes_header(el_reader *r, el_dtype dt, size_t count, planes_header *h,
                              el_error *err)
{
    uint8_t first;
    if (el_read_u8(r, &first, err) != 0)
        return -1;
    int max_bits = el_elf_max_bits(dt);
    h->m = first & ~STORED_FLAG;
    if (h->m > max_bits)
        return el_fail(err, "m = %d is out of range for %s: at most %d", h->m,
                       el_dtype_name(dt), max_bits);

    size_t nplanes = plane_count(h->m);
    uint8_t mask = 0;
    if ((first & STORED_FLAG) && el_read_u8(r, &mask, err) != 0)
        return el_fail_context(err, "stored plane mask");
    if (mask >> nplanes)
        return el_fail(err, "stored plane mask 0x%02x names planes past the %zu that "
                       "m = %d gives", mask, nplanes, h->m);
    h->mask = mask;
    h->nframes = 1;
    for (size_t j = 0; j < nplanes; j++) {
        h->stored[j] = NULL;
        if (!(mask >> j & 1)) {
            h->nframes++;
        } else if ((h->stored[j] = el_read_span(r, count, err)) == NULL) {
            return el_fail_context(err, "stored plane %zu", j);
        }
    }

    size_t remaining = r->len - r->pos;
    uint64_t total = 0;
    for (size_t j = 0; j < h->nframes; j++) {
        if (el_read_varint(r, &h->lengths[j], err) != 0)
            return el_fail_context(err, "frame %zu length", j);
        if (h->lengths[j] > remaining)
            return el_fail(err, "frame %zu claims %llu bytes, more than the payload holds",
                           j, (unsigned long long)h->lengths[j]);
        total += h->lengths[j];
    }
    if (total != r->len - r->pos)
        return el_fail(err, "frames add up to %llu bytes, but %zu follow the header",
                       (unsigned long long)total, r->len - r->pos);
    return 0;
}

static int decode_outlier_frame(const uint8_t *frame, size_t frame_len, el_dtype dt,
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

/* Decodes the planes layout. A payload whose m is not want fails before
 * any plane is decoded, unless want is -1 (any m). Stored planes are
 * joined where they lie in the payload. */
static int decode_planes(el_dtype dt, const void *payload, size_t payload_len, void *dst,
                         size_t count, int want, el_error *err)
{
    el_reader r = {payload, payload_len, 0};
    planes_header h;
    if (read_planes_header(&r, dt, count, &h, err) != 0)
        return el_fail_context(err, "header");
    if (want >= 0 && h.m != want)
        return el_fail(err, "m = %d is invalid: elf on %s keeps %d bits", h.m,
                       el_dtype_name(dt), want);

    size_t nplanes = plane_count(h.m);
    size_t ncoded = h.nframes - 1;
    uint8_t *coded = malloc(ncoded && count ? ncoded * count : 1);
    if (coded == NULL)
        return el_fail(err, "out of memory for %zu code word planes of %zu bytes", ncoded, count);

    const uint8_t *at[ELF_MAX_PLANES];
    int rc = 0;
    for (size_t j = 0, f = 0; j < nplanes && rc == 0; j++) {
        if (h.stored[j] != NULL) {
            at[j] = h.stored[j];
            continue;
        }
        uint8_t *plane = coded + f * count;
        const uint8_t *frame = el_read_span(&r, (size_t)h.lengths[f], err);
        rc = el_zstd_decode_frame(frame, (size_t)h.lengths[f], plane, count, err);
        if (rc != 0)
            el_fail_context(err, "code word plane %zu", j);
        at[j] = plane;
        f++;
    }
    if (rc == 0)
        rc = el_elf_join_planes(at, nplanes, count, dt, h.m, dst, err);
    if (rc == 0) {
        const uint8_t *frame = el_read_span(&r, (size_t)h.lengths[ncoded], err);
        rc = decode_outlier_frame(frame, (size_t)h.lengths[ncoded], dt, dst, count, err);
    }
    free(coded);
    return rc;
}

/* ---- elf ---- */

/* The layout before code words were split into planes: one zstd frame of
 * every code word bit-packed MSB first, then the outlier list. Only
 * decoded, so that containers written with it still restore. */

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

/* Writes every packed code word to dst. The m + 1 bit width keeps q below
 * 2^m, so only the padding at the end needs checking. */
static int unpack_words(const uint8_t *packed, el_dtype dt, void *dst, size_t count, int m,
                        el_error *err)
{
    uint64_t *codes = malloc(EL_ELF_BLOCK * sizeof *codes);
    if (codes == NULL)
        return el_fail(err, "out of memory for a block of elf code words");

    bit_reader br = {packed, 0, 0};
    for (size_t i = 0; i < count; i += EL_ELF_BLOCK) {
        size_t n = count - i < EL_ELF_BLOCK ? count - i : EL_ELF_BLOCK;
        for (size_t j = 0; j < n; j++)
            codes[j] = bits_get(&br, m + 1);
        el_elf_values(dt, codes, n, m, dst, i);
    }
    free(codes);

    if (br.n > 0 && (br.acc & ((UINT64_C(1) << br.n) - 1)) != 0)
        return el_fail(err, "elf code words end with %d nonzero padding bits", br.n);
    return 0;
}

static int decode_packed(el_dtype dt, const void *payload, size_t payload_len, void *dst,
                         size_t count, el_error *err)
{
    int m = el_dtype_float_layout(dt).mantissa_bits;
    size_t packed_len = packed_bytes(count, m + 1);
    size_t list_max = outliers_max_bytes(count, el_dtype_size(dt));
    size_t max_len = list_max > SIZE_MAX - packed_len ? SIZE_MAX : packed_len + list_max;

    size_t content_len;
    if (el_zstd_frame_content_size(payload, payload_len, max_len, &content_len, err) != 0)
        return -1;
    if (content_len < packed_len)
        return el_fail(err, "payload contains %zu bytes, fewer than the %zu bytes of code words",
                       content_len, packed_len);

    uint8_t *content = malloc(content_len ? content_len : 1);
    if (content == NULL)
        return el_fail(err, "out of memory decoding %zu bytes of elf payload", content_len);

    int rc = el_zstd_decode_frame(payload, payload_len, content, content_len, err);
    if (rc == 0)
        rc = unpack_words(content, dt, dst, count, m, err);
    if (rc == 0) {
        el_reader r = {content + packed_len, content_len - packed_len, 0};
        rc = outliers_apply(&r, dt, dst, count, err);
    }
    free(content);
    return rc;
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

    int m = el_dtype_float_layout(dt).mantissa_bits;
    return encode_planes(dt, src, count, m, params->zstd_level, out, err);
}

/* A planes payload starts with m, the dtype's mantissa width (at most 52);
 * a packed one with the zstd magic, whose first byte is 0x28 (40), which
 * no dtype has as its mantissa width. */
static int is_packed_layout(const uint8_t *payload, size_t payload_len)
{
    static const uint8_t magic[4] = {0x28, 0xb5, 0x2f, 0xfd};
    return payload_len >= 4 && memcmp(payload, magic, 4) == 0;
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

    if (is_packed_layout(payload, payload_len)) {
        if (decode_packed(dt, payload, payload_len, dst, count, err) != 0)
            return el_fail_context(err, "elf payload");
        return 0;
    }

    int want = el_dtype_float_layout(dt).mantissa_bits;
    if (decode_planes(dt, payload, payload_len, dst, count, want, err) != 0)
        return el_fail_context(err, "elf payload");
    return 0;
}

/* ---- elf-m ---- */

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

static int elf_m_encode(el_dtype dt, const void *src, size_t count,
                        const el_codec_params *params, el_buf *out, el_error *err)
{
    size_t bytes;
    int m = 0;
    if (el_tensor_bytes(dt, count, &bytes, err) != 0 || elf_m_bits(dt, params, &m, err) != 0)
        return -1;
    return encode_planes(dt, src, count, m, params->zstd_level, out, err);
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

    if (decode_planes(dt, payload, payload_len, dst, count, -1, err) != 0)
        return el_fail_context(err, "elf-m payload");
    return 0;
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
