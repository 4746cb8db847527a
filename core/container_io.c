/* File and zstd helpers for the container. */
#include "container.h"
#include "container_format.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <string.h>
#include <unistd.h>

int el_write_all(int fd, const void *buf, size_t len, const char *path, el_error *err)
{
    const uint8_t *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return el_fail(err, "cannot write %s: %s", path, strerror(errno));
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int el_pwrite_all(int fd, const void *buf, size_t len, uint64_t offset, const char *path,
                  el_error *err)
{
    const uint8_t *p = buf;
    while (len > 0) {
        ssize_t n = pwrite(fd, p, len, (off_t)offset);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return el_fail(err, "cannot write %s: %s", path, strerror(errno));
        p += n;
        offset += (uint64_t)n;
        len -= (size_t)n;
    }
    return 0;
}

/* Temporary files being written, for el_remove_temp_files. A signal
 * handler reads this, so slots are only ever set to a complete string or to
 * NULL, each with one store. */
#define MAX_TEMP_FILES 8
static char *volatile active_temp[MAX_TEMP_FILES];

static void track_temp(char *tmp)
{
    for (int i = 0; i < MAX_TEMP_FILES; i++) {
        if (active_temp[i] == NULL) {
            active_temp[i] = tmp;
            return;
        }
    }
}

static void untrack_temp(const char *tmp)
{
    for (int i = 0; i < MAX_TEMP_FILES; i++)
        if (active_temp[i] == tmp)
            active_temp[i] = NULL;
}

void el_remove_temp_files(void)
{
    for (int i = 0; i < MAX_TEMP_FILES; i++) {
        char *tmp = active_temp[i];
        if (tmp != NULL)
            unlink(tmp);
    }
}

int el_check_output_file(const char *path, el_error *err)
{
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        return el_fail(err, "output %s is a folder: give the path of a file to write", path);

    const char *slash = strrchr(path, '/');
    if (slash == NULL)
        return 0;
    size_t len = slash == path ? 1 : (size_t)(slash - path);
    char *folder = strndup(path, len);
    if (folder == NULL)
        return el_fail(err, "out of memory");
    int rc = 0;
    if (stat(folder, &st) != 0)
        rc = el_fail(err, "folder %s of output %s does not exist: create it first", folder,
                     path);
    else if (!S_ISDIR(st.st_mode))
        rc = el_fail(err, "%s in output %s is not a folder", folder, path);
    free(folder);
    return rc;
}

int el_create_temp(const char *path, char **tmp, el_error *err)
{
    if (el_check_output_file(path, err) != 0) {
        *tmp = NULL;
        return -1;
    }
    size_t len = strlen(path) + sizeof ".tmp-XXXXXX";
    *tmp = malloc(len);
    if (*tmp == NULL)
        return el_fail(err, "out of memory");
    snprintf(*tmp, len, "%s.tmp-XXXXXX", path);

    int fd = mkstemp(*tmp);
    if (fd < 0) {
        el_fail(err, "cannot create a temporary file beside %s: %s", path, strerror(errno));
        free(*tmp);
        *tmp = NULL;
        return -1;
    }
    track_temp(*tmp);
    return fd;
}

int el_commit_temp(int fd, char *tmp, const char *path, el_error *err)
{
    if (fsync(fd) != 0) {
        el_fail(err, "cannot flush %s: %s", tmp, strerror(errno));
        el_abandon_temp(fd, tmp);
        return -1;
    }
    if (fchmod(fd, 0644) != 0 || close(fd) != 0) {
        el_fail(err, "cannot close %s: %s", tmp, strerror(errno));
        el_abandon_temp(-1, tmp);
        return -1;
    }
    if (rename(tmp, path) != 0) {
        el_fail(err, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
        el_abandon_temp(-1, tmp);
        return -1;
    }
    untrack_temp(tmp);
    free(tmp);
    return 0;
}

void el_abandon_temp(int fd, char *tmp)
{
    if (fd >= 0)
        close(fd);
    if (tmp != NULL)
        unlink(tmp);
    untrack_temp(tmp);
    free(tmp);
}

int el_check_not_input(const char *out_path, const char *in_path, el_error *err)
{
    struct stat out, in;
    if (stat(out_path, &out) != 0 || stat(in_path, &in) != 0)
        return 0;
    if (out.st_dev == in.st_dev && out.st_ino == in.st_ino)
        return el_fail(err, "output %s is the input %s; choose another output path",
                       out_path, in_path);
    return 0;
}
