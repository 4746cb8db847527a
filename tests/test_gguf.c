/* Tests of the GGUF reader: valid v2/v3 files built here byte by byte, split
 * sets, lossless round trips through the container, and one test per kind
 * of malformed input. Every file is written to a fresh temporary folder that
 * teardown removes. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../core/container.h"
#include "../core/formats.h"
#include "../core/model.h"
#include "../core/workspace.h"
#include "testutil.h"
#include "testdir.h"

/* Key-value and tensor type ids as numbered in the file. */
enum {
    KV_U8, KV_I8, KV_U16, KV_I16, KV_U32, KV_I32, KV_F32, KV_BOOL, KV_STRING,
    KV_ARRAY, KV_U64, KV_I64, KV_F64
};
enum {
    T_F32 = 0, T_F16 = 1, T_Q8_0 = 8, T_I8 = 24, T_I16 = 25, T_I32 = 26,
    T_I64 = 27, T_F64 = 28, T_BF16 = 30
};

#define EXABYTES (1ull << 60)

/* ---- fixture ---- */

/* The fixture (setup, teardown, path_in) comes from testdir.h. */

/* ---- a GGUF writer ---- */

typedef struct gbuf {
    uint8_t *data;
    size_t len, cap;
} gbuf;

static void put(gbuf *b, const void *bytes, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = b->cap > 0 ? b->cap : 256;
        while (cap < b->len + n)
            cap *= 2;
        b->data = realloc(b->data, cap);
        assert_non_null(b->data);
        b->cap = cap;
    }
    if (n > 0)
        memcpy(b->data + b->len, bytes, n);
    b->len += n;
}

static void put_le(gbuf *b, uint64_t v, int n)
{
    uint8_t bytes[8];
    for (int i = 0; i < n; i++)
        bytes[i] = (uint8_t)(v >> (8 * i));
    put(b, bytes, (size_t)n);
}

static void put_u8(gbuf *b, uint8_t v) { put_le(b, v, 1); }
static void put_u16(gbuf *b, uint16_t v) { put_le(b, v, 2); }
static void put_u32(gbuf *b, uint32_t v) { put_le(b, v, 4); }
static void put_u64(gbuf *b, uint64_t v) { put_le(b, v, 8); }

static void put_f32(gbuf *b, float f)
{
    uint32_t bits;
    memcpy(&bits, &f, sizeof bits);
    put_u32(b, bits);
}

static void put_str(gbuf *b, const char *s)
{
    put_u64(b, strlen(s));
    put(b, s, strlen(s));
}

/* The fixed header: magic, version and the two counts. */
static void put_header(gbuf *b, uint32_t version, uint64_t n_tensors, uint64_t n_kv)
{
    put(b, "GGUF", 4);
    put_u32(b, version);
    put_u64(b, n_tensors);
    put_u64(b, n_kv);
}

static void put_kv_u32(gbuf *b, const char *key, uint32_t v)
{
    put_str(b, key);
    put_u32(b, KV_U32);
    put_u32(b, v);
}

static void put_kv_str(gbuf *b, const char *key, const char *v)
{
    put_str(b, key);
    put_u32(b, KV_STRING);
    put_str(b, v);
}

static void pad_to(gbuf *b, size_t alignment)
{
    while (b->len % alignment != 0)
        put_u8(b, 0);
}

/* One tensor info. ne[] is in file order: ne[0] varies fastest. */
typedef struct tspec {
    const char *name;
    uint32_t n_dims;
    uint64_t ne[5];
    uint32_t type;
    uint64_t offset;
} tspec;

static void put_info(gbuf *b, const tspec *t)
{
    put_str(b, t->name);
    put_u32(b, t->n_dims);
    for (uint32_t d = 0; d < t->n_dims; d++)
        put_u64(b, t->ne[d]);
    put_u32(b, t->type);
    put_u64(b, t->offset);
}

/* A whole file: header, general.architecture, an optional general.alignment
 * (0 leaves it out), the infos, padding, then data_len bytes of data where
 * byte i is i mod 251. */
static void build(gbuf *b, uint32_t version, uint32_t alignment, const tspec *t,
                  size_t n, size_t data_len)
{
    put_header(b, version, n, alignment != 0 ? 2 : 1);
    put_kv_str(b, "general.architecture", "llama");
    if (alignment != 0)
        put_kv_u32(b, "general.alignment", alignment);
    for (size_t i = 0; i < n; i++)
        put_info(b, &t[i]);
    pad_to(b, alignment != 0 ? alignment : 32);
    for (size_t i = 0; i < data_len; i++)
        put_u8(b, (uint8_t)(i % 251));
}

static void write_gbuf(const char *path, gbuf *b)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    if (b->len > 0)
        assert_int_equal(fwrite(b->data, 1, b->len, f), b->len);
    assert_int_equal(fclose(f), 0);
    free(b->data);
    memset(b, 0, sizeof *b);
}

static uint8_t *read_whole(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    *len = (size_t)ftell(f);
    rewind(f);
    uint8_t *data = malloc(*len > 0 ? *len : 1);
    assert_non_null(data);
    assert_int_equal(fread(data, 1, *len, f), *len);
    fclose(f);
    return data;
}

/* ---- expectations ---- */

static void open_ok(const char *path, el_model *m)
{
    el_error err = { { 0 } };
    if (el_model_open(path, m, &err) != 0)
        fail_msg("el_model_open(%s) failed: %s", path, err.msg);
}

