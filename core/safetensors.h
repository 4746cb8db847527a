/* The safetensors format: 8-byte little-endian header length N, N bytes of
 * UTF-8 JSON (name -> {dtype, shape, data_offsets}, optional __metadata__),
 * then the data area, which the tensors must cover without gaps or overlap. */
#ifndef ELVES_SAFETENSORS_H
#define ELVES_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "model.h"

/* Largest header accepted, the same 100 MB limit as the reference reader. */
#define EL_SAFETENSORS_MAX_HEADER (100u * 1000u * 1000u)

/* Parses and validates one safetensors file already in memory. Appends its
 * tensors (in data-offset order) to model->tensors with file index `file`,
 * and fills model->files[file].data_start and metadata_json. `path` is only
 * used in messages. */
int el_safetensors_parse(el_model *model, size_t file, const char *path,
                         el_error *err);

/* Writes every tensor of model (any format) into one safetensors file at
 * out_path, atomically. Tensor names must not exceed what a JSON key holds;
 * block-quantized tensors become U8 with their source type in __metadata__. */
int el_safetensors_write(const el_model *model, const char *out_path, el_error *err);

#endif
