/* The zstd baseline: the tensor bytes as one zstd frame. This file also
 * defines the frame helpers that bytegroup.c and elf.c share. */
#include "codec.h"
#include "zstd_frame.h"

/* ZSTD_c_literalCompressionMode is in zstd's experimental section. Frames
 * written with it are ordinary zstd frames. */
#define ZSTD_STATIC_LINKING_ONLY
#include <zstd.h>

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* NOTE: these helpers are declared again in bytegroup.c and elf.c until they
 * get a header of their own. */

#define ZSTD_DEFAULT_LEVEL 3
#define ZSTD_MAX_LEVEL 19

/* ---- one compression and one decompression context per thread ----
 *
 * libzstd runs CPUID each time it sets up a context, which ZSTD_compress
 * and ZSTD_decompress do on every call. Under a hypervisor CPUID traps and
 * costs microseconds: on the 2-core benchmark machine, perf put about 40%
 * of elf's time there. So each thread keeps its contexts, which are freed
 * when the thread exits. */

typedef struct zstd_contexts {
    ZSTD_CCtx *cctx;
    ZSTD_DCtx *dctx;
} zstd_contexts;

static pthread_key_t contexts_key;
static pthread_once_t contexts_once = PTHREAD_ONCE_INIT;
static int contexts_key_ok;

static void free_contexts(void *p)
{
    zstd_contexts *c = p;
    ZSTD_freeCCtx(c->cctx);
    ZSTD_freeDCtx(c->dctx);
    free(c);
}

static void make_contexts_key(void)
{
    contexts_key_ok = pthread_key_create(&contexts_key, free_contexts) == 0;
}

/* Returns this thread's contexts, created on first use, or NULL without
 * memory. */
static zstd_contexts *thread_contexts(void)
{
    pthread_once(&contexts_once, make_contexts_key);
    if (!contexts_key_ok)
        return NULL;

    zstd_contexts *c = pthread_getspecific(contexts_key);
    if (c != NULL)
        return c;
    c = malloc(sizeof *c);
    if (c == NULL)
        return NULL;
    c->cctx = ZSTD_createCCtx();
    c->dctx = ZSTD_createDCtx();
    if (c->cctx == NULL || c->dctx == NULL || pthread_setspecific(contexts_key, c) != 0) {
        free_contexts(c);
        return NULL;
    }
    return c;
}

static ZSTD_CCtx *thread_cctx(el_error *err)
{
    zstd_contexts *c = thread_contexts();
    if (c == NULL) {
        el_fail(err, "out of memory for a zstd compression context");
        return NULL;
    }
    ZSTD_CCtx_reset(c->cctx, ZSTD_reset_session_and_parameters);
    return c->cctx;
}

/* Computes count * element size, failing instead of wrapping around. */
int el_tensor_bytes(el_dtype dt, size_t count, size_t *out, el_error *err)
{
    size_t size = el_dtype_size(dt);
    if (size == 0)
        return el_fail(err, "dtype %d is unknown", (int)dt);
    if (count > SIZE_MAX / size)
        return el_fail(err, "tensor of %zu %s elements is too large to address",
                       count, el_dtype_name(dt));
    *out = count * size;
    return 0;
}

/* Compresses src into one frame at the end of out with this thread's
 * context. Level 0 selects literals only (el_zstd_append_literals_frame). */
static int compress_frame(el_buf *out, const void *src, size_t len, int level, el_error *err)
{
    size_t bound = ZSTD_compressBound(len);
    if (ZSTD_isError(bound))
        return el_fail(err, "%zu bytes are too many for one zstd frame", len);
    if (el_buf_reserve(out, bound, err) != 0)
        return -1;

    ZSTD_CCtx *cctx = thread_cctx(err);
    if (cctx == NULL)
        return -1;
    size_t rc;
    if (level > 0) {
        rc = ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, level);
    } else {
        rc = ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, ZSTD_minCLevel());
        if (!ZSTD_isError(rc))
            rc = ZSTD_CCtx_setParameter(cctx, ZSTD_c_literalCompressionMode, ZSTD_ps_enable);
        if (ZSTD_isError(rc)) {
            ZSTD_CCtx_reset(cctx, ZSTD_reset_parameters);
            rc = ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, 1);
        }
    }
    if (ZSTD_isError(rc))
        return el_fail(err, "zstd compression level %d is invalid: %s", level,
                       ZSTD_getErrorName(rc));

    static const uint8_t empty[1];
    size_t written = ZSTD_compress2(cctx, out->data + out->len, bound, len ? src : empty, len);
    if (ZSTD_isError(written))
        return el_fail(err, "zstd compression of %zu bytes failed: %s",
                       len, ZSTD_getErrorName(written));
    out->len += written;
    return 0;
}

