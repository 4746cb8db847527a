/* Tests of the restricted pickle interpreter on pickles assembled opcode by
 * opcode: each opcode family in its protocol 2 and protocol 4/5 forms, the
 * tensor rebuild calls of torch.save, and one test per kind of hostile or
 * damaged input. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "../core/pickle.h"

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

static void put_op(builder *b, uint8_t op)
{
    put_bytes(b, &op, 1);
}

static void put_raw(builder *b, const char *text)
{
    put_bytes(b, text, strlen(text));
}

/* Opcode bytes from a string literal, which may hold NUL bytes. */
#define put_lit(b, literal) put_bytes((b), (literal), sizeof(literal) - 1)

static void put_le(builder *b, uint64_t v, int width)
{
    for (int i = 0; i < width; i++)
        put_op(b, (uint8_t)(v >> (8 * i)));
}

static void put_str(builder *b, const char *s)
{
    put_op(b, 'X');
    put_le(b, strlen(s), 4);
    put_raw(b, s);
}

static void put_short_str(builder *b, const char *s)
{
    put_op(b, 0x8c);
    put_le(b, strlen(s), 1);
    put_raw(b, s);
}

static void put_int(builder *b, int64_t v)
{
    if (v >= 0 && v < 256) {
        put_op(b, 'K');
        put_le(b, (uint64_t)v, 1);
    } else if (v >= 0 && v < 65536) {
        put_op(b, 'M');
        put_le(b, (uint64_t)v, 2);
    } else {
        put_op(b, 0x8a);
        put_op(b, 8);
        put_le(b, (uint64_t)v, 8);
    }
}

static void put_global(builder *b, const char *module, const char *name)
{
    put_op(b, 'c');
    put_raw(b, module);
    put_op(b, '\n');
    put_raw(b, name);
    put_op(b, '\n');
}

static void put_ints(builder *b, const int64_t *values, size_t n)
{
    put_op(b, '(');
    for (size_t i = 0; i < n; i++)
        put_int(b, values[i]);
    put_op(b, 't');
}

/* _rebuild_tensor_v2 over a FloatStorage, as torch.save writes it. */
static void put_tensor(builder *b, const char *key, int64_t numel, int64_t offset,
                       const int64_t *size, const int64_t *stride, size_t ndim)
{
    put_global(b, "torch._utils", "_rebuild_tensor_v2");
    put_op(b, '(');
    put_op(b, '(');
    put_str(b, "storage");
    put_global(b, "torch", "FloatStorage");
    put_str(b, key);
    put_str(b, "cpu");
    put_int(b, numel);
    put_op(b, 't');
    put_op(b, 'Q');
    put_int(b, offset);
    put_ints(b, size, ndim);
    put_ints(b, stride, ndim);
    put_op(b, 0x89);
    put_global(b, "collections", "OrderedDict");
    put_lit(b, ")R");
    put_lit(b, "tR");
}

static el_pickle load_ok(builder *b)
{
    el_pickle p;
    el_error err = { { 0 } };
    if (el_pickle_load(b->data, b->len, "test.pkl", &p, &err) != 0)
        fail_msg("el_pickle_load failed: %s", err.msg);
    free(b->data);
    *b = (builder){ 0 };
    return p;
}

/* Loads b, expects failure with needle in the message, and frees b. */
static void load_fails(builder *b, const char *needle)
{
    el_pickle p;
    el_error err = { { 0 } };
    assert_int_equal(el_pickle_load(b->data, b->len, "test.pkl", &p, &err), -1);
    assert_null(p.root);
    if (strstr(err.msg, needle) == NULL)
        fail_msg("message '%s' does not contain '%s'", err.msg, needle);
    free(b->data);
    *b = (builder){ 0 };
}

/* ---- values ------------------------------------------------------------ */

