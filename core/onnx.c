/* ONNX reader. Walks ModelProto -> graph -> initializers and nodes, and on
 * into the subgraphs that node attributes hold (If branches, Loop and Scan
 * bodies), turning every TensorProto with a numeric data type into a tensor:
 * graph initializers and the `value` of Constant nodes. Field numbers and
 * data type codes are those of onnx.proto in the onnx/onnx repository.
 *
 * Where the bytes live decides how a tensor is kept:
 * - raw_data, and packed float_data or double_data written as one run, are
 *   little-endian byte ranges of the file: stored tensors;
 * - varint fields (int32_data, int64_data, uint64_data), unpacked or split
 *   runs are decoded into `owned` and marked derived, so the opaque segments
 *   around them restore the file;
 * - external data is a byte range of another file in the model's folder.
 * STRING tensors, unknown data type codes and the types el_dtype cannot
 * express when they sit in a varint field are skipped and counted in the
 * metadata. Those types (COMPLEX64/128, the FNUZ float8 variants, 4-bit
 * types) are kept as opaque U8 bytes when they are a byte range. Sparse
 * initializers, FunctionProto bodies and training graphs are not read: their
 * bytes stay in opaque segments. */
#include "formats.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protobuf.h"

#define FIX_FILE "the file is truncated, damaged or not an ONNX model: export the model again"

/* Subgraph levels below the main graph. Exporters nest a few levels (a Loop
 * inside an If branch); the bound keeps recursion on hostile files short. */
#define MAX_GRAPH_DEPTH 32

/* Tensors per model. Each el_tensor takes about 200 bytes while the
 * smallest TensorProto with data takes 7 bytes of the file, so the cap
 * bounds memory on files made of tiny tensors. NOTE: chosen well above
 * real models (tens of thousands of tensors), not measured. */
#define MAX_TENSORS (1u << 20)

/* Maximum bytes of a name quoted in an error message. */
#define QUOTE_MAX 64

/* Maximum bytes of the place ("graph 'g' > node 3 ...") shown in a message:
 * its innermost steps. */
#define WHERE_SHOWN 160

enum model_field {
    MODEL_IR_VERSION = 1, MODEL_PRODUCER_NAME = 2, MODEL_PRODUCER_VERSION = 3,
    MODEL_DOMAIN = 4, MODEL_MODEL_VERSION = 5, MODEL_GRAPH = 7,
    MODEL_OPSET_IMPORT = 8,
};
enum opset_field { OPSET_DOMAIN = 1, OPSET_VERSION = 2 };
enum graph_field { GRAPH_NODE = 1, GRAPH_NAME = 2, GRAPH_INITIALIZER = 5 };
enum node_field {
    NODE_OUTPUT = 2, NODE_NAME = 3, NODE_OP_TYPE = 4, NODE_ATTRIBUTE = 5,
    NODE_DOMAIN = 7,
};
enum attribute_field { ATTR_NAME = 1, ATTR_T = 5, ATTR_G = 6, ATTR_GRAPHS = 11 };
enum tensor_field {
    TENSOR_DIMS = 1, TENSOR_DATA_TYPE = 2, TENSOR_SEGMENT = 3,
    TENSOR_FLOAT_DATA = 4, TENSOR_INT32_DATA = 5, TENSOR_STRING_DATA = 6,
    TENSOR_INT64_DATA = 7, TENSOR_NAME = 8, TENSOR_RAW_DATA = 9,
    TENSOR_DOUBLE_DATA = 10, TENSOR_UINT64_DATA = 11, TENSOR_EXTERNAL_DATA = 13,
    TENSOR_DATA_LOCATION = 14,
};
enum entry_field { ENTRY_KEY = 1, ENTRY_VALUE = 2 };

enum { LOCATION_DEFAULT = 0, LOCATION_EXTERNAL = 1 };

typedef enum message {
    MSG_MODEL, MSG_OPSET, MSG_GRAPH, MSG_NODE, MSG_ATTRIBUTE, MSG_TENSOR, MSG_ENTRY,
} message;

static const char *const message_names[] = {
    "ModelProto", "OperatorSetIdProto", "GraphProto", "NodeProto",
    "AttributeProto", "TensorProto", "StringStringEntryProto",
};

/* Wire type of the TensorProto fields, which scan_tensor checks itself
 * because a repeated field comes packed or unpacked. */
#define ANY_WIRE (-1)

typedef struct field_name {
    message msg;
    uint32_t number;
    const char *name;
    int wire;               /* el_pb_wire, or ANY_WIRE */
} field_name;

static const field_name field_names[] = {
    { MSG_MODEL, MODEL_IR_VERSION, "ir_version", EL_PB_VARINT },
    { MSG_MODEL, MODEL_PRODUCER_NAME, "producer_name", EL_PB_LEN },
    { MSG_MODEL, MODEL_PRODUCER_VERSION, "producer_version", EL_PB_LEN },
    { MSG_MODEL, MODEL_DOMAIN, "domain", EL_PB_LEN },
    { MSG_MODEL, MODEL_MODEL_VERSION, "model_version", EL_PB_VARINT },
    { MSG_MODEL, MODEL_GRAPH, "graph", EL_PB_LEN },
    { MSG_MODEL, MODEL_OPSET_IMPORT, "opset_import", EL_PB_LEN },
    { MSG_OPSET, OPSET_DOMAIN, "domain", EL_PB_LEN },
    { MSG_OPSET, OPSET_VERSION, "version", EL_PB_VARINT },
    { MSG_GRAPH, GRAPH_NODE, "node", EL_PB_LEN },
    { MSG_GRAPH, GRAPH_NAME, "name", EL_PB_LEN },
    { MSG_GRAPH, GRAPH_INITIALIZER, "initializer", EL_PB_LEN },
    { MSG_NODE, NODE_OUTPUT, "output", EL_PB_LEN },
    { MSG_NODE, NODE_NAME, "name", EL_PB_LEN },
    { MSG_NODE, NODE_OP_TYPE, "op_type", EL_PB_LEN },
    { MSG_NODE, NODE_ATTRIBUTE, "attribute", EL_PB_LEN },
    { MSG_NODE, NODE_DOMAIN, "domain", EL_PB_LEN },
    { MSG_ATTRIBUTE, ATTR_NAME, "name", EL_PB_LEN },
    { MSG_ATTRIBUTE, ATTR_T, "t", EL_PB_LEN },
    { MSG_ATTRIBUTE, ATTR_G, "g", EL_PB_LEN },
    { MSG_ATTRIBUTE, ATTR_GRAPHS, "graphs", EL_PB_LEN },
    { MSG_TENSOR, TENSOR_DIMS, "dims", ANY_WIRE },
    { MSG_TENSOR, TENSOR_DATA_TYPE, "data_type", ANY_WIRE },
    { MSG_TENSOR, TENSOR_SEGMENT, "segment", ANY_WIRE },
    { MSG_TENSOR, TENSOR_FLOAT_DATA, "float_data", ANY_WIRE },
    { MSG_TENSOR, TENSOR_INT32_DATA, "int32_data", ANY_WIRE },
    { MSG_TENSOR, TENSOR_STRING_DATA, "string_data", ANY_WIRE },
    { MSG_TENSOR, TENSOR_INT64_DATA, "int64_data", ANY_WIRE },
    { MSG_TENSOR, TENSOR_NAME, "name", ANY_WIRE },
    { MSG_TENSOR, TENSOR_RAW_DATA, "raw_data", ANY_WIRE },
    { MSG_TENSOR, TENSOR_DOUBLE_DATA, "double_data", ANY_WIRE },
    { MSG_TENSOR, TENSOR_UINT64_DATA, "uint64_data", ANY_WIRE },
    { MSG_TENSOR, TENSOR_EXTERNAL_DATA, "external_data", ANY_WIRE },
    { MSG_TENSOR, TENSOR_DATA_LOCATION, "data_location", ANY_WIRE },
    { MSG_ENTRY, ENTRY_KEY, "key", EL_PB_LEN },
    { MSG_ENTRY, ENTRY_VALUE, "value", EL_PB_LEN },
};

/* An ONNX data type and how its values are kept. */
typedef struct onnx_type {
    uint64_t code;          /* TensorProto.DataType */
    const char *name;
    int opaque;             /* 1: el_dtype cannot express it, kept as U8 bytes */
    el_dtype dtype;
    unsigned bits;          /* per element */
    uint32_t field;         /* typed value field read, 0 when only raw bytes are */
    unsigned per_element;   /* values of that field per element (2 for complex) */
} onnx_type;