/* Opens path, expects failure with `needle` in the message, and checks that
 * the model was left zeroed. */
static void expect_open_error(const char *path, const char *needle)
{
    el_model m;
    memset(&m, 0xab, sizeof m);
    el_error err = { { 0 } };

    const int rc = el_model_open(path, &m, &err);
    if (rc == 0)
        el_model_close(&m);
    assert_int_equal(rc, -1);
    if (strstr(err.msg, needle) == NULL)
        fail_msg("message \"%s\" does not mention \"%s\"", err.msg, needle);

    el_model zero;
    memset(&zero, 0, sizeof zero);
    assert_memory_equal(&m, &zero, sizeof m);
}

/* Writes b as bad.gguf and expects opening it to fail naming `needle`. */
static void expect_error(const fixture *fx, gbuf *b, const char *needle)
{
    const char *path = path_in(fx, "bad.gguf");
    write_gbuf(path, b);
    expect_open_error(path, needle);
}

/* Expects a file with these tensor infos (alignment 32) to fail. */
static void expect_tensor_error(const fixture *fx, const tspec *t, size_t n,
                                size_t data_len, const char *needle)
{
    gbuf b = { 0 };
    build(&b, 3, 0, t, n, data_len);
    expect_error(fx, &b, needle);
}

/* ---- valid files ---- */

static void gguf_f32_values_and_shape(void **state)
{
    const fixture *fx = *state;
    const float values[6] = { 0.5f, -1.25f, 3.0f, 0.0f, -0.0f, 1e-3f };
    gbuf b = { 0 };
    put_header(&b, 3, 1, 1);
    put_kv_str(&b, "general.architecture", "llama");
    const tspec t = { "blk.0/w", 2, { 3, 2 }, T_F32, 0 };
    put_info(&b, &t);
    pad_to(&b, 32);
    const size_t data_start = b.len;
    for (int i = 0; i < 6; i++)
        put_f32(&b, values[i]);
    const char *path = path_in(fx, "one.gguf");
    write_gbuf(path, &b);

    el_model m;
    open_ok(path, &m);
    assert_string_equal(m.format, "gguf");
    assert_int_equal(m.n_files, 1);
    assert_int_equal(m.n_tensors, 1);
    assert_int_equal(m.files[0].data_start, data_start);

    const el_tensor *w = &m.tensors[0];
    assert_string_equal(w->name, "blk.0/w");
    assert_int_equal(w->dtype, EL_F32);
    assert_null(w->type_name);
    assert_int_equal(w->derived, 0);
    assert_int_equal(w->ndim, 2);
    assert_int_equal(w->shape[0], 2);
    assert_int_equal(w->shape[1], 3);
    assert_int_equal(w->count, 6);
    assert_int_equal(w->nbytes, 24);
    assert_int_equal(w->offset, data_start);
    assert_memory_equal(w->data, values, sizeof values);

    assert_non_null(m.metadata_json);
    assert_non_null(strstr(m.metadata_json, "\"general.architecture\":\"llama\""));
    assert_non_null(strstr(m.metadata_json, "\"gguf_version\":3"));
    el_model_close(&m);
}

static void gguf_version_2_opens(void **state)
{
    const fixture *fx = *state;
    const tspec t = { "w", 1, { 8 }, T_F32, 0 };
    gbuf b = { 0 };
    build(&b, 2, 0, &t, 1, 32);
    const char *path = path_in(fx, "v2.gguf");
    write_gbuf(path, &b);

    el_model m;
    open_ok(path, &m);
    assert_int_equal(m.n_tensors, 1);
    assert_int_equal(m.tensors[0].count, 8);
    assert_non_null(strstr(m.metadata_json, "\"gguf_version\":2"));
    el_model_close(&m);
}

/* One key of every value type, arrays of scalars and strings, and arrays
 * nested three deep. */
