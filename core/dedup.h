/* Exact duplicate tensors within and across models: XXH3-128 of the payload
 * bytes groups candidates, then a byte comparison confirms each match. */
#ifndef ELVES_DEDUP_H
#define ELVES_DEDUP_H

#include <stddef.h>
#include <stdint.h>

#include "model.h"

el_hash128 el_hash128_bytes(const void *data, size_t len);

/* Formats a hash as 32 lowercase hex digits plus NUL. */
void el_hash128_hex(el_hash128 h, char out[33]);

/* XXH3-128 of a tensor's bytes, a window at a time with each window's
 * pages dropped after, so hashing a model never makes it all resident. */
el_hash128 el_tensor_hash(const el_tensor *t);

/* Whether two tensors have the same dtype, byte length and bytes. */
int el_tensors_identical(const el_tensor *a, const el_tensor *b);

typedef struct el_tensor_ref {
    size_t model;
    size_t tensor;
} el_tensor_ref;

/* Result for one tensor: whether it repeats an earlier one (earlier model,
 * or earlier tensor of the same model, in tensor-table order) and which. */
typedef struct el_dup {
    int is_duplicate;
    el_tensor_ref of;
    el_hash128 hash;
} el_dup;

/* Fills dups[m][t] for every tensor of every model. Two tensors are
 * duplicates when dtype, byte length and every byte are equal; empty tensors
 * never are. dups[m] must each hold models[m]->n_tensors entries. */
int el_find_duplicates(const el_model *const *models, size_t n_models,
                       el_dup *const *dups, el_error *err);

/* As el_find_duplicates, for callers that already hold each tensor's hash
 * in dups[m][t].hash: reads only the bytes of tensors whose hashes match. */
int el_group_duplicates(const el_model *const *models, size_t n_models,
                        el_dup *const *dups, el_error *err);

#endif
