/* Readers of the model formats besides safetensors. Each opens the file at
 * path (and, for split GGUF models, its sibling shards) into a model that
 * el_model_open has started: it maps files with el_model_add_file, appends
 * tensors with el_model_add_tensor, sets model->format, and fails with a
 * message naming the file, the tensor or field, the value and what to do. */
#ifndef ELVES_FORMATS_H
#define ELVES_FORMATS_H

#include "model.h"

/* GGUF v2 and v3; "-00001-of-0000N.gguf" opens every shard of the set. */
int el_gguf_open(el_model *model, const char *path, el_error *err);

/* Zip archives: a PyTorch checkpoint (data.pkl with data/N records) or a
 * NumPy .npz (members ending in .npy). */
int el_zip_open(el_model *model, const char *path, el_error *err);

/* A NumPy .npy file. */
int el_npy_open(el_model *model, const char *path, el_error *err);

/* An ONNX model: initializers, subgraph initializers and Constant nodes. */
int el_onnx_open(el_model *model, const char *path, el_error *err);

#endif
