#include "pickle.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Advice appended to messages about a malformed pickle. */
#define FIX_PICKLE "the checkpoint is damaged or was not written by torch.save"

/* Advice appended when a pickle uses something a state_dict never needs. */
#define STATE_DICT_ONLY "elves reads state_dicts only and never runs code from a checkpoint"

#define BLOCK_VALUES 4096

struct el_pickle_block {
    el_pickle_block *next;
    size_t used;
    el_pickle_value values[BLOCK_VALUES];
};

/* The interpreter: input, stack with its marks, memo and the arena. A mark
 * is the stack height when MARK ran, and the opcodes between it and the
 * next pop of the mark see only the stack above it, as in CPython. */
typedef struct machine {
    const uint8_t *data;
    size_t len;
    size_t pos;             /* next byte to read */
    size_t op_pos;          /* offset of the opcode being run, for messages */
    const char *name;
    el_error *err;

    el_pickle_value **stack;
    size_t n_stack;
    size_t cap_stack;
    size_t marks[EL_PICKLE_MAX_MARKS];
    size_t n_marks;

    el_pickle_value **memo; /* index -> value, NULL where unset */
    size_t cap_memo;
    size_t memo_count;      /* set entries, the index MEMOIZE uses next */

    el_pickle pickle;
    size_t n_items;         /* container items, all containers */
} machine;

/* One allow-listed global. */
typedef struct allowed_global {
    const char *module;
    const char *name;
    el_pickle_global global;
    el_dtype dtype;
} allowed_global;

static const allowed_global allowed[] = {
    { "collections", "OrderedDict", EL_GLOBAL_ORDERED_DICT, EL_U8 },
    { "torch._utils", "_rebuild_tensor", EL_GLOBAL_REBUILD_TENSOR, EL_U8 },
    { "torch._utils", "_rebuild_tensor_v2", EL_GLOBAL_REBUILD_TENSOR_V2, EL_U8 },
    { "torch._utils", "_rebuild_parameter", EL_GLOBAL_REBUILD_PARAMETER, EL_U8 },
    { "torch._utils", "_rebuild_parameter_with_state",
      EL_GLOBAL_REBUILD_PARAMETER_STATE, EL_U8 },
    { "torch", "DoubleStorage", EL_GLOBAL_STORAGE_TYPE, EL_F64 },
    { "torch", "FloatStorage", EL_GLOBAL_STORAGE_TYPE, EL_F32 },
    { "torch", "HalfStorage", EL_GLOBAL_STORAGE_TYPE, EL_F16 },
    { "torch", "BFloat16Storage", EL_GLOBAL_STORAGE_TYPE, EL_BF16 },
    { "torch", "LongStorage", EL_GLOBAL_STORAGE_TYPE, EL_I64 },
    { "torch", "IntStorage", EL_GLOBAL_STORAGE_TYPE, EL_I32 },
    { "torch", "ShortStorage", EL_GLOBAL_STORAGE_TYPE, EL_I16 },
    { "torch", "CharStorage", EL_GLOBAL_STORAGE_TYPE, EL_I8 },
    { "torch", "ByteStorage", EL_GLOBAL_STORAGE_TYPE, EL_U8 },
    { "torch", "BoolStorage", EL_GLOBAL_STORAGE_TYPE, EL_BOOL },
    { "torch", "float64", EL_GLOBAL_DTYPE, EL_F64 },
    { "torch", "float32", EL_GLOBAL_DTYPE, EL_F32 },
    { "torch", "float16", EL_GLOBAL_DTYPE, EL_F16 },
    { "torch", "bfloat16", EL_GLOBAL_DTYPE, EL_BF16 },
    { "torch", "int64", EL_GLOBAL_DTYPE, EL_I64 },
    { "torch", "int32", EL_GLOBAL_DTYPE, EL_I32 },
    { "torch", "int16", EL_GLOBAL_DTYPE, EL_I16 },
    { "torch", "int8", EL_GLOBAL_DTYPE, EL_I8 },
    { "torch", "uint8", EL_GLOBAL_DTYPE, EL_U8 },
    { "torch", "bool", EL_GLOBAL_DTYPE, EL_BOOL },
};

#define N_ALLOWED (sizeof allowed / sizeof allowed[0])

/* ---- messages ---------------------------------------------------------- */

const char *el_pickle_printable(const char *s, size_t len, char *out, size_t size)
{
    const size_t keep = len < size - 4 ? len : size - 4;
    for (size_t i = 0; i < keep; i++) {
        const unsigned char c = (unsigned char)s[i];
        out[i] = c >= 0x20 && c < 0x7f ? (char)c : '?';
    }
    if (keep < len) {
        memcpy(out + keep, "...", 4);
    } else {
        out[keep] = '\0';
    }
    return out;
}

/* Fails with "name: pickle byte N: message". */
__attribute__((format(printf, 2, 3)))
static int fail_at(machine *m, const char *fmt, ...)
{
    char msg[EL_ERROR_MAX];
    va_list args;
    va_start(args, fmt);
    vsnprintf(msg, sizeof msg, fmt, args);
    va_end(args);
    return el_fail(m->err, "%s: pickle byte %zu: %s", m->name, m->op_pos, msg);
}

/* ---- values ------------------------------------------------------------ */

