/* Internal parts of the GGUF reader, shared by core/gguf*.c.
 *
 * A GGUF v2/v3 file is, all integers little-endian:
 *   1. magic "GGUF", u32 version, u64 tensor count, u64 key-value count;
 *   2. key-values: string key, u32 value type, value. A string is a u64
 *      length and that many bytes. An array is a u32 element type, a u64
 *      count and the elements, which may be arrays too;
 *   3. tensor infos: string name, u32 n_dims, n_dims u64 sizes ne[] with
 *      ne[0] varying fastest, u32 ggml type, u64 offset into the data section;
 *   4. padding up to a multiple of the alignment (general.alignment, else
 *      32), then the data section.
 * Value type numbers and the default alignment: llama.cpp's gguf-py,
 * gguf/constants.py (commit 0024aa7). */
#ifndef ELVES_GGUF_PARSE_H
#define ELVES_GGUF_PARSE_H

#include <stddef.h>
#include <stdint.h>

#include "model.h"

/* Advice appended to every message about a damaged file. */
#define GGUF_FIX "the file is damaged or not GGUF: download or convert it again"

#define GGUF_DEFAULT_ALIGNMENT 32u
#define GGUF_MAX_ALIGNMENT (1u << 20)
#define GGUF_MAX_DIMS 4             /* GGML_MAX_DIMS */
#define GGUF_MAX_ARRAY_DEPTH 8      /* arrays nested deeper are rejected */
#define GGUF_MAX_NAME 4096          /* longest tensor name accepted, bytes */

/* Minimum encoded sizes, which bound the counts in the header. A key-value
 * is at least an empty key (its 8-byte length), a type and a 1-byte value.
 * A tensor info is at least an empty name, n_dims, type and offset. */
#define GGUF_KV_MIN_BYTES 13u
#define GGUF_INFO_MIN_BYTES 24u

/* Key-value types, numbered as in the file. */
enum {
    GGUF_U8, GGUF_I8, GGUF_U16, GGUF_I16, GGUF_U32, GGUF_I32, GGUF_F32,
    GGUF_BOOL, GGUF_STRING, GGUF_ARRAY, GGUF_U64, GGUF_I64, GGUF_F64,
    GGUF_TYPE_COUNT
};

/* A string inside the mapped file: not NUL-terminated. */
typedef struct gguf_string {
    const char *ptr;
    uint64_t len;
} gguf_string;

/* A bounded reader over one mapped file. Every read checks the bytes left
 * first, and a failure names `path`, the field and the offset. */
typedef struct gguf_cursor {
    const char *path;
    const uint8_t *base;
    uint64_t size;
    uint64_t pos;
} gguf_cursor;

uint64_t gguf_remaining(const gguf_cursor *c);
int gguf_skip(gguf_cursor *c, uint64_t n, const char *field, el_error *err);
int gguf_read_u8(gguf_cursor *c, const char *field, uint8_t *out, el_error *err);
int gguf_read_u16(gguf_cursor *c, const char *field, uint16_t *out, el_error *err);
int gguf_read_u32(gguf_cursor *c, const char *field, uint32_t *out, el_error *err);
int gguf_read_u64(gguf_cursor *c, const char *field, uint64_t *out, el_error *err);

/* Reads a u64 length and that many bytes, which must all be in the file. */
int gguf_read_string(gguf_cursor *c, const char *field, gguf_string *out,
                     el_error *err);

/* Makes room for item `index` in a malloc'd array of `size`-byte items,
 * doubling *cap. Returns the array, perhaps moved, or NULL when memory runs
 * out (the old array is then still valid). Arrays grow as the file is read
 * rather than to a count the file claims, so memory stays proportional to
 * the bytes parsed. */
void *gguf_reserve(void *items, uint64_t *cap, uint64_t index, size_t size);

/* Copies s into buf for a message: at most 80 bytes, and bytes outside
 * printable ASCII replaced by '?'. Returns buf. */
const char *gguf_printable(gguf_string s, char *buf, size_t len);

/* Whether s equals the C string text. */
int gguf_string_is(gguf_string s, const char *text);

/* One key-value as found in the file. */
typedef struct gguf_kv {
    gguf_string key;
    uint32_t type;
    uint64_t value_pos;     /* file offset of the value */
    uint32_t elem_type;     /* arrays: element type */
    uint64_t count;         /* arrays: element count */
} gguf_kv;

/* The parts of a file before the tensor infos. */
typedef struct gguf_header {
    const char *path;
    const uint8_t *base;    /* the mapped file */
    uint32_t version;
    uint64_t n_tensors;
    uint64_t n_kv;
    gguf_kv *kv;            /* n_kv entries, malloc'd */
    uint64_t kv_cap;
    uint32_t alignment;
    uint64_t infos_pos;     /* file offset of the first tensor info */
} gguf_header;

/* Reads the magic, version, counts and every key-value; rejects duplicate
 * keys and a bad general.alignment. On failure h->kv is freed. */
int gguf_parse_header(gguf_cursor *c, gguf_header *h, el_error *err);
void gguf_header_free(gguf_header *h);

/* The key-value with this key, or NULL. */
const gguf_kv *gguf_find_kv(const gguf_header *h, const char *key);

/* Reads an integer-typed scalar key-value (u8 to i64, bool) as int64;
 * a u64 above INT64_MAX fails. */
int gguf_kv_integer(const gguf_header *h, const gguf_kv *kv, int64_t *out,
                    el_error *err);

/* Name of a key-value type ("u32", "array", ...), or "unknown". */
const char *gguf_value_type_name(uint32_t type);

/* A ggml tensor type: elements per block and bytes per block. */
typedef struct gguf_tensor_type {
    const char *name;
    uint32_t block_size;
    uint32_t type_size;
    int is_dtype;           /* 1 when dtype holds it element by element */
    el_dtype dtype;
} gguf_tensor_type;

/* The type with this id, or NULL when the id is unknown or removed; then
 * *removed_name is the removed type's name, or NULL. */
const gguf_tensor_type *gguf_tensor_type_find(uint32_t id, const char **removed_name);

/* Builds the overview summary of the key-values as a JSON object text,
 * malloc'd. */
int gguf_summary_json(const gguf_header *h, size_t n_files, char **out,
                      el_error *err);

/* Parses the tensor infos of file `file` (whose header is h), checks them
 * and appends them to the model in offset order. */
int gguf_add_tensors(el_model *model, size_t file, gguf_cursor *c,
                     const gguf_header *h, el_error *err);

#endif