/* Appends src compressed as one zstd frame that records its content size.
 * level 0 means the default level 3. */
int el_zstd_append_frame(el_buf *out, const void *src, size_t len, int level,
                         el_error *err)
{
    if (level < 0 || level > ZSTD_MAX_LEVEL)
        return el_fail(err, "zstd level %d is invalid: use 1 to %d, or 0 for the default %d",
                       level, ZSTD_MAX_LEVEL, ZSTD_DEFAULT_LEVEL);
    return compress_frame(out, src, len, level == 0 ? ZSTD_DEFAULT_LEVEL : level, err);
}

/* Appends src as a zstd frame that codes its bytes almost only as
 * Huffman literals: the most negative level makes the match finder skip
 * ahead quickly, and literal compression, which negative levels turn off,
 * is turned back on. Falls back to level 1 where libzstd lacks the
 * parameter. */
int el_zstd_append_literals_frame(el_buf *out, const void *src, size_t len, el_error *err)
{
    return compress_frame(out, src, len, 0, err);
}

/* Reads the content size a frame declares, after checking that frame_len
 * bytes are exactly one whole frame and that the size is at most max_len. */
int el_zstd_frame_content_size(const void *frame, size_t frame_len,
                               size_t max_len, size_t *out, el_error *err)
{
    if (frame_len == 0)
        return el_fail(err, "zstd frame is missing: 0 bytes given");

    size_t whole = ZSTD_findFrameCompressedSize(frame, frame_len);
    if (ZSTD_isError(whole))
        return el_fail(err, "invalid zstd frame of %zu bytes: %s",
                       frame_len, ZSTD_getErrorName(whole));
    if (whole != frame_len)
        return el_fail(err, "zstd frame is %zu bytes but %zu were given",
                       whole, frame_len);

    unsigned long long content = ZSTD_getFrameContentSize(frame, frame_len);
    if (content == ZSTD_CONTENTSIZE_UNKNOWN || content == ZSTD_CONTENTSIZE_ERROR)
        return el_fail(err, "zstd frame does not record its content size");
    if (content > max_len)
        return el_fail(err, "zstd frame holds %llu bytes, more than the %zu expected",
                       content, max_len);
    *out = (size_t)content;
    return 0;
}

/* Decompresses one whole frame into dst, which it must fill exactly. The
 * declared content size is checked first, so a corrupted header can neither
 * overrun dst nor leave part of it unwritten. */
int el_zstd_decode_frame(const void *frame, size_t frame_len, void *dst,
                         size_t dst_len, el_error *err)
{
    size_t content;
    if (el_zstd_frame_content_size(frame, frame_len, dst_len, &content, err) != 0)
        return -1;
    if (content != dst_len)
        return el_fail(err, "zstd frame holds %zu bytes, expected %zu", content, dst_len);

    static uint8_t empty[1];
    zstd_contexts *c = thread_contexts();
    if (c == NULL)
        return el_fail(err, "out of memory for a zstd decompression context");
    size_t got = ZSTD_decompressDCtx(c->dctx, dst_len ? dst : empty, dst_len, frame, frame_len);
    if (ZSTD_isError(got))
        return el_fail(err, "zstd decompression failed: %s", ZSTD_getErrorName(got));
    if (got != dst_len)
        return el_fail(err, "zstd frame decoded to %zu bytes, expected %zu", got, dst_len);
    return 0;
}

static int zstd_supports(el_dtype dt)
{
    return el_dtype_size(dt) != 0;
}

static double zstd_max_error(el_dtype dt, const el_codec_params *params)
{
    (void)dt;
    (void)params;
    return 0.0;
}

static int zstd_encode(el_dtype dt, const void *src, size_t count,
                       const el_codec_params *params, el_buf *out, el_error *err)
{
    size_t bytes;
    if (el_tensor_bytes(dt, count, &bytes, err) != 0)
        return -1;
    return el_zstd_append_frame(out, src, bytes, params->zstd_level, err);
}

static int zstd_decode(el_dtype dt, const void *payload, size_t payload_len,
                       void *dst, size_t count, el_error *err)
{
    size_t bytes;
    if (el_tensor_bytes(dt, count, &bytes, err) != 0)
        return -1;
    return el_zstd_decode_frame(payload, payload_len, dst, bytes, err);
}

const el_codec el_codec_zstd = {
    .name = "zstd",
    .summary = "lossless: the raw bytes through zstd",
    .lossless = 1,
    .supports = zstd_supports,
    .max_error = zstd_max_error,
    .encode = zstd_encode,
    .decode = zstd_decode,
};