static el_pickle_value *new_value(machine *m, el_pickle_kind kind)
{
    if (m->pickle.n_values >= EL_PICKLE_MAX_VALUES) {
        fail_at(m, "more than %u values; the pickle is too large or hostile, "
                "and a state_dict needs far fewer", EL_PICKLE_MAX_VALUES);
        return NULL;
    }

    el_pickle_block *b = m->pickle.blocks;
    if (b == NULL || b->used == BLOCK_VALUES) {
        b = calloc(1, sizeof *b);
        if (b == NULL) {
            fail_at(m, "out of memory for pickle values");
            return NULL;
        }
        b->next = m->pickle.blocks;
        m->pickle.blocks = b;
    }

    el_pickle_value *v = &b->values[b->used++];
    v->kind = kind;
    m->pickle.n_values++;
    return v;
}

/* Appends item to a container value. */
static int add_item(machine *m, el_pickle_value *to, el_pickle_value *item)
{
    if (m->n_items >= EL_PICKLE_MAX_ITEMS)
        return fail_at(m, "more than %u container items; the pickle is too "
                       "large or hostile", EL_PICKLE_MAX_ITEMS);

    if (to->n_items == to->cap_items) {
        const size_t cap = to->cap_items > 0 ? to->cap_items * 2 : 4;
        el_pickle_value **grown = realloc(to->items, cap * sizeof *grown);
        if (grown == NULL)
            return fail_at(m, "out of memory for %zu container items", cap);
        to->items = grown;
        to->cap_items = cap;
    }
    to->items[to->n_items++] = item;
    m->n_items++;
    return 0;
}

/* A new container of kind holding the stack values from index first up. */
static el_pickle_value *new_container(machine *m, el_pickle_kind kind, size_t first)
{
    el_pickle_value *v = new_value(m, kind);
    if (v == NULL)
        return NULL;
    for (size_t i = first; i < m->n_stack; i++)
        if (add_item(m, v, m->stack[i]) != 0)
            return NULL;
    return v;
}

/* A new STRING or BYTES value holding a NUL-terminated copy of bytes. */
static el_pickle_value *new_text(machine *m, el_pickle_kind kind,
                                 const uint8_t *bytes, size_t len)
{
    el_pickle_value *v = new_value(m, kind);
    if (v == NULL)
        return NULL;
    v->text = malloc(len + 1);
    if (v->text == NULL) {
        fail_at(m, "out of memory for a %zu-byte string", len);
        return NULL;
    }
    if (len > 0)
        memcpy(v->text, bytes, len);
    v->text[len] = '\0';
    v->len = len;
    return v;
}

static el_pickle_value *new_int(machine *m, int64_t integer)
{
    el_pickle_value *v = new_value(m, EL_PICKLE_INT);
    if (v != NULL)
        v->integer = integer;
    return v;
}

/* ---- stack, marks and memo -------------------------------------------- */

/* Stack height where the innermost mark starts the visible part. */
static size_t frame_base(const machine *m)
{
    return m->n_marks > 0 ? m->marks[m->n_marks - 1] : 0;
}

static int push(machine *m, el_pickle_value *v)
{
    if (v == NULL)
        return -1;
    if (m->n_stack >= EL_PICKLE_MAX_STACK)
        return fail_at(m, "stack deeper than %u values; the pickle is hostile",
                       EL_PICKLE_MAX_STACK);

    if (m->n_stack == m->cap_stack) {
        const size_t cap = m->cap_stack > 0 ? m->cap_stack * 2 : 64;
        el_pickle_value **grown = realloc(m->stack, cap * sizeof *grown);
        if (grown == NULL)
            return fail_at(m, "out of memory for the stack");
        m->stack = grown;
        m->cap_stack = cap;
    }
    m->stack[m->n_stack++] = v;
    return 0;
}

/* Checks that the visible stack contains at least n values. */
static int need(machine *m, size_t n, const char *opcode)
{
    if (m->n_stack - frame_base(m) < n)
        return fail_at(m, "%s needs %zu value%s on the stack above the last "
                       "mark, found %zu; " FIX_PICKLE, opcode, n, n == 1 ? "" : "s",
                       m->n_stack - frame_base(m));
    return 0;
}

static el_pickle_value *pop(machine *m)
{
    return m->stack[--m->n_stack];
}

static el_pickle_value *top(const machine *m)
{
    return m->stack[m->n_stack - 1];
}

static int push_mark(machine *m)
{
    if (m->n_marks == EL_PICKLE_MAX_MARKS)
        return fail_at(m, "marks nested more than %d deep; the pickle is hostile",
                       EL_PICKLE_MAX_MARKS);
    m->marks[m->n_marks++] = m->n_stack;
    return 0;
}

/* Removes the innermost mark and returns in *base where the values above
 * it start. The caller takes them and truncates the stack. */
static int pop_mark(machine *m, const char *opcode, size_t *base)
{
    if (m->n_marks == 0)
        return fail_at(m, "%s without a MARK; " FIX_PICKLE, opcode);
    *base = m->marks[--m->n_marks];
    return 0;
}

/* Checks that a memo index is one a pickler can have written. Picklers
 * number memo entries from 0 up, and each entry costs at least one opcode
 * byte, so an index at or beyond the pickle length is hostile. */
static int check_memo_index(machine *m, uint64_t index, const char *opcode)
{
    if (index >= EL_PICKLE_MAX_MEMO || index >= m->len)
        return fail_at(m, "%s memo index %llu is beyond what a pickle of %zu "
                       "bytes can use; " FIX_PICKLE, opcode,
                       (unsigned long long)index, m->len);
    return 0;
}

