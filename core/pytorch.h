/* PyTorch checkpoints as torch.save writes them since PyTorch 1.6: a zip
 * archive with "<name>/data.pkl" (the pickled object), one record
 * "<name>/data/<key>" per storage, and optional "<name>/byteorder" and
 * "<name>/version" records. The pickle runs in a restricted interpreter
 * (pickle.h) that never executes code. Tensors are found in dicts, lists
 * and tuples at any depth and named by their keys joined with '.'. */
#ifndef ELVES_PYTORCH_H
#define ELVES_PYTORCH_H

#include <stddef.h>
#include <stdint.h>

#include "model.h"
#include "zip.h"

/* Limits on hostile input: tensors found in one checkpoint (each tensor
 * reached under another name counts again), the length of a tensor name,
 * the nesting of dicts, lists and tuples around a tensor, and the element
 * count of one tensor. */
#define EL_PYTORCH_MAX_TENSORS (1u << 18)
#define EL_PYTORCH_MAX_NAME    1024
#define EL_PYTORCH_MAX_DEPTH   32
#define EL_PYTORCH_MAX_COUNT   ((uint64_t)1 << 40)

/* Memory allowed for derived tensors and for storages read into memory
 * (deflated or big-endian records), beyond twice the bytes of the records
 * the tensors use. Zero-stride views can expand a small record, so the
 * expansion is capped. */
#define EL_PYTORCH_EXPAND_SLACK ((uint64_t)256 << 20)

/* The first bytes of a checkpoint in the legacy format of PyTorch before
 * 1.6: pickle protocol 2 (0x80 0x02) holding the int 0x1950a86a20f9469cfc6c
 * as LONG1 (0x8a, 10 bytes, little-endian). The first 8 bytes identify it. */
#define EL_PYTORCH_LEGACY_MAGIC "\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19"
#define EL_PYTORCH_LEGACY_MAGIC_LEN 14

/* Reads the checkpoint in zip archive `zip`, which is model->files[file]
 * (already mapped), into model: one stored tensor per storage record that a
 * tensor covers whole, and derived tensors (bytes in `owned`) for views,
 * storages shared by several tensors, big-endian and deflated records. A
 * storage that only views use gets a stored tensor of its own, named
 * "data/<key> (storage)". Sets model->format to "pytorch". path is used in
 * messages. */
int el_pytorch_parse(el_model *model, size_t file, const el_zip *zip,
                     const char *path, el_error *err);

/* Whether the n bytes at head (n >= 8) start a legacy checkpoint. */
int el_pytorch_is_legacy(const uint8_t *head, size_t n);

/* Fails with a message that the legacy format is not read and how to
 * convert the file. Always returns -1. */
int el_pytorch_open_legacy(el_model *model, const char *path, el_error *err);

#endif
