/* Tests of the .npy header parser and of .npy and .npz files opened as
 * models: every supported descr, C and Fortran order, big-endian data, 0-d
 * and empty arrays, and one test per kind of bad input. Files are written to
 * a temporary folder that teardown removes; samples/fixtures/arrays.npz is a
 * real archive written by Python's zipfile with zlib-deflated members. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/inflate.h"
#include "../core/model.h"
#include "../core/npy.h"
#include "testdir.h"

/* The fixture (setup, teardown, path_in) comes from testdir.h. */

static const char *write_file(const fixture *fx, const char *name, const void *bytes,
                              size_t n)
{
    static char path[256];
    snprintf(path, sizeof path, "%s/%s", fx->dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(bytes, 1, n, f), n);
    fclose(f);
    return path;
}

/* Writes a .npy file image: magic, version, header length, the dict padded
 * with spaces and a newline to a multiple of 64 bytes, then the data. */
static size_t make_npy(uint8_t *out, int major, const char *dict, const void *data,
                       size_t n)
{
    const size_t prefix = major == 1 ? 10 : 12;
    size_t len = strlen(dict) + 1;
    len += (64 - (prefix + len) % 64) % 64;

    memcpy(out, "\x93NUMPY", 6);
    out[6] = (uint8_t)major;
    out[7] = 0;
    out[8] = (uint8_t)(len & 0xff);
    out[9] = (uint8_t)(len >> 8);
    if (major != 1) {
        out[10] = 0;
        out[11] = 0;
    }
    memset(out + prefix, ' ', len);
    memcpy(out + prefix, dict, strlen(dict));
    out[prefix + len - 1] = '\n';
    if (n > 0)
        memcpy(out + prefix + len, data, n);
    return prefix + len + n;
}

static int parse(const char *dict, const void *data, size_t n, el_npy_header *h,
                 el_error *err)
{
    static uint8_t buf[4096];
    const size_t size = make_npy(buf, 1, dict, data, n);
    return el_npy_parse(buf, size, h, err);
}

/* A minimal zip writer for .npz archives: local headers, the central
 * directory and the end record, no ZIP64. */
typedef struct npz_member {
    const char *name;
    uint16_t method;
    const uint8_t *data;    /* bytes in the archive */
    size_t data_len;
    const uint8_t *plain;   /* the member's contents */
    size_t size;
} npz_member;

static void put_le(uint8_t *out, size_t *n, uint32_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        out[(*n)++] = (uint8_t)(v >> (8 * i));
}

static void put_header(uint8_t *out, size_t *n, const npz_member *m, int central,
                       uint32_t offset)
{
    put_le(out, n, central ? 0x02014b50 : 0x04034b50, 4);
    if (central)
        put_le(out, n, 20, 2);
    put_le(out, n, 20, 2);
    put_le(out, n, 0, 2);
    put_le(out, n, m->method, 2);
    put_le(out, n, 0, 4);
    put_le(out, n, el_crc32(0, m->plain, m->size), 4);
    put_le(out, n, (uint32_t)m->data_len, 4);
    put_le(out, n, (uint32_t)m->size, 4);
    put_le(out, n, (uint32_t)strlen(m->name), 2);
    put_le(out, n, 0, 2);
    if (central) {
        put_le(out, n, 0, 2);
        put_le(out, n, 0, 2);
        put_le(out, n, 0, 2);
        put_le(out, n, 0, 4);
        put_le(out, n, offset, 4);
    }
    memcpy(out + *n, m->name, strlen(m->name));
    *n += strlen(m->name);
}