static int memo_put(machine *m, uint64_t index, const char *opcode)
{
    if (check_memo_index(m, index, opcode) != 0 || need(m, 1, opcode) != 0)
        return -1;

    if (index >= m->cap_memo) {
        size_t cap = m->cap_memo > 0 ? m->cap_memo : 64;
        while (cap <= index)
            cap *= 2;
        el_pickle_value **grown = realloc(m->memo, cap * sizeof *grown);
        if (grown == NULL)
            return fail_at(m, "out of memory for %zu memo entries", cap);
        memset(grown + m->cap_memo, 0, (cap - m->cap_memo) * sizeof *grown);
        m->memo = grown;
        m->cap_memo = cap;
    }

    if (m->memo[index] == NULL)
        m->memo_count++;
    m->memo[index] = top(m);
    return 0;
}

static int memo_get(machine *m, uint64_t index, const char *opcode)
{
    if (index >= m->cap_memo || m->memo[index] == NULL)
        return fail_at(m, "%s reads memo entry %llu, which was never set; "
                       FIX_PICKLE, opcode, (unsigned long long)index);
    return push(m, m->memo[index]);
}

/* ---- reading the input ------------------------------------------------ */

static int read_bytes(machine *m, uint64_t n, const uint8_t **out, const char *opcode)
{
    if (n > m->len - m->pos)
        return fail_at(m, "%s needs %llu bytes, but only %zu remain; the pickle "
                       "is truncated or damaged", opcode, (unsigned long long)n,
                       m->len - m->pos);
    *out = m->data + m->pos;
    m->pos += (size_t)n;
    return 0;
}

/* Reads an unsigned little-endian integer of width bytes. */
static int read_uint(machine *m, int width, uint64_t *out, const char *opcode)
{
    const uint8_t *p = NULL;
    if (read_bytes(m, (uint64_t)width, &p, opcode) != 0)
        return -1;
    uint64_t v = 0;
    for (int i = width - 1; i >= 0; i--)
        v = (v << 8) | p[i];
    *out = v;
    return 0;
}

/* Reads a newline-terminated text argument, without the newline. */
static int read_line(machine *m, const char **line, size_t *len, const char *opcode)
{
    const size_t rest = m->len - m->pos;
    const size_t span = rest < EL_PICKLE_MAX_LINE ? rest : EL_PICKLE_MAX_LINE;
    const uint8_t *start = m->data + m->pos;
    const uint8_t *nl = memchr(start, '\n', span);
    if (nl == NULL)
        return fail_at(m, "%s has no newline within %zu bytes; the pickle is "
                       "truncated or damaged", opcode, span);
    *line = (const char *)start;
    *len = (size_t)(nl - start);
    m->pos += *len + 1;
    return 0;
}

/* Parses an optionally signed decimal integer. Sets *big when it does not
 * fit in int64. */
static int parse_decimal(machine *m, const char *s, size_t len, int64_t *out,
                         int *big, const char *opcode)
{
    size_t i = 0;
    int negative = 0;
    if (i < len && (s[i] == '-' || s[i] == '+'))
        negative = s[i++] == '-';
    if (i == len)
        return fail_at(m, "%s argument is not a decimal integer; " FIX_PICKLE, opcode);

    uint64_t magnitude = 0;
    *big = 0;
    for (; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return fail_at(m, "%s argument is not a decimal integer; " FIX_PICKLE,
                           opcode);
        const unsigned digit = (unsigned)(s[i] - '0');
        if (magnitude > (UINT64_MAX - digit) / 10)
            *big = 1;
        else
            magnitude = magnitude * 10 + digit;
    }

    const uint64_t limit = negative ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    if (magnitude > limit)
        *big = 1;
    if (*big)
        *out = 0;
    else if (negative)
        *out = magnitude == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)magnitude;
    else
        *out = (int64_t)magnitude;
    return 0;
}

/* Length of the valid UTF-8 sequence at s (n bytes available), or 0. */
static size_t utf8_length(const uint8_t *s, size_t n)
{
    const uint8_t c = s[0];
    size_t len;
    uint32_t min, cp;

    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2; min = 0x80; cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3; min = 0x800; cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4; min = 0x10000; cp = c & 0x07;
    } else {
        return 0;
    }
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

static int check_utf8(machine *m, const uint8_t *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        const size_t step = utf8_length(s + i, n - i);
        if (step == 0)
            return fail_at(m, "string byte %zu (0x%02x) is not valid UTF-8; "
                           FIX_PICKLE, i, s[i]);
        i += step;
    }
    return 0;
}

/* Pushes a string or bytes value whose length is a width-byte prefix. */
static int load_counted(machine *m, int width, el_pickle_kind kind, const char *opcode)
{
    uint64_t n;
    const uint8_t *p = NULL;
    if (read_uint(m, width, &n, opcode) != 0 || read_bytes(m, n, &p, opcode) != 0)
        return -1;
    if (kind == EL_PICKLE_STRING && check_utf8(m, p, (size_t)n) != 0)
        return -1;
    return push(m, new_text(m, kind, p, (size_t)n));
}

/* ---- globals ----------------------------------------------------------- */

