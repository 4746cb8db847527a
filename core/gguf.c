/* GGUF v2 and v3 models, single files and split sets. The parsing lives in
 * gguf_kv.c (header and key-values) and gguf_tensors.c (tensor infos). */
#include "formats.h"
#include "gguf_parse.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* A file name of a split set, "<prefix>-00001-of-00003.gguf" as llama.cpp's
 * gguf-split writes it ("%s-%05d-of-%05d.gguf"). */
typedef struct split_name {
    size_t prefix_len;      /* bytes of the path before "-00001" */
    int index_width;        /* digits of the shard number */
    unsigned long index;    /* 1-based shard number */
    unsigned long count;
    const char *count_text; /* the digits of the count, as in the name */
    int count_width;
} split_name;

/* Reads the digits ending just before path[end], at least 5 and at most 9 of
 * them, into *value. Returns the position of the first digit, or 0. */
static size_t digits_before(const char *path, size_t end, unsigned long *value)
{
    size_t start = end;
    while (start > 0 && path[start - 1] >= '0' && path[start - 1] <= '9')
        start--;
    if (end - start < 5 || end - start > 9 || start == 0)
        return 0;

    *value = 0;
    for (size_t i = start; i < end; i++)
        *value = *value * 10 + (unsigned long)(path[i] - '0');
    return start;
}

/* Whether path names a shard of a split set; fills *s when it does. */
static int parse_split_name(const char *path, split_name *s)
{
    const size_t n = strlen(path);
    if (n < 5 || strcmp(path + n - 5, ".gguf") != 0)
        return 0;

    const size_t count_start = digits_before(path, n - 5, &s->count);
    if (count_start < 5 || memcmp(path + count_start - 4, "-of-", 4) != 0)
        return 0;

    const size_t index_start = digits_before(path, count_start - 4, &s->index);
    if (index_start == 0 || path[index_start - 1] != '-')
        return 0;

    s->prefix_len = index_start - 1;
    s->index_width = (int)(count_start - 4 - index_start);
    s->count_text = path + count_start;
    s->count_width = (int)(n - 5 - count_start);
    return s->index >= 1 && s->index <= s->count;
}

/* Path of shard `index` of the set, malloc'd. */
static char *shard_path(const char *path, const split_name *s, unsigned long index)
{
    const size_t len = s->prefix_len + 32 + (size_t)s->count_width;
    char *out = malloc(len);
    if (out != NULL)
        snprintf(out, len, "%.*s-%0*lu-of-%.*s.gguf", (int)s->prefix_len, path,
                 s->index_width, index, s->count_width, s->count_text);
    return out;
}

/* Checks an integer key that a split set must agree on, when present. */
static int check_split_key(const gguf_header *h, const char *key, unsigned long want,
                           el_error *err)
{
    const gguf_kv *kv = gguf_find_kv(h, key);
    int64_t v = 0;
    if (kv == NULL)
        return 0;
    if (gguf_kv_integer(h, kv, &v, err) != 0)
        return -1;
    if (v != (int64_t)want)
        return el_fail(err, "%s: key '%s' is %lld, but the file name makes it %lu; "
                       "keep the shard names that llama.cpp's gguf-split wrote",
                       h->path, key, (long long)v, want);
    return 0;
}

/* Maps path as the model's next file and reads its key-values and tensors. */
static int open_file(el_model *m, const char *path, gguf_header *h, el_error *err)
{
    size_t file = 0;
    if (el_model_add_file(m, path, &file, err) != 0)
        return -1;

    const el_file *f = &m->files[file];
    gguf_cursor c = { .path = path, .base = f->map, .size = f->size };
    if (gguf_parse_header(&c, h, err) != 0)
        return -1;
    if (gguf_add_tensors(m, file, &c, h, err) != 0) {
        gguf_header_free(h);
        return -1;
    }
    return 0;
}

