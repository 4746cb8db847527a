/* The models the user opened, with every tensor's analysis and plan: what
 * the terminal application shows and what the batch commands work on. */
#ifndef ELVES_WORKSPACE_H
#define ELVES_WORKSPACE_H

#include <stddef.h>
#include <stdint.h>

#include "../codecs/codec.h"
#include "../codecs/delta.h"
#include "dedup.h"
#include "model.h"
#include "stats.h"

#define EL_MAX_CODECS 16
#define EL_MAX_DELTA 4

/* Memory an export plans for when no budget is given: 512 MiB. */
#define EL_MEMORY_DEFAULT ((size_t)512 << 20)

/* Default bytes of each tensor that a prediction encodes. */
#define EL_SAMPLE_BYTES (256u * 1024u)

typedef enum el_bound_kind {
    EL_BOUND_LOSSLESS,
    EL_BOUND_ABS,
    EL_BOUND_REL
} el_bound_kind;

/* The error a layer may take: none; |w - w'| <= value for every element
 * (abs); or |w - w'| <= value * (max - min) of the layer (rel). */
typedef struct el_bound {
    el_bound_kind kind;
    double value;
} el_bound;

/* Parses "lossless", "abs:E" or "rel:R" with E and R positive and finite. */
int el_bound_parse(const char *text, el_bound *out, el_error *err);

/* Formats a bound the way el_bound_parse reads it. */
void el_bound_format(el_bound bound, char *buf, size_t len);

/* The absolute error the bound allows on a layer with these statistics:
 * 0 for lossless, E for abs:E, R * (max - min) over the finite elements
 * for rel:R (0 for a constant layer, which then needs a lossless codec). */
double el_bound_resolve(el_bound bound, const el_stats *stats);

/* Whether a codec with this worst-case error honours the bound, resolved to
 * abs_bound on its layer. */
int el_bound_allows(el_bound bound, double abs_bound, const el_codec *codec,
                    double max_error);

/* Codec parameters for a resolved absolute bound (0: lossless). */
el_codec_params el_bound_params(double abs_bound, int zstd_level);

int el_bound_equal(el_bound a, el_bound b);

/* How an auto layer picks its codec: `auto` takes the smallest codec that
 * honours the bound; `elves-paper` reproduces the framework of Su et al.
 * (VLDB 2024): after layer dedup, the smallest of raw, distance encoding and
 * ELF, each followed by zstd. */
typedef enum el_policy {
    EL_POLICY_AUTO,
    EL_POLICY_PAPER,
    EL_POLICY_COUNT
} el_policy;

const char *el_policy_name(el_policy policy);
int el_policy_parse(const char *text, el_policy *out, el_error *err);

/* Whether a policy may pick this codec. */
int el_policy_allows(el_policy policy, const el_codec *codec);

typedef struct el_layer {
    el_stats stats;
    el_dup dup;
    el_bound bound;
    double abs_bound;                  /* bound resolved on this layer */
    const el_codec *codec;            /* fixed by the user; NULL means auto */
    el_prediction pred[EL_MAX_CODECS]; /* indexed like el_codecs, at `bound` */
    int pred_level;                    /* the zstd level pred was made at */
    int chosen;                        /* index into el_codecs, or -1 */
    int policy_choice[EL_POLICY_COUNT]; /* what each policy would pick, or -1 */

    /* Against the workspace's base model, when one is set and this layer has
     * a tensor of the same name, dtype and shape there. */
    long base_tensor;                  /* index in the base model, or -1 */
    double base_rel_l2;                /* ||w - b||_2 / ||b||_2 */
    el_prediction delta_pred[EL_MAX_DELTA]; /* indexed like el_delta_codecs */
    int chosen_delta;                  /* index into el_delta_codecs when a delta
                                          beats the standalone choice, else -1 */
} el_layer;

/* One rule of a plan file: layers whose name matches a glob get a bound and
 * a codec (NULL for auto). */
typedef struct el_plan_rule {
    char *match;
    el_bound bound;
    const el_codec *codec;
} el_plan_rule;

