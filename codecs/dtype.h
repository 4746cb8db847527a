/* Element types of model tensors, named as safetensors names them. */
#ifndef ELVES_DTYPE_H
#define ELVES_DTYPE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef enum el_dtype {
    EL_F64,
    EL_F32,
    EL_F16,
    EL_BF16,
    EL_F8_E4M3,
    EL_F8_E5M2,
    EL_I64,
    EL_I32,
    EL_I16,
    EL_I8,
    EL_U64,
    EL_U32,
    EL_U16,
    EL_U8,
    EL_BOOL,
    EL_DTYPE_COUNT
} el_dtype;

/* Layout of a binary floating-point format: field widths in bits. */
typedef struct el_float_layout {
    int exponent_bits;
    int mantissa_bits; /* explicit fraction bits, without the implicit 1 */
    int bias;
} el_float_layout;

/* Size of one element in bytes. */
size_t el_dtype_size(el_dtype dt);

/* The safetensors name ("F32", "BF16", ...). */
const char *el_dtype_name(el_dtype dt);

/* Parses a safetensors dtype name. Returns 0, or -1 when the name is unknown. */
int el_dtype_parse(const char *name, el_dtype *out);

/* Whether dt is one of F64, F32, F16, BF16: the types ELF and the exponent
 * histogram handle. The F8 types are floats too, but are treated as opaque
 * bytes. */
int el_dtype_is_float(el_dtype dt);

/* Field layout of a float dtype; all zero for the others. */
el_float_layout el_dtype_float_layout(el_dtype dt);

/* Reads element i of a little-endian buffer as a double, for every dtype.
 * The inline el_load_double below serves the float formats without it. */
double el_load_double_any(el_dtype dt, const void *data, size_t i);

/* Writes v into element i, rounding to nearest even for float dtypes, with
 * NaN and Inf kept. Integer dtypes are not written. */
void el_store_double_any(el_dtype dt, void *data, size_t i, double v);

/* Conversions between float and the 16-bit formats, round to nearest even,
 * NaN kept as a quiet NaN of the same sign. */
uint16_t el_f32_to_f16(float f);
uint16_t el_f32_to_bf16(float f);

/* F16 widens to F32 exactly by moving its fields: the exponent is rebiased
 * from 15 to 127 and the fraction shifted up by 13 bits. Subnormals are
 * frac * 2^-24, exact in float. A NaN keeps its payload with the quiet bit
 * set. */
static inline float el_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = h >> 10 & 0x1f;
    uint32_t frac = h & 0x3ff;
    uint32_t bits;

    if (exp == 0) {
        float v = (float)frac * 0x1p-24f;
        return sign ? -v : v;
    }
    if (exp == 0x1f)
        bits = sign | 0x7f800000u | frac << 13 | (frac ? 0x00400000u : 0);
    else
        bits = sign | (exp + 112) << 23 | frac << 13;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* BF16 is the top half of an F32, so widening is a shift. A NaN only needs
 * its quiet bit set. */
static inline float el_bf16_to_f32(uint16_t b)
{
    uint32_t bits = (uint32_t)b << 16;
    if ((bits & 0x7f800000u) == 0x7f800000u && (bits & 0x007fffffu) != 0)
        bits |= 0x00400000u;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* Every codec reads and writes elements through these two, so the float
 * formats are handled inline. Buffers are little-endian, so a big-endian
 * host takes the byte-by-byte path. Exact for every dtype except I64/U64
 * beyond 2^53. */
static inline double el_load_double(el_dtype dt, const void *data, size_t i)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    const uint8_t *p = data;
    if (dt == EL_F32) {
        float f;
        memcpy(&f, p + 4 * i, sizeof f);
        return f;
    }
    if (dt == EL_BF16 || dt == EL_F16) {
        uint16_t h;
        memcpy(&h, p + 2 * i, sizeof h);
        return dt == EL_BF16 ? el_bf16_to_f32(h) : el_f16_to_f32(h);
    }
    if (dt == EL_F64) {
        double d;
        memcpy(&d, p + 8 * i, sizeof d);
        return d;
    }
#endif
    return el_load_double_any(dt, data, i);
}

static inline void el_store_double(el_dtype dt, void *data, size_t i, double v)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    uint8_t *p = data;
    if (dt == EL_F32) {
        /* A double-to-float conversion rounds once, to nearest even. */
        float f = (float)v;
        memcpy(p + 4 * i, &f, sizeof f);
        return;
    }
    if (dt == EL_F64) {
        memcpy(p + 8 * i, &v, sizeof v);
        return;
    }
#endif
    el_store_double_any(dt, data, i, v);
}

/* Rounds g * 2^-s to the nearest integer, ties to even; for s <= 0 it
 * returns g * 2^-s exactly, which must fit in 64 bits. g must be below
 * 2^54. */
uint64_t el_shift_round_even(uint64_t g, int s);

/* Biased exponent field of element i of a float dtype. */
unsigned el_load_exponent(el_dtype dt, const void *data, size_t i);


#endif