static size_t make_npz(uint8_t *out, const npz_member *members, size_t count)
{
    size_t n = 0;
    uint32_t offsets[8];
    for (size_t i = 0; i < count; i++) {
        offsets[i] = (uint32_t)n;
        put_header(out, &n, &members[i], 0, 0);
        memcpy(out + n, members[i].data, members[i].data_len);
        n += members[i].data_len;
    }
    const size_t cd = n;
    for (size_t i = 0; i < count; i++)
        put_header(out, &n, &members[i], 1, offsets[i]);
    const size_t cd_size = n - cd;

    put_le(out, &n, 0x06054b50, 4);
    put_le(out, &n, 0, 4);
    put_le(out, &n, (uint32_t)count, 2);
    put_le(out, &n, (uint32_t)count, 2);
    put_le(out, &n, (uint32_t)cd_size, 4);
    put_le(out, &n, (uint32_t)cd, 4);
    put_le(out, &n, 0, 2);
    return n;
}

/* A deflate stream of one final stored block. */
static size_t stored_deflate(uint8_t *out, const uint8_t *data, size_t n)
{
    out[0] = 0x01;
    out[1] = (uint8_t)(n & 0xff);
    out[2] = (uint8_t)(n >> 8);
    out[3] = (uint8_t)(~n & 0xff);
    out[4] = (uint8_t)((~n >> 8) & 0xff);
    memcpy(out + 5, data, n);
    return 5 + n;
}

static void npy_every_descr(void **state)
{
    static const struct {
        const char *descr;
        el_dtype dtype;
        int big_endian;
    } cases[] = {
        { "<f2", EL_F16, 0 }, { "<f4", EL_F32, 0 }, { "<f8", EL_F64, 0 },
        { "<i1", EL_I8, 0 }, { "<i2", EL_I16, 0 }, { "<i4", EL_I32, 0 },
        { "<i8", EL_I64, 0 }, { "<u1", EL_U8, 0 }, { "<u2", EL_U16, 0 },
        { "<u4", EL_U32, 0 }, { "<u8", EL_U64, 0 }, { "|b1", EL_BOOL, 0 },
        { "|u1", EL_U8, 0 }, { "|i1", EL_I8, 0 }, { ">f2", EL_F16, 1 },
        { ">f4", EL_F32, 1 }, { ">f8", EL_F64, 1 }, { ">i2", EL_I16, 1 },
        { ">i4", EL_I32, 1 }, { ">i8", EL_I64, 1 }, { ">u2", EL_U16, 1 },
        { ">u4", EL_U32, 1 }, { ">u8", EL_U64, 1 }, { ">i1", EL_I8, 0 },
    };
    const uint8_t data[3 * 8] = { 0 };

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char dict[128];
        snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, "
                 "'shape': (3,), }", cases[i].descr);
        const size_t size = el_dtype_size(cases[i].dtype);

        el_npy_header h;
        el_error err = { 0 };
        assert_int_equal(parse(dict, data, 3 * size, &h, &err), 0);
        assert_int_equal(h.dtype, cases[i].dtype);
        assert_int_equal(h.big_endian, cases[i].big_endian);
        assert_int_equal(h.ndim, 1);
        assert_int_equal(h.shape[0], 3);
        assert_int_equal(h.count, 3);
        assert_int_equal(h.nbytes, 3 * size);
        assert_int_equal(h.data_offset % 64, 0);
    }
}

static void npy_c_order_file(void **state)
{
    const fixture *fx = *state;
    const float values[6] = { 0.5f, -1.25f, 2.0f, 3.75f, -0.125f, 1e-3f };
    uint8_t buf[512];
    const size_t n = make_npy(buf, 1, "{'descr': '<f4', 'fortran_order': False, "
                              "'shape': (2, 3), }", values, sizeof values);

    el_model model;
    el_error err = { 0 };
    assert_int_equal(el_model_open(write_file(fx, "weights.npy", buf, n), &model, &err), 0);
    assert_string_equal(model.format, "npy");
    assert_int_equal(model.n_tensors, 1);

    const el_tensor *t = &model.tensors[0];
    assert_string_equal(t->name, "weights");
    assert_int_equal(t->dtype, EL_F32);
    assert_int_equal(t->ndim, 2);
    assert_int_equal(t->shape[0], 2);
    assert_int_equal(t->shape[1], 3);
    assert_int_equal(t->derived, 0);
    assert_int_equal(t->offset, n - sizeof values);
    assert_ptr_equal(t->data, model.files[0].map + n - sizeof values);
    assert_memory_equal(t->data, values, sizeof values);
    el_model_close(&model);
}

