/* Plan files: rules by glob, per-layer overrides, rejection of bad plans
 * without side effects, and a save/load round trip. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../core/plan.h"
#include "../core/workspace.h"

#define SAMPLE "samples/stories260K.safetensors"

typedef struct fixture {
    el_workspace ws;
    char path[64];
} fixture;

static int open_sample(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    const char *model = SAMPLE;
    el_error err;
    if (f == NULL || el_workspace_open(&f->ws, &model, 1, &err) != 0
        || el_workspace_analyse(&f->ws, NULL, NULL, &err) != 0) {
        free(f);
        return -1;
    }
    strcpy(f->path, "/tmp/elves-plan-XXXXXX");
    int fd = mkstemp(f->path);
    if (fd < 0)
        return -1;
    close(fd);
    *state = f;
    return 0;
}

static int close_sample(void **state)
{
    fixture *f = *state;
    unlink(f->path);
    el_workspace_close(&f->ws);
    free(f);
    return 0;
}

static void write_text(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    assert_true(fputs(text, fp) >= 0);
    assert_int_equal(fclose(fp), 0);
}

static const el_layer *layer_named(const el_workspace *ws, const char *name)
{
    long t = el_model_find(&ws->models[0], name);
    assert_true(t >= 0);
    return &ws->layers[0][t];
}

static void plan_rules_and_overrides(void **state)
{
    fixture *f = *state;
    el_error err;
    write_text(f->path,
               "{\"default\": {\"bound\": \"abs:1e-3\"},\n"
               " \"rules\": [{\"match\": \"*norm*\", \"bound\": \"lossless\"},\n"
               "           {\"match\": \"*.w1.*\", \"bound\": \"abs:1e-4\", \"codec\": \"elf-m\"}],\n"
               " \"layers\": {\"layers.0.feed_forward.w1.weight\": {\"bound\": \"rel:0.01\"}}}\n");
    assert_int_equal(el_plan_load(&f->ws, 0, f->path, &err), 0);

    const el_layer *norm = layer_named(&f->ws, "layers.1.ffn_norm.weight");
    assert_int_equal(norm->bound.kind, EL_BOUND_LOSSLESS);
    assert_true(el_layer_codec(norm)->lossless);

    const el_layer *w1 = layer_named(&f->ws, "layers.2.feed_forward.w1.weight");
    assert_int_equal(w1->bound.kind, EL_BOUND_ABS);
    assert_true(w1->bound.value == 1e-4);
    assert_ptr_equal(w1->codec, el_codec_find("elf-m"));

    const el_layer *override = layer_named(&f->ws, "layers.0.feed_forward.w1.weight");
    assert_int_equal(override->bound.kind, EL_BOUND_REL);
    assert_ptr_equal(override->codec, el_codec_find("elf-m"));

    const el_layer *other = layer_named(&f->ws, "tok_embeddings.weight");
    assert_true(other->bound.value == 1e-3);
    assert_null(other->codec);
}

static void plan_rejects_invalid(void **state)
{
    static const struct {
        const char *text;
        const char *message;
    } cases[] = {
        { "[1, 2]", "not a JSON object" },
        { "{\"default\": {\"bound\": \"abs:-1\"}}", "invalid bound" },
        { "{\"rules\": [{\"bound\": \"lossless\"}]}", "\"match\"" },
        { "{\"rules\": [{\"match\": \"*\", \"codec\": \"gzip\"}]}", "unknown codec \"gzip\"" },
        { "{\"layers\": {\"no.such.tensor\": {\"bound\": \"lossless\"}}}", "no.such.tensor" },
        { "{\"policy\": \"smallest\"}", "unknown policy" },
        { "{\"default\": {\"bound\": \"lossless\", \"codec\": \"elf\"}}", "cannot honour" },
        { "{\"default\": ", "not valid JSON" },
    };
    fixture *f = *state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        el_error err;
        write_text(f->path, cases[i].text);
        assert_int_equal(el_plan_load(&f->ws, 0, f->path, &err), -1);
        if (strstr(err.msg, cases[i].message) == NULL)
            fail_msg("plan %s: message \"%s\" lacks \"%s\"", cases[i].text, err.msg,
                     cases[i].message);

        assert_int_equal(f->ws.n_rules, 0);
        assert_int_equal(f->ws.policy, EL_POLICY_AUTO);
        for (size_t t = 0; t < f->ws.models[0].n_tensors; t++) {
            assert_int_equal(f->ws.layers[0][t].bound.kind, EL_BOUND_LOSSLESS);
            assert_null(f->ws.layers[0][t].codec);
        }
    }
}

static void plan_save_load_round_trip(void **state)
{
    fixture *f = *state;
    el_error err;
    write_text(f->path,
               "{\"default\": {\"bound\": \"abs:1e-4\"}, \"policy\": \"elves-paper\",\n"
               " \"rules\": [{\"match\": \"*norm*\", \"bound\": \"lossless\"}]}\n");
    assert_int_equal(el_plan_load(&f->ws, 0, f->path, &err), 0);
    el_bound loose = { EL_BOUND_ABS, 1e-2 };
    long t = el_model_find(&f->ws.models[0], "layers.3.attention.wq.weight");
    assert_int_equal(el_layer_set_plan(&f->ws, 0, (size_t)t, loose, NULL, &err), 0);
    assert_int_equal(el_plan_save(&f->ws, 0, f->path, &err), 0);

    el_workspace again;
    const char *model = SAMPLE;
    assert_int_equal(el_workspace_open(&again, &model, 1, &err), 0);
    assert_int_equal(el_workspace_analyse(&again, NULL, NULL, &err), 0);
    assert_int_equal(el_plan_load(&again, 0, f->path, &err), 0);
    assert_int_equal(again.policy, EL_POLICY_PAPER);
    for (size_t i = 0; i < again.models[0].n_tensors; i++) {
        assert_true(el_bound_equal(again.layers[0][i].bound, f->ws.layers[0][i].bound));
        assert_ptr_equal(again.layers[0][i].codec, f->ws.layers[0][i].codec);
        assert_int_equal(again.layers[0][i].chosen, f->ws.layers[0][i].chosen);
    }
    el_workspace_close(&again);

    FILE *fp = fopen(f->path, "r");
    char text[1 << 16];
    size_t n = fread(text, 1, sizeof text - 1, fp);
    fclose(fp);
    text[n] = '\0';
    cJSON *root = cJSON_Parse(text);
    assert_non_null(root);
    cJSON *codecs = cJSON_GetObjectItem(root, "codecs");
    assert_int_equal(cJSON_GetArraySize(codecs), (int)f->ws.models[0].n_tensors);
    cJSON *layers = cJSON_GetObjectItem(root, "layers");
    assert_int_equal(cJSON_GetArraySize(layers), 1);
    assert_non_null(cJSON_GetObjectItem(layers, "layers.3.attention.wq.weight"));
    cJSON_Delete(root);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(plan_rules_and_overrides, open_sample, close_sample),
        cmocka_unit_test_setup_teardown(plan_rejects_invalid, open_sample, close_sample),
        cmocka_unit_test_setup_teardown(plan_save_load_round_trip, open_sample, close_sample),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
