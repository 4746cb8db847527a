/* The codec interface: every codec encodes one tensor's little-endian bytes
 * into a self-contained payload and decodes it back.
 *
 * A payload carries everything its decoder needs except the dtype and the
 * element count, which the container stores beside it. */
#ifndef ELVES_CODEC_H
#define ELVES_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "dtype.h"
#include "error.h"

/* Parameters a caller may set; a codec ignores the ones it has no use for. */
typedef struct el_codec_params {
    int zstd_level;   /* level of the zstd stage, 1..19; 0 means 3 */
    double abs_bound; /* requested max |w - w'|; 0 means lossless or exact mode */
} el_codec_params;

typedef struct el_codec {
    const char *name;
    const char *summary; /* one line for help screens */
    int lossless;        /* decode(encode(x)) == x bit for bit, always */

    /* Whether the codec accepts this dtype at all. */
    int (*supports)(el_dtype dt);

    /* Worst-case absolute error of a decoded element for these parameters.
     * It is 0 for lossless codecs, and negative when the codec cannot run
     * with them (a bound tighter than the dtype allows, say). It is +Inf when
     * the error depends on the data (int8, casts), so predictions measure it
     * on their sample and exports on every chunk. */
    double (*max_error)(el_dtype dt, const el_codec_params *params);

    /* Appends the payload for `count` elements at `src` to out. */
    int (*encode)(el_dtype dt, const void *src, size_t count,
                  const el_codec_params *params, el_buf *out, el_error *err);

    /* Decodes a whole payload into dst, which has room for exactly `count`
     * elements.
     * Fails cleanly on any malformed or truncated payload. */
    int (*decode)(el_dtype dt, const void *payload, size_t payload_len,
                  void *dst, size_t count, el_error *err);
} el_codec;

/* All codecs, in display order, terminated by NULL. */
extern const el_codec *const el_codecs[];

/* Looks a codec up by name; NULL when there is none. */
const el_codec *el_codec_find(const char *name);

/* Number of entries in el_codecs. */
size_t el_codec_count(void);

/* A size prediction for one codec on one tensor. */
typedef struct el_prediction {
    double ratio;       /* original bytes / encoded bytes */
    double max_error;   /* worst-case error the codec guarantees, or the one
                           measured on the sample when it depends on the data */
    int estimated;      /* 1 when computed from a sample, 0 when exact */
    int applicable;     /* 0 when the codec does not support the dtype/bound */
} el_prediction;

/* Predicts the ratio of codec on count elements at src by encoding a sample
 * of evenly spaced blocks of at most `sample_bytes` in total. A tensor no
 * larger than that is encoded whole, so its result is exact. */
int el_codec_predict(const el_codec *codec, el_dtype dt, const void *src,
                     size_t count, const el_codec_params *params,
                     size_t sample_bytes, el_prediction *out, el_error *err);

/* Computes the exact prediction of codec on count elements at src. It
 * encodes them in chunks of chunk_count elements, as an export stores them,
 * adds up the payloads, and measures each chunk's error when the codec's
 * error depends on the data. After each chunk it calls done(ctx, first, n),
 * unless done is NULL. A non-zero return from done stops the work, and the
 * function then returns 1 without a result. Returns 0 with *out filled, or
 * -1 with err set. */
int el_codec_predict_exact(const el_codec *codec, el_dtype dt, const void *src,
                           size_t count, const el_codec_params *params, size_t chunk_count,
                           int (*done)(void *ctx, size_t first, size_t n), void *ctx,
                           el_prediction *out, el_error *err);

/* Blocks a prediction samples: enough to see the start, middle and end of a
 * tensor, few enough that each block stays long for the codecs. */
#define EL_PREDICT_BLOCKS 8

/* Alignment of every sample block's start, in elements. The default
 * sample's blocks are multiples of it long too, so two copies of a row keep
 * their distance modulo 64 in the sample. bytegroup's repeat probe then
 * finds the same copies in a sample as in the tensor. */
#define EL_PREDICT_ALIGN 64

/* Copies EL_PREDICT_BLOCKS evenly spaced blocks of `block` elements of
 * `size` bytes from src (count elements) into sample. The first block
 * starts at element 0 and the last ends within EL_PREDICT_ALIGN elements of
 * the end. Predictions of delta codecs take the same blocks from the tensor
 * and its base. */
void el_predict_gather(const uint8_t *src, size_t count, size_t size, size_t block,
                       uint8_t *sample);

/* Largest number of mantissa bits ELF-m may keep for dt, and the smallest
 * m whose error bound 2^-(m+1) is at most abs_bound; -1 when no m fits. */
int el_elf_max_bits(el_dtype dt);
int el_elf_bits_for_bound(el_dtype dt, double abs_bound);

#endif