/* Pushes the allow-listed global module.name, or rejects the pickle. */
static int push_global(machine *m, const char *module, size_t module_len,
                       const char *name, size_t name_len)
{
    for (size_t i = 0; i < N_ALLOWED; i++) {
        const allowed_global *a = &allowed[i];
        if (strlen(a->module) != module_len || memcmp(a->module, module, module_len) != 0
            || strlen(a->name) != name_len || memcmp(a->name, name, name_len) != 0)
            continue;

        char dotted[128];
        snprintf(dotted, sizeof dotted, "%s.%s", a->module, a->name);
        el_pickle_value *v = new_text(m, EL_PICKLE_GLOBAL, (const uint8_t *)dotted,
                                      strlen(dotted));
        if (v == NULL)
            return -1;
        v->global = a->global;
        v->dtype = a->dtype;
        return push(m, v);
    }

    char shown_module[96], shown_name[96];
    return fail_at(m, "global %s.%s is not allowed: " STATE_DICT_ONLY,
                   el_pickle_printable(module, module_len, shown_module,
                                       sizeof shown_module),
                   el_pickle_printable(name, name_len, shown_name, sizeof shown_name));
}

/* GLOBAL: "module\nname\n". */
static int op_global(machine *m)
{
    const char *module, *name;
    size_t module_len, name_len;
    if (read_line(m, &module, &module_len, "GLOBAL") != 0
        || read_line(m, &name, &name_len, "GLOBAL") != 0)
        return -1;
    return push_global(m, module, module_len, name, name_len);
}

/* STACK_GLOBAL: module and name strings on the stack. */
static int op_stack_global(machine *m)
{
    if (need(m, 2, "STACK_GLOBAL") != 0)
        return -1;
    const el_pickle_value *name = pop(m);
    const el_pickle_value *module = pop(m);
    if (module->kind != EL_PICKLE_STRING || name->kind != EL_PICKLE_STRING)
        return fail_at(m, "STACK_GLOBAL needs two strings; " FIX_PICKLE);
    return push_global(m, module->text, module->len, name->text, name->len);
}

/* ---- calls of allow-listed functions ----------------------------------- */

static int is_int(const el_pickle_value *v)
{
    return (v->kind == EL_PICKLE_INT || v->kind == EL_PICKLE_BOOL) && !v->big;
}

/* Reads a tuple of non-negative ints (a size or a stride) into out. */
static int read_dims(machine *m, const el_pickle_value *v, const char *field,
                     uint64_t out[EL_MAX_DIMS], int *ndim)
{
    if (v->kind != EL_PICKLE_TUPLE && v->kind != EL_PICKLE_LIST)
        return fail_at(m, "tensor %s is not a tuple; " FIX_PICKLE, field);
    if (v->n_items > EL_MAX_DIMS)
        return fail_at(m, "tensor %s has %zu dimensions; elves supports at most %d",
                       field, v->n_items, EL_MAX_DIMS);

    for (size_t i = 0; i < v->n_items; i++) {
        const el_pickle_value *d = v->items[i];
        if (!is_int(d) || d->integer < 0)
            return fail_at(m, "tensor %s element %zu is not a non-negative "
                           "integer; " FIX_PICKLE, field, i);
        out[i] = (uint64_t)d->integer;
    }
    *ndim = (int)v->n_items;
    return 0;
}

/* _rebuild_tensor(storage, storage_offset, size, stride) and
 * _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad,
 * backward_hooks[, metadata]): a tensor description. */
static el_pickle_value *call_rebuild_tensor(machine *m, const el_pickle_value *args,
                                            int v2)
{
    const size_t n = args->n_items;
    if (v2 ? (n != 6 && n != 7) : n != 4) {
        fail_at(m, "%s takes %s arguments, found %zu; " FIX_PICKLE,
                v2 ? "_rebuild_tensor_v2" : "_rebuild_tensor", v2 ? "6 or 7" : "4", n);
        return NULL;
    }

    const el_pickle_value *storage = args->items[0];
    const el_pickle_value *offset = args->items[1];
    if (storage->kind != EL_PICKLE_STORAGE) {
        fail_at(m, "tensor storage is not a persistent storage reference; "
                FIX_PICKLE);
        return NULL;
    }
    if (!is_int(offset) || offset->integer < 0) {
        fail_at(m, "tensor storage offset is not a non-negative integer; " FIX_PICKLE);
        return NULL;
    }
    if (v2 && args->items[4]->kind != EL_PICKLE_BOOL) {
        fail_at(m, "tensor requires_grad is not a bool; " FIX_PICKLE);
        return NULL;
    }

    el_pickle_value *v = new_value(m, EL_PICKLE_TENSOR);
    if (v == NULL)
        return NULL;
    v->tensor = calloc(1, sizeof *v->tensor);
    if (v->tensor == NULL) {
        fail_at(m, "out of memory for a tensor");
        return NULL;
    }

    el_pickle_tensor *t = v->tensor;
    int stride_dims = 0;
    t->storage = storage;
    t->offset = (uint64_t)offset->integer;
    if (read_dims(m, args->items[2], "size", t->size, &t->ndim) != 0
        || read_dims(m, args->items[3], "stride", t->stride, &stride_dims) != 0)
        return NULL;
    if (stride_dims != t->ndim) {
        fail_at(m, "tensor size has %d dimensions but stride has %d; " FIX_PICKLE,
                t->ndim, stride_dims);
        return NULL;
    }
    return v;
}

/* _rebuild_parameter(data, requires_grad, backward_hooks) and
 * _rebuild_parameter_with_state(..., state): the data tensor itself. */
static el_pickle_value *call_rebuild_parameter(machine *m, const el_pickle_value *args,
                                               size_t expected)
{
    if (args->n_items != expected) {
        fail_at(m, "_rebuild_parameter takes %zu arguments, found %zu; " FIX_PICKLE,
                expected, args->n_items);
        return NULL;
    }
    if (args->items[0]->kind != EL_PICKLE_TENSOR) {
        fail_at(m, "_rebuild_parameter data is not a tensor; " FIX_PICKLE);
        return NULL;
    }
    return args->items[0];
}

