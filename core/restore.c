/* Restoring and verifying a .elves container. */
#include "container.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "container_format.h"
#include "chunk_reader.h"
#include "container_read.h"
#include "inflate.h"
#include "../codecs/measure.h"

/* A restored file name must stay inside the output folder. */
static int check_file_name(const char *name, el_error *err)
{
    if (name[0] == '\0' || strchr(name, '/') != NULL || strcmp(name, ".") == 0
        || strcmp(name, "..") == 0)
        return el_fail(err, "file name \"%s\" in the manifest is not a plain file name; "
                       EL_DAMAGED, name);
    return 0;
}

/* Called with every piece of a file in order: its decoded bytes, the tensor
 * entry it belongs to (-1 for opaque bytes) and, for a tensor, the piece's
 * offset in it. A tensor arrives chunk by chunk. */
typedef int (*segment_fn)(void *ctx, const uint8_t *bytes, size_t len, long tensor,
                          uint64_t offset, el_error *err);

/* Lists the tensors of a file's segments in order. Returns NULL with err
 * set on a damaged manifest or without memory. */
static uint64_t *file_tensors(const cJSON *segments, size_t *n, el_error *err)
{
    size_t count = 0;
    const cJSON *seg;
    cJSON_ArrayForEach(seg, segments)
        count += cJSON_GetObjectItemCaseSensitive(seg, "tensor") != NULL;

    uint64_t *list = malloc((count ? count : 1) * sizeof *list);
    if (list == NULL) {
        el_fail(err, "out of memory");
        return NULL;
    }
    *n = 0;
    cJSON_ArrayForEach(seg, segments) {
        if (cJSON_GetObjectItemCaseSensitive(seg, "tensor") == NULL)
            continue;
        if (el_json_u64(seg, "tensor", &list[*n], err) != 0) {
            free(list);
            return NULL;
        }
        (*n)++;
    }
    return list;
}

/* Passes every chunk of the reader's next tensor to fn and to the file
 * checksum. */
static int pass_tensor(el_chunk_reader *reader, uint64_t index, XXH3_state_t *file_hash,
                       segment_fn fn, void *ctx, el_error *err)
{
    el_chunk chunk;
    do {
        int got = el_chunk_reader_next(reader, &chunk, err);
        if (got < 0)
            return -1;
        if (got == 0)
            return el_fail(err, "tensor %llu: the reader ended early; this is a bug in "
                           "elves, please report it", (unsigned long long)index);
        if (chunk.len == 0)
            continue;
        XXH3_128bits_update(file_hash, chunk.bytes, chunk.len);
        if (fn(ctx, chunk.bytes, chunk.len, (long)index, chunk.offset, err) != 0)
            return -1;
    } while (!chunk.last);
    return 0;
}