static void pickle_ints(void **state)
{
    builder b = { 0 };
    put_lit(&b, "\x80\x02(");
    put_lit(&b, "K\xff");
    put_lit(&b, "M\x34\x12");
    put_lit(&b, "J\xf9\xff\xff\xff");              /* -7 */
    put_lit(&b, "\x8a\x02\xff\x7f");               /* LONG1 32767 */
    put_lit(&b, "\x8a\x01\x80");                   /* LONG1 -128 */
    put_lit(&b, "I42\n");
    put_lit(&b, "I01\n");                          /* protocol 0 True */
    put_lit(&b, "L-12L\n");
    put_lit(&b, "t.");
    el_pickle p = load_ok(&b);

    const el_pickle_value *t = p.root;
    assert_int_equal(t->kind, EL_PICKLE_TUPLE);
    assert_int_equal(t->n_items, 8);
    const int64_t expected[] = { 255, 0x1234, -7, 32767, -128, 42, 1, -12 };
    for (size_t i = 0; i < 8; i++) {
        assert_int_equal(t->items[i]->integer, expected[i]);
        assert_int_equal(t->items[i]->big, 0);
    }
    assert_int_equal(t->items[6]->kind, EL_PICKLE_BOOL);
    el_pickle_free(&p);
}

static void pickle_long_values(void **state)
{
    builder b = { 0 };
    put_lit(&b, "\x80\x02(");
    put_lit(&b, "\x8a\x00");                                   /* 0 */
    put_lit(&b, "\x8a\x08\xff\xff\xff\xff\xff\xff\xff\x7f");   /* INT64_MAX */
    put_lit(&b, "\x8a\x09\xff\xff\xff\xff\xff\xff\xff\xff\xff"); /* -1 in 9 bytes */
    put_lit(&b, "\x8a\x09\x00\x00\x00\x00\x00\x00\x00\x80\x00"); /* 2^63 */
    put_op(&b, 0x8b);
    put_le(&b, 10, 4);
    put_lit(&b, "\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19");   /* 77 bits */
    put_lit(&b, "I99999999999999999999\n");
    put_lit(&b, "t.");
    el_pickle p = load_ok(&b);

    const el_pickle_value *t = p.root;
    assert_int_equal(t->n_items, 6);
    assert_int_equal(t->items[0]->integer, 0);
    assert_int_equal(t->items[1]->integer, INT64_MAX);
    assert_int_equal(t->items[2]->integer, -1);
    assert_int_equal(t->items[2]->big, 0);
    assert_int_equal(t->items[3]->big, 1);
    assert_int_equal(t->items[4]->big, 1);
    assert_int_equal(t->items[5]->big, 1);
    el_pickle_free(&p);
}

static void pickle_floats_and_constants(void **state)
{
    builder b = { 0 };
    put_lit(&b, "\x80\x02(");
    put_lit(&b, "G\x3f\xf8\x00\x00\x00\x00\x00\x00");   /* 1.5, big-endian */
    put_lit(&b, "N\x88\x89t.");
    el_pickle p = load_ok(&b);

    const el_pickle_value *t = p.root;
    assert_int_equal(t->n_items, 4);
    assert_int_equal(t->items[0]->kind, EL_PICKLE_FLOAT);
    assert_true(t->items[0]->real == 1.5);
    assert_int_equal(t->items[1]->kind, EL_PICKLE_NONE);
    assert_int_equal(t->items[2]->kind, EL_PICKLE_BOOL);
    assert_int_equal(t->items[2]->integer, 1);
    assert_int_equal(t->items[3]->integer, 0);
    el_pickle_free(&p);
}

static void pickle_strings_and_bytes(void **state)
{
    builder b = { 0 };
    put_lit(&b, "\x80\x04(");
    put_str(&b, "binunicode");
    put_short_str(&b, "short");
    put_op(&b, 0x8d);
    put_le(&b, 5, 8);
    put_lit(&b, "eight");
    put_lit(&b, "T\x03\x00\x00\x00old");
    put_lit(&b, "U\x02py");
    put_op(&b, 'B');
    put_le(&b, 3, 4);
    put_bytes(&b, "a\0b", 3);
    put_lit(&b, "C\x01z");
    put_op(&b, 0x8e);
    put_le(&b, 2, 8);
    put_lit(&b, "b8");
    put_op(&b, 0x96);
    put_le(&b, 2, 8);
    put_lit(&b, "ba");
    put_str(&b, "\xc3\xa9t\xc3\xa9");               /* UTF-8 "été" */
    put_lit(&b, "t.");
    el_pickle p = load_ok(&b);

    const el_pickle_value *t = p.root;
    assert_int_equal(t->n_items, 10);
    const char *texts[] = { "binunicode", "short", "eight", "old", "py" };
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(t->items[i]->kind, EL_PICKLE_STRING);
        assert_string_equal(t->items[i]->text, texts[i]);
    }
    assert_int_equal(t->items[5]->kind, EL_PICKLE_BYTES);
    assert_int_equal(t->items[5]->len, 3);
    assert_memory_equal(t->items[5]->text, "a\0b", 3);
    assert_string_equal(t->items[6]->text, "z");
    assert_string_equal(t->items[7]->text, "b8");
    assert_int_equal(t->items[8]->kind, EL_PICKLE_BYTES);
    assert_int_equal(t->items[9]->kind, EL_PICKLE_STRING);
    assert_string_equal(t->items[9]->text, "\xc3\xa9t\xc3\xa9");
    el_pickle_free(&p);
}