static void gguf_every_kv_type(void **state)
{
    const fixture *fx = *state;
    gbuf b = { 0 };
    put_header(&b, 3, 0, 19);
    put_kv_str(&b, "general.architecture", "llama");
    put_kv_str(&b, "general.name", "caf\xc3\xa9 \xff bad");
    put_str(&b, "k.u8"); put_u32(&b, KV_U8); put_u8(&b, 200);
    put_str(&b, "k.i8"); put_u32(&b, KV_I8); put_u8(&b, 0x80);
    put_str(&b, "k.u16"); put_u32(&b, KV_U16); put_u16(&b, 65535);
    put_str(&b, "k.i16"); put_u32(&b, KV_I16); put_u16(&b, 0xffff);
    put_kv_u32(&b, "llama.context_length", 512);
    put_str(&b, "llama.embedding_length"); put_u32(&b, KV_I32); put_u32(&b, 64);
    put_str(&b, "k.f32"); put_u32(&b, KV_F32); put_f32(&b, 1.5f);
    put_str(&b, "k.bool"); put_u32(&b, KV_BOOL); put_u8(&b, 1);
    put_str(&b, "llama.block_count"); put_u32(&b, KV_U64); put_u64(&b, 5);
    put_str(&b, "k.i64"); put_u32(&b, KV_I64); put_u64(&b, (uint64_t)-7);
    put_str(&b, "k.f64"); put_u32(&b, KV_F64); put_u64(&b, 0x3ff0000000000000ull);
    put_kv_str(&b, "tokenizer.ggml.model", "llama");

    put_str(&b, "tokenizer.ggml.tokens");
    put_u32(&b, KV_ARRAY); put_u32(&b, KV_STRING); put_u64(&b, 3);
    put_str(&b, "<s>"); put_str(&b, ""); put_str(&b, "hello");

    put_str(&b, "k.scores");
    put_u32(&b, KV_ARRAY); put_u32(&b, KV_F32); put_u64(&b, 2);
    put_f32(&b, 0.25f); put_f32(&b, -1.0f);

    put_str(&b, "k.empty");
    put_u32(&b, KV_ARRAY); put_u32(&b, KV_U64); put_u64(&b, 0);

    /* [[[1, 2]], []] */
    put_str(&b, "k.nested");
    put_u32(&b, KV_ARRAY); put_u32(&b, KV_ARRAY); put_u64(&b, 2);
    put_u32(&b, KV_ARRAY); put_u64(&b, 1);
    put_u32(&b, KV_I32); put_u64(&b, 2); put_u32(&b, 1); put_u32(&b, 2);
    put_u32(&b, KV_I32); put_u64(&b, 0);

    put_str(&b, "k.bools");
    put_u32(&b, KV_ARRAY); put_u32(&b, KV_BOOL); put_u64(&b, 3);
    put_u8(&b, 0); put_u8(&b, 1); put_u8(&b, 0);

    const char *path = path_in(fx, "kv.gguf");
    write_gbuf(path, &b);

    el_model m;
    open_ok(path, &m);
    assert_int_equal(m.n_tensors, 0);
    const char *json = m.metadata_json;
    assert_non_null(json);
    assert_non_null(strstr(json, "\"key_value_count\":19"));
    assert_non_null(strstr(json, "\"token_count\":3"));
    assert_non_null(strstr(json, "\"llama.context_length\":512"));
    assert_non_null(strstr(json, "\"llama.embedding_length\":64"));
    assert_non_null(strstr(json, "\"llama.block_count\":5"));
    assert_non_null(strstr(json, "\"tokenizer.ggml.model\":\"llama\""));
    /* Invalid UTF-8 in a value is replaced, so the summary stays JSON. */
    assert_non_null(strstr(json, "\"general.name\":\"caf\xc3\xa9 ? bad\""));
    el_model_close(&m);
}

static void gguf_q8_0_tensor(void **state)
{
    const fixture *fx = *state;
    const tspec t = { "token_embd.weight", 2, { 64, 3 }, T_Q8_0, 0 };
    gbuf b = { 0 };
    build(&b, 3, 0, &t, 1, 3 * 2 * 34);
    const char *path = path_in(fx, "q8.gguf");
    write_gbuf(path, &b);

    el_model m;
    open_ok(path, &m);
    const el_tensor *w = &m.tensors[0];
    assert_int_equal(w->dtype, EL_U8);
    assert_non_null(w->type_name);
    assert_string_equal(w->type_name, "Q8_0");
    assert_int_equal(w->nbytes, 204);
    assert_int_equal(w->count, 204);
    assert_int_equal(w->ndim, 2);
    assert_int_equal(w->shape[0], 3);
    assert_int_equal(w->shape[1], 64);
    el_model_close(&m);
}

static void gguf_element_types(void **state)
{
    const fixture *fx = *state;
    const tspec t[] = {
        { "f16", 1, { 4 }, T_F16, 0 },
        { "bf16", 1, { 4 }, T_BF16, 32 },
        { "f64", 1, { 4 }, T_F64, 64 },
        { "i8", 1, { 4 }, T_I8, 96 },
        { "i16", 1, { 4 }, T_I16, 128 },
        { "i32", 1, { 4 }, T_I32, 160 },
        { "i64", 1, { 4 }, T_I64, 192 },
        { "scalar", 0, { 0 }, T_F32, 224 },
    };
    const el_dtype want[] = { EL_F16, EL_BF16, EL_F64, EL_I8, EL_I16, EL_I32,
                              EL_I64, EL_F32 };
    const uint64_t bytes[] = { 8, 8, 32, 4, 8, 16, 32, 4 };
    gbuf b = { 0 };
    build(&b, 3, 0, t, 8, 228);
    const char *path = path_in(fx, "types.gguf");
    write_gbuf(path, &b);

    el_model m;
    open_ok(path, &m);
    assert_int_equal(m.n_tensors, 8);
    for (size_t i = 0; i < 8; i++) {
        assert_string_equal(m.tensors[i].name, t[i].name);
        assert_int_equal(m.tensors[i].dtype, want[i]);
        assert_int_equal(m.tensors[i].nbytes, bytes[i]);
        assert_null(m.tensors[i].type_name);
    }
    assert_int_equal(m.tensors[7].ndim, 0);
    assert_int_equal(m.tensors[7].count, 1);
    el_model_close(&m);
}

/* Tensors listed out of offset order come out sorted, with gaps between. */
static void gguf_sorted_by_offset(void **state)
{
    const fixture *fx = *state;
    const tspec t[] = {
        { "late", 1, { 4 }, T_F32, 96 },
        { "early", 1, { 4 }, T_F32, 0 },
    };
    gbuf b = { 0 };
    build(&b, 3, 0, t, 2, 128);
    const char *path = path_in(fx, "order.gguf");
    write_gbuf(path, &b);

    el_model m;
    open_ok(path, &m);
    assert_string_equal(m.tensors[0].name, "early");
    assert_string_equal(m.tensors[1].name, "late");
    assert_true(m.tensors[0].offset < m.tensors[1].offset);
    el_model_close(&m);
}

