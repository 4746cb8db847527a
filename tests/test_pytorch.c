/* Tests of the PyTorch checkpoint reader through el_model_open. The
 * committed fixtures (tied weights, views of shared storages) are checked
 * value by value and through a lossless round trip. Archives assembled here
 * member by member cover big-endian and deflated records and each kind of
 * malformed or hostile checkpoint. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/container.h"
#include "../core/inflate.h"
#include "../core/model.h"
#include "../core/pytorch.h"
#include "../core/workspace.h"

#define TIED "samples/fixtures/pytorch-tied.pt"
#define VIEWS "samples/fixtures/pytorch-views.pt"

typedef struct fixture {
    char dir[64];
    char path[128];     /* the checkpoint a test writes */
} fixture;

static int setup(void **state)
{
    fixture *fx = calloc(1, sizeof *fx);
    if (fx == NULL)
        return -1;
    snprintf(fx->dir, sizeof fx->dir, "/tmp/elves-pt-XXXXXX");
    if (mkdtemp(fx->dir) == NULL) {
        free(fx);
        return -1;
    }
    snprintf(fx->path, sizeof fx->path, "%s/model.pt", fx->dir);
    *state = fx;
    return 0;
}

static int remove_entry(const char *path, const struct stat *st, int flag,
                        struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int teardown(void **state)
{
    fixture *fx = *state;
    nftw(fx->dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
    free(fx);
    return 0;
}

/* ---- a pickle builder -------------------------------------------------- */

typedef struct builder {
    uint8_t *data;
    size_t len;
    size_t cap;
} builder;

static void put_bytes(builder *b, const void *bytes, size_t n)
{
    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2 + 64;
        b->data = realloc(b->data, b->cap);
        assert_non_null(b->data);
    }
    memcpy(b->data + b->len, bytes, n);
    b->len += n;
}

/* Opcode bytes from a string literal, which may hold NUL bytes. */
#define put_lit(b, literal) put_bytes((b), (literal), sizeof(literal) - 1)

static void put_op(builder *b, uint8_t op)
{
    put_bytes(b, &op, 1);
}

static void put_le(builder *b, uint64_t v, int width)
{
    for (int i = 0; i < width; i++)
        put_op(b, (uint8_t)(v >> (8 * i)));
}

static void put_str(builder *b, const char *s)
{
    put_op(b, 'X');
    put_le(b, strlen(s), 4);
    put_bytes(b, s, strlen(s));
}

static void put_int(builder *b, int64_t v)
{
    put_op(b, 0x8a);
    put_op(b, 8);
    put_le(b, (uint64_t)v, 8);
}

static void put_global(builder *b, const char *module, const char *name)
{
    put_op(b, 'c');
    put_bytes(b, module, strlen(module));
    put_op(b, '\n');
    put_bytes(b, name, strlen(name));
    put_op(b, '\n');
}

static void put_ints(builder *b, const int64_t *values, int n)
{
    put_op(b, '(');
    for (int i = 0; i < n; i++)
        put_int(b, values[i]);
    put_op(b, 't');
}

/* A view of storage `key` (type e.g. "FloatStorage", numel elements) as
 * torch.save writes it: _rebuild_tensor_v2 with a persistent id. */
typedef struct view {
    const char *type;
    const char *key;
    int64_t numel;
    int64_t offset;
    int ndim;
    int64_t size[4];
    int64_t stride[4];
} view;

static void put_tensor(builder *b, view v)
{
    put_global(b, "torch._utils", "_rebuild_tensor_v2");
    put_op(b, '(');
    put_op(b, '(');
    put_str(b, "storage");
    put_global(b, "torch", v.type);
    put_str(b, v.key);
    put_str(b, "cpu");
    put_int(b, v.numel);
    put_op(b, 't');
    put_op(b, 'Q');
    put_int(b, v.offset);
    put_ints(b, v.size, v.ndim);
    put_ints(b, v.stride, v.ndim);
    put_op(b, 0x89);
    put_global(b, "collections", "OrderedDict");
    put_lit(b, ")RtR");
}

/* A pickled dict {name[i]: views[i]}. */
static builder state_dict(const char *const *names, const view *views, size_t n)
{
    builder b = { 0 };
    put_lit(&b, "\x80\x02}(");
    for (size_t i = 0; i < n; i++) {
        put_str(&b, names[i]);
        put_tensor(&b, views[i]);
    }
    put_lit(&b, "u.");
    return b;
}

/* ---- a zip writer ------------------------------------------------------ */

typedef struct member {
    const char *name;
    const void *data;       /* bytes as written: deflated for method 8 */
    size_t len;
    uint16_t method;
    uint64_t size;          /* declared size once inflated */
    uint32_t crc;           /* of the inflated bytes */
} member;

static member stored(const char *name, const void *data, size_t len)
{
    return (member){ name, data, len, 0, len, el_crc32(0, data, len) };
}

static void put_header(builder *z, uint32_t signature, const member *m, int central,
                       uint32_t local_offset)
{
    put_le(z, signature, 4);
    if (central)
        put_le(z, 20, 2);                   /* version made by */
    put_le(z, 20, 2);                       /* version needed */
    put_le(z, 0, 2);                        /* flags */
    put_le(z, m->method, 2);
    put_le(z, 0, 4);                        /* time and date */
    put_le(z, m->crc, 4);
    put_le(z, m->len, 4);
    put_le(z, m->size, 4);
    put_le(z, strlen(m->name), 2);
    put_le(z, 0, 2);                        /* extra length */
    if (central) {
        put_le(z, 0, 2);                    /* comment length */
        put_le(z, 0, 4);                    /* disk, internal attributes */
        put_le(z, 0, 4);                    /* external attributes */
        put_le(z, local_offset, 4);
    }
    put_bytes(z, m->name, strlen(m->name));
}

static void write_zip(const char *path, const member *members, size_t n)
{
    builder z = { 0 };
    uint32_t offsets[16];
    assert_true(n <= 16);
    for (size_t i = 0; i < n; i++) {
        offsets[i] = (uint32_t)z.len;
        put_header(&z, 0x04034b50, &members[i], 0, 0);
        put_bytes(&z, members[i].data, members[i].len);
    }

    const size_t directory = z.len;
    for (size_t i = 0; i < n; i++)
        put_header(&z, 0x02014b50, &members[i], 1, offsets[i]);
    const size_t directory_size = z.len - directory;

    put_le(&z, 0x06054b50, 4);
    put_le(&z, 0, 4);                       /* disk numbers */
    put_le(&z, n, 2);
    put_le(&z, n, 2);
    put_le(&z, directory_size, 4);
    put_le(&z, directory, 4);
    put_le(&z, 0, 2);                       /* comment length */

    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(z.data, 1, z.len, f), z.len);
    assert_int_equal(fclose(f), 0);
    free(z.data);
}

