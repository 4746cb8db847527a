/* Bounds, plans and predictions on the bundled stories260K model. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../core/inspect_json.h"
#include "../core/workspace.h"

#define SAMPLE "samples/stories260K.safetensors"

static void bound_parse_accepts_valid(void **state)
{
    el_bound b;
    el_error err;
    assert_int_equal(el_bound_parse("lossless", &b, &err), 0);
    assert_int_equal(b.kind, EL_BOUND_LOSSLESS);
    assert_int_equal(el_bound_parse("abs:1e-4", &b, &err), 0);
    assert_int_equal(b.kind, EL_BOUND_ABS);
    assert_true(b.value == 1e-4);

    assert_int_equal(el_bound_parse("rel:0.01", &b, &err), 0);
    assert_int_equal(b.kind, EL_BOUND_REL);
    assert_true(b.value == 0.01);

    char text[64];
    el_bound_format(b, text, sizeof text);
    assert_string_equal(text, "rel:0.01");
    el_bound again;
    assert_int_equal(el_bound_parse(text, &again, &err), 0);
    assert_true(again.value == b.value);
}

static void bound_parse_rejects_invalid(void **state)
{
    static const char *const bad[] = {
        "", "abs:", "abs:-1", "abs:0", "abs:nan", "abs:inf", "abs:1e-4x", "rel:", "rel:-0.1", "max:0.1",
        "Lossless", "abs:1e999",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        el_bound b;
        el_error err;
        assert_int_equal(el_bound_parse(bad[i], &b, &err), -1);
        assert_non_null(strstr(err.msg, "bound"));
    }
}

static int open_sample(void **state)
{
    el_workspace *ws = calloc(1, sizeof *ws);
    const char *path = SAMPLE;
    el_error err;
    if (ws == NULL || el_workspace_open(ws, &path, 1, &err) != 0
        || el_workspace_analyse(ws, NULL, NULL, &err) != 0) {
        free(ws);
        return -1;
    }
    *state = ws;
    return 0;
}

static int close_sample(void **state)
{
    el_workspace_close(*state);
    free(*state);
    return 0;
}

static void workspace_lossless_picks_lossless(void **state)
{
    el_workspace *ws = *state;
    for (size_t t = 0; t < ws->models[0].n_tensors; t++) {
        const el_codec *codec = el_layer_codec(&ws->layers[0][t]);
        assert_non_null(codec);
        assert_true(codec->lossless);
    }
    assert_true(el_model_predicted_ratio(ws, 0, NULL) > 1.1);
}

static void workspace_bound_picks_smaller_codec(void **state)
{
    el_workspace *ws = *state;
    el_bound bound = { EL_BOUND_ABS, 1e-3 };
    el_error err;
    double lossless = el_model_predicted_ratio(ws, 0, NULL);
    for (size_t t = 0; t < ws->models[0].n_tensors; t++)
        assert_int_equal(el_layer_set_plan(ws, 0, t, bound, NULL, &err), 0);

    assert_true(el_model_predicted_ratio(ws, 0, NULL) > 2 * lossless);
    long t = el_model_find(&ws->models[0], "tok_embeddings.weight");
    assert_true(t >= 0);
    const el_layer *layer = &ws->layers[0][t];
    const el_prediction *p = &layer->pred[layer->chosen];
    assert_true(p->max_error <= 1e-3);
}

static void workspace_rejects_codec_over_bound(void **state)
{
    el_workspace *ws = *state;
    el_bound lossless = { EL_BOUND_LOSSLESS, 0 };
    el_error err;
    long t = el_model_find(&ws->models[0], "norm.weight");
    assert_true(t >= 0);

    assert_int_equal(el_layer_set_plan(ws, 0, (size_t)t, lossless, el_codec_find("elf"), &err), -1);
    assert_non_null(strstr(err.msg, "elf"));
    assert_non_null(strstr(err.msg, "norm.weight"));
    assert_null(ws->layers[0][t].codec);
}

/* int8's error depends on the data, so only its prediction can reject it:
 * under a lossless bound, or under a bound tighter than its sample's
 * error, the plan fails with the reason and the layer keeps its plan.
 * Before, the plan was taken and the export failed with "no codec fits
 * its plan". */
