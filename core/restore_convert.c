/* `restore --to safetensors` (restore the source files, then convert) and
 * `restore --tensor` (decode one tensor, leaving the rest untouched). */
#include "container.h"

#include <dirent.h>
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "container_format.h"
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

/* Picks the model to convert: the one named, or the only one. Sets where it
 * opens from once restored into dir. That is its single file, else the file
 * it was opened as (a GGUF first shard, an ONNX model, an index), else the
 * folder. */
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

typedef struct tensor_sink {
    int fd;
    const char *path;
} tensor_sink;

static int write_chunk(void *ctx, const uint8_t *bytes, size_t len, uint64_t offset,
                       el_error *err)
{
    (void)offset;
    tensor_sink *sink = ctx;
    return el_write_all(sink->fd, bytes, len, sink->path, err);
}

/* The one-tensor safetensors header, padded with spaces to 8 bytes. */
static char *single_header(const cJSON *entry, const el_container_tensor *info, size_t *len,
                           el_error *err)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *t = cJSON_AddObjectToObject(root, info->name);
    cJSON *shape = cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(entry, "shape"), 1);
    cJSON *offsets = cJSON_AddArrayToObject(t, "data_offsets");
    if (t == NULL || shape == NULL || offsets == NULL) {
        cJSON_Delete(root);
        cJSON_Delete(shape);
        el_fail(err, "out of memory");
        return NULL;
    }
    cJSON_AddStringToObject(t, "dtype", el_dtype_name(info->dtype));
    cJSON_AddItemToObject(t, "shape", shape);
    cJSON_AddItemToArray(offsets, cJSON_CreateNumber(0));
    cJSON_AddItemToArray(offsets, cJSON_CreateNumber((double)info->nbytes));

    char *text = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (text == NULL) {
        el_fail(err, "out of memory");
        return NULL;
    }
    size_t n = strlen(text), padded = (n + 7) / 8 * 8;
    char *out = realloc(text, padded + 1);
    if (out == NULL) {
        free(text);
        el_fail(err, "out of memory");
        return NULL;
    }
    memset(out + n, ' ', padded - n);
    out[padded] = '\0';
    *len = padded;
    return out;
}

int el_restore_tensor(const char *in_path, const char *name, const char *out_path,
                      const el_model *base, el_error *err)
{
    el_container c;
    if (el_container_open(in_path, &c, err) != 0)
        return -1;
    c.base = base;

    el_container_tensor info;
    size_t index = 0;
    int rc = -1;
    for (; index < c.n_tensors; index++) {
        if (el_container_tensor_info(&c, index, &info, err) != 0)
            break;
        if (strcmp(info.name, name) == 0) {
            rc = 0;
            break;
        }
    }
    if (rc != 0 && index == c.n_tensors)
        el_fail(err, "%s holds no tensor named \"%s\"; `elves inspect %s` lists the names",
                in_path, name, in_path);

    size_t header_len = 0;
    char *header = rc == 0
        ? single_header(cJSON_GetArrayItem(c.tensors, (int)index), &info, &header_len, err)
        : NULL;
    char *tmp = NULL;
    int fd = header != NULL ? el_create_temp(out_path, &tmp, err) : -1;
    rc = fd < 0 ? -1 : 0;
    uint8_t prefix[8];
    for (int i = 0; i < 8; i++)
        prefix[i] = (uint8_t)((uint64_t)header_len >> (8 * i));
    if (rc == 0)
        rc = el_write_all(fd, prefix, sizeof prefix, out_path, err);
    if (rc == 0)
        rc = el_write_all(fd, header, header_len, out_path, err);

    tensor_sink sink = { fd, out_path };
    if (rc == 0)
        rc = el_container_decode_stream(&c, index, write_chunk, &sink, err);
    if (rc == 0)
        rc = el_commit_temp(fd, tmp, out_path, err);
    else if (fd >= 0)
        el_abandon_temp(fd, tmp);

    free(header);
    el_container_close(&c);
    return rc;
}
