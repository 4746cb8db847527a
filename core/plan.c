#include "plan.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "container_format.h"

/* Plan files are small; this cap stops a wrong path (a model, say) from
 * being read whole. */
#define PLAN_MAX_BYTES (64u * 1024u * 1024u)

typedef struct layer_setting {
    el_bound bound;
    const el_codec *codec;
} layer_setting;

/* What a plan file sets besides per-layer entries. */
typedef struct plan_rules {
    layer_setting base;
    el_policy policy;
    el_plan_rule *rules;
    size_t n_rules;
} plan_rules;

static char *read_text(const char *path, el_error *err)
{
    FILE *fp = fopen(path, "rb");
    if (fp == NULL) {
        el_fail(err, "cannot open plan %s: %s", path, strerror(errno));
        return NULL;
    }

    char *text = malloc(PLAN_MAX_BYTES + 1);
    size_t n = text ? fread(text, 1, PLAN_MAX_BYTES + 1, fp) : 0;
    int failed = text == NULL || ferror(fp);
    fclose(fp);
    if (failed || n > PLAN_MAX_BYTES) {
        el_fail(err, failed ? "cannot read plan %s" : "plan %s is larger than 64 MiB; "
                "check the path", path);
        free(text);
        return NULL;
    }
    text[n] = '\0';
    return text;
}

/* Reads {"bound": ..., "codec": ...} into *out; missing fields keep their
 * value. */
static int parse_setting(const cJSON *obj, const char *where, layer_setting *out,
                         el_error *err)
{
    if (!cJSON_IsObject(obj))
        return el_fail(err, "%s must be an object with \"bound\" and/or \"codec\"", where);

    const cJSON *bound = cJSON_GetObjectItemCaseSensitive(obj, "bound");
    const cJSON *codec = cJSON_GetObjectItemCaseSensitive(obj, "codec");
    if (bound != NULL) {
        if (!cJSON_IsString(bound) || el_bound_parse(bound->valuestring, &out->bound, err) != 0)
            return el_fail_context(err, "%s: \"bound\"", where);
    }
    if (codec != NULL) {
        if (!cJSON_IsString(codec))
            return el_fail(err, "%s: \"codec\" must be a string", where);
        if (strcmp(codec->valuestring, "auto") == 0) {
            out->codec = NULL;
        } else if ((out->codec = el_codec_find(codec->valuestring)) == NULL) {
            return el_fail(err, "%s: unknown codec \"%s\"; use auto or a name from "
                           "`elves compress --help`", where, codec->valuestring);
        }
    }
    return 0;
}

static void free_rules(el_plan_rule *rules, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(rules[i].match);
    free(rules);
}

static int parse_rules(const cJSON *array, layer_setting base, el_plan_rule **out,
                       size_t *n_out, el_error *err)
{
    *out = NULL;
    *n_out = 0;
    if (array == NULL)
        return 0;
    if (!cJSON_IsArray(array))
        return el_fail(err, "\"rules\" must be an array of {\"match\", \"bound\", \"codec\"}");

    size_t n = (size_t)cJSON_GetArraySize(array);
    el_plan_rule *rules = calloc(n ? n : 1, sizeof *rules);
    if (rules == NULL)
        return el_fail(err, "out of memory reading %zu rules", n);

    size_t i = 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, array) {
        char where[32];
        snprintf(where, sizeof where, "rule %zu", i + 1);
        const cJSON *match = cJSON_GetObjectItemCaseSensitive(item, "match");
        layer_setting setting = base;
        if (!cJSON_IsString(match) || match->valuestring[0] == '\0') {
            free_rules(rules, i);
            return el_fail(err, "%s needs a \"match\" glob such as \"*norm*\"", where);
        }
        if (parse_setting(item, where, &setting, err) != 0
            || (rules[i].match = strdup(match->valuestring)) == NULL) {
            free_rules(rules, i);
            return -1;
        }
        rules[i].bound = setting.bound;
        rules[i].codec = setting.codec;
        i++;
    }
    *out = rules;
    *n_out = n;
    return 0;
}