/* OrderedDict() or OrderedDict(pairs), pairs being a list or tuple of
 * 2-tuples. */
static el_pickle_value *call_ordered_dict(machine *m, const el_pickle_value *args)
{
    el_pickle_value *dict = new_value(m, EL_PICKLE_DICT);
    if (dict == NULL || args->n_items == 0)
        return dict;

    const el_pickle_value *pairs = args->items[0];
    if (args->n_items != 1
        || (pairs->kind != EL_PICKLE_LIST && pairs->kind != EL_PICKLE_TUPLE)) {
        fail_at(m, "OrderedDict takes no argument or a list of pairs; " FIX_PICKLE);
        return NULL;
    }
    for (size_t i = 0; i < pairs->n_items; i++) {
        const el_pickle_value *pair = pairs->items[i];
        if (pair->kind != EL_PICKLE_TUPLE || pair->n_items != 2) {
            fail_at(m, "OrderedDict item %zu is not a (key, value) pair; " FIX_PICKLE, i);
            return NULL;
        }
        if (add_item(m, dict, pair->items[0]) != 0
            || add_item(m, dict, pair->items[1]) != 0)
            return NULL;
    }
    return dict;
}

/* Applies an allow-listed callable to a tuple of arguments. */
static el_pickle_value *call(machine *m, const el_pickle_value *callable,
                             const el_pickle_value *args, const char *opcode)
{
    if (callable->kind != EL_PICKLE_GLOBAL) {
        fail_at(m, "%s calls a value that is not a global; " FIX_PICKLE, opcode);
        return NULL;
    }
    if (args->kind != EL_PICKLE_TUPLE) {
        fail_at(m, "%s arguments of %s are not a tuple; " FIX_PICKLE, opcode,
                callable->text);
        return NULL;
    }

    switch (callable->global) {
    case EL_GLOBAL_ORDERED_DICT:
        return call_ordered_dict(m, args);
    case EL_GLOBAL_REBUILD_TENSOR:
        return call_rebuild_tensor(m, args, 0);
    case EL_GLOBAL_REBUILD_TENSOR_V2:
        return call_rebuild_tensor(m, args, 1);
    case EL_GLOBAL_REBUILD_PARAMETER:
        return call_rebuild_parameter(m, args, 3);
    case EL_GLOBAL_REBUILD_PARAMETER_STATE:
        return call_rebuild_parameter(m, args, 4);
    case EL_GLOBAL_STORAGE_TYPE:
    case EL_GLOBAL_DTYPE:
        break;
    }
    fail_at(m, "%s calls %s, which a state_dict never calls; " STATE_DICT_ONLY,
            opcode, callable->text);
    return NULL;
}

static int op_reduce(machine *m)
{
    if (need(m, 2, "REDUCE") != 0)
        return -1;
    const el_pickle_value *args = pop(m);
    const el_pickle_value *callable = pop(m);
    return push(m, call(m, callable, args, "REDUCE"));
}

/* NEWOBJ (cls, args) and NEWOBJ_EX (cls, args, kwargs) create an instance
 * without running its constructor. Only OrderedDict is allowed, and it
 * gives an empty dict. */
static int op_newobj(machine *m, int with_kwargs)
{
    const char *opcode = with_kwargs ? "NEWOBJ_EX" : "NEWOBJ";
    if (need(m, with_kwargs ? 3 : 2, opcode) != 0)
        return -1;
    if (with_kwargs) {
        const el_pickle_value *kwargs = pop(m);
        if (kwargs->kind != EL_PICKLE_DICT || kwargs->n_items != 0)
            return fail_at(m, "NEWOBJ_EX with keyword arguments is not supported; "
                           STATE_DICT_ONLY);
    }
    const el_pickle_value *args = pop(m);
    const el_pickle_value *cls = pop(m);
    if (cls->kind != EL_PICKLE_GLOBAL || cls->global != EL_GLOBAL_ORDERED_DICT)
        return fail_at(m, "%s creates %s, which a state_dict never creates; "
                       STATE_DICT_ONLY, opcode,
                       cls->kind == EL_PICKLE_GLOBAL ? cls->text : "a non-class value");
    if (args->kind != EL_PICKLE_TUPLE)
        return fail_at(m, "%s arguments are not a tuple; " FIX_PICKLE, opcode);
    return push(m, new_value(m, EL_PICKLE_DICT));
}

/* BINPERSID: a torch storage reference, the tuple
 * ("storage", storage type, key, location, number of elements). */