static void gguf_custom_alignment(void **state)
{
    const fixture *fx = *state;
    const tspec t[] = {
        { "a", 1, { 3 }, T_F32, 0 },
        { "b", 1, { 3 }, T_F32, 256 },
    };
    gbuf b = { 0 };
    build(&b, 3, 256, t, 2, 268);
    const char *path = path_in(fx, "align.gguf");
    write_gbuf(path, &b);

    el_model m;
    open_ok(path, &m);
    assert_int_equal(m.files[0].data_start % 256, 0);
    assert_int_equal(m.tensors[1].offset, m.files[0].data_start + 256);
    assert_non_null(strstr(m.metadata_json, "\"alignment\":256"));
    el_model_close(&m);
}

static void gguf_zero_dimension_is_empty(void **state)
{
    const fixture *fx = *state;
    const tspec t[] = {
        { "empty", 2, { 0, 4 }, T_F32, 0 },
        { "w", 1, { 2 }, T_F32, 0 },
        { "empty_q", 2, { 32, 0 }, T_Q8_0, 32 },
    };
    gbuf b = { 0 };
    build(&b, 3, 0, t, 3, 32);
    const char *path = path_in(fx, "empty.gguf");
    write_gbuf(path, &b);

    el_model m;
    open_ok(path, &m);
    assert_int_equal(m.n_tensors, 3);
    const long empty = el_model_find(&m, "empty");
    assert_true(empty >= 0);
    assert_int_equal(m.tensors[empty].count, 0);
    assert_int_equal(m.tensors[empty].nbytes, 0);
    assert_int_equal(m.tensors[empty].shape[0], 4);
    assert_int_equal(m.tensors[empty].shape[1], 0);
    const long empty_q = el_model_find(&m, "empty_q");
    assert_true(empty_q >= 0);
    assert_int_equal(m.tensors[empty_q].nbytes, 0);
    el_model_close(&m);
}

static void gguf_vocabulary_only(void **state)
{
    const fixture *fx = *state;
    gbuf b = { 0 };
    put_header(&b, 3, 0, 2);
    put_kv_str(&b, "general.architecture", "llama");
    put_str(&b, "tokenizer.ggml.tokens");
    put_u32(&b, KV_ARRAY); put_u32(&b, KV_STRING); put_u64(&b, 2);
    put_str(&b, "a"); put_str(&b, "b");
    const char *path = path_in(fx, "vocab.gguf");
    write_gbuf(path, &b);

    el_model m;
    open_ok(path, &m);
    assert_int_equal(m.n_tensors, 0);
    assert_int_equal(m.files[0].data_start, m.files[0].size);
    el_model_close(&m);
}

/* Writes shard `no` (0-based) of a two-shard set with one tensor. */
static void write_shard(const fixture *fx, const char *name, uint16_t no,
                        const char *tensor)
{
    gbuf b = { 0 };
    put_header(&b, 3, 1, 4);
    put_kv_str(&b, "general.architecture", "llama");
    put_str(&b, "split.no"); put_u32(&b, KV_U16); put_u16(&b, no);
    put_str(&b, "split.count"); put_u32(&b, KV_U16); put_u16(&b, 2);
    put_str(&b, "split.tensors.count"); put_u32(&b, KV_I32); put_u32(&b, 2);
    const tspec t = { tensor, 1, { 8 }, T_F32, 0 };
    put_info(&b, &t);
    pad_to(&b, 32);
    for (int i = 0; i < 8; i++)
        put_f32(&b, (float)(no * 10 + i));
    write_gbuf(path_in(fx, name), &b);
}

static void gguf_split_opens_every_shard(void **state)
{
    const fixture *fx = *state;
    write_shard(fx, "m-00001-of-00002.gguf", 0, "first");
    write_shard(fx, "m-00002-of-00002.gguf", 1, "second");

    el_model m;
    open_ok(path_in(fx, "m-00001-of-00002.gguf"), &m);
    assert_int_equal(m.n_files, 2);
    assert_int_equal(m.n_tensors, 2);
    assert_string_equal(m.files[1].name, "m-00002-of-00002.gguf");
    assert_string_equal(m.tensors[0].name, "first");
    assert_string_equal(m.tensors[1].name, "second");
    assert_int_equal(m.tensors[1].file, 1);
    assert_non_null(strstr(m.metadata_json, "\"split_count\":2"));
    el_model_close(&m);

    /* A later shard opened directly is a model of that one file. */
    open_ok(path_in(fx, "m-00002-of-00002.gguf"), &m);
    assert_int_equal(m.n_files, 1);
    assert_int_equal(m.n_tensors, 1);
    assert_string_equal(m.tensors[0].name, "second");
    el_model_close(&m);
}

static void gguf_split_missing_shard(void **state)
{
    const fixture *fx = *state;
    write_shard(fx, "m-00001-of-00002.gguf", 0, "first");
    expect_open_error(path_in(fx, "m-00001-of-00002.gguf"), "m-00002-of-00002.gguf");
}

static void gguf_split_wrong_number(void **state)
{
    const fixture *fx = *state;
    write_shard(fx, "m-00001-of-00002.gguf", 0, "first");
    write_shard(fx, "m-00002-of-00002.gguf", 0, "second");
    expect_open_error(path_in(fx, "m-00001-of-00002.gguf"), "split.no");
}

