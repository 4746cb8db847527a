#include "inspect_json.h"

#include "chunks.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

/* JSON has no NaN or Inf; such statistics are written as null. */
static cJSON *number_or_null(double v)
{
    return isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull();
}

static cJSON *tensor_ratios(const el_layer *layer)
{
    cJSON *ratios = cJSON_CreateObject();
    for (size_t i = 0; ratios != NULL && el_codecs[i] != NULL; i++) {
        const el_prediction *p = &layer->pred[i];
        cJSON_AddItemToObject(ratios, el_codecs[i]->name,
                              p->applicable ? cJSON_CreateNumber(p->ratio)
                                            : cJSON_CreateNull());
    }
    return ratios;
}

static cJSON *histogram(const el_stats *s)
{
    if (s->exponent_hist == NULL)
        return cJSON_CreateNull();

    cJSON *h = cJSON_CreateObject();
    for (unsigned e = 0; h != NULL && e < s->n_exponents; e++) {
        if (s->exponent_hist[e] == 0)
            continue;
        char key[16];
        snprintf(key, sizeof key, "%u", e);
        cJSON_AddItemToObject(h, key, cJSON_CreateNumber((double)s->exponent_hist[e]));
    }
    return h;
}

static cJSON *tensor_json(const el_workspace *ws, size_t m, size_t t)
{
    const el_tensor *tensor = &ws->models[m].tensors[t];
    const el_layer *layer = &ws->layers[m][t];
    const el_stats *s = &layer->stats;
    cJSON *o = cJSON_CreateObject();
    if (o == NULL)
        return NULL;

    cJSON_AddStringToObject(o, "name", tensor->name);
    cJSON_AddStringToObject(o, "dtype", el_tensor_type(tensor));
    if (tensor->derived)
        cJSON_AddTrueToObject(o, "derived");
    cJSON *shape = cJSON_AddArrayToObject(o, "shape");
    for (int d = 0; shape != NULL && d < tensor->ndim; d++)
        cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)tensor->shape[d]));
    cJSON_AddNumberToObject(o, "bytes", (double)tensor->nbytes);
    cJSON_AddItemToObject(o, "min", number_or_null(s->min));
    cJSON_AddItemToObject(o, "max", number_or_null(s->max));
    cJSON_AddItemToObject(o, "mean", number_or_null(s->mean));
    cJSON_AddItemToObject(o, "std", number_or_null(s->std));
    cJSON_AddNumberToObject(o, "zeros", (double)s->zeros);
    cJSON_AddNumberToObject(o, "nan", (double)s->nans);
    cJSON_AddNumberToObject(o, "inf", (double)s->infs);
    cJSON_AddNumberToObject(o, "subnormals", (double)s->subnormals);
    cJSON_AddItemToObject(o, "abs_lt_1", number_or_null(
        s->count ? (double)s->abs_lt_1 / (double)s->count : 0.0));
    cJSON_AddItemToObject(o, "exponent_histogram", histogram(s));
    cJSON_AddItemToObject(o, "exponent_entropy", s->exponent_hist
                          ? cJSON_CreateNumber(s->exponent_entropy) : cJSON_CreateNull());

    if (layer->dup.is_duplicate) {
        const el_model *other = &ws->models[layer->dup.of.model];
        cJSON_AddStringToObject(o, "duplicate_of", other->tensors[layer->dup.of.tensor].name);
        if (layer->dup.of.model != m)
            cJSON_AddStringToObject(o, "duplicate_in", other->path);
    } else {
        cJSON_AddNullToObject(o, "duplicate_of");
    }

    const el_codec *chosen = el_layer_codec(layer);
    cJSON_AddItemToObject(o, "codec", chosen ? cJSON_CreateString(chosen->name)
                                             : cJSON_CreateNull());
    cJSON_AddItemToObject(o, "predicted_ratio", tensor_ratios(layer));
    double order0 = el_stats_order0_ratio(s);
    cJSON_AddItemToObject(o, "order0_ratio", order0 > 0 ? cJSON_CreateNumber(order0)
                                                        : cJSON_CreateNull());

    const el_tensor *base = el_layer_base_tensor(ws, layer);
    if (base != NULL) {
        cJSON *b = cJSON_AddObjectToObject(o, "base");
        cJSON_AddStringToObject(b, "tensor", base->name);
        cJSON_AddItemToObject(b, "rel_l2", number_or_null(layer->base_rel_l2));
        cJSON *ratios = cJSON_AddObjectToObject(b, "predicted_ratio");
        for (size_t i = 0; ratios != NULL && el_delta_codecs[i] != NULL && i < EL_MAX_DELTA;
             i++) {
            const el_prediction *p = &layer->delta_pred[i];
            cJSON_AddItemToObject(ratios, el_delta_codecs[i]->name,
                                  p->applicable ? cJSON_CreateNumber(p->ratio)
                                                : cJSON_CreateNull());
        }
        const el_delta_codec *delta = el_layer_delta(layer);
        cJSON_AddItemToObject(b, "codec", delta ? cJSON_CreateString(delta->name)
                                                : cJSON_CreateNull());
    }

    cJSON *policies = cJSON_AddObjectToObject(o, "policy");
    for (int p = 0; policies != NULL && p < EL_POLICY_COUNT; p++) {
        int choice = layer->policy_choice[p];
        cJSON *pick = cJSON_CreateObject();
        cJSON_AddItemToObject(policies, el_policy_name((el_policy)p), pick);
        cJSON_AddItemToObject(pick, "codec", choice >= 0
                              ? cJSON_CreateString(el_codecs[choice]->name) : cJSON_CreateNull());
        cJSON_AddItemToObject(pick, "ratio", choice >= 0
                              ? cJSON_CreateNumber(layer->pred[choice].ratio) : cJSON_CreateNull());
    }
    return o;
}