static void npy_fortran_order(void **state)
{
    const fixture *fx = *state;

    /* Element (i, j, k) of a [2, 3, 4] array is 100i + 10j + k. Fortran order
     * stores i fastest and k slowest. */
    int32_t fortran[24];
    int n_values = 0;
    for (int k = 0; k < 4; k++)
        for (int j = 0; j < 3; j++)
            for (int i = 0; i < 2; i++)
                fortran[n_values++] = 100 * i + 10 * j + k;

    uint8_t buf[512];
    const size_t n = make_npy(buf, 1, "{'descr': '<i4', 'fortran_order': True, "
                              "'shape': (2, 3, 4), }", fortran, sizeof fortran);
    el_model model;
    el_error err = { 0 };
    assert_int_equal(el_model_open(write_file(fx, "f.npy", buf, n), &model, &err), 0);

    const el_tensor *t = &model.tensors[0];
    assert_int_equal(t->derived, 1);
    assert_ptr_equal(t->data, t->owned);
    assert_int_equal(t->nbytes, sizeof fortran);
    const int32_t *c = (const int32_t *)t->data;
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 3; j++)
            for (int k = 0; k < 4; k++)
                assert_int_equal(c[(i * 3 + j) * 4 + k], 100 * i + 10 * j + k);
    el_model_close(&model);

    /* With one dimension longer than 1, both orders are the same layout. */
    const uint8_t row[5] = { 1, 2, 3, 4, 5 };
    const size_t m = make_npy(buf, 1, "{'descr': '|u1', 'fortran_order': True, "
                              "'shape': (1, 5), }", row, sizeof row);
    assert_int_equal(el_model_open(write_file(fx, "row.npy", buf, m), &model, &err), 0);
    assert_int_equal(model.tensors[0].derived, 0);
    assert_memory_equal(model.tensors[0].data, row, sizeof row);
    el_model_close(&model);
}

static void npy_big_endian(void **state)
{
    const fixture *fx = *state;
    /* 1.5f and -2.0f as big-endian float32. */
    const uint8_t be[8] = { 0x3f, 0xc0, 0x00, 0x00, 0xc0, 0x00, 0x00, 0x00 };
    uint8_t buf[512];
    size_t n = make_npy(buf, 1, "{'descr': '>f4', 'fortran_order': False, "
                        "'shape': (2,), }", be, sizeof be);

    el_model model;
    el_error err = { 0 };
    assert_int_equal(el_model_open(write_file(fx, "be.npy", buf, n), &model, &err), 0);
    const el_tensor *t = &model.tensors[0];
    assert_int_equal(t->derived, 1);
    assert_int_equal(t->dtype, EL_F32);
    float values[2];
    memcpy(values, t->data, sizeof values);
    assert_true(values[0] == 1.5f);
    assert_true(values[1] == -2.0f);
    el_model_close(&model);

    /* Big-endian int16 [[1, 2], [3, 4]] in Fortran order: 1, 3, 2, 4. */
    const uint8_t bef[8] = { 0, 1, 0, 3, 0, 2, 0, 4 };
    n = make_npy(buf, 1, "{'descr': '>i2', 'fortran_order': True, "
                 "'shape': (2, 2), }", bef, sizeof bef);
    assert_int_equal(el_model_open(write_file(fx, "bef.npy", buf, n), &model, &err), 0);
    const int16_t *c = (const int16_t *)model.tensors[0].data;
    assert_int_equal(c[0], 1);
    assert_int_equal(c[1], 2);
    assert_int_equal(c[2], 3);
    assert_int_equal(c[3], 4);
    el_model_close(&model);
}

