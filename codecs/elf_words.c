/* ELF code words computed on the bits of each element rather than through
 * double arithmetic and libm, which took most of the codecs' time.
 *
 * For a finite element with |w| < 1, mantissa field f and biased exponent e,
 * |w| = g * 2^(E - bias - M) with g = f plus the hidden bit (f alone and
 * E = 1 when e = 0) and M the mantissa width. Then |w| * 2^m = g * 2^-s with
 * s = bias + M - m - E, so q is g shifted right by s with round to nearest
 * even, or shifted left when s < 0. The result equals
 * nearbyint(ldexp(|w|, m)) for every input. */
#include "elf_words.h"
#include "always_inline.h"

#include <stdlib.h>
#include <string.h>

static uint64_t load_bits(const uint8_t *p, size_t size)
{
    uint64_t u = 0;
    for (size_t b = 0; b < size; b++)
        u |= (uint64_t)p[b] << (8 * b);
    return u;
}

static size_t words_generic(el_dtype dt, const uint8_t *src, size_t n, int m, uint64_t *codes,
                            size_t *outliers)
{
    const el_float_layout f = el_dtype_float_layout(dt);
    const size_t size = el_dtype_size(dt);
    const int M = f.mantissa_bits;
    const uint64_t exp_all = (UINT64_C(1) << f.exponent_bits) - 1;
    const uint64_t frac_mask = (UINT64_C(1) << M) - 1;
    const int sign_shift = 8 * (int)size - 1;
    size_t k = 0;

    for (size_t i = 0; i < n; i++) {
        const uint64_t u = load_bits(src + i * size, size);
        const uint64_t e = u >> M & exp_all;
        codes[i] = 0;
        if (e >= (uint64_t)f.bias) { /* |w| >= 1, infinity or NaN */
            outliers[k++] = i;
            continue;
        }

        const uint64_t g = e ? (u & frac_mask) | (UINT64_C(1) << M) : u & frac_mask;
        const int s = f.bias + M - m - (e ? (int)e : 1);
        const uint64_t q = el_shift_round_even(g, s);
        if (q >> m) {
            outliers[k++] = i;
            continue;
        }
        codes[i] = (u >> sign_shift) << m | q;
    }
    return k;
}

/* F32 at m = 23 in the form ELF itself uses (Su et al., VLDB 2024): q is
 * the mantissa field of |w| + 1.0f rounded in float arithmetic, and a sum
 * of 2.0f is the round-up case. Only outliers take a branch. */
static size_t words_f32_exact(const uint8_t *src, size_t n, uint64_t *codes, size_t *outliers)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t u, yb;
        float a, y;
        memcpy(&u, src + 4 * i, 4);
        const uint32_t mag = u & 0x7fffffff;
        memcpy(&a, &mag, 4);
        y = a + 1.0f;
        memcpy(&yb, &y, 4);

        const int inside = mag < 0x3f800000 && yb < 0x40000000;
        codes[i] = inside ? (uint64_t)(u >> 31) << 23 | (yb & 0x7fffff) : 0;
        if (!inside)
            outliers[k++] = i;
    }
    return k;
}

/* From this many elements on, a 16-bit dtype looks its code words up in a
 * table of all 65,536 patterns instead of computing each one. */
#define HALF_TABLE_MIN 65536

void el_elf_words_begin(el_elf_words_ctx *ctx, el_dtype dt, int m, size_t count)
{
    ctx->dt = dt;
    ctx->m = m;
    ctx->table = NULL;
    if ((dt != EL_F16 && dt != EL_BF16) || count < HALF_TABLE_MIN)
        return;

    /* Entry v is the code word of pattern v, or -1 for an outlier. Without
     * memory for it, the words are computed one by one. */
    ctx->table = malloc(65536 * sizeof *ctx->table);
    for (uint32_t v = 0; ctx->table != NULL && v < 65536; v++) {
        const uint8_t pattern[2] = { (uint8_t)v, (uint8_t)(v >> 8) };
        uint64_t code;
        size_t found;
        ctx->table[v] = words_generic(dt, pattern, 1, m, &code, &found) ? -1 : (int32_t)code;
    }
}

void el_elf_words_end(el_elf_words_ctx *ctx)
{
    free(ctx->table);
    ctx->table = NULL;
}

static size_t words_half_table(const int32_t *table, const uint8_t *src, size_t n,
                               uint64_t *codes, size_t *outliers)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const int32_t c = table[(uint32_t)src[2 * i] | (uint32_t)src[2 * i + 1] << 8];
        codes[i] = c < 0 ? 0 : (uint64_t)c;
        if (c < 0)
            outliers[k++] = i;
    }
    return k;
}

