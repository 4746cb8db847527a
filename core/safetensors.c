#include "safetensors.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

/* Advice appended to every message about a damaged file. */
#define FIX_FILE "the file is damaged or not safetensors: download or export it again"

/* Largest integer accepted in "shape" and "data_offsets". cJSON stores
 * numbers as doubles, and every integer below 2^53 is exact in a double. */
#define MAX_EXACT_INTEGER 9007199254740992.0 /* 2^53 */

/* One tensor entry as read from the header, before it joins the model. */
typedef struct entry {
    el_tensor tensor;
    uint64_t begin, end;    /* data_offsets, relative to the data area */
    size_t order;           /* position in the header, for a stable sort */
} entry;

typedef struct header {
    const char *path;
    uint64_t data_size;     /* bytes after the header */
    entry *entries;
    size_t n_entries;
    char *metadata_json;
} header;

/* Length of the valid UTF-8 sequence starting at s (at most n bytes), or 0
 * when it is invalid: overlong forms, surrogates and code points above
 * U+10FFFF are rejected as RFC 3629 requires. */
static size_t utf8_sequence_length(const uint8_t *s, size_t n)
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

/* Checks that the header is UTF-8 without raw control characters, which
 * JSON allows only as whitespace (tab, line feed, carriage return). */
static int check_header_text(const header *h, const uint8_t *text, size_t n,
                             el_error *err)
{
    size_t i = 0;
    while (i < n) {
        const uint8_t c = text[i];
        if (c < 0x20 && c != '\t' && c != '\n' && c != '\r')
            return el_fail(err, "%s: header byte %zu is the control character "
                           "0x%02x; " FIX_FILE, h->path, 8 + i, c);

        const size_t len = utf8_sequence_length(text + i, n - i);
        if (len == 0)
            return el_fail(err, "%s: header byte %zu (0x%02x) is not valid UTF-8; "
                           FIX_FILE, h->path, 8 + i, c);
        i += len;
    }
    return 0;
}

/* Reads a JSON number that must be a non-negative integer below 2^53.
 * NOTE: cJSON rounds the text to a double before this check, so a fraction
 * within rounding distance of an integer near 2^53 passes as that integer. */
static int read_uint(const header *h, const char *tensor, const char *field,
                     const cJSON *item, uint64_t *out, el_error *err)
{
    if (!cJSON_IsNumber(item))
        return el_fail(err, "%s: tensor '%s': %s contains a non-number; " FIX_FILE,
                       h->path, tensor, field);

    const double v = item->valuedouble;
    if (!(v >= 0) || v >= MAX_EXACT_INTEGER || v != (double)(uint64_t)v)
        return el_fail(err, "%s: tensor '%s': %s contains %.17g, expected an integer "
                       "from 0 to 2^53-1; " FIX_FILE, h->path, tensor, field, v);

    *out = (uint64_t)v;
    return 0;
}

/* Fails when a field of the entry appears twice: cJSON keeps both members
 * and would silently read the first. One pass, so that an entry with very
 * many members cannot make this quadratic. */
static int check_unique_fields(const header *h, const char *tensor,
                               const cJSON *object, el_error *err)
{
    static const char *const fields[] = { "dtype", "shape", "data_offsets" };
    int seen[3] = { 0, 0, 0 };

    for (const cJSON *m = object->child; m != NULL; m = m->next) {
        for (int i = 0; i < 3; i++) {
            if (strcmp(m->string, fields[i]) != 0)
                continue;
            if (seen[i]++)
                return el_fail(err, "%s: tensor '%s': field '%s' appears twice; "
                               FIX_FILE, h->path, tensor, fields[i]);
        }
    }
    return 0;
}

static int parse_dtype(const header *h, const char *name, const cJSON *item,
                       el_dtype *out, el_error *err)
{
    if (item == NULL)
        return el_fail(err, "%s: tensor '%s': field 'dtype' is missing; " FIX_FILE,
                       h->path, name);
    if (!cJSON_IsString(item))
        return el_fail(err, "%s: tensor '%s': field 'dtype' is not a string; "
                       FIX_FILE, h->path, name);
    if (el_dtype_parse(item->valuestring, out) != 0)
        return el_fail(err, "%s: tensor '%s': dtype '%.40s' is not supported; "
                       "expected one of F64 F32 F16 BF16 F8_E4M3 F8_E5M2 I64 I32 "
                       "I16 I8 U64 U32 U16 U8 BOOL", h->path, name,
                       item->valuestring);
    return 0;
}

