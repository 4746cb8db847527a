/* A model opened for reading: its files (memory-mapped), its tensors and the
 * opaque bytes around them. The container stores each file as the byte
 * ranges of its stored tensors plus opaque segments for everything between
 * them, so any format restores byte for byte. */
#ifndef ELVES_MODEL_H
#define ELVES_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "../codecs/dtype.h"
#include "../codecs/error.h"

#define EL_MAX_DIMS 16

/* An XXH3-128 checksum. */
typedef struct el_hash128 {
    uint64_t lo, hi;
} el_hash128;

typedef struct el_tensor {
    char *name;
    el_dtype dtype;
    int ndim;
    uint64_t shape[EL_MAX_DIMS];
    uint64_t count;         /* elements: product of shape, 1 for a scalar */
    uint64_t nbytes;        /* count * element size */
    size_t file;            /* index into el_model.files */
    uint64_t offset;        /* absolute byte offset of the payload in that file */
    const uint8_t *data;    /* the payload: into the file's mapping, or `owned` */

    /* The source format's type when dtype cannot express it (GGUF "Q8_0"):
     * then dtype is U8, count is the byte count, and only lossless codecs
     * apply. NULL otherwise. Static storage. */
    const char *type_name;

    /* 1 when the payload is not a byte range of the file (a strided view of
     * a shared storage, a member inflated from a deflated zip record). Such
     * a tensor is analysed but not stored on its own: the segments that
     * hold its bytes restore it. */
    int derived;
    uint8_t *owned;         /* heap copy behind `data` for derived tensors */
} el_tensor;

/* A CRC-32 stored in a file over a range of it, such as a stored zip
 * member's: restore recomputes it when a lossy plan changed bytes there. */
typedef struct el_crc_fixup {
    uint64_t start, length;  /* the range the CRC covers */
    uint64_t at[3];          /* offsets of its little-endian CRC-32 fields */
    size_t n_at;
} el_crc_fixup;

typedef struct el_file {
    char *path;             /* as opened */
    char *name;             /* base name, as listed in a shard index */
    const uint8_t *map;     /* whole file, read-only mapping (NULL when empty) */
    uint64_t size;
    uint64_t data_start;    /* first byte after the header: 8 + header length */
    char *metadata_json;    /* "__metadata__" object as JSON text, or NULL */
    el_crc_fixup *crc_fixups;
    size_t n_crc_fixups;
} el_file;

typedef struct el_model {
    char *path;             /* the path the user gave */
    const char *format;     /* "safetensors", "gguf", "pytorch", "onnx", "npz", "npy" */
    /* Format metadata worth showing (GGUF key-values, summarised) as a JSON
     * object, or NULL. safetensors keeps its per-file __metadata__ instead. */
    char *metadata_json;
    el_file *files;
    size_t n_files;
    el_tensor *tensors;     /* files in order; each file's tensors in offset order */
    size_t n_tensors;
    /* Raw bytes of model.safetensors.index.json for a sharded model, else
     * NULL; kept so that restore can write it back unchanged. */
    uint8_t *index_json;
    size_t index_json_len;
    char *index_name;       /* base name of the index file, or NULL */
} el_model;

/* Opens a model: a .safetensors file, a model.safetensors.index.json, a
 * GGUF file (the first of a split set opens them all), a PyTorch zip
 * checkpoint, an ONNX model, a .npy or .npz file, or a folder holding one
 * model. Every field of every file is validated; on failure
 * *out is left zeroed and err names the file, the tensor and the field. */
int el_model_open(const char *path, el_model *out, el_error *err);

void el_model_close(el_model *model);

/* Total payload bytes of all tensors, and total parameter count. */
uint64_t el_model_tensor_bytes(const el_model *model);
uint64_t el_model_parameters(const el_model *model);

/* The tensor's type as its format names it: type_name ("Q8_0") when set,
 * else the dtype ("F32"). */
const char *el_tensor_type(const el_tensor *t);

/* Elements of the tensor's logical shape. Equal to count except for block
 * types such as GGUF's Q8_0, whose count is in bytes. */
uint64_t el_tensor_elements(const el_tensor *t);

/* Formats a shape as "[64, 512]" into buf. */
void el_shape_format(const el_tensor *t, char *buf, size_t len);

/* For format readers: maps path as the model's next file and returns its
 * index in *file. */
int el_model_add_file(el_model *model, const char *path, size_t *file, el_error *err);

/* For format readers: appends a zeroed tensor and returns it, or NULL when
 * memory runs out. The pointer is valid until the next call. */
el_tensor *el_model_add_tensor(el_model *model, el_error *err);

/* Tells the kernel the tensor's mapped pages are not needed for now, so
 * that reading a model larger than memory does not keep it all resident.
 * The pages are read again if touched. Does nothing for derived tensors. */
void el_tensor_release(const el_model *model, const el_tensor *t);

/* The same for any range (whole pages inside it); ranges that are not
 * inside a model file this process mapped are left alone. */
void el_release_range(const void *data, uint64_t len);

/* Index of the tensor with this name, or -1. */
long el_model_find(const el_model *model, const char *name);

#endif