static void gguf_split_duplicate_tensor(void **state)
{
    const fixture *fx = *state;
    write_shard(fx, "m-00001-of-00002.gguf", 0, "same");
    write_shard(fx, "m-00002-of-00002.gguf", 1, "same");
    expect_open_error(path_in(fx, "m-00001-of-00002.gguf"), "tensor name 'same'");
}

/* Exports a model losslessly and checks that restore gives its files back
 * byte for byte. out is a file for one file, a folder for a split set. */
static void check_lossless_restore(const fixture *fx, const char *model_path,
                                   const char *const *files, size_t n_files)
{
    el_workspace ws;
    el_error err = { { 0 } };
    if (el_workspace_open(&ws, &model_path, 1, &err) != 0
        || el_workspace_analyse(&ws, NULL, NULL, &err) != 0)
        fail_msg("cannot open %s: %s", model_path, err.msg);

    el_export_report report;
    const char *packed = path_in(fx, "out.elves");
    const int rc = el_export(&ws, 0, packed, NULL, NULL, &report, &err);
    el_export_report_free(&report);
    el_workspace_close(&ws);
    if (rc != 0)
        fail_msg("export failed: %s", err.msg);

    const char *out = n_files > 1 ? path_in(fx, "restored") : path_in(fx, "restored.gguf");
    if (el_restore(packed, out, NULL, NULL, &err) != 0)
        fail_msg("restore failed: %s", err.msg);

    for (size_t i = 0; i < n_files; i++) {
        char original[300], restored[300];
        snprintf(original, sizeof original, "%s/%s", fx->dir, files[i]);
        if (n_files > 1)
            snprintf(restored, sizeof restored, "%s/%s", out, files[i]);
        else
            snprintf(restored, sizeof restored, "%s", out);

        size_t a_len = 0, b_len = 0;
        uint8_t *a = read_whole(original, &a_len);
        uint8_t *b = read_whole(restored, &b_len);
        assert_int_equal(a_len, b_len);
        assert_memory_equal(a, b, a_len);
        free(a);
        free(b);
    }
}

static void gguf_restore_identical(void **state)
{
    const fixture *fx = *state;
    uint64_t seed = 42;
    gbuf b = { 0 };
    put_header(&b, 3, 3, 2);
    put_kv_str(&b, "general.architecture", "llama");
    put_kv_str(&b, "general.name", "round trip");
    const tspec t[] = {
        { "norm", 1, { 64 }, T_F32, 0 },
        { "q", 2, { 64, 2 }, T_Q8_0, 256 },
        { "h", 2, { 16, 4 }, T_F16, 448 },
    };
    for (int i = 0; i < 3; i++)
        put_info(&b, &t[i]);
    pad_to(&b, 32);
    /* Gaps filled with non-zero bytes must come back too. */
    for (size_t i = 0; i < 576; i++)
        put_u8(&b, (uint8_t)test_rand(&seed));
    const char *name = "rt.gguf";
    write_gbuf(path_in(fx, name), &b);

    check_lossless_restore(fx, path_in(fx, name), &name, 1);
}

static void gguf_restore_split_identical(void **state)
{
    const fixture *fx = *state;
    write_shard(fx, "s-00001-of-00002.gguf", 0, "first");
    write_shard(fx, "s-00002-of-00002.gguf", 1, "second");
    const char *names[] = { "s-00001-of-00002.gguf", "s-00002-of-00002.gguf" };
    check_lossless_restore(fx, path_in(fx, names[0]), names, 2);
}

/* Every prefix of a valid file fails cleanly, and random byte changes must
 * not crash the reader (make check runs this under the sanitizers). */
static void gguf_truncated_and_corrupted(void **state)
{
    const fixture *fx = *state;
    gbuf b = { 0 };
    put_header(&b, 3, 2, 3);
    put_kv_str(&b, "general.architecture", "llama");
    put_kv_u32(&b, "general.alignment", 32);
    put_str(&b, "k.nested");
    put_u32(&b, KV_ARRAY); put_u32(&b, KV_ARRAY); put_u64(&b, 1);
    put_u32(&b, KV_STRING); put_u64(&b, 1); put_str(&b, "x");
    const tspec t[] = {
        { "a", 2, { 32, 2 }, T_Q8_0, 0 },
        { "b", 1, { 4 }, T_F32, 96 },
    };
    put_info(&b, &t[0]);
    put_info(&b, &t[1]);
    pad_to(&b, 32);
    for (int i = 0; i < 112; i++)
        put_u8(&b, (uint8_t)i);
    const size_t full = b.len;
    uint8_t *good = malloc(full);
    assert_non_null(good);
    memcpy(good, b.data, full);
    free(b.data);

    const char *path = path_in(fx, "cut.gguf");
    for (size_t len = 0; len < full; len++) {
        gbuf cut = { 0 };
        put(&cut, good, len);
        write_gbuf(path, &cut);
        el_model m;
        el_error err = { { 0 } };
        if (el_model_open(path, &m, &err) == 0)
            fail_msg("a %zu-byte prefix of a %zu-byte file opened", len, full);
    }

    uint64_t seed = 7;
    for (int round = 0; round < 2000; round++) {
        gbuf bad = { 0 };
        put(&bad, good, full);
        for (int k = 0; k < 3; k++)
            bad.data[test_rand(&seed) % full] = (uint8_t)test_rand(&seed);
        write_gbuf(path, &bad);
        el_model m;
        el_error err = { { 0 } };
        if (el_model_open(path, &m, &err) == 0)
            el_model_close(&m);
    }
    free(good);
}

