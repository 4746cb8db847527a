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
#include "container_read.h"
#include "inflate.h"
#include "../codecs/measure.h"

/* A restored file name must stay inside the output folder. */
static int check_file_name(const char *name, el_error *err)
{
    if (name[0] == '\0' || strchr(name, '/') != NULL || strcmp(name, ".") == 0
        || strcmp(name, "..") == 0)
        return el_fail(err, "file name \"%s\" in the manifest is not a plain file name; "
                       "the container is damaged", name);
    return 0;
}

/* Runs fn over every segment of file f in order, feeding the file hash. */
typedef int (*segment_fn)(void *ctx, const uint8_t *bytes, size_t len, el_error *err);

static int decode_file(const el_container *c, const cJSON *file, segment_fn fn, void *ctx,
                       el_progress_fn progress, void *pctx, uint64_t *done, uint64_t total,
                       int *exact, el_error *err)
{
    const cJSON *segments = cJSON_GetObjectItemCaseSensitive(file, "segments");
    const char *name = cJSON_GetObjectItemCaseSensitive(file, "name")->valuestring;
    if (!cJSON_IsArray(segments))
        return el_fail(err, "file \"%s\": manifest field \"segments\" is missing", name);

    XXH3_state_t *state = XXH3_createState();
    if (state == NULL)
        return el_fail(err, "out of memory");
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
                rc = el_container_decode(c, index, &bytes, err);
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
                             "%llu allowed; the container is damaged",
                             (unsigned long long)size, EL_CONTAINER_MAX_OPAQUE);
            if (rc == 0 && (bytes = malloc(size ? size : 1)) == NULL)
                rc = el_fail(err, "out of memory");
            if (rc == 0)
                rc = el_zstd_decode_frame(blob, blob_len, bytes, size, err);
            len = size;
        }

        if (rc == 0) {
            XXH3_128bits_update(state, bytes, len);
            rc = fn(ctx, bytes, len, err);
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

    if (rc == 0 && *exact) {
        XXH128_hash_t h = XXH3_128bits_digest(state);
        char actual[33];
        snprintf(actual, sizeof actual, "%016llx%016llx", (unsigned long long)h.high64,
                 (unsigned long long)h.low64);
        const cJSON *expected = cJSON_GetObjectItemCaseSensitive(file, "xxh3_128");
        if (!cJSON_IsString(expected) || strcmp(actual, expected->valuestring) != 0)
            rc = el_fail(err, "file \"%s\": restored bytes differ from the original "
                         "checksum; the container is damaged", name);
    }
    XXH3_freeState(state);
    if (rc != 0)
        return el_fail_context(err, "file \"%s\"", name);
    return 0;
}

