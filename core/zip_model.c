/* Opening zip archives (PyTorch checkpoints and NumPy .npz) and .npy files
 * as models. A stored C-order little-endian array is a tensor over the file's
 * bytes. Every other array (deflated, Fortran order, big-endian) is a derived
 * tensor with its converted bytes in memory, and the container's opaque
 * segments keep the file's own bytes. */
#include "formats.h"

#include <stdlib.h>
#include <string.h>

#include "npy.h"
#include "pytorch.h"
#include "zip.h"

static int has_suffix(const char *s, const char *suffix)
{
    const size_t n = strlen(s);
    const size_t k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

static int is_pytorch(const el_zip *zip)
{
    for (size_t i = 0; i < zip->n_entries; i++)
        if (has_suffix(zip->entries[i].name, "/data.pkl"))
            return 1;
    return 0;
}

static int is_npz_member(const el_zip_entry *e)
{
    return has_suffix(e->name, ".npy");
}

/* Fills a tensor from a parsed header. A native array points at `data` in
 * the file; any other is derived, with converted bytes in `owned`. `buffer`,
 * when not NULL, is a heap copy of the whole member that the tensor may take
 * over (and that is freed either way). */
static int fill_tensor(el_model *model, size_t file, const char *name,
                       const el_npy_header *h, uint64_t offset, const uint8_t *data,
                       uint8_t *buffer, el_error *err)
{
    el_tensor *t = el_model_add_tensor(model, err);
    if (t == NULL) {
        free(buffer);
        return -1;
    }
    t->name = strdup(name);
    if (t->name == NULL) {
        free(buffer);
        return el_fail(err, "out of memory");
    }

    t->dtype = h->dtype;
    t->ndim = h->ndim;
    memcpy(t->shape, h->shape, sizeof t->shape);
    t->count = h->count;
    t->nbytes = h->nbytes;
    t->file = file;
    t->offset = offset;

    if (buffer == NULL && el_npy_is_native(h)) {
        t->data = data;
        return 0;
    }

    t->derived = 1;
    if (el_npy_is_native(h)) {
        /* Only the header moves out of the way; the buffer is reused. */
        memmove(buffer, data, (size_t)h->nbytes);
        t->owned = buffer;
        t->data = buffer;
        return 0;
    }

    t->owned = malloc(h->nbytes > 0 ? (size_t)h->nbytes : 1);
    if (t->owned == NULL) {
        free(buffer);
        return el_fail(err, "out of memory for %llu bytes",
                       (unsigned long long)h->nbytes);
    }
    el_npy_to_native(h, data, t->owned);
    t->data = t->owned;
    free(buffer);
    return 0;
}

/* Adds one .npy member of an .npz archive as a tensor named after the member
 * without ".npy". */
static int add_npz_member(el_model *model, size_t file, const el_zip_entry *e,
                          el_error *err)
{
    const el_file *f = &model->files[file];
    const size_t name_len = strlen(e->name) - strlen(".npy");
    char *name = strndup(e->name, name_len);
    if (name == NULL)
        return el_fail(err, "out of memory");

    /* Names are unique without a lookup: el_zip_read rejects repeated member
     * names, and every member loses the same suffix. */
    if (name_len == 0) {
        free(name);
        return el_fail(err, "member '%s' gives an empty tensor name; rename the "
                       "array in the archive", e->name);
    }

    /* A stored member is parsed in place; any other is extracted first
     * (el_zip_extract rejects methods other than deflate, naming the member).
     * NOTE: the CRC-32 of a stored member is not checked, so that opening
     * reads only headers; damaged stored data shows up as wrong values. */
    uint8_t *buffer = NULL;
    if (e->method != 0 && el_zip_extract(f->map, f->size, e, &buffer, err) != 0) {
        free(name);
        return -1;
    }
    const uint8_t *member = buffer != NULL ? buffer : f->map + e->data_offset;

    el_npy_header h;
    int rc = el_npy_parse(member, e->size, &h, err);
    if (rc != 0) {
        free(buffer);
    } else {
        /* A derived tensor's offset is that of the member's (compressed) data. */
        const uint64_t offset = e->data_offset + (buffer != NULL ? 0 : h.data_offset);
        rc = fill_tensor(model, file, name, &h, offset, member + h.data_offset, buffer,
                         err);
    }

    free(name);
    if (rc != 0)
        return el_fail_context(err, "member '%s'", e->name);
    return 0;
}

static int compare_offsets(const void *a, const void *b)
{
    const el_zip_entry *const *x = a;
    const el_zip_entry *const *y = b;
    if ((*x)->data_offset != (*y)->data_offset)
        return (*x)->data_offset < (*y)->data_offset ? -1 : 1;
    return 0;
}

/* Adds every .npy member in file order. Other members are left to the
 * opaque segments: np.savez writes none, but they do no harm. */
static int open_npz(el_model *model, size_t file, const el_zip *zip, el_error *err)
{
    const el_zip_entry **members = malloc((zip->n_entries + 1) * sizeof *members);
    if (members == NULL)
        return el_fail(err, "out of memory for %zu members", zip->n_entries);

    size_t n = 0;
    for (size_t i = 0; i < zip->n_entries; i++)
        if (is_npz_member(&zip->entries[i]))
            members[n++] = &zip->entries[i];
    qsort(members, n, sizeof *members, compare_offsets);

    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = add_npz_member(model, file, members[i], err);

    free(members);
    model->format = "npz";
    return rc;
}

static int has_npy_member(const el_zip *zip)
{
    for (size_t i = 0; i < zip->n_entries; i++)
        if (is_npz_member(&zip->entries[i]))
            return 1;
    return 0;
}

/* Records the CRC-32 fields of every stored member, so that a restore that
 * changed tensor bytes inside a member writes a CRC that matches them.
 * Deflated members are restored as they were, so their CRCs stay right. */
static int add_crc_fixups(el_file *f, const el_zip *zip, el_error *err)
{
    f->crc_fixups = calloc(zip->n_entries ? zip->n_entries : 1, sizeof *f->crc_fixups);
    if (f->crc_fixups == NULL)
        return el_fail(err, "%s: out of memory", f->path);

    for (size_t i = 0; i < zip->n_entries; i++) {
        const el_zip_entry *e = &zip->entries[i];
        if (e->method != 0)
            continue;
        el_crc_fixup *fix = &f->crc_fixups[f->n_crc_fixups++];
        fix->start = e->data_offset;
        fix->length = e->compressed_size;
        fix->n_at = el_zip_crc_offsets(f->map, f->size, e, fix->at);
    }
    return 0;
}

int el_zip_open(el_model *model, const char *path, el_error *err)
{
    size_t file;
    if (el_model_add_file(model, path, &file, err) != 0)
        return -1;

    const el_file *f = &model->files[file];
    el_zip zip;
    if (el_zip_read(f->map, f->size, path, &zip, err) != 0)
        return -1;

    int rc = add_crc_fixups(&model->files[file], &zip, err);
    if (rc != 0) {
        el_zip_free(&zip);
        return -1;
    }
    if (is_pytorch(&zip)) {
        rc = el_pytorch_parse(model, file, &zip, path, err);
    } else if (has_npy_member(&zip)) {
        rc = open_npz(model, file, &zip, err);
        if (rc != 0)
            el_fail_context(err, "%s", path);
    } else {
        rc = el_fail(err, "%s: zip archive holds neither a PyTorch checkpoint "
                     "(a member named '<name>/data.pkl') nor NumPy arrays (members "
                     "ending in '.npy'); give a .pt, .bin or .npz file", path);
    }

    el_zip_free(&zip);
    return rc;
}

/* The tensor name of a .npy file: its base name without ".npy". */
static char *npy_tensor_name(const char *file_name)
{
    const size_t n = strlen(file_name);
    if (has_suffix(file_name, ".npy") && n > strlen(".npy"))
        return strndup(file_name, n - strlen(".npy"));
    return strdup(file_name);
}

int el_npy_open(el_model *model, const char *path, el_error *err)
{
    size_t file;
    if (el_model_add_file(model, path, &file, err) != 0)
        return -1;

    el_file *f = &model->files[file];
    el_npy_header h;
    if (el_npy_parse(f->map, f->size, &h, err) != 0)
        return el_fail_context(err, "%s", path);
    f->data_start = h.data_offset;

    char *name = npy_tensor_name(f->name);
    if (name == NULL)
        return el_fail(err, "%s: out of memory", path);
    const int rc = fill_tensor(model, file, name, &h, h.data_offset,
                               f->map + h.data_offset, NULL, err);
    free(name);
    if (rc != 0)
        return el_fail_context(err, "%s", path);

    model->format = "npy";
    return 0;
}