/* Writes a checkpoint "arch/data.pkl" + records "arch/data/<key>". */
static void write_checkpoint(const char *path, builder *pickle, const member *records,
                             size_t n_records)
{
    member all[16];
    all[0] = stored("arch/data.pkl", pickle->data, pickle->len);
    for (size_t i = 0; i < n_records; i++)
        all[i + 1] = records[i];
    write_zip(path, all, n_records + 1);
    free(pickle->data);
    *pickle = (builder){ 0 };
}

static el_model open_ok(const char *path)
{
    el_model m;
    el_error err = { { 0 } };
    if (el_model_open(path, &m, &err) != 0)
        fail_msg("el_model_open(%s) failed: %s", path, err.msg);
    return m;
}

static void open_fails(const char *path, const char *needle)
{
    el_model m;
    el_error err = { { 0 } };
    assert_int_equal(el_model_open(path, &m, &err), -1);
    if (strstr(err.msg, needle) == NULL)
        fail_msg("message '%s' does not contain '%s'", err.msg, needle);
}

static const el_tensor *tensor_named(const el_model *m, const char *name)
{
    const long i = el_model_find(m, name);
    if (i < 0)
        fail_msg("tensor '%s' not found", name);
    return &m->tensors[i];
}

static float float_at(const el_tensor *t, size_t i)
{
    float v;
    memcpy(&v, t->data + 4 * i, 4);
    return v;
}