static int op_binpersid(machine *m)
{
    if (need(m, 1, "BINPERSID") != 0)
        return -1;
    const el_pickle_value *pid = pop(m);

    if (pid->kind != EL_PICKLE_TUPLE || pid->n_items != 5
        || pid->items[0]->kind != EL_PICKLE_STRING
        || strcmp(pid->items[0]->text, "storage") != 0)
        return fail_at(m, "persistent id is not a (\"storage\", type, key, "
                       "location, size) tuple; " FIX_PICKLE);

    const el_pickle_value *type = pid->items[1];
    const el_pickle_value *key = pid->items[2];
    const el_pickle_value *location = pid->items[3];
    const el_pickle_value *numel = pid->items[4];
    if (type->kind != EL_PICKLE_GLOBAL || type->global != EL_GLOBAL_STORAGE_TYPE)
        return fail_at(m, "storage type is not a torch storage class such as "
                       "torch.FloatStorage; " FIX_PICKLE);
    if (key->kind != EL_PICKLE_STRING || location->kind != EL_PICKLE_STRING)
        return fail_at(m, "storage key or location is not a string; " FIX_PICKLE);
    if (!is_int(numel) || numel->integer < 0)
        return fail_at(m, "storage size is not a non-negative integer; " FIX_PICKLE);

    /* torch.save names its records with decimal numbers. Keys are built
     * into record names, so other characters such as '/' are rejected. */
    char shown[80];
    int key_ok = key->len > 0 && key->len <= 64;
    for (size_t i = 0; key_ok && i < key->len; i++) {
        const char c = key->text[i];
        key_ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z')
                 || (c >= 'A' && c <= 'Z') || c == '_' || c == '-' || c == '.';
    }
    if (!key_ok || strcmp(key->text, ".") == 0 || strcmp(key->text, "..") == 0)
        return fail_at(m, "storage key '%s' is not 1 to 64 letters, digits, '_', "
                       "'-' or '.'; " FIX_PICKLE,
                       el_pickle_printable(key->text, key->len, shown, sizeof shown));

    el_pickle_value *storage = new_text(m, EL_PICKLE_STORAGE,
                                        (const uint8_t *)key->text, key->len);
    if (storage == NULL)
        return -1;
    storage->dtype = type->dtype;
    storage->numel = (uint64_t)numel->integer;
    return push(m, storage);
}

/* ---- ints, floats ------------------------------------------------------ */

/* LONG1 and LONG4: a little-endian two's complement integer of n bytes. */
static int op_long(machine *m, int width)
{
    uint64_t n;
    const uint8_t *p = NULL;
    if (read_uint(m, width, &n, "LONG") != 0)
        return -1;
    if (width == 4 && n > INT32_MAX)
        return fail_at(m, "LONG4 length %llu is negative; " FIX_PICKLE,
                       (unsigned long long)n);
    if (read_bytes(m, n, &p, "LONG") != 0)
        return -1;

    el_pickle_value *v = new_int(m, 0);
    if (v == NULL || n == 0)
        return push(m, v);

    /* Bytes past the eighth must repeat the sign of the eighth for the
     * value to fit in int64. */
    const uint8_t sign = (p[n - 1] & 0x80) ? 0xff : 0x00;
    const size_t low = n < 8 ? (size_t)n : 8;
    for (size_t i = 8; i < n; i++)
        if (p[i] != sign)
            v->big = 1;
    if (n > 8 && ((p[7] ^ sign) & 0x80))
        v->big = 1;
    if (v->big)
        return push(m, v);

    uint64_t bits = sign == 0xff ? UINT64_MAX : 0;
    for (size_t i = 0; i < low; i++) {
        bits &= ~((uint64_t)0xff << (8 * i));
        bits |= (uint64_t)p[i] << (8 * i);
    }
    memcpy(&v->integer, &bits, sizeof bits);
    return push(m, v);
}

/* INT and LONG of protocol 0: a decimal line. INT "00" and "01" are the
 * protocol 0 spelling of False and True. */
static int op_text_int(machine *m, int is_long)
{
    const char *opcode = is_long ? "LONG" : "INT";
    const char *line;
    size_t len;
    if (read_line(m, &line, &len, opcode) != 0)
        return -1;

    if (!is_long && len == 2 && line[0] == '0' && (line[1] == '0' || line[1] == '1')) {
        el_pickle_value *v = new_value(m, EL_PICKLE_BOOL);
        if (v != NULL)
            v->integer = line[1] == '1';
        return push(m, v);
    }
    if (is_long && len > 0 && line[len - 1] == 'L')
        len--;

    int64_t integer;
    int big;
    if (parse_decimal(m, line, len, &integer, &big, opcode) != 0)
        return -1;
    el_pickle_value *v = new_int(m, integer);
    if (v != NULL)
        v->big = big;
    return push(m, v);
}

static int op_binfloat(machine *m)
{
    const uint8_t *p = NULL;
    if (read_bytes(m, 8, &p, "BINFLOAT") != 0)
        return -1;
    uint64_t bits = 0;
    for (int i = 0; i < 8; i++)
        bits = (bits << 8) | p[i];   /* big-endian, unlike every other field */

    el_pickle_value *v = new_value(m, EL_PICKLE_FLOAT);
    if (v != NULL)
        memcpy(&v->real, &bits, sizeof bits);
    return push(m, v);
}

static int op_fixed_int(machine *m, int width, int is_signed)
{
    uint64_t raw;
    if (read_uint(m, width, &raw, "BININT") != 0)
        return -1;
    int64_t value = (int64_t)raw;
    if (is_signed)
        value = (int64_t)(int32_t)(uint32_t)raw;
    return push(m, new_int(m, value));
}

/* ---- containers -------------------------------------------------------- */

/* TUPLE, LIST, DICT and FROZENSET: the values above the last mark. */
static int op_from_mark(machine *m, el_pickle_kind kind, const char *opcode)
{
    size_t base = 0;
    if (pop_mark(m, opcode, &base) != 0)
        return -1;
    const size_t n = m->n_stack - base;
    if (kind == EL_PICKLE_DICT && n % 2 != 0)
        return fail_at(m, "DICT has an odd number (%zu) of keys and values; "
                       FIX_PICKLE, n);

    el_pickle_value *v = new_container(m, kind, base);
    m->n_stack = base;
    return push(m, v);
}