static void pickle_invalid_utf8(void **state)
{
    builder b = { 0 };
    put_lit(&b, "\x80\x02");
    put_str(&b, "bad\xc3(");
    put_op(&b, '.');
    load_fails(&b, "not valid UTF-8");

    put_lit(&b, "\x80\x02");
    put_str(&b, "\xed\xa0\x80");                   /* a UTF-16 surrogate */
    put_op(&b, '.');
    load_fails(&b, "not valid UTF-8");
}

/* ---- containers -------------------------------------------------------- */

static void pickle_lists_and_dicts(void **state)
{
    builder b = { 0 };
    put_lit(&b, "\x80\x02}");
    put_str(&b, "list");
    put_lit(&b, "]K\x01" "a(K\x02K\x03" "e");       /* [1] + APPENDS [2, 3] */
    put_op(&b, 's');
    put_op(&b, '(');
    put_str(&b, "t1");
    put_lit(&b, "K\x04\x85");
    put_str(&b, "t2");
    put_lit(&b, "K\x05K\x06\x86");
    put_str(&b, "t3");
    put_lit(&b, "K\x07K\x08K\x09\x87");
    put_lit(&b, "u.");
    el_pickle p = load_ok(&b);

    const el_pickle_value *d = p.root;
    assert_int_equal(d->kind, EL_PICKLE_DICT);
    assert_int_equal(d->n_items, 8);
    assert_string_equal(d->items[0]->text, "list");
    const el_pickle_value *list = d->items[1];
    assert_int_equal(list->kind, EL_PICKLE_LIST);
    assert_int_equal(list->n_items, 3);
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(list->items[i]->integer, (int64_t)i + 1);
    assert_string_equal(d->items[2]->text, "t1");
    assert_int_equal(d->items[3]->n_items, 1);
    assert_int_equal(d->items[5]->n_items, 2);
    assert_int_equal(d->items[7]->n_items, 3);
    assert_int_equal(d->items[7]->items[2]->integer, 9);
    el_pickle_free(&p);
}

static void pickle_mark_containers(void **state)
{
    builder b = { 0 };
    put_lit(&b, "\x80\x02(");                      /* outer tuple */
    put_lit(&b, "(K\x01K\x02l");                   /* LIST [1, 2] */
    put_op(&b, '(');
    put_str(&b, "k");
    put_lit(&b, "K\x03" "d");                      /* DICT {"k": 3} */
    put_lit(&b, "(t");                             /* empty TUPLE */
    put_lit(&b, ")t.");
    el_pickle p = load_ok(&b);

    const el_pickle_value *t = p.root;
    assert_int_equal(t->kind, EL_PICKLE_TUPLE);
    assert_int_equal(t->n_items, 4);
    assert_int_equal(t->items[0]->kind, EL_PICKLE_LIST);
    assert_int_equal(t->items[0]->n_items, 2);
    assert_int_equal(t->items[1]->kind, EL_PICKLE_DICT);
    assert_int_equal(t->items[1]->items[1]->integer, 3);
    assert_int_equal(t->items[2]->n_items, 0);
    assert_int_equal(t->items[3]->kind, EL_PICKLE_TUPLE);
    el_pickle_free(&p);
}

static void pickle_sets(void **state)
{
    builder b = { 0 };
    put_lit(&b, "\x80\x04(");
    put_lit(&b, "\x8f(K\x01K\x02\x90");            /* EMPTY_SET + ADDITEMS */
    put_lit(&b, "(K\x03\x91");                     /* FROZENSET */
    put_lit(&b, "t.");
    el_pickle p = load_ok(&b);

    const el_pickle_value *t = p.root;
    assert_int_equal(t->items[0]->kind, EL_PICKLE_SET);
    assert_int_equal(t->items[0]->n_items, 2);
    assert_int_equal(t->items[1]->kind, EL_PICKLE_SET);
    assert_int_equal(t->items[1]->items[0]->integer, 3);
    el_pickle_free(&p);
}

