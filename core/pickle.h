/* A restricted pickle interpreter for the data.pkl of PyTorch checkpoints.
 *
 * It runs the opcodes of pickle protocols 2 to 5, and the protocol 0 and 1
 * opcodes that protocol 2 writers still emit, as a stack machine. The
 * machine builds plain values: None, bools, ints, floats, strings, bytes,
 * tuples, lists, sets and dicts. It never imports or calls anything. GLOBAL resolves only
 * the names in an allow-list (collections.OrderedDict, the tensor and
 * parameter rebuild functions of torch._utils, the typed storage classes
 * and dtypes of torch) to tagged values, and REDUCE applies only those to
 * build dicts and tensor descriptions. Any other global rejects the pickle.
 *
 * Every length is checked against the remaining bytes, and the stack, the
 * memo, the mark nesting and the number of values are bounded, so a hostile
 * pickle fails with a message instead of exhausting memory. */
#ifndef ELVES_PICKLE_H
#define ELVES_PICKLE_H

#include <stddef.h>
#include <stdint.h>

#include "../codecs/dtype.h"
#include "../codecs/error.h"
#include "model.h"

/* Limits on hostile input. A state_dict pickle uses about 15 values and 3
 * levels of marks per tensor, so these leave room for about 250,000
 * tensors. */
#define EL_PICKLE_MAX_VALUES (1u << 22)
#define EL_PICKLE_MAX_ITEMS  (1u << 24)   /* container items, all containers */
#define EL_PICKLE_MAX_STACK  (1u << 20)
#define EL_PICKLE_MAX_MEMO   (1u << 22)
#define EL_PICKLE_MAX_MARKS  256
#define EL_PICKLE_MAX_LINE   1024         /* text arguments: GLOBAL, INT, PUT */

typedef enum el_pickle_kind {
    EL_PICKLE_NONE,
    EL_PICKLE_BOOL,
    EL_PICKLE_INT,
    EL_PICKLE_FLOAT,
    EL_PICKLE_STRING,    /* str, valid UTF-8 */
    EL_PICKLE_BYTES,     /* bytes and bytearray */
    EL_PICKLE_TUPLE,
    EL_PICKLE_LIST,
    EL_PICKLE_SET,       /* set and frozenset */
    EL_PICKLE_DICT,      /* dict and OrderedDict */
    EL_PICKLE_GLOBAL,    /* an allow-listed class, function or dtype */
    EL_PICKLE_STORAGE,   /* a torch storage named by a persistent id */
    EL_PICKLE_TENSOR     /* a view of a storage, from a rebuild function */
} el_pickle_kind;

/* The allow-listed globals. */
typedef enum el_pickle_global {
    EL_GLOBAL_ORDERED_DICT,            /* collections.OrderedDict */
    EL_GLOBAL_REBUILD_TENSOR,          /* torch._utils._rebuild_tensor */
    EL_GLOBAL_REBUILD_TENSOR_V2,       /* torch._utils._rebuild_tensor_v2 */
    EL_GLOBAL_REBUILD_PARAMETER,       /* torch._utils._rebuild_parameter */
    EL_GLOBAL_REBUILD_PARAMETER_STATE, /* ..._rebuild_parameter_with_state */
    EL_GLOBAL_STORAGE_TYPE,            /* torch.FloatStorage and the others */
    EL_GLOBAL_DTYPE                    /* torch.float32 and the others */
} el_pickle_global;

struct el_pickle_value;

/* Arguments of a tensor rebuild function: a view of a storage. */
typedef struct el_pickle_tensor {
    const struct el_pickle_value *storage;  /* kind EL_PICKLE_STORAGE */
    uint64_t offset;                        /* storage offset, in elements */
    int ndim;
    uint64_t size[EL_MAX_DIMS];             /* outermost first */
    uint64_t stride[EL_MAX_DIMS];           /* in elements */
} el_pickle_tensor;

typedef struct el_pickle_value {
    el_pickle_kind kind;

    /* BOOL (0 or 1) and INT. An INT outside int64 has `big` set and
     * integer 0: such values are kept so that the pickle loads, but no
     * tensor field accepts them. */
    int64_t integer;
    int big;

    double real;                       /* FLOAT */

    /* STRING and BYTES: the bytes plus a terminating NUL (a string may hold
     * NUL bytes too, so use len). STORAGE: the record key. GLOBAL: the
     * dotted name, "torch.FloatStorage". */
    char *text;
    size_t len;

    /* TUPLE, LIST and SET: the elements. DICT: keys and values alternating,
     * in insertion order. A key set twice is kept twice. Values can be
     * shared between containers, and a container can hold itself, so a walk
     * over them must bound its depth. */
    struct el_pickle_value **items;
    size_t n_items;
    size_t cap_items;

    el_pickle_global global;           /* GLOBAL */
    el_dtype dtype;                    /* GLOBAL storage types and dtypes, STORAGE */
    uint64_t numel;                    /* STORAGE: elements of the storage */
    el_pickle_tensor *tensor;          /* TENSOR */
} el_pickle_value;

typedef struct el_pickle_block el_pickle_block;

/* A loaded pickle: the value STOP returned, and the arena that owns every
 * value. */
typedef struct el_pickle {
    el_pickle_value *root;
    el_pickle_block *blocks;
    size_t n_values;
} el_pickle;

/* Runs the pickle in data (len bytes) and stores its result in out->root.
 * name (the file and member, "model.pt: archive/data.pkl") starts every
 * message, which then gives the byte offset of the failing opcode. On
 * failure out is left empty and needs no el_pickle_free. */
int el_pickle_load(const uint8_t *data, size_t len, const char *name,
                   el_pickle *out, el_error *err);

/* Frees every value of a loaded pickle. Accepts an empty el_pickle. */
void el_pickle_free(el_pickle *pickle);

/* Copies s into out (size bytes, at least 4) for a message: at most
 * size - 4 bytes, with bytes outside printable ASCII shown as '?', and
 * "..." appended when s was cut. Returns out. */
const char *el_pickle_printable(const char *s, size_t len, char *out, size_t size);

#endif