static int decode_file(const el_container *c, const cJSON *file, segment_fn fn, void *ctx,
                       el_progress_fn progress, void *pctx, uint64_t *done, uint64_t total,
                       int *exact, el_error *err)
{
    const cJSON *segments = cJSON_GetObjectItemCaseSensitive(file, "segments");
    const char *name = cJSON_GetObjectItemCaseSensitive(file, "name")->valuestring;
    if (!cJSON_IsArray(segments))
        return el_fail(err, "file \"%s\": manifest field \"segments\" is missing", name);

    /* One reader takes every tensor of the file, so that its workers run
     * ahead from one tensor into the next. */
    size_t n_tensors = 0;
    uint64_t *tensors = file_tensors(segments, &n_tensors, err);
    el_chunk_reader *reader = tensors ? el_chunk_reader_start(c, tensors, n_tensors, err) : NULL;
    free(tensors);
    XXH3_state_t *state = reader ? XXH3_createState() : NULL;
    if (state == NULL) {
        el_chunk_reader_finish(reader);
        return el_fail_context(err, "file \"%s\"", name);
    }
    XXH3_128bits_reset(state);
    *exact = 1;
    int rc = 0;

    const cJSON *seg;
    cJSON_ArrayForEach(seg, segments) {
        uint8_t *bytes = NULL;
        size_t len = 0;
        uint64_t index;

        if (cJSON_GetObjectItemCaseSensitive(seg, "tensor") != NULL) {
            el_container_tensor info;
            rc = el_json_u64(seg, "tensor", &index, err);
            if (rc == 0)
                rc = el_container_tensor_info(c, index, &info, err);
            if (rc == 0)
                rc = pass_tensor(reader, index, state, fn, ctx, err);
            if (rc == 0) {
                len = info.nbytes;
                *exact &= strcmp(info.hash, info.decoded_hash) == 0;
            }
        } else {
            const uint8_t *blob;
            size_t blob_len;
            uint64_t size = 0;
            rc = el_json_u64(seg, "blob", &index, err);
            if (rc == 0)
                rc = el_json_u64(seg, "size", &size, err);
            if (rc == 0)
                rc = el_container_blob(c, index, &blob, &blob_len, err);
            if (rc == 0 && size > EL_CONTAINER_MAX_OPAQUE)
                rc = el_fail(err, "opaque segment claims %llu bytes, more than the "
                             "%llu allowed; " EL_DAMAGED,
                             (unsigned long long)size, EL_CONTAINER_MAX_OPAQUE);
            if (rc == 0 && (bytes = malloc(size ? size : 1)) == NULL)
                rc = el_fail(err, "out of memory");
            if (rc == 0)
                rc = el_zstd_decode_frame(blob, blob_len, bytes, size, err);
            if (rc == 0) {
                XXH3_128bits_update(state, bytes, size);
                rc = fn(ctx, bytes, size, -1, 0, err);
            }
            len = size;
        }
        free(bytes);
        if (rc != 0)
            break;

        *done += len;
        if (progress != NULL && progress(pctx, *done, total, name)) {
            rc = el_fail(err, "cancelled");
            break;
        }
    }
    el_chunk_reader_finish(reader);

    if (rc == 0 && *exact) {
        XXH128_hash_t h = XXH3_128bits_digest(state);
        char actual[33];
        snprintf(actual, sizeof actual, "%016llx%016llx", (unsigned long long)h.high64,
                 (unsigned long long)h.low64);
        const cJSON *expected = cJSON_GetObjectItemCaseSensitive(file, "xxh3_128");
        if (!cJSON_IsString(expected) || strcmp(actual, expected->valuestring) != 0)
            rc = el_fail(err, "file \"%s\": restored bytes differ from the original "
                         "checksum; " EL_DAMAGED, name);
    }
    XXH3_freeState(state);
    if (rc != 0)
        return el_fail_context(err, "file \"%s\"", name);
    return 0;
}

/* Bytes of every file of the selected models (all when only < 0). */
static uint64_t total_size(const el_container *c, long only)
{
    uint64_t total = 0, size;
    for (size_t m = 0; m < c->n_models; m++) {
        if (only >= 0 && (size_t)only != m)
            continue;
        const cJSON *file;
        cJSON_ArrayForEach(file, el_container_model(c, m, NULL))
            if (el_json_u64(file, "size", &size, NULL) == 0)
                total += size;
    }
    return total;
}

/* Index of the model whose name is `name`, or -1 with err listing them. */
static long find_model(const el_container *c, const char *name, el_error *err)
{
    char names[256] = "";
    for (size_t m = 0; m < c->n_models; m++) {
        const char *model_name;
        el_container_model(c, m, &model_name);
        if (strcmp(model_name, name) == 0)
            return (long)m;
        size_t used = strlen(names);
        snprintf(names + used, sizeof names - used, "%s%s", used ? ", " : "", model_name);
    }
    el_fail(err, "the container holds no model named \"%s\"; it holds: %s", name, names);
    return -1;
}

/* Recomputes the CRC-32 fields a format keeps over byte ranges (zip members)
 * in a restored file whose tensor bytes changed, so that readers of the
 * format accept it. */
static int fix_crcs(int fd, const char *path, const cJSON *file, el_error *err)
{
    const cJSON *fix;
    cJSON_ArrayForEach(fix, cJSON_GetObjectItemCaseSensitive(file, "crc_fixups")) {
        int n = cJSON_GetArraySize(fix);
        if (!cJSON_IsArray(fix) || n < 3 || n > 5)
            return el_fail(err, "crc_fixups entry of %d numbers; " EL_DAMAGED, n);

        uint64_t v[5];
        for (int i = 0; i < n; i++) {
            double d = cJSON_GetArrayItem(fix, i)->valuedouble;
            if (!(d >= 0) || d > 9007199254740992.0)
                return el_fail(err, "invalid crc_fixups value %g; " EL_DAMAGED, d);
            v[i] = (uint64_t)d;
        }

        uint32_t crc = 0;
        uint8_t chunk[1 << 16];
        for (uint64_t pos = v[0], end = v[0] + v[1]; pos < end;) {
            size_t want = end - pos < sizeof chunk ? (size_t)(end - pos) : sizeof chunk;
            ssize_t got = pread(fd, chunk, want, (off_t)pos);
            if (got <= 0)
                return el_fail(err, "cannot read back %s at offset %llu to fix a CRC-32",
                               path, (unsigned long long)pos);
            crc = el_crc32(crc, chunk, (size_t)got);
            pos += (uint64_t)got;
        }

        uint8_t le[4] = { (uint8_t)crc, (uint8_t)(crc >> 8), (uint8_t)(crc >> 16),
                          (uint8_t)(crc >> 24) };
        for (int i = 2; i < n; i++)
            if (pwrite(fd, le, 4, (off_t)v[i]) != 4)
                return el_fail(err, "cannot write the CRC-32 at offset %llu of %s",
                               (unsigned long long)v[i], path);
    }
    return 0;
}