static void pickle_stack_ops(void **state)
{
    builder b = { 0 };
    put_lit(&b, "\x80\x02(");
    put_lit(&b, "K\x01" "2");                      /* DUP */
    put_lit(&b, "K\x09" "0");                      /* POP drops 9 */
    put_lit(&b, "(K\x07K\x08" "1");                /* POP_MARK drops 7, 8 */
    put_lit(&b, "(0");                             /* POP with nothing above the mark */
    put_lit(&b, "t.");
    el_pickle p = load_ok(&b);

    const el_pickle_value *t = p.root;
    assert_int_equal(t->n_items, 2);
    assert_ptr_equal(t->items[0], t->items[1]);
    assert_int_equal(t->items[0]->integer, 1);
    el_pickle_free(&p);
}

/* ---- memo -------------------------------------------------------------- */

static void pickle_memo_binary(void **state)
{
    builder b = { 0 };
    put_lit(&b, "\x80\x02(");
    put_str(&b, "shared");
    put_lit(&b, "q\x00");                          /* BINPUT 0 */
    put_lit(&b, "]r\x07\x00\x00\x00");             /* LONG_BINPUT 7 */
    put_lit(&b, "h\x00");                          /* BINGET 0 */
    put_lit(&b, "j\x07\x00\x00\x00");              /* LONG_BINGET 7 */
    put_lit(&b, "t.");
    el_pickle p = load_ok(&b);

    const el_pickle_value *t = p.root;
    assert_int_equal(t->n_items, 4);
    assert_ptr_equal(t->items[0], t->items[2]);
    assert_ptr_equal(t->items[1], t->items[3]);
    assert_int_equal(t->items[1]->kind, EL_PICKLE_LIST);
    el_pickle_free(&p);
}

static void pickle_memo_text(void **state)
{
    builder b = { 0 };
    put_lit(&b, "(K\x05p3\ng3\nt.");               /* protocol 0 PUT and GET */
    el_pickle p = load_ok(&b);
    assert_int_equal(p.root->n_items, 2);
    assert_ptr_equal(p.root->items[0], p.root->items[1]);
    el_pickle_free(&p);
}

/* Protocol 4: FRAME, MEMOIZE numbering and STACK_GLOBAL, as Python's
 * pickler writes them. */
static void pickle_protocol4_frame(void **state)
{
    builder body = { 0 };
    put_short_str(&body, "collections");
    put_op(&body, 0x94);                            /* memo 0 */
    put_short_str(&body, "OrderedDict");
    put_op(&body, 0x94);                            /* memo 1 */
    put_op(&body, 0x93);
    put_op(&body, 0x94);                            /* memo 2: the class */
    put_lit(&body, ")R");
    put_op(&body, 0x94);                            /* memo 3: the dict */
    put_short_str(&body, "n");
    put_lit(&body, "K\x01s");
    put_lit(&body, "h\x03");                        /* BINGET 3 */
    put_lit(&body, "\x86.");                        /* (dict, dict) */

    builder b = { 0 };
    put_lit(&b, "\x80\x04\x95");
    put_le(&b, body.len, 8);
    put_bytes(&b, body.data, body.len);
    free(body.data);
    el_pickle p = load_ok(&b);

    const el_pickle_value *t = p.root;
    assert_int_equal(t->kind, EL_PICKLE_TUPLE);
    assert_ptr_equal(t->items[0], t->items[1]);
    assert_int_equal(t->items[0]->kind, EL_PICKLE_DICT);
    assert_string_equal(t->items[0]->items[0]->text, "n");
    el_pickle_free(&p);
}

static void pickle_frame_too_long(void **state)
{
    builder b = { 0 };
    put_lit(&b, "\x80\x04\x95");
    put_le(&b, 1000, 8);
    put_lit(&b, "N.");
    load_fails(&b, "FRAME of 1000 bytes");
}

/* ---- torch calls ------------------------------------------------------- */

