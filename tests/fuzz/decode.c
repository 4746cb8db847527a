/* libFuzzer target. Property: every codec's decode either fails or fills
 * its output, for any payload, dtype and element count, without reading or
 * writing out of bounds. The first two input bytes pick the dtype and the
 * element count, and the rest is the payload.
 *
 * Run with `make fuzz` (every target) or `make fuzz FUZZ=decode`. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../codecs/codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;

    el_dtype dt = (el_dtype)(data[0] % EL_DTYPE_COUNT);
    size_t count = data[1];
    const uint8_t *payload = data + 2;
    size_t payload_len = size - 2;

    /* A copy of exactly payload_len bytes, so any over-read hits the
     * sanitizer's redzone. */
    uint8_t *copy = malloc(payload_len ? payload_len : 1);
    uint8_t *dst = malloc(count * el_dtype_size(dt) + 1);
    if (copy == NULL || dst == NULL)
        abort();
    memcpy(copy, payload, payload_len);

    for (size_t i = 0; el_codecs[i] != NULL; i++) {
        el_error err;
        if (el_codecs[i]->supports(dt))
            el_codecs[i]->decode(dt, copy, payload_len, dst, count, &err);
    }

    free(copy);
    free(dst);
    return 0;
}