/* TUPLE1, TUPLE2 and TUPLE3. */
static int op_small_tuple(machine *m, size_t n)
{
    if (need(m, n, "TUPLE") != 0)
        return -1;
    el_pickle_value *v = new_container(m, EL_PICKLE_TUPLE, m->n_stack - n);
    m->n_stack -= n;
    return push(m, v);
}

/* APPENDS, SETITEMS and ADDITEMS: the values above the last mark go into
 * the container just below it, which the mark's frame must hold. */
static int op_extend(machine *m, el_pickle_kind kind, const char *opcode)
{
    size_t base = 0;
    if (pop_mark(m, opcode, &base) != 0)
        return -1;
    if (base <= frame_base(m))
        return fail_at(m, "%s has no container below its mark; " FIX_PICKLE, opcode);

    el_pickle_value *target = m->stack[base - 1];
    const size_t n = m->n_stack - base;
    if (target->kind != kind)
        return fail_at(m, "%s target is not a %s; " FIX_PICKLE, opcode,
                       kind == EL_PICKLE_DICT ? "dict"
                       : kind == EL_PICKLE_LIST ? "list" : "set");
    if (kind == EL_PICKLE_DICT && n % 2 != 0)
        return fail_at(m, "SETITEMS has an odd number (%zu) of keys and values; "
                       FIX_PICKLE, n);

    for (size_t i = base; i < m->n_stack; i++)
        if (add_item(m, target, m->stack[i]) != 0)
            return -1;
    m->n_stack = base;
    return 0;
}

static int op_append(machine *m)
{
    if (need(m, 2, "APPEND") != 0)
        return -1;
    el_pickle_value *item = pop(m);
    el_pickle_value *list = top(m);
    if (list->kind != EL_PICKLE_LIST)
        return fail_at(m, "APPEND target is not a list; " FIX_PICKLE);
    return add_item(m, list, item);
}

static int op_setitem(machine *m)
{
    if (need(m, 3, "SETITEM") != 0)
        return -1;
    el_pickle_value *value = pop(m);
    el_pickle_value *key = pop(m);
    el_pickle_value *dict = top(m);
    if (dict->kind != EL_PICKLE_DICT)
        return fail_at(m, "SETITEM target is not a dict; " FIX_PICKLE);
    if (add_item(m, dict, key) != 0)
        return -1;
    return add_item(m, dict, value);
}

/* BUILD sets an object's state. The only objects are plain values and
 * allow-listed ones (an OrderedDict's _metadata attribute is the usual
 * state), none of which a state_dict reader needs it for, so the state is
 * dropped. */
static int op_build(machine *m)
{
    if (need(m, 2, "BUILD") != 0)
        return -1;
    pop(m);
    return 0;
}

/* POP drops the top value, or the last mark when nothing is above it, as
 * CPython does. */
static int op_pop(machine *m)
{
    if (m->n_stack > frame_base(m)) {
        pop(m);
        return 0;
    }
    size_t base = 0;
    return pop_mark(m, "POP", &base);
}

static int op_pop_mark(machine *m)
{
    size_t base = 0;
    if (pop_mark(m, "POP_MARK", &base) != 0)
        return -1;
    m->n_stack = base;
    return 0;
}

/* ---- the opcode loop --------------------------------------------------- */

static int op_proto(machine *m)
{
    uint64_t version;
    if (read_uint(m, 1, &version, "PROTO") != 0)
        return -1;
    if (version > 5)
        return fail_at(m, "pickle protocol %llu is newer than 5, the latest "
                       "elves reads", (unsigned long long)version);
    return 0;
}

/* FRAME announces the length of the next frame. The opcodes inside are
 * read as if unframed, so only the length is checked. */
static int op_frame(machine *m)
{
    uint64_t n;
    if (read_uint(m, 8, &n, "FRAME") != 0)
        return -1;
    if (n > m->len - m->pos)
        return fail_at(m, "FRAME of %llu bytes, but only %zu remain; the pickle is "
                       "truncated or damaged", (unsigned long long)n, m->len - m->pos);
    return 0;
}

static int op_memo_line(machine *m, int is_put)
{
    const char *opcode = is_put ? "PUT" : "GET";
    const char *line;
    size_t len;
    int64_t index;
    int big;
    if (read_line(m, &line, &len, opcode) != 0
        || parse_decimal(m, line, len, &index, &big, opcode) != 0)
        return -1;
    if (big || index < 0)
        return fail_at(m, "%s memo index is negative or too large; " FIX_PICKLE,
                       opcode);
    return is_put ? memo_put(m, (uint64_t)index, opcode)
                  : memo_get(m, (uint64_t)index, opcode);
}

static int op_memo_bin(machine *m, int width, int is_put)
{
    const char *opcode = is_put ? (width == 1 ? "BINPUT" : "LONG_BINPUT")
                                : (width == 1 ? "BINGET" : "LONG_BINGET");
    uint64_t index;
    if (read_uint(m, width, &index, opcode) != 0)
        return -1;
    return is_put ? memo_put(m, index, opcode) : memo_get(m, index, opcode);
}

static int op_dup(machine *m)
{
    if (need(m, 1, "DUP") != 0)
        return -1;
    return push(m, top(m));
}

static int push_bool(machine *m, int value)
{
    el_pickle_value *v = new_value(m, EL_PICKLE_BOOL);
    if (v != NULL)
        v->integer = value;
    return push(m, v);
}

