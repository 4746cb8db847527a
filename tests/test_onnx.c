/* Tests of the ONNX reader. A small protobuf writer builds the models in a
 * fresh temporary folder that teardown removes. One model has every way a
 * tensor can store its values: raw_data, packed and unpacked typed fields,
 * external data, Constant nodes, and If, Loop and multi-graph subgraphs.
 * Then each malformed input gets a model of its own. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../core/container.h"
#include "../core/model.h"
#include "../core/workspace.h"

/* Field numbers and codes from onnx.proto. */
enum { MODEL_IR_VERSION = 1, MODEL_PRODUCER_NAME = 2, MODEL_PRODUCER_VERSION = 3,
       MODEL_GRAPH = 7, MODEL_OPSET_IMPORT = 8 };
enum { GRAPH_NODE = 1, GRAPH_NAME = 2, GRAPH_INITIALIZER = 5 };
enum { NODE_OUTPUT = 2, NODE_NAME = 3, NODE_OP_TYPE = 4, NODE_ATTRIBUTE = 5 };
enum { ATTR_NAME = 1, ATTR_T = 5, ATTR_G = 6, ATTR_GRAPHS = 11, ATTR_TYPE = 20 };
enum { TENSOR_DIMS = 1, TENSOR_DATA_TYPE = 2, TENSOR_FLOAT_DATA = 4,
       TENSOR_INT32_DATA = 5, TENSOR_STRING_DATA = 6, TENSOR_INT64_DATA = 7,
       TENSOR_NAME = 8, TENSOR_RAW_DATA = 9, TENSOR_DOUBLE_DATA = 10,
       TENSOR_EXTERNAL_DATA = 13, TENSOR_DATA_LOCATION = 14 };
enum { FLOAT = 1, UINT8 = 2, INT8 = 3, INT32 = 6, INT64 = 7, STRING = 8, BOOL = 9,
       FLOAT16 = 10, DOUBLE = 11, COMPLEX64 = 14, FLOAT8E4M3FNUZ = 18, INT4 = 22 };
enum { WIRE_VARINT = 0, WIRE_I64 = 1, WIRE_LEN = 2, WIRE_I32 = 5 };

/* ---- a protobuf writer ------------------------------------------------- */

typedef struct pb {
    uint8_t *data;
    size_t len;
} pb;

static void put(pb *b, const void *p, size_t n)
{
    b->data = realloc(b->data, b->len + n + 1);
    assert_non_null(b->data);
    if (n > 0)
        memcpy(b->data + b->len, p, n);
    b->len += n;
}

static void put_varint(pb *b, uint64_t v)
{
    uint8_t bytes[10];
    size_t n = 0;
    do {
        bytes[n] = (uint8_t)(v & 0x7f);
        v >>= 7;
        if (v != 0)
            bytes[n] |= 0x80;
        n++;
    } while (v != 0);
    put(b, bytes, n);
}

static void put_key(pb *b, unsigned field, unsigned wire)
{
    put_varint(b, (uint64_t)field << 3 | wire);
}

static void put_uint(pb *b, unsigned field, uint64_t v)
{
    put_key(b, field, WIRE_VARINT);
    put_varint(b, v);
}

static void put_bytes(pb *b, unsigned field, const void *p, size_t n)
{
    put_key(b, field, WIRE_LEN);
    put_varint(b, n);
    put(b, p, n);
}

static void put_str(pb *b, unsigned field, const char *s)
{
    put_bytes(b, field, s, strlen(s));
}

/* Appends sub as a length-delimited field and frees it. */
static void put_msg(pb *b, unsigned field, pb *sub)
{
    put_bytes(b, field, sub->data, sub->len);
    free(sub->data);
    sub->data = NULL;
    sub->len = 0;
}

/* ---- ONNX messages ----------------------------------------------------- */

/* A TensorProto with name, data type and dims (unpacked), and no values. */
static pb tensor_head(const char *name, int dtype, const int64_t *dims, int ndim)
{
    pb t = { 0 };
    for (int d = 0; d < ndim; d++)
        put_uint(&t, TENSOR_DIMS, (uint64_t)dims[d]);
    put_uint(&t, TENSOR_DATA_TYPE, (uint64_t)dtype);
    if (name != NULL)
        put_str(&t, TENSOR_NAME, name);
    return t;
}

static pb tensor_raw(const char *name, int dtype, const int64_t *dims, int ndim,
                     const void *bytes, size_t n)
{
    pb t = tensor_head(name, dtype, dims, ndim);
    put_bytes(&t, TENSOR_RAW_DATA, bytes, n);
    return t;
}