typedef struct el_workspace {
    el_model *models;
    size_t n_models;
    el_layer **layers;        /* layers[model][tensor] */
    int zstd_level;           /* level of every zstd stage */
    int threads;              /* worker threads for analysis and export, 1 to 64;
                                 every online core by default */
    size_t chunk_bytes;       /* source bytes per container chunk; 0: default */
    size_t memory_budget;     /* bytes export may hold at once; 0: EL_MEMORY_DEFAULT */
    el_policy policy;         /* how auto layers choose */
    el_bound default_bound;   /* from the last plan loaded; lossless at first */
    const el_codec *default_codec;
    el_plan_rule *rules;      /* from the last plan loaded */
    size_t n_rules;
    long base;                /* model the others are encoded against, or -1 */
    size_t sample_bytes;      /* per-tensor sample for predictions */
    int refine;               /* after the analysis, encode each layer larger
                                 than a sample in full for exact predictions */
    struct el_analysis *analysis; /* the running or latest analysis, or NULL */
} el_workspace;

/* Called with work done and work total (bytes) and a short label. A non-zero
 * return cancels the operation, which then fails with "cancelled". */
typedef int (*el_progress_fn)(void *ctx, uint64_t done, uint64_t total,
                              const char *label);

/* Opens every path as a model. Nothing is analysed yet. */
int el_workspace_open(el_workspace *ws, const char *const *paths, size_t n,
                      el_error *err);

/* Computes statistics, histograms, duplicates and predictions for every
 * tensor, with every layer's bound and codec as they stand: starts the
 * analysis, reports progress from the calling thread and waits for it. */
int el_workspace_analyse(el_workspace *ws, el_progress_fn progress, void *ctx,
                         el_error *err);

/* Asynchronous analysis.
 *
 * el_workspace_analyse_start returns at once and leaves the analysis to
 * ws->threads worker threads plus one coordinating thread, which finds the
 * duplicates once every layer is done. A layer becomes ready (el_layer_ready)
 * as soon as its statistics and predictions are complete, and the duplicate
 * fields of every layer once el_workspace_duplicates_ready returns 1.
 *
 * While the analysis runs, another thread may call the progress, error,
 * readiness, prioritise and wait functions, and el_layer_set_plan on a
 * ready layer. It may also call el_layer_shares_payload,
 * el_layer_predicted_bytes, el_model_predicted_ratio and
 * el_model_policy_ratio, because they leave out what is not ready yet. It must read
 * a layer's fields only once el_layer_ready returned 1 for it, and the dup
 * fields only once el_workspace_duplicates_ready returned 1. Everything else
 * that changes or reads every layer (el_workspace_set_policy,
 * el_workspace_set_base, plans, export) must wait until the analysis has
 * finished. */

/* Starts analysing every layer in the background and returns 0, or -1
 * when no thread could be started. An analysis still running is cancelled
 * and joined first. */
int el_workspace_analyse_start(el_workspace *ws, el_error *err);

/* Bytes of tensor data analysed so far and in all, and whether the whole
 * analysis (duplicates included) has ended, by success, failure or
 * cancellation. All zero before any analysis started. */
void el_workspace_analysis_progress(const el_workspace *ws, uint64_t *done,
                                    uint64_t *total, int *finished);

/* Returns -1 with the first error in err when the analysis failed or was
 * cancelled, and 0 while it runs or after it succeeded. */
int el_workspace_analysis_error(const el_workspace *ws, el_error *err);

/* Waits for the analysis to end and returns 0, or -1 with its first error
 * (or "cancelled"). Fails when no analysis was started. */
int el_workspace_analyse_wait(el_workspace *ws, el_error *err);

/* Cancels the analysis, waits for the layers the workers are on and for
 * the duplicate search if it has begun, joins every thread and frees the
 * analysis state, after which no layer reads as ready. Does nothing
 * without an analysis. el_workspace_close calls it. */
void el_workspace_analysis_free(el_workspace *ws);

/* Bytes of the layers that el_workspace_analyse_start, with ws->refine
 * set, encodes in full after the analysis, done and in all, and whether
 * that pass has ended. The pass runs on the analysis threads. */
void el_workspace_exact_progress(const el_workspace *ws, uint64_t *done, uint64_t *total,
                                 int *finished);

/* Pauses (1) or resumes (0) the exact pass between chunks, so that an
 * export has the cores to itself. */
void el_workspace_pause_exact(el_workspace *ws, int paused);

/* Replaces the estimates of every layer whose exact figures are done with
 * them, and chooses its codec again. Figures computed at a bound the layer
 * no longer has are dropped. Call it from the thread that owns the
 * workspace, like el_layer_set_plan; returns how many layers changed. */
size_t el_workspace_apply_exact(el_workspace *ws);