static void pickle_state_dict_protocol2(void **state)
{
    const int64_t size[] = { 4, 3 };
    const int64_t stride[] = { 1, 4 };
    builder b = { 0 };
    put_lit(&b, "\x80\x02}(");
    put_str(&b, "w");
    put_tensor(&b, "7", 12, 2, size, stride, 2);
    put_str(&b, "epoch");
    put_int(&b, 3);
    put_lit(&b, "u.");
    el_pickle p = load_ok(&b);

    const el_pickle_value *d = p.root;
    assert_int_equal(d->n_items, 4);
    const el_pickle_value *v = d->items[1];
    assert_int_equal(v->kind, EL_PICKLE_TENSOR);
    const el_pickle_tensor *t = v->tensor;
    assert_int_equal(t->storage->kind, EL_PICKLE_STORAGE);
    assert_string_equal(t->storage->text, "7");
    assert_int_equal(t->storage->dtype, EL_F32);
    assert_int_equal(t->storage->numel, 12);
    assert_int_equal(t->offset, 2);
    assert_int_equal(t->ndim, 2);
    assert_int_equal(t->size[0], 4);
    assert_int_equal(t->size[1], 3);
    assert_int_equal(t->stride[0], 1);
    assert_int_equal(t->stride[1], 4);
    assert_int_equal(d->items[3]->integer, 3);
    el_pickle_free(&p);
}

static void pickle_rebuild_parameter(void **state)
{
    const int64_t size[] = { 2 };
    const int64_t stride[] = { 1 };
    builder b = { 0 };
    put_lit(&b, "\x80\x02");
    put_global(&b, "torch._utils", "_rebuild_parameter");
    put_op(&b, '(');
    put_tensor(&b, "0", 2, 0, size, stride, 1);
    put_op(&b, 0x88);
    put_global(&b, "collections", "OrderedDict");
    put_lit(&b, ")RtR.");
    el_pickle p = load_ok(&b);

    assert_int_equal(p.root->kind, EL_PICKLE_TENSOR);
    assert_int_equal(p.root->tensor->size[0], 2);
    el_pickle_free(&p);
}

static void pickle_ordered_dict_pairs(void **state)
{
    builder b = { 0 };
    put_lit(&b, "\x80\x02");
    put_global(&b, "collections", "OrderedDict");
    put_lit(&b, "(]");
    put_str(&b, "a");
    put_lit(&b, "K\x01\x86" "a");
    put_lit(&b, "tR");
    put_lit(&b, "}");                               /* BUILD state, dropped */
    put_str(&b, "_metadata");
    put_lit(&b, "Nsb.");
    el_pickle p = load_ok(&b);

    assert_int_equal(p.root->kind, EL_PICKLE_DICT);
    assert_int_equal(p.root->n_items, 2);
    assert_string_equal(p.root->items[0]->text, "a");
    el_pickle_free(&p);
}

static void pickle_newobj_ordered_dict(void **state)
{
    builder b = { 0 };
    put_lit(&b, "\x80\x04");
    put_global(&b, "collections", "OrderedDict");
    put_lit(&b, ")\x81.");
    el_pickle p = load_ok(&b);
    assert_int_equal(p.root->kind, EL_PICKLE_DICT);
    el_pickle_free(&p);

    put_lit(&b, "\x80\x04");
    put_global(&b, "collections", "OrderedDict");
    put_lit(&b, ")}\x92.");                         /* NEWOBJ_EX without kwargs */
    p = load_ok(&b);
    assert_int_equal(p.root->kind, EL_PICKLE_DICT);
    el_pickle_free(&p);
}

/* ---- hostile input ------------------------------------------------------ */

static void pickle_global_rejected(void **state)
{
    builder b = { 0 };
    put_lit(&b, "\x80\x02");
    put_global(&b, "os", "system");
    put_op(&b, '(');
    put_str(&b, "echo owned");
    put_lit(&b, "tR.");
    load_fails(&b, "global os.system is not allowed: elves reads state_dicts only "
                   "and never runs code from a checkpoint");

    put_lit(&b, "\x80\x04");
    put_short_str(&b, "builtins");
    put_short_str(&b, "eval");
    put_lit(&b, "\x93.");
    load_fails(&b, "global builtins.eval is not allowed");

    put_lit(&b, "\x80\x02");
    put_global(&b, "subprocess", "Popen");
    put_op(&b, '.');
    load_fails(&b, "global subprocess.Popen is not allowed");

    /* A near miss of an allowed name is still rejected. */
    put_lit(&b, "\x80\x02");
    put_global(&b, "torch._utils", "_rebuild_tensor_v3");
    put_op(&b, '.');
    load_fails(&b, "global torch._utils._rebuild_tensor_v3 is not allowed");

    /* Unprintable bytes in the name are not echoed. */
    put_lit(&b, "\x80\x02");
    put_global(&b, "os\x1b[2J", "system");
    put_op(&b, '.');
    load_fails(&b, "global os?[2J.system is not allowed");
}