static void put_entry(pb *t, const char *key, const char *value)
{
    pb e = { 0 };
    put_str(&e, 1, key);
    put_str(&e, 2, value);
    put_msg(t, TENSOR_EXTERNAL_DATA, &e);
}

/* A FLOAT [2] tensor in an external file; offset or length NULL to omit. */
static pb tensor_external(const char *name, const char *location, const char *offset,
                          const char *length)
{
    const int64_t dims[] = { 2 };
    pb t = tensor_head(name, FLOAT, dims, 1);
    put_entry(&t, "location", location);
    if (offset != NULL)
        put_entry(&t, "offset", offset);
    if (length != NULL)
        put_entry(&t, "length", length);
    put_uint(&t, TENSOR_DATA_LOCATION, 1);
    return t;
}

static pb graph_named(const char *name)
{
    pb g = { 0 };
    put_str(&g, GRAPH_NAME, name);
    return g;
}

static void add_initializer(pb *graph, pb *tensor)
{
    put_msg(graph, GRAPH_INITIALIZER, tensor);
}

static void add_constant(pb *graph, const char *output, pb *tensor)
{
    pb attr = { 0 }, node = { 0 };
    put_str(&attr, ATTR_NAME, "value");
    put_uint(&attr, ATTR_TYPE, 4);
    put_msg(&attr, ATTR_T, tensor);

    put_str(&node, NODE_OUTPUT, output);
    put_str(&node, NODE_OP_TYPE, "Constant");
    put_msg(&node, NODE_ATTRIBUTE, &attr);
    put_msg(graph, GRAPH_NODE, &node);
}

/* Appends to node an attribute holding one graph in field g (ATTR_G) or
 * in the list field graphs (ATTR_GRAPHS). */
static void add_graph_attribute(pb *node, const char *name, unsigned field, pb *graph)
{
    pb attr = { 0 };
    put_str(&attr, ATTR_NAME, name);
    put_uint(&attr, ATTR_TYPE, field == ATTR_G ? 5 : 10);
    put_msg(&attr, field, graph);
    put_msg(node, NODE_ATTRIBUTE, &attr);
}

static pb node_named(const char *name, const char *op)
{
    pb node = { 0 };
    put_str(&node, NODE_NAME, name);
    put_str(&node, NODE_OP_TYPE, op);
    return node;
}

/* A ModelProto around graph, which it frees. */
static pb model_of(pb *graph)
{
    pb model = { 0 }, opset = { 0 };
    put_uint(&model, MODEL_IR_VERSION, 8);
    put_str(&model, MODEL_PRODUCER_NAME, "elves-test");
    put_str(&model, MODEL_PRODUCER_VERSION, "1.0");
    put_str(&opset, 1, "");
    put_uint(&opset, 2, 17);
    put_msg(&model, MODEL_OPSET_IMPORT, &opset);
    put_msg(&model, MODEL_GRAPH, graph);
    return model;
}

/* ---- fixture ----------------------------------------------------------- */

typedef struct fixture {
    char dir[64];
    char path[128];         /* dir/model.onnx */
} fixture;

