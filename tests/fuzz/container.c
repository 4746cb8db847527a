/* libFuzzer target. Property: verifying any bytes as an .elves container
 * either fails with a message or succeeds, never reading out of bounds or
 * allocating without bound. The input is written to a file in /dev/shm. */
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

#include "../../core/container.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[64];
    snprintf(path, sizeof path, "/dev/shm/elves-fuzz-%d.elves", (int)getpid());
    FILE *fp = fopen(path, "wb");
    if (fp == NULL)
        return 0;
    size_t written = fwrite(data, 1, size, fp);
    fclose(fp);

    el_verify_report report;
    el_error err;
    if (written == size)
        el_verify(path, NULL, NULL, NULL, NULL, &report, &err);
    unlink(path);
    return 0;
}
