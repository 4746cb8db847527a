/* ELF code words: the element-wise transform shared by elf, elf-m and
 * elf-ans, without any entropy stage. */
#ifndef ELVES_ELF_WORDS_H
#define ELVES_ELF_WORDS_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "dtype.h"
#include "error.h"

/* Elements per call that callers use as their block: 32 KiB of code words. */
#define EL_ELF_BLOCK 4096

/* What el_elf_words needs across the blocks of one tensor: the dtype, the
 * fraction bits m, and for large F16 and BF16 inputs a table of the code
 * word of every pattern. */
typedef struct el_elf_words_ctx {
    el_dtype dt;
    int m;
    int32_t *table;
} el_elf_words_ctx;

/* Prepares for count elements of float dtype dt with m fraction bits
 * (0 <= m <= el_elf_max_bits(dt)). el_elf_words_end frees it. */
void el_elf_words_begin(el_elf_words_ctx *ctx, el_dtype dt, int m, size_t count);
void el_elf_words_end(el_elf_words_ctx *ctx);

/* Computes the code words of n elements at src: codes[i] = sign << m | q
 * with q = round(|w| * 2^m), ties to even. NaN, infinities, |w| >= 1 and
 * weights whose q rounds up to 2^m are outliers. Their code word is 0 and
 * their index goes to outliers[], in increasing order. Returns the number
 * of outliers. */
size_t el_elf_words(const el_elf_words_ctx *ctx, const void *src, size_t n, uint64_t *codes,
                    size_t *outliers);

/* Writes the value ±q * 2^-m of each of n code words to elements first to
 * first + n - 1 of dst. Bits above bit m must be clear. Exact for every
 * code word el_elf_words produces; a code word with more significant bits
 * than dt holds, which only a damaged payload contains, is truncated. */
void el_elf_values(el_dtype dt, const uint64_t *codes, size_t n, int m, void *dst,
                   size_t first);

/* Splits the code words of count elements into ceil((m + 1) / 8) byte
 * planes of count bytes, planes[j] holding byte j of every word. Appends
 * the index of every outlier to outliers as a size_t, in increasing
 * order. */
int el_elf_split_planes(el_dtype dt, const void *src, size_t count, int m,
                        uint8_t *const *planes, el_buf *outliers, el_error *err);

/* Joins nplanes byte planes of count bytes back into code words and writes
 * their values to dst. Fails on a code word with bits above bit m, which
 * the encoder never writes. */
int el_elf_join_planes(const uint8_t *const *planes, size_t nplanes, size_t count, el_dtype dt,
                       int m, void *dst, el_error *err);

/* Points planes[j] at base + j * count for each of nplanes planes. */
void el_elf_plane_pointers(uint8_t *base, size_t nplanes, size_t count, uint8_t **planes);

#endif