static uint64_t total_size(const el_container *c)
{
    uint64_t total = 0, size;
    const cJSON *file;
    cJSON_ArrayForEach(file, c->files)
        if (el_json_u64(file, "size", &size, NULL) == 0)
            total += size;
    return total;
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
            return el_fail(err, "crc_fixups entry of %d numbers; the container is damaged", n);

        uint64_t v[5];
        for (int i = 0; i < n; i++) {
            double d = cJSON_GetArrayItem(fix, i)->valuedouble;
            if (!(d >= 0) || d > 9007199254740992.0)
                return el_fail(err, "invalid crc_fixups value %g; the container is damaged", d);
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

static int write_segment(void *ctx, const uint8_t *bytes, size_t len, el_error *err)
{
    file_sink *sink = ctx;
    return el_write_all(sink->fd, bytes, len, sink->path, err);
}

static int file_name(const cJSON *file, const char **name, el_error *err)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(file, "name");
    if (!cJSON_IsString(item))
        return el_fail(err, "manifest file entry has no name; the container is damaged");
    *name = item->valuestring;
    return check_file_name(*name, err);
}

int el_restore(const char *in_path, const char *out_path, el_progress_fn progress,
               void *ctx, el_error *err)
{
    el_container c;
    if (el_container_open(in_path, &c, err) != 0)
        return -1;

    int many = c.n_files > 1;
    struct stat st;
    if (!many && stat(out_path, &st) == 0 && S_ISDIR(st.st_mode)) {
        el_container_close(&c);
        return el_fail(err, "output %s is a folder, and %s holds a single-file model; give "
                       "a file path such as %s/model.safetensors", out_path, in_path, out_path);
    }
    if (many && mkdir(out_path, 0755) != 0 && errno != EEXIST) {
        el_container_close(&c);
        return el_fail(err, "cannot create folder %s: %s", out_path, strerror(errno));
    }

    uint64_t done = 0, total = total_size(&c);
    int rc = 0;
    const cJSON *file;
    cJSON_ArrayForEach(file, c.files) {
        const char *name;
        if ((rc = file_name(file, &name, err)) != 0)
            break;

        char *path = NULL;
        if (many && asprintf(&path, "%s/%s", out_path, name) < 0)
            path = NULL;
        const char *target = many ? path : out_path;
        if (target == NULL) {
            rc = el_fail(err, "out of memory");
            break;
        }

        char *tmp = NULL;
        if ((rc = el_check_not_input(target, in_path, err)) != 0) {
            free(path);
            break;
        }
        int fd = el_create_temp(target, &tmp, err);
        file_sink sink = { fd, target };
        int exact;
        rc = fd < 0 ? -1 : decode_file(&c, file, write_segment, &sink, progress, ctx, &done,
                                       total, &exact, err);
        if (rc == 0 && !exact)
            rc = fix_crcs(fd, target, file, err);
        if (rc == 0)
            rc = el_commit_temp(fd, tmp, target, err);
        else if (fd >= 0)
            el_abandon_temp(fd, tmp);
        free(path);
        if (rc != 0)
            break;
    }

    if (rc != 0)
        el_fail_context(err, "%s", in_path);
    el_container_close(&c);
    return rc;
}

static int discard_segment(void *ctx, const uint8_t *bytes, size_t len, el_error *err)
{
    (void)ctx, (void)bytes, (void)len, (void)err;
    return 0;
}

/* Checks one decoded tensor against its bound and, if given, the model. */
static int verify_tensor(const el_container *c, size_t i, const el_model *model,
                         el_verify_report *report, el_error *err)
{
    el_container_tensor info;
    uint8_t *decoded = NULL;
    if (el_container_tensor_info(c, i, &info, err) != 0
        || el_container_decode(c, i, &decoded, err) != 0)
        return -1;

    int rc = 0;
    if (strcmp(info.hash, info.decoded_hash) == 0) {
        report->lossless_exact++;
    } else {
        if (!(info.max_error <= info.abs_bound))
            rc = el_fail(err, "tensor \"%s\": recorded error %g exceeds its bound %g",
                         info.name, info.max_error, info.abs_bound);
        report->lossy_within++;
        if (info.max_error > report->worst_error)
            report->worst_error = info.max_error;
    }

    long t = model != NULL ? el_model_find(model, info.name) : -1;
    if (rc == 0 && model != NULL && t < 0)
        rc = el_fail(err, "tensor \"%s\" is not in %s", info.name, model->path);
    if (rc == 0 && t >= 0) {
        const el_tensor *orig = &model->tensors[t];
        if (orig->dtype != info.dtype || orig->nbytes != info.nbytes) {
            rc = el_fail(err, "tensor \"%s\": %s has it as %s, %llu bytes; the container "
                         "as %s, %llu bytes", info.name, model->path,
                         el_dtype_name(orig->dtype), (unsigned long long)orig->nbytes,
                         el_dtype_name(info.dtype), (unsigned long long)info.nbytes);
        } else if (info.lossless) {
            if (memcmp(orig->data, decoded, info.nbytes) != 0)
                rc = el_fail(err, "tensor \"%s\" differs from %s although its bound is "
                             "lossless", info.name, model->path);
        } else {
            double e = el_max_abs_error(info.dtype, orig->data, decoded, info.count);
            if (!(e <= info.abs_bound))
                rc = el_fail(err, "tensor \"%s\": error %g against %s exceeds its bound "
                             "abs:%g", info.name, e, model->path, info.abs_bound);
        }
        report->compared++;
    }
    free(decoded);
    return rc;
}

int el_verify(const char *in_path, const el_model *model, el_progress_fn progress,
              void *ctx, el_verify_report *report, el_error *err)
{
    memset(report, 0, sizeof *report);
    el_container c;
    if (el_container_open(in_path, &c, err) != 0)
        return -1;

    uint64_t done = 0, total = total_size(&c);
    int rc = 0;
    const cJSON *file;
    cJSON_ArrayForEach(file, c.files) {
        const char *name;
        int exact;
        rc = file_name(file, &name, err);
        if (rc == 0)
            rc = decode_file(&c, file, discard_segment, NULL, progress, ctx, &done, total,
                             &exact, err);
        if (rc != 0)
            break;
    }

    for (size_t i = 0; rc == 0 && i < c.n_tensors; i++) {
        rc = verify_tensor(&c, i, model, report, err);
        report->tensors = i + 1;
    }

    if (rc != 0)
        el_fail_context(err, "%s", in_path);
    el_container_close(&c);
    return rc;
}