static const float four_floats[] = { 1.0f, -2.0f, 0.5f, 4.0f };

/* ---- fixtures ---------------------------------------------------------- */

static void pytorch_tied_weights(void **state)
{
    el_model m = open_ok(TIED);
    assert_string_equal(m.format, "pytorch");
    assert_int_equal(m.n_tensors, 3);

    const el_tensor *embed = tensor_named(&m, "embed.weight");
    const el_tensor *head = tensor_named(&m, "lm_head.weight");
    const el_tensor *norm = tensor_named(&m, "norm.weight");
    assert_int_equal(embed->derived, 0);
    assert_ptr_equal(embed->data, m.files[0].map + embed->offset);
    assert_int_equal(embed->ndim, 2);
    assert_int_equal(embed->shape[0], 4);
    assert_int_equal(embed->shape[1], 3);
    for (size_t i = 0; i < 12; i++)
        assert_true(float_at(embed, i) == (float)i * 0.25f - 1.0f);

    assert_int_equal(head->derived, 1);
    assert_ptr_equal(head->data, head->owned);
    assert_int_equal(head->nbytes, 48);
    assert_memory_equal(head->data, embed->data, 48);

    assert_int_equal(norm->derived, 0);
    assert_true(float_at(norm, 2) == 2.0f);
    el_model_close(&m);
}

static void pytorch_views(void **state)
{
    el_model m = open_ok(VIEWS);
    assert_int_equal(m.n_tensors, 8);

    const el_tensor *full = tensor_named(&m, "full");
    assert_int_equal(full->derived, 0);
    assert_int_equal(full->dtype, EL_F32);

    const el_tensor *transposed = tensor_named(&m, "transposed");
    assert_int_equal(transposed->derived, 1);
    for (size_t i = 0; i < 4; i++)
        for (size_t j = 0; j < 3; j++)
            assert_true(float_at(transposed, i * 3 + j) == float_at(full, j * 4 + i));

    const el_tensor *row = tensor_named(&m, "row");
    for (size_t i = 0; i < 4; i++)
        assert_true(float_at(row, i) == (float)(4 + i) * 0.5f);

    const el_tensor *every_other = tensor_named(&m, "every_other");
    for (size_t i = 0; i < 6; i++)
        assert_true(float_at(every_other, i) == (float)(1 + 2 * i) * 0.5f);

    const el_tensor *expanded = tensor_named(&m, "expanded");
    assert_int_equal(expanded->count, 3);
    for (size_t i = 0; i < 3; i++)
        assert_true(float_at(expanded, i) == 1.0f);

    const el_tensor *ids = tensor_named(&m, "ids");
    const int64_t expected_ids[] = { 11, 12, 14, 15 };
    assert_int_equal(ids->dtype, EL_I64);
    assert_int_equal(ids->derived, 1);
    assert_memory_equal(ids->data, expected_ids, sizeof expected_ids);

    /* Only views use storage 1, so it gets a stored tensor of its own. */
    const el_tensor *storage = tensor_named(&m, "data/1 (storage)");
    assert_int_equal(storage->derived, 0);
    assert_int_equal(storage->dtype, EL_I64);
    assert_int_equal(storage->ndim, 1);
    assert_int_equal(storage->shape[0], 6);

    const el_tensor *scale = tensor_named(&m, "scale");
    assert_int_equal(scale->derived, 0);
    assert_int_equal(scale->ndim, 0);
    assert_int_equal(scale->count, 1);
    assert_true(float_at(scale, 0) == 3.0f);

    for (size_t i = 1; i < m.n_tensors; i++)
        assert_true(m.tensors[i - 1].offset <= m.tensors[i].offset);
    el_model_close(&m);
}

