/* Writing any opened model as one safetensors file: the conversion behind
 * `restore --to safetensors`. */
#include "safetensors.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "container_format.h"

/* Header with every tensor in table order, laid out back to back. Types
 * safetensors has no name for (GGUF block types) are written as U8 bytes,
 * their source type and shape kept in __metadata__. */
static char *header_json(const el_model *model, el_error *err)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *meta = cJSON_AddObjectToObject(root, "__metadata__");
    if (root == NULL || meta == NULL) {
        cJSON_Delete(root);
        el_fail(err, "out of memory");
        return NULL;
    }
    cJSON_AddStringToObject(meta, "source_format", model->format);

    uint64_t offset = 0;
    for (size_t t = 0; t < model->n_tensors; t++) {
        const el_tensor *tensor = &model->tensors[t];
        cJSON *entry = cJSON_AddObjectToObject(root, tensor->name);
        cJSON *shape = cJSON_AddArrayToObject(entry, "shape");
        cJSON *offsets = cJSON_AddArrayToObject(entry, "data_offsets");
        if (entry == NULL || shape == NULL || offsets == NULL) {
            cJSON_Delete(root);
            el_fail(err, "out of memory");
            return NULL;
        }

        if (tensor->type_name != NULL) {
            char shape_text[128], key[512];
            el_shape_format(tensor, shape_text, sizeof shape_text);
            snprintf(key, sizeof key, "%s.source_type", tensor->name);
            char value[192];
            snprintf(value, sizeof value, "%s %s", tensor->type_name, shape_text);
            cJSON_AddStringToObject(meta, key, value);
            cJSON_AddStringToObject(entry, "dtype", "U8");
            cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)tensor->nbytes));
        } else {
            cJSON_AddStringToObject(entry, "dtype", el_dtype_name(tensor->dtype));
            for (int d = 0; d < tensor->ndim; d++)
                cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)tensor->shape[d]));
        }
        cJSON_AddItemToArray(offsets, cJSON_CreateNumber((double)offset));
        cJSON_AddItemToArray(offsets, cJSON_CreateNumber((double)(offset + tensor->nbytes)));
        offset += tensor->nbytes;
    }

    char *text = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (text == NULL)
        el_fail(err, "out of memory printing the safetensors header");
    return text;
}

int el_safetensors_write(const el_model *model, const char *out_path, el_error *err)
{
    char *text = header_json(model, err);
    if (text == NULL)
        return -1;

    /* The data area starts 8-byte aligned, padded with spaces as the
     * reference writer does. */
    size_t len = strlen(text);
    size_t padded = (len + 7) / 8 * 8;
    uint8_t prefix[8];
    for (int i = 0; i < 8; i++)
        prefix[i] = (uint8_t)((uint64_t)padded >> (8 * i));

    char *tmp = NULL;
    int fd = el_create_temp(out_path, &tmp, err);
    int rc = fd < 0 ? -1 : el_write_all(fd, prefix, sizeof prefix, out_path, err);
    if (rc == 0)
        rc = el_write_all(fd, text, len, out_path, err);
    if (rc == 0 && padded > len)
        rc = el_write_all(fd, "       ", padded - len, out_path, err);
    for (size_t t = 0; rc == 0 && t < model->n_tensors; t++)
        rc = el_write_all(fd, model->tensors[t].data, model->tensors[t].nbytes, out_path, err);
    free(text);

    if (rc == 0)
        return el_commit_temp(fd, tmp, out_path, err);
    if (fd >= 0)
        el_abandon_temp(fd, tmp);
    return -1;
}