static void workspace_rejects_data_dependent_codec(void **state)
{
    el_workspace *ws = *state;
    el_bound lossless = { EL_BOUND_LOSSLESS, 0 };
    el_bound tight = { EL_BOUND_ABS, 1e-9 };
    el_bound loose = { EL_BOUND_ABS, 1.0 };
    el_error err;
    const el_codec *int8 = el_codec_find("int8");
    long t = el_model_find(&ws->models[0], "tok_embeddings.weight");
    assert_true(t >= 0);
    el_layer *layer = &ws->layers[0][t];

    assert_int_equal(el_layer_set_plan(ws, 0, (size_t)t, lossless, int8, &err), -1);
    assert_non_null(strstr(err.msg, "int8"));
    assert_non_null(strstr(err.msg, "not lossless"));
    assert_null(layer->codec);
    assert_int_equal(layer->bound.kind, EL_BOUND_LOSSLESS);

    assert_int_equal(el_layer_set_plan(ws, 0, (size_t)t, tight, int8, &err), -1);
    assert_non_null(strstr(err.msg, "above"));
    assert_null(layer->codec);
    assert_int_equal(layer->bound.kind, EL_BOUND_LOSSLESS);
    assert_true(layer->chosen >= 0);
    assert_true(el_codecs[layer->chosen]->lossless);

    assert_int_equal(el_layer_set_plan(ws, 0, (size_t)t, loose, int8, &err), 0);
    assert_ptr_equal(layer->codec, int8);
}

/* A plan that keeps a layer's bound changes its codec and choice, not its
 * predictions: a marker written into them survives. A new zstd level or a
 * new bound predicts again and overwrites it. */
static void workspace_same_bound_keeps_predictions(void **state)
{
    el_workspace *ws = *state;
    el_bound lossless = { EL_BOUND_LOSSLESS, 0 };
    el_bound bound = { EL_BOUND_ABS, 1e-3 };
    el_error err;
    long t = el_model_find(&ws->models[0], "tok_embeddings.weight");
    assert_true(t >= 0);
    el_layer *layer = &ws->layers[0][t];
    const el_codec *zstd = el_codec_find("zstd");
    int zstd_index = -1;
    for (int i = 0; el_codecs[i] != NULL; i++)
        if (el_codecs[i] == zstd)
            zstd_index = i;
    assert_true(zstd_index >= 0);

    layer->pred[zstd_index].ratio = -7.0;
    assert_int_equal(el_layer_set_plan(ws, 0, (size_t)t, lossless, zstd, &err), 0);
    assert_ptr_equal(layer->codec, zstd);
    assert_int_equal(layer->chosen, zstd_index);
    assert_true(layer->pred[zstd_index].ratio == -7.0);

    const int level = ws->zstd_level;
    ws->zstd_level = 19;
    assert_int_equal(el_layer_set_plan(ws, 0, (size_t)t, lossless, zstd, &err), 0);
    assert_true(layer->pred[zstd_index].ratio > 0);
    ws->zstd_level = level;

    layer->pred[zstd_index].ratio = -7.0;
    assert_int_equal(el_layer_set_plan(ws, 0, (size_t)t, bound, NULL, &err), 0);
    assert_true(layer->pred[zstd_index].ratio > 0);
}

static void workspace_rel_bound_resolves(void **state)
{
    el_workspace *ws = *state;
    el_bound bound = { EL_BOUND_REL, 1e-3 };
    el_error err;
    long t = el_model_find(&ws->models[0], "tok_embeddings.weight");
    assert_true(t >= 0);
    assert_int_equal(el_layer_set_plan(ws, 0, (size_t)t, bound, NULL, &err), 0);

    const el_layer *layer = &ws->layers[0][t];
    double expected = 1e-3 * (layer->stats.max - layer->stats.min);
    assert_true(layer->abs_bound == expected);
    assert_true(layer->pred[layer->chosen].max_error <= expected);
    assert_false(el_layer_codec(layer)->lossless);
}

/* Every exponent histogram in the JSON report must sum to its tensor's
 * element count. */
static void inspect_json_histograms_sum(void **state)
{
    el_workspace *ws = *state;
    el_error err;
    char *text = el_inspect_json(ws, &err);
    assert_non_null(text);
    cJSON *root = cJSON_Parse(text);
    free(text);
    assert_non_null(root);

    cJSON *model = cJSON_GetArrayItem(cJSON_GetObjectItem(root, "models"), 0);
    assert_string_equal(cJSON_GetObjectItem(model, "format")->valuestring, "safetensors");
    assert_non_null(cJSON_GetObjectItem(cJSON_GetObjectItem(model, "predicted_ratio"), "elf"));

    cJSON *tensor;
    size_t n = 0;
    cJSON_ArrayForEach(tensor, cJSON_GetObjectItem(model, "tensors")) {
        double elements = 1;
        cJSON *dim;
        cJSON_ArrayForEach(dim, cJSON_GetObjectItem(tensor, "shape"))
            elements *= dim->valuedouble;

        double sum = 0;
        cJSON *bin;
        cJSON_ArrayForEach(bin, cJSON_GetObjectItem(tensor, "exponent_histogram"))
            sum += bin->valuedouble;
        assert_true(sum == elements);

        double share = cJSON_GetObjectItem(tensor, "abs_lt_1")->valuedouble;
        assert_true(share >= 0 && share <= 1);
        assert_true(cJSON_IsNull(cJSON_GetObjectItem(tensor, "duplicate_of")));
        n++;
    }
    assert_int_equal(n, ws->models[0].n_tensors);
    cJSON_Delete(root);
}

