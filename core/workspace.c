/* Opening models together, analysing every tensor, and choosing codecs. */
#include "workspace.h"

#include "plan.h"
#include "workspace_internal.h"

#include <math.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int el_workspace_open(el_workspace *ws, const char *const *paths, size_t n,
                      el_error *err)
{
    memset(ws, 0, sizeof *ws);
    ws->zstd_level = 3;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    ws->threads = 1;
    if (cores > 64)
        ws->threads = 64;
    else if (cores > 1)
        ws->threads = (int)cores;
    ws->sample_bytes = EL_SAMPLE_BYTES;
    ws->base = -1;
    if (n == 0)
        return el_fail(err, "no model given: pass at least one .safetensors file or folder");

    ws->models = calloc(n, sizeof *ws->models);
    ws->layers = calloc(n, sizeof *ws->layers);
    if (ws->models == NULL || ws->layers == NULL) {
        el_workspace_close(ws);
        return el_fail(err, "out of memory opening %zu models", n);
    }

    for (size_t m = 0; m < n; m++) {
        if (el_model_open(paths[m], &ws->models[m], err) != 0) {
            el_workspace_close(ws);
            return -1;
        }
        ws->n_models = m + 1;

        size_t count = ws->models[m].n_tensors;
        ws->layers[m] = calloc(count ? count : 1, sizeof *ws->layers[m]);
        if (ws->layers[m] == NULL) {
            el_workspace_close(ws);
            return el_fail(err, "out of memory for %zu tensors of %s", count, paths[m]);
        }
        for (size_t t = 0; t < count; t++) {
            ws->layers[m][t].chosen = -1;
            ws->layers[m][t].chosen_delta = -1;
            ws->layers[m][t].base_tensor = -1;
        }
    }
    return 0;
}

void el_layer_choose(const el_workspace *ws, el_layer *layer)
{
    int order[EL_MAX_CODECS];
    for (int p = 0; p < EL_POLICY_COUNT; p++) {
        const el_codec *fixed = layer->codec;
        layer->codec = NULL;
        layer->policy_choice[p] = el_layer_candidates(layer, (el_policy)p, order,
                                                      EL_MAX_CODECS) ? order[0] : -1;
        layer->codec = fixed;
    }
    layer->chosen = el_layer_candidates(layer, ws->policy, order, EL_MAX_CODECS)
                        ? order[0] : -1;
}

static int predict_layer(el_workspace *ws, size_t m, size_t t, el_error *err)
{
    const el_tensor *tensor = &ws->models[m].tensors[t];
    el_layer *layer = &ws->layers[m][t];
    layer->abs_bound = el_bound_resolve(layer->bound, &layer->stats);
    layer->pred_level = ws->zstd_level;
    el_codec_params params = el_bound_params(layer->abs_bound, ws->zstd_level);

    for (size_t i = 0; el_codecs[i] != NULL && i < EL_MAX_CODECS; i++) {
        if (el_codec_predict(el_codecs[i], tensor->dtype, tensor->data, tensor->count,
                             &params, ws->sample_bytes, &layer->pred[i], err) != 0)
            return el_fail_context(err, "tensor \"%s\", codec %s", tensor->name,
                                   el_codecs[i]->name);
    }

    el_layer_choose(ws, layer);
    return el_predict_deltas(ws, m, t, err);
}

int el_layer_analyse(el_workspace *ws, size_t m, size_t t, el_error *err)
{
    const el_model *model = &ws->models[m];
    el_layer *layer = &ws->layers[m][t];
    el_stats_free(&layer->stats);
    if (el_stats_compute(&model->tensors[t], &layer->stats, err) != 0)
        return el_fail_context(err, "%s: tensor \"%s\"", model->path, model->tensors[t].name);
    if (predict_layer(ws, m, t, err) != 0)
        return el_fail_context(err, "%s", model->path);
    el_tensor_release(model, &model->tensors[t]);
    return 0;
}

/* Fails with the reason a layer that is not ready cannot take a plan yet. */
static int fail_not_ready(const el_workspace *ws, const el_tensor *t, el_error *err)
{
    uint64_t done, total;
    int finished;
    el_workspace_analysis_progress(ws, &done, &total, &finished);
    if (ws->analysis == NULL)
        return el_fail(err, "tensor \"%s\" is not analysed yet: start the analysis first",
                       t->name);
    if (finished)
        return el_fail(err, "tensor \"%s\" has no analysis because the analysis "
                       "stopped early; reopen the model to analyse it again", t->name);
    return el_fail(err, "tensor \"%s\" is still analysing; try again in a moment",
                   t->name);
}