static uint8_t *read_whole(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    rewind(f);
    uint8_t *data = malloc(*len + 1);
    assert_non_null(data);
    assert_int_equal(fread(data, 1, *len, f), *len);
    fclose(f);
    return data;
}

/* Lossless export and restore give the checkpoint back byte for byte,
 * derived views included. */
static void pytorch_roundtrip_identical(void **state)
{
    fixture *fx = *state;
    const char *sources[] = { VIEWS, TIED };
    for (size_t s = 0; s < 2; s++) {
        el_workspace ws;
        el_error err = { { 0 } };
        const char *path = sources[s];
        if (el_workspace_open(&ws, &path, 1, &err) != 0
            || el_workspace_analyse(&ws, NULL, NULL, &err) != 0)
            fail_msg("cannot open %s: %s", path, err.msg);

        char out[160], restored[160];
        snprintf(out, sizeof out, "%s/out.elves", fx->dir);
        snprintf(restored, sizeof restored, "%s/restored.pt", fx->dir);
        el_export_report report;
        if (el_export(&ws, 0, out, NULL, NULL, &report, &err) != 0)
            fail_msg("export failed: %s", err.msg);
        el_export_report_free(&report);
        el_workspace_close(&ws);
        if (el_restore(out, restored, NULL, NULL, &err) != 0)
            fail_msg("restore failed: %s", err.msg);

        size_t a_len, b_len;
        uint8_t *a = read_whole(path, &a_len);
        uint8_t *b = read_whole(restored, &b_len);
        assert_int_equal(a_len, b_len);
        assert_memory_equal(a, b, a_len);
        free(a);
        free(b);
    }
}

/* ---- archives built here ----------------------------------------------- */

static void pytorch_nested_containers(void **state)
{
    fixture *fx = *state;
    const view v = { "FloatStorage", "0", 4, 0, 1, { 4 }, { 1 } };
    const view w = { "FloatStorage", "1", 4, 0, 1, { 4 }, { 1 } };
    builder b = { 0 };
    put_lit(&b, "\x80\x02}(");
    put_str(&b, "model");
    put_lit(&b, "}");
    put_str(&b, "a");
    put_tensor(&b, v);
    put_lit(&b, "s");
    put_str(&b, "epoch");
    put_int(&b, 5);
    put_str(&b, "opt");
    put_lit(&b, "]");
    put_tensor(&b, w);
    put_lit(&b, "a");
    put_int(&b, 3);                                /* an int key */
    put_tensor(&b, v);
    put_lit(&b, "G\x3f\xf0\x00\x00\x00\x00\x00\x00"); /* a float key: skipped */
    put_tensor(&b, w);
    put_lit(&b, "u.");
    const member records[] = {
        stored("arch/data/0", four_floats, 16),
        stored("arch/data/1", four_floats, 16),
    };
    write_checkpoint(fx->path, &b, records, 2);

    el_model m = open_ok(fx->path);
    assert_int_equal(m.n_tensors, 3);
    assert_int_equal(tensor_named(&m, "model.a")->derived, 0);
    assert_int_equal(tensor_named(&m, "opt.0")->derived, 0);
    assert_int_equal(tensor_named(&m, "3")->derived, 1);
    el_model_close(&m);
}

/* A transpose covers its whole storage but is not contiguous, so it is
 * derived, and the storage gets a stored tensor of its own. */
