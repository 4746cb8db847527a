/* A base model: pairing each fine-tuned layer with the base layer it came
 * from, measuring how far it moved, and predicting the delta codecs. */
#include "workspace.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../codecs/measure.h"
#include "workspace_internal.h"

static int measure(const el_delta_codec *codec, el_dtype dt, const void *src,
                   const void *base, size_t count, const el_codec_params *params,
                   size_t *encoded, double *max_error, el_error *err)
{
    el_buf payload = { 0 };
    int rc = codec->encode(dt, src, base, count, params, &payload, err);
    *encoded = payload.len;
    if (rc == 0 && isinf(*max_error)) {
        size_t bytes = count * el_dtype_size(dt);
        uint8_t *decoded = malloc(bytes ? bytes : 1);
        rc = decoded ? codec->decode(dt, payload.data, payload.len, base, decoded, count, err)
                     : el_fail(err, "out of memory measuring %s", codec->name);
        if (rc == 0)
            *max_error = el_max_abs_error(dt, src, decoded, count);
        free(decoded);
    }
    el_buf_free(&payload);
    return rc;
}

int el_delta_predict(const el_delta_codec *codec, el_dtype dt, const void *src,
                     const void *base, size_t count, const el_codec_params *params,
                     size_t sample_bytes, el_prediction *out, el_error *err)
{
    memset(out, 0, sizeof *out);
    if (!codec->supports(dt))
        return 0;
    out->max_error = codec->max_error(dt, params);
    if (out->max_error < 0)
        return 0;
    out->applicable = 1;

    size_t size = el_dtype_size(dt);
    size_t original = count * size, encoded;
    if (original <= sample_bytes) {
        if (measure(codec, dt, src, base, count, params, &encoded, &out->max_error, err) != 0)
            return -1;
    } else {
        size_t block = sample_bytes / size / EL_PREDICT_BLOCKS;
        block = block ? block : 1;
        original = block * EL_PREDICT_BLOCKS * size;
        uint8_t *a = malloc(original), *b = malloc(original);
        int rc = a && b ? 0 : el_fail(err, "out of memory for a delta prediction sample");
        if (rc == 0) {
            el_predict_gather(src, count, size, block, a);
            el_predict_gather(base, count, size, block, b);
            rc = measure(codec, dt, a, b, block * EL_PREDICT_BLOCKS, params, &encoded,
                         &out->max_error, err);
        }
        free(a);
        free(b);
        if (rc != 0)
            return -1;
        out->estimated = 1;
    }
    out->ratio = encoded ? (double)original / (double)encoded : 0.0;
    return 0;
}

const el_delta_codec *el_layer_delta(const el_layer *layer)
{
    return layer->chosen_delta >= 0 ? el_delta_codecs[layer->chosen_delta] : NULL;
}

const el_tensor *el_layer_base_tensor(const el_workspace *ws, const el_layer *layer)
{
    if (ws->base < 0 || layer->base_tensor < 0)
        return NULL;
    return &ws->models[ws->base].tensors[layer->base_tensor];
}

static double relative_l2(el_dtype dt, const void *w, const void *b, size_t count)
{
    if (!el_dtype_is_float(dt))
        return memcmp(w, b, count * el_dtype_size(dt)) == 0 ? 0.0 : NAN;
    double diff = 0, norm = 0;
    for (size_t i = 0; i < count; i++) {
        double x = el_load_double(dt, w, i), y = el_load_double(dt, b, i);
        if (!isfinite(x) || !isfinite(y))
            continue;
        diff += (x - y) * (x - y);
        norm += y * y;
    }
    return norm > 0 ? sqrt(diff / norm) : (diff > 0 ? INFINITY : 0.0);
}

void el_choose_delta(const el_workspace *ws, el_layer *layer)
{
    layer->chosen_delta = -1;
    if (layer->codec != NULL || ws->policy != EL_POLICY_AUTO)
        return;

    double best = layer->chosen >= 0 ? layer->pred[layer->chosen].ratio : 0.0;
    for (size_t i = 0; el_delta_codecs[i] != NULL && i < EL_MAX_DELTA; i++) {
        const el_prediction *p = &layer->delta_pred[i];
        int allowed = p->applicable
            && (layer->bound.kind == EL_BOUND_LOSSLESS || layer->abs_bound <= 0
                    ? el_delta_codecs[i]->lossless : p->max_error <= layer->abs_bound);
        if (allowed && p->ratio > best) {
            best = p->ratio;
            layer->chosen_delta = (int)i;
        }
    }
}

int el_predict_deltas(el_workspace *ws, size_t m, size_t t, el_error *err)
{
    el_layer *layer = &ws->layers[m][t];
    const el_tensor *tensor = &ws->models[m].tensors[t];
    const el_tensor *base = el_layer_base_tensor(ws, layer);
    memset(layer->delta_pred, 0, sizeof layer->delta_pred);
    layer->chosen_delta = -1;
    if (base == NULL || (long)m == ws->base || tensor->derived)
        return 0;

    el_codec_params params = el_bound_params(layer->abs_bound, ws->zstd_level);
    for (size_t i = 0; el_delta_codecs[i] != NULL && i < EL_MAX_DELTA; i++) {
        if (el_delta_predict(el_delta_codecs[i], tensor->dtype, tensor->data, base->data,
                             tensor->count, &params, ws->sample_bytes, &layer->delta_pred[i],
                             err) != 0)
            return el_fail_context(err, "tensor \"%s\", delta codec %s", tensor->name,
                                   el_delta_codecs[i]->name);
    }
    el_choose_delta(ws, layer);
    return 0;
}

int el_workspace_set_base(el_workspace *ws, long base, el_error *err)
{
    if (base >= (long)ws->n_models)
        return el_fail(err, "base model %ld does not exist (%zu models)", base, ws->n_models);
    ws->base = base;

    for (size_t m = 0; m < ws->n_models; m++) {
        const el_model *model = &ws->models[m];
        for (size_t t = 0; t < model->n_tensors; t++) {
            el_layer *layer = &ws->layers[m][t];
            const el_tensor *tensor = &model->tensors[t];
            layer->base_tensor = -1;
            layer->base_rel_l2 = NAN;
            if (base < 0 || (long)m == base)
                continue;

            long b = el_model_find(&ws->models[base], tensor->name);
            const el_tensor *bt = b >= 0 ? &ws->models[base].tensors[b] : NULL;
            if (bt == NULL || bt->dtype != tensor->dtype || bt->nbytes != tensor->nbytes
                || bt->ndim != tensor->ndim || bt->type_name != NULL || bt->derived
                || memcmp(bt->shape, tensor->shape, sizeof bt->shape) != 0)
                continue;
            layer->base_tensor = b;
            layer->base_rel_l2 = relative_l2(tensor->dtype, tensor->data, bt->data,
                                             tensor->count);
        }
        for (size_t t = 0; t < model->n_tensors; t++)
            if (el_predict_deltas(ws, m, t, err) != 0)
                return -1;
    }
    return 0;
}