/* Sets the layer's bound and codec and predicts what they give, unless
 * the predictions already hold for them. */
static int set_and_predict(el_workspace *ws, size_t model, size_t tensor, el_bound bound,
                      const el_codec *codec, el_error *err)
{
    const el_tensor *t = &ws->models[model].tensors[tensor];
    el_layer *layer = &ws->layers[model][tensor];
    el_bound old_bound = layer->bound;
    const el_codec *old_codec = layer->codec;
    layer->bound = bound;
    layer->codec = codec;
    if (el_bound_equal(old_bound, bound) && layer->pred_level == ws->zstd_level) {
        el_layer_choose(ws, layer);
        el_choose_delta(ws, layer);
        return 0;
    }
    int rc = predict_layer(ws, model, tensor, err);
    el_tensor_release(&ws->models[model], t);
    if (rc != 0) {
        layer->bound = old_bound;
        layer->codec = old_codec;
        return -1;
    }
    return 0;
}

/* Returns whether the layer's predictions let its fixed codec meet its
 * bound, and sets err to the reason when they do not. Codecs whose error
 * depends on the data (int8, int4, the casts) are judged here on the
 * prediction sample, and at export chunk by chunk (list_coders). */
static int fixed_codec_fits(const el_workspace *ws, const el_layer *layer,
                            const el_tensor *t, const el_codec *codec, el_error *err)
{
    int order[EL_MAX_CODECS];
    if (el_layer_candidates(layer, ws->policy, order, EL_MAX_CODECS) > 0)
        return 1;

    size_t index = 0;
    while (el_codecs[index] != codec)
        index++;
    char reason[128], bound[64];
    if (el_layer_codec_reason(ws, layer, t, index, reason, sizeof reason) == NULL)
        snprintf(reason, sizeof reason, "no prediction meets the bound");
    el_bound_format(layer->bound, bound, sizeof bound);
    el_fail(err, "codec %s cannot honour bound %s on %s tensor \"%s\": %s; choose auto, "
            "a lossless codec or a looser bound", codec->name, bound,
            el_dtype_name(t->dtype), t->name, reason);
    return 0;
}

int el_layer_set_plan(el_workspace *ws, size_t model, size_t tensor,
                      el_bound bound, const el_codec *codec, el_error *err)
{
    const el_tensor *t = &ws->models[model].tensors[tensor];
    el_layer *layer = &ws->layers[model][tensor];

    if (!el_layer_ready(ws, model, tensor))
        return fail_not_ready(ws, t, err);
    if (codec != NULL) {
        double abs_bound = el_bound_resolve(bound, &layer->stats);
        el_codec_params params = el_bound_params(abs_bound, ws->zstd_level);
        double max_error = codec->max_error(t->dtype, &params);
        char text[64];
        el_bound_format(bound, text, sizeof text);
        if (!codec->supports(t->dtype))
            return el_fail(err, "codec %s does not support %s tensor \"%s\": choose auto "
                           "or another codec", codec->name, el_dtype_name(t->dtype), t->name);
        /* A data-dependent error (+Inf) is judged by the prediction, in
         * fixed_codec_fits, and at export by measuring every chunk. */
        if (!isinf(max_error) && !el_bound_allows(bound, abs_bound, codec, max_error))
            return el_fail(err, "codec %s cannot honour bound %s on %s tensor \"%s\": "
                           "choose auto, a lossless codec or a looser bound",
                           codec->name, text, el_dtype_name(t->dtype), t->name);
    }

    el_bound old_bound = layer->bound;
    const el_codec *old_codec = layer->codec;
    if (set_and_predict(ws, model, tensor, bound, codec, err) != 0)
        return -1;
    if (codec == NULL || fixed_codec_fits(ws, layer, t, codec, err))
        return 0;

    /* The old plan gets its predictions back. If they cannot be made
     * again, the layer takes auto under the new bound, which every layer
     * can take. */
    el_error ignored;
    if (set_and_predict(ws, model, tensor, old_bound, old_codec, &ignored) != 0)
        set_and_predict(ws, model, tensor, bound, NULL, &ignored);
    return -1;
}