static void pytorch_transpose_only(void **state)
{
    fixture *fx = *state;
    const char *names[] = { "t" };
    const view views[] = { { "FloatStorage", "0", 4, 0, 2, { 2, 2 }, { 1, 2 } } };
    builder b = state_dict(names, views, 1);
    const member records[] = { stored("arch/data/0", four_floats, 16) };
    write_checkpoint(fx->path, &b, records, 1);

    el_model m = open_ok(fx->path);
    assert_int_equal(m.n_tensors, 2);
    const el_tensor *t = tensor_named(&m, "t");
    assert_int_equal(t->derived, 1);
    const float expected[] = { 1.0f, 0.5f, -2.0f, 4.0f };
    assert_memory_equal(t->data, expected, sizeof expected);

    const el_tensor *storage = tensor_named(&m, "data/0 (storage)");
    assert_int_equal(storage->derived, 0);
    assert_memory_equal(storage->data, four_floats, 16);
    el_model_close(&m);
}

static void pytorch_big_endian(void **state)
{
    fixture *fx = *state;
    const uint8_t floats_be[] = { 0x3f, 0x80, 0, 0, 0xc0, 0, 0, 0 };   /* 1, -2 */
    const uint8_t shorts_be[] = { 0x01, 0x02, 0xff, 0xfe };           /* 258, -2 */
    const char *names[] = { "w", "s" };
    const view views[] = {
        { "FloatStorage", "0", 2, 0, 1, { 2 }, { 1 } },
        { "ShortStorage", "1", 2, 0, 1, { 2 }, { 1 } },
    };
    builder b = state_dict(names, views, 2);
    const member records[] = {
        stored("arch/byteorder", "big", 3),
        stored("arch/data/0", floats_be, sizeof floats_be),
        stored("arch/data/1", shorts_be, sizeof shorts_be),
    };
    write_checkpoint(fx->path, &b, records, 3);

    el_model m = open_ok(fx->path);
    const el_tensor *w = tensor_named(&m, "w");
    const el_tensor *s = tensor_named(&m, "s");
    assert_int_equal(w->derived, 1);
    assert_true(float_at(w, 0) == 1.0f);
    assert_true(float_at(w, 1) == -2.0f);
    const int16_t expected[] = { 258, -2 };
    assert_int_equal(s->derived, 1);
    assert_memory_equal(s->data, expected, sizeof expected);
    el_model_close(&m);
}

static void pytorch_bad_byteorder(void **state)
{
    fixture *fx = *state;
    const char *names[] = { "w" };
    const view views[] = { { "FloatStorage", "0", 4, 0, 1, { 4 }, { 1 } } };
    builder b = state_dict(names, views, 1);
    const member records[] = {
        stored("arch/byteorder", "middle", 6),
        stored("arch/data/0", four_floats, 16),
    };
    write_checkpoint(fx->path, &b, records, 2);
    open_fails(fx->path, "record 'arch/byteorder' does not hold \"little\" or \"big\"");
}

/* A deflate stream of one stored block (BFINAL=1, BTYPE=00) holding n bytes. */
static size_t deflate_stored(uint8_t *out, const void *data, size_t n)
{
    out[0] = 0x01;
    out[1] = (uint8_t)n;
    out[2] = (uint8_t)(n >> 8);
    out[3] = (uint8_t)~n;
    out[4] = (uint8_t)(~n >> 8);
    memcpy(out + 5, data, n);
    return n + 5;
}

static void pytorch_deflated_record(void **state)
{
    fixture *fx = *state;
    uint8_t deflated[64];
    const size_t len = deflate_stored(deflated, four_floats, 16);
    const char *names[] = { "w", "tail" };
    const view views[] = {
        { "FloatStorage", "0", 4, 0, 1, { 4 }, { 1 } },
        { "FloatStorage", "0", 4, 2, 1, { 2 }, { 1 } },
    };
    builder b = state_dict(names, views, 2);
    const member records[] = {
        { "arch/data/0", deflated, len, 8, 16,
          el_crc32(0, (const uint8_t *)four_floats, 16) },
    };
    write_checkpoint(fx->path, &b, records, 1);

    el_model m = open_ok(fx->path);
    const el_tensor *w = tensor_named(&m, "w");
    const el_tensor *tail = tensor_named(&m, "tail");
    assert_int_equal(w->derived, 1);
    assert_memory_equal(w->data, four_floats, 16);
    assert_int_equal(tail->derived, 1);
    assert_memory_equal(tail->data, four_floats + 2, 8);
    el_model_close(&m);
}