/* The setting the default and the rules give a layer name. */
static layer_setting ruled_setting(const plan_rules *plan, const char *name)
{
    layer_setting s = plan->base;
    for (size_t i = 0; i < plan->n_rules; i++) {
        if (fnmatch(plan->rules[i].match, name, 0) == 0) {
            s.bound = plan->rules[i].bound;
            s.codec = plan->rules[i].codec;
            break;
        }
    }
    return s;
}

static plan_rules workspace_rules(const el_workspace *ws)
{
    plan_rules plan = { { ws->default_bound, ws->default_codec }, ws->policy, ws->rules,
                        ws->n_rules };
    return plan;
}

/* Applies every layer's setting; on failure restores the old ones. */
static int apply_settings(el_workspace *ws, size_t model, const layer_setting *settings,
                          el_error *err)
{
    size_t n = ws->models[model].n_tensors;
    layer_setting *old = calloc(n ? n : 1, sizeof *old);
    if (old == NULL)
        return el_fail(err, "out of memory");
    for (size_t t = 0; t < n; t++)
        old[t] = (layer_setting){ ws->layers[model][t].bound, ws->layers[model][t].codec };

    int rc = 0;
    size_t t = 0;
    for (; t < n && rc == 0; t++)
        rc = el_layer_set_plan(ws, model, t, settings[t].bound, settings[t].codec, err);
    if (rc != 0)
        for (size_t u = 0; u + 1 < t; u++)
            el_layer_set_plan(ws, model, u, old[u].bound, old[u].codec, NULL);
    free(old);
    return rc;
}

static int parse_plan(const el_workspace *ws, size_t model, const cJSON *root,
                      plan_rules *plan, layer_setting *settings, el_error *err)
{
    if (!cJSON_IsObject(root))
        return el_fail(err, "the plan is not a JSON object");

    plan->base = (layer_setting){ { EL_BOUND_LOSSLESS, 0 }, NULL };
    const cJSON *dflt = cJSON_GetObjectItemCaseSensitive(root, "default");
    if (dflt != NULL && parse_setting(dflt, "\"default\"", &plan->base, err) != 0)
        return -1;

    plan->policy = ws->policy;
    const cJSON *policy = cJSON_GetObjectItemCaseSensitive(root, "policy");
    if (policy != NULL
        && (!cJSON_IsString(policy) || el_policy_parse(policy->valuestring, &plan->policy,
                                                        err) != 0))
        return el_fail_context(err, "\"policy\"");

    if (parse_rules(cJSON_GetObjectItemCaseSensitive(root, "rules"), plan->base,
                    &plan->rules, &plan->n_rules, err) != 0)
        return -1;

    const el_model *mdl = &ws->models[model];
    for (size_t t = 0; t < mdl->n_tensors; t++)
        settings[t] = ruled_setting(plan, mdl->tensors[t].name);

    const cJSON *layers = cJSON_GetObjectItemCaseSensitive(root, "layers");
    if (layers != NULL && !cJSON_IsObject(layers))
        return el_fail(err, "\"layers\" must map tensor names to {\"bound\", \"codec\"}");
    const cJSON *entry;
    cJSON_ArrayForEach(entry, layers) {
        long t = el_model_find(mdl, entry->string);
        if (t < 0)
            return el_fail(err, "\"layers\" names tensor \"%s\", which %s does not have",
                           entry->string, mdl->path);
        char where[96];
        snprintf(where, sizeof where, "layer \"%.80s\"", entry->string);
        if (parse_setting(entry, where, &settings[t], err) != 0)
            return -1;
    }
    return 0;
}