size_t el_elf_words(const el_elf_words_ctx *ctx, const void *src, size_t n, uint64_t *codes,
                    size_t *outliers)
{
    if (ctx->dt == EL_F32 && ctx->m == 23)
        return words_f32_exact(src, n, codes, outliers);
    if (ctx->table != NULL)
        return words_half_table(ctx->table, src, n, codes, outliers);
    return words_generic(ctx->dt, src, n, ctx->m, codes, outliers);
}

static uint32_t bits_of_f32(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

void el_elf_values(el_dtype dt, const uint64_t *codes, size_t n, int m, void *dst,
                   size_t first)
{
    const uint64_t q_mask = (UINT64_C(1) << m) - 1;
    uint8_t *out = (uint8_t *)dst + first * el_dtype_size(dt);

    /* 2^-m as a power of two is exact in both types, and so is q * 2^-m
     * for the q that el_elf_words produces, as m <= el_elf_max_bits keeps
     * the smallest step 2^-m a normal number of dt. */
    const double scale = 1.0 / (double)(UINT64_C(1) << m);
    const float scale_f = (float)scale;

    switch (dt) {
    case EL_F32:
        for (size_t i = 0; i < n; i++) {
            const float v = (float)(codes[i] & q_mask) * scale_f;
            const uint32_t u = bits_of_f32(v) | (uint32_t)(codes[i] >> m) << 31;
            memcpy(out + 4 * i, &u, 4);
        }
        break;
    case EL_BF16:
        for (size_t i = 0; i < n; i++) {
            const float v = (float)(codes[i] & q_mask) * scale_f;
            const uint32_t u = bits_of_f32(v) >> 16 | (uint32_t)(codes[i] >> m) << 15;
            out[2 * i] = (uint8_t)u;
            out[2 * i + 1] = (uint8_t)(u >> 8);
        }
        break;
    case EL_F16:
        for (size_t i = 0; i < n; i++) {
            /* v is 0 or a normal F16 number: rebias the exponent 127 -> 15
             * and keep the top 10 fraction bits. */
            const uint32_t v = bits_of_f32((float)(codes[i] & q_mask) * scale_f);
            const uint32_t mag = v ? ((v >> 23) - 112) << 10 | (v >> 13 & 0x3ff) : 0;
            const uint32_t h = mag | (uint32_t)(codes[i] >> m) << 15;
            out[2 * i] = (uint8_t)h;
            out[2 * i + 1] = (uint8_t)(h >> 8);
        }
        break;
    default:
        for (size_t i = 0; i < n; i++) {
            const double v = (double)(codes[i] & q_mask) * scale;
            el_store_double(dt, out, i, (codes[i] >> m) ? -v : v);
        }
        break;
    }
}

/* ---- F32, F16 and BF16 planes through float arithmetic ----
 *
 * For m <= 23 and |w| < 1 exactly representable as a float, let
 * E = 23 - m and y = |w| + 2^E in float arithmetic. y lies in [2^E, 2^E + 1],
 * where the float grid spacing is 2^(E - 23) = 2^-m, and the addition rounds
 * once, to nearest even, so the bits of y minus the bits of 2^E are
 * q = round(|w| * 2^m). A difference of 2^m or more is the round-up case
 * (for m = 23, y = 2.0 reaches the next binade). With m = 23 this is the
 * paper's y = |w| + 1. The loops below have no branches per element, so
 * compilers vectorize them. */

static int float_path(el_dtype dt, int m)
{
    return (dt == EL_F32 || dt == EL_BF16 || dt == EL_F16) && m <= 23;
}

/* Returns the F32 bit pattern of an F16 pattern, without branches. Normal
 * values move their fields, and subnormals go through an exact int-to-float
 * conversion. Infinities and NaN become patterns at or above the F32
 * infinity, which is all the code words need of them. */
static inline uint32_t f16_as_f32_bits(uint32_t h)
{
    const uint32_t exp = h >> 10 & 0x1f;
    const uint32_t frac = h & 0x3ff;
    const float subnormal = (float)frac * 0x1p-24f;
    uint32_t subnormal_bits;
    memcpy(&subnormal_bits, &subnormal, 4);

    const uint32_t normal_bits = (exp + 112) << 23 | frac << 13;
    const uint32_t special_bits = 0x7f800000u | frac << 13;
    const uint32_t is_subnormal = 0 - (uint32_t)(exp == 0);
    const uint32_t is_special = 0 - (uint32_t)(exp == 0x1f);
    const uint32_t mag = (subnormal_bits & is_subnormal) | (special_bits & is_special)
                       | (normal_bits & ~(is_subnormal | is_special));
    return (h & 0x8000) << 16 | mag;
}

/* Returns the code word of float bits u, and clears *inside for an
 * outlier. base is the bit pattern of 2^(23 - m). */
static inline uint32_t float_code(uint32_t u, int m, uint32_t base, uint32_t *inside)
{
    const uint32_t mag = u & 0x7fffffff;
    float a, b, y;
    uint32_t yb;
    memcpy(&a, &mag, 4);
    memcpy(&b, &base, 4);
    y = a + b;
    memcpy(&yb, &y, 4);

    const uint32_t q = yb - base;
    *inside = (mag < 0x3f800000) & (q >> m == 0);
    return ((u >> 31) << m | q) & (0 - *inside);
}

/* Returns the F32 bit pattern of element i of an F32, F16 or BF16 array. */
static EL_ALWAYS_INLINE uint32_t float_bits_at(el_dtype dt, const uint8_t *src, size_t i)
{
    if (dt == EL_F32) {
        uint32_t u;
        memcpy(&u, src + 4 * i, 4);
        return u;
    }
    uint16_t h;
    memcpy(&h, src + 2 * i, 2);
    return dt == EL_F16 ? f16_as_f32_bits(h) : (uint32_t)h << 16;
}

/* Writes n code words to codes, clears inside[i] for each outlier, and
 * returns how many there are. It is inlined with a constant dtype, because
 * a branch on the dtype inside the loop stops vectorization. */
static EL_ALWAYS_INLINE size_t float_codes(el_dtype dt, const uint8_t *src, size_t n, int m,
                                            uint32_t *codes, uint32_t *inside)
{
    const uint32_t base = (uint32_t)(127 + 23 - m) << 23;
    uint32_t outliers = 0;
    for (size_t i = 0; i < n; i++) {
        codes[i] = float_code(float_bits_at(dt, src, i), m, base, &inside[i]);
        outliers += inside[i] ^ 1;
    }
    return outliers;
}

/* codes and inside each hold EL_ELF_BLOCK words. */
static void split_float(el_dtype dt, const uint8_t *src, size_t count, int m,
                        uint8_t *const *planes, uint32_t *codes, uint32_t *inside,
                        el_buf *outliers, int *rc, el_error *err)
{
    const size_t size = el_dtype_size(dt);
    const size_t nplanes = (size_t)(m + 8) / 8;

    for (size_t i = 0; i < count && *rc == 0; i += EL_ELF_BLOCK) {
        const size_t n = count - i < EL_ELF_BLOCK ? count - i : EL_ELF_BLOCK;
        const uint8_t *block = src + i * size;
        size_t k = dt == EL_F32   ? float_codes(EL_F32, block, n, m, codes, inside)
                   : dt == EL_F16 ? float_codes(EL_F16, block, n, m, codes, inside)
                                  : float_codes(EL_BF16, block, n, m, codes, inside);

        for (size_t e = 0; e < n && k > 0 && *rc == 0; e++) {
            if (inside[e])
                continue;
            const size_t index = i + e;
            *rc = el_buf_append(outliers, &index, sizeof index, err);
            k--;
        }

        for (size_t j = 0; j < nplanes; j++) {
            uint8_t *plane = planes[j] + i;
            for (size_t e = 0; e < n; e++)
                plane[e] = (uint8_t)(codes[e] >> (8 * j));
        }
    }
}

static void values_float(el_dtype dt, const uint32_t *codes, size_t n, int m, uint8_t *out)
{
    const uint32_t q_mask = (UINT32_C(1) << m) - 1;
    const float scale = 1.0f / (float)(UINT32_C(1) << m); /* exact: a power of two */

    if (dt == EL_F32) {
        for (size_t i = 0; i < n; i++) {
            const float v = (float)(codes[i] & q_mask) * scale;
            uint32_t u;
            memcpy(&u, &v, 4);
            u |= codes[i] >> m << 31;
            memcpy(out + 4 * i, &u, 4);
        }
        return;
    }
    if (dt == EL_F16) {
        /* v is 0 or a normal F16 number, as m <= el_elf_max_bits keeps
         * 2^-m at or above F16's smallest normal: rebias the exponent
         * 127 -> 15 and keep the top 10 fraction bits. */
        for (size_t i = 0; i < n; i++) {
            const float v = (float)(codes[i] & q_mask) * scale;
            uint32_t u;
            memcpy(&u, &v, 4);
            const uint32_t mag = u ? ((u >> 23) - 112) << 10 | (u >> 13 & 0x3ff) : 0;
            const uint32_t h = mag | (codes[i] >> m) << 15;
            out[2 * i] = (uint8_t)h;
            out[2 * i + 1] = (uint8_t)(h >> 8);
        }
        return;
    }
    for (size_t i = 0; i < n; i++) {
        const float v = (float)(codes[i] & q_mask) * scale;
        uint32_t u;
        memcpy(&u, &v, 4);
        const uint32_t h = u >> 16 | (codes[i] >> m) << 15;
        out[2 * i] = (uint8_t)h;
        out[2 * i + 1] = (uint8_t)(h >> 8);
    }
}

static int join_float(const uint8_t *const *planes, size_t nplanes, size_t count, el_dtype dt,
                      int m, uint32_t *codes, uint8_t *dst, el_error *err)
{
    const size_t size = el_dtype_size(dt);
    for (size_t i = 0; i < count; i += EL_ELF_BLOCK) {
        const size_t n = count - i < EL_ELF_BLOCK ? count - i : EL_ELF_BLOCK;
        const uint8_t *low = planes[0] + i;
        for (size_t e = 0; e < n; e++)
            codes[e] = low[e];
        for (size_t j = 1; j < nplanes; j++) {
            const uint8_t *plane = planes[j] + i;
            for (size_t e = 0; e < n; e++)
                codes[e] |= (uint32_t)plane[e] << (8 * j);
        }

        uint32_t high = 0;
        for (size_t e = 0; e < n; e++)
            high |= codes[e] >> m >> 1;
        for (size_t e = 0; e < n && high != 0; e++) {
            if (codes[e] >> m >> 1)
                return el_fail(err, "code word %zu has bits set above bit %d", i + e, m);
        }
        values_float(dt, codes, n, m, dst + i * size);
    }
    return 0;
}

void el_elf_plane_pointers(uint8_t *base, size_t nplanes, size_t count, uint8_t **planes)
{
    for (size_t j = 0; j < nplanes; j++)
        planes[j] = base + j * count;
}

int el_elf_split_planes(el_dtype dt, const void *src, size_t count, int m,
                        uint8_t *const *planes, el_buf *outliers, el_error *err)
{
    if (float_path(dt, m)) {
        uint32_t *codes = malloc(2 * EL_ELF_BLOCK * sizeof *codes);
        int rc = codes ? 0 : el_fail(err, "out of memory for a block of elf code words");
        if (rc == 0)
            split_float(dt, src, count, m, planes, codes, codes + EL_ELF_BLOCK, outliers, &rc,
                        err);
        free(codes);
        return rc;
    }

    const size_t size = el_dtype_size(dt);
    const size_t nplanes = (size_t)(m + 8) / 8;
    uint64_t *codes = malloc(EL_ELF_BLOCK * sizeof *codes);
    size_t *found = malloc(EL_ELF_BLOCK * sizeof *found);
    int rc = codes && found ? 0 : el_fail(err, "out of memory for a block of elf code words");
    el_elf_words_ctx words;
    el_elf_words_begin(&words, dt, m, count);

    for (size_t i = 0; i < count && rc == 0; i += EL_ELF_BLOCK) {
        const size_t n = count - i < EL_ELF_BLOCK ? count - i : EL_ELF_BLOCK;
        const size_t k = el_elf_words(&words, (const uint8_t *)src + i * size, n, codes, found);
        for (size_t j = 0; j < k && rc == 0; j++) {
            const size_t index = i + found[j];
            rc = el_buf_append(outliers, &index, sizeof index, err);
        }
        for (size_t j = 0; j < nplanes; j++)
            for (size_t e = 0; e < n; e++)
                planes[j][i + e] = (uint8_t)(codes[e] >> (8 * j));
    }
    el_elf_words_end(&words);
    free(codes);
    free(found);
    return rc;
}

int el_elf_join_planes(const uint8_t *const *planes, size_t nplanes, size_t count, el_dtype dt,
                       int m, void *dst, el_error *err)
{
    if (float_path(dt, m) && nplanes <= 4) {
        uint32_t *words = malloc(EL_ELF_BLOCK * sizeof *words);
        if (words == NULL)
            return el_fail(err, "out of memory for a block of elf code words");
        int rc = join_float(planes, nplanes, count, dt, m, words, dst, err);
        free(words);
        return rc;
    }

    uint64_t *codes = malloc(EL_ELF_BLOCK * sizeof *codes);
    if (codes == NULL)
        return el_fail(err, "out of memory for a block of elf code words");

    int rc = 0;
    for (size_t i = 0; i < count && rc == 0; i += EL_ELF_BLOCK) {
        const size_t n = count - i < EL_ELF_BLOCK ? count - i : EL_ELF_BLOCK;
        uint64_t high = 0;
        for (size_t e = 0; e < n; e++) {
            uint64_t code = 0;
            for (size_t j = 0; j < nplanes; j++)
                code |= (uint64_t)planes[j][i + e] << (8 * j);
            codes[e] = code;
            high |= code >> (m + 1);
        }

        for (size_t e = 0; e < n && high != 0; e++) {
            if (codes[e] >> (m + 1)) {
                rc = el_fail(err, "code word %zu has bits set above bit %d", i + e, m);
                break;
            }
        }
        if (rc == 0)
            el_elf_values(dt, codes, n, m, dst, i);
    }
    free(codes);
    return rc;
}