/* Runs one opcode other than STOP. */
static int step(machine *m, uint8_t op)
{
    switch (op) {
    case 0x80: return op_proto(m);
    case 0x95: return op_frame(m);
    case '(': return push_mark(m);
    case '0': return op_pop(m);
    case '1': return op_pop_mark(m);
    case '2': return op_dup(m);

    case 'N': return push(m, new_value(m, EL_PICKLE_NONE));
    case 0x88: return push_bool(m, 1);
    case 0x89: return push_bool(m, 0);
    case 'I': return op_text_int(m, 0);
    case 'L': return op_text_int(m, 1);
    case 'J': return op_fixed_int(m, 4, 1);
    case 'K': return op_fixed_int(m, 1, 0);
    case 'M': return op_fixed_int(m, 2, 0);
    case 0x8a: return op_long(m, 1);
    case 0x8b: return op_long(m, 4);
    case 'G': return op_binfloat(m);

    case 'X': return load_counted(m, 4, EL_PICKLE_STRING, "BINUNICODE");
    case 0x8c: return load_counted(m, 1, EL_PICKLE_STRING, "SHORT_BINUNICODE");
    case 0x8d: return load_counted(m, 8, EL_PICKLE_STRING, "BINUNICODE8");
    case 'T': return load_counted(m, 4, EL_PICKLE_STRING, "BINSTRING");
    case 'U': return load_counted(m, 1, EL_PICKLE_STRING, "SHORT_BINSTRING");
    case 'B': return load_counted(m, 4, EL_PICKLE_BYTES, "BINBYTES");
    case 'C': return load_counted(m, 1, EL_PICKLE_BYTES, "SHORT_BINBYTES");
    case 0x8e: return load_counted(m, 8, EL_PICKLE_BYTES, "BINBYTES8");
    case 0x96: return load_counted(m, 8, EL_PICKLE_BYTES, "BYTEARRAY8");

    case ')': return push(m, new_value(m, EL_PICKLE_TUPLE));
    case 't': return op_from_mark(m, EL_PICKLE_TUPLE, "TUPLE");
    case 0x85: return op_small_tuple(m, 1);
    case 0x86: return op_small_tuple(m, 2);
    case 0x87: return op_small_tuple(m, 3);
    case ']': return push(m, new_value(m, EL_PICKLE_LIST));
    case 'l': return op_from_mark(m, EL_PICKLE_LIST, "LIST");
    case 'a': return op_append(m);
    case 'e': return op_extend(m, EL_PICKLE_LIST, "APPENDS");
    case '}': return push(m, new_value(m, EL_PICKLE_DICT));
    case 'd': return op_from_mark(m, EL_PICKLE_DICT, "DICT");
    case 's': return op_setitem(m);
    case 'u': return op_extend(m, EL_PICKLE_DICT, "SETITEMS");
    case 0x8f: return push(m, new_value(m, EL_PICKLE_SET));
    case 0x90: return op_extend(m, EL_PICKLE_SET, "ADDITEMS");
    case 0x91: return op_from_mark(m, EL_PICKLE_SET, "FROZENSET");

    case 'p': return op_memo_line(m, 1);
    case 'g': return op_memo_line(m, 0);
    case 'q': return op_memo_bin(m, 1, 1);
    case 'r': return op_memo_bin(m, 4, 1);
    case 'h': return op_memo_bin(m, 1, 0);
    case 'j': return op_memo_bin(m, 4, 0);
    case 0x94: return memo_put(m, m->memo_count, "MEMOIZE");

    case 'c': return op_global(m);
    case 0x93: return op_stack_global(m);
    case 'R': return op_reduce(m);
    case 0x81: return op_newobj(m, 0);
    case 0x92: return op_newobj(m, 1);
    case 'b': return op_build(m);
    case 'Q': return op_binpersid(m);
    default: break;
    }

    if (op >= 0x20 && op < 0x7f)
        return fail_at(m, "opcode 0x%02x ('%c') is not supported; " STATE_DICT_ONLY,
                       op, op);
    return fail_at(m, "opcode 0x%02x is not supported; " STATE_DICT_ONLY, op);
}

static int run(machine *m)
{
    while (m->pos < m->len) {
        m->op_pos = m->pos;
        const uint8_t op = m->data[m->pos++];
        if (op == '.') {
            if (need(m, 1, "STOP") != 0)
                return -1;
            m->pickle.root = pop(m);
            return 0;
        }
        if (step(m, op) != 0)
            return -1;
    }
    m->op_pos = m->pos;
    return fail_at(m, "the pickle ends without a STOP opcode; it is truncated");
}

int el_pickle_load(const uint8_t *data, size_t len, const char *name,
                   el_pickle *out, el_error *err)
{
    memset(out, 0, sizeof *out);
    machine m = { .data = data, .len = len, .name = name, .err = err };

    const int rc = run(&m);
    free(m.stack);
    free(m.memo);
    if (rc != 0) {
        el_pickle_free(&m.pickle);
        return -1;
    }
    *out = m.pickle;
    return 0;
}

void el_pickle_free(el_pickle *pickle)
{
    el_pickle_block *b = pickle->blocks;
    while (b != NULL) {
        el_pickle_block *next = b->next;
        for (size_t i = 0; i < b->used; i++) {
            free(b->values[i].text);
            free(b->values[i].items);
            free(b->values[i].tensor);
        }
        free(b);
        b = next;
    }
    memset(pickle, 0, sizeof *pickle);
}