static void pickle_call_rejected(void **state)
{
    builder b = { 0 };
    put_lit(&b, "\x80\x02");
    put_global(&b, "torch", "FloatStorage");
    put_lit(&b, ")R.");
    load_fails(&b, "REDUCE calls torch.FloatStorage, which a state_dict never calls");

    put_lit(&b, "\x80\x02");
    put_global(&b, "torch", "float32");
    put_lit(&b, ")\x81.");
    load_fails(&b, "NEWOBJ creates torch.float32");

    put_lit(&b, "\x80\x02");
    put_str(&b, "not callable");
    put_lit(&b, ")R.");
    load_fails(&b, "REDUCE calls a value that is not a global");

    put_lit(&b, "\x80\x02");
    put_global(&b, "collections", "OrderedDict");
    put_lit(&b, "K\x01R.");
    load_fails(&b, "arguments of collections.OrderedDict are not a tuple");
}

static void pickle_persid_invalid(void **state)
{
    builder b = { 0 };
    put_lit(&b, "\x80\x02");
    put_str(&b, "storage");
    put_lit(&b, "Q.");
    load_fails(&b, "persistent id is not");

    put_lit(&b, "\x80\x02(");
    put_str(&b, "storage");
    put_global(&b, "collections", "OrderedDict");
    put_str(&b, "0");
    put_str(&b, "cpu");
    put_lit(&b, "K\x01tQ.");
    load_fails(&b, "storage type is not a torch storage class");

    put_lit(&b, "\x80\x02(");
    put_str(&b, "storage");
    put_global(&b, "torch", "FloatStorage");
    put_str(&b, "../../etc/passwd");
    put_str(&b, "cpu");
    put_lit(&b, "K\x01tQ.");
    load_fails(&b, "storage key '../../etc/passwd' is not");

    put_lit(&b, "\x80\x02(");
    put_str(&b, "storage");
    put_global(&b, "torch", "FloatStorage");
    put_str(&b, "0");
    put_str(&b, "cpu");
    put_lit(&b, "J\xff\xff\xff\xfftQ.");
    load_fails(&b, "storage size is not a non-negative integer");

    put_lit(&b, "P0\n.");
    load_fails(&b, "opcode 0x50 ('P') is not supported");
}

static void pickle_tensor_args_invalid(void **state)
{
    const int64_t size[] = { 2, 2 };
    const int64_t stride[] = { 2, 1 };
    const int64_t negative[] = { -2 };
    const int64_t many[EL_MAX_DIMS + 1] = { 0 };
    builder b = { 0 };

    put_lit(&b, "\x80\x02");
    put_global(&b, "torch._utils", "_rebuild_tensor");
    put_op(&b, '(');
    put_op(&b, '(');
    put_str(&b, "storage");
    put_global(&b, "torch", "FloatStorage");
    put_str(&b, "0");
    put_str(&b, "cpu");
    put_lit(&b, "K\x04tQK\x00");
    put_ints(&b, size, 2);
    put_ints(&b, stride, 1);
    put_lit(&b, "tR.");
    load_fails(&b, "tensor size has 2 dimensions but stride has 1");

    put_lit(&b, "\x80\x02");
    put_tensor(&b, "0", 4, 0, negative, stride, 1);
    put_op(&b, '.');
    load_fails(&b, "tensor size element 0 is not a non-negative integer");

    put_lit(&b, "\x80\x02");
    put_tensor(&b, "0", 4, 0, many, many, EL_MAX_DIMS + 1);
    put_op(&b, '.');
    load_fails(&b, "tensor size has 17 dimensions");

    put_lit(&b, "\x80\x02");
    put_global(&b, "torch._utils", "_rebuild_tensor_v2");
    put_lit(&b, "(K\x01K\x02tR.");
    load_fails(&b, "_rebuild_tensor_v2 takes 6 or 7 arguments, found 2");

    put_lit(&b, "\x80\x02");
    put_global(&b, "torch._utils", "_rebuild_parameter");
    put_lit(&b, "(K\x01\x88NtR.");
    load_fails(&b, "_rebuild_parameter data is not a tensor");
}

