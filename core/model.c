#include "model.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "container_read.h"
#include "formats.h"
#include "pytorch.h"
#include "safetensors.h"

#define INDEX_NAME "model.safetensors.index.json"

/* Largest shard index read; real ones are a few megabytes. */
#define MAX_INDEX_BYTES (100u * 1000u * 1000u)

/* One "tensor": "shard" member of an index's weight_map. */
typedef struct weight {
    const char *tensor;
    const char *shard;
    size_t file;            /* index into el_model.files */
    int found;
} weight;

static int has_suffix(const char *s, const char *suffix)
{
    const size_t n = strlen(s);
    const size_t k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash != NULL ? slash + 1 : path;
}

/* Returns "dir/name" in a malloc'd string, or NULL when out of memory. */
static char *join_path(const char *dir, const char *name)
{
    const size_t n = strlen(dir) + 1 + strlen(name) + 1;
    char *path = malloc(n);
    if (path != NULL)
        snprintf(path, n, "%s/%s", dir, name);
    return path;
}

/* Returns the folder part of a path ("." when there is none), malloc'd. */
static char *dir_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (slash == NULL)
        return strdup(".");
    if (slash == path)
        return strdup("/");
    return strndup(path, (size_t)(slash - path));
}

/* Every live file mapping, so that el_release_range drops pages only of
 * mapped model files and never of heap memory that a caller's tensor may
 * point to (MADV_DONTNEED on anonymous memory would zero it). */
#define MAX_MAPPINGS 1024
typedef struct mapping {
    uintptr_t start, end;
} mapping;
static mapping mappings[MAX_MAPPINGS];
static size_t n_mappings;
static pthread_mutex_t mappings_lock = PTHREAD_MUTEX_INITIALIZER;

static void register_mapping(const void *map, uint64_t size)
{
    pthread_mutex_lock(&mappings_lock);
    if (n_mappings < MAX_MAPPINGS)
        mappings[n_mappings++] = (mapping){ (uintptr_t)map, (uintptr_t)map + size };
    pthread_mutex_unlock(&mappings_lock);
}

static void unregister_mapping(const void *map)
{
    pthread_mutex_lock(&mappings_lock);
    for (size_t i = 0; i < n_mappings; i++) {
        if (mappings[i].start == (uintptr_t)map) {
            mappings[i] = mappings[--n_mappings];
            break;
        }
    }
    pthread_mutex_unlock(&mappings_lock);
}

static int is_mapped(uintptr_t start, uintptr_t end)
{
    int found = 0;
    pthread_mutex_lock(&mappings_lock);
    for (size_t i = 0; i < n_mappings && !found; i++)
        found = start >= mappings[i].start && end <= mappings[i].end;
    pthread_mutex_unlock(&mappings_lock);
    return found;
}

/* Maps a whole regular file read-only. An empty file gets map NULL, size 0. */
static int map_file(const char *path, const uint8_t **map, uint64_t *size,
                    el_error *err)
{
    const int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return el_fail(err, "%s: cannot open: %s", path, strerror(errno));

    struct stat st;
    if (fstat(fd, &st) != 0) {
        const int e = errno;
        close(fd);
        return el_fail(err, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return el_fail(err, "%s: not a regular file; give a .safetensors file, "
                       "an index .json or a folder", path);
    }
    if ((uint64_t)st.st_size > SIZE_MAX) {
        close(fd);
        return el_fail(err, "%s: %lld bytes is too large to map on this system",
                       path, (long long)st.st_size);
    }

    void *p = NULL;
    if (st.st_size > 0) {
        p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            const int e = errno;
            close(fd);
            return el_fail(err, "%s: cannot map %lld bytes: %s", path,
                           (long long)st.st_size, strerror(e));
        }
    }
    close(fd);

    register_mapping(p, (uint64_t)st.st_size);
    *map = p;
    *size = (uint64_t)st.st_size;
    return 0;
}

static void unmap_file(const uint8_t *map, uint64_t size)
{
    if (map != NULL) {
        unregister_mapping(map);
        munmap((void *)(uintptr_t)map, (size_t)size);
    }
}