/* The record claims 8 bytes, the size its storage needs, but inflates to 16. */
static void pytorch_deflate_bomb(void **state)
{
    fixture *fx = *state;
    uint8_t deflated[64];
    const size_t len = deflate_stored(deflated, four_floats, 16);
    const char *names[] = { "w" };
    const view views[] = { { "FloatStorage", "0", 2, 0, 1, { 2 }, { 1 } } };
    builder b = state_dict(names, views, 1);
    const member records[] = {
        { "arch/data/0", deflated, len, 8, 8,
          el_crc32(0, (const uint8_t *)four_floats, 8) },
    };
    write_checkpoint(fx->path, &b, records, 1);
    open_fails(fx->path, "tensor 'w'");
}

static void pytorch_missing_record(void **state)
{
    fixture *fx = *state;
    const char *names[] = { "w" };
    const view views[] = { { "FloatStorage", "5", 4, 0, 1, { 4 }, { 1 } } };
    builder b = state_dict(names, views, 1);
    const member records[] = { stored("arch/data/0", four_floats, 16) };
    write_checkpoint(fx->path, &b, records, 1);
    open_fails(fx->path, "tensor 'w' uses storage '5', but the archive has no "
                         "record 'arch/data/5'");
}

static void pytorch_record_size_mismatch(void **state)
{
    fixture *fx = *state;
    const char *names[] = { "w" };
    const view views[] = { { "FloatStorage", "0", 4, 0, 1, { 4 }, { 1 } } };
    builder b = state_dict(names, views, 1);
    const member records[] = { stored("arch/data/0", four_floats, 12) };
    write_checkpoint(fx->path, &b, records, 1);
    open_fails(fx->path, "storage '0' holds 4 elements of F32 (4 bytes each), but "
                         "record 'arch/data/0' is 12 bytes");
}

static void pytorch_view_past_storage(void **state)
{
    fixture *fx = *state;
    const char *names[] = { "w" };
    const view past[] = { { "FloatStorage", "0", 4, 2, 1, { 3 }, { 1 } } };
    builder b = state_dict(names, past, 1);
    const member records[] = { stored("arch/data/0", four_floats, 16) };
    write_checkpoint(fx->path, &b, records, 1);
    open_fails(fx->path, "tensor 'w' (storage offset 2) reaches element 4 of "
                         "storage '0', which has 4 elements");

    /* A stride whose product with the size wraps around 2^64. */
    const view wraps[] = {
        { "FloatStorage", "0", 4, 0, 1, { 4 }, { INT64_MAX } },
    };
    b = state_dict(names, wraps, 1);
    write_checkpoint(fx->path, &b, records, 1);
    open_fails(fx->path, "reaches element beyond");
}

static void pytorch_zero_stride_huge(void **state)
{
    fixture *fx = *state;
    const char *names[] = { "w" };
    const view terabytes[] = {
        { "FloatStorage", "0", 4, 0, 3, { 1 << 20, 1 << 20, 1 << 10 }, { 0, 0, 0 } },
    };
    builder b = state_dict(names, terabytes, 1);
    const member records[] = { stored("arch/data/0", four_floats, 16) };
    write_checkpoint(fx->path, &b, records, 1);
    open_fails(fx->path, "tensor 'w' has more than 2^40 elements");

    /* Within 2^40 elements, but 4 GiB of memory from a 16-byte record. */
    const view gigabytes[] = { { "FloatStorage", "0", 4, 0, 1, { 1 << 30 }, { 0 } } };
    b = state_dict(names, gigabytes, 1);
    write_checkpoint(fx->path, &b, records, 1);
    open_fails(fx->path, "tensor 'w' needs 4294967296 more bytes in memory, past "
                         "the limit");
}