/* Every proper prefix of a valid pickle fails with a message and no leak. */
static void pickle_truncated_prefixes(void **state)
{
    const int64_t size[] = { 3, 4 };
    const int64_t stride[] = { 4, 1 };
    builder b = { 0 };
    put_lit(&b, "\x80\x02}q\x00(");
    put_str(&b, "layer.weight");
    put_tensor(&b, "0", 70000, 65536, size, stride, 2);
    put_lit(&b, "G\x3f\xf8\x00\x00\x00\x00\x00\x00" "0");
    put_lit(&b, "u.");

    for (size_t len = 0; len < b.len; len++) {
        el_pickle p;
        el_error err = { { 0 } };
        assert_int_equal(el_pickle_load(b.data, len, "test.pkl", &p, &err), -1);
        assert_true(strlen(err.msg) > 0);
        assert_true(strstr(err.msg, "test.pkl") == err.msg);
    }
    el_pickle p = load_ok(&b);
    el_pickle_free(&p);
}

static void pickle_truncated_lengths(void **state)
{
    builder b = { 0 };
    put_lit(&b, "\x80\x02X\xff\xff\xff\xff" "abc.");
    load_fails(&b, "BINUNICODE needs 4294967295 bytes, but only 4 remain");

    put_lit(&b, "\x80\x04\x8d");
    put_le(&b, UINT64_MAX, 8);
    put_op(&b, '.');
    load_fails(&b, "BINUNICODE8 needs 18446744073709551615 bytes");

    put_lit(&b, "\x80\x02\x8b\xff\xff\xff\x7f.");
    load_fails(&b, "LONG needs 2147483647 bytes");

    put_lit(&b, "\x80\x02\x8b\xff\xff\xff\xff.");
    load_fails(&b, "LONG4 length 4294967295 is negative");

    put_lit(&b, "\x80\x02" "ctorch");
    load_fails(&b, "GLOBAL has no newline");

    put_lit(&b, "\x80\x02N");
    load_fails(&b, "ends without a STOP opcode");
}

static void pickle_stack_underflow(void **state)
{
    builder b = { 0 };
    put_lit(&b, "\x80\x02.");
    load_fails(&b, "STOP needs 1 value on the stack");

    put_lit(&b, "\x80\x02K\x01" "a.");
    load_fails(&b, "APPEND needs 2 values");

    put_lit(&b, "\x80\x02]K\x01(a.");              /* list hidden below the mark */
    load_fails(&b, "APPEND needs 2 values on the stack above the last mark");

    put_lit(&b, "\x80\x02K\x01]a.");
    load_fails(&b, "APPEND target is not a list");

    put_lit(&b, "\x80\x02}(K\x01u.");
    load_fails(&b, "SETITEMS has an odd number (1)");

    put_lit(&b, "\x80\x02(K\x01u.");
    load_fails(&b, "SETITEMS has no container below its mark");

    put_lit(&b, "\x80\x02K\x01" "e.");
    load_fails(&b, "APPENDS without a MARK");

    put_lit(&b, "\x80\x02(K\x01" "d.");
    load_fails(&b, "DICT has an odd number (1)");

    put_lit(&b, "\x80\x02t.");
    load_fails(&b, "TUPLE without a MARK");

    put_lit(&b, "\x80\x02K\x01\x87.");
    load_fails(&b, "TUPLE needs 3 values");

    put_lit(&b, "\x80\x02K\x01R.");
    load_fails(&b, "REDUCE needs 2 values");

    put_lit(&b, "\x80\x02" "0.");
    load_fails(&b, "POP without a MARK");
}

static void pickle_mark_nesting_limit(void **state)
{
    builder b = { 0 };
    put_lit(&b, "\x80\x02");
    for (int i = 0; i < EL_PICKLE_MAX_MARKS; i++)
        put_op(&b, '(');
    for (int i = 0; i < EL_PICKLE_MAX_MARKS; i++)
        put_op(&b, 't');
    put_op(&b, '.');
    el_pickle p = load_ok(&b);
    assert_int_equal(p.root->kind, EL_PICKLE_TUPLE);
    el_pickle_free(&p);

    for (int i = 0; i <= EL_PICKLE_MAX_MARKS; i++)
        put_op(&b, '(');
    load_fails(&b, "marks nested more than 256 deep");
}