int el_model_add_file(el_model *m, const char *path, size_t *file, el_error *err)
{
    el_file *grown = realloc(m->files, (m->n_files + 1) * sizeof *grown);
    if (grown == NULL)
        return el_fail(err, "%s: out of memory", path);
    m->files = grown;

    el_file *f = &m->files[m->n_files];
    memset(f, 0, sizeof *f);
    m->n_files++;
    *file = m->n_files - 1;

    f->path = strdup(path);
    f->name = strdup(base_name(path));
    if (f->path == NULL || f->name == NULL)
        return el_fail(err, "%s: out of memory", path);
    return map_file(path, &f->map, &f->size, err);
}

el_tensor *el_model_add_tensor(el_model *m, el_error *err)
{
    el_tensor *grown = realloc(m->tensors, (m->n_tensors + 1) * sizeof *grown);
    if (grown == NULL) {
        el_fail(err, "out of memory for tensor %zu", m->n_tensors + 1);
        return NULL;
    }
    m->tensors = grown;
    el_tensor *t = &m->tensors[m->n_tensors++];
    memset(t, 0, sizeof *t);
    return t;
}

/* Adds a file entry, maps it and parses its safetensors header. */
static int add_safetensors(el_model *m, const char *path, el_error *err)
{
    size_t file;
    if (el_model_add_file(m, path, &file, err) != 0)
        return -1;
    return el_safetensors_parse(m, file, path, err);
}

/* A shard name must be a plain file name in the index's folder, so that an
 * index cannot point anywhere else on the system. */
static int check_shard_name(const char *index, const char *tensor,
                            const char *shard, el_error *err)
{
    if (shard[0] == '\0' || strcmp(shard, ".") == 0 || strcmp(shard, "..") == 0 ||
        strchr(shard, '/') != NULL || strchr(shard, '\\') != NULL)
        return el_fail(err, "%s: weight_map entry '%s' names shard '%s', which is "
                       "not a plain file name; shards must sit in the index's "
                       "folder", index, tensor, shard);
    return 0;
}

static int compare_weights(const void *a, const void *b)
{
    const weight *x = a;
    const weight *y = b;
    return strcmp(x->tensor, y->tensor);
}

static int compare_strings(const void *a, const void *b)
{
    const char *const *x = a;
    const char *const *y = b;
    return strcmp(*x, *y);
}

/* Reads weight_map into an array sorted by tensor name, rejecting repeated
 * tensor names and unsafe shard names. */
static int read_weight_map(const char *index, const cJSON *root, weight **out,
                           size_t *n_out, el_error *err)
{
    if (!cJSON_IsObject(root))
        return el_fail(err, "%s: not a JSON object; give a "
                       INDEX_NAME " file", index);

    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(root, "metadata");
    if (meta != NULL && !cJSON_IsObject(meta))
        return el_fail(err, "%s: field 'metadata' is not a JSON object", index);

    const cJSON *map = cJSON_GetObjectItemCaseSensitive(root, "weight_map");
    if (map == NULL)
        return el_fail(err, "%s: field 'weight_map' is missing; give a "
                       INDEX_NAME " file", index);
    if (!cJSON_IsObject(map))
        return el_fail(err, "%s: field 'weight_map' is not a JSON object", index);

    const size_t n = (size_t)cJSON_GetArraySize(map);
    weight *w = calloc(n > 0 ? n : 1, sizeof *w);
    if (w == NULL)
        return el_fail(err, "%s: out of memory for %zu weight_map entries", index, n);

    size_t i = 0;
    for (const cJSON *e = map->child; e != NULL; e = e->next, i++) {
        if (!cJSON_IsString(e)) {
            free(w);
            return el_fail(err, "%s: weight_map entry '%s' is not a shard file name "
                           "string", index, e->string);
        }
        if (check_shard_name(index, e->string, e->valuestring, err) != 0) {
            free(w);
            return -1;
        }
        w[i].tensor = e->string;
        w[i].shard = e->valuestring;
    }

    qsort(w, n, sizeof *w, compare_weights);
    for (i = 1; i < n; i++) {
        if (strcmp(w[i - 1].tensor, w[i].tensor) == 0) {
            const char *name = w[i].tensor;
            free(w);
            return el_fail(err, "%s: weight_map lists tensor '%s' twice", index, name);
        }
    }

    *out = w;
    *n_out = n;
    return 0;
}