static void npy_scalar_and_empty(void **state)
{
    const fixture *fx = *state;
    const double pi = 3.25;
    uint8_t buf[512];
    size_t n = make_npy(buf, 1, "{'descr': '<f8', 'fortran_order': False, "
                        "'shape': (), }", &pi, sizeof pi);

    el_model model;
    el_error err = { 0 };
    assert_int_equal(el_model_open(write_file(fx, "scalar.npy", buf, n), &model, &err), 0);
    assert_int_equal(model.tensors[0].ndim, 0);
    assert_int_equal(model.tensors[0].count, 1);
    assert_int_equal(model.tensors[0].nbytes, 8);
    assert_int_equal(model.tensors[0].derived, 0);
    el_model_close(&model);

    n = make_npy(buf, 1, "{'descr': '<f4', 'fortran_order': True, "
                 "'shape': (2, 0), }", NULL, 0);
    assert_int_equal(el_model_open(write_file(fx, "empty.npy", buf, n), &model, &err), 0);
    assert_int_equal(model.tensors[0].ndim, 2);
    assert_int_equal(model.tensors[0].count, 0);
    assert_int_equal(model.tensors[0].nbytes, 0);
    assert_int_equal(model.tensors[0].derived, 0);
    el_model_close(&model);
}

static void npy_versions(void **state)
{
    uint8_t data[4] = { 0 };
    uint8_t buf[512];
    el_npy_header h;
    el_error err = { 0 };
    const char *dict = "{'descr': '<i2', 'fortran_order': False, 'shape': (2,), }";

    for (int major = 1; major <= 3; major++) {
        const size_t n = make_npy(buf, major, dict, data, sizeof data);
        assert_int_equal(el_npy_parse(buf, n, &h, &err), 0);
        assert_int_equal(h.data_offset, n - sizeof data);
        assert_int_equal(h.nbytes, 4);
    }

    const size_t n = make_npy(buf, 1, dict, data, sizeof data);
    buf[6] = 4;
    assert_int_equal(el_npy_parse(buf, n, &h, &err), -1);
    assert_non_null(strstr(err.msg, "version 4.0 is not supported"));

    /* Python 2 wrote long integers with an L suffix, and dicts in any key
     * order with double quotes are still dict literals. */
    assert_int_equal(parse("{\"shape\": (2L,), \"fortran_order\": False, "
                           "\"descr\": \"<i2\"}", data, sizeof data, &h, &err), 0);
    assert_int_equal(h.shape[0], 2);
}

static void npy_object_rejected(void **state)
{
    el_npy_header h;
    el_error err = { 0 };
    const uint8_t pickle[16] = { 0x80, 0x02 };
    assert_int_equal(parse("{'descr': '|O', 'fortran_order': False, 'shape': (2,), }",
                           pickle, sizeof pickle, &h, &err), -1);
    assert_non_null(strstr(err.msg, "object arrays"));
}

static void npy_structured_rejected(void **state)
{
    el_npy_header h;
    el_error err = { 0 };
    const uint8_t data[8] = { 0 };
    assert_int_equal(parse("{'descr': [('x', '<f4'), ('y', '<f4')], "
                           "'fortran_order': False, 'shape': (1,), }",
                           data, sizeof data, &h, &err), -1);
    assert_non_null(strstr(err.msg, "structured dtypes are not supported"));
}

static void npy_unsupported_descr(void **state)
{
    static const char *const descrs[] = {
        "<c8", "|S5", "<U3", "<f16", "<M8[ns]", "=f4", "|f4", "<V2", "", "<f3",
    };
    const uint8_t data[64] = { 0 };
    for (size_t i = 0; i < sizeof descrs / sizeof descrs[0]; i++) {
        char dict[128];
        snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, "
                 "'shape': (1,), }", descrs[i]);
        el_npy_header h;
        el_error err = { 0 };
        assert_int_equal(parse(dict, data, 4, &h, &err), -1);
        assert_non_null(strstr(err.msg, "'descr' is"));
    }
}