int el_plan_load(el_workspace *ws, size_t model, const char *path, el_error *err)
{
    char *text = read_text(path, err);
    if (text == NULL)
        return -1;
    cJSON *root = cJSON_Parse(text);
    if (root == NULL) {
        const char *at = cJSON_GetErrorPtr();
        long offset = at != NULL ? (long)(at - text) : 0;
        free(text);
        return el_fail(err, "plan %s is not valid JSON (near byte %ld)", path, offset);
    }
    free(text);

    size_t n = ws->models[model].n_tensors;
    layer_setting *settings = calloc(n ? n : 1, sizeof *settings);
    plan_rules plan = { { { EL_BOUND_LOSSLESS, 0 }, NULL }, ws->policy, NULL, 0 };
    int rc = settings ? parse_plan(ws, model, root, &plan, settings, err)
                      : el_fail(err, "out of memory");
    if (rc == 0)
        rc = apply_settings(ws, model, settings, err);
    free(settings);
    cJSON_Delete(root);
    if (rc != 0) {
        free_rules(plan.rules, plan.n_rules);
        return el_fail_context(err, "plan %s", path);
    }

    /* Only a plan that applied whole replaces the rules kept for saving. */
    el_plan_rules_free(ws);
    ws->rules = plan.rules;
    ws->n_rules = plan.n_rules;
    ws->default_bound = plan.base.bound;
    ws->default_codec = plan.base.codec;
    el_workspace_set_policy(ws, plan.policy);
    return 0;
}

static cJSON *setting_json(el_bound bound, const el_codec *codec)
{
    char text[64];
    el_bound_format(bound, text, sizeof text);
    cJSON *obj = cJSON_CreateObject();
    cJSON_AddStringToObject(obj, "bound", text);
    cJSON_AddStringToObject(obj, "codec", codec ? codec->name : "auto");
    return obj;
}

static cJSON *plan_json(const el_workspace *ws, size_t model)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddItemToObject(root, "default", setting_json(ws->default_bound, ws->default_codec));
    cJSON_AddStringToObject(root, "policy", el_policy_name(ws->policy));

    cJSON *rules = cJSON_AddArrayToObject(root, "rules");
    for (size_t i = 0; rules != NULL && i < ws->n_rules; i++) {
        cJSON *rule = setting_json(ws->rules[i].bound, ws->rules[i].codec);
        cJSON_AddStringToObject(rule, "match", ws->rules[i].match);
        cJSON_AddItemToArray(rules, rule);
    }

    const el_model *mdl = &ws->models[model];
    plan_rules kept = workspace_rules(ws);
    cJSON *layers = cJSON_AddObjectToObject(root, "layers");
    cJSON *codecs = cJSON_AddObjectToObject(root, "codecs");
    for (size_t t = 0; layers != NULL && codecs != NULL && t < mdl->n_tensors; t++) {
        const el_layer *layer = &ws->layers[model][t];
        layer_setting ruled = ruled_setting(&kept, mdl->tensors[t].name);
        if (!el_bound_equal(ruled.bound, layer->bound) || ruled.codec != layer->codec)
            cJSON_AddItemToObject(layers, mdl->tensors[t].name,
                                  setting_json(layer->bound, layer->codec));
        const el_codec *got = el_layer_codec(layer);
        cJSON_AddItemToObject(codecs, mdl->tensors[t].name,
                              got ? cJSON_CreateString(got->name) : cJSON_CreateNull());
    }
    return root;
}

int el_plan_save(const el_workspace *ws, size_t model, const char *path, el_error *err)
{
    cJSON *root = plan_json(ws, model);
    char *text = root ? cJSON_Print(root) : NULL;
    cJSON_Delete(root);
    if (text == NULL)
        return el_fail(err, "out of memory writing plan %s", path);

    char *tmp = NULL;
    int fd = el_create_temp(path, &tmp, err);
    int rc = fd < 0 ? -1 : el_write_all(fd, text, strlen(text), path, err);
    if (rc == 0)
        rc = el_write_all(fd, "\n", 1, path, err);
    if (rc == 0)
        rc = el_commit_temp(fd, tmp, path, err);
    else if (fd >= 0)
        el_abandon_temp(fd, tmp);
    free(text);
    return rc;
}

void el_plan_rules_free(el_workspace *ws)
{
    free_rules(ws->rules, ws->n_rules);
    ws->rules = NULL;
    ws->n_rules = 0;
}
