/* The ggml tensor types a GGUF file may use, and the key-value type names.
 *
 * Ids, names, block sizes and bytes per block follow ggml's type table as
 * listed by llama.cpp's gguf-py (gguf/constants.py, GGMLQuantizationType and
 * GGML_QUANT_SIZES, commit 0024aa7), except Q8_1: ggml-common.h asserts that
 * block_q8_1 is two float16 values and 32 quants, 36 bytes, where gguf-py
 * lists 40. */
#include "gguf_parse.h"

#define QK_K 256u

#define DTYPE(n, bytes, dt) { .name = n, .block_size = 1, .type_size = bytes, \
                              .is_dtype = 1, .dtype = dt }
#define BLOCKS(n, block, bytes) { .name = n, .block_size = block, \
                                  .type_size = bytes, .dtype = EL_U8 }

static const gguf_tensor_type types[] = {
    [0] = DTYPE("F32", 4, EL_F32),
    [1] = DTYPE("F16", 2, EL_F16),
    [2] = BLOCKS("Q4_0", 32, 2 + 16),
    [3] = BLOCKS("Q4_1", 32, 2 + 2 + 16),
    [6] = BLOCKS("Q5_0", 32, 2 + 4 + 16),
    [7] = BLOCKS("Q5_1", 32, 2 + 2 + 4 + 16),
    [8] = BLOCKS("Q8_0", 32, 2 + 32),
    [9] = BLOCKS("Q8_1", 32, 2 + 2 + 32),
    [10] = BLOCKS("Q2_K", QK_K, 2 + 2 + QK_K / 16 + QK_K / 4),
    [11] = BLOCKS("Q3_K", QK_K, 2 + QK_K / 4 + QK_K / 8 + 12),
    [12] = BLOCKS("Q4_K", QK_K, 2 + 2 + QK_K / 2 + 12),
    [13] = BLOCKS("Q5_K", QK_K, 2 + 2 + QK_K / 2 + QK_K / 8 + 12),
    [14] = BLOCKS("Q6_K", QK_K, 2 + QK_K / 2 + QK_K / 4 + QK_K / 16),
    [15] = BLOCKS("Q8_K", QK_K, 4 + QK_K + QK_K / 8),
    [16] = BLOCKS("IQ2_XXS", QK_K, 2 + QK_K / 4),
    [17] = BLOCKS("IQ2_XS", QK_K, 2 + QK_K / 4 + QK_K / 32),
    [18] = BLOCKS("IQ3_XXS", QK_K, 2 + QK_K / 4 + QK_K / 8),
    [19] = BLOCKS("IQ1_S", QK_K, 2 + QK_K / 8 + QK_K / 16),
    [20] = BLOCKS("IQ4_NL", 32, 2 + 16),
    [21] = BLOCKS("IQ3_S", QK_K, 2 + QK_K / 4 + QK_K / 8 + QK_K / 32 + 4),
    [22] = BLOCKS("IQ2_S", QK_K, 2 + QK_K / 4 + QK_K / 16),
    [23] = BLOCKS("IQ4_XS", QK_K, 2 + 2 + QK_K / 2 + QK_K / 64),
    [24] = DTYPE("I8", 1, EL_I8),
    [25] = DTYPE("I16", 2, EL_I16),
    [26] = DTYPE("I32", 4, EL_I32),
    [27] = DTYPE("I64", 8, EL_I64),
    [28] = DTYPE("F64", 8, EL_F64),
    [29] = BLOCKS("IQ1_M", QK_K, QK_K / 8 + QK_K / 16 + QK_K / 32),
    [30] = DTYPE("BF16", 2, EL_BF16),
    [34] = BLOCKS("TQ1_0", QK_K, 2 + 4 * 13),
    [35] = BLOCKS("TQ2_0", QK_K, 2 + 64),
    [39] = BLOCKS("MXFP4", 32, 1 + 16),
    [40] = BLOCKS("NVFP4", 64, 4 + 32),
    [41] = BLOCKS("Q1_0", 128, 2 + 16),
};
/* NOTE: ids above 41 are rejected as unknown, even where a newer ggml has
 * defined them since this table was written. */

#define N_TYPES (sizeof types / sizeof types[0])

/* Ids ggml once used and no longer reads from files. */
static const struct {
    uint32_t id;
    const char *name;
} removed[] = {
    { 4, "Q4_2" }, { 5, "Q4_3" },
    { 31, "Q4_0_4_4" }, { 32, "Q4_0_4_8" }, { 33, "Q4_0_8_8" },
    { 36, "IQ4_NL_4_4" }, { 37, "IQ4_NL_4_8" }, { 38, "IQ4_NL_8_8" },
};

const gguf_tensor_type *gguf_tensor_type_find(uint32_t id, const char **removed_name)
{
    *removed_name = NULL;
    if (id < N_TYPES && types[id].name != NULL)
        return &types[id];

    for (size_t i = 0; i < sizeof removed / sizeof removed[0]; i++)
        if (removed[i].id == id)
            *removed_name = removed[i].name;
    return NULL;
}

const char *gguf_value_type_name(uint32_t type)
{
    static const char *const names[GGUF_TYPE_COUNT] = {
        "u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "string",
        "array", "u64", "i64", "f64",
    };
    return type < GGUF_TYPE_COUNT ? names[type] : "unknown";
}