static void pickle_stack_limit(void **state)
{
    builder b = { 0 };
    put_lit(&b, "\x80\x02N");
    for (size_t i = 0; i < EL_PICKLE_MAX_STACK; i++)
        put_op(&b, '2');                            /* DUP: no new values */
    put_op(&b, '.');
    load_fails(&b, "stack deeper than 1048576 values");
}

static void pickle_memo_abuse(void **state)
{
    builder b = { 0 };
    put_lit(&b, "\x80\x02h\x05.");
    load_fails(&b, "BINGET reads memo entry 5, which was never set");

    put_lit(&b, "\x80\x02Nr\xff\xff\xff\xff.");
    load_fails(&b, "LONG_BINPUT memo index 4294967295 is beyond");

    put_lit(&b, "\x80\x02Np99999999999999999999999\n.");
    load_fails(&b, "PUT memo index is negative or too large");

    put_lit(&b, "\x80\x02q\x00.");
    load_fails(&b, "BINPUT needs 1 value");

    put_lit(&b, "\x80\x02Nj\x00\x00\x00\x01.");
    load_fails(&b, "LONG_BINGET reads memo entry 16777216");
}

static void pickle_unsupported_opcodes(void **state)
{
    builder b = { 0 };
    put_lit(&b, "\x80\x02(ios\nsystem\n.");
    load_fails(&b, "opcode 0x69 ('i') is not supported");

    put_lit(&b, "\x80\x02\x82\x01.");
    load_fails(&b, "opcode 0x82 is not supported");

    put_lit(&b, "\x80\x05\x97.");
    load_fails(&b, "opcode 0x97 is not supported");

    put_lit(&b, "S'text'\n.");
    load_fails(&b, "opcode 0x53 ('S') is not supported");

    put_lit(&b, "\x80\x06N.");
    load_fails(&b, "pickle protocol 6 is newer than 5");
}

/* A list that contains itself loads. Bounding walks over it is the job of
 * the checkpoint reader. */
static void pickle_self_reference(void **state)
{
    builder b = { 0 };
    put_lit(&b, "\x80\x02]q\x00h\x00" "a.");
    el_pickle p = load_ok(&b);
    assert_int_equal(p.root->kind, EL_PICKLE_LIST);
    assert_ptr_equal(p.root->items[0], p.root);
    el_pickle_free(&p);
}

static void pickle_printable(void **state)
{
    char out[12];
    assert_string_equal(el_pickle_printable("abc", 3, out, sizeof out), "abc");
    assert_string_equal(el_pickle_printable("a\nb\x80", 4, out, sizeof out), "a?b?");
    assert_string_equal(el_pickle_printable("0123456789", 10, out, sizeof out),
                        "01234567...");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pickle_ints),
        cmocka_unit_test(pickle_long_values),
        cmocka_unit_test(pickle_floats_and_constants),
        cmocka_unit_test(pickle_strings_and_bytes),
        cmocka_unit_test(pickle_invalid_utf8),
        cmocka_unit_test(pickle_lists_and_dicts),
        cmocka_unit_test(pickle_mark_containers),
        cmocka_unit_test(pickle_sets),
        cmocka_unit_test(pickle_stack_ops),
        cmocka_unit_test(pickle_memo_binary),
        cmocka_unit_test(pickle_memo_text),
        cmocka_unit_test(pickle_protocol4_frame),
        cmocka_unit_test(pickle_frame_too_long),
        cmocka_unit_test(pickle_state_dict_protocol2),
        cmocka_unit_test(pickle_rebuild_parameter),
        cmocka_unit_test(pickle_ordered_dict_pairs),
        cmocka_unit_test(pickle_newobj_ordered_dict),
        cmocka_unit_test(pickle_global_rejected),
        cmocka_unit_test(pickle_call_rejected),
        cmocka_unit_test(pickle_persid_invalid),
        cmocka_unit_test(pickle_tensor_args_invalid),
        cmocka_unit_test(pickle_truncated_prefixes),
        cmocka_unit_test(pickle_truncated_lengths),
        cmocka_unit_test(pickle_stack_underflow),
        cmocka_unit_test(pickle_mark_nesting_limit),
        cmocka_unit_test(pickle_stack_limit),
        cmocka_unit_test(pickle_memo_abuse),
        cmocka_unit_test(pickle_unsupported_opcodes),
        cmocka_unit_test(pickle_self_reference),
        cmocka_unit_test(pickle_printable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
