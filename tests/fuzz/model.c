/* libFuzzer target. Property: opening any bytes as a model either fails
 * with a message or yields tensors that analyse without reading out of
 * bounds. The first input byte picks the file name's extension (ONNX is
 * recognised by it, the other formats by their magic); the rest is written
 * to a file in /dev/shm, so readers see it through the same mmap path as a
 * real model. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../../core/model.h"
#include "../../core/stats.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const extensions[] = { ".safetensors", ".onnx", ".gguf", ".npz" };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;

    char path[96];
    snprintf(path, sizeof path, "/dev/shm/elves-fuzz-%d%s", (int)getpid(),
             extensions[data[0] % (sizeof extensions / sizeof extensions[0])]);
    FILE *fp = fopen(path, "wb");
    if (fp == NULL)
        return 0;
    size_t written = fwrite(data + 1, 1, size - 1, fp);
    fclose(fp);

    el_model model;
    el_error err;
    if (written == size - 1 && el_model_open(path, &model, &err) == 0) {
        for (size_t t = 0; t < model.n_tensors; t++) {
            el_stats stats;
            if (el_stats_compute(&model.tensors[t], &stats, &err) == 0)
                el_stats_free(&stats);
        }
        el_model_close(&model);
    }
    unlink(path);
    return 0;
}
