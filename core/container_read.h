/* Reading a .elves container: the trailer, the manifest and each tensor. */
#ifndef ELVES_CONTAINER_READ_H
#define ELVES_CONTAINER_READ_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "../codecs/codec.h"
#include "../codecs/delta.h"
#include "model.h"
#include "../codecs/error.h"

typedef struct el_container {
    char *path;
    const uint8_t *map;
    size_t size;
    uint64_t blobs_end;       /* offset of the manifest: blobs lie before it */
    cJSON *manifest;
    cJSON *blobs, *tensors, *models;
    size_t n_blobs, n_tensors, n_models;
    const el_model *base;     /* base model for delta tensors, set by the caller */
    int threads;              /* chunks decoded at a time; every core by default */
} el_container;

/* Sets how many chunks containers opened afterwards decode at a time (1 to
 * 64; 0: every online core, the default). The restore and verify entry
 * points open their containers themselves, so the command line sets their
 * thread count here, once, before any of them runs. */
void el_container_set_threads(int threads);

/* Maps the file, checks the magic, trailer and manifest checksum, and
 * parses the manifest. */
int el_container_open(const char *path, el_container *c, el_error *err);

void el_container_close(el_container *c);

/* The "files" array of model `index` (validated by el_container_open), and
 * the model's name (the base name of the path it was opened from). */
const cJSON *el_container_model(const el_container *c, size_t index, const char **name);

/* One tensor's manifest entry, validated. */
typedef struct el_container_tensor {
    const char *name;
    el_dtype dtype;
    uint64_t count;
    uint64_t nbytes;
    const el_codec *codec;    /* NULL for a delta tensor */
    const el_delta_codec *delta; /* the delta codec, or NULL */
    const char *base_tensor;  /* for a delta: the base tensor's name and checksum */
    const char *base_hash;
    const char *codec_name;
    int lossless;             /* bound was lossless */
    double abs_bound;         /* for a lossy bound */
    double max_error;         /* measured at export */
    const char *hash;         /* XXH3-128 of the original bytes, hex */
    const char *decoded_hash; /* XXH3-128 of the decoded bytes, hex */
} el_container_tensor;

int el_container_tensor_info(const el_container *c, size_t index,
                             el_container_tensor *out, el_error *err);

/* Decodes tensor `index` into a new buffer of info->nbytes bytes (caller
 * frees) and checks its blob checksums and its decoded checksum. */
int el_container_decode(const el_container *c, size_t index, uint8_t **out,
                        el_error *err);

/* Called with each decoded chunk of a tensor in order: its bytes and their
 * offset in the tensor, in bytes. */
typedef int (*el_chunk_sink)(void *ctx, const uint8_t *bytes, size_t len, uint64_t offset,
                             el_error *err);

/* Decodes tensor `index` chunk by chunk into sink (which may be NULL),
 * holding one chunk in memory, then checks its decoded checksum. A sink
 * has seen every chunk when the checksum fails, so a caller writing them
 * must discard its output on failure. */
int el_container_decode_stream(const el_container *c, size_t index, el_chunk_sink sink,
                               void *ctx, el_error *err);

/* Returns whether the file at path starts with the container's magic, of
 * any format version. */
int el_is_container_file(const char *path);

/* One tensor of a container as a listing shows it, read from the manifest
 * without decoding. */
typedef struct el_container_listing {
    el_container_tensor info;
    const char *bound;        /* as the manifest writes it: "lossless", "abs:0.0001" */
    char shape[96];           /* "[512, 64]" */
    uint64_t stored;          /* payload bytes of its chunks; 0 for a copy */
    size_t chunks;
    long same_as;             /* index of the tensor whose payload it shares, or -1 */
} el_container_listing;

int el_container_list_tensor(const el_container *c, size_t index, el_container_listing *out,
                             el_error *err);

/* The listing of the containers at paths as one JSON document (caller
 * frees): {"containers": [{"path", "models", "bytes", "stored",
 * "tensors": [{"name", "dtype", "shape", "bytes", "codec", "bound",
 * "stored", "chunks", "max_error", "copy_of"}]}]}. Returns NULL with err
 * set. */
char *el_containers_json(const char *const *paths, size_t n, el_error *err);

/* Reads a non-negative integer field that must fit in 2^53. */
int el_json_u64(const cJSON *obj, const char *key, uint64_t *out, el_error *err);

/* Returns the blob's bytes after checking range and checksum. */
int el_container_blob(const el_container *c, uint64_t index, const uint8_t **data,
                      size_t *len, el_error *err);

#endif