/* A lossy codec must save this much over the best lossless one to be
 * chosen: its manifest entry carries error figures and a second checksum
 * (tens of bytes), and a change to the weights for a fraction of a percent
 * is not worth it. */
#define LOSSY_MIN_SAVING_BYTES 64.0
#define LOSSY_MIN_SAVING_SHARE 0.005

/* Moves the best lossless candidate to the front when the best lossy one
 * does not save enough. */
static void prefer_exact(const el_layer *layer, int *order, size_t n)
{
    if (n < 2 || el_codecs[order[0]]->lossless)
        return;

    size_t exact = 1;
    while (exact < n && !el_codecs[order[exact]]->lossless)
        exact++;
    if (exact == n)
        return;

    double nbytes = (double)layer->stats.count * layer->stats.n_planes;
    double lossy = nbytes / layer->pred[order[0]].ratio;
    double lossless = nbytes / layer->pred[order[exact]].ratio;
    double saving = lossless - lossy;
    if (saving > LOSSY_MIN_SAVING_BYTES && saving > LOSSY_MIN_SAVING_SHARE * lossless)
        return;

    int best_exact = order[exact];
    memmove(order + 1, order, exact * sizeof *order);
    order[0] = best_exact;
}

size_t el_layer_candidates(const el_layer *layer, el_policy policy, int *order,
                           size_t max)
{
    size_t n = 0;
    for (size_t i = 0; el_codecs[i] != NULL && i < EL_MAX_CODECS && n < max; i++) {
        const el_prediction *p = &layer->pred[i];
        if (!p->applicable
            || !el_bound_allows(layer->bound, layer->abs_bound, el_codecs[i], p->max_error))
            continue;
        if (layer->codec != NULL && layer->codec != el_codecs[i])
            continue;
        if (layer->codec == NULL && !el_policy_allows(policy, el_codecs[i]))
            continue;

        /* Insertion by ratio, stable, so ties keep table order. */
        size_t at = n++;
        while (at > 0 && layer->pred[order[at - 1]].ratio < p->ratio) {
            order[at] = order[at - 1];
            at--;
        }
        order[at] = (int)i;
    }

    if (layer->codec == NULL)
        prefer_exact(layer, order, n);
    return n;
}

const char *el_layer_codec_reason(const el_workspace *ws, const el_layer *layer,
                                  const el_tensor *tensor, size_t index,
                                  char *buf, size_t len)
{
    const el_codec *codec = el_codecs[index];
    const el_prediction *p = &layer->pred[index];

    if (!codec->supports(tensor->dtype)) {
        snprintf(buf, len, "does not take %s", el_dtype_name(tensor->dtype));
    } else if (!p->applicable && layer->bound.kind == EL_BOUND_LOSSLESS) {
        snprintf(buf, len, "needs an abs or rel bound");
    } else if (!p->applicable) {
        snprintf(buf, len, "cannot reach %.3g on %s", layer->abs_bound,
                 el_dtype_name(tensor->dtype));
    } else if (!el_bound_allows(layer->bound, layer->abs_bound, codec, p->max_error)) {
        if (layer->bound.kind == EL_BOUND_LOSSLESS || layer->abs_bound <= 0)
            snprintf(buf, len, "not lossless: error up to %.3g", p->max_error);
        else
            snprintf(buf, len, "error %.3g%s above %.3g", p->max_error,
                     p->estimated ? " (sample)" : "", layer->abs_bound);
    } else if (layer->codec == NULL && !el_policy_allows(ws->policy, codec)) {
        snprintf(buf, len, "not a %s candidate", el_policy_name(ws->policy));
    } else {
        return NULL;
    }
    return buf;
}

const el_codec *el_layer_codec(const el_layer *layer)
{
    return layer->chosen >= 0 ? el_codecs[layer->chosen] : NULL;
}

/* Whether a tensor repeats an earlier tensor of the same model under the
 * same codec and bound, so that the container stores it as a reference. */
int el_layer_shares_payload(const el_workspace *ws, size_t model, size_t tensor)
{
    const el_layer *layer = &ws->layers[model][tensor];
    if (!el_workspace_duplicates_ready(ws))
        return 0;
    if (!layer->dup.is_duplicate || layer->dup.of.model != model)
        return 0;

    const el_layer *first = &ws->layers[model][layer->dup.of.tensor];
    return first->chosen == layer->chosen && first->abs_bound == layer->abs_bound
        && el_bound_equal(first->bound, layer->bound);
}

