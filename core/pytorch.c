#include "pytorch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pickle.h"

/* Advice appended to messages about a malformed checkpoint. */
#define FIX_FILE "the checkpoint is damaged or incomplete: save it again with torch.save"

/* Ends the name of the tensor that stands for a storage record only views
 * use: "data/<key> (storage)". */
#define STORAGE_SUFFIX " (storage)"

/* One storage record, shared by every tensor that names its key. */
typedef struct storage {
    const el_pickle_value *ref;   /* the first reference: key, dtype, numel */
    const el_zip_entry *entry;
    int in_place;                 /* stored and little-endian: usable from the map */
    int whole_taken;              /* a stored tensor already covers the record */
    const uint8_t *bytes;         /* little-endian contents once loaded */
    uint8_t *buffer;              /* heap copy behind bytes that this reader frees */
} storage;

/* A tensor found in the unpickled object, under its joined name. */
typedef struct found {
    char *name;
    const el_pickle_tensor *view;
    storage *storage;
} found;

typedef struct reader {
    el_model *model;
    size_t file;
    const el_zip *zip;
    const char *path;
    el_error *err;

    char *prefix;                 /* archive name: members are "<prefix>/..." */
    int big_endian;

    found *found;
    size_t n_found;
    size_t cap_found;
    size_t visits;

    storage *storages;
    size_t n_storages;
    uint64_t record_bytes;        /* bytes of the records the tensors use */
    uint64_t memory;              /* bytes allocated for buffers and owned copies */
} reader;

static const el_file *file_of(const reader *r)
{
    return &r->model->files[r->file];
}

/* ---- finding the archive's records ------------------------------------- */