static void pytorch_global_rejected(void **state)
{
    fixture *fx = *state;
    builder b = { 0 };
    put_lit(&b, "\x80\x02");
    put_global(&b, "os", "system");
    put_op(&b, '(');
    put_str(&b, "touch /tmp/elves-owned");
    put_lit(&b, "tR.");
    write_checkpoint(fx->path, &b, NULL, 0);
    open_fails(fx->path, "global os.system is not allowed: elves reads state_dicts "
                         "only and never runs code from a checkpoint");
}

static void pytorch_self_reference(void **state)
{
    fixture *fx = *state;
    builder b = { 0 };
    put_lit(&b, "\x80\x02]q\x00h\x00" "a.");
    write_checkpoint(fx->path, &b, NULL, 0);
    open_fails(fx->path, "is nested more than 32 containers deep or contains itself");
}

/* Twenty lists that each hold the previous one twice describe 2^20 paths
 * to one tensor in a few hundred bytes. */
static void pytorch_shared_containers(void **state)
{
    fixture *fx = *state;
    const view v = { "FloatStorage", "0", 4, 0, 1, { 4 }, { 1 } };
    builder b = { 0 };
    put_lit(&b, "\x80\x02");
    put_tensor(&b, v);
    for (int i = 0; i < 20; i++)
        put_lit(&b, "q\x00h\x00\x86");             /* (x, x) */
    put_op(&b, '.');
    const member records[] = { stored("arch/data/0", four_floats, 16) };
    write_checkpoint(fx->path, &b, records, 1);
    open_fails(fx->path, "more than 262144 tensors");
}

static void pytorch_duplicate_names(void **state)
{
    fixture *fx = *state;
    const view v = { "FloatStorage", "0", 4, 0, 1, { 4 }, { 1 } };
    builder b = { 0 };
    put_lit(&b, "\x80\x02}(");
    put_str(&b, "a.b");
    put_tensor(&b, v);
    put_str(&b, "a");
    put_lit(&b, "}");
    put_str(&b, "b");
    put_tensor(&b, v);
    put_lit(&b, "su.");
    const member records[] = { stored("arch/data/0", four_floats, 16) };
    write_checkpoint(fx->path, &b, records, 1);
    open_fails(fx->path, "two tensors are named 'a.b'");
}

static void pytorch_reserved_name(void **state)
{
    fixture *fx = *state;
    const char *names[] = { "data/0 (storage)" };
    const view views[] = { { "FloatStorage", "0", 4, 0, 1, { 4 }, { 1 } } };
    builder b = state_dict(names, views, 1);
    const member records[] = { stored("arch/data/0", four_floats, 16) };
    write_checkpoint(fx->path, &b, records, 1);
    open_fails(fx->path, "a name elves reserves for storage records");
}

static void pytorch_control_in_name(void **state)
{
    fixture *fx = *state;
    const char *names[] = { "w\x1b[2J" };
    const view views[] = { { "FloatStorage", "0", 4, 0, 1, { 4 }, { 1 } } };
    builder b = state_dict(names, views, 1);
    const member records[] = { stored("arch/data/0", four_floats, 16) };
    write_checkpoint(fx->path, &b, records, 1);
    open_fails(fx->path, "tensor name 'w?[2J' contains the control byte 0x1b");
}

static void pytorch_storage_conflict(void **state)
{
    fixture *fx = *state;
    const char *names[] = { "f", "l" };
    const view views[] = {
        { "FloatStorage", "0", 4, 0, 1, { 4 }, { 1 } },
        { "LongStorage", "0", 2, 0, 1, { 2 }, { 1 } },
    };
    builder b = state_dict(names, views, 2);
    const member records[] = { stored("arch/data/0", four_floats, 16) };
    write_checkpoint(fx->path, &b, records, 1);
    open_fails(fx->path, "storage '0' is named once as");
}

