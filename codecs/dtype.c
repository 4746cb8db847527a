#include "dtype.h"

#include <math.h>
#include <string.h>

typedef struct dtype_info {
    const char *name;
    size_t size;
    el_float_layout layout; /* all zero for integer types */
} dtype_info;

static const dtype_info dtype_table[EL_DTYPE_COUNT] = {
    [EL_F64] = {"F64", 8, {11, 52, 1023}},
    [EL_F32] = {"F32", 4, {8, 23, 127}},
    [EL_F16] = {"F16", 2, {5, 10, 15}},
    [EL_BF16] = {"BF16", 2, {8, 7, 127}},
    [EL_F8_E4M3] = {"F8_E4M3", 1, {4, 3, 7}},
    [EL_F8_E5M2] = {"F8_E5M2", 1, {5, 2, 15}},
    [EL_I64] = {"I64", 8, {0, 0, 0}},
    [EL_I32] = {"I32", 4, {0, 0, 0}},
    [EL_I16] = {"I16", 2, {0, 0, 0}},
    [EL_I8] = {"I8", 1, {0, 0, 0}},
    [EL_U64] = {"U64", 8, {0, 0, 0}},
    [EL_U32] = {"U32", 4, {0, 0, 0}},
    [EL_U16] = {"U16", 2, {0, 0, 0}},
    [EL_U8] = {"U8", 1, {0, 0, 0}},
    [EL_BOOL] = {"BOOL", 1, {0, 0, 0}},
};

static int dtype_valid(el_dtype dt)
{
    return (unsigned)dt < EL_DTYPE_COUNT;
}

size_t el_dtype_size(el_dtype dt)
{
    return dtype_valid(dt) ? dtype_table[dt].size : 0;
}

const char *el_dtype_name(el_dtype dt)
{
    return dtype_valid(dt) ? dtype_table[dt].name : "unknown";
}

int el_dtype_parse(const char *name, el_dtype *out)
{
    for (int i = 0; i < EL_DTYPE_COUNT; i++) {
        if (strcmp(name, dtype_table[i].name) == 0) {
            *out = (el_dtype)i;
            return 0;
        }
    }
    return -1;
}

int el_dtype_is_float(el_dtype dt)
{
    return dt == EL_F64 || dt == EL_F32 || dt == EL_F16 || dt == EL_BF16;
}

/* The F8 types get their layout too, so that histograms can read their
 * exponent field even though the codecs treat them as opaque bytes. */
el_float_layout el_dtype_float_layout(el_dtype dt)
{
    el_float_layout none = {0, 0, 0};
    return dtype_valid(dt) ? dtype_table[dt].layout : none;
}

/* Little-endian loads and stores through memcpy, so any alignment works and
 * no pointer is reinterpreted as another type. */
static uint64_t load_le(const void *data, size_t i, size_t size)
{
    const uint8_t *p = (const uint8_t *)data + i * size;
    uint64_t v = 0;
    for (size_t k = size; k-- > 0;)
        v = v << 8 | p[k];
    return v;
}

static void store_le(void *data, size_t i, size_t size, uint64_t v)
{
    uint8_t *p = (uint8_t *)data + i * size;
    for (size_t k = 0; k < size; k++)
        p[k] = (uint8_t)(v >> (8 * k));
}

