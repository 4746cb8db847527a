/* Float tensors full of the values that break float codecs, shared by the
 * codec tests: NaN with payload bits, both infinities, both zeros,
 * subnormals, values a few ulps around +-1, |w| in the thousands and
 * bell-shaped weights. */
#ifndef ELVES_FLOAT_FILL_H
#define ELVES_FLOAT_FILL_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "../codecs/dtype.h"
#include "testutil.h"

/* Per float dtype (F64, F32, F16, BF16): a quiet NaN with payload, a
 * signalling one and a negative one. */
static const uint64_t nan_patterns[][3] = {
    {UINT64_C(0x7ff8000000000123), UINT64_C(0x7ff0000000000001), UINT64_C(0xfff8000000abcdef)},
    {0x7fc12345, 0x7f800001, 0xffc00abc},
    {0x7e01, 0x7c01, 0xfe23},
    {0x7fc1, 0x7f81, 0xffa3},
};

/* Row of nan_patterns for a float dtype. */
static inline size_t nan_row(el_dtype dt)
{
    switch (dt) {
    case EL_F64:
        return 0;
    case EL_F32:
        return 1;
    case EL_F16:
        return 2;
    default:
        return 3;
    }
}

/* Writes the low bytes of v, little-endian, as element i of dst. */
static inline void put_bits(el_dtype dt, uint8_t *dst, size_t i, uint64_t v)
{
    size_t size = el_dtype_size(dt);
    for (size_t k = 0; k < size; k++)
        dst[i * size + k] = (uint8_t)(v >> (8 * k));
}

/* Fills n elements of dt from the seed: one in sixteen a NaN, a special
 * value, a subnormal, a value next to +-1 or a value in the thousands, the
 * rest bell-shaped. */
static inline void fill_tensor(el_dtype dt, size_t n, uint64_t seed, uint8_t *out)
{
    uint64_t state = seed * 0x9E3779B97F4A7C15ULL + 1;
    el_float_layout f = el_dtype_float_layout(dt);
    double tiny = ldexp(1.0, 1 - f.bias - f.mantissa_bits);
    for (size_t i = 0; i < n; i++) {
        unsigned kind = (unsigned)(test_rand(&state) % 16);
        double v;
        if (kind == 0) {
            put_bits(dt, out, i, nan_patterns[nan_row(dt)][test_rand(&state) % 3]);
            continue;
        } else if (kind == 1) {
            v = test_special_values[test_rand(&state) % TEST_SPECIAL_COUNT];
        } else if (kind == 2) {
            v = tiny * (double)(test_rand(&state) % 64) * (test_rand(&state) & 1 ? -1 : 1);
        } else if (kind == 3) {
            v = (test_rand(&state) & 1 ? 1.0 : -1.0) *
                (1.0 + ldexp((double)(test_rand(&state) % 9) - 4.0, -f.mantissa_bits));
        } else if (kind == 4) {
            v = (test_uniform(&state) - 0.5) * 8000.0;
        } else {
            v = test_normal(&state, 0.05);
        }
        el_store_double(dt, out, i, v);
    }
}

#endif