static void pytorch_two_pickles(void **state)
{
    fixture *fx = *state;
    const member members[] = {
        stored("a/data.pkl", "N.", 2),
        stored("b/data.pkl", "N.", 2),
    };
    write_zip(fx->path, members, 2);
    open_fails(fx->path, "the archive holds two pickles, 'a/data.pkl' and "
                         "'b/data.pkl'");
}

static void pytorch_truncated_pickle(void **state)
{
    fixture *fx = *state;
    const char *names[] = { "w" };
    const view views[] = { { "FloatStorage", "0", 4, 0, 1, { 4 }, { 1 } } };
    builder b = state_dict(names, views, 1);
    b.len -= 10;
    const member records[] = { stored("arch/data/0", four_floats, 16) };
    write_checkpoint(fx->path, &b, records, 1);
    open_fails(fx->path, "arch/data.pkl: pickle byte");
}

static void pytorch_legacy_format(void **state)
{
    const uint8_t legacy[] = "\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19.";
    assert_true(el_pytorch_is_legacy(legacy, 8));
    assert_true(el_pytorch_is_legacy(legacy, sizeof legacy - 1));
    assert_false(el_pytorch_is_legacy((const uint8_t *)"PK\x03\x04\0\0\0\0", 8));
    assert_false(el_pytorch_is_legacy(legacy, 4));

    el_model m = { 0 };
    el_error err = { { 0 } };
    assert_int_equal(el_pytorch_open_legacy(&m, "old.pt", &err), -1);
    assert_string_equal(err.msg, "old.pt: this checkpoint uses the legacy format of "
                        "PyTorch before 1.6; re-save it with torch.save in a newer "
                        "PyTorch");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pytorch_tied_weights),
        cmocka_unit_test(pytorch_views),
        cmocka_unit_test_setup_teardown(pytorch_roundtrip_identical, setup, teardown),
        cmocka_unit_test_setup_teardown(pytorch_nested_containers, setup, teardown),
        cmocka_unit_test_setup_teardown(pytorch_transpose_only, setup, teardown),
        cmocka_unit_test_setup_teardown(pytorch_big_endian, setup, teardown),
        cmocka_unit_test_setup_teardown(pytorch_bad_byteorder, setup, teardown),
        cmocka_unit_test_setup_teardown(pytorch_deflated_record, setup, teardown),
        cmocka_unit_test_setup_teardown(pytorch_deflate_bomb, setup, teardown),
        cmocka_unit_test_setup_teardown(pytorch_missing_record, setup, teardown),
        cmocka_unit_test_setup_teardown(pytorch_record_size_mismatch, setup, teardown),
        cmocka_unit_test_setup_teardown(pytorch_view_past_storage, setup, teardown),
        cmocka_unit_test_setup_teardown(pytorch_zero_stride_huge, setup, teardown),
        cmocka_unit_test_setup_teardown(pytorch_global_rejected, setup, teardown),
        cmocka_unit_test_setup_teardown(pytorch_self_reference, setup, teardown),
        cmocka_unit_test_setup_teardown(pytorch_shared_containers, setup, teardown),
        cmocka_unit_test_setup_teardown(pytorch_duplicate_names, setup, teardown),
        cmocka_unit_test_setup_teardown(pytorch_reserved_name, setup, teardown),
        cmocka_unit_test_setup_teardown(pytorch_control_in_name, setup, teardown),
        cmocka_unit_test_setup_teardown(pytorch_storage_conflict, setup, teardown),
        cmocka_unit_test_setup_teardown(pytorch_two_pickles, setup, teardown),
        cmocka_unit_test_setup_teardown(pytorch_truncated_pickle, setup, teardown),
        cmocka_unit_test(pytorch_legacy_format),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