static int setup(void **state)
{
    fixture *fx = calloc(1, sizeof *fx);
    if (fx == NULL)
        return -1;
    snprintf(fx->dir, sizeof fx->dir, "/tmp/elves-onnx-XXXXXX");
    if (mkdtemp(fx->dir) == NULL) {
        free(fx);
        return -1;
    }
    snprintf(fx->path, sizeof fx->path, "%s/model.onnx", fx->dir);
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

static void write_file(const char *path, const void *bytes, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    if (len > 0)
        assert_int_equal(fwrite(bytes, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

static uint8_t *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    const long n = ftell(f);
    assert_true(n >= 0);
    rewind(f);
    uint8_t *buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return buf;
}

/* Writes the model around graph to fx->path. */
static void write_model(const fixture *fx, pb *graph)
{
    pb model = model_of(graph);
    write_file(fx->path, model.data, model.len);
    free(model.data);
}

/* weights.bin: the floats 1, 2, 3, 4. */
static void write_weights(const fixture *fx)
{
    const float w[] = { 1, 2, 3, 4 };
    char path[160];
    snprintf(path, sizeof path, "%s/weights.bin", fx->dir);
    write_file(path, w, sizeof w);
}

/* Opens fx->path expecting failure, and checks that the message contains
 * `field` and the file name. */
static void expect_failure(const fixture *fx, const char *field)
{
    el_model m;
    el_error err = { "" };
    assert_int_equal(el_model_open(fx->path, &m, &err), -1);
    if (strstr(err.msg, field) == NULL)
        fail_msg("message does not name '%s': %s", field, err.msg);
    assert_non_null(strstr(err.msg, "model.onnx"));
    assert_int_equal(m.n_tensors, 0);
}

static const el_tensor *find(const el_model *m, const char *name)
{
    const long i = el_model_find(m, name);
    if (i < 0)
        fail_msg("tensor '%s' not found", name);
    return &m->tensors[i];
}

/* ---- the full model ---------------------------------------------------- */

/* The graph described at the top of the file: 13 tensors, 5 graphs. */
static pb full_graph(void)
{
    pb main = graph_named("main");

    const float raw[] = { 0.5f, -0.25f, 1.5f, 0.0f, -1.0f, 2.0f };
    const int64_t dims23[] = { 2, 3 };
    pb t = tensor_raw("w_raw", FLOAT, dims23, 2, raw, sizeof raw);
    add_initializer(&main, &t);

    /* Packed dims and packed float_data. */
    const float floats[] = { 0.1f, 0.2f, 0.3f, 0.4f };
    pb dims = { 0 };
    put_varint(&dims, 4);
    t = (pb){ 0 };
    put_msg(&t, TENSOR_DIMS, &dims);
    put_uint(&t, TENSOR_DATA_TYPE, FLOAT);
    put_str(&t, TENSOR_NAME, "w_float");
    put_bytes(&t, TENSOR_FLOAT_DATA, floats, sizeof floats);
    add_initializer(&main, &t);

    const int64_t dims3[] = { 3 };
    pb packed = { 0 };
    put_varint(&packed, (uint64_t)-1);
    put_varint(&packed, 5);
    put_varint(&packed, 1ULL << 40);
    t = tensor_head("w_i64", INT64, dims3, 1);
    put_msg(&t, TENSOR_INT64_DATA, &packed);
    add_initializer(&main, &t);

    t = tensor_external("w_ext", "weights.bin", "8", "8");
    add_initializer(&main, &t);
    t = tensor_external("w_ext2", "./weights.bin", NULL, NULL);
    add_initializer(&main, &t);

    /* Unpacked double_data: one key per value. */
    const int64_t dims2[] = { 2 };
    const double d[] = { 0.125, -8.0 };
    t = tensor_head("w_unpacked", DOUBLE, dims2, 1);
    for (int i = 0; i < 2; i++) {
        uint64_t bits;
        memcpy(&bits, &d[i], sizeof bits);
        put_key(&t, TENSOR_DOUBLE_DATA, WIRE_I64);
        for (int b = 0; b < 8; b++) {
            const uint8_t byte = (uint8_t)(bits >> (8 * b));
            put(&t, &byte, 1);
        }
    }
    add_initializer(&main, &t);

    packed = (pb){ 0 };
    put_varint(&packed, 1);
    put_varint(&packed, 0);
    put_varint(&packed, 1);
    t = tensor_head("w_bool", BOOL, dims3, 1);
    put_msg(&t, TENSOR_INT32_DATA, &packed);
    add_initializer(&main, &t);

    /* A Constant whose tensor has its own name: the output name wins. */
    packed = (pb){ 0 };
    put_varint(&packed, 0x3c00);        /* 1.0 */
    put_varint(&packed, 0xc000);        /* -2.0 */
    t = tensor_head("ignored", FLOAT16, dims2, 1);
    put_msg(&t, TENSOR_INT32_DATA, &packed);
    add_constant(&main, "c_out", &t);

    /* If: both branches contain an initializer named t_w. */
    const int64_t dims1[] = { 1 };
    const float three = 3.0f, four = 4.0f;
    pb then_graph = graph_named("then");
    t = tensor_raw("t_w", FLOAT, dims1, 1, &three, sizeof three);
    add_initializer(&then_graph, &t);
    pb else_graph = graph_named("else");
    t = tensor_raw("t_w", FLOAT, dims1, 1, &four, sizeof four);
    add_initializer(&else_graph, &t);
    pb node = node_named("if0", "If");
    add_graph_attribute(&node, "then_branch", ATTR_G, &then_graph);
    add_graph_attribute(&node, "else_branch", ATTR_G, &else_graph);
    put_msg(&main, GRAPH_NODE, &node);

    /* Loop: an unpacked int32_data initializer and a Constant whose output
     * name repeats the main graph's. */
    pb body = graph_named("body");
    t = tensor_head("loop_w", INT32, dims2, 1);
    put_uint(&t, TENSOR_INT32_DATA, (uint64_t)(int64_t)-7);
    put_uint(&t, TENSOR_INT32_DATA, 9);
    add_initializer(&body, &t);
    const int64_t answer = 42;
    t = tensor_raw(NULL, INT64, NULL, 0, &answer, sizeof answer);
    add_constant(&body, "c_out", &t);
    node = node_named("loop0", "Loop");
    add_graph_attribute(&node, "body", ATTR_G, &body);
    put_msg(&main, GRAPH_NODE, &node);

    /* A graph in the list field `graphs`. */
    const uint8_t bytes[] = { 1, 2 };
    pb listed = graph_named("g1");
    t = tensor_raw("g_w", UINT8, dims2, 1, bytes, sizeof bytes);
    add_initializer(&listed, &t);
    node = node_named("custom0", "Custom");
    add_graph_attribute(&node, "branches", ATTR_GRAPHS, &listed);
    put_msg(&main, GRAPH_NODE, &node);

    return main;
}

static void write_full(const fixture *fx)
{
    pb graph = full_graph();
    write_model(fx, &graph);
    write_weights(fx);
}

static void onnx_tensor_sources(void **state)
{
    fixture *fx = *state;
    write_full(fx);

    el_model m;
    el_error err;
    if (el_model_open(fx->path, &m, &err) != 0)
        fail_msg("%s", err.msg);
    assert_string_equal(m.format, "onnx");
    assert_int_equal(m.n_tensors, 13);
    assert_int_equal(m.n_files, 2);

    const el_tensor *t = find(&m, "w_raw");
    assert_int_equal(t->dtype, EL_F32);
    assert_int_equal(t->ndim, 2);
    assert_int_equal(t->shape[0], 2);
    assert_int_equal(t->shape[1], 3);
    assert_int_equal(t->nbytes, 24);
    assert_false(t->derived);
    assert_ptr_equal(t->data, m.files[0].map + t->offset);
    assert_true(el_load_double(EL_F32, t->data, 1) == -0.25);

    t = find(&m, "w_float");
    assert_false(t->derived);
    assert_int_equal(t->count, 4);
    assert_true(el_load_double(EL_F32, t->data, 3) == (double)0.4f);

    t = find(&m, "w_i64");
    assert_true(t->derived);
    assert_ptr_equal(t->data, t->owned);
    assert_int_equal(t->dtype, EL_I64);
    assert_true(el_load_double(EL_I64, t->data, 0) == -1.0);
    assert_true(el_load_double(EL_I64, t->data, 2) == 1099511627776.0);

    t = find(&m, "w_unpacked");
    assert_true(t->derived);
    assert_int_equal(t->dtype, EL_F64);
    assert_true(el_load_double(EL_F64, t->data, 1) == -8.0);

    t = find(&m, "w_bool");
    assert_true(t->derived);
    assert_int_equal(t->dtype, EL_BOOL);
    assert_memory_equal(t->data, "\1\0\1", 3);

    t = find(&m, "c_out");
    assert_true(t->derived);
    assert_int_equal(t->dtype, EL_F16);
    assert_true(el_load_double(EL_F16, t->data, 0) == 1.0);
    assert_true(el_load_double(EL_F16, t->data, 1) == -2.0);
    assert_int_equal(el_model_find(&m, "ignored"), -1);

    t = find(&m, "c_out#2");
    assert_int_equal(t->dtype, EL_I64);
    assert_int_equal(t->ndim, 0);
    assert_int_equal(t->count, 1);
    assert_true(el_load_double(EL_I64, t->data, 0) == 42.0);

    t = find(&m, "loop_w");
    assert_true(t->derived);
    assert_int_equal(t->dtype, EL_I32);
    assert_true(el_load_double(EL_I32, t->data, 0) == -7.0);
    assert_true(el_load_double(EL_I32, t->data, 1) == 9.0);

    assert_true(el_load_double(EL_F32, find(&m, "t_w")->data, 0) == 3.0);
    assert_true(el_load_double(EL_F32, find(&m, "t_w#2")->data, 0) == 4.0);
    assert_int_equal(find(&m, "g_w")->dtype, EL_U8);

    el_model_close(&m);
}

static void onnx_external_same_folder(void **state)
{
    fixture *fx = *state;
    write_full(fx);

    el_model m;
    el_error err;
    if (el_model_open(fx->path, &m, &err) != 0)
        fail_msg("%s", err.msg);
    assert_int_equal(m.n_files, 2);
    assert_string_equal(m.files[1].name, "weights.bin");

    const el_tensor *t = find(&m, "w_ext");
    assert_int_equal(t->file, 1);
    assert_int_equal(t->offset, 8);
    assert_false(t->derived);
    assert_true(el_load_double(EL_F32, t->data, 0) == 3.0);

    t = find(&m, "w_ext2");
    assert_int_equal(t->file, 1);
    assert_int_equal(t->offset, 0);
    assert_true(el_load_double(EL_F32, t->data, 1) == 2.0);
    el_model_close(&m);
}

/* Tensors come in file order, then offset order, and stored ones do not
 * overlap, as the container requires. */
static void onnx_tensor_order(void **state)
{
    fixture *fx = *state;
    write_full(fx);

    el_model m;
    el_error err;
    assert_int_equal(el_model_open(fx->path, &m, &err), 0);
    uint64_t end = 0;
    for (size_t i = 1; i < m.n_tensors; i++) {
        const el_tensor *a = &m.tensors[i - 1];
        const el_tensor *b = &m.tensors[i];
        assert_true(a->file < b->file || (a->file == b->file && a->offset <= b->offset));
    }
    for (size_t i = 0; i < m.n_tensors; i++) {
        const el_tensor *t = &m.tensors[i];
        if (t->derived || t->file != 0)
            continue;
        assert_true(t->offset >= end);
        end = t->offset + t->nbytes;
    }
    el_model_close(&m);
}

static void onnx_metadata(void **state)
{
    fixture *fx = *state;
    write_full(fx);

    el_model m;
    el_error err;
    assert_int_equal(el_model_open(fx->path, &m, &err), 0);
    assert_non_null(m.metadata_json);
    const char *expected[] = {
        "\"producer_name\":\"elves-test\"", "\"producer_version\":\"1.0\"",
        "\"graph_name\":\"main\"", "\"ir_version\":8", "\"opset\":17",
        "\"graphs\":5", "\"nodes\":5", "\"initializers\":11", "\"constants\":2",
        "\"external_files\":1",
    };
    for (size_t i = 0; i < sizeof expected / sizeof expected[0]; i++)
        if (strstr(m.metadata_json, expected[i]) == NULL)
            fail_msg("%s not in %s", expected[i], m.metadata_json);
    el_model_close(&m);
}

static void compare_files(const char *a, const char *b)
{
    size_t a_len, b_len;
    uint8_t *x = read_file(a, &a_len);
    uint8_t *y = read_file(b, &b_len);
    assert_int_equal(a_len, b_len);
    assert_memory_equal(x, y, a_len);
    free(x);
    free(y);
}

/* A lossless export restores the model file and its external data file
 * byte for byte, derived tensors included. */
static void onnx_roundtrip_identical(void **state)
{
    fixture *fx = *state;
    write_full(fx);

    el_workspace ws;
    el_error err;
    const char *path = fx->path;
    if (el_workspace_open(&ws, &path, 1, &err) != 0 ||
        el_workspace_analyse(&ws, NULL, NULL, &err) != 0)
        fail_msg("%s", err.msg);

    char out[160], restored[160], a[200], b[200];
    snprintf(out, sizeof out, "%s/out.elves", fx->dir);
    snprintf(restored, sizeof restored, "%s/restored", fx->dir);
    el_export_report report;
    const int rc = el_export(&ws, 0, out, NULL, NULL, &report, &err);
    el_export_report_free(&report);
    el_workspace_close(&ws);
    if (rc != 0)
        fail_msg("%s", err.msg);
    if (el_restore(out, restored, NULL, NULL, &err) != 0)
        fail_msg("%s", err.msg);

    snprintf(a, sizeof a, "%s/model.onnx", restored);
    compare_files(fx->path, a);
    snprintf(a, sizeof a, "%s/weights.bin", restored);
    snprintf(b, sizeof b, "%s/weights.bin", fx->dir);
    compare_files(b, a);
}

/* Two tensors over the same external bytes: the second is derived, so
 * the container stores those bytes once. */
static void onnx_external_overlap(void **state)
{
    fixture *fx = *state;
    write_weights(fx);
    pb g = graph_named("g");
    pb t = tensor_external("a", "weights.bin", "4", "8");
    add_initializer(&g, &t);
    t = tensor_external("b", "weights.bin", "8", "8");
    add_initializer(&g, &t);
    write_model(fx, &g);

    el_model m;
    el_error err;
    if (el_model_open(fx->path, &m, &err) != 0)
        fail_msg("%s", err.msg);
    assert_int_equal(m.n_files, 2);
    assert_false(find(&m, "a")->derived);
    assert_true(find(&m, "b")->derived);
    assert_true(el_load_double(EL_F32, find(&m, "b")->data, 1) == 4.0);
    el_model_close(&m);
}

static void onnx_string_skipped(void **state)
{
    fixture *fx = *state;
    const int64_t dims[] = { 1 };
    pb g = graph_named("g");
    pb t = tensor_head("s", STRING, dims, 1);
    put_str(&t, TENSOR_STRING_DATA, "hello");
    add_initializer(&g, &t);
    const int8_t v = -3;
    t = tensor_raw("i", INT8, dims, 1, &v, 1);
    add_initializer(&g, &t);
    write_model(fx, &g);

    el_model m;
    el_error err;
    assert_int_equal(el_model_open(fx->path, &m, &err), 0);
    assert_int_equal(m.n_tensors, 1);
    assert_string_equal(m.tensors[0].name, "i");
    assert_non_null(strstr(m.metadata_json, "\"skipped_tensors\":1"));
    el_model_close(&m);
}

/* Types el_dtype cannot express are opaque bytes when they are a byte
 * range, and skipped when their values are varints. */
static void onnx_opaque_types(void **state)
{
    fixture *fx = *state;
    const int64_t dims2[] = { 2 }, dims3[] = { 3 };
    const float complex_values[4] = { 1, 2, 3, 4 };
    const uint8_t nibbles[2] = { 0x21, 0x03 };
    pb g = graph_named("g");
    pb t = tensor_raw("c", COMPLEX64, dims2, 1, complex_values, sizeof complex_values);
    add_initializer(&g, &t);
    t = tensor_raw("q", INT4, dims3, 1, nibbles, sizeof nibbles);
    add_initializer(&g, &t);
    t = tensor_head("f8", FLOAT8E4M3FNUZ, dims2, 1);
    put_uint(&t, TENSOR_INT32_DATA, 1);
    put_uint(&t, TENSOR_INT32_DATA, 2);
    add_initializer(&g, &t);
    write_model(fx, &g);

    el_model m;
    el_error err;
    if (el_model_open(fx->path, &m, &err) != 0)
        fail_msg("%s", err.msg);
    assert_int_equal(m.n_tensors, 2);

    const el_tensor *c = find(&m, "c");
    assert_int_equal(c->dtype, EL_U8);
    assert_string_equal(c->type_name, "COMPLEX64");
    assert_int_equal(c->count, 16);
    assert_int_equal(c->nbytes, 16);

    const el_tensor *q = find(&m, "q");
    assert_string_equal(q->type_name, "INT4");
    assert_int_equal(q->nbytes, 2);
    assert_int_equal(el_model_find(&m, "f8"), -1);
    assert_non_null(strstr(m.metadata_json, "\"skipped_tensors\":1"));
    el_model_close(&m);
}

/* An unnamed initializer gets a name, and repeats get suffixes. */
static void onnx_unnamed_initializers(void **state)
{
    fixture *fx = *state;
    const int64_t dims[] = { 1 };
    const float v = 1.0f;
    pb g = graph_named("g");
    for (int i = 0; i < 3; i++) {
        pb t = tensor_raw(NULL, FLOAT, dims, 1, &v, sizeof v);
        add_initializer(&g, &t);
    }
    write_model(fx, &g);

    el_model m;
    el_error err;
    assert_int_equal(el_model_open(fx->path, &m, &err), 0);
    assert_int_equal(m.n_tensors, 3);
    find(&m, "initializer");
    find(&m, "initializer#2");
    find(&m, "initializer#3");
    el_model_close(&m);
}

/* ---- malformed input --------------------------------------------------- */

static void write_one_initializer(const fixture *fx, pb *tensor)
{
    pb g = graph_named("g");
    add_initializer(&g, tensor);
    write_model(fx, &g);
}

static void write_external(const fixture *fx, const char *location,
                           const char *offset, const char *length)
{
    write_weights(fx);
    pb t = tensor_external("w", location, offset, length);
    write_one_initializer(fx, &t);
}

static void onnx_external_absolute(void **state)
{
    fixture *fx = *state;
    char location[160];
    snprintf(location, sizeof location, "%s/weights.bin", fx->dir);
    write_external(fx, location, NULL, NULL);
    expect_failure(fx, "location");
    expect_failure(fx, "absolute");
}

static void onnx_external_parent(void **state)
{
    fixture *fx = *state;
    write_external(fx, "../weights.bin", NULL, NULL);
    expect_failure(fx, "location '../weights.bin'");
    expect_failure(fx, "'..' component");
}

static void onnx_external_nested_parent(void **state)
{
    fixture *fx = *state;
    write_external(fx, "a/../../weights.bin", NULL, NULL);
    expect_failure(fx, "location 'a/../../weights.bin'");
    expect_failure(fx, "'..' component");
}

/* A symbolic link inside the folder that points outside it, at the folder's
 * parent. */
static void onnx_external_symlink(void **state)
{
    fixture *fx = *state;
    char link[160];
    snprintf(link, sizeof link, "%s/escape.bin", fx->dir);
    assert_int_equal(symlink("..", link), 0);
    write_external(fx, "escape.bin", NULL, NULL);
    expect_failure(fx, "location 'escape.bin'");
    expect_failure(fx, "outside");
}

static void onnx_external_missing(void **state)
{
    fixture *fx = *state;
    write_external(fx, "absent.bin", NULL, NULL);
    expect_failure(fx, "location 'absent.bin'");
}

static void onnx_external_offset_past_end(void **state)
{
    fixture *fx = *state;
    write_external(fx, "weights.bin", "12", NULL);
    expect_failure(fx, "offset 12");
}

static void onnx_external_length_past_end(void **state)
{
    fixture *fx = *state;
    write_external(fx, "weights.bin", "12", "8");
    expect_failure(fx, "length 8");
}

static void onnx_external_length_mismatch(void **state)
{
    fixture *fx = *state;
    write_external(fx, "weights.bin", "0", "4");
    expect_failure(fx, "external_data length 4");
}

static void onnx_external_offset_not_number(void **state)
{
    fixture *fx = *state;
    write_external(fx, "weights.bin", "-8", NULL);
    expect_failure(fx, "external_data 'offset'");
}

static void onnx_external_offset_overflow(void **state)
{
    fixture *fx = *state;
    write_external(fx, "weights.bin", "18446744073709551615", NULL);
    expect_failure(fx, "offset 18446744073709551615");
}

static void onnx_truncated_varint(void **state)
{
    fixture *fx = *state;
    pb t = { 0 };
    put_uint(&t, TENSOR_DATA_TYPE, FLOAT);
    put_key(&t, TENSOR_DIMS, WIRE_VARINT);
    const uint8_t cut = 0x80;
    put(&t, &cut, 1);
    write_one_initializer(fx, &t);
    expect_failure(fx, "field dims");
    expect_failure(fx, "truncated");
}

static void onnx_packed_varint_truncated(void **state)
{
    fixture *fx = *state;
    const int64_t dims[] = { 2 };
    pb t = tensor_head("w", INT64, dims, 1);
    const uint8_t packed[] = { 0x01, 0xff };
    put_bytes(&t, TENSOR_INT64_DATA, packed, sizeof packed);
    write_one_initializer(fx, &t);
    expect_failure(fx, "field int64_data");
}

static void onnx_length_past_end(void **state)
{
    fixture *fx = *state;
    pb g = graph_named("g");
    put_key(&g, GRAPH_INITIALIZER, WIRE_LEN);
    put_varint(&g, 100);
    put(&g, "abc", 3);
    write_model(fx, &g);
    expect_failure(fx, "field initializer");
    expect_failure(fx, "length 100");
}

static void onnx_model_length_past_end(void **state)
{
    fixture *fx = *state;
    pb model = { 0 };
    put_uint(&model, MODEL_IR_VERSION, 8);
    put_key(&model, MODEL_GRAPH, WIRE_LEN);
    put_varint(&model, 1000);
    write_file(fx->path, model.data, model.len);
    free(model.data);
    expect_failure(fx, "field graph");
}

static void onnx_nesting_too_deep(void **state)
{
    fixture *fx = *state;
    pb g = graph_named("innermost");
    for (int level = 0; level < 40; level++) {
        pb node = node_named("if", "If");
        add_graph_attribute(&node, "then_branch", ATTR_G, &g);
        g = graph_named("level");
        put_msg(&g, GRAPH_NODE, &node);
    }
    write_model(fx, &g);
    expect_failure(fx, "nest deeper than 32");
    expect_failure(fx, "attribute 'then_branch'");
}

/* Nesting within the bound opens. */
static void onnx_nesting_within_bound(void **state)
{
    fixture *fx = *state;
    const int64_t dims[] = { 1 };
    const float v = 1.0f;
    pb g = graph_named("innermost");
    pb t = tensor_raw("deep", FLOAT, dims, 1, &v, sizeof v);
    add_initializer(&g, &t);
    for (int level = 0; level < 30; level++) {
        pb node = node_named("if", "If");
        add_graph_attribute(&node, "then_branch", ATTR_G, &g);
        g = graph_named("level");
        put_msg(&g, GRAPH_NODE, &node);
    }
    write_model(fx, &g);

    el_model m;
    el_error err;
    if (el_model_open(fx->path, &m, &err) != 0)
        fail_msg("%s", err.msg);
    find(&m, "deep");
    el_model_close(&m);
}

static void onnx_dims_overflow(void **state)
{
    fixture *fx = *state;
    const int64_t dims[] = { 1LL << 32, 1LL << 32 };
    const float v = 0;
    pb t = tensor_raw("w", FLOAT, dims, 2, &v, sizeof v);
    write_one_initializer(fx, &t);
    expect_failure(fx, "product of field dims overflows");
}

static void onnx_dims_bytes_overflow(void **state)
{
    fixture *fx = *state;
    const int64_t dims[] = { 1LL << 62 };
    const float v = 0;
    pb t = tensor_raw("w", FLOAT, dims, 1, &v, sizeof v);
    write_one_initializer(fx, &t);
    expect_failure(fx, "field dims");
    expect_failure(fx, "overflows");
}

static void onnx_dims_negative(void **state)
{
    fixture *fx = *state;
    const int64_t dims[] = { -1 };
    const float v = 0;
    pb t = tensor_raw("w", FLOAT, dims, 1, &v, sizeof v);
    write_one_initializer(fx, &t);
    expect_failure(fx, "field dims entry 0 is -1");
}

static void onnx_raw_size_mismatch(void **state)
{
    fixture *fx = *state;
    const int64_t dims[] = { 2, 3 };
    const float v[5] = { 0 };
    pb t = tensor_raw("w", FLOAT, dims, 2, v, sizeof v);
    write_one_initializer(fx, &t);
    expect_failure(fx, "field raw_data has 20 bytes");
    expect_failure(fx, "initializer 0 'w'");
}

static void onnx_value_count_mismatch(void **state)
{
    fixture *fx = *state;
    const int64_t dims[] = { 3 };
    const float v[2] = { 1, 2 };
    pb t = tensor_head("w", FLOAT, dims, 1);
    put_bytes(&t, TENSOR_FLOAT_DATA, v, sizeof v);
    write_one_initializer(fx, &t);
    expect_failure(fx, "field float_data has 2 values");
}

static void onnx_value_out_of_range(void **state)
{
    fixture *fx = *state;
    const int64_t dims[] = { 1 };
    pb t = tensor_head("w", INT8, dims, 1);
    put_uint(&t, TENSOR_INT32_DATA, 300);
    write_one_initializer(fx, &t);
    expect_failure(fx, "field int32_data value 300");
}

static void onnx_wrong_value_field(void **state)
{
    fixture *fx = *state;
    const int64_t dims[] = { 1 };
    pb t = tensor_head("w", FLOAT, dims, 1);
    put_uint(&t, TENSOR_INT64_DATA, 1);
    write_one_initializer(fx, &t);
    expect_failure(fx, "field int64_data is not valid for data type FLOAT");
}

static void onnx_no_values(void **state)
{
    fixture *fx = *state;
    const int64_t dims[] = { 4 };
    pb t = tensor_head("w", FLOAT, dims, 1);
    write_one_initializer(fx, &t);
    expect_failure(fx, "raw_data");
}

static void onnx_wrong_wire_type(void **state)
{
    fixture *fx = *state;
    const int64_t dims[] = { 1 };
    pb t = tensor_head("w", FLOAT, dims, 1);
    put_uint(&t, TENSOR_RAW_DATA, 7);
    write_one_initializer(fx, &t);
    expect_failure(fx, "field raw_data (9)");
}

static void onnx_no_graph(void **state)
{
    fixture *fx = *state;
    pb model = { 0 };
    put_uint(&model, MODEL_IR_VERSION, 8);
    write_file(fx->path, model.data, model.len);
    free(model.data);
    expect_failure(fx, "graph");
}

static void onnx_not_protobuf(void **state)
{
    fixture *fx = *state;
    const char text[] = "this is not a model\n";
    write_file(fx->path, text, sizeof text - 1);
    expect_failure(fx, "ModelProto");
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(onnx_tensor_sources),
        T(onnx_external_same_folder),
        T(onnx_tensor_order),
        T(onnx_metadata),
        T(onnx_roundtrip_identical),
        T(onnx_external_overlap),
        T(onnx_string_skipped),
        T(onnx_opaque_types),
        T(onnx_unnamed_initializers),
        T(onnx_external_absolute),
        T(onnx_external_parent),
        T(onnx_external_nested_parent),
        T(onnx_external_symlink),
        T(onnx_external_missing),
        T(onnx_external_offset_past_end),
        T(onnx_external_length_past_end),
        T(onnx_external_length_mismatch),
        T(onnx_external_offset_not_number),
        T(onnx_external_offset_overflow),
        T(onnx_truncated_varint),
        T(onnx_packed_varint_truncated),
        T(onnx_length_past_end),
        T(onnx_model_length_past_end),
        T(onnx_nesting_too_deep),
        T(onnx_nesting_within_bound),
        T(onnx_dims_overflow),
        T(onnx_dims_bytes_overflow),
        T(onnx_dims_negative),
        T(onnx_raw_size_mismatch),
        T(onnx_value_count_mismatch),
        T(onnx_value_out_of_range),
        T(onnx_wrong_value_field),
        T(onnx_no_values),
        T(onnx_wrong_wire_type),
        T(onnx_no_graph),
        T(onnx_not_protobuf),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