/* Opens shards 2 to count after the first one, whose header is first. */
static int open_other_shards(el_model *m, const char *path, const split_name *s,
                             el_error *err)
{
    for (unsigned long i = 2; i <= s->count; i++) {
        char *shard = shard_path(path, s, i);
        if (shard == NULL)
            return el_fail(err, "%s: out of memory", path);

        struct stat st;
        if (stat(shard, &st) != 0) {
            el_fail(err, "%s: shard %lu of %lu of this split model, %s, cannot be "
                    "opened: %s; put every shard in the same folder", path, i,
                    s->count, shard, strerror(errno));
            free(shard);
            return -1;
        }

        gguf_header h;
        int rc = open_file(m, shard, &h, err);
        if (rc == 0) {
            rc = check_split_key(&h, "split.no", i - 1, err);
            if (rc == 0)
                rc = check_split_key(&h, "split.count", s->count, err);
            gguf_header_free(&h);
        }
        free(shard);
        if (rc != 0)
            return -1;
    }
    return 0;
}

static int compare_tensor_names(const void *a, const void *b)
{
    const el_tensor *const *x = a;
    const el_tensor *const *y = b;
    return strcmp((*x)->name, (*y)->name);
}

/* Tensor names must be unique across every file of the model. */
static int check_unique_names(const el_model *m, el_error *err)
{
    if (m->n_tensors < 2)
        return 0;

    const el_tensor **sorted = malloc(m->n_tensors * sizeof *sorted);
    if (sorted == NULL)
        return el_fail(err, "%s: out of memory checking %zu tensor names", m->path,
                       m->n_tensors);
    for (size_t i = 0; i < m->n_tensors; i++)
        sorted[i] = &m->tensors[i];
    qsort(sorted, m->n_tensors, sizeof *sorted, compare_tensor_names);

    int rc = 0;
    for (size_t i = 1; i < m->n_tensors && rc == 0; i++) {
        const el_tensor *a = sorted[i - 1];
        const el_tensor *b = sorted[i];
        if (strcmp(a->name, b->name) == 0) {
            const gguf_string name = { a->name, strlen(a->name) };
            char shown[96];
            rc = el_fail(err, "%s: tensor name '%s' appears twice (in %s and %s); "
                         GGUF_FIX, m->files[a->file].path,
                         gguf_printable(name, shown, sizeof shown),
                         m->files[a->file].name, m->files[b->file].name);
        }
    }
    free(sorted);
    return rc;
}

/* The first shard of a split set opens the whole set. A later shard opened
 * directly is read as a model of that one file, so that a single shard can
 * be inspected without its siblings. */
int el_gguf_open(el_model *model, const char *path, el_error *err)
{
    model->format = "gguf";

    split_name s;
    const int is_set = parse_split_name(path, &s) && s.index == 1 && s.count > 1;

    gguf_header first;
    if (open_file(model, path, &first, err) != 0)
        return -1;

    int rc = 0;
    if (is_set) {
        rc = check_split_key(&first, "split.no", 0, err);
        if (rc == 0)
            rc = check_split_key(&first, "split.count", s.count, err);
        if (rc == 0)
            rc = open_other_shards(model, path, &s, err);
    }
    if (rc == 0)
        rc = check_unique_names(model, err);

    if (rc == 0 && is_set) {
        const gguf_kv *total = gguf_find_kv(&first, "split.tensors.count");
        int64_t n = 0;
        if (total != NULL && (rc = gguf_kv_integer(&first, total, &n, err)) == 0
            && n != (int64_t)model->n_tensors)
            rc = el_fail(err, "%s: key 'split.tensors.count' is %lld, but the %lu "
                         "shards hold %zu tensors; a shard is from another set: "
                         "download or split the model again", path, (long long)n,
                         s.count, model->n_tensors);
    }

    if (rc == 0)
        rc = gguf_summary_json(&first, model->n_files, &model->metadata_json, err);
    gguf_header_free(&first);
    return rc;
}