/* Lists the distinct shard names of the weight map in sorted order. The
 * array is malloc'd, but the strings belong to the JSON tree. */
static int list_shards(const char *index, const weight *w, size_t n,
                       const char ***out, size_t *n_out, el_error *err)
{
    const char **names = malloc((n > 0 ? n : 1) * sizeof *names);
    if (names == NULL)
        return el_fail(err, "%s: out of memory", index);

    for (size_t i = 0; i < n; i++)
        names[i] = w[i].shard;
    qsort(names, n, sizeof *names, compare_strings);

    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (k == 0 || strcmp(names[k - 1], names[i]) != 0)
            names[k++] = names[i];

    *out = names;
    *n_out = k;
    return 0;
}

/* Checks that the weight map and the shards list exactly the same tensors,
 * each in the shard the map names. */
static int match_weight_map(const el_model *m, const char *index, weight *w,
                            size_t n, el_error *err)
{
    for (size_t i = 0; i < m->n_tensors; i++) {
        const el_tensor *t = &m->tensors[i];
        const el_file *f = &m->files[t->file];
        const weight key = { .tensor = t->name };
        weight *hit = bsearch(&key, w, n, sizeof *w, compare_weights);

        if (hit == NULL)
            return el_fail(err, "%s: tensor '%s' of shard '%s' is missing from "
                           "weight_map; the index does not match its shards",
                           index, t->name, f->name);
        if (strcmp(hit->shard, f->name) != 0)
            return el_fail(err, "%s: weight_map puts tensor '%s' in shard '%s', "
                           "but it is in shard '%s'; the index does not match its "
                           "shards", index, t->name, hit->shard, f->name);
        hit->found = 1;
    }

    for (size_t i = 0; i < n; i++)
        if (!w[i].found)
            return el_fail(err, "%s: weight_map entry '%s' is not in shard '%s'; "
                           "the index does not match its shards", index,
                           w[i].tensor, w[i].shard);
    return 0;
}

/* Opens every shard that the parsed index names, once each. */
static int open_shards(el_model *m, const char *index, const cJSON *root,
                       el_error *err)
{
    weight *w = NULL;
    size_t n = 0;
    if (read_weight_map(index, root, &w, &n, err) != 0)
        return -1;

    const char **shards = NULL;
    size_t n_shards = 0;
    char *dir = dir_name(index);
    int rc = dir != NULL ? list_shards(index, w, n, &shards, &n_shards, err)
                         : el_fail(err, "%s: out of memory", index);

    for (size_t s = 0; rc == 0 && s < n_shards; s++) {
        char *path = join_path(dir, shards[s]);
        if (path == NULL)
            rc = el_fail(err, "%s: out of memory", index);
        else
            rc = add_safetensors(m, path, err);
        free(path);
    }

    if (rc == 0)
        rc = match_weight_map(m, index, w, n, err);

    free(shards);
    free(dir);
    free(w);
    return rc;
}

/* Keeps the index bytes and opens the shards it lists. */
static int open_index(el_model *m, const char *index, el_error *err)
{
    const uint8_t *map = NULL;
    uint64_t size = 0;
    if (map_file(index, &map, &size, err) != 0)
        return -1;

    if (size == 0 || size > MAX_INDEX_BYTES) {
        unmap_file(map, size);
        return el_fail(err, "%s: index is %llu bytes, expected 1 to %u; give a "
                       INDEX_NAME " file", index, (unsigned long long)size,
                       MAX_INDEX_BYTES);
    }

    m->index_json = malloc((size_t)size);
    m->index_name = strdup(base_name(index));
    if (m->index_json == NULL || m->index_name == NULL) {
        unmap_file(map, size);
        return el_fail(err, "%s: out of memory", index);
    }
    memcpy(m->index_json, map, (size_t)size);
    m->index_json_len = (size_t)size;
    unmap_file(map, size);

    cJSON *root = cJSON_ParseWithLength((const char *)m->index_json,
                                        m->index_json_len);
    if (root == NULL)
        return el_fail(err, "%s: not valid JSON; give a " INDEX_NAME " file", index);

    const int rc = open_shards(m, index, root, err);
    cJSON_Delete(root);
    return rc;
}