static int has_suffix(const char *s, const char *suffix)
{
    const size_t n = strlen(s);
    const size_t k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* Finds the single "<prefix>/data.pkl" member and keeps its prefix. */
static int find_pickle(reader *r, const el_zip_entry **out)
{
    const el_zip_entry *pickle = NULL;
    for (size_t i = 0; i < r->zip->n_entries; i++) {
        const el_zip_entry *e = &r->zip->entries[i];
        if (!has_suffix(e->name, "/data.pkl"))
            continue;
        if (pickle != NULL)
            return el_fail(r->err, "%s: the archive holds two pickles, '%s' and '%s'; "
                           "a torch.save checkpoint holds one", r->path, pickle->name,
                           e->name);
        pickle = e;
    }
    if (pickle == NULL)
        return el_fail(r->err, "%s: the archive has no member '<name>/data.pkl'; it is "
                       "not a PyTorch checkpoint", r->path);

    r->prefix = strndup(pickle->name, strlen(pickle->name) - strlen("/data.pkl"));
    if (r->prefix == NULL)
        return el_fail(r->err, "%s: out of memory", r->path);
    *out = pickle;
    return 0;
}

/* The member "<prefix>/<rest>", or NULL. */
static const el_zip_entry *find_record(const reader *r, const char *rest)
{
    char name[EL_PYTORCH_MAX_NAME + 128];
    const int n = snprintf(name, sizeof name, "%s/%s", r->prefix, rest);
    if (n < 0 || (size_t)n >= sizeof name)
        return NULL;
    return el_zip_find(r->zip, name);
}

/* Reads "<prefix>/byteorder", which is "little" or "big". A missing record
 * means little-endian, because older PyTorch versions (1.13 among them)
 * write none. */
static int read_byteorder(reader *r)
{
    const el_zip_entry *e = find_record(r, "byteorder");
    if (e == NULL)
        return 0;
    if (e->size > 16)
        return el_fail(r->err, "%s: record '%s' is %llu bytes, expected \"little\" or "
                       "\"big\"; " FIX_FILE, r->path, e->name,
                       (unsigned long long)e->size);

    const el_file *f = file_of(r);
    uint8_t *text = NULL;
    if (el_zip_extract(f->map, f->size, e, &text, r->err) != 0)
        return el_fail_context(r->err, "%s", r->path);

    const size_t n = (size_t)e->size;
    int rc = 0;
    if (n == 6 && memcmp(text, "little", 6) == 0)
        r->big_endian = 0;
    else if (n == 3 && memcmp(text, "big", 3) == 0)
        r->big_endian = 1;
    else
        rc = el_fail(r->err, "%s: record '%s' does not hold \"little\" or \"big\"; "
                     FIX_FILE, r->path, e->name);
    free(text);
    return rc;
}

/* ---- walking the unpickled object -------------------------------------- */

/* Checks a finished name: bounded and free of control bytes, which would
 * garble messages and the terminal. */
static int check_name(reader *r, const char *name, size_t len)
{
    char shown[96];
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
            return el_fail(r->err, "%s: tensor name '%s' contains the control byte "
                           "0x%02x; " FIX_FILE, r->path,
                           el_pickle_printable(name, len, shown, sizeof shown),
                           (unsigned char)name[i]);
    return 0;
}

static int add_found(reader *r, const char *name, size_t len,
                     const el_pickle_tensor *view)
{
    if (len == 0) {
        name = r->prefix;   /* torch.save(tensor): the object is the tensor */
        len = strlen(r->prefix);
    }
    if (check_name(r, name, len) != 0)
        return -1;
    if (r->n_found >= EL_PYTORCH_MAX_TENSORS)
        return el_fail(r->err, "%s: more than %u tensors; the checkpoint is too large "
                       "or refers to its tensors in a loop", r->path,
                       EL_PYTORCH_MAX_TENSORS);

    if (r->n_found == r->cap_found) {
        const size_t cap = r->cap_found > 0 ? r->cap_found * 2 : 64;
        found *grown = realloc(r->found, cap * sizeof *grown);
        if (grown == NULL)
            return el_fail(r->err, "%s: out of memory for %zu tensors", r->path, cap);
        r->found = grown;
        r->cap_found = cap;
    }

    found *f = &r->found[r->n_found];
    f->name = strndup(name, len);
    f->view = view;
    f->storage = NULL;
    if (f->name == NULL)
        return el_fail(r->err, "%s: out of memory", r->path);
    r->n_found++;
    return 0;
}

/* Appends ".key" (or "key" at the top) to name[0..len) and returns the new
 * length in *out, or fails when the name gets too long. */
static int append_key(reader *r, char *name, size_t len, const char *key,
                      size_t key_len, size_t *out)
{
    const size_t dot = len > 0 ? 1 : 0;
    if (key_len > EL_PYTORCH_MAX_NAME - len - dot) {
        char shown[96];
        return el_fail(r->err, "%s: tensor name '%s...' is longer than %d bytes; "
                       FIX_FILE, r->path,
                       el_pickle_printable(name, len, shown, sizeof shown),
                       EL_PYTORCH_MAX_NAME);
    }
    if (dot)
        name[len] = '.';
    memcpy(name + len + dot, key, key_len);
    *out = len + dot + key_len;
    name[*out] = '\0';
    return 0;
}

static int walk(reader *r, const el_pickle_value *v, char *name, size_t len, int depth);

/* Walks one member of a container under the key text[0..n). */
static int walk_member(reader *r, const el_pickle_value *v, char *name, size_t len,
                       const char *key, size_t key_len, int depth)
{
    size_t longer = 0;
    if (append_key(r, name, len, key, key_len, &longer) != 0)
        return -1;
    const int rc = walk(r, v, name, longer, depth + 1);
    name[len] = '\0';
    return rc;
}

/* Collects the tensors in v and below. Dict keys that are strings or ints
 * and list or tuple positions name the members. Members under other keys,
 * and values other than tensors and containers, contain no weights and are
 * skipped. */
static int walk(reader *r, const el_pickle_value *v, char *name, size_t len, int depth)
{
    /* Containers can share members, so a small pickle can describe a huge
     * tree. The walk stops after as many steps as a pickle may have items. */
    if (++r->visits > EL_PICKLE_MAX_ITEMS)
        return el_fail(r->err, "%s: the pickled object refers to its containers more "
                       "than %u times; the checkpoint is hostile", r->path,
                       EL_PICKLE_MAX_ITEMS);

    if (v->kind == EL_PICKLE_TENSOR)
        return add_found(r, name, len, v->tensor);

    const int is_dict = v->kind == EL_PICKLE_DICT;
    if (!is_dict && v->kind != EL_PICKLE_LIST && v->kind != EL_PICKLE_TUPLE)
        return 0;
    if (depth >= EL_PYTORCH_MAX_DEPTH) {
        char shown[96];
        return el_fail(r->err, "%s: '%s' is nested more than %d containers deep or "
                       "contains itself; elves reads state_dicts, which are flat",
                       r->path, el_pickle_printable(name, len, shown, sizeof shown),
                       EL_PYTORCH_MAX_DEPTH);
    }

    const size_t step = is_dict ? 2 : 1;
    for (size_t i = 0; i + step <= v->n_items; i += step) {
        const el_pickle_value *member = v->items[i + step - 1];
        char key[32];
        const char *text = key;
        size_t key_len;

        if (!is_dict) {
            key_len = (size_t)snprintf(key, sizeof key, "%zu", i);
        } else if (v->items[i]->kind == EL_PICKLE_STRING) {
            text = v->items[i]->text;
            key_len = v->items[i]->len;
        } else if (v->items[i]->kind == EL_PICKLE_INT && !v->items[i]->big) {
            key_len = (size_t)snprintf(key, sizeof key, "%lld",
                                       (long long)v->items[i]->integer);
        } else {
            continue;
        }

        if (walk_member(r, member, name, len, text, key_len, depth) != 0)
            return -1;
    }
    return 0;
}

static int compare_found_names(const void *a, const void *b)
{
    const found *const *x = a;
    const found *const *y = b;
    return strcmp((*x)->name, (*y)->name);
}

/* Tensor names must be unique in a model, and the names of storage
 * tensors are reserved. */
static int check_unique_names(reader *r)
{
    for (size_t i = 0; i < r->n_found; i++) {
        const char *name = r->found[i].name;
        if (strncmp(name, "data/", 5) == 0 && has_suffix(name, STORAGE_SUFFIX))
            return el_fail(r->err, "%s: a tensor is named '%.200s', a name elves "
                           "reserves for storage records; rename that key", r->path,
                           name);
    }
    if (r->n_found < 2)
        return 0;
    const found **sorted = malloc(r->n_found * sizeof *sorted);
    if (sorted == NULL)
        return el_fail(r->err, "%s: out of memory", r->path);
    for (size_t i = 0; i < r->n_found; i++)
        sorted[i] = &r->found[i];
    qsort(sorted, r->n_found, sizeof *sorted, compare_found_names);

    int rc = 0;
    for (size_t i = 1; rc == 0 && i < r->n_found; i++)
        if (strcmp(sorted[i - 1]->name, sorted[i]->name) == 0)
            rc = el_fail(r->err, "%s: two tensors are named '%.200s'; elves needs "
                         "unique names: rename the keys of the saved dict", r->path,
                         sorted[i]->name);
    free(sorted);
    return rc;
}

/* ---- storages ---------------------------------------------------------- */

static int compare_storage_keys(const void *a, const void *b)
{
    const storage *x = a;
    const storage *y = b;
    return strcmp(x->ref->text, y->ref->text);
}

static storage *lookup_storage(const reader *r, const char *key)
{
    const el_pickle_value probe = { .text = (char *)key };
    const storage wanted = { .ref = &probe };
    return bsearch(&wanted, r->storages, r->n_storages, sizeof *r->storages,
                   compare_storage_keys);
}

/* Checks that storage s has its record, of the size its references give. */
static int check_record(reader *r, storage *s, const char *tensor)
{
    const char *key = s->ref->text;
    char rest[128];
    snprintf(rest, sizeof rest, "data/%s", key);
    s->entry = find_record(r, rest);
    if (s->entry == NULL)
        return el_fail(r->err, "%s: tensor '%.200s' uses storage '%s', but the archive "
                       "has no record '%s/data/%s'; " FIX_FILE, r->path, tensor, key,
                       r->prefix, key);

    const size_t esize = el_dtype_size(s->ref->dtype);
    const uint64_t numel = s->ref->numel;
    if (numel > UINT64_MAX / esize || numel * esize != s->entry->size)
        return el_fail(r->err, "%s: tensor '%.200s': storage '%s' holds %llu elements "
                       "of %s (%zu bytes each), but record '%s' is %llu bytes; "
                       FIX_FILE, r->path, tensor, key, (unsigned long long)numel,
                       el_dtype_name(s->ref->dtype), esize, s->entry->name,
                       (unsigned long long)s->entry->size);

    s->in_place = s->entry->method == 0 && !r->big_endian;
    if (r->record_bytes > UINT64_MAX - s->entry->size)
        return el_fail(r->err, "%s: the records add up to more than 2^64 bytes; "
                       FIX_FILE, r->path);
    r->record_bytes += s->entry->size;
    return 0;
}

/* Builds the sorted table of distinct storages, checks that every
 * reference to a key agrees on dtype and size, and checks each record. */
static int collect_storages(reader *r)
{
    r->storages = calloc(r->n_found > 0 ? r->n_found : 1, sizeof *r->storages);
    if (r->storages == NULL)
        return el_fail(r->err, "%s: out of memory", r->path);
    for (size_t i = 0; i < r->n_found; i++)
        r->storages[i].ref = r->found[i].view->storage;
    qsort(r->storages, r->n_found, sizeof *r->storages, compare_storage_keys);

    size_t n = 0;
    for (size_t i = 0; i < r->n_found; i++) {
        const el_pickle_value *ref = r->storages[i].ref;
        if (n > 0 && strcmp(r->storages[n - 1].ref->text, ref->text) == 0) {
            const el_pickle_value *first = r->storages[n - 1].ref;
            if (first->dtype != ref->dtype || first->numel != ref->numel)
                return el_fail(r->err, "%s: storage '%s' is named once as %llu "
                               "elements of %s and once as %llu elements of %s; "
                               FIX_FILE, r->path, ref->text,
                               (unsigned long long)first->numel,
                               el_dtype_name(first->dtype),
                               (unsigned long long)ref->numel, el_dtype_name(ref->dtype));
            continue;
        }
        r->storages[n++].ref = ref;
    }
    r->n_storages = n;

    for (size_t i = 0; i < r->n_found; i++) {
        found *f = &r->found[i];
        f->storage = lookup_storage(r, f->view->storage->text);
        if (f->storage->entry == NULL && check_record(r, f->storage, f->name) != 0)
            return -1;
    }
    return 0;
}

/* Charges bytes of memory for tensor against the limit. */
static int charge(reader *r, uint64_t bytes, const char *tensor)
{
    const uint64_t limit = r->record_bytes > (UINT64_MAX - EL_PYTORCH_EXPAND_SLACK) / 2
                               ? UINT64_MAX
                               : 2 * r->record_bytes + EL_PYTORCH_EXPAND_SLACK;
    if (bytes > limit - r->memory)
        return el_fail(r->err, "%s: tensor '%.200s' needs %llu more bytes in memory, "
                       "past the limit of twice its records' %llu bytes plus %llu; "
                       "its views expand their storages too far", r->path, tensor,
                       (unsigned long long)bytes, (unsigned long long)r->record_bytes,
                       (unsigned long long)EL_PYTORCH_EXPAND_SLACK);
    r->memory += bytes;
    return 0;
}

static void swap_bytes(uint8_t *p, uint64_t numel, size_t esize)
{
    for (uint64_t i = 0; i < numel; i++, p += esize)
        for (size_t a = 0, b = esize - 1; a < b; a++, b--) {
            const uint8_t t = p[a];
            p[a] = p[b];
            p[b] = t;
        }
}

/* Makes s->bytes the storage's little-endian contents: the record in the
 * map, or a copy that is inflated, byte-swapped or both. */
static int load_storage(reader *r, storage *s, const char *tensor)
{
    if (s->bytes != NULL || s->entry->size == 0)
        return 0;

    const el_file *f = file_of(r);
    if (s->in_place) {
        s->bytes = f->map + s->entry->data_offset;
        return 0;
    }

    if (charge(r, s->entry->size, tensor) != 0)
        return -1;
    if (el_zip_extract(f->map, f->size, s->entry, &s->buffer, r->err) != 0)
        return el_fail_context(r->err, "%s: tensor '%.200s'", r->path, tensor);
    if (r->big_endian)
        swap_bytes(s->buffer, s->ref->numel, el_dtype_size(s->ref->dtype));
    s->bytes = s->buffer;
    return 0;
}

/* ---- views ------------------------------------------------------------- */

/* Validates a view against its storage: the element count is at most
 * EL_PYTORCH_MAX_COUNT, and every element the view addresses lies inside
 * the storage. All arithmetic is checked for overflow. */
static int check_view(reader *r, const found *f, uint64_t *count)
{
    const el_pickle_tensor *v = f->view;
    uint64_t n = 1;
    for (int d = 0; d < v->ndim; d++) {
        if (v->size[d] == 0) {
            n = 0;
            break;
        }
        if (v->size[d] > EL_PYTORCH_MAX_COUNT / n)
            return el_fail(r->err, "%s: tensor '%.200s' has more than 2^40 elements "
                           "(dimension %d is %llu); " FIX_FILE, r->path, f->name, d,
                           (unsigned long long)v->size[d]);
        n *= v->size[d];
    }
    *count = n;
    if (n == 0)
        return 0;

    /* The last element addressed: offset + sum of (size - 1) * stride. */
    uint64_t last = v->offset;
    int overflow = 0;
    for (int d = 0; d < v->ndim && !overflow; d++) {
        const uint64_t steps = v->size[d] - 1;
        if (steps > 0 && v->stride[d] > (UINT64_MAX - last) / steps)
            overflow = 1;
        else
            last += steps * v->stride[d];
    }

    const uint64_t numel = f->storage->ref->numel;
    if (overflow || last >= numel)
        return el_fail(r->err, "%s: tensor '%.200s' (storage offset %llu) reaches "
                       "element %s%llu of storage '%s', which has %llu elements; "
                       FIX_FILE, r->path, f->name, (unsigned long long)v->offset,
                       overflow ? "beyond " : "", (unsigned long long)last,
                       f->storage->ref->text, (unsigned long long)numel);
    return 0;
}

/* Whether the view is row-major contiguous. Dimensions of size 1 may have
 * any stride, as in PyTorch. */
static int is_contiguous(const el_pickle_tensor *v)
{
    uint64_t expected = 1;
    for (int d = v->ndim - 1; d >= 0; d--) {
        if (v->size[d] != 1 && v->stride[d] != expected)
            return 0;
        expected *= v->size[d];
    }
    return 1;
}

/* Copies the view's elements from the storage bytes into dst in row-major
 * order, a row at a time when the innermost stride is 1. */
static void gather(uint8_t *dst, const uint8_t *src, const el_pickle_tensor *v,
                   size_t esize, uint64_t count)
{
    if (v->ndim == 0) {
        memcpy(dst, src + v->offset * esize, esize);
        return;
    }

    const int inner = v->ndim - 1;
    const uint64_t row = v->size[inner];
    const uint64_t rows = count / row;
    uint64_t index[EL_MAX_DIMS] = { 0 };

    for (uint64_t r = 0; r < rows; r++) {
        uint64_t start = v->offset;
        for (int d = 0; d < inner; d++)
            start += index[d] * v->stride[d];

        if (v->stride[inner] == 1) {
            memcpy(dst, src + start * esize, (size_t)(row * esize));
        } else {
            for (uint64_t i = 0; i < row; i++)
                memcpy(dst + i * esize, src + (start + i * v->stride[inner]) * esize,
                       esize);
        }
        dst += row * esize;

        for (int d = inner - 1; d >= 0; d--) {
            if (++index[d] < v->size[d])
                break;
            index[d] = 0;
        }
    }
}

/* ---- tensors ----------------------------------------------------------- */

static el_tensor *new_tensor(reader *r, const char *name, el_dtype dtype)
{
    el_tensor *t = el_model_add_tensor(r->model, r->err);
    if (t == NULL)
        return NULL;
    t->name = strdup(name);
    if (t->name == NULL) {
        el_fail(r->err, "%s: out of memory", r->path);
        return NULL;
    }
    t->dtype = dtype;
    t->file = r->file;
    return t;
}

/* A stored tensor over a whole record in the file. */
static int add_stored(reader *r, const char *name, storage *s, const el_pickle_tensor *v)
{
    el_tensor *t = new_tensor(r, name, s->ref->dtype);
    if (t == NULL)
        return -1;

    if (v != NULL) {
        t->ndim = v->ndim;
        memcpy(t->shape, v->size, sizeof t->shape);
    } else {
        t->ndim = 1;
        t->shape[0] = s->ref->numel;
    }
    t->count = s->ref->numel;
    t->nbytes = s->entry->size;
    t->offset = s->entry->data_offset;
    t->data = file_of(r)->map + s->entry->data_offset;
    s->whole_taken = 1;
    return 0;
}

/* A derived tensor holding its view's bytes. A storage read into memory
 * hands its buffer to the first tensor that covers it whole, saving a copy. */
static int add_derived(reader *r, const found *f, uint64_t count, int whole)
{
    storage *s = f->storage;
    const el_pickle_tensor *v = f->view;
    const size_t esize = el_dtype_size(s->ref->dtype);
    const uint64_t nbytes = count * esize;

    if (load_storage(r, s, f->name) != 0)
        return -1;

    uint8_t *owned;
    if (whole && s->buffer != NULL) {
        owned = s->buffer;
        s->buffer = NULL;
    } else {
        if (charge(r, nbytes, f->name) != 0)
            return -1;
        owned = malloc(nbytes > 0 ? (size_t)nbytes : 1);
        if (owned == NULL)
            return el_fail(r->err, "%s: tensor '%.200s': out of memory for %llu bytes",
                           r->path, f->name, (unsigned long long)nbytes);
        if (count > 0)
            gather(owned, s->bytes, v, esize, count);
    }

    el_tensor *t = new_tensor(r, f->name, s->ref->dtype);
    if (t == NULL) {
        free(owned);
        return -1;
    }
    t->owned = owned;
    t->data = owned;
    t->derived = 1;
    t->ndim = v->ndim;
    memcpy(t->shape, v->size, sizeof t->shape);
    t->count = count;
    t->nbytes = nbytes;
    t->offset = s->entry->data_offset;
    if (s->in_place && count > 0)
        t->offset += v->offset * esize;
    return 0;
}

static int add_tensor(reader *r, found *f)
{
    uint64_t count = 0;
    if (check_view(r, f, &count) != 0)
        return -1;

    storage *s = f->storage;
    const int whole = f->view->offset == 0 && is_contiguous(f->view)
                      && count == s->ref->numel;
    if (whole && s->in_place && !s->whole_taken)
        return add_stored(r, f->name, s, f->view);
    return add_derived(r, f, count, whole);
}

/* Gives each storage that only views use a stored tensor of its own, so
 * that its record gets a codec instead of an opaque segment. */
static int add_storage_tensors(reader *r)
{
    for (size_t i = 0; i < r->n_storages; i++) {
        storage *s = &r->storages[i];
        if (!s->in_place || s->whole_taken || s->ref->numel == 0)
            continue;

        char name[128];
        snprintf(name, sizeof name, "data/%s" STORAGE_SUFFIX, s->ref->text);
        if (add_stored(r, name, s, NULL) != 0)
            return -1;
    }
    return 0;
}

typedef struct ordered {
    el_tensor tensor;
    size_t order;
} ordered;

static int compare_ordered(const void *a, const void *b)
{
    const ordered *x = a;
    const ordered *y = b;
    if (x->tensor.offset != y->tensor.offset)
        return x->tensor.offset < y->tensor.offset ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

/* Puts the tensors from index first on in file-offset order, keeping the
 * pickle's order among equal offsets. */
static int sort_by_offset(reader *r, size_t first)
{
    const size_t n = r->model->n_tensors - first;
    if (n < 2)
        return 0;
    el_tensor *tensors = r->model->tensors + first;

    ordered *tmp = malloc(n * sizeof *tmp);
    if (tmp == NULL)
        return el_fail(r->err, "%s: out of memory", r->path);
    for (size_t i = 0; i < n; i++)
        tmp[i] = (ordered){ .tensor = tensors[i], .order = i };
    qsort(tmp, n, sizeof *tmp, compare_ordered);
    for (size_t i = 0; i < n; i++)
        tensors[i] = tmp[i].tensor;
    free(tmp);
    return 0;
}

/* ---- entry points ------------------------------------------------------ */

static int load_tensors(reader *r, const el_pickle *pickle)
{
    char name[EL_PYTORCH_MAX_NAME + 1] = "";
    if (walk(r, pickle->root, name, 0, 0) != 0 || check_unique_names(r) != 0
        || collect_storages(r) != 0)
        return -1;

    const size_t first = r->model->n_tensors;
    for (size_t i = 0; i < r->n_found; i++)
        if (add_tensor(r, &r->found[i]) != 0)
            return -1;
    if (add_storage_tensors(r) != 0)
        return -1;
    return sort_by_offset(r, first);
}

static int parse(reader *r)
{
    const el_zip_entry *entry = NULL;
    if (find_pickle(r, &entry) != 0 || read_byteorder(r) != 0)
        return -1;

    const el_file *f = file_of(r);
    uint8_t *bytes = NULL;
    if (el_zip_extract(f->map, f->size, entry, &bytes, r->err) != 0)
        return el_fail_context(r->err, "%s", r->path);

    char label[EL_ERROR_MAX];
    snprintf(label, sizeof label, "%s: %s", r->path, entry->name);
    el_pickle pickle;
    int rc = el_pickle_load(bytes, (size_t)entry->size, label, &pickle, r->err);
    free(bytes);
    if (rc != 0)
        return -1;

    rc = load_tensors(r, &pickle);
    el_pickle_free(&pickle);
    return rc;
}

int el_pytorch_parse(el_model *model, size_t file, const el_zip *zip,
                     const char *path, el_error *err)
{
    reader r = { .model = model, .file = file, .zip = zip, .path = path, .err = err };
    model->format = "pytorch";

    const int rc = parse(&r);

    for (size_t i = 0; i < r.n_found; i++)
        free(r.found[i].name);
    for (size_t i = 0; i < r.n_storages; i++)
        free(r.storages[i].buffer);
    free(r.found);
    free(r.storages);
    free(r.prefix);
    return rc;
}

int el_pytorch_is_legacy(const uint8_t *head, size_t n)
{
    const size_t k = n < EL_PYTORCH_LEGACY_MAGIC_LEN ? n : EL_PYTORCH_LEGACY_MAGIC_LEN;
    return n >= 8 && memcmp(head, EL_PYTORCH_LEGACY_MAGIC, k) == 0;
}

int el_pytorch_open_legacy(el_model *model, const char *path, el_error *err)
{
    (void)model;
    return el_fail(err, "%s: this checkpoint uses the legacy format of PyTorch "
                   "before 1.6; re-save it with torch.save in a newer PyTorch", path);
}