static void npy_shape_exceeds_data(void **state)
{
    el_npy_header h;
    el_error err = { 0 };
    const uint8_t data[12] = { 0 };
    assert_int_equal(parse("{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }",
                           data, sizeof data, &h, &err), -1);
    assert_non_null(strstr(err.msg, "'shape' needs 16 bytes of data but 12 follow"));

    assert_int_equal(parse("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }",
                           data, sizeof data, &h, &err), -1);
    assert_non_null(strstr(err.msg, "12 bytes follow the header but 'shape' needs 8"));
}

static void npy_shape_overflow(void **state)
{
    el_npy_header h;
    el_error err = { 0 };
    const uint8_t data[8] = { 0 };
    assert_int_equal(parse("{'descr': '<f4', 'fortran_order': False, "
                           "'shape': (4294967296, 4294967295, 2), }",
                           data, sizeof data, &h, &err), -1);
    assert_non_null(strstr(err.msg, "overflows 64 bits at dimension 2"));

    assert_int_equal(parse("{'descr': '<f8', 'fortran_order': False, "
                           "'shape': (4611686018427387904,), }",
                           data, sizeof data, &h, &err), -1);
    assert_non_null(strstr(err.msg, "overflows 64 bits"));

    assert_int_equal(parse("{'descr': '<f8', 'fortran_order': False, "
                           "'shape': (99999999999999999999,), }",
                           data, sizeof data, &h, &err), -1);
    assert_non_null(strstr(err.msg, "does not fit in 64 bits"));

    assert_int_equal(parse("{'descr': '<f8', 'fortran_order': False, "
                           "'shape': (-1,), }", data, sizeof data, &h, &err), -1);
    assert_non_null(strstr(err.msg, "negative number"));
}

static void npy_bad_header(void **state)
{
    static const struct {
        const char *dict;
        const char *message;
    } cases[] = {
        { "{'descr': '<f4', 'shape': (1,), }", "missing the key 'fortran_order'" },
        { "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'x': 1}",
          "unknown key 'x'" },
        { "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (1,)}",
          "key 'descr' appears twice" },
        { "{'descr': '<f4', 'fortran_order': 0, 'shape': (1,)}",
          "'fortran_order' is not True or False" },
        { "{'descr': '<f4', 'fortran_order': False, 'shape': [1]}", "expected '('" },
        { "{'descr' '<f4', 'fortran_order': False, 'shape': (1,)}", "expected ':'" },
        { "{'descr': '<f4', 'fortran_order': False, 'shape': (1,)},",
          "only padding after the header dict" },
        { "{'descr': '<f4', 'fortran_order': Nope, 'shape': (1,)}", "unexpected word" },
        { "{'descr': '<f4', 'fortran_order': False, 'shape': (1,)", "',' or '}'" },
        { "{'descr': '<f\\x34', 'fortran_order': False, 'shape': (1,)}", "escape" },
        { "", "expected '{'" },
    };
    const uint8_t data[4] = { 0 };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        el_npy_header h;
        el_error err = { 0 };
        assert_int_equal(parse(cases[i].dict, data, sizeof data, &h, &err), -1);
        if (strstr(err.msg, cases[i].message) == NULL)
            fail_msg("case %zu: message '%s' lacks '%s'", i, err.msg, cases[i].message);
    }

    uint8_t buf[512];
    el_npy_header h;
    el_error err = { 0 };
    const size_t n = make_npy(buf, 1, "{'descr': '<f4', 'fortran_order': False, "
                              "'shape': (1,), }", data, sizeof data);
    assert_int_equal(el_npy_parse(buf, 9, &h, &err), -1);
    assert_non_null(strstr(err.msg, "ends inside the header length"));
    assert_int_equal(el_npy_parse(buf, 40, &h, &err), -1);
    assert_non_null(strstr(err.msg, "runs past the end"));
    buf[0] = 0x92;
    assert_int_equal(el_npy_parse(buf, n, &h, &err), -1);
    assert_non_null(strstr(err.msg, "no .npy magic"));
}

