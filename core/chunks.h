/* Content-defined chunking in the FastCDC style: a gear hash, no cut-point
 * tests below the minimum size, and normalized chunking with two masks.
 * The duplicate-content report built on it compares whole tensors, CDC
 * chunks and fixed-size chunks within and across models. It also counts
 * the repeated values that distance encoding profits from. */
#ifndef ELVES_CHUNKS_H
#define ELVES_CHUNKS_H

#include <stddef.h>
#include <stdint.h>

#include "dedup.h"
#include "model.h"

/* Defaults as in Hugging Face Xet: 8 KiB minimum, 64 KiB average, 128 KiB
 * maximum chunk size. */
#define EL_CDC_MIN_DEFAULT ((size_t)8 << 10)
#define EL_CDC_AVG_DEFAULT ((size_t)64 << 10)
#define EL_CDC_MAX_DEFAULT ((size_t)128 << 10)

/* Allowed range of the average size, which must be a power of two. */
#define EL_CDC_AVG_LOWEST ((size_t)64)
#define EL_CDC_AVG_HIGHEST ((size_t)1 << 30)

/* Normalization level: the strict mask has log2(avg) + level bits, the
 * loose one log2(avg) - level. */
#define EL_CDC_NORMALIZATION 2

/* Chunker parameters, in bytes. Fill with el_cdc_params_init, which
 * validates the sizes and derives the masks. */
typedef struct el_cdc_params {
    size_t min_size;
    size_t avg_size;
    size_t max_size;
    uint64_t mask_strict;   /* tested for chunk lengths up to avg_size */
    uint64_t mask_loose;    /* tested for longer chunks */
} el_cdc_params;

/* Validates min_size < avg_size < max_size with avg_size a power of two in
 * [EL_CDC_AVG_LOWEST, EL_CDC_AVG_HIGHEST], and fills *p. Returns 0, or -1
 * with err naming the invalid size. */
int el_cdc_params_init(el_cdc_params *p, size_t min_size, size_t avg_size,
                       size_t max_size, el_error *err);

/* The default parameters (EL_CDC_*_DEFAULT). */
el_cdc_params el_cdc_params_default(void);

/* Returns the length of the chunk that starts at data: len itself when
 * len <= min_size, otherwise a length in (min_size, max_size] (or len when
 * shorter). The gear hash restarts at data + min_size. Whether byte i ends
 * the chunk depends on the (at most 64) bytes up to i hashed so far, and on
 * i's distance from data, which picks the mask. A caller loops:
 * `while (len > 0) { n = el_cdc_cut(data, len, p); ...; data += n; len -= n; }` */
size_t el_cdc_cut(const uint8_t *data, size_t len, const el_cdc_params *p);

/* Entry `byte` of the 256-entry gear table, generated on first use from a
 * fixed seed, so chunk boundaries are the same on every machine. */
uint64_t el_cdc_gear(uint8_t byte);

/* A mask with `bits` set bits (1 to 48) spread evenly over bits 16 to 63,
 * the ones that depend on the most bytes of the gear hash. The chunker cuts
 * after a byte whose hash ANDed with the mask is zero. */
uint64_t el_cdc_mask(unsigned bits);

/* Default fixed-size chunk for the fixed granularity, in bytes. */
#define EL_DEDUP_FIXED_DEFAULT ((size_t)64 << 10)

/* Number of CDC chunk groups kept in a report, largest duplicate bytes
 * first, and copies listed per group. */
#define EL_DEDUP_TOP_GROUPS 100
#define EL_DEDUP_GROUP_COPIES 256

/* Pieces of one granularity (whole tensors, CDC chunks or fixed chunks).
 * Every piece is counted once: unique, a copy of an earlier piece of the
 * same model, or a copy whose first occurrence is in an earlier model.
 * Empty tensors give no pieces. */
typedef struct el_chunk_counts {
    uint64_t bytes;
    uint64_t chunks;
    uint64_t dup_bytes;     /* first copy earlier in the same model */
    uint64_t dup_chunks;
    uint64_t cross_bytes;   /* first copy in an earlier model */
    uint64_t cross_chunks;
} el_chunk_counts;

/* Elements equal bit for bit to an earlier element of the same tensor
 * (so +0.0 and -0.0 differ, and NaNs match only with the same payload).
 * Elements are dtype-sized, so block-quantized GGUF tensors count bytes. */
typedef struct el_repeat_counts {
    uint64_t elements;
    uint64_t repeated;
    uint64_t repeated_bytes;
} el_repeat_counts;

typedef struct el_model_dedup {
    el_chunk_counts tensor;
    el_chunk_counts cdc;
    el_chunk_counts fixed;
    el_repeat_counts repeats;           /* sum over the tensors */
    el_repeat_counts *tensor_repeats;   /* one per tensor, or NULL in the total */
} el_model_dedup;

/* A set of two or more identical tensors (same dtype, length and bytes),
 * copies in (model, tensor) order, the first being the original. */
typedef struct el_tensor_group {
    uint64_t nbytes;
    el_tensor_ref *copies;
    size_t n_copies;
} el_tensor_group;

typedef struct el_chunk_ref {
    size_t model;
    size_t tensor;
    uint64_t offset;        /* into the tensor's payload */
} el_chunk_ref;

/* A CDC chunk content occurring two or more times. */
typedef struct el_chunk_group {
    el_hash128 hash;        /* XXH3-128 of the chunk */
    uint64_t size;
    uint64_t n_copies;      /* all occurrences */
    uint64_t dup_bytes;     /* size * (n_copies - 1) */
    el_chunk_ref *copies;   /* the first min(n_copies, EL_DEDUP_GROUP_COPIES) in order */
    size_t n_listed;
} el_chunk_group;

typedef struct el_dedup_report {
    el_cdc_params cdc;
    size_t fixed_size;
    size_t n_models;
    el_model_dedup *models;
    el_model_dedup total;
    /* shared_bytes[i * n_models + j]: bytes of model i's CDC chunks whose
     * content also occurs in model j, every occurrence in i counted. The
     * diagonal is 0. */
    uint64_t *shared_bytes;
    el_tensor_group *tensor_groups;     /* in order of the first copy */
    size_t n_tensor_groups;
    el_chunk_group *chunk_groups;       /* at most EL_DEDUP_TOP_GROUPS */
    size_t n_chunk_groups;
} el_dedup_report;

/* Builds the report for n_models models. p NULL means the default CDC
 * parameters, fixed_size 0 means EL_DEDUP_FIXED_DEFAULT. threads (>= 1)
 * chunk, hash and count repeats of tensors in parallel; the report is the
 * same for every thread count. Returns 0, or -1 with err set and *out
 * zeroed. */
int el_dedup_analyse(const el_model *const *models, size_t n_models,
                     const el_cdc_params *p, size_t fixed_size, int threads,
                     el_dedup_report *out, el_error *err);

void el_dedup_report_free(el_dedup_report *r);

/* Builds the report as a JSON object (caller deletes it). models are the
 * ones the report was built from, for their paths and tensor names.
 * Returns NULL when n_models differs from the report's or when memory runs
 * out for one of the top-level members. */
struct cJSON *el_dedup_json(const el_dedup_report *r,
                            const el_model *const *models, size_t n_models);

#endif