/* Fills ndim, shape and count, rejecting a count that overflows uint64. */
static int parse_shape(const header *h, const char *name, const cJSON *item,
                       el_tensor *t, el_error *err)
{
    if (item == NULL)
        return el_fail(err, "%s: tensor '%s': field 'shape' is missing; " FIX_FILE,
                       h->path, name);
    if (!cJSON_IsArray(item))
        return el_fail(err, "%s: tensor '%s': field 'shape' is not an array; "
                       FIX_FILE, h->path, name);

    const int ndim = cJSON_GetArraySize(item);
    if (ndim > EL_MAX_DIMS)
        return el_fail(err, "%s: tensor '%s': shape has %d dimensions, more than "
                       "the %d supported", h->path, name, ndim, EL_MAX_DIMS);

    uint64_t count = 1;
    int d = 0;
    for (const cJSON *dim = item->child; dim != NULL; dim = dim->next, d++) {
        if (read_uint(h, name, "shape", dim, &t->shape[d], err) != 0)
            return -1;
        if (t->shape[d] != 0 && count > UINT64_MAX / t->shape[d])
            return el_fail(err, "%s: tensor '%s': the product of shape overflows "
                           "64 bits at dimension %d; " FIX_FILE, h->path, name, d);
        count *= t->shape[d];
    }

    t->ndim = ndim;
    t->count = count;
    return 0;
}

static int parse_offsets(const header *h, const char *name, const cJSON *item,
                         entry *e, el_error *err)
{
    if (item == NULL)
        return el_fail(err, "%s: tensor '%s': field 'data_offsets' is missing; "
                       FIX_FILE, h->path, name);
    if (!cJSON_IsArray(item) || cJSON_GetArraySize(item) != 2)
        return el_fail(err, "%s: tensor '%s': field 'data_offsets' is not an array "
                       "[begin, end]; " FIX_FILE, h->path, name);

    if (read_uint(h, name, "data_offsets", item->child, &e->begin, err) != 0 ||
        read_uint(h, name, "data_offsets", item->child->next, &e->end, err) != 0)
        return -1;

    if (e->begin > e->end)
        return el_fail(err, "%s: tensor '%s': data_offsets [%llu, %llu] has begin "
                       "after end; " FIX_FILE, h->path, name,
                       (unsigned long long)e->begin, (unsigned long long)e->end);
    if (e->end > h->data_size)
        return el_fail(err, "%s: tensor '%s': data_offsets end %llu is past the "
                       "data area of %llu bytes; the file is truncated or damaged: "
                       "download or export it again", h->path, name,
                       (unsigned long long)e->end, (unsigned long long)h->data_size);
    return 0;
}

/* Parses one "name": {dtype, shape, data_offsets} member. Other members are
 * ignored so that a writer's extra fields do not make the file unreadable,
 * and restore writes the header bytes back unchanged anyway. */
static int parse_entry(const header *h, const cJSON *item, entry *e,
                       el_error *err)
{
    const char *name = item->string;
    el_tensor *t = &e->tensor;

    if (!cJSON_IsObject(item))
        return el_fail(err, "%s: tensor '%s': entry is not a JSON object; "
                       FIX_FILE, h->path, name);
    if (check_unique_fields(h, name, item, err) != 0)
        return -1;

    if (parse_dtype(h, name, cJSON_GetObjectItemCaseSensitive(item, "dtype"),
                    &t->dtype, err) != 0 ||
        parse_shape(h, name, cJSON_GetObjectItemCaseSensitive(item, "shape"),
                    t, err) != 0 ||
        parse_offsets(h, name,
                      cJSON_GetObjectItemCaseSensitive(item, "data_offsets"),
                      e, err) != 0)
        return -1;

    const uint64_t size = el_dtype_size(t->dtype);
    if (t->count > UINT64_MAX / size)
        return el_fail(err, "%s: tensor '%s': shape times the %llu-byte %s element "
                       "overflows 64 bits; " FIX_FILE, h->path, name,
                       (unsigned long long)size, el_dtype_name(t->dtype));
    t->nbytes = t->count * size;

    if (t->nbytes != e->end - e->begin)
        return el_fail(err, "%s: tensor '%s': shape and dtype %s give %llu bytes "
                       "but data_offsets [%llu, %llu] span %llu; " FIX_FILE,
                       h->path, name, el_dtype_name(t->dtype),
                       (unsigned long long)t->nbytes,
                       (unsigned long long)e->begin, (unsigned long long)e->end,
                       (unsigned long long)(e->end - e->begin));

    t->name = strdup(name);
    if (t->name == NULL)
        return el_fail(err, "%s: tensor '%s': out of memory", h->path, name);
    return 0;
}

