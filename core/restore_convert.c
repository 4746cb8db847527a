/* `restore --to safetensors`: restore the source files, then convert. */
#include "container.h"

#include <dirent.h>
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "container_read.h"
#include "safetensors.h"

/* Removes the temporary folder and the files restore wrote into it (it
 * writes no subfolders). */
static void remove_folder(const char *dir)
{
    DIR *d = opendir(dir);
    if (d != NULL) {
        const struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            char *path = NULL;
            if (asprintf(&path, "%s/%s", dir, e->d_name) >= 0)
                unlink(path);
            free(path);
        }
        closedir(d);
    }
    rmdir(dir);
}

/* Picks the model to convert (by name, or the only one) and where it opens
 * from once restored into dir: its single file, else the file it was opened
 * as (a GGUF first shard, an ONNX model, an index), else the folder. */
static int model_path(const char *in_path, const char *dir, const char *model_name,
                      char **out, int *single, el_error *err)
{
    el_container c;
    if (el_container_open(in_path, &c, err) != 0)
        return -1;

    size_t index = 0;
    const char *name = NULL;
    if (model_name == NULL && c.n_models > 1) {
        el_container_close(&c);
        return el_fail(err, "%s holds %zu models; choose one with --model", in_path,
                       c.n_models);
    }
    for (size_t m = 0; model_name != NULL && m < c.n_models; m++) {
        el_container_model(&c, m, &name);
        if (strcmp(name, model_name) == 0)
            index = m;
    }
    const cJSON *files = el_container_model(&c, index, &name);
    if (model_name != NULL && strcmp(name, model_name) != 0) {
        el_container_close(&c);
        return el_fail(err, "%s holds no model named \"%s\"", in_path, model_name);
    }

    const cJSON *first_name = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(files, 0),
                                                               "name");
    *single = cJSON_GetArraySize(files) == 1;
    int n = -1;
    *out = NULL;
    if (*single && cJSON_IsString(first_name)
        && strchr(first_name->valuestring, '/') == NULL)
        n = asprintf(out, "%s/%s", dir, first_name->valuestring);
    else if (!*single && strchr(name, '/') == NULL)
        n = asprintf(out, "%s/%s", dir, name);
    else if (!*single)
        n = asprintf(out, "%s", dir);
    el_container_close(&c);

    if (n < 0) {
        *out = NULL;
        return el_fail(err, "%s: the manifest names no file to restore", in_path);
    }
    return 0;
}

int el_restore_safetensors(const char *in_path, const char *out_path,
                           const char *model_name, const el_model *base,
                           el_progress_fn progress, void *ctx, el_error *err)
{
    char *copy = strdup(out_path);
    if (copy == NULL)
        return el_fail(err, "out of memory");
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/.elves-restore-XXXXXX", dirname(copy));
    free(copy);
    if (mkdtemp(dir) == NULL)
        return el_fail(err, "cannot create a temporary folder beside %s: %s", out_path,
                       strerror(errno));

    char *path = NULL;
    int single = 0;
    int rc = model_path(in_path, dir, model_name, &path, &single, err);
    if (rc == 0)
        rc = el_restore_model(in_path, single ? path : dir, model_name, base, progress, ctx,
                              err);

    /* A model given as a folder is opened as that folder again. */
    struct stat st;
    const char *open_as = rc == 0 && !single && stat(path, &st) != 0 ? dir : path;

    el_model model;
    if (rc == 0 && el_model_open(open_as, &model, err) == 0) {
        rc = el_safetensors_write(&model, out_path, err);
        el_model_close(&model);
    } else if (rc == 0) {
        rc = el_fail_context(err, "%s: reopening the restored model", in_path);
    }
    free(path);
    remove_folder(dir);
    return rc;
}
