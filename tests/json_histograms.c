/* Reads `elves inspect --json` on stdin and checks the document: every
 * required field is present and every exponent histogram sums to its
 * tensor's element count. Prints one line per model; exits 1 on the first
 * problem. Used by tests/models.sh on folders of real models. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const tensor_fields[] = {
    "name", "dtype", "shape", "bytes", "min", "max", "mean", "std", "abs_lt_1",
    "exponent_histogram", "duplicate_of", "predicted_ratio",
};

static char *read_stdin(void)
{
    size_t cap = 1 << 20, len = 0;
    char *text = malloc(cap);
    size_t n;
    while (text != NULL && (n = fread(text + len, 1, cap - len - 1, stdin)) > 0) {
        len += n;
        if (cap - len < 2) {
            char *grown = realloc(text, cap * 2);
            if (grown == NULL)
                free(text);
            text = grown;
            cap *= 2;
        }
    }
    if (text != NULL)
        text[len] = '\0';
    return text;
}

static int check_tensor(const char *model, const cJSON *tensor)
{
    for (size_t i = 0; i < sizeof tensor_fields / sizeof tensor_fields[0]; i++) {
        if (cJSON_GetObjectItemCaseSensitive(tensor, tensor_fields[i]) == NULL) {
            fprintf(stderr, "%s: a tensor lacks \"%s\"\n", model, tensor_fields[i]);
            return -1;
        }
    }

    const char *name = cJSON_GetObjectItem(tensor, "name")->valuestring;
    const cJSON *hist = cJSON_GetObjectItem(tensor, "exponent_histogram");
    const char *dtype = cJSON_GetObjectItem(tensor, "dtype")->valuestring;
    int is_float = strcmp(dtype, "F64") == 0 || strcmp(dtype, "F32") == 0
        || strcmp(dtype, "F16") == 0 || strcmp(dtype, "BF16") == 0;
    if (is_float != cJSON_IsObject(hist)) {
        fprintf(stderr, "%s: %s (%s) %s an exponent histogram\n", model, name, dtype,
                is_float ? "lacks" : "should not have");
        return -1;
    }
    if (!is_float)
        return 0;

    double elements = 1, sum = 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, cJSON_GetObjectItem(tensor, "shape"))
        elements *= item->valuedouble;
    cJSON_ArrayForEach(item, hist)
        sum += item->valuedouble;
    if (sum != elements) {
        fprintf(stderr, "%s: %s: histogram sums to %.0f, the tensor has %.0f elements\n",
                model, name, sum, elements);
        return -1;
    }
    return 0;
}

int main(void)
{
    char *text = read_stdin();
    cJSON *root = text ? cJSON_Parse(text) : NULL;
    free(text);
    const cJSON *models = cJSON_GetObjectItem(root, "models");
    if (!cJSON_IsArray(models)) {
        fprintf(stderr, "json_histograms: input is not an inspect --json document\n");
        cJSON_Delete(root);
        return 1;
    }

    int rc = 0;
    const cJSON *model;
    cJSON_ArrayForEach(model, models) {
        const cJSON *path = cJSON_GetObjectItem(model, "path");
        const char *name = cJSON_IsString(path) ? path->valuestring : "?";
        size_t n = 0;
        const cJSON *tensor;
        if (!cJSON_IsObject(cJSON_GetObjectItem(model, "predicted_ratio"))
            || !cJSON_IsString(cJSON_GetObjectItem(model, "format"))) {
            fprintf(stderr, "%s: model lacks predicted_ratio or format\n", name);
            rc = 1;
        }
        cJSON_ArrayForEach(tensor, cJSON_GetObjectItem(model, "tensors")) {
            if (check_tensor(name, tensor) != 0)
                rc = 1;
            n++;
        }
        printf("%s: %zu tensors, histograms sum to element counts\n", name, n);
    }
    cJSON_Delete(root);
    return rc;
}
