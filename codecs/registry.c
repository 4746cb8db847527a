/* The codec table and ratio prediction. */
#include "codec.h"
#include "measure.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

extern const el_codec el_codec_raw;
extern const el_codec el_codec_zstd;
extern const el_codec el_codec_bytegroup;
extern const el_codec el_codec_elf;
extern const el_codec el_codec_elf_m;
extern const el_codec el_codec_de;
extern const el_codec el_codec_fields;
extern const el_codec el_codec_quant;
extern const el_codec el_codec_elf_ans;
extern const el_codec el_codec_int8;
extern const el_codec el_codec_int4;
extern const el_codec el_codec_cast_bf16;
extern const el_codec el_codec_cast_fp16;

const el_codec *const el_codecs[] = {
    &el_codec_raw,
    &el_codec_zstd,
    &el_codec_bytegroup,
    &el_codec_fields,
    &el_codec_de,
    &el_codec_elf,
    &el_codec_elf_ans,
    &el_codec_elf_m,
    &el_codec_quant,
    &el_codec_int8,
    &el_codec_int4,
    &el_codec_cast_bf16,
    &el_codec_cast_fp16,
    NULL,
};


const el_codec *el_codec_find(const char *name)
{
    for (size_t i = 0; el_codecs[i] != NULL; i++) {
        if (strcmp(el_codecs[i]->name, name) == 0)
            return el_codecs[i];
    }
    return NULL;
}

size_t el_codec_count(void)
{
    size_t n = 0;
    while (el_codecs[n] != NULL)
        n++;
    return n;
}

void el_predict_gather(const uint8_t *src, size_t count, size_t size, size_t block_count,
                       uint8_t *sample)
{
    size_t span = count - block_count;
    for (size_t b = 0; b < EL_PREDICT_BLOCKS; b++) {
        size_t start = span / (EL_PREDICT_BLOCKS - 1) * b
                     + span % (EL_PREDICT_BLOCKS - 1) * b / (EL_PREDICT_BLOCKS - 1);
        start -= start % EL_PREDICT_ALIGN;
        memcpy(sample + b * block_count * size, src + start * size, block_count * size);
    }
}

/* Encodes src and returns the payload size. For a codec whose error depends
 * on the data (max_error returned +Inf), also decodes the payload and
 * replaces *max_error with the error measured on src. */
static int encoded_size(const el_codec *codec, el_dtype dt, const void *src, size_t count,
                        const el_codec_params *params, size_t *out, double *max_error,
                        el_error *err)
{
    el_buf payload = {0};
    int rc = codec->encode(dt, src, count, params, &payload, err);
    *out = payload.len;

    if (rc == 0 && isinf(*max_error)) {
        size_t bytes = count * el_dtype_size(dt);
        uint8_t *decoded = malloc(bytes ? bytes : 1);
        if (decoded == NULL)
            rc = el_fail(err, "out of memory measuring the error of %s", codec->name);
        if (rc == 0)
            rc = codec->decode(dt, payload.data, payload.len, decoded, count, err);
        if (rc == 0)
            *max_error = el_max_abs_error(dt, src, decoded, count);
        free(decoded);
    }
    el_buf_free(&payload);
    return rc;
}

int el_codec_predict(const el_codec *codec, el_dtype dt, const void *src,
                     size_t count, const el_codec_params *params,
                     size_t sample_bytes, el_prediction *out, el_error *err)
{
    memset(out, 0, sizeof *out);
    if (!codec->supports(dt))
        return 0;
    out->max_error = codec->max_error(dt, params);
    if (out->max_error < 0)
        return 0;
    out->applicable = 1;

    size_t size = el_dtype_size(dt);
    if (count > SIZE_MAX / size)
        return el_fail(err, "tensor of %zu %s elements is too large to address",
                       count, el_dtype_name(dt));

    size_t original = count * size;
    size_t encoded;
    if (original <= sample_bytes) {
        if (encoded_size(codec, dt, src, count, params, &encoded, &out->max_error, err) != 0)
            return -1;
    } else {
        /* Since sample_bytes < original, the blocks fit in the tensor
         * unless block_count had to be raised to 1, when they may overlap. */
        size_t block_count = sample_bytes / size / EL_PREDICT_BLOCKS;
        if (block_count == 0)
            block_count = 1;

        original = block_count * EL_PREDICT_BLOCKS * size;
        uint8_t *sample = malloc(original);
        if (sample == NULL)
            return el_fail(err, "out of memory for a %zu-byte prediction sample", original);
        el_predict_gather(src, count, size, block_count, sample);
        int rc = encoded_size(codec, dt, sample, block_count * EL_PREDICT_BLOCKS, params,
                              &encoded, &out->max_error, err);
        free(sample);
        if (rc != 0)
            return -1;
        out->estimated = 1;
    }

    out->ratio = encoded ? (double)original / (double)encoded : 0.0;
    return 0;
}

int el_codec_predict_exact(const el_codec *codec, el_dtype dt, const void *src,
                           size_t count, const el_codec_params *params, size_t chunk_count,
                           int (*done)(void *ctx, size_t first, size_t n), void *ctx,
                           el_prediction *out, el_error *err)
{
    memset(out, 0, sizeof *out);
    if (!codec->supports(dt))
        return 0;
    const double guaranteed = codec->max_error(dt, params);
    if (guaranteed < 0)
        return 0;

    size_t size = el_dtype_size(dt);
    if (count > SIZE_MAX / size)
        return el_fail(err, "tensor of %zu %s elements is too large to address",
                       count, el_dtype_name(dt));
    if (chunk_count == 0)
        chunk_count = count ? count : 1;

    uint64_t encoded = 0;
    double worst = isinf(guaranteed) ? 0.0 : guaranteed;
    for (size_t first = 0; first < count; first += chunk_count) {
        size_t n = count - first < chunk_count ? count - first : chunk_count;
        size_t bytes;
        double error = guaranteed;
        if (encoded_size(codec, dt, (const uint8_t *)src + first * size, n, params, &bytes,
                         &error, err) != 0)
            return -1;
        encoded += bytes;
        if (isinf(guaranteed) && error > worst)
            worst = error;
        if (done != NULL && done(ctx, first, n))
            return 1;
    }

    out->applicable = 1;
    out->max_error = worst;
    out->ratio = encoded ? (double)(count * size) / (double)encoded : 0.0;
    return 0;
}
