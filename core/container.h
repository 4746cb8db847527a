/* The .elves container, version 1.
 *
 *   "ELVES\0\1\0"                      8-byte magic, format version 1
 *   blob 0 .. blob n-1                 zstd-framed opaque bytes and codec payloads
 *   manifest                           UTF-8 JSON (see container_write.c) in
 *                                      one zstd frame
 *   trailer (32 bytes)                 manifest offset u64, manifest frame length
 *                                      u64, XXH3-64 of the frame u64, "ELVSEND\0"
 *
 * Every blob has an XXH3-64 checksum in the manifest, and every tensor the
 * XXH3-128 of its original bytes. The index sits at the end so the file is
 * written in one pass. */
#ifndef ELVES_CONTAINER_H
#define ELVES_CONTAINER_H

#include <stddef.h>
#include <stdint.h>

#include "../codecs/measure.h"
#include "workspace.h"

typedef struct el_export_layer {
    char *name;
    size_t model;             /* index into the workspace's models */
    const char *codec;        /* codec name, static */
    uint64_t original;        /* bytes */
    uint64_t predicted;       /* bytes the prediction promised */
    uint64_t stored;          /* bytes written; 0 for a duplicate */
    el_error_stats error;     /* measured after decoding the whole tensor */
    int lossless;             /* bound was lossless */
    int exact;                /* decoded bytes equal the original bytes */
    int duplicate;            /* stored as a reference to an earlier tensor */
    int derived;              /* not stored: restored by the segments holding it */
} el_export_layer;

typedef struct el_export_report {
    el_export_layer *layers;
    size_t n_layers;
    uint64_t original;        /* whole source files, bytes */
    uint64_t predicted;       /* the tensors' predicted bytes, without headers */
    uint64_t stored;          /* whole .elves file, bytes */
} el_export_report;

/* Fails when path cannot become a file: it is a folder, or the folder it
 * names does not exist. Exports and restores check this before they
 * write; a command can check it before its work starts. */
int el_check_output_file(const char *path, el_error *err);

/* Exports one model of the workspace to out_path, using each layer's plan.
 * Every layer is decoded and measured; an auto layer whose choice misses its
 * bound on the whole tensor takes the next codec that meets it. If a fixed
 * codec misses, or the progress callback cancels, nothing is left at
 * out_path. The write goes to a temporary file beside out_path, renamed at
 * the end. The callback runs on the caller's thread. The report is filled as
 * far as the export got, and el_export_report_free must be called on it
 * whether the export succeeded or not. */
int el_export(const el_workspace *ws, size_t model, const char *out_path,
              el_progress_fn progress, void *ctx, el_export_report *report,
              el_error *err);

/* Exports several models of the workspace into one container (a family:
 * fine-tunes of one base, copies): a tensor identical to one of an earlier
 * model, under the same codec and bound, is stored once. The report lists
 * the layers of every model in order. */
int el_export_models(const el_workspace *ws, const size_t *models, size_t n_models,
                     const char *out_path, el_progress_fn progress, void *ctx,
                     el_export_report *report, el_error *err);

void el_export_report_free(el_export_report *report);

/* Restores the model inside in_path. out_path is the file to write for a
 * single-file model, or a folder (created if missing) for a sharded one.
 * Every checksum is verified; lossless tensors must match their original
 * checksum. Writes are atomic per file. */
int el_restore(const char *in_path, const char *out_path,
               el_progress_fn progress, void *ctx, el_error *err);

/* Restores one model of a container by its name (the base name of the path
 * it was compressed from), or every model when model_name is NULL. A single
 * model is written as el_restore does; several go into out_path as a folder
 * with one entry per model. base is the model that delta tensors were
 * encoded against (checked by checksum), or NULL when there are none. */
int el_restore_model(const char *in_path, const char *out_path, const char *model_name,
                     const el_model *base, el_progress_fn progress, void *ctx,
                     el_error *err);

/* Restores the model inside in_path (the one named model_name when there
 * are several) in its source format into a temporary folder beside out_path, opens it, and writes all its tensors as one
 * safetensors file at out_path. The temporary folder is removed. */
int el_restore_safetensors(const char *in_path, const char *out_path,
                           const char *model_name, const el_model *base,
                           el_progress_fn progress, void *ctx, el_error *err);

/* Decodes the first tensor named `name` into a safetensors file holding
 * only that tensor, reading none of the container's other payloads. */
int el_restore_tensor(const char *in_path, const char *name, const char *out_path,
                      const el_model *base, el_error *err);

typedef struct el_verify_report {
    size_t tensors;
    size_t lossless_exact;    /* tensors that decode to their original bytes */
    size_t lossy_within;      /* tensors that decode within their bound, changed */
    size_t compared;          /* tensors compared against a model file */
    double worst_error;       /* largest measured error over lossy tensors */
} el_verify_report;

/* Decodes every tensor of in_path and checks every checksum and bound. With
 * model non-NULL, also compares each tensor against that model's tensor of
 * the same name. base is needed for delta tensors, as for restore. Fails at
 * the first problem, naming the tensor. */
int el_verify(const char *in_path, const el_model *model, const el_model *base,
              el_progress_fn progress, void *ctx, el_verify_report *report,
              el_error *err);

#endif