static void npz_stored_members(void **state)
{
    const fixture *fx = *state;
    const float a[4] = { 1, 2, 3, 4 };
    const int64_t b[2] = { -5, 7 };
    uint8_t npy_a[512], npy_b[512];
    const size_t na = make_npy(npy_a, 1, "{'descr': '<f4', 'fortran_order': False, "
                               "'shape': (2, 2), }", a, sizeof a);
    const size_t nb = make_npy(npy_b, 1, "{'descr': '<i8', 'fortran_order': False, "
                               "'shape': (2,), }", b, sizeof b);
    const npz_member members[2] = {
        { "a.npy", 0, npy_a, na, npy_a, na },
        { "sub/b.npy", 0, npy_b, nb, npy_b, nb },
    };
    uint8_t zip[2048];
    const size_t n = make_npz(zip, members, 2);

    el_model model;
    el_error err = { 0 };
    assert_int_equal(el_model_open(write_file(fx, "s.npz", zip, n), &model, &err), 0);
    assert_string_equal(model.format, "npz");
    assert_int_equal(model.n_tensors, 2);
    assert_string_equal(model.tensors[0].name, "a");
    assert_string_equal(model.tensors[1].name, "sub/b");
    assert_int_equal(model.tensors[0].derived, 0);
    assert_int_equal(model.tensors[1].derived, 0);
    const uint64_t data_a = 30 + 5 + na - sizeof a;
    assert_int_equal(model.tensors[0].offset, data_a);
    assert_ptr_equal(model.tensors[0].data, model.files[0].map + data_a);
    assert_memory_equal(model.tensors[0].data, a, sizeof a);
    assert_memory_equal(model.tensors[1].data, b, sizeof b);
    el_model_close(&model);
}

static void npz_deflated_member(void **state)
{
    const fixture *fx = *state;
    const double v[3] = { 0.25, -8, 1e-300 };
    uint8_t npy[512], deflated[600];
    const size_t nn = make_npy(npy, 1, "{'descr': '<f8', 'fortran_order': False, "
                               "'shape': (3,), }", v, sizeof v);
    const size_t nd = stored_deflate(deflated, npy, nn);
    const npz_member members[1] = { { "v.npy", 8, deflated, nd, npy, nn } };
    uint8_t zip[2048];
    const size_t n = make_npz(zip, members, 1);

    el_model model;
    el_error err = { 0 };
    assert_int_equal(el_model_open(write_file(fx, "d.npz", zip, n), &model, &err), 0);
    const el_tensor *t = &model.tensors[0];
    assert_string_equal(t->name, "v");
    assert_int_equal(t->derived, 1);
    assert_int_equal(t->offset, 30 + 5);
    assert_memory_equal(t->data, v, sizeof v);
    el_model_close(&model);
}

static void npz_inflates_past_shape(void **state)
{
    const fixture *fx = *state;
    uint8_t data[20] = { 0 };
    uint8_t npy[512], deflated[600], zip[2048];
    el_model model;
    el_error err = { 0 };

    /* The member has 20 bytes after its header, but the shape needs 16. */
    const size_t nn = make_npy(npy, 1, "{'descr': '<f4', 'fortran_order': False, "
                               "'shape': (4,), }", data, sizeof data);
    const size_t nd = stored_deflate(deflated, npy, nn);
    npz_member m = { "x.npy", 8, deflated, nd, npy, nn };
    size_t n = make_npz(zip, &m, 1);
    assert_int_equal(el_model_open(write_file(fx, "p.npz", zip, n), &model, &err), -1);
    assert_non_null(strstr(err.msg, "member 'x.npy': 20 bytes follow the header but "
                           "'shape' needs 16"));

    /* The deflate stream is longer than the member's declared size. */
    m.size = nn - 4;
    n = make_npz(zip, &m, 1);
    assert_int_equal(el_model_open(write_file(fx, "q.npz", zip, n), &model, &err), -1);
    assert_non_null(strstr(err.msg, "member 'x.npy': deflate stream inflates past"));
}

