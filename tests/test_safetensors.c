/* Tests of the safetensors reader and el_model_open: valid single files,
 * sharded models, folders, and one test per kind of malformed input. Every
 * file is written to a fresh temporary folder that teardown removes. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../core/model.h"
#include "../core/safetensors.h"
#include "testutil.h"
#include "testdir.h"

/* The fixture (setup, teardown, path_in) comes from testdir.h. */

static void write_bytes(const char *path, const void *bytes, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    if (len > 0)
        assert_int_equal(fwrite(bytes, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

/* Writes a safetensors file whose length field is header_len, followed by
 * the header text and data_len bytes of data (byte i is i mod 251). */
static void write_raw(const char *path, uint64_t header_len, const char *header,
                      size_t data_len)
{
    const size_t text_len = strlen(header);
    const size_t total = 8 + text_len + data_len;
    uint8_t *buf = malloc(total);
    assert_non_null(buf);

    for (int i = 0; i < 8; i++)
        buf[i] = (uint8_t)(header_len >> (8 * i));
    memcpy(buf + 8, header, text_len);
    for (size_t i = 0; i < data_len; i++)
        buf[8 + text_len + i] = (uint8_t)(i % 251);

    write_bytes(path, buf, total);
    free(buf);
}

static void write_st(const char *path, const char *header, size_t data_len)
{
    write_raw(path, strlen(header), header, data_len);
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

/* Writes header + data_len bytes as bad.safetensors and expects failure. */
static void expect_header_error(const fixture *fx, const char *header,
                                size_t data_len, const char *needle)
{
    const char *path = path_in(fx, "bad.safetensors");
    write_st(path, header, data_len);
    expect_open_error(path, needle);
}

static void open_ok(const char *path, el_model *m)
{
    el_error err = { { 0 } };
    if (el_model_open(path, m, &err) != 0)
        fail_msg("el_model_open(%s) failed: %s", path, err.msg);
}

/* ---- valid files ---- */

static const char all_dtypes_header[] =
    "{\"__metadata__\":{\"format\":\"pt\",\"note\":\"caf\xc3\xa9\"},"
    "\"f64\":{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[0,16]},"
    "\"f32\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[16,32]},"
    "\"f16\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[32,36]},"
    "\"bf16\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[36,40]},"
    "\"e4m3\":{\"dtype\":\"F8_E4M3\",\"shape\":[2],\"data_offsets\":[40,42]},"
    "\"e5m2\":{\"dtype\":\"F8_E5M2\",\"shape\":[2],\"data_offsets\":[42,44]},"
    "\"i64\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[44,52]},"
    "\"i32\":{\"dtype\":\"I32\",\"shape\":[1],\"data_offsets\":[52,56]},"
    "\"i16\":{\"dtype\":\"I16\",\"shape\":[1],\"data_offsets\":[56,58]},"
    "\"i8\":{\"dtype\":\"I8\",\"shape\":[2],\"data_offsets\":[58,60]},"
    "\"u64\":{\"dtype\":\"U64\",\"shape\":[1],\"data_offsets\":[60,68]},"
    "\"u32\":{\"dtype\":\"U32\",\"shape\":[1],\"data_offsets\":[68,72]},"
    "\"u16\":{\"dtype\":\"U16\",\"shape\":[1],\"data_offsets\":[72,74]},"
    "\"u8\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[74,75]},"
    "\"flag\":{\"dtype\":\"BOOL\",\"shape\":[1],\"data_offsets\":[75,76]},"
    "\"scalar\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[76,80]},"
    "\"empty\":{\"dtype\":\"F32\",\"shape\":[3,0],\"data_offsets\":[80,80]}}";

static void open_all_dtypes(void **state)
{
    const fixture *fx = *state;
    const char *path = path_in(fx, "all.safetensors");
    write_st(path, all_dtypes_header, 80);

    el_model m;
    open_ok(path, &m);

    static const char *names[] = {
        "f64", "f32", "f16", "bf16", "e4m3", "e5m2", "i64", "i32", "i16", "i8",
        "u64", "u32", "u16", "u8", "flag", "scalar", "empty",
    };
    static const el_dtype dtypes[] = {
        EL_F64, EL_F32, EL_F16, EL_BF16, EL_F8_E4M3, EL_F8_E5M2, EL_I64, EL_I32,
        EL_I16, EL_I8, EL_U64, EL_U32, EL_U16, EL_U8, EL_BOOL, EL_F32, EL_F32,
    };
    assert_int_equal(m.n_tensors, 17);
    assert_int_equal(m.n_files, 1);
    assert_string_equal(m.format, "safetensors");
    assert_null(m.index_json);

    const uint64_t data_start = m.files[0].data_start;
    assert_int_equal(data_start, 8 + strlen(all_dtypes_header));
    for (size_t i = 0; i < m.n_tensors; i++) {
        const el_tensor *t = &m.tensors[i];
        assert_string_equal(t->name, names[i]);
        assert_int_equal(t->dtype, dtypes[i]);
        assert_int_equal(t->file, 0);
        assert_ptr_equal(t->data, m.files[0].map + t->offset);
    }

    const el_tensor *f32 = &m.tensors[1];
    assert_int_equal(f32->ndim, 2);
    assert_int_equal(f32->shape[0], 2);
    assert_int_equal(f32->count, 4);
    assert_int_equal(f32->nbytes, 16);
    assert_int_equal(f32->offset, data_start + 16);
    assert_int_equal(f32->data[0], 16 % 251);

    const el_tensor *scalar = &m.tensors[15];
    assert_int_equal(scalar->ndim, 0);
    assert_int_equal(scalar->count, 1);
    assert_int_equal(scalar->nbytes, 4);

    const el_tensor *empty = &m.tensors[16];
    assert_int_equal(empty->ndim, 2);
    assert_int_equal(empty->count, 0);
    assert_int_equal(empty->nbytes, 0);

    assert_non_null(m.files[0].metadata_json);
    assert_non_null(strstr(m.files[0].metadata_json, "\"format\":\"pt\""));
    assert_non_null(strstr(m.files[0].metadata_json, "caf\xc3\xa9"));

    assert_int_equal(el_model_tensor_bytes(&m), 80);
    assert_int_equal(el_model_parameters(&m), 2 + 4 + 2 + 2 + 2 + 2 + 1 + 1 + 1
                     + 2 + 1 + 1 + 1 + 1 + 1 + 1 + 0);
    assert_int_equal(el_model_find(&m, "u8"), 13);
    assert_int_equal(el_model_find(&m, "missing"), -1);
    el_model_close(&m);
}

static void open_offset_order(void **state)
{
    const fixture *fx = *state;
    const char *path = path_in(fx, "order.safetensors");
    /* Listed out of offset order; two empty tensors share offset 4. */
    write_st(path,
             "{\"b\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[4,8]},"
             "\"z\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[4,4]},"
             "\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]},"
             "\"y\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[4,4]}}   ",
             8);

    el_model m;
    open_ok(path, &m);
    assert_int_equal(m.n_tensors, 4);
    assert_string_equal(m.tensors[0].name, "a");
    assert_string_equal(m.tensors[1].name, "b");
    assert_string_equal(m.tensors[2].name, "z");
    assert_string_equal(m.tensors[3].name, "y");
    el_model_close(&m);
}

static void open_empty_header_object(void **state)
{
    const fixture *fx = *state;
    const char *path = path_in(fx, "none.safetensors");
    write_st(path, "{}", 0);

    el_model m;
    open_ok(path, &m);
    assert_int_equal(m.n_tensors, 0);
    assert_null(m.files[0].metadata_json);
    el_model_close(&m);
}

static void open_empty_tensor_in_middle(void **state)
{
    const fixture *fx = *state;
    write_st(path_in(fx, "mid.safetensors"),
             "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
             "\"e\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[3,3]}}", 8);

    el_model m;
    open_ok(path_in(fx, "mid.safetensors"), &m);
    assert_int_equal(m.n_tensors, 2);
    assert_string_equal(m.tensors[1].name, "e");
    el_model_close(&m);
}

static void shape_format_cases(void **state)
{
    (void)state;
    el_tensor t = { .ndim = 2, .shape = { 64, 512 } };
    char buf[64];

    el_shape_format(&t, buf, sizeof buf);
    assert_string_equal(buf, "[64, 512]");

    t.ndim = 0;
    el_shape_format(&t, buf, sizeof buf);
    assert_string_equal(buf, "[]");

    t.ndim = 2;
    el_shape_format(&t, buf, 6);
    assert_string_equal(buf, "[64, ");
}

static void close_zeroed_model(void **state)
{
    (void)state;
    el_model m;
    memset(&m, 0, sizeof m);
    el_model_close(&m);
    el_model_close(&m);
}

/* ---- sharded models and folders ---- */

static const char shard1[] =
    "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
    "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}";
static const char shard2[] =
    "{\"c\":{\"dtype\":\"BF16\",\"shape\":[3],\"data_offsets\":[0,6]}}";
static const char good_index[] =
    "{\"metadata\":{\"total_size\":18},\"weight_map\":{"
    "\"c\":\"model-00002-of-00002.safetensors\","
    "\"a\":\"model-00001-of-00002.safetensors\","
    "\"b\":\"model-00001-of-00002.safetensors\"}}";

static void write_shards(const fixture *fx, const char *index)
{
    write_st(path_in(fx, "model-00001-of-00002.safetensors"), shard1, 12);
    write_st(path_in(fx, "model-00002-of-00002.safetensors"), shard2, 6);
    write_bytes(path_in(fx, "model.safetensors.index.json"), index, strlen(index));
}

static void check_sharded(const el_model *m)
{
    assert_int_equal(m->n_files, 2);
    assert_string_equal(m->files[0].name, "model-00001-of-00002.safetensors");
    assert_string_equal(m->files[1].name, "model-00002-of-00002.safetensors");
    assert_int_equal(m->n_tensors, 3);
    assert_string_equal(m->tensors[0].name, "a");
    assert_string_equal(m->tensors[1].name, "b");
    assert_string_equal(m->tensors[2].name, "c");
    assert_int_equal(m->tensors[2].file, 1);
    assert_int_equal(m->tensors[2].dtype, EL_BF16);

    assert_string_equal(m->index_name, "model.safetensors.index.json");
    assert_int_equal(m->index_json_len, strlen(good_index));
    assert_memory_equal(m->index_json, good_index, strlen(good_index));
}

static void open_sharded_index(void **state)
{
    const fixture *fx = *state;
    write_shards(fx, good_index);

    el_model m;
    open_ok(path_in(fx, "model.safetensors.index.json"), &m);
    check_sharded(&m);
    el_model_close(&m);
}

static void open_sharded_folder(void **state)
{
    const fixture *fx = *state;
    write_shards(fx, good_index);

    el_model m;
    open_ok(fx->dir, &m);
    check_sharded(&m);
    assert_string_equal(m.path, fx->dir);
    el_model_close(&m);
}

static void open_folder_single(void **state)
{
    const fixture *fx = *state;
    write_st(path_in(fx, "only.safetensors"), shard2, 6);
    write_bytes(path_in(fx, "config.json"), "{}", 2);

    el_model m;
    open_ok(fx->dir, &m);
    assert_int_equal(m.n_tensors, 1);
    assert_string_equal(m.files[0].name, "only.safetensors");
    assert_null(m.index_json);
    el_model_close(&m);
}

static void folder_two_files(void **state)
{
    const fixture *fx = *state;
    write_st(path_in(fx, "one.safetensors"), shard2, 6);
    write_st(path_in(fx, "two.safetensors"), shard2, 6);
    expect_open_error(fx->dir, "one.safetensors");
    expect_open_error(fx->dir, "two.safetensors");
}

static void folder_empty(void **state)
{
    const fixture *fx = *state;
    expect_open_error(fx->dir, "no .safetensors file");
}

static void path_missing(void **state)
{
    const fixture *fx = *state;
    expect_open_error(path_in(fx, "absent.safetensors"), "absent.safetensors");
}

static void index_shard_parent(void **state)
{
    const fixture *fx = *state;
    write_shards(fx, "{\"weight_map\":{\"a\":\"../model-00001-of-00002.safetensors\"}}");
    expect_open_error(path_in(fx, "model.safetensors.index.json"),
                      "'../model-00001-of-00002.safetensors', which is not a "
                      "plain file name");
}

static void index_shard_absolute(void **state)
{
    const fixture *fx = *state;
    write_shards(fx, "{\"weight_map\":{\"a\":\"/etc/passwd\"}}");
    expect_open_error(path_in(fx, "model.safetensors.index.json"),
                      "'/etc/passwd', which is not a plain file name");
}

static void index_shard_subfolder(void **state)
{
    const fixture *fx = *state;
    write_shards(fx, "{\"weight_map\":{\"a\":\"sub/x.safetensors\"}}");
    expect_open_error(path_in(fx, "model.safetensors.index.json"),
                      "'sub/x.safetensors', which is not a plain file name");
}

static void index_shard_dotdot(void **state)
{
    const fixture *fx = *state;
    write_shards(fx, "{\"weight_map\":{\"a\":\"..\"}}");
    expect_open_error(path_in(fx, "model.safetensors.index.json"),
                      "'..', which is not a plain file name");
}

static void index_entry_missing(void **state)
{
    const fixture *fx = *state;
    write_shards(fx, "{\"weight_map\":{"
                 "\"a\":\"model-00001-of-00002.safetensors\","
                 "\"b\":\"model-00001-of-00002.safetensors\","
                 "\"c\":\"model-00002-of-00002.safetensors\","
                 "\"ghost\":\"model-00002-of-00002.safetensors\"}}");
    expect_open_error(path_in(fx, "model.safetensors.index.json"), "'ghost'");
}

static void index_tensor_unlisted(void **state)
{
    const fixture *fx = *state;
    write_shards(fx, "{\"weight_map\":{"
                 "\"a\":\"model-00001-of-00002.safetensors\","
                 "\"c\":\"model-00002-of-00002.safetensors\"}}");
    expect_open_error(path_in(fx, "model.safetensors.index.json"),
                      "tensor 'b' of shard");
}

static void index_wrong_shard(void **state)
{
    const fixture *fx = *state;
    write_shards(fx, "{\"weight_map\":{"
                 "\"a\":\"model-00001-of-00002.safetensors\","
                 "\"b\":\"model-00002-of-00002.safetensors\","
                 "\"c\":\"model-00002-of-00002.safetensors\"}}");
    expect_open_error(path_in(fx, "model.safetensors.index.json"), "tensor 'b'");
}

static void index_shard_absent(void **state)
{
    const fixture *fx = *state;
    write_shards(fx, "{\"weight_map\":{\"a\":\"model-00009.safetensors\"}}");
    expect_open_error(path_in(fx, "model.safetensors.index.json"),
                      "model-00009.safetensors");
}

static void index_no_weight_map(void **state)
{
    const fixture *fx = *state;
    write_shards(fx, "{\"metadata\":{}}");
    expect_open_error(path_in(fx, "model.safetensors.index.json"), "weight_map");
}

static void index_value_not_string(void **state)
{
    const fixture *fx = *state;
    write_shards(fx, "{\"weight_map\":{\"a\":3}}");
    expect_open_error(path_in(fx, "model.safetensors.index.json"), "'a'");
}

static void index_duplicate_tensor(void **state)
{
    const fixture *fx = *state;
    write_shards(fx, "{\"weight_map\":{"
                 "\"a\":\"model-00001-of-00002.safetensors\","
                 "\"a\":\"model-00001-of-00002.safetensors\"}}");
    expect_open_error(path_in(fx, "model.safetensors.index.json"), "'a' twice");
}

static void index_shard_broken(void **state)
{
    const fixture *fx = *state;
    write_shards(fx, good_index);
    write_st(path_in(fx, "model-00002-of-00002.safetensors"), shard2, 5);
    expect_open_error(path_in(fx, "model.safetensors.index.json"),
                      "model-00002-of-00002.safetensors: tensor 'c'");
}

static void index_not_json(void **state)
{
    const fixture *fx = *state;
    write_shards(fx, "{\"weight_map\":");
    expect_open_error(path_in(fx, "model.safetensors.index.json"), "not valid JSON");
}

/* ---- malformed single files ---- */

static void file_empty(void **state)
{
    const fixture *fx = *state;
    const char *path = path_in(fx, "zero.safetensors");
    write_bytes(path, "", 0);
    expect_open_error(path, "too short");
}

static void file_too_short(void **state)
{
    const fixture *fx = *state;
    const char *path = path_in(fx, "short.safetensors");
    write_bytes(path, "\x10\0\0\0\0", 5);
    expect_open_error(path, "too short");
}

static void header_length_zero(void **state)
{
    const fixture *fx = *state;
    const char *path = path_in(fx, "bad.safetensors");
    write_raw(path, 0, "{}", 0);
    expect_open_error(path, "header length is 0");
}

static void header_length_huge(void **state)
{
    const fixture *fx = *state;
    const char *path = path_in(fx, "bad.safetensors");
    write_raw(path, 1ull << 63, "{}", 0);
    expect_open_error(path, "9223372036854775808");
    expect_open_error(path, "limit");
}

static void header_past_end(void **state)
{
    const fixture *fx = *state;
    const char *path = path_in(fx, "bad.safetensors");
    write_raw(path, 200, "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],", 0);
    expect_open_error(path, "header length 200 is past the end");
}

static void data_truncated(void **state)
{
    const fixture *fx = *state;
    expect_header_error(fx,
        "{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 10,
        "tensor 'w': data_offsets end 16 is past the data area of 10 bytes");
}

static void header_not_json(void **state)
{
    const fixture *fx = *state;
    expect_header_error(fx, "{\"w\":{\"dtype\":", 0, "not valid JSON");
}

static void header_not_object(void **state)
{
    const fixture *fx = *state;
    expect_header_error(fx, "[1, 2]", 0, "not an object");
}

static void header_trailing_junk(void **state)
{
    const fixture *fx = *state;
    expect_header_error(fx, "{} x", 0, "after its JSON object");
}

static void header_not_utf8(void **state)
{
    const fixture *fx = *state;
    expect_header_error(fx,
        "{\"w\xff\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1,
        "not valid UTF-8");
}

static void header_overlong_utf8(void **state)
{
    const fixture *fx = *state;
    /* 0xC0 0xAF is an overlong encoding of '/'. */
    expect_header_error(fx,
        "{\"w\xc0\xaf\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1,
        "byte 11 (0xc0) is not valid UTF-8");
}

static void header_surrogate_utf8(void **state)
{
    const fixture *fx = *state;
    expect_header_error(fx,
        "{\"w\xed\xa0\x80\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}",
        1, "not valid UTF-8");
}

static void header_control_byte(void **state)
{
    const fixture *fx = *state;
    expect_header_error(fx,
        "{\"w\x01\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1,
        "control character 0x01");
}

static void entry_not_object(void **state)
{
    const fixture *fx = *state;
    expect_header_error(fx, "{\"w\":[1]}", 0, "tensor 'w': entry is not a JSON object");
}

static void dtype_missing(void **state)
{
    const fixture *fx = *state;
    expect_header_error(fx, "{\"w\":{\"shape\":[1],\"data_offsets\":[0,1]}}", 1,
                        "tensor 'w': field 'dtype' is missing");
}

static void dtype_not_string(void **state)
{
    const fixture *fx = *state;
    expect_header_error(fx,
        "{\"w\":{\"dtype\":4,\"shape\":[1],\"data_offsets\":[0,1]}}", 1,
        "tensor 'w': field 'dtype' is not a string");
}

static void dtype_unknown(void **state)
{
    const fixture *fx = *state;
    expect_header_error(fx,
        "{\"w\":{\"dtype\":\"F128\",\"shape\":[1],\"data_offsets\":[0,16]}}", 16,
        "tensor 'w': dtype 'F128' is not supported");
}

static void dtype_twice(void **state)
{
    const fixture *fx = *state;
    expect_header_error(fx,
        "{\"w\":{\"dtype\":\"U8\",\"dtype\":\"F32\",\"shape\":[1],"
        "\"data_offsets\":[0,1]}}", 1, "field 'dtype' appears twice");
}

static void shape_missing(void **state)
{
    const fixture *fx = *state;
    expect_header_error(fx, "{\"w\":{\"dtype\":\"U8\",\"data_offsets\":[0,1]}}", 1,
                        "tensor 'w': field 'shape' is missing");
}

static void shape_not_array(void **state)
{
    const fixture *fx = *state;
    expect_header_error(fx,
        "{\"w\":{\"dtype\":\"U8\",\"shape\":1,\"data_offsets\":[0,1]}}", 1,
        "tensor 'w': field 'shape' is not an array");
}

static void shape_negative(void **state)
{
    const fixture *fx = *state;
    expect_header_error(fx,
        "{\"w\":{\"dtype\":\"U8\",\"shape\":[-1],\"data_offsets\":[0,1]}}", 1,
        "tensor 'w': shape contains -1");
}

static void shape_fraction(void **state)
{
    const fixture *fx = *state;
    expect_header_error(fx,
        "{\"w\":{\"dtype\":\"U8\",\"shape\":[1.5],\"data_offsets\":[0,1]}}", 1,
        "tensor 'w': shape contains 1.5");
}

static void shape_beyond_2_53(void **state)
{
    const fixture *fx = *state;
    expect_header_error(fx,
        "{\"w\":{\"dtype\":\"U8\",\"shape\":[9007199254740993,0],"
        "\"data_offsets\":[0,0]}}", 0, "tensor 'w': shape contains 9007199254740992");
}

static void shape_not_number(void **state)
{
    const fixture *fx = *state;
    expect_header_error(fx,
        "{\"w\":{\"dtype\":\"U8\",\"shape\":[\"1\"],\"data_offsets\":[0,1]}}", 1,
        "tensor 'w': shape contains a non-number");
}

static void shape_too_many_dims(void **state)
{
    const fixture *fx = *state;
    expect_header_error(fx,
        "{\"w\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1],"
        "\"data_offsets\":[0,1]}}", 1, "tensor 'w': shape has 17 dimensions");
}

static void shape_product_overflow(void **state)
{
    const fixture *fx = *state;
    expect_header_error(fx,
        "{\"w\":{\"dtype\":\"U8\",\"shape\":[4294967296,4294967296,2],"
        "\"data_offsets\":[0,1]}}", 1,
        "tensor 'w': the product of shape overflows");
}

static void shape_bytes_overflow(void **state)
{
    const fixture *fx = *state;
    expect_header_error(fx,
        "{\"w\":{\"dtype\":\"F64\",\"shape\":[2147483648,2147483648,2],"
        "\"data_offsets\":[0,1]}}", 1,
        "tensor 'w': shape times the 8-byte F64 element overflows");
}

static void shape_size_mismatch(void **state)
{
    const fixture *fx = *state;
    expect_header_error(fx,
        "{\"w\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8,
        "tensor 'w': shape and dtype F32 give 12 bytes but data_offsets [0, 8]");
}

static void offsets_missing(void **state)
{
    const fixture *fx = *state;
    expect_header_error(fx, "{\"w\":{\"dtype\":\"U8\",\"shape\":[1]}}", 1,
                        "tensor 'w': field 'data_offsets' is missing");
}

static void offsets_wrong_length(void **state)
{
    const fixture *fx = *state;
    expect_header_error(fx,
        "{\"w\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1,2]}}", 1,
        "tensor 'w': field 'data_offsets' is not an array [begin, end]");
}

static void offsets_reversed(void **state)
{
    const fixture *fx = *state;
    expect_header_error(fx,
        "{\"w\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[1,0]}}", 1,
        "tensor 'w': data_offsets [1, 0] has begin after end");
}

static void offsets_fraction(void **state)
{
    const fixture *fx = *state;
    expect_header_error(fx,
        "{\"w\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,0.5]}}", 1,
        "tensor 'w': data_offsets contains 0.5");
}

static void offsets_overlap(void **state)
{
    const fixture *fx = *state;
    expect_header_error(fx,
        "{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]},"
        "\"b\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[2,6]}}", 6,
        "tensor 'b' (bytes 2-6) overlaps tensor 'a'");
}

static void offsets_same_range(void **state)
{
    const fixture *fx = *state;
    expect_header_error(fx,
        "{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]},"
        "\"b\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]}}", 4,
        "tensor 'b' (bytes 0-4) overlaps tensor 'a'");
}

static void offsets_gap(void **state)
{
    const fixture *fx = *state;
    expect_header_error(fx,
        "{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]},"
        "\"b\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[6,10]}}", 10,
        "bytes 4-6 unused before tensor 'b'");
}

static void offsets_gap_at_start(void **state)
{
    const fixture *fx = *state;
    expect_header_error(fx,
        "{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[2,6]}}", 6,
        "bytes 0-2 unused before tensor 'a'");
}

static void trailing_bytes(void **state)
{
    const fixture *fx = *state;
    expect_header_error(fx,
        "{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]}}", 7,
        "3 trailing bytes");
}

static void duplicate_names(void **state)
{
    const fixture *fx = *state;
    expect_header_error(fx,
        "{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]},"
        "\"b\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[4,4]},"
        "\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[4,8]}}", 8,
        "tensor 'a' is listed twice");
}

static void metadata_not_object(void **state)
{
    const fixture *fx = *state;
    expect_header_error(fx, "{\"__metadata__\":\"x\"}", 0,
                        "'__metadata__' is not a JSON object");
}

static void metadata_value_not_string(void **state)
{
    const fixture *fx = *state;
    expect_header_error(fx, "{\"__metadata__\":{\"k\":1}}", 0,
                        "__metadata__ key 'k' has a non-string value");
}

static void message_names_file(void **state)
{
    const fixture *fx = *state;
    expect_header_error(fx, "[]", 0, "bad.safetensors: ");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(open_all_dtypes, setup, teardown),
        cmocka_unit_test_setup_teardown(open_offset_order, setup, teardown),
        cmocka_unit_test_setup_teardown(open_empty_header_object, setup, teardown),
        cmocka_unit_test_setup_teardown(open_empty_tensor_in_middle, setup, teardown),
        cmocka_unit_test(shape_format_cases),
        cmocka_unit_test(close_zeroed_model),
        cmocka_unit_test_setup_teardown(open_sharded_index, setup, teardown),
        cmocka_unit_test_setup_teardown(open_sharded_folder, setup, teardown),
        cmocka_unit_test_setup_teardown(open_folder_single, setup, teardown),
        cmocka_unit_test_setup_teardown(folder_two_files, setup, teardown),
        cmocka_unit_test_setup_teardown(folder_empty, setup, teardown),
        cmocka_unit_test_setup_teardown(path_missing, setup, teardown),
        cmocka_unit_test_setup_teardown(index_shard_parent, setup, teardown),
        cmocka_unit_test_setup_teardown(index_shard_absolute, setup, teardown),
        cmocka_unit_test_setup_teardown(index_shard_subfolder, setup, teardown),
        cmocka_unit_test_setup_teardown(index_shard_dotdot, setup, teardown),
        cmocka_unit_test_setup_teardown(index_entry_missing, setup, teardown),
        cmocka_unit_test_setup_teardown(index_tensor_unlisted, setup, teardown),
        cmocka_unit_test_setup_teardown(index_wrong_shard, setup, teardown),
        cmocka_unit_test_setup_teardown(index_shard_absent, setup, teardown),
        cmocka_unit_test_setup_teardown(index_no_weight_map, setup, teardown),
        cmocka_unit_test_setup_teardown(index_value_not_string, setup, teardown),
        cmocka_unit_test_setup_teardown(index_duplicate_tensor, setup, teardown),
        cmocka_unit_test_setup_teardown(index_shard_broken, setup, teardown),
        cmocka_unit_test_setup_teardown(index_not_json, setup, teardown),
        cmocka_unit_test_setup_teardown(file_empty, setup, teardown),
        cmocka_unit_test_setup_teardown(file_too_short, setup, teardown),
        cmocka_unit_test_setup_teardown(header_length_zero, setup, teardown),
        cmocka_unit_test_setup_teardown(header_length_huge, setup, teardown),
        cmocka_unit_test_setup_teardown(header_past_end, setup, teardown),
        cmocka_unit_test_setup_teardown(data_truncated, setup, teardown),
        cmocka_unit_test_setup_teardown(header_not_json, setup, teardown),
        cmocka_unit_test_setup_teardown(header_not_object, setup, teardown),
        cmocka_unit_test_setup_teardown(header_trailing_junk, setup, teardown),
        cmocka_unit_test_setup_teardown(header_not_utf8, setup, teardown),
        cmocka_unit_test_setup_teardown(header_overlong_utf8, setup, teardown),
        cmocka_unit_test_setup_teardown(header_surrogate_utf8, setup, teardown),
        cmocka_unit_test_setup_teardown(header_control_byte, setup, teardown),
        cmocka_unit_test_setup_teardown(entry_not_object, setup, teardown),
        cmocka_unit_test_setup_teardown(dtype_missing, setup, teardown),
        cmocka_unit_test_setup_teardown(dtype_not_string, setup, teardown),
        cmocka_unit_test_setup_teardown(dtype_unknown, setup, teardown),
        cmocka_unit_test_setup_teardown(dtype_twice, setup, teardown),
        cmocka_unit_test_setup_teardown(shape_missing, setup, teardown),
        cmocka_unit_test_setup_teardown(shape_not_array, setup, teardown),
        cmocka_unit_test_setup_teardown(shape_negative, setup, teardown),
        cmocka_unit_test_setup_teardown(shape_fraction, setup, teardown),
        cmocka_unit_test_setup_teardown(shape_beyond_2_53, setup, teardown),
        cmocka_unit_test_setup_teardown(shape_not_number, setup, teardown),
        cmocka_unit_test_setup_teardown(shape_too_many_dims, setup, teardown),
        cmocka_unit_test_setup_teardown(shape_product_overflow, setup, teardown),
        cmocka_unit_test_setup_teardown(shape_bytes_overflow, setup, teardown),
        cmocka_unit_test_setup_teardown(shape_size_mismatch, setup, teardown),
        cmocka_unit_test_setup_teardown(offsets_missing, setup, teardown),
        cmocka_unit_test_setup_teardown(offsets_wrong_length, setup, teardown),
        cmocka_unit_test_setup_teardown(offsets_reversed, setup, teardown),
        cmocka_unit_test_setup_teardown(offsets_fraction, setup, teardown),
        cmocka_unit_test_setup_teardown(offsets_overlap, setup, teardown),
        cmocka_unit_test_setup_teardown(offsets_same_range, setup, teardown),
        cmocka_unit_test_setup_teardown(offsets_gap, setup, teardown),
        cmocka_unit_test_setup_teardown(offsets_gap_at_start, setup, teardown),
        cmocka_unit_test_setup_teardown(trailing_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(duplicate_names, setup, teardown),
        cmocka_unit_test_setup_teardown(metadata_not_object, setup, teardown),
        cmocka_unit_test_setup_teardown(metadata_value_not_string, setup, teardown),
        cmocka_unit_test_setup_teardown(message_names_file, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