/* Asks the workers to take this layer next, before the layers in table
 * order, for its analysis or its exact predictions. The latest request goes
 * first; a layer with nothing left to compute is ignored. */
void el_workspace_prioritise(el_workspace *ws, size_t model, size_t tensor);

/* Whether the layer's statistics, choice and predictions are complete. */
int el_layer_ready(const el_workspace *ws, size_t model, size_t tensor);

/* Whether every layer's dup field is filled in. */
int el_workspace_duplicates_ready(const el_workspace *ws);

/* Computes one layer's statistics, exponent histogram and predictions, on
 * the calling thread, without marking it ready. */
int el_layer_analyse(el_workspace *ws, size_t model, size_t tensor,
                     el_error *err);

/* Sets the bound and codec (NULL for auto) of one layer and chooses its
 * codec again. Predictions are recomputed only when the bound or the zstd
 * level changed since they were made, as they do not depend on the codec.
 * Fails when the codec cannot honour the bound, or when the layer is not
 * ready: still analysing, or never analysed because the analysis failed or
 * has not started. */
/* Sets the bound of every layer before the analysis starts, so that the
 * analysis predicts at that bound and a plan with the same bound needs no
 * second prediction. */
void el_workspace_preset_bound(el_workspace *ws, el_bound bound);

int el_layer_set_plan(el_workspace *ws, size_t model, size_t tensor,
                      el_bound bound, const el_codec *codec, el_error *err);

/* Fills order with the indices (into el_codecs) of the codecs an export may
 * use for the layer, best first: the fixed codec alone, or for auto every
 * codec whose prediction honours the bound, by predicted ratio. Returns the
 * count. */
size_t el_layer_candidates(const el_layer *layer, el_policy policy, int *order,
                           size_t max);

/* Writes into buf why codec el_codecs[index] cannot take the layer under
 * its bound and the workspace's policy, as a short phrase ("not lossless:
 * error up to 6e-08"). Returns buf, or NULL when the codec can take it. */
const char *el_layer_codec_reason(const el_workspace *ws, const el_layer *layer,
                                  const el_tensor *tensor, size_t index,
                                  char *buf, size_t len);

/* The codec a layer will be exported with, or NULL when none fits. */
const el_codec *el_layer_codec(const el_layer *layer);

/* Whether a tensor repeats an earlier tensor of the same model under the
 * same codec and bound, so that the container stores it once. */
int el_layer_shares_payload(const el_workspace *ws, size_t model, size_t tensor);

/* Predicted stored bytes of a layer under its chosen codec: 0 for a
 * duplicate of an earlier tensor of the same model under the same plan,
 * which the container stores once. A duplicate of another model's tensor
 * counts in full: the figure is for exporting this model alone, and only
 * a family container stores it once. */
uint64_t el_layer_predicted_bytes(const el_workspace *ws, size_t model,
                                  size_t tensor);

/* Predicted ratio of a whole model if every layer used codec (or, for
 * codec == NULL, each layer's choice), duplicates stored once. Layers the
 * codec cannot take count as stored raw; 0 when it can take none. */
double el_model_predicted_ratio(const el_workspace *ws, size_t model,
                                const el_codec *codec);

/* Makes model `base` the base of every other model (-1: none): pairs their
 * tensors by name, dtype and shape, measures how far each moved, and
 * predicts the delta codecs, which auto then weighs against standalone
 * codecs. The base itself is not exported with its fine-tunes. */
int el_workspace_set_base(el_workspace *ws, long base, el_error *err);

/* The delta codec a layer will be exported with, or NULL. */
const el_delta_codec *el_layer_delta(const el_layer *layer);

/* The base tensor a layer is paired with, or NULL. */
const el_tensor *el_layer_base_tensor(const el_workspace *ws, const el_layer *layer);

/* Predicts ratio and error of a delta codec on a sample of src and base. */
int el_delta_predict(const el_delta_codec *codec, el_dtype dt, const void *src,
                     const void *base, size_t count, const el_codec_params *params,
                     size_t sample_bytes, el_prediction *out, el_error *err);

/* Predicted ratio of a whole model if every auto layer followed policy. */
double el_model_policy_ratio(const el_workspace *ws, size_t model, el_policy policy);

/* Switches the policy of every auto layer and recomputes the choices. */
void el_workspace_set_policy(el_workspace *ws, el_policy policy);

/* Cancels and joins a running analysis, then frees everything. */
void el_workspace_close(el_workspace *ws);

#endif