static float f32_from_bits(uint32_t bits)
{
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

static uint32_t f32_bits(float f)
{
    uint32_t bits;
    memcpy(&bits, &f, sizeof bits);
    return bits;
}

static double f64_from_bits(uint64_t bits)
{
    double d;
    memcpy(&d, &bits, sizeof d);
    return d;
}

static uint64_t f64_bits(double d)
{
    uint64_t bits;
    memcpy(&bits, &d, sizeof bits);
    return bits;
}

/* 2^k as a double, for k in the normal range [-1022, 1023]: the exponent
 * field alone, so no libm call is needed. */
static double pow2(int k)
{
    return f64_from_bits((uint64_t)(k + 1023) << 52);
}

/* Decodes the bits of a small float format (F16, BF16, F8) into a double,
 * exactly. E4M3 is the OCP "FN" variant: no infinity, and only the all-ones
 * pattern is NaN, so its top exponent still encodes finite values up to 448. */
static double small_float_to_double(uint32_t bits, el_float_layout f, int fn_variant)
{
    int total = 1 + f.exponent_bits + f.mantissa_bits;
    uint32_t sign = bits >> (total - 1) & 1;
    uint32_t exp_max = (1u << f.exponent_bits) - 1;
    uint32_t exp = bits >> f.mantissa_bits & exp_max;
    uint32_t mant = bits & ((1u << f.mantissa_bits) - 1);
    double v;

    /* The products below are exact: mant has at most 11 significant bits
     * and every power of two involved is a normal double. */
    if (fn_variant && exp == exp_max && mant == (1u << f.mantissa_bits) - 1)
        v = NAN;
    else if (!fn_variant && exp == exp_max && mant != 0)
        v = NAN;
    else if (!fn_variant && exp == exp_max)
        v = INFINITY;
    else if (exp == 0)
        v = (double)mant * pow2(1 - f.bias - f.mantissa_bits);
    else
        v = (double)((1u << f.mantissa_bits) | mant) * pow2((int)exp - f.bias - f.mantissa_bits);

    return sign ? -v : v;
}

uint64_t el_shift_round_even(uint64_t g, int s)
{
    if (s <= 0)
        return g << -s;
    if (s > 63)
        return 0; /* g < 2^54 <= 2^(s - 1): below one half */
    uint64_t q = g >> s;
    uint64_t rest = g & ((UINT64_C(1) << s) - 1);
    uint64_t half = UINT64_C(1) << (s - 1);
    return q + (rest > half || (rest == half && (q & 1)));
}

/* Rounds a double to a small float format, to nearest even, in one step (no
 * intermediate float, so no double rounding), on the bits of v. NaN stays
 * a quiet NaN of the same sign and keeps the top bits of its payload.
 * Values too large become infinity, or NaN for the E4M3 "FN" variant,
 * which has no infinity. */
static uint32_t small_float_from_double(double v, el_float_layout f, int fn_variant)
{
    int total = 1 + f.exponent_bits + f.mantissa_bits;
    uint64_t dbits = f64_bits(v);
    uint32_t sign = (uint32_t)(dbits >> 63) << (total - 1);
    uint32_t exp_max = (1u << f.exponent_bits) - 1;
    uint32_t mant_mask = (1u << f.mantissa_bits) - 1;
    uint32_t all_ones = (1u << (total - 1)) - 1;
    int dexp = (int)(dbits >> 52 & 0x7ff);
    uint64_t dfrac = dbits & ((UINT64_C(1) << 52) - 1);

    if (dexp == 0x7ff && dfrac != 0) {
        if (fn_variant)
            return sign | all_ones;
        uint32_t payload = (uint32_t)(dfrac >> (52 - f.mantissa_bits)) & mant_mask;
        uint32_t quiet = 1u << (f.mantissa_bits - 1);
        return sign | exp_max << f.mantissa_bits | quiet | payload;
    }
    if (dexp == 0x7ff)
        return fn_variant ? sign | all_ones : sign | exp_max << f.mantissa_bits;
    if (dexp == 0)
        return sign; /* zero, or a double subnormal: far below half the smallest step */

    /* |v| = g * 2^(e - 52) with e its unbiased exponent. The target grid
     * around |v| has spacing 2^(max(e, 1 - bias) - M), so n, the value in
     * units of that spacing, is g shifted right by the difference. */
    int e = dexp - 1023;
    uint64_t g = dfrac | UINT64_C(1) << 52;
    int min_normal_exp = 1 - f.bias;
    int quantum_exp = (e < min_normal_exp ? min_normal_exp : e) - f.mantissa_bits;
    uint64_t n = el_shift_round_even(g, quantum_exp - (e - 52));

    /* The subnormal code is n itself, and n == 2^M rounds up into the first
     * normal, whose code is also 2^M. For normals, adding n - 2^M to the
     * exponent field carries into it when n rounds up to 2^(M+1). */
    uint64_t code;
    if (e < min_normal_exp) {
        code = n;
    } else {
        uint64_t biased = (uint64_t)(e + f.bias);
        if (biased >= exp_max + (uint64_t)(fn_variant ? 1 : 0))
            return fn_variant ? sign | all_ones : sign | exp_max << f.mantissa_bits;
        code = (biased << f.mantissa_bits) + n - (1u << f.mantissa_bits);
    }

    uint64_t limit = fn_variant ? all_ones - 1 : (uint64_t)(exp_max << f.mantissa_bits) - 1;
    if (code > limit)
        return fn_variant ? sign | all_ones : sign | exp_max << f.mantissa_bits;
    return sign | (uint32_t)code;
}

uint16_t el_f32_to_f16(float f)
{
    return (uint16_t)small_float_from_double((double)f, dtype_table[EL_F16].layout, 0);
}

uint16_t el_f32_to_bf16(float f)
{
    uint32_t bits = f32_bits(f);
    if (isnan(f))
        return (uint16_t)((bits >> 16) | 0x0040u);

    /* Round to nearest even on the low 16 bits. An overflow carries into the
     * exponent and yields infinity, which is the correct rounding. */
    uint32_t lsb = bits >> 16 & 1;
    bits += 0x7fffu + lsb;
    return (uint16_t)(bits >> 16);
}

double el_load_double_any(el_dtype dt, const void *data, size_t i)
{
    switch (dt) {
    case EL_F64:
        return f64_from_bits(load_le(data, i, 8));
    case EL_F32:
        return (double)f32_from_bits((uint32_t)load_le(data, i, 4));
    case EL_F16:
        return (double)el_f16_to_f32((uint16_t)load_le(data, i, 2));
    case EL_BF16:
        return (double)el_bf16_to_f32((uint16_t)load_le(data, i, 2));
    case EL_F8_E4M3:
        return small_float_to_double((uint32_t)load_le(data, i, 1), dtype_table[dt].layout, 1);
    case EL_F8_E5M2:
        return small_float_to_double((uint32_t)load_le(data, i, 1), dtype_table[dt].layout, 0);
    case EL_I64:
        return (double)(int64_t)load_le(data, i, 8);
    case EL_I32:
        return (double)(int32_t)(uint32_t)load_le(data, i, 4);
    case EL_I16:
        return (double)(int16_t)(uint16_t)load_le(data, i, 2);
    case EL_I8:
        return (double)(int8_t)(uint8_t)load_le(data, i, 1);
    case EL_U64:
    case EL_U32:
    case EL_U16:
    case EL_U8:
        return (double)load_le(data, i, dtype_table[dt].size);
    case EL_BOOL:
        return load_le(data, i, 1) != 0 ? 1.0 : 0.0;
    case EL_DTYPE_COUNT:
        break;
    }
    return 0.0;
}

void el_store_double_any(el_dtype dt, void *data, size_t i, double v)
{
    switch (dt) {
    case EL_F64:
        store_le(data, i, 8, f64_bits(v));
        break;
    case EL_F32:
        /* A double-to-float conversion rounds once, to nearest even. */
        store_le(data, i, 4, f32_bits((float)v));
        break;
    case EL_F16:
    case EL_BF16:
    case EL_F8_E5M2:
        store_le(data, i, el_dtype_size(dt), small_float_from_double(v, dtype_table[dt].layout, 0));
        break;
    case EL_F8_E4M3:
        store_le(data, i, 1, small_float_from_double(v, dtype_table[dt].layout, 1));
        break;
    default:
        break;
    }
}

unsigned el_load_exponent(el_dtype dt, const void *data, size_t i)
{
    el_float_layout f = el_dtype_float_layout(dt);
    if (f.exponent_bits == 0)
        return 0;

    uint64_t bits = load_le(data, i, el_dtype_size(dt));
    return (unsigned)(bits >> f.mantissa_bits & ((1u << f.exponent_bits) - 1));
}