/* Keeps "__metadata__", which must map strings to strings, as JSON text. */
static int parse_metadata(header *h, const cJSON *item, el_error *err)
{
    if (!cJSON_IsObject(item))
        return el_fail(err, "%s: field '__metadata__' is not a JSON object; "
                       FIX_FILE, h->path);

    for (const cJSON *m = item->child; m != NULL; m = m->next)
        if (!cJSON_IsString(m))
            return el_fail(err, "%s: __metadata__ key '%s' has a non-string value; "
                           FIX_FILE, h->path, m->string);

    h->metadata_json = cJSON_PrintUnformatted(item);
    if (h->metadata_json == NULL)
        return el_fail(err, "%s: out of memory copying __metadata__", h->path);
    return 0;
}

static int compare_names(const void *a, const void *b)
{
    const char *const *x = a;
    const char *const *y = b;
    return strcmp(*x, *y);
}

static int check_unique_names(const header *h, const cJSON *root, el_error *err)
{
    const int n = cJSON_GetArraySize(root);
    if (n < 2)
        return 0;

    const char **names = malloc((size_t)n * sizeof *names);
    if (names == NULL)
        return el_fail(err, "%s: out of memory checking %d tensor names", h->path, n);

    int i = 0;
    for (const cJSON *item = root->child; item != NULL; item = item->next)
        names[i++] = item->string;
    qsort(names, (size_t)n, sizeof *names, compare_names);

    int rc = 0;
    for (i = 1; i < n; i++) {
        if (strcmp(names[i - 1], names[i]) == 0) {
            rc = el_fail(err, "%s: tensor '%s' is listed twice in the header; "
                         FIX_FILE, h->path, names[i]);
            break;
        }
    }
    free(names);
    return rc;
}

static int compare_entries(const void *a, const void *b)
{
    const entry *x = a;
    const entry *y = b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

/* Sorts the entries by offset and checks that the non-empty ones tile the
 * data area exactly. Empty tensors may sit at any offset within it. */
static int check_layout(header *h, el_error *err)
{
    if (h->n_entries > 1)
        qsort(h->entries, h->n_entries, sizeof *h->entries, compare_entries);

    uint64_t next = 0;
    const entry *prev = NULL;
    for (size_t i = 0; i < h->n_entries; i++) {
        const entry *e = &h->entries[i];
        if (e->tensor.nbytes == 0)
            continue;

        if (e->begin < next)
            return el_fail(err, "%s: tensor '%s' (bytes %llu-%llu) overlaps tensor "
                           "'%s' (bytes %llu-%llu) in data_offsets; " FIX_FILE,
                           h->path, e->tensor.name, (unsigned long long)e->begin,
                           (unsigned long long)e->end, prev->tensor.name,
                           (unsigned long long)prev->begin,
                           (unsigned long long)prev->end);
        if (e->begin > next)
            return el_fail(err, "%s: data_offsets leave bytes %llu-%llu unused "
                           "before tensor '%s'; " FIX_FILE, h->path,
                           (unsigned long long)next, (unsigned long long)e->begin,
                           e->tensor.name);
        next = e->end;
        prev = e;
    }

    if (next != h->data_size)
        return el_fail(err, "%s: %llu trailing bytes after the last tensor's "
                       "data_offsets (data area %llu bytes); " FIX_FILE, h->path,
                       (unsigned long long)(h->data_size - next),
                       (unsigned long long)h->data_size);
    return 0;
}

static int parse_entries(header *h, const cJSON *root, el_error *err)
{
    const size_t n_members = (size_t)cJSON_GetArraySize(root);
    if (n_members > 0) {
        h->entries = calloc(n_members, sizeof *h->entries);
        if (h->entries == NULL)
            return el_fail(err, "%s: out of memory for %zu tensors", h->path,
                           n_members);
    }

    for (const cJSON *item = root->child; item != NULL; item = item->next) {
        if (strcmp(item->string, "__metadata__") == 0) {
            if (parse_metadata(h, item, err) != 0)
                return -1;
            continue;
        }

        entry *e = &h->entries[h->n_entries];
        e->order = h->n_entries;
        h->n_entries++;
        if (parse_entry(h, item, e, err) != 0)
            return -1;
    }
    return 0;
}

/* Checks the header text and parses it into h. */
static int parse_header(header *h, const uint8_t *text, size_t len,
                        el_error *err)
{
    if (check_header_text(h, text, len, err) != 0)
        return -1;

    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts((const char *)text, len, &end, 0);
    if (root == NULL)
        return el_fail(err, "%s: header is not valid JSON (error near byte %zu); "
                       FIX_FILE, h->path, 8 + (size_t)(end - (const char *)text));

    int rc = 0;
    /* Writers pad the header with spaces to align the data area. */
    for (const char *p = end; p < (const char *)text + len; p++) {
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
            rc = el_fail(err, "%s: header has bytes after its JSON object at byte "
                         "%zu; " FIX_FILE, h->path, 8 + (size_t)(p - (const char *)text));
            break;
        }
    }

    if (rc == 0 && !cJSON_IsObject(root))
        rc = el_fail(err, "%s: header is JSON but not an object; " FIX_FILE, h->path);
    if (rc == 0)
        rc = check_unique_names(h, root, err);
    if (rc == 0)
        rc = parse_entries(h, root, err);

    cJSON_Delete(root);
    return rc;
}