/* ---- bad headers ---- */

static void gguf_wrong_magic(void **state)
{
    const fixture *fx = *state;
    gbuf b = { 0 };
    build(&b, 3, 0, NULL, 0, 0);
    memcpy(b.data, "GGUG", 4);
    const char *path = path_in(fx, "magic.gguf");
    write_gbuf(path, &b);

    /* el_model_open picks the reader by magic, so call this one directly. */
    el_model m;
    memset(&m, 0, sizeof m);
    el_error err = { { 0 } };
    assert_int_equal(el_gguf_open(&m, path, &err), -1);
    el_model_close(&m);
    assert_non_null(strstr(err.msg, "magic is \"GGUG\""));
}

static void gguf_unknown_versions(void **state)
{
    const fixture *fx = *state;
    gbuf b = { 0 };
    build(&b, 4, 0, NULL, 0, 0);
    expect_error(fx, &b, "version 4 is unknown");

    build(&b, 1, 0, NULL, 0, 0);
    expect_error(fx, &b, "version 1 is not supported");

    build(&b, 0, 0, NULL, 0, 0);
    expect_error(fx, &b, "version 0 is unknown");
}

static void gguf_big_endian(void **state)
{
    const fixture *fx = *state;
    gbuf b = { 0 };
    put(&b, "GGUF", 4);
    const uint8_t version[4] = { 0, 0, 0, 3 };
    put(&b, version, 4);
    const uint8_t one[8] = { 0, 0, 0, 0, 0, 0, 0, 1 };
    put(&b, one, 8);
    put(&b, one, 8);
    for (int i = 0; i < 64; i++)
        put_u8(&b, 0);
    expect_error(fx, &b, "big-endian");
}

static void gguf_count_overflow(void **state)
{
    const fixture *fx = *state;
    gbuf b = { 0 };
    put_header(&b, 3, 0, UINT64_MAX);
    put_kv_str(&b, "general.architecture", "llama");
    expect_error(fx, &b, "key-value count 18446744073709551615");

    put_header(&b, 3, UINT64_MAX, 1);
    put_kv_str(&b, "general.architecture", "llama");
    expect_error(fx, &b, "tensor count 18446744073709551615");

    /* Small enough for the header check, too large after the key-values. */
    put_header(&b, 3, 2, 1);
    put_kv_str(&b, "general.architecture", "llama");
    for (int i = 0; i < 20; i++)
        put_u8(&b, 0);
    expect_error(fx, &b, "tensor count 2");
}

static void gguf_truncated_header(void **state)
{
    const fixture *fx = *state;
    gbuf b = { 0 };
    put(&b, "GGUF", 4);
    put_u32(&b, 3);
    put_u32(&b, 0);
    expect_error(fx, &b, "tensor count");
}

/* ---- bad key-values ---- */

static void gguf_string_length_exabytes(void **state)
{
    const fixture *fx = *state;
    gbuf b = { 0 };
    put_header(&b, 3, 0, 1);
    put_u64(&b, EXABYTES);
    put(&b, "general.name", 12);
    put_u32(&b, KV_STRING);
    expect_error(fx, &b, "key of key-value 0 at byte 24 has length 1152921504606846976");

    put_header(&b, 3, 0, 1);
    put_str(&b, "general.name");
    put_u32(&b, KV_STRING);
    put_u64(&b, EXABYTES);
    put(&b, "x", 1);
    expect_error(fx, &b, "value of key 'general.name'");
}

static void gguf_array_length_exabytes(void **state)
{
    const fixture *fx = *state;
    gbuf b = { 0 };
    put_header(&b, 3, 0, 1);
    put_str(&b, "tokenizer.ggml.scores");
    put_u32(&b, KV_ARRAY);
    put_u32(&b, KV_F32);
    put_u64(&b, EXABYTES);
    put_f32(&b, 1.0f);
    expect_error(fx, &b, "array of 1152921504606846976 f32 elements");

    /* Strings take at least 8 bytes each, so the bound is the count. */
    put_header(&b, 3, 0, 1);
    put_str(&b, "tokenizer.ggml.tokens");
    put_u32(&b, KV_ARRAY);
    put_u32(&b, KV_STRING);
    put_u64(&b, 3);
    put_str(&b, "a");
    put_str(&b, "b");
    expect_error(fx, &b, "array of 3 string elements");
}

static void gguf_unknown_value_type(void **state)
{
    const fixture *fx = *state;
    gbuf b = { 0 };
    put_header(&b, 3, 0, 1);
    put_str(&b, "k");
    put_u32(&b, 13);
    put_u64(&b, 0);
    expect_error(fx, &b, "key 'k' has type 13");

    put_header(&b, 3, 0, 1);
    put_str(&b, "k");
    put_u32(&b, KV_ARRAY);
    put_u32(&b, 99);
    put_u64(&b, 0);
    expect_error(fx, &b, "has type 99");
}

static void gguf_nested_arrays_too_deep(void **state)
{
    const fixture *fx = *state;
    gbuf b = { 0 };
    put_header(&b, 3, 0, 1);
    put_str(&b, "deep");
    put_u32(&b, KV_ARRAY);
    /* Deep enough to exhaust the stack of an unbounded recursive reader. */
    for (int i = 0; i < 200000; i++) {
        put_u32(&b, KV_ARRAY);
        put_u64(&b, 1);
    }
    put_u32(&b, KV_U8);
    put_u64(&b, 0);
    expect_error(fx, &b, "nests arrays more than 8 deep");
}