static el_workspace *open_unanalysed(void)
{
    el_workspace *ws = calloc(1, sizeof *ws);
    const char *path = SAMPLE;
    el_error err;
    assert_non_null(ws);
    assert_int_equal(el_workspace_open(ws, &path, 1, &err), 0);
    return ws;
}

static void close_unanalysed(el_workspace *ws)
{
    el_workspace_close(ws);
    free(ws);
}

static void async_plan_rejected_before_start(void **state)
{
    el_workspace *ws = open_unanalysed();
    el_bound lossless = { EL_BOUND_LOSSLESS, 0 };
    el_error err;
    uint64_t done, total;
    int finished;

    assert_false(el_layer_ready(ws, 0, 0));
    assert_false(el_workspace_duplicates_ready(ws));
    el_workspace_analysis_progress(ws, &done, &total, &finished);
    assert_int_equal(finished, 0);
    assert_int_equal(el_layer_set_plan(ws, 0, 0, lossless, NULL, &err), -1);
    assert_non_null(strstr(err.msg, "not analysed"));
    assert_int_equal(el_workspace_analyse_wait(ws, &err), -1);
    close_unanalysed(ws);
}

/* The asynchronous analysis, with a request for the last layer, ends with
 * every layer ready and the same choices and ratios as the synchronous one. */
static void async_matches_sync(void **state)
{
    el_workspace *sync = *state;
    el_workspace *ws = open_unanalysed();
    el_error err;
    size_t n = ws->models[0].n_tensors;

    assert_int_equal(el_workspace_analyse_start(ws, &err), 0);
    el_workspace_prioritise(ws, 0, n - 1);
    el_workspace_prioritise(ws, 0, n); /* out of range: ignored */
    assert_int_equal(el_workspace_analyse_wait(ws, &err), 0);

    uint64_t done, total;
    int finished;
    el_workspace_analysis_progress(ws, &done, &total, &finished);
    assert_int_equal(finished, 1);
    assert_true(done == total);
    assert_true(total == el_model_tensor_bytes(&ws->models[0]));
    assert_true(el_workspace_duplicates_ready(ws));
    assert_int_equal(el_workspace_analysis_error(ws, &err), 0);

    for (size_t t = 0; t < n; t++) {
        assert_true(el_layer_ready(ws, 0, t));
        assert_int_equal(ws->layers[0][t].chosen, sync->layers[0][t].chosen);
        assert_int_equal(ws->layers[0][t].dup.is_duplicate, sync->layers[0][t].dup.is_duplicate);
        assert_true(el_layer_predicted_bytes(ws, 0, t) == el_layer_predicted_bytes(sync, 0, t));
    }
    assert_true(el_model_predicted_ratio(ws, 0, NULL) == el_model_predicted_ratio(sync, 0, NULL));
    close_unanalysed(ws);
}

/* Until a layer is ready the readers leave it out: the plan ratio covers
 * only ready layers, and a plan on a layer not ready is rejected. Polls
 * while the workers run, so a ThreadSanitizer build checks the handover. */
static void async_readers_skip_unready(void **state)
{
    el_workspace *ws = open_unanalysed();
    el_bound lossless = { EL_BOUND_LOSSLESS, 0 };
    el_error err;
    size_t n = ws->models[0].n_tensors;
    int finished = 0;

    assert_int_equal(el_workspace_analyse_start(ws, &err), 0);
    while (!finished) {
        uint64_t done, total;
        el_workspace_analysis_progress(ws, &done, &total, &finished);
        assert_true(done <= total);
        for (size_t t = 0; t < n; t++) {
            if (el_layer_ready(ws, 0, t)) {
                assert_true(ws->layers[0][t].stats.count == ws->models[0].tensors[t].count);
                assert_int_equal(el_layer_set_plan(ws, 0, t, lossless, NULL, &err), 0);
            } else if (el_layer_set_plan(ws, 0, t, lossless, NULL, &err) != 0) {
                assert_non_null(strstr(err.msg, "still analysing"));
            } else {
                /* The layer became ready after el_layer_ready looked. */
                assert_true(el_layer_ready(ws, 0, t));
            }
        }
        assert_true(el_model_predicted_ratio(ws, 0, NULL) >= 0);
    }
    assert_int_equal(el_workspace_analyse_wait(ws, &err), 0);
    close_unanalysed(ws);
}

