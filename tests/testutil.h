/* Helpers shared by the cmocka tests: a deterministic generator and tensors
 * full of the values that break float codecs. */
#ifndef ELVES_TESTUTIL_H
#define ELVES_TESTUTIL_H

#include <math.h>
#include <stdint.h>
#include <string.h>

/* xorshift64*: fixed seeds give the same data on every machine. */
static inline uint64_t test_rand(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1DULL;
}

/* Uniform double in [0, 1). */
static inline double test_uniform(uint64_t *state)
{
    return (double)(test_rand(state) >> 11) * 0x1.0p-53;
}

/* Roughly normal with standard deviation sd (sum of four uniforms). */
static inline double test_normal(uint64_t *state, double sd)
{
    double s = 0;
    for (int i = 0; i < 4; i++)
        s += test_uniform(state) - 0.5;
    return s * sd * 1.7320508075688772;
}

/* Values every float round trip must survive, as doubles; the test casts
 * them to its dtype. */
static const double test_special_values[] = {
    0.0, -0.0, 1.0, -1.0, 0x1.fffffep-1, -0x1.fffffep-1, 0x1.ffffffp-1,
    1.0000001, -1.0000001, 0.5, -0.5, 2.0, -3.5, 65504.0, 1e30, -1e30,
    0x1p-126, 0x1p-149, -0x1p-140, 0x1p-24, 0x1p-14, 0x1p-25, 1e-8, -1e-8,
    INFINITY, -INFINITY, NAN, -NAN,
};

#define TEST_SPECIAL_COUNT (sizeof test_special_values / sizeof test_special_values[0])

#endif
