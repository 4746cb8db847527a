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

int el_elf_split_planes(el_dtype dt, const void *src, size_t count, int m, uint8_t *planes,
                        el_buf *outliers, el_error *err)
{
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
                planes[j * count + i + e] = (uint8_t)(codes[e] >> (8 * j));
    }
    el_elf_words_end(&words);
    free(codes);
    free(found);
    return rc;
}

int el_elf_join_planes(const uint8_t *planes, size_t nplanes, size_t count, el_dtype dt, int m,
                       void *dst, el_error *err)
{
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
                code |= (uint64_t)planes[j * count + i + e] << (8 * j);
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