static const onnx_type onnx_types[] = {
    { 1, "FLOAT", 0, EL_F32, 32, TENSOR_FLOAT_DATA, 1 },
    { 2, "UINT8", 0, EL_U8, 8, TENSOR_INT32_DATA, 1 },
    { 3, "INT8", 0, EL_I8, 8, TENSOR_INT32_DATA, 1 },
    { 4, "UINT16", 0, EL_U16, 16, TENSOR_INT32_DATA, 1 },
    { 5, "INT16", 0, EL_I16, 16, TENSOR_INT32_DATA, 1 },
    { 6, "INT32", 0, EL_I32, 32, TENSOR_INT32_DATA, 1 },
    { 7, "INT64", 0, EL_I64, 64, TENSOR_INT64_DATA, 1 },
    { 9, "BOOL", 0, EL_BOOL, 8, TENSOR_INT32_DATA, 1 },
    { 10, "FLOAT16", 0, EL_F16, 16, TENSOR_INT32_DATA, 1 },
    { 11, "DOUBLE", 0, EL_F64, 64, TENSOR_DOUBLE_DATA, 1 },
    { 12, "UINT32", 0, EL_U32, 32, TENSOR_UINT64_DATA, 1 },
    { 13, "UINT64", 0, EL_U64, 64, TENSOR_UINT64_DATA, 1 },
    { 14, "COMPLEX64", 1, EL_U8, 64, TENSOR_FLOAT_DATA, 2 },
    { 15, "COMPLEX128", 1, EL_U8, 128, TENSOR_DOUBLE_DATA, 2 },
    { 16, "BFLOAT16", 0, EL_BF16, 16, TENSOR_INT32_DATA, 1 },
    { 17, "FLOAT8E4M3FN", 0, EL_F8_E4M3, 8, TENSOR_INT32_DATA, 1 },
    { 18, "FLOAT8E4M3FNUZ", 1, EL_U8, 8, 0, 1 },
    { 19, "FLOAT8E5M2", 0, EL_F8_E5M2, 8, TENSOR_INT32_DATA, 1 },
    { 20, "FLOAT8E5M2FNUZ", 1, EL_U8, 8, 0, 1 },
    { 21, "UINT4", 1, EL_U8, 4, 0, 1 },
    { 22, "INT4", 1, EL_U8, 4, 0, 1 },
    { 23, "FLOAT4E2M1", 1, EL_U8, 4, 0, 1 },
};

/* A slot of the open-addressing set of tensor names. */
typedef struct name_slot {
    size_t tensor;          /* index into model->tensors, SIZE_MAX when free */
    uint64_t next_suffix;   /* next "#N" to try for a repeat of this name */
} name_slot;

/* An external data file, opened once however many tensors use it. */
typedef struct external_file {
    char *real;             /* resolved path */
    size_t file;            /* index into model->files */
} external_file;

typedef struct onnx_reader {
    el_model *model;
    const char *path;
    char *dir;              /* folder of the .onnx file */
    char *dir_real;         /* the same, resolved */
    char *model_real;       /* the .onnx file, resolved */
    const uint8_t *map;     /* the .onnx file */
    uint64_t size;
    size_t file;            /* its index into model->files */
    size_t first_tensor;    /* tensors before this one were not added here */

    name_slot *names;
    size_t names_cap;
    size_t names_used;

    external_file *externals;
    size_t n_externals;

    uint64_t graph_name_offset, graph_name_length;     /* the main graph's */
    int depth;
    /* The place being read, "graph 'g' > node 3 'If_0' (If) > ...", for
     * messages. Room for MAX_GRAPH_DEPTH levels of three steps each, every
     * step at most two quoted names of QUOTE_MAX bytes and some words. */
    char where[MAX_GRAPH_DEPTH * 3 * (2 * QUOTE_MAX + 48)];

    uint64_t n_graphs, n_nodes, n_initializers, n_constants, n_skipped;
} onnx_reader;

/* The fields of one TensorProto that decide where its values are. */
typedef struct tensor_proto {
    uint64_t begin, end;            /* the message */
    uint64_t dims[EL_MAX_DIMS];
    int ndim;
    uint64_t data_type;
    uint64_t name_offset, name_length;
    uint32_t data_field;            /* typed value field in use, 0 when none */
    uint64_t n_runs;                /* occurrences of that field */
    uint64_t n_values;
    el_pb_field first_run;
    int has_raw;
    uint64_t raw_offset, raw_length;
    uint64_t data_location;
    int has_location, has_offset, has_length;
    uint64_t location_offset, location_length;     /* external_data values */
    uint64_t offset_text, offset_text_length;
    uint64_t length_text, length_text_length;
} tensor_proto;

/* The node a tensor attribute belongs to. */
typedef struct node_info {
    uint64_t index;
    uint64_t name_offset, name_length;
    uint64_t op_offset, op_length;
    uint64_t domain_offset, domain_length;
    uint64_t output_offset, output_length;
    int has_output;
} node_info;

/* ---- messages ---------------------------------------------------------- */

/* Fails with "PATH: WHERE: message". */
__attribute__((format(printf, 3, 4)))
static int fail(const onnx_reader *rd, el_error *err, const char *fmt, ...)
{
    char text[EL_ERROR_MAX];
    va_list args;
    va_start(args, fmt);
    vsnprintf(text, sizeof text, fmt, args);
    va_end(args);

    /* Deep subgraphs make a long path: keep its innermost steps. */
    const size_t len = strlen(rd->where);
    const char *where = len == 0 ? "model" : rd->where;
    const char *cut = len > WHERE_SHOWN ? "..." : "";
    if (len > WHERE_SHOWN)
        where += len - WHERE_SHOWN;
    return el_fail(err, "%s: %s%s: %s", rd->path, cut, where, text);
}

/* Appends a step to rd->where and returns the length to restore. */
__attribute__((format(printf, 2, 3)))
static size_t where_push(onnx_reader *rd, const char *fmt, ...)
{
    const size_t mark = strlen(rd->where);
    size_t used = mark;
    if (used > 0 && used + 3 < sizeof rd->where) {
        memcpy(rd->where + used, " > ", 4);
        used += 3;
    }

    va_list args;
    va_start(args, fmt);
    if (used < sizeof rd->where)
        vsnprintf(rd->where + used, sizeof rd->where - used, fmt, args);
    va_end(args);
    return mark;
}

static void where_pop(onnx_reader *rd, size_t mark)
{
    rd->where[mark] = '\0';
}

/* The name of a field listed in field_names, or NULL. */
static const char *field_label(message msg, uint32_t number)
{
    for (size_t i = 0; i < sizeof field_names / sizeof field_names[0]; i++)
        if (field_names[i].msg == msg && field_names[i].number == number)
            return field_names[i].name;
    return NULL;
}

/* "TensorProto field dims (1)", or "TensorProto field 99" for a field not
 * listed in field_names. */
typedef struct field_text {
    char text[96];
} field_text;

static field_text describe_field(message msg, uint32_t number)
{
    field_text d;
    const char *name = field_label(msg, number);
    if (name != NULL)
        snprintf(d.text, sizeof d.text, "%s field %s (%u)", message_names[msg], name,
                 (unsigned)number);
    else
        snprintf(d.text, sizeof d.text, "%s field %u", message_names[msg],
                 (unsigned)number);
    return d;
}

/* ---- text -------------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at s (n bytes left), or 0 when it is
 * invalid: overlong forms, surrogates and values above U+10FFFF. */