static void gguf_nesting_limit_accepted(void **state)
{
    const fixture *fx = *state;
    gbuf b = { 0 };
    put_header(&b, 3, 0, 1);
    put_str(&b, "deep");
    put_u32(&b, KV_ARRAY);
    for (int i = 0; i < 7; i++) {
        put_u32(&b, KV_ARRAY);
        put_u64(&b, 1);
    }
    put_u32(&b, KV_U8);
    put_u64(&b, 1);
    put_u8(&b, 9);
    const char *path = path_in(fx, "deep.gguf");
    write_gbuf(path, &b);

    el_model m;
    open_ok(path, &m);
    el_model_close(&m);
}

static void gguf_duplicate_key(void **state)
{
    const fixture *fx = *state;
    gbuf b = { 0 };
    put_header(&b, 3, 0, 3);
    put_kv_str(&b, "general.name", "a");
    put_kv_str(&b, "general.architecture", "llama");
    put_kv_u32(&b, "general.name", 1);
    expect_error(fx, &b, "key 'general.name' appears twice");
}

static void gguf_bad_alignment(void **state)
{
    const fixture *fx = *state;
    const tspec t = { "w", 1, { 4 }, T_F32, 0 };
    gbuf b = { 0 };
    const uint32_t bad[] = { 0, 48, 3, 1u << 21, UINT32_MAX };
    const char *needles[] = {
        "general.alignment is 0", "general.alignment is 48",
        "general.alignment is 3", "general.alignment is 2097152",
        "general.alignment is 4294967295",
    };
    for (size_t i = 0; i < 5; i++) {
        put_header(&b, 3, 1, 1);
        put_kv_u32(&b, "general.alignment", bad[i]);
        put_info(&b, &t);
        pad_to(&b, 32);
        for (int k = 0; k < 16; k++)
            put_u8(&b, 0);
        expect_error(fx, &b, needles[i]);
    }

    put_header(&b, 3, 0, 1);
    put_str(&b, "general.alignment");
    put_u32(&b, KV_U64);
    put_u64(&b, 32);
    expect_error(fx, &b, "'general.alignment' has type u64, expected u32");
}

/* ---- bad tensor infos ---- */

static void gguf_too_many_dims(void **state)
{
    const tspec t = { "w", 5, { 1, 1, 1, 1, 1 }, T_F32, 0 };
    expect_tensor_error(*state, &t, 1, 32, "tensor 'w' has n_dims 5");
}

static void gguf_dimension_overflow(void **state)
{
    const tspec big = { "w", 2, { 1ull << 32, 1ull << 32 }, T_F32, 0 };
    expect_tensor_error(*state, &big, 1, 32, "element count above the int64 range");

    const tspec negative = { "n", 1, { UINT64_MAX }, T_F32, 0 };
    expect_tensor_error(*state, &negative, 1, 32, "ne[0] = 18446744073709551615");

    const tspec bytes = { "b", 2, { 1ull << 31, 1ull << 31 }, T_F64, 0 };
    expect_tensor_error(*state, &bytes, 1, 32, "byte size above 2^64");
}

static void gguf_unknown_type_id(void **state)
{
    const tspec unknown = { "w", 1, { 4 }, 99, 0 };
    expect_tensor_error(*state, &unknown, 1, 32, "unknown type id 99");

    const tspec past_table = { "w", 1, { 4 }, 42, 0 };
    expect_tensor_error(*state, &past_table, 1, 32, "unknown type id 42");
}

static void gguf_removed_type_id(void **state)
{
    const tspec q4_2 = { "w", 1, { 32 }, 4, 0 };
    expect_tensor_error(*state, &q4_2, 1, 64, "type id 4 (Q4_2), which ggml removed");

    const tspec repacked = { "w", 1, { 32 }, 31, 0 };
    expect_tensor_error(*state, &repacked, 1, 64, "type id 31 (Q4_0_4_4)");

    const tspec iq4 = { "w", 1, { 32 }, 38, 0 };
    expect_tensor_error(*state, &iq4, 1, 64, "(IQ4_NL_8_8)");
}

static void gguf_partial_block_row(void **state)
{
    const tspec t = { "w", 2, { 48, 2 }, T_Q8_0, 0 };
    expect_tensor_error(*state, &t, 1, 256,
                        "rows of ne[0] = 48 elements, not a whole number of "
                        "32-element blocks");
}

static void gguf_unaligned_offset(void **state)
{
    const tspec t = { "w", 1, { 4 }, T_F32, 4 };
    expect_tensor_error(*state, &t, 1, 64, "offset 4, not a multiple of the alignment 32");
}

static void gguf_overlapping_tensors(void **state)
{
    const tspec t[] = {
        { "a", 1, { 16 }, T_F32, 0 },
        { "b", 1, { 8 }, T_F32, 32 },
    };
    expect_tensor_error(*state, t, 2, 64, "tensor 'b' (bytes 32-64 of the data section) "
                        "overlaps tensor 'a' (bytes 0-64)");

    const tspec same[] = {
        { "a", 1, { 4 }, T_F32, 0 },
        { "b", 1, { 4 }, T_F32, 0 },
    };
    expect_tensor_error(*state, same, 2, 32, "overlaps tensor 'a'");
}