typedef struct file_sink {
    int fd;
    const char *path;
} file_sink;

static int write_segment(void *ctx, const uint8_t *bytes, size_t len, long tensor,
                         uint64_t offset, el_error *err)
{
    (void)tensor, (void)offset;
    file_sink *sink = ctx;
    return el_write_all(sink->fd, bytes, len, sink->path, err);
}

static int file_name(const cJSON *file, const char **name, el_error *err)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(file, "name");
    if (!cJSON_IsString(item))
        return el_fail(err, "manifest file entry has no name; " EL_DAMAGED);
    *name = item->valuestring;
    return check_file_name(*name, err);
}

/* Restores the files of one model into out_path: the file itself for a
 * single-file model, else a folder (created if missing) holding them. */
static int restore_model(const el_container *c, size_t m, const char *out_path,
                         el_progress_fn progress, void *ctx, uint64_t *done, uint64_t total,
                         el_error *err)
{
    const cJSON *files = el_container_model(c, m, NULL);
    int many = cJSON_GetArraySize(files) > 1;
    struct stat st;
    if (!many && stat(out_path, &st) == 0 && S_ISDIR(st.st_mode))
        return el_fail(err, "output %s is a folder, and the model is a single file; give "
                       "a file path such as %s/model.safetensors", out_path, out_path);
    if (many && mkdir(out_path, 0755) != 0 && errno != EEXIST)
        return el_fail(err, "cannot create folder %s: %s", out_path, strerror(errno));

    const cJSON *file;
    cJSON_ArrayForEach(file, files) {
        const char *name = NULL;
        int rc = file_name(file, &name, err);
        if (rc != 0)
            return -1;

        char *path = NULL;
        if (many && asprintf(&path, "%s/%s", out_path, name) < 0)
            return el_fail(err, "out of memory");
        const char *target = many ? path : out_path;

        char *tmp = NULL;
        int fd = -1;
        int exact = 1;
        rc = el_check_not_input(target, c->path, err);
        if (rc == 0 && (fd = el_create_temp(target, &tmp, err)) < 0)
            rc = -1;
        file_sink sink = { fd, target };
        if (rc == 0)
            rc = decode_file(c, file, write_segment, &sink, progress, ctx, done, total, &exact,
                             err);
        if (rc == 0 && !exact)
            rc = fix_crcs(fd, target, file, err);
        if (rc == 0)
            rc = el_commit_temp(fd, tmp, target, err);
        else if (fd >= 0)
            el_abandon_temp(fd, tmp);
        free(path);
        if (rc != 0)
            return -1;
    }
    return 0;
}

int el_restore_model(const char *in_path, const char *out_path, const char *model_name,
                     const el_model *base, el_progress_fn progress, void *ctx,
                     el_error *err)
{
    el_container c;
    if (el_container_open(in_path, &c, err) != 0)
        return -1;
    c.base = base;

    long only = model_name != NULL ? find_model(&c, model_name, err) : -1;
    int rc = model_name != NULL && only < 0 ? -1 : 0;
    uint64_t done = 0, total = total_size(&c, only);

    if (rc == 0 && (only >= 0 || c.n_models == 1)) {
        rc = restore_model(&c, only >= 0 ? (size_t)only : 0, out_path, progress, ctx, &done,
                           total, err);
    } else if (rc == 0) {
        /* Several models: one entry per model inside the output folder, named
         * after the model. */
        if (mkdir(out_path, 0755) != 0 && errno != EEXIST)
            rc = el_fail(err, "cannot create folder %s: %s", out_path, strerror(errno));
        for (size_t m = 0; rc == 0 && m < c.n_models; m++) {
            const char *name;
            el_container_model(&c, m, &name);
            char *path = NULL;
            if ((rc = check_file_name(name, err)) != 0)
                break;
            if (asprintf(&path, "%s/%s", out_path, name) < 0)
                rc = el_fail(err, "out of memory");
            else
                rc = restore_model(&c, m, path, progress, ctx, &done, total, err);
            free(path);
        }
    }

    if (rc != 0)
        el_fail_context(err, "%s", in_path);
    el_container_close(&c);
    return rc;
}