/* Appends ", name" to a bounded list of found files for a message, cutting
 * what does not fit. Joined by hand: snprintf("%s%s") into the rest of a
 * fixed buffer trips -Wformat-truncation at some optimisation levels. */
static void list_append(char *list, size_t cap, const char *name)
{
    size_t used = strlen(list);
    const char *parts[2] = { used > 0 ? ", " : "", name };
    for (int i = 0; i < 2; i++) {
        size_t n = strlen(parts[i]);
        if (n > cap - 1 - used)
            n = cap - 1 - used;
        memcpy(list + used, parts[i], n);
        used += n;
    }
    list[used] = '\0';
}

/* Picks what to open in a folder: the shard index if there is one, else its
 * only .safetensors file. The chosen path is malloc'd. */
static int choose_in_folder(const char *dir, char **out, el_error *err)
{
    char *index = join_path(dir, INDEX_NAME);
    if (index == NULL)
        return el_fail(err, "%s: out of memory", dir);
    if (access(index, F_OK) == 0) {
        *out = index;
        return 0;
    }
    free(index);

    DIR *d = opendir(dir);
    if (d == NULL)
        return el_fail(err, "%s: cannot list folder: %s", dir, strerror(errno));

    char found[256] = "";
    char *single = NULL;
    int n_found = 0;
    for (const struct dirent *e = readdir(d); e != NULL; e = readdir(d)) {
        if (!has_suffix(e->d_name, ".safetensors"))
            continue;
        n_found++;
        list_append(found, sizeof found, e->d_name);
        if (n_found == 1)
            single = join_path(dir, e->d_name);
    }
    closedir(d);

    if (n_found == 1 && single != NULL) {
        *out = single;
        return 0;
    }
    free(single);

    if (n_found == 0)
        return el_fail(err, "%s: folder has no .safetensors file and no "
                       INDEX_NAME "; give a model file or folder", dir);
    return el_fail(err, "%s: folder has %d .safetensors files (%s) and no "
                   INDEX_NAME "; open one file or add the index", dir, n_found,
                   found);
}

/* Reads the first bytes of a file for format detection; a shorter file
 * leaves the rest zero. */
#define MAGIC_BYTES 9

static void read_magic(const char *path, uint8_t magic[MAGIC_BYTES])
{
    memset(magic, 0, MAGIC_BYTES);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    ssize_t n = read(fd, magic, MAGIC_BYTES);
    (void)n;
    close(fd);
}

/* Returns whether a file starts as safetensors does: a little-endian header
 * length within the limit, then the header's opening brace. */
static int starts_like_safetensors(const uint8_t magic[MAGIC_BYTES])
{
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--)
        n = (n << 8) | magic[i];
    return n > 0 && n <= EL_SAFETENSORS_MAX_HEADER && magic[8] == '{';
}

/* Opens a file by its content: GGUF, zip (PyTorch or npz) and .npy by
 * their magic, ONNX by its extension (protobuf has no magic), a shard index
 * by its .json name, and safetensors otherwise. */
static int open_file(el_model *m, const char *path, el_error *err)
{
    if (has_suffix(path, ".json"))
        return open_index(m, path, err);

    uint8_t magic[MAGIC_BYTES];
    read_magic(path, magic);
    if (el_is_container_file(path))
        return el_fail(err, "%s is an elves container, not a model: check it with `elves "
                       "verify`, or write the model back with `elves restore`", path);
    if (memcmp(magic, "GGUF", 4) == 0 || has_suffix(path, ".gguf"))
        return el_gguf_open(m, path, err);
    if (memcmp(magic, "PK\x03\x04", 4) == 0 || memcmp(magic, "PK\x05\x06", 4) == 0)
        return el_zip_open(m, path, err);
    if (memcmp(magic, "\x93NUMPY", 6) == 0)
        return el_npy_open(m, path, err);
    if (has_suffix(path, ".onnx"))
        return el_onnx_open(m, path, err);
    if (el_pytorch_is_legacy(magic, sizeof magic))
        return el_pytorch_open_legacy(m, path, err);
    /* A file named .safetensors gets the parser's own message on what is
     * wrong with it. */
    if (!has_suffix(path, ".safetensors") && !starts_like_safetensors(magic))
        return el_fail(err, "%s is not a model file elves reads: it starts like none of "
                       "safetensors, GGUF, a PyTorch zip or pickle, and .npy (ONNX files "
                       "need the .onnx extension)", path);
    return add_safetensors(m, path, err);
}