static void gguf_data_past_end(void **state)
{
    const tspec t = { "w", 1, { 16 }, T_F32, 0 };
    expect_tensor_error(*state, &t, 1, 63, "tensor 'w' (64 bytes at offset 0) ends "
                        "past the 63-byte data section");

    const tspec far = { "w", 1, { 1 }, T_F32, 1ull << 62 };
    expect_tensor_error(*state, &far, 1, 32, "at offset 4611686018427387904");

    /* The infos end, but the file stops before the padding. */
    const fixture *fx = *state;
    gbuf b = { 0 };
    put_header(&b, 3, 1, 0);
    put_info(&b, &t);
    expect_error(fx, &b, "data section would start at byte 64");
}

static void gguf_duplicate_tensor_name(void **state)
{
    const tspec t[] = {
        { "w", 1, { 4 }, T_F32, 0 },
        { "w", 1, { 4 }, T_F32, 32 },
    };
    expect_tensor_error(*state, t, 2, 64, "tensor name 'w' appears twice");
}

static void gguf_bad_tensor_name(void **state)
{
    const tspec empty = { "", 1, { 4 }, T_F32, 0 };
    expect_tensor_error(*state, &empty, 1, 32, "tensor 0 has an empty name");

    const fixture *fx = *state;
    gbuf b = { 0 };
    put_header(&b, 3, 1, 0);
    put_u64(&b, 3);
    put(&b, "a\0b", 3);
    put_u32(&b, 1);
    put_u64(&b, 4);
    put_u32(&b, T_F32);
    put_u64(&b, 0);
    pad_to(&b, 32);
    for (int i = 0; i < 16; i++)
        put_u8(&b, 0);
    expect_error(fx, &b, "contains a NUL byte");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(gguf_f32_values_and_shape, setup, teardown),
        cmocka_unit_test_setup_teardown(gguf_version_2_opens, setup, teardown),
        cmocka_unit_test_setup_teardown(gguf_every_kv_type, setup, teardown),
        cmocka_unit_test_setup_teardown(gguf_q8_0_tensor, setup, teardown),
        cmocka_unit_test_setup_teardown(gguf_element_types, setup, teardown),
        cmocka_unit_test_setup_teardown(gguf_sorted_by_offset, setup, teardown),
        cmocka_unit_test_setup_teardown(gguf_custom_alignment, setup, teardown),
        cmocka_unit_test_setup_teardown(gguf_zero_dimension_is_empty, setup, teardown),
        cmocka_unit_test_setup_teardown(gguf_vocabulary_only, setup, teardown),
        cmocka_unit_test_setup_teardown(gguf_split_opens_every_shard, setup, teardown),
        cmocka_unit_test_setup_teardown(gguf_split_missing_shard, setup, teardown),
        cmocka_unit_test_setup_teardown(gguf_split_wrong_number, setup, teardown),
        cmocka_unit_test_setup_teardown(gguf_split_duplicate_tensor, setup, teardown),
        cmocka_unit_test_setup_teardown(gguf_restore_identical, setup, teardown),
        cmocka_unit_test_setup_teardown(gguf_restore_split_identical, setup, teardown),
        cmocka_unit_test_setup_teardown(gguf_truncated_and_corrupted, setup, teardown),
        cmocka_unit_test_setup_teardown(gguf_wrong_magic, setup, teardown),
        cmocka_unit_test_setup_teardown(gguf_unknown_versions, setup, teardown),
        cmocka_unit_test_setup_teardown(gguf_big_endian, setup, teardown),
        cmocka_unit_test_setup_teardown(gguf_count_overflow, setup, teardown),
        cmocka_unit_test_setup_teardown(gguf_truncated_header, setup, teardown),
        cmocka_unit_test_setup_teardown(gguf_string_length_exabytes, setup, teardown),
        cmocka_unit_test_setup_teardown(gguf_array_length_exabytes, setup, teardown),
        cmocka_unit_test_setup_teardown(gguf_unknown_value_type, setup, teardown),
        cmocka_unit_test_setup_teardown(gguf_nested_arrays_too_deep, setup, teardown),
        cmocka_unit_test_setup_teardown(gguf_nesting_limit_accepted, setup, teardown),
        cmocka_unit_test_setup_teardown(gguf_duplicate_key, setup, teardown),
        cmocka_unit_test_setup_teardown(gguf_bad_alignment, setup, teardown),
        cmocka_unit_test_setup_teardown(gguf_too_many_dims, setup, teardown),
        cmocka_unit_test_setup_teardown(gguf_dimension_overflow, setup, teardown),
        cmocka_unit_test_setup_teardown(gguf_unknown_type_id, setup, teardown),
        cmocka_unit_test_setup_teardown(gguf_removed_type_id, setup, teardown),
        cmocka_unit_test_setup_teardown(gguf_partial_block_row, setup, teardown),
        cmocka_unit_test_setup_teardown(gguf_unaligned_offset, setup, teardown),
        cmocka_unit_test_setup_teardown(gguf_overlapping_tensors, setup, teardown),
        cmocka_unit_test_setup_teardown(gguf_data_past_end, setup, teardown),
        cmocka_unit_test_setup_teardown(gguf_duplicate_tensor_name, setup, teardown),
        cmocka_unit_test_setup_teardown(gguf_bad_tensor_name, setup, teardown),
    };
    return cmocka_run_group_tests_name("gguf", tests, NULL, NULL);
}