static cJSON *model_json(const el_workspace *ws, size_t m)
{
    const el_model *model = &ws->models[m];
    cJSON *o = cJSON_CreateObject();
    if (o == NULL)
        return NULL;

    cJSON_AddStringToObject(o, "path", model->path);
    cJSON_AddStringToObject(o, "format", model->format);
    cJSON_AddNumberToObject(o, "files", (double)model->n_files);
    cJSON_AddNumberToObject(o, "parameters", (double)el_model_parameters(model));
    cJSON_AddNumberToObject(o, "bytes", (double)el_model_tensor_bytes(model));
    cJSON *metadata = model->metadata_json ? cJSON_Parse(model->metadata_json) : NULL;
    if (metadata != NULL)
        cJSON_AddItemToObject(o, "metadata", metadata);

    cJSON *ratios = cJSON_AddObjectToObject(o, "predicted_ratio");
    for (size_t i = 0; ratios != NULL && el_codecs[i] != NULL; i++) {
        double ratio = el_model_predicted_ratio(ws, m, el_codecs[i]);
        cJSON_AddItemToObject(ratios, el_codecs[i]->name,
                              ratio > 0 ? cJSON_CreateNumber(ratio) : cJSON_CreateNull());
    }
    if (ratios != NULL)
        cJSON_AddNumberToObject(ratios, "auto", el_model_predicted_ratio(ws, m, NULL));

    cJSON *policies = cJSON_AddObjectToObject(o, "policy_ratio");
    for (int p = 0; policies != NULL && p < EL_POLICY_COUNT; p++)
        cJSON_AddNumberToObject(policies, el_policy_name((el_policy)p),
                                el_model_policy_ratio(ws, m, (el_policy)p));

    cJSON *tensors = cJSON_AddArrayToObject(o, "tensors");
    for (size_t t = 0; tensors != NULL && t < model->n_tensors; t++)
        cJSON_AddItemToArray(tensors, tensor_json(ws, m, t));
    return o;
}

/* Duplicates across the models at three granularities (tensors,
 * content-defined chunks, fixed chunks), for a workspace of several. */
static int add_dedup(cJSON *root, const el_workspace *ws, el_error *err)
{
    const el_model **models = calloc(ws->n_models, sizeof *models);
    if (models == NULL)
        return el_fail(err, "out of memory");
    for (size_t m = 0; m < ws->n_models; m++)
        models[m] = &ws->models[m];

    el_dedup_report report;
    int rc = el_dedup_analyse(models, ws->n_models, NULL, 0, 2, &report, err);
    if (rc == 0) {
        cJSON *dedup = el_dedup_json(&report, models, ws->n_models);
        if (dedup == NULL)
            rc = el_fail(err, "out of memory building the dedup report");
        else
            cJSON_AddItemToObject(root, "dedup", dedup);
        el_dedup_report_free(&report);
    }
    free(models);
    return rc;
}

char *el_inspect_json(const el_workspace *ws, el_error *err)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *models = root ? cJSON_AddArrayToObject(root, "models") : NULL;
    for (size_t m = 0; models != NULL && m < ws->n_models; m++)
        cJSON_AddItemToArray(models, model_json(ws, m));
    if (ws->n_models > 1 && add_dedup(root, ws, err) != 0) {
        cJSON_Delete(root);
        return NULL;
    }

    char *text = models ? cJSON_Print(root) : NULL;
    cJSON_Delete(root);
    if (text == NULL)
        el_fail(err, "out of memory building the JSON report");
    return text;
}