static int open_path(el_model *m, const char *path, el_error *err)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return el_fail(err, "%s: cannot open: %s", path, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return open_file(m, path, err);

    char *chosen = NULL;
    if (choose_in_folder(path, &chosen, err) != 0)
        return -1;
    const int rc = open_file(m, chosen, err);
    free(chosen);
    return rc;
}

int el_model_open(const char *path, el_model *out, el_error *err)
{
    memset(out, 0, sizeof *out);

    el_model m = { .format = "safetensors" };
    m.path = strdup(path);
    if (m.path == NULL)
        return el_fail(err, "%s: out of memory", path);

    if (open_path(&m, path, err) != 0) {
        el_model_close(&m);
        return -1;
    }

    *out = m;
    return 0;
}

void el_model_close(el_model *model)
{
    for (size_t i = 0; i < model->n_files; i++) {
        el_file *f = &model->files[i];
        unmap_file(f->map, f->size);
        free(f->path);
        free(f->name);
        free(f->metadata_json);
        free(f->crc_fixups);
    }
    for (size_t i = 0; i < model->n_tensors; i++) {
        free(model->tensors[i].name);
        free(model->tensors[i].owned);
    }
    free(model->metadata_json);

    free(model->files);
    free(model->tensors);
    free(model->path);
    free(model->index_json);
    free(model->index_name);
    memset(model, 0, sizeof *model);
}

uint64_t el_model_tensor_bytes(const el_model *model)
{
    uint64_t total = 0;
    for (size_t i = 0; i < model->n_tensors; i++)
        total += model->tensors[i].nbytes;
    return total;
}

void el_release_range(const void *data, uint64_t len)
{
    /* Whole pages inside the range only: a page it shares with a neighbour
     * may still be in use by another thread. */
    long page = sysconf(_SC_PAGESIZE);
    uintptr_t start = (uintptr_t)data, end = start + len;
    uintptr_t first = (start + (uintptr_t)page - 1) & ~((uintptr_t)page - 1);
    uintptr_t last = end & ~((uintptr_t)page - 1);
    if (data != NULL && last > first && is_mapped(start, end))
        madvise((void *)first, last - first, MADV_DONTNEED);
}

void el_tensor_release(const el_model *model, const el_tensor *t)
{
    if (t->derived || t->nbytes == 0 || t->file >= model->n_files)
        return;
    el_release_range(t->data, t->nbytes);
}

const char *el_tensor_type(const el_tensor *t)
{
    return t->type_name != NULL ? t->type_name : el_dtype_name(t->dtype);
}

uint64_t el_tensor_elements(const el_tensor *t)
{
    if (t->type_name == NULL)
        return t->count;

    /* Readers check that the shape's product fits when they compute nbytes. */
    uint64_t n = 1;
    for (int d = 0; d < t->ndim; d++)
        n *= t->shape[d];
    return n;
}

uint64_t el_model_parameters(const el_model *model)
{
    uint64_t total = 0;
    for (size_t i = 0; i < model->n_tensors; i++)
        total += el_tensor_elements(&model->tensors[i]);
    return total;
}

void el_shape_format(const el_tensor *t, char *buf, size_t len)
{
    if (len == 0)
        return;

    size_t used = (size_t)snprintf(buf, len, "[");
    for (int d = 0; d < t->ndim && used < len; d++)
        used += (size_t)snprintf(buf + used, len - used, "%s%llu",
                                 d > 0 ? ", " : "",
                                 (unsigned long long)t->shape[d]);
    if (used < len)
        snprintf(buf + used, len - used, "]");
}

long el_model_find(const el_model *model, const char *name)
{
    for (size_t i = 0; i < model->n_tensors; i++)
        if (strcmp(model->tensors[i].name, name) == 0)
            return (long)i;
    return -1;
}