static void async_close_while_running(void **state)
{
    el_workspace *ws = open_unanalysed();
    el_error err;

    assert_int_equal(el_workspace_analyse_start(ws, &err), 0);
    close_unanalysed(ws);

    /* Starting twice cancels and replaces the first analysis. */
    ws = open_unanalysed();
    assert_int_equal(el_workspace_analyse_start(ws, &err), 0);
    assert_int_equal(el_workspace_analyse_start(ws, &err), 0);
    assert_int_equal(el_workspace_analyse_wait(ws, &err), 0);
    assert_true(el_layer_ready(ws, 0, 0));
    close_unanalysed(ws);
}

/* With refine set, every layer larger than the sample gets exact figures
 * once the owner applies them: each equals encoding the whole tensor, as
 * no tensor of the sample is larger than one chunk. A layer whose bound
 * changed after its analysis keeps its new estimates. */
static void async_exact_replaces_estimates(void **state)
{
    el_workspace *ws = open_unanalysed();
    el_error err;
    ws->sample_bytes = 4096;
    ws->refine = 1;
    const el_bound bound = { EL_BOUND_ABS, 1e-4 };
    for (size_t t = 0; t < ws->models[0].n_tensors; t++)
        ws->layers[0][t].bound = bound;

    assert_int_equal(el_workspace_analyse_start(ws, &err), 0);
    assert_int_equal(el_workspace_analyse_wait(ws, &err), 0);
    uint64_t done, total;
    int finished;
    el_workspace_exact_progress(ws, &done, &total, &finished);
    assert_true(finished);
    assert_true(total > 0);
    assert_true(done == total);

    /* The largest layer changes its bound before the figures are applied. */
    size_t largest = 0;
    for (size_t t = 1; t < ws->models[0].n_tensors; t++)
        if (ws->models[0].tensors[t].nbytes > ws->models[0].tensors[largest].nbytes)
            largest = t;
    const el_bound looser = { EL_BOUND_ABS, 1e-3 };
    assert_int_equal(el_layer_set_plan(ws, 0, largest, looser, NULL, &err), 0);

    size_t estimated_layers = 0;
    for (size_t t = 0; t < ws->models[0].n_tensors; t++)
        estimated_layers += ws->models[0].tensors[t].nbytes > ws->sample_bytes;
    assert_int_equal(el_workspace_apply_exact(ws), estimated_layers - 1);
    assert_int_equal(el_workspace_apply_exact(ws), 0);

    for (size_t t = 0; t < ws->models[0].n_tensors; t++) {
        const el_tensor *tensor = &ws->models[0].tensors[t];
        const el_layer *layer = &ws->layers[0][t];
        el_codec_params params = el_bound_params(layer->abs_bound, ws->zstd_level);
        for (size_t i = 0; el_codecs[i] != NULL; i++) {
            const el_prediction *p = &layer->pred[i];
            if (!p->applicable)
                continue;
            if (t == largest && tensor->nbytes > ws->sample_bytes) {
                assert_true(p->estimated);
                continue;
            }
            assert_false(p->estimated);
            el_prediction whole;
            assert_int_equal(el_codec_predict(el_codecs[i], tensor->dtype, tensor->data,
                                              tensor->count, &params, SIZE_MAX, &whole, &err), 0);
            if (p->ratio != whole.ratio)
                fail_msg("tensor %s, codec %s: exact ratio %.9g, whole-tensor ratio %.9g",
                         tensor->name, el_codecs[i]->name, p->ratio, whole.ratio);
        }
    }
    close_unanalysed(ws);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bound_parse_accepts_valid),
        cmocka_unit_test(bound_parse_rejects_invalid),
        cmocka_unit_test_setup_teardown(workspace_lossless_picks_lossless, open_sample, close_sample),
        cmocka_unit_test_setup_teardown(workspace_bound_picks_smaller_codec, open_sample, close_sample),
        cmocka_unit_test_setup_teardown(workspace_rejects_codec_over_bound, open_sample, close_sample),
        cmocka_unit_test_setup_teardown(workspace_rejects_data_dependent_codec, open_sample,
                                        close_sample),
        cmocka_unit_test_setup_teardown(workspace_rel_bound_resolves, open_sample, close_sample),
        cmocka_unit_test_setup_teardown(workspace_same_bound_keeps_predictions, open_sample,
                                        close_sample),
        cmocka_unit_test_setup_teardown(inspect_json_histograms_sum, open_sample, close_sample),
        cmocka_unit_test(async_plan_rejected_before_start),
        cmocka_unit_test_setup_teardown(async_matches_sync, open_sample, close_sample),
        cmocka_unit_test(async_readers_skip_unready),
        cmocka_unit_test(async_close_while_running),
        cmocka_unit_test(async_exact_replaces_estimates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