static uint64_t predicted_bytes(uint64_t nbytes, const el_prediction *p)
{
    if (!p->applicable || !(p->ratio > 0))
        return nbytes;
    return (uint64_t)((double)nbytes / p->ratio + 0.5);
}

uint64_t el_layer_predicted_bytes(const el_workspace *ws, size_t model, size_t tensor)
{
    const el_layer *layer = &ws->layers[model][tensor];
    uint64_t nbytes = ws->models[model].tensors[tensor].nbytes;
    if (!el_layer_ready(ws, model, tensor))
        return nbytes;
    if (el_layer_shares_payload(ws, model, tensor))
        return 0;
    if (layer->chosen_delta >= 0)
        return predicted_bytes(nbytes, &layer->delta_pred[layer->chosen_delta]);
    if (layer->chosen < 0)
        return nbytes;
    return predicted_bytes(nbytes, &layer->pred[layer->chosen]);
}

double el_model_predicted_ratio(const el_workspace *ws, size_t model,
                                const el_codec *codec)
{
    const el_model *mdl = &ws->models[model];
    int index = -1;
    for (size_t i = 0; codec != NULL && el_codecs[i] != NULL; i++)
        if (el_codecs[i] == codec)
            index = (int)i;

    uint64_t original = 0, stored = 0;
    int applies = codec == NULL;
    int dups_ready = el_workspace_duplicates_ready(ws);
    for (size_t t = 0; t < mdl->n_tensors; t++) {
        if (!el_layer_ready(ws, model, t))
            continue;
        const el_layer *layer = &ws->layers[model][t];
        uint64_t nbytes = mdl->tensors[t].nbytes;
        original += nbytes;

        int same_model_dup = dups_ready && layer->dup.is_duplicate
                             && layer->dup.of.model == model;
        if (codec == NULL)
            stored += el_layer_predicted_bytes(ws, model, t);
        else if (!same_model_dup && index >= 0)
            stored += predicted_bytes(nbytes, &layer->pred[index]);
        if (index >= 0 && layer->pred[index].applicable)
            applies = 1;
    }
    if (!applies)
        return 0.0;
    if (stored == 0)
        return original == 0 ? 1.0 : 0.0;
    return (double)original / (double)stored;
}

double el_model_policy_ratio(const el_workspace *ws, size_t model, el_policy policy)
{
    const el_model *mdl = &ws->models[model];
    uint64_t original = 0, stored = 0;
    int dups_ready = el_workspace_duplicates_ready(ws);
    for (size_t t = 0; t < mdl->n_tensors; t++) {
        if (!el_layer_ready(ws, model, t))
            continue;
        const el_layer *layer = &ws->layers[model][t];
        uint64_t nbytes = mdl->tensors[t].nbytes;
        int choice = layer->codec != NULL ? layer->chosen : layer->policy_choice[policy];
        original += nbytes;
        if (dups_ready && layer->dup.is_duplicate && layer->dup.of.model == model)
            continue;
        stored += choice >= 0 ? predicted_bytes(nbytes, &layer->pred[choice]) : nbytes;
    }
    return stored ? (double)original / (double)stored : 1.0;
}

void el_workspace_preset_bound(el_workspace *ws, el_bound bound)
{
    for (size_t m = 0; m < ws->n_models; m++)
        for (size_t t = 0; t < ws->models[m].n_tensors; t++)
            ws->layers[m][t].bound = bound;
}

void el_workspace_set_policy(el_workspace *ws, el_policy policy)
{
    ws->policy = policy;
    for (size_t m = 0; m < ws->n_models; m++)
        for (size_t t = 0; t < ws->models[m].n_tensors; t++) {
            el_layer_choose(ws, &ws->layers[m][t]);
            el_choose_delta(ws, &ws->layers[m][t]);
        }
}

void el_workspace_close(el_workspace *ws)
{
    el_workspace_analysis_free(ws);
    for (size_t m = 0; m < ws->n_models; m++) {
        for (size_t t = 0; ws->layers && ws->layers[m] && t < ws->models[m].n_tensors; t++)
            el_stats_free(&ws->layers[m][t].stats);
        if (ws->layers)
            free(ws->layers[m]);
        el_model_close(&ws->models[m]);
    }
    free(ws->layers);
    free(ws->models);
    el_plan_rules_free(ws);
    memset(ws, 0, sizeof *ws);
}