int el_restore(const char *in_path, const char *out_path, el_progress_fn progress,
               void *ctx, el_error *err)
{
    return el_restore_model(in_path, out_path, NULL, NULL, progress, ctx, err);
}

typedef struct verify_state {
    const el_container *c;
    const el_model *model;      /* to compare with, or NULL */
    el_verify_report *report;
} verify_state;

/* Checks each decoded chunk against its tensor's recorded bound and, if
 * given, against the model's tensor of the same name. A tensor is counted
 * at its first chunk. */
static int verify_segment(void *ctx, const uint8_t *decoded, size_t len, long tensor,
                          uint64_t offset, el_error *err)
{
    verify_state *v = ctx;
    el_verify_report *report = v->report;
    el_container_tensor info;
    if (tensor < 0)
        return 0;
    if (el_container_tensor_info(v->c, (size_t)tensor, &info, err) != 0)
        return -1;

    if (offset == 0) {
        report->tensors++;
        if (strcmp(info.hash, info.decoded_hash) == 0) {
            report->lossless_exact++;
        } else {
            if (!(info.max_error <= info.abs_bound))
                return el_fail(err, "tensor \"%s\": recorded error %g exceeds its bound %g",
                               info.name, info.max_error, info.abs_bound);
            report->lossy_within++;
            if (info.max_error > report->worst_error)
                report->worst_error = info.max_error;
        }
    }
    if (v->model == NULL)
        return 0;

    long t = el_model_find(v->model, info.name);
    if (t < 0)
        return el_fail(err, "tensor \"%s\" is not in %s", info.name, v->model->path);
    const el_tensor *orig = &v->model->tensors[t];
    report->compared += offset == 0;
    if (orig->dtype != info.dtype || orig->nbytes != info.nbytes)
        return el_fail(err, "tensor \"%s\": %s has it as %s, %llu bytes; the container "
                       "as %s, %llu bytes", info.name, v->model->path,
                       el_dtype_name(orig->dtype), (unsigned long long)orig->nbytes,
                       el_dtype_name(info.dtype), (unsigned long long)info.nbytes);
    if (info.lossless) {
        if (memcmp(orig->data + offset, decoded, len) != 0)
            return el_fail(err, "tensor \"%s\" differs from %s although its bound is "
                           "lossless", info.name, v->model->path);
        return 0;
    }
    size_t size = el_dtype_size(info.dtype);
    double e = el_max_abs_error(info.dtype, orig->data + offset, decoded, len / size);
    if (!(e <= info.abs_bound))
        return el_fail(err, "tensor \"%s\": error %g against %s exceeds its bound "
                       "abs:%g", info.name, e, v->model->path, info.abs_bound);
    return 0;
}

int el_verify(const char *in_path, const el_model *model, const el_model *base,
              el_progress_fn progress, void *ctx, el_verify_report *report, el_error *err)
{
    memset(report, 0, sizeof *report);
    el_container c;
    if (el_container_open(in_path, &c, err) != 0)
        return -1;
    c.base = base;

    /* With several models, only the one named like the given model file is
     * compared with it. */
    long compare = -1;
    int rc = 0;
    if (model != NULL && c.n_models == 1) {
        compare = 0;
    } else if (model != NULL) {
        const char *slash = strrchr(model->path, '/');
        compare = find_model(&c, slash ? slash + 1 : model->path, err);
        rc = compare < 0 ? -1 : 0;
    }

    uint64_t done = 0, total = total_size(&c, -1);
    for (size_t m = 0; rc == 0 && m < c.n_models; m++) {
        verify_state v = { &c, (long)m == compare ? model : NULL, report };
        const cJSON *file;
        cJSON_ArrayForEach(file, el_container_model(&c, m, NULL)) {
            const char *name;
            int exact;
            rc = file_name(file, &name, err);
            if (rc == 0)
                rc = decode_file(&c, file, verify_segment, &v, progress, ctx, &done, total,
                                 &exact, err);
            if (rc != 0)
                break;
        }
    }

    if (rc != 0)
        el_fail_context(err, "%s", in_path);
    el_container_close(&c);
    return rc;
}