static void free_header(header *h)
{
    for (size_t i = 0; i < h->n_entries; i++)
        free(h->entries[i].tensor.name);
    free(h->entries);
    free(h->metadata_json);
}

/* Reads the length prefix and checks it against the file size. */
static int read_header_length(const el_file *f, const char *path,
                              uint64_t *out, el_error *err)
{
    if (f->size < 8)
        return el_fail(err, "%s: file is %llu bytes, too short for the 8-byte "
                       "safetensors header length; " FIX_FILE, path,
                       (unsigned long long)f->size);

    uint64_t n = 0;
    for (int i = 7; i >= 0; i--)
        n = (n << 8) | f->map[i];

    if (n == 0)
        return el_fail(err, "%s: header length is 0; " FIX_FILE, path);
    if (n > EL_SAFETENSORS_MAX_HEADER)
        return el_fail(err, "%s: header length %llu is larger than the %u-byte "
                       "limit; " FIX_FILE, path, (unsigned long long)n,
                       EL_SAFETENSORS_MAX_HEADER);
    if (n > f->size - 8)
        return el_fail(err, "%s: header length %llu is past the end of the "
                       "%llu-byte file; the file is truncated or damaged: "
                       "download or export it again", path, (unsigned long long)n,
                       (unsigned long long)f->size);

    *out = n;
    return 0;
}

/* Moves the parsed tensors into the model, taking ownership of their names. */
static int append_tensors(el_model *model, size_t file, header *h,
                          el_error *err)
{
    el_file *f = &model->files[file];
    const size_t total = model->n_tensors + h->n_entries;

    if (h->n_entries > 0) {
        el_tensor *grown = realloc(model->tensors, total * sizeof *grown);
        if (grown == NULL)
            return el_fail(err, "%s: out of memory for %zu tensors", h->path, total);
        model->tensors = grown;
    }

    for (size_t i = 0; i < h->n_entries; i++) {
        el_tensor *t = &model->tensors[model->n_tensors + i];
        *t = h->entries[i].tensor;
        t->file = file;
        t->offset = f->data_start + h->entries[i].begin;
        t->data = f->map + t->offset;
        h->entries[i].tensor.name = NULL;
    }
    model->n_tensors = total;

    f->metadata_json = h->metadata_json;
    h->metadata_json = NULL;
    return 0;
}

int el_safetensors_parse(el_model *model, size_t file, const char *path,
                         el_error *err)
{
    el_file *f = &model->files[file];

    uint64_t header_len = 0;
    if (read_header_length(f, path, &header_len, err) != 0)
        return -1;

    header h = {
        .path = path,
        .data_size = f->size - 8 - header_len,
    };
    int rc = parse_header(&h, f->map + 8, (size_t)header_len, err);
    if (rc == 0)
        rc = check_layout(&h, err);
    if (rc == 0) {
        f->data_start = 8 + header_len;
        rc = append_tensors(model, file, &h, err);
    }

    free_header(&h);
    return rc;
}