static void npz_object_member(void **state)
{
    const fixture *fx = *state;
    const uint8_t pickle[8] = { 0x80, 0x02, 'N', '.' };
    uint8_t npy[512], zip[2048];
    const size_t nn = make_npy(npy, 1, "{'descr': '|O', 'fortran_order': False, "
                               "'shape': (1,), }", pickle, sizeof pickle);
    const npz_member m = { "objects.npy", 0, npy, nn, npy, nn };
    const size_t n = make_npz(zip, &m, 1);

    el_model model;
    el_error err = { 0 };
    assert_int_equal(el_model_open(write_file(fx, "o.npz", zip, n), &model, &err), -1);
    assert_non_null(strstr(err.msg, "o.npz: member 'objects.npy': 'descr' is '|O'"));
}

static void npz_python_fixture(void **state)
{
    el_model model;
    el_error err = { 0 };
    assert_int_equal(el_model_open("samples/fixtures/arrays.npz", &model, &err), 0);
    assert_string_equal(model.format, "npz");
    assert_int_equal(model.n_tensors, 5);

    const long w = el_model_find(&model, "weights");
    assert_true(w >= 0);
    const float *f = (const float *)model.tensors[w].data;
    assert_int_equal(model.tensors[w].derived, 1);
    assert_true(f[0] == 0.5f && f[1] == -1.25f && f[5] == 0.001f);

    const long fo = el_model_find(&model, "fortran");
    assert_true(fo >= 0);
    const int32_t *ints = (const int32_t *)model.tensors[fo].data;
    for (int i = 0; i < 6; i++)
        assert_int_equal(ints[i], i + 1);

    const long be = el_model_find(&model, "big");
    assert_true(be >= 0);
    const double *d = (const double *)model.tensors[be].data;
    assert_true(d[0] == 1.5 && d[1] == -2.0 && d[2] == 1e100);

    const long bias = el_model_find(&model, "layer/bias");
    assert_true(bias >= 0);
    assert_int_equal(model.tensors[bias].dtype, EL_F16);
    assert_true(el_f16_to_f32(((const uint16_t *)model.tensors[bias].data)[2]) == -2.0f);

    const long s = el_model_find(&model, "stored");
    assert_true(s >= 0);
    assert_int_equal(model.tensors[s].derived, 0);
    assert_ptr_equal(model.tensors[s].data, model.files[0].map + model.tensors[s].offset);
    assert_memory_equal(model.tensors[s].data, "\x01\x02\x03\x04\x05", 5);

    /* Tensors are listed in file order. */
    for (size_t i = 1; i < model.n_tensors; i++)
        assert_true(model.tensors[i - 1].offset < model.tensors[i].offset);
    el_model_close(&model);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(npy_every_descr),
        cmocka_unit_test_setup_teardown(npy_c_order_file, setup, teardown),
        cmocka_unit_test_setup_teardown(npy_fortran_order, setup, teardown),
        cmocka_unit_test_setup_teardown(npy_big_endian, setup, teardown),
        cmocka_unit_test_setup_teardown(npy_scalar_and_empty, setup, teardown),
        cmocka_unit_test(npy_versions),
        cmocka_unit_test(npy_object_rejected),
        cmocka_unit_test(npy_structured_rejected),
        cmocka_unit_test(npy_unsupported_descr),
        cmocka_unit_test(npy_shape_exceeds_data),
        cmocka_unit_test(npy_shape_overflow),
        cmocka_unit_test(npy_bad_header),
        cmocka_unit_test_setup_teardown(npz_stored_members, setup, teardown),
        cmocka_unit_test_setup_teardown(npz_deflated_member, setup, teardown),
        cmocka_unit_test_setup_teardown(npz_inflates_past_shape, setup, teardown),
        cmocka_unit_test_setup_teardown(npz_object_member, setup, teardown),
        cmocka_unit_test(npz_python_fixture),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