static size_t utf8_length(const uint8_t *s, uint64_t n)
{
    static const uint32_t min_value[5] = { 0, 0, 0x80, 0x800, 0x10000 };
    size_t len;
    uint32_t cp;

    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xc2 && s[0] <= 0xdf) {
        len = 2;
        cp = s[0] & 0x1fu;
    } else if (s[0] >= 0xe0 && s[0] <= 0xef) {
        len = 3;
        cp = s[0] & 0x0fu;
    } else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
        len = 4;
        cp = s[0] & 0x07u;
    } else {
        return 0;
    }
    if (len > n)
        return 0;

    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3fu);
    }
    if (cp < min_value[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

/* Copies at most `max` bytes of file text into a NUL-terminated string,
 * replacing control characters and invalid UTF-8 with '?', so that names
 * from the file are safe to show and to write as JSON. A sequence cut by
 * `max` is dropped. */
static void copy_text_into(char *out, const uint8_t *p, uint64_t n, uint64_t max)
{
    uint64_t i = 0;
    size_t k = 0;
    while (i < n && i < max) {
        const size_t len = utf8_length(p + i, n - i);
        if (len == 0 || p[i] < 0x20 || p[i] == 0x7f) {
            out[k++] = '?';
            i++;
            continue;
        }
        if (i + len > max)
            break;
        memcpy(out + k, p + i, len);
        k += len;
        i += len;
    }
    out[k] = '\0';
}

/* Returns a malloc'd safe copy of file text (see copy_text_into), or NULL. */
static char *copy_text(const onnx_reader *rd, uint64_t offset, uint64_t length)
{
    char *out = malloc((size_t)length + 1);
    if (out != NULL)
        copy_text_into(out, rd->map + offset, length, length);
    return out;
}

/* A safe copy of file text cut to QUOTE_MAX bytes, for messages. */
typedef struct quote {
    char text[QUOTE_MAX + 1];
} quote;

static quote quote_bytes(const void *text, uint64_t length)
{
    quote q;
    copy_text_into(q.text, text, length, QUOTE_MAX);
    return q;
}

static quote quote_text(const onnx_reader *rd, uint64_t offset, uint64_t length)
{
    return quote_bytes(rd->map + offset, length);
}

static int text_equals(const onnx_reader *rd, uint64_t offset, uint64_t length,
                       const char *s)
{
    return length == strlen(s) && memcmp(rd->map + offset, s, (size_t)length) == 0;
}

/* ---- fields ------------------------------------------------------------ */

/* Reads the next field of a `msg` message: 1, 0 at its end, or -1 with the
 * message naming the place and the field. */
static int next_field(const onnx_reader *rd, el_pb_reader *r, message msg,
                      el_pb_field *f, el_error *err)
{
    const int rc = el_pb_next(r, f, err);
    if (rc >= 0)
        return rc;

    char cause[EL_ERROR_MAX];
    memcpy(cause, err->msg, sizeof cause);
    if (f->number == 0)
        return fail(rd, err, "%s: %s; " FIX_FILE, message_names[msg], cause);
    return fail(rd, err, "%s: %s; " FIX_FILE, describe_field(msg, f->number).text,
                cause);
}

static const char *wire_name(el_pb_wire wire)
{
    switch (wire) {
    case EL_PB_VARINT: return "varint";
    case EL_PB_I64: return "64-bit";
    case EL_PB_LEN: return "length-delimited";
    case EL_PB_I32: return "32-bit";
    }
    return "unknown";
}

static int expect_wire(const onnx_reader *rd, message msg, const el_pb_field *f,
                       el_pb_wire wire, el_error *err)
{
    if (f->wire == wire)
        return 0;
    return fail(rd, err, "%s at byte %llu is %s, expected %s; " FIX_FILE,
                describe_field(msg, f->number).text,
                (unsigned long long)f->key_offset, wire_name(f->wire),
                wire_name(wire));
}

/* Checks the framing of every field of a message and the wire type of
 * each field listed in field_names. */
static int check_fields(const onnx_reader *rd, el_pb_reader r, message msg,
                        el_error *err)
{
    el_pb_field f;
    int rc;
    while ((rc = next_field(rd, &r, msg, &f, err)) > 0) {
        for (size_t i = 0; i < sizeof field_names / sizeof field_names[0]; i++) {
            const field_name *known = &field_names[i];
            if (known->msg == msg && known->number == f.number &&
                known->wire != ANY_WIRE &&
                expect_wire(rd, msg, &f, (el_pb_wire)known->wire, err) != 0)
                return -1;
        }
    }
    return rc;
}

/* ---- names ------------------------------------------------------------- */

static uint64_t hash_name(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ULL;     /* FNV-1a */
    for (; *s != '\0'; s++)
        h = (h ^ (uint8_t)*s) * 0x100000001b3ULL;
    return h;
}

/* The slot holding `name`, or the free slot where it would go. */
static name_slot *find_slot(const onnx_reader *rd, const char *name)
{
    size_t i = (size_t)hash_name(name) & (rd->names_cap - 1);
    for (;;) {
        name_slot *s = &rd->names[i];
        if (s->tensor == SIZE_MAX || strcmp(rd->model->tensors[s->tensor].name, name) == 0)
            return s;
        i = (i + 1) & (rd->names_cap - 1);
    }
}

/* Grows the set to keep it at most half full. */
static int grow_names(onnx_reader *rd, el_error *err)
{
    if (2 * (rd->names_used + 1) <= rd->names_cap)
        return 0;

    const size_t cap = rd->names_cap > 0 ? 2 * rd->names_cap : 64;
    name_slot *old = rd->names;
    const size_t old_cap = rd->names_cap;

    rd->names = malloc(cap * sizeof *rd->names);
    if (rd->names == NULL) {
        rd->names = old;
        return fail(rd, err, "out of memory for %zu tensor names", rd->names_used);
    }
    rd->names_cap = cap;
    for (size_t i = 0; i < cap; i++)
        rd->names[i] = (name_slot){ SIZE_MAX, 0 };

    for (size_t i = 0; i < old_cap; i++)
        if (old[i].tensor != SIZE_MAX)
            *find_slot(rd, rd->model->tensors[old[i].tensor].name) = old[i];
    free(old);
    return 0;
}

/* Returns a malloc'd name not yet used in the model: `base` itself, or base
 * followed by "#2", "#3", ... (the first free one), since ONNX names may
 * repeat across subgraphs. Each name keeps its next suffix, so many
 * repeats cost linear time. */
static char *unique_name(onnx_reader *rd, const char *base)
{
    name_slot *slot = find_slot(rd, base);
    if (slot->tensor == SIZE_MAX)
        return strdup(base);

    for (;;) {
        if (slot->next_suffix < 2)
            slot->next_suffix = 2;
        char *candidate = NULL;
        if (asprintf(&candidate, "%s#%llu", base,
                     (unsigned long long)slot->next_suffix++) < 0)
            return NULL;
        if (find_slot(rd, candidate)->tensor == SIZE_MAX)
            return candidate;
        free(candidate);
    }
}

/* Records model->tensors[index] in the name set, which has room for it. */
static void remember_name(onnx_reader *rd, size_t index)
{
    name_slot *slot = find_slot(rd, rd->model->tensors[index].name);
    slot->tensor = index;
    slot->next_suffix = 0;
    rd->names_used++;
}

/* ---- tensor fields ----------------------------------------------------- */

static int is_value_field(uint32_t number)
{
    return number == TENSOR_FLOAT_DATA || number == TENSOR_INT32_DATA ||
           number == TENSOR_STRING_DATA || number == TENSOR_INT64_DATA ||
           number == TENSOR_DOUBLE_DATA || number == TENSOR_UINT64_DATA;
}

/* Bytes per value of a fixed-width value field, 0 for varint fields. */
static unsigned fixed_width(uint32_t number)
{
    if (number == TENSOR_FLOAT_DATA)
        return 4;
    if (number == TENSOR_DOUBLE_DATA)
        return 8;
    return 0;
}

static el_pb_wire unpacked_wire(uint32_t number)
{
    if (number == TENSOR_FLOAT_DATA)
        return EL_PB_I32;
    if (number == TENSOR_DOUBLE_DATA)
        return EL_PB_I64;
    return EL_PB_VARINT;
}

static int add_dim(const onnx_reader *rd, tensor_proto *tp, uint64_t value,
                   el_error *err)
{
    if (tp->ndim >= EL_MAX_DIMS)
        return fail(rd, err, "field dims has more than %d entries, the maximum "
                    "supported", EL_MAX_DIMS);
    if (value > (uint64_t)INT64_MAX)
        return fail(rd, err, "field dims entry %d is %lld, expected a size of 0 "
                    "or more; " FIX_FILE, tp->ndim, (long long)(int64_t)value);
    tp->dims[tp->ndim++] = value;
    return 0;
}

/* Reads dims, packed (one payload of varints) or unpacked (one key each). */
static int read_dims(const onnx_reader *rd, const el_pb_field *f, tensor_proto *tp,
                     el_error *err)
{
    if (f->wire == EL_PB_VARINT)
        return add_dim(rd, tp, f->value, err);
    if (expect_wire(rd, MSG_TENSOR, f, EL_PB_LEN, err) != 0)
        return -1;

    uint64_t pos = f->offset;
    const uint64_t end = f->offset + f->length;
    while (pos < end) {
        uint64_t value;
        if (el_pb_read_varint(rd->map, &pos, end, &value, err) != 0) {
            char cause[EL_ERROR_MAX];
            memcpy(cause, err->msg, sizeof cause);
            return fail(rd, err, "TensorProto field dims (1): %s; " FIX_FILE, cause);
        }
        if (add_dim(rd, tp, value, err) != 0)
            return -1;
    }
    return 0;
}

/* Counts the values one occurrence of a value field adds. */
static int count_values(const onnx_reader *rd, const el_pb_field *f, uint64_t *n,
                        el_error *err)
{
    const char *name = field_label(MSG_TENSOR, f->number);
    const unsigned width = fixed_width(f->number);

    if (f->wire == unpacked_wire(f->number) && f->number != TENSOR_STRING_DATA) {
        *n = 1;
        return 0;
    }
    if (expect_wire(rd, MSG_TENSOR, f, EL_PB_LEN, err) != 0)
        return -1;

    if (f->number == TENSOR_STRING_DATA) {
        *n = 1;
        return 0;
    }
    if (width > 0) {
        if (f->length % width != 0)
            return fail(rd, err, "field %s at byte %llu has %llu bytes, not a "
                        "multiple of %u; " FIX_FILE, name,
                        (unsigned long long)f->key_offset,
                        (unsigned long long)f->length, width);
        *n = f->length / width;
        return 0;
    }
    if (el_pb_count_varints(rd->map, f->offset, f->offset + f->length, n, err) != 0) {
        char cause[EL_ERROR_MAX];
        memcpy(cause, err->msg, sizeof cause);
        return fail(rd, err, "field %s: %s; " FIX_FILE, name, cause);
    }
    return 0;
}

static int read_value_field(const onnx_reader *rd, const el_pb_field *f,
                            tensor_proto *tp, el_error *err)
{
    if (tp->data_field != 0 && tp->data_field != f->number)
        return fail(rd, err, "fields %s and %s both contain values, expected one; "
                    FIX_FILE, field_label(MSG_TENSOR, tp->data_field),
                    field_label(MSG_TENSOR, f->number));

    uint64_t n = 0;
    if (count_values(rd, f, &n, err) != 0)
        return -1;

    if (tp->n_runs == 0)
        tp->first_run = *f;
    tp->data_field = f->number;
    tp->n_runs++;
    tp->n_values += n;
    return 0;
}

/* Reads one external_data key/value pair; keys other than location, offset
 * and length (checksum, and any a later writer adds) are ignored. */
static int read_external_entry(const onnx_reader *rd, const el_pb_field *f,
                               tensor_proto *tp, el_error *err)
{
    el_pb_reader r;
    el_pb_init(&r, rd->map, f->offset, f->offset + f->length);

    el_pb_field key = { 0 }, value = { 0 }, e;
    int has_key = 0, rc;
    while ((rc = next_field(rd, &r, MSG_ENTRY, &e, err)) > 0) {
        if (e.number != ENTRY_KEY && e.number != ENTRY_VALUE)
            continue;
        if (expect_wire(rd, MSG_ENTRY, &e, EL_PB_LEN, err) != 0)
            return -1;
        if (e.number == ENTRY_KEY) {
            key = e;
            has_key = 1;
        } else {
            value = e;
        }
    }
    if (rc < 0 || !has_key)
        return rc;

    if (text_equals(rd, key.offset, key.length, "location")) {
        tp->has_location = 1;
        tp->location_offset = value.offset;
        tp->location_length = value.length;
    } else if (text_equals(rd, key.offset, key.length, "offset")) {
        tp->has_offset = 1;
        tp->offset_text = value.offset;
        tp->offset_text_length = value.length;
    } else if (text_equals(rd, key.offset, key.length, "length")) {
        tp->has_length = 1;
        tp->length_text = value.offset;
        tp->length_text_length = value.length;
    }
    return 0;
}

/* Reads the fields of a TensorProto that decide where its values are. */
static int scan_tensor(const onnx_reader *rd, el_pb_reader r, tensor_proto *tp,
                       el_error *err)
{
    el_pb_field f;
    int rc;
    while ((rc = next_field(rd, &r, MSG_TENSOR, &f, err)) > 0) {
        switch (f.number) {
        case TENSOR_DIMS:
            rc = read_dims(rd, &f, tp, err);
            break;
        case TENSOR_DATA_TYPE:
            rc = expect_wire(rd, MSG_TENSOR, &f, EL_PB_VARINT, err);
            tp->data_type = f.value;
            break;
        case TENSOR_SEGMENT:
            rc = fail(rd, err, "field segment is set: tensors split into segments "
                      "are not supported; export the model without segments");
            break;
        case TENSOR_NAME:
            rc = expect_wire(rd, MSG_TENSOR, &f, EL_PB_LEN, err);
            tp->name_offset = f.offset;
            tp->name_length = f.length;
            break;
        case TENSOR_RAW_DATA:
            rc = expect_wire(rd, MSG_TENSOR, &f, EL_PB_LEN, err);
            tp->has_raw = 1;
            tp->raw_offset = f.offset;
            tp->raw_length = f.length;
            break;
        case TENSOR_EXTERNAL_DATA:
            rc = expect_wire(rd, MSG_TENSOR, &f, EL_PB_LEN, err);
            if (rc == 0)
                rc = read_external_entry(rd, &f, tp, err);
            break;
        case TENSOR_DATA_LOCATION:
            rc = expect_wire(rd, MSG_TENSOR, &f, EL_PB_VARINT, err);
            tp->data_location = f.value;
            break;
        default:
            if (is_value_field(f.number))
                rc = read_value_field(rd, &f, tp, err);
            else
                rc = 0;     /* doc_string, metadata_props, later additions */
            break;
        }
        if (rc != 0)
            return -1;
    }
    return rc;
}

static const onnx_type *find_type(uint64_t code)
{
    for (size_t i = 0; i < sizeof onnx_types / sizeof onnx_types[0]; i++)
        if (onnx_types[i].code == code)
            return &onnx_types[i];
    return NULL;
}

static void format_dims(const tensor_proto *tp, char *buf, size_t len)
{
    el_tensor t = { .ndim = tp->ndim };
    memcpy(t.shape, tp->dims, sizeof t.shape);
    el_shape_format(&t, buf, len);
}

/* Element count and byte size from dims and the type, checking overflow. */
static int tensor_size(const onnx_reader *rd, const tensor_proto *tp,
                       const onnx_type *type, uint64_t *count, uint64_t *nbytes,
                       el_error *err)
{
    uint64_t n = 1;
    for (int d = 0; d < tp->ndim; d++) {
        if (tp->dims[d] != 0 && n > UINT64_MAX / tp->dims[d])
            return fail(rd, err, "the product of field dims overflows 64 bits at "
                        "entry %d (%llu); " FIX_FILE, d,
                        (unsigned long long)tp->dims[d]);
        n *= tp->dims[d];
    }

    /* Bits per element divide by 8 except for the 4-bit types, which pack
     * two elements per byte with the last byte half used. */
    if (n > (UINT64_MAX - 7) / type->bits)
        return fail(rd, err, "field dims gives %llu %s elements, whose byte size "
                    "overflows 64 bits; " FIX_FILE, (unsigned long long)n, type->name);
    *count = n;
    *nbytes = (n * type->bits + 7) / 8;
    return 0;
}

/* Parses a non-negative decimal integer written as text (external_data
 * offset and length). */
static int parse_decimal(const onnx_reader *rd, const char *key, uint64_t offset,
                         uint64_t length, uint64_t *out, el_error *err)
{
    const quote q = quote_text(rd, offset, length);
    uint64_t v = 0;
    if (length == 0)
        return fail(rd, err, "external_data '%s' is empty, expected a byte count; "
                    FIX_FILE, key);

    for (uint64_t i = 0; i < length; i++) {
        const uint8_t c = rd->map[offset + i];
        if (c < '0' || c > '9')
            return fail(rd, err, "external_data '%s' is '%s', expected a decimal "
                        "byte count; " FIX_FILE, key, q.text);
        if (v > (UINT64_MAX - (c - '0')) / 10)
            return fail(rd, err, "external_data '%s' is '%s', which overflows 64 "
                        "bits; " FIX_FILE, key, q.text);
        v = v * 10 + (c - '0');
    }
    *out = v;
    return 0;
}

/* Checks that an external data location is a relative path that stays in
 * the model's folder, by its text: no absolute path, no ".." component, no
 * backslash and no NUL. */
static int check_location_text(const onnx_reader *rd, const tensor_proto *tp,
                               el_error *err)
{
    const uint8_t *p = rd->map + tp->location_offset;
    const uint64_t n = tp->location_length;
    const quote q = quote_text(rd, tp->location_offset, n);
    const char *problem = NULL;

    if (n == 0)
        problem = "is empty";
    else if (p[0] == '/')
        problem = "is an absolute path";
    else if (memchr(p, '\0', (size_t)n) != NULL)
        problem = "contains a NUL byte";
    else if (memchr(p, '\\', (size_t)n) != NULL)
        problem = "contains a backslash; use '/' between folders";

    for (uint64_t start = 0; problem == NULL && start <= n;) {
        uint64_t stop = start;
        while (stop < n && p[stop] != '/')
            stop++;
        if (stop - start == 2 && p[start] == '.' && p[start + 1] == '.')
            problem = "has a '..' component";
        start = stop + 1;
    }

    if (problem != NULL)
        return fail(rd, err, "external_data location '%s' %s; external data must "
                    "be a relative path inside the model's folder", q.text, problem);
    return 0;
}

/* Adds an external data file to the model and takes ownership of `real`.
 * NOTE: the container keeps each file under its base name, so data in a
 * subfolder restores next to the model file. Two files with the same base
 * name would collide there, so they are rejected. */
static int add_external(onnx_reader *rd, const char *path, char *real,
                        size_t *file, el_error *err)
{
    const char *slash = strrchr(path, '/');
    const char *base = slash != NULL ? slash + 1 : path;
    for (size_t i = 0; i < rd->model->n_files; i++) {
        if (strcmp(rd->model->files[i].name, base) == 0) {
            free(real);
            return fail(rd, err, "external data file %s has the same name as %s "
                        "of this model; give the files distinct names",
                        path, rd->model->files[i].path);
        }
    }

    external_file *grown = realloc(rd->externals,
                                   (rd->n_externals + 1) * sizeof *grown);
    if (grown == NULL) {
        free(real);
        return fail(rd, err, "out of memory");
    }
    rd->externals = grown;
    rd->externals[rd->n_externals].real = real;

    if (el_model_add_file(rd->model, path, file, err) != 0) {
        free(real);
        return el_fail_context(err, "%s: %s: external data", rd->path, rd->where);
    }
    rd->externals[rd->n_externals++].file = *file;
    return 0;
}

/* Opens the file an external data location names, once per distinct file,
 * after resolving symbolic links to check that it is still inside the
 * model's folder and is not the model itself. */
static int open_external(onnx_reader *rd, const tensor_proto *tp, size_t *file,
                         el_error *err)
{
    if (check_location_text(rd, tp, err) != 0)
        return -1;

    char *location = copy_text(rd, tp->location_offset, tp->location_length);
    char *joined = NULL;
    if (location == NULL || asprintf(&joined, "%s/%s", rd->dir, location) < 0) {
        free(location);
        return fail(rd, err, "out of memory");
    }

    int rc = 0;
    char *real = realpath(joined, NULL);
    const size_t dir_len = strlen(rd->dir_real);
    if (real == NULL)
        rc = fail(rd, err, "external_data location '%s': cannot open %s: %s",
                  location, joined, strerror(errno));
    else if (strncmp(real, rd->dir_real, dir_len) != 0 ||
             (real[dir_len] != '/' && strcmp(rd->dir_real, "/") != 0))
        rc = fail(rd, err, "external_data location '%s' resolves to %s, outside "
                  "the model's folder %s; external data must be inside it",
                  location, real, rd->dir_real);
    else if (strcmp(real, rd->model_real) == 0)
        rc = fail(rd, err, "external_data location '%s' names the model file "
                  "itself; " FIX_FILE, location);

    for (size_t i = 0; rc == 0 && i < rd->n_externals; i++) {
        if (strcmp(rd->externals[i].real, real) == 0) {
            *file = rd->externals[i].file;
            free(real);
            free(joined);
            free(location);
            return 0;
        }
    }

    if (rc == 0)
        rc = add_external(rd, joined, real, file, err);
    else
        free(real);
    free(joined);
    free(location);
    return rc;
}

/* ---- tensor values ----------------------------------------------------- */

/* Writes the low `width` bytes of v little-endian as element i of out. */
static void put_le(uint8_t *out, uint64_t i, unsigned width, uint64_t v)
{
    for (unsigned b = 0; b < width; b++)
        out[i * width + b] = (uint8_t)(v >> (8 * b));
}

/* Stores a value of a varint field as element i, checking that it fits the
 * data type. int32_data carries every type of 32 bits or less: 16-bit and
 * 8-bit floats as their bit patterns, BOOL as 0 or 1. */
static int put_varint(const onnx_reader *rd, const onnx_type *type, uint32_t field,
                      uint64_t value, uint64_t i, uint8_t *out, el_error *err)
{
    const unsigned width = (unsigned)el_dtype_size(type->dtype);
    int64_t v;
    int64_t lo = 0, hi = 0;

    if (field == TENSOR_INT32_DATA) {
        /* Protobuf reads an int32 field by keeping the low 32 bits. */
        v = (int32_t)(uint32_t)value;
        switch (type->dtype) {
        case EL_I32: lo = INT32_MIN; hi = INT32_MAX; break;
        case EL_I16: lo = INT16_MIN; hi = INT16_MAX; break;
        case EL_I8: lo = INT8_MIN; hi = INT8_MAX; break;
        case EL_BOOL: hi = 1; break;
        case EL_U16: case EL_F16: case EL_BF16: hi = UINT16_MAX; break;
        default: hi = UINT8_MAX; break;
        }
    } else if (field == TENSOR_UINT64_DATA && type->dtype == EL_U32) {
        if (value > UINT32_MAX)
            return fail(rd, err, "field uint64_data value %llu at index %llu does not "
                        "fit in UINT32; " FIX_FILE, (unsigned long long)value,
                        (unsigned long long)i);
        put_le(out, i, width, value);
        return 0;
    } else {
        put_le(out, i, width, value);       /* int64_data, uint64_data as UINT64 */
        return 0;
    }

    if (v < lo || v > hi)
        return fail(rd, err, "field int32_data value %lld at index %llu is out of "
                    "range for %s (%lld to %lld); " FIX_FILE, (long long)v,
                    (unsigned long long)i, type->name, (long long)lo, (long long)hi);
    put_le(out, i, width, (uint64_t)v);
    return 0;
}

/* Decodes every occurrence of the value field into out, which has room for
 * all of them: scan_tensor has checked the framing and counted them. */
static int decode_values(const onnx_reader *rd, const tensor_proto *tp,
                         const onnx_type *type, uint8_t *out, el_error *err)
{
    const unsigned width = fixed_width(tp->data_field);
    el_pb_reader r;
    el_pb_init(&r, rd->map, tp->begin, tp->end);

    uint64_t i = 0;
    el_pb_field f;
    int rc;
    while ((rc = el_pb_next(&r, &f, err)) > 0) {
        if (f.number != tp->data_field)
            continue;

        if (width > 0 && f.wire == EL_PB_LEN) {
            memcpy(out + i * width, rd->map + f.offset, (size_t)f.length);
            i += f.length / width;
        } else if (width > 0) {
            put_le(out, i++, width, f.value);
        } else if (f.wire == EL_PB_LEN) {
            uint64_t pos = f.offset;
            while (pos < f.offset + f.length) {
                uint64_t value;
                if (el_pb_read_varint(rd->map, &pos, f.offset + f.length, &value,
                                      err) != 0 ||
                    put_varint(rd, type, tp->data_field, value, i++, out, err) != 0)
                    return -1;
            }
        } else if (put_varint(rd, type, tp->data_field, f.value, i++, out, err) != 0) {
            return -1;
        }
    }
    return rc;
}

/* Where a tensor's bytes are. */
typedef struct placement {
    size_t file;
    uint64_t offset;
    const uint8_t *data;
    uint8_t *owned;
    int derived;
} placement;

static int place_raw(const onnx_reader *rd, const tensor_proto *tp,
                     const onnx_type *type, uint64_t nbytes, placement *pl,
                     el_error *err)
{
    if (tp->data_field != 0)
        return fail(rd, err, "fields raw_data and %s both contain values, expected "
                    "one; " FIX_FILE, field_label(MSG_TENSOR, tp->data_field));
    if (tp->raw_length != nbytes) {
        char shape[128];
        format_dims(tp, shape, sizeof shape);
        return fail(rd, err, "field raw_data has %llu bytes, but dims %s of %s "
                    "need %llu; " FIX_FILE, (unsigned long long)tp->raw_length,
                    shape, type->name, (unsigned long long)nbytes);
    }

    pl->file = rd->file;
    pl->offset = tp->raw_offset;
    pl->data = rd->map + tp->raw_offset;
    return 0;
}

static int place_external(onnx_reader *rd, const tensor_proto *tp, uint64_t nbytes,
                          placement *pl, el_error *err)
{
    if (tp->has_raw || tp->data_field != 0)
        return fail(rd, err, "field data_location is EXTERNAL, but field %s contains "
                    "values too; " FIX_FILE, tp->has_raw ? "raw_data"
                    : field_label(MSG_TENSOR, tp->data_field));
    if (!tp->has_location)
        return fail(rd, err, "field data_location is EXTERNAL, but external_data "
                    "has no 'location' key; " FIX_FILE);

    uint64_t offset = 0, length = nbytes;
    if ((tp->has_offset && parse_decimal(rd, "offset", tp->offset_text,
                                         tp->offset_text_length, &offset, err) != 0) ||
        (tp->has_length && parse_decimal(rd, "length", tp->length_text,
                                         tp->length_text_length, &length, err) != 0))
        return -1;
    if (length != nbytes)
        return fail(rd, err, "external_data length %llu disagrees with the %llu "
                    "bytes that dims and data_type give; " FIX_FILE,
                    (unsigned long long)length, (unsigned long long)nbytes);

    size_t file;
    if (open_external(rd, tp, &file, err) != 0)
        return -1;

    const el_file *f = &rd->model->files[file];
    if (offset > f->size || length > f->size - offset)
        return fail(rd, err, "external_data offset %llu + length %llu is past the "
                    "end of %s (%llu bytes); the external data file is truncated or "
                    "does not belong to this model", (unsigned long long)offset,
                    (unsigned long long)length, f->path, (unsigned long long)f->size);

    pl->file = file;
    pl->offset = offset;
    pl->data = f->map != NULL ? f->map + offset : NULL;
    return 0;
}

/* Places values held in a typed field. Returns 0, 1 when the tensor is
 * skipped (a type el_dtype cannot express, in a varint field), or -1. */
static int place_values(const onnx_reader *rd, const tensor_proto *tp,
                        const onnx_type *type, uint64_t count, uint64_t nbytes,
                        placement *pl, el_error *err)
{
    const char *field = field_label(MSG_TENSOR, tp->data_field);
    if (type->field == 0 && tp->data_field == TENSOR_INT32_DATA)
        return 1;
    if (type->field != tp->data_field)
        return fail(rd, err, "field %s is not valid for data type %s; " FIX_FILE,
                    field, type->name);
    if (tp->n_values / type->per_element != count ||
        tp->n_values % type->per_element != 0) {
        char shape[128];
        format_dims(tp, shape, sizeof shape);
        return fail(rd, err, "field %s has %llu values, but dims %s give %llu "
                    "elements; " FIX_FILE, field, (unsigned long long)tp->n_values,
                    shape, (unsigned long long)count);
    }

    pl->file = rd->file;
    if (fixed_width(tp->data_field) > 0 && tp->n_runs == 1 &&
        tp->first_run.wire == EL_PB_LEN) {
        pl->offset = tp->first_run.offset;
        pl->data = rd->map + pl->offset;
        return 0;
    }

    /* The decoded values are at most 8 bytes per value, and every value
     * takes at least one byte of the file. */
    pl->owned = malloc(nbytes > 0 ? (size_t)nbytes : 1);
    if (pl->owned == NULL)
        return fail(rd, err, "out of memory decoding %llu bytes of field %s",
                    (unsigned long long)nbytes, field);
    if (decode_values(rd, tp, type, pl->owned, err) != 0) {
        free(pl->owned);
        pl->owned = NULL;
        return -1;
    }
    pl->offset = tp->first_run.key_offset;
    pl->data = pl->owned;
    pl->derived = 1;
    return 0;
}

/* Decides where the values of a checked TensorProto are: 0, 1 to skip the
 * tensor, or -1. */
static int place_tensor(onnx_reader *rd, const tensor_proto *tp,
                        const onnx_type *type, uint64_t count, uint64_t nbytes,
                        placement *pl, el_error *err)
{
    if (tp->data_location == LOCATION_EXTERNAL)
        return place_external(rd, tp, nbytes, pl, err);
    if (tp->data_location != LOCATION_DEFAULT)
        return fail(rd, err, "field data_location is %llu, expected 0 (DEFAULT) or "
                    "1 (EXTERNAL); " FIX_FILE, (unsigned long long)tp->data_location);
    if (tp->has_raw)
        return place_raw(rd, tp, type, nbytes, pl, err);
    if (tp->data_field != 0)
        return place_values(rd, tp, type, count, nbytes, pl, err);
    if (nbytes > 0)
        return fail(rd, err, "dims give %llu elements, but none of raw_data, the "
                    "typed value fields and external_data contains values; " FIX_FILE,
                    (unsigned long long)count);

    pl->file = rd->file;
    pl->offset = tp->begin;
    pl->data = rd->map + tp->begin;
    return 0;
}

/* Appends the tensor to the model under a unique name. */
static int append_tensor(onnx_reader *rd, const tensor_proto *tp,
                         const onnx_type *type, const char *base, uint64_t count,
                         uint64_t nbytes, placement *pl, el_error *err)
{
    if (rd->model->n_tensors >= MAX_TENSORS)
        return fail(rd, err, "the model has more than %u tensors, the most this "
                    "reader accepts", MAX_TENSORS);
    if (grow_names(rd, err) != 0)
        return -1;

    char *name = unique_name(rd, base);
    el_tensor *t = name != NULL ? el_model_add_tensor(rd->model, err) : NULL;
    if (t == NULL) {
        free(name);
        return fail(rd, err, "out of memory adding tensor '%s'", base);
    }

    t->name = name;
    t->file = pl->file;
    t->offset = pl->offset;
    t->data = pl->data;
    t->owned = pl->owned;
    t->derived = pl->derived;
    t->nbytes = nbytes;
    pl->owned = NULL;

    if (type->opaque) {
        t->dtype = EL_U8;
        t->type_name = type->name;
        t->ndim = 1;
        t->shape[0] = nbytes;
        t->count = nbytes;
    } else {
        t->dtype = type->dtype;
        t->ndim = tp->ndim;
        memcpy(t->shape, tp->dims, sizeof t->shape);
        t->count = count;
    }
    remember_name(rd, rd->model->n_tensors - 1);
    return 0;
}

typedef enum tensor_kind { KIND_INITIALIZER, KIND_CONSTANT } tensor_kind;

/* Finds the last length-delimited field `number` of a message before the
 * message is checked, so that messages about its other fields can name it.
 * Stops quietly at the first malformed field, which the check reports. */
static void peek_text(el_pb_reader r, uint32_t number, uint64_t *offset,
                      uint64_t *length)
{
    el_pb_field f;
    while (el_pb_next(&r, &f, NULL) > 0) {
        if (f.number == number && f.wire == EL_PB_LEN) {
            *offset = f.offset;
            *length = f.length;
        }
    }
}

/* Reads a TensorProto into a tensor named `preferred` when that is not
 * empty, else by its own name, else `fallback`. */
static int read_tensor(onnx_reader *rd, el_pb_reader r, tensor_kind kind,
                       uint64_t index, const char *preferred, const char *fallback,
                       el_error *err)
{
    tensor_proto tp = { .begin = r.pos, .end = r.end };
    peek_text(r, TENSOR_NAME, &tp.name_offset, &tp.name_length);
    char *own_name = copy_text(rd, tp.name_offset, tp.name_length);
    if (own_name == NULL)
        return fail(rd, err, "out of memory");
    const char *base = preferred != NULL && preferred[0] != '\0' ? preferred
                       : own_name[0] != '\0' ? own_name : fallback;

    const quote q = quote_bytes(base, strlen(base));
    const size_t mark = where_push(rd, "%s %llu '%s'",
                                   kind == KIND_INITIALIZER ? "initializer" : "constant",
                                   (unsigned long long)index, q.text);
    if (scan_tensor(rd, r, &tp, err) != 0) {
        free(own_name);
        where_pop(rd, mark);
        return -1;
    }

    const onnx_type *type = find_type(tp.data_type);
    uint64_t count = 0, nbytes = 0;
    placement pl = { 0 };
    int rc = type == NULL ? 1 : tensor_size(rd, &tp, type, &count, &nbytes, err);
    if (rc == 0)
        rc = place_tensor(rd, &tp, type, count, nbytes, &pl, err);
    if (rc == 0)
        rc = append_tensor(rd, &tp, type, base, count, nbytes, &pl, err);

    if (rc == 1)
        rd->n_skipped++;
    else if (rc == 0 && kind == KIND_INITIALIZER)
        rd->n_initializers++;
    else if (rc == 0)
        rd->n_constants++;

    free(pl.owned);
    free(own_name);
    where_pop(rd, mark);
    return rc < 0 ? -1 : 0;
}

/* ---- graphs ------------------------------------------------------------ */

static int read_graph(onnx_reader *rd, el_pb_reader r, el_error *err);

/* Whether the node is the standard Constant operator. */
static int is_constant(const onnx_reader *rd, const node_info *node)
{
    return text_equals(rd, node->op_offset, node->op_length, "Constant") &&
           (node->domain_length == 0 ||
            text_equals(rd, node->domain_offset, node->domain_length, "ai.onnx"));
}

/* Reads a Constant node's tensor, named by the node's output. */
static int read_constant(onnx_reader *rd, el_pb_reader r, const node_info *node,
                         el_error *err)
{
    char *output = copy_text(rd, node->output_offset, node->output_length);
    char *fallback = copy_text(rd, node->name_offset, node->name_length);
    int rc;
    if (output == NULL || fallback == NULL)
        rc = fail(rd, err, "out of memory");
    else
        rc = read_tensor(rd, r, KIND_CONSTANT, node->index, output,
                         fallback[0] != '\0' ? fallback : "constant", err);
    free(output);
    free(fallback);
    return rc;
}

/* Reads one attribute: the `value` tensor of a Constant node, and the
 * subgraphs in fields g and graphs (If branches, Loop and Scan bodies). The
 * tensors of other attributes (ConstantOfShape's value) stay opaque. */
static int read_attribute(onnx_reader *rd, el_pb_reader r, const node_info *node,
                          el_error *err)
{
    uint64_t name_offset = 0, name_length = 0;
    peek_text(r, ATTR_NAME, &name_offset, &name_length);
    const quote q = quote_text(rd, name_offset, name_length);
    const size_t mark = where_push(rd, "attribute '%s'", q.text);
    const int is_value = is_constant(rd, node) &&
                         text_equals(rd, name_offset, name_length, "value");

    int step = check_fields(rd, r, MSG_ATTRIBUTE, err);
    el_pb_field f;
    while (step == 0 && el_pb_next(&r, &f, err) > 0) {
        if (f.number == ATTR_T && is_value)
            step = read_constant(rd, el_pb_payload(&r, &f), node, err);
        else if (f.number == ATTR_G || f.number == ATTR_GRAPHS)
            step = read_graph(rd, el_pb_payload(&r, &f), err);
    }

    where_pop(rd, mark);
    return step;
}

/* Finds the node's name, operator, domain and first output. */
static void peek_node(el_pb_reader r, node_info *node)
{
    el_pb_field f;
    while (el_pb_next(&r, &f, NULL) > 0) {
        if (f.wire != EL_PB_LEN)
            continue;
        if (f.number == NODE_OUTPUT && !node->has_output) {
            node->output_offset = f.offset;
            node->output_length = f.length;
            node->has_output = 1;
        } else if (f.number == NODE_NAME) {
            node->name_offset = f.offset;
            node->name_length = f.length;
        } else if (f.number == NODE_OP_TYPE) {
            node->op_offset = f.offset;
            node->op_length = f.length;
        } else if (f.number == NODE_DOMAIN) {
            node->domain_offset = f.offset;
            node->domain_length = f.length;
        }
    }
}

static int read_node(onnx_reader *rd, el_pb_reader r, uint64_t index, el_error *err)
{
    node_info node = { .index = index };
    peek_node(r, &node);
    const quote name = quote_text(rd, node.name_offset, node.name_length);
    const quote op = quote_text(rd, node.op_offset, node.op_length);
    const size_t mark = where_push(rd, "node %llu '%s' (%s)",
                                   (unsigned long long)index, name.text, op.text);
    rd->n_nodes++;

    int step = check_fields(rd, r, MSG_NODE, err);
    el_pb_field f;
    while (step == 0 && el_pb_next(&r, &f, err) > 0) {
        if (f.number == NODE_ATTRIBUTE)
            step = read_attribute(rd, el_pb_payload(&r, &f), &node, err);
    }

    where_pop(rd, mark);
    return step;
}

/* Reads a graph's initializers and nodes in file order. */
static int read_graph_fields(onnx_reader *rd, el_pb_reader r, el_error *err)
{
    uint64_t n_nodes = 0, n_initializers = 0;
    int step = check_fields(rd, r, MSG_GRAPH, err);
    el_pb_field f;
    while (step == 0 && el_pb_next(&r, &f, err) > 0) {
        if (f.number == GRAPH_NODE)
            step = read_node(rd, el_pb_payload(&r, &f), n_nodes++, err);
        else if (f.number == GRAPH_INITIALIZER)
            step = read_tensor(rd, el_pb_payload(&r, &f), KIND_INITIALIZER,
                               n_initializers++, NULL, "initializer", err);
    }
    return step;
}

/* Reads a graph; subgraphs recurse through read_node and read_attribute,
 * at most MAX_GRAPH_DEPTH levels deep. */
static int read_graph(onnx_reader *rd, el_pb_reader r, el_error *err)
{
    if (rd->depth >= MAX_GRAPH_DEPTH)
        return fail(rd, err, "subgraphs nest deeper than %d levels (attribute "
                    "fields g and graphs); the file is damaged or made to exhaust "
                    "the reader", MAX_GRAPH_DEPTH);

    uint64_t name_offset = 0, name_length = 0;
    peek_text(r, GRAPH_NAME, &name_offset, &name_length);
    if (rd->depth == 0) {
        rd->graph_name_offset = name_offset;
        rd->graph_name_length = name_length;
    }
    const quote q = quote_text(rd, name_offset, name_length);
    const size_t mark = where_push(rd, "graph '%s'", q.text);
    rd->n_graphs++;

    rd->depth++;
    const int rc = read_graph_fields(rd, r, err);
    rd->depth--;

    where_pop(rd, mark);
    return rc;
}

/* ---- model ------------------------------------------------------------- */

/* The ModelProto fields shown in the metadata. */
typedef struct model_info {
    uint64_t ir_version, model_version, opset;
    int has_ir_version, has_model_version, has_opset;
    uint64_t producer_offset, producer_length;
    uint64_t version_offset, version_length;
    uint64_t domain_offset, domain_length;
    el_pb_field graph;
    int n_graphs;
} model_info;

/* Reads an opset_import entry, keeping the version of the default domain
 * ("" or "ai.onnx"). */
static int read_opset(const onnx_reader *rd, el_pb_reader r, model_info *info,
                      el_error *err)
{
    uint64_t version = 0;
    int is_default = 1, has_version = 0;
    el_pb_field f;
    int rc;
    while ((rc = next_field(rd, &r, MSG_OPSET, &f, err)) > 0) {
        if (f.number == OPSET_DOMAIN) {
            if (expect_wire(rd, MSG_OPSET, &f, EL_PB_LEN, err) != 0)
                return -1;
            is_default = f.length == 0 || text_equals(rd, f.offset, f.length, "ai.onnx");
        } else if (f.number == OPSET_VERSION) {
            if (expect_wire(rd, MSG_OPSET, &f, EL_PB_VARINT, err) != 0)
                return -1;
            version = f.value;
            has_version = 1;
        }
    }
    if (rc == 0 && is_default && has_version) {
        info->opset = version;
        info->has_opset = 1;
    }
    return rc;
}

static int model_text(const onnx_reader *rd, const el_pb_field *f, uint64_t *offset,
                      uint64_t *length, el_error *err)
{
    if (expect_wire(rd, MSG_MODEL, f, EL_PB_LEN, err) != 0)
        return -1;
    *offset = f->offset;
    *length = f->length;
    return 0;
}

static int model_number(const onnx_reader *rd, const el_pb_field *f, uint64_t *value,
                        int *has, el_error *err)
{
    if (expect_wire(rd, MSG_MODEL, f, EL_PB_VARINT, err) != 0)
        return -1;
    *value = f->value;
    *has = 1;
    return 0;
}

/* Reads the ModelProto fields and checks its framing, then its graph. */
static int read_model(onnx_reader *rd, model_info *info, el_error *err)
{
    el_pb_reader r;
    el_pb_init(&r, rd->map, 0, rd->size);
    el_pb_field f;
    int rc;
    while ((rc = next_field(rd, &r, MSG_MODEL, &f, err)) > 0) {
        int step = 0;
        switch (f.number) {
        case MODEL_IR_VERSION:
            step = model_number(rd, &f, &info->ir_version, &info->has_ir_version, err);
            break;
        case MODEL_MODEL_VERSION:
            step = model_number(rd, &f, &info->model_version,
                                &info->has_model_version, err);
            break;
        case MODEL_PRODUCER_NAME:
            step = model_text(rd, &f, &info->producer_offset, &info->producer_length, err);
            break;
        case MODEL_PRODUCER_VERSION:
            step = model_text(rd, &f, &info->version_offset, &info->version_length, err);
            break;
        case MODEL_DOMAIN:
            step = model_text(rd, &f, &info->domain_offset, &info->domain_length, err);
            break;
        case MODEL_OPSET_IMPORT:
            step = expect_wire(rd, MSG_MODEL, &f, EL_PB_LEN, err) != 0 ? -1
                   : read_opset(rd, el_pb_payload(&r, &f), info, err);
            break;
        case MODEL_GRAPH:
            step = expect_wire(rd, MSG_MODEL, &f, EL_PB_LEN, err);
            info->graph = f;
            info->n_graphs++;
            break;
        default:
            break;
        }
        if (step != 0)
            return -1;
    }
    if (rc < 0)
        return -1;

    if (info->n_graphs != 1)
        return fail(rd, err, "ModelProto has %d graph fields (7), expected one; the "
                    "file is damaged or not an ONNX model", info->n_graphs);
    return read_graph(rd, el_pb_payload(&r, &info->graph), err);
}

static int add_text(const onnx_reader *rd, cJSON *object, const char *key,
                    uint64_t offset, uint64_t length)
{
    char *text = copy_text(rd, offset, length);
    const int ok = text != NULL && cJSON_AddStringToObject(object, key, text) != NULL;
    free(text);
    return ok ? 0 : -1;
}

static int add_count(cJSON *object, const char *key, uint64_t value)
{
    return cJSON_AddNumberToObject(object, key, (double)value) != NULL ? 0 : -1;
}

/* Sets model->metadata_json: producer, versions, graph name and counts. */
static int build_metadata(const onnx_reader *rd, const model_info *info,
                          el_error *err)
{
    cJSON *o = cJSON_CreateObject();
    int rc = o != NULL ? 0 : -1;

    if (rc == 0)
        rc = add_text(rd, o, "producer_name", info->producer_offset,
                      info->producer_length) |
             add_text(rd, o, "producer_version", info->version_offset,
                      info->version_length) |
             add_text(rd, o, "graph_name", rd->graph_name_offset,
                      rd->graph_name_length);
    if (rc == 0 && info->domain_length > 0)
        rc = add_text(rd, o, "domain", info->domain_offset, info->domain_length);
    if (rc == 0 && info->has_ir_version)
        rc = add_count(o, "ir_version", info->ir_version);
    if (rc == 0 && info->has_opset)
        rc = add_count(o, "opset", info->opset);
    if (rc == 0 && info->has_model_version)
        rc = add_count(o, "model_version", info->model_version);
    if (rc == 0)
        rc = add_count(o, "graphs", rd->n_graphs) |
             add_count(o, "nodes", rd->n_nodes) |
             add_count(o, "initializers", rd->n_initializers) |
             add_count(o, "constants", rd->n_constants) |
             add_count(o, "skipped_tensors", rd->n_skipped) |
             add_count(o, "external_files", rd->n_externals);

    if (rc == 0)
        rd->model->metadata_json = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (rc != 0 || rd->model->metadata_json == NULL)
        return el_fail(err, "%s: out of memory building the metadata", rd->path);
    return 0;
}

/* Orders tensor indices by (file, offset, index); ctx is the tensor array. */
static int compare_placement(const void *a, const void *b, void *ctx)
{
    const el_tensor *tensors = ctx;
    const size_t i = *(const size_t *)a;
    const size_t j = *(const size_t *)b;
    const el_tensor *x = &tensors[i];
    const el_tensor *y = &tensors[j];
    if (x->file != y->file)
        return x->file < y->file ? -1 : 1;
    if (x->offset != y->offset)
        return x->offset < y->offset ? -1 : 1;
    return i < j ? -1 : i > j;
}

/* Sorts the new tensors by file and offset, as el_model promises. */
static int sort_tensors(const onnx_reader *rd, el_error *err)
{
    el_model *m = rd->model;
    const size_t n = m->n_tensors - rd->first_tensor;
    if (n < 2)
        return 0;

    size_t *order = malloc(n * sizeof *order);
    el_tensor *sorted = malloc(n * sizeof *sorted);
    if (order == NULL || sorted == NULL) {
        free(order);
        free(sorted);
        return el_fail(err, "%s: out of memory sorting %zu tensors", rd->path, n);
    }

    for (size_t i = 0; i < n; i++)
        order[i] = rd->first_tensor + i;
    qsort_r(order, n, sizeof *order, compare_placement, m->tensors);
    for (size_t i = 0; i < n; i++)
        sorted[i] = m->tensors[order[i]];
    memcpy(m->tensors + rd->first_tensor, sorted, n * sizeof *sorted);

    free(sorted);
    free(order);
    return 0;
}

/* Marks external tensors whose bytes overlap an earlier stored tensor of
 * the same file as derived, since the container stores each byte of a file
 * once. Their data stays a pointer into the mapping: the segments that hold
 * those bytes restore them, and copying could take many times the file. */
static void mark_overlaps(const onnx_reader *rd)
{
    el_model *m = rd->model;
    size_t file = SIZE_MAX;
    uint64_t end = 0;
    for (size_t i = rd->first_tensor; i < m->n_tensors; i++) {
        el_tensor *t = &m->tensors[i];
        if (t->derived || t->nbytes == 0)
            continue;
        if (t->file != file) {
            file = t->file;
            end = 0;
        }
        if (t->offset < end)
            t->derived = 1;
        else
            end = t->offset + t->nbytes;
    }
}

/* Returns the folder part of a path ("." when there is none), malloc'd. */
static char *folder_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (slash == NULL)
        return strdup(".");
    if (slash == path)
        return strdup("/");
    return strndup(path, (size_t)(slash - path));
}

/* Resolves the model's folder and file, and indexes the names of tensors
 * already in the model. */
static int start_reader(onnx_reader *rd, el_error *err)
{
    rd->dir = folder_of(rd->path);
    if (rd->dir == NULL)
        return el_fail(err, "%s: out of memory", rd->path);

    rd->dir_real = realpath(rd->dir, NULL);
    rd->model_real = realpath(rd->path, NULL);
    if (rd->dir_real == NULL || rd->model_real == NULL)
        return el_fail(err, "%s: cannot resolve the model's path: %s", rd->path,
                       strerror(errno));

    for (size_t i = 0; i < rd->model->n_tensors; i++) {
        if (grow_names(rd, err) != 0)
            return -1;
        remember_name(rd, i);
    }
    return 0;
}

static void free_reader(onnx_reader *rd)
{
    for (size_t i = 0; i < rd->n_externals; i++)
        free(rd->externals[i].real);
    free(rd->externals);
    free(rd->names);
    free(rd->dir);
    free(rd->dir_real);
    free(rd->model_real);
}

int el_onnx_open(el_model *model, const char *path, el_error *err)
{
    onnx_reader rd = {
        .model = model,
        .path = path,
        .first_tensor = model->n_tensors,
    };
    model->format = "onnx";

    if (el_model_add_file(model, path, &rd.file, err) != 0)
        return -1;
    rd.map = model->files[rd.file].map;
    rd.size = model->files[rd.file].size;

    model_info info = { 0 };
    int rc = start_reader(&rd, err);
    if (rc == 0)
        rc = read_model(&rd, &info, err);
    if (rc == 0)
        rc = sort_tensors(&rd, err);
    if (rc == 0) {
        mark_overlaps(&rd);
        rc = build_metadata(&rd, &info, err);
    }

    free_reader(&rd);
    return rc;
}
