/* Element types of model tensors, named as safetensors names them. */
#ifndef ELVES_DTYPE_H
#define ELVES_DTYPE_H

#include <stddef.h>
#include <stdint.h>

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

/* Reads element i of a little-endian buffer as a double. Exact for every
 * dtype except I64/U64 beyond 2^53. */
double el_load_double(el_dtype dt, const void *data, size_t i);

/* Writes v into element i, rounding to nearest even for float dtypes
 * (NaN and Inf kept). Integer dtypes are not supported (no-op). */
void el_store_double(el_dtype dt, void *data, size_t i, double v);

/* Rounds g * 2^-s to the nearest integer, ties to even; for s <= 0 it
 * returns g * 2^-s exactly, which must fit in 64 bits. g must be below
 * 2^54. */
uint64_t el_shift_round_even(uint64_t g, int s);

/* Biased exponent field of element i of a float dtype. */
unsigned el_load_exponent(el_dtype dt, const void *data, size_t i);

/* Conversions between float and the 16-bit formats, round to nearest even,
 * NaN kept as a quiet NaN of the same sign. */
float el_f16_to_f32(uint16_t h);
uint16_t el_f32_to_f16(float f);
float el_bf16_to_f32(uint16_t b);
uint16_t el_f32_to_bf16(float f);

#endif
