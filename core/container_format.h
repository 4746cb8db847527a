/* Constants and helpers shared by the container writer and reader. */
#ifndef ELVES_CONTAINER_FORMAT_H
#define ELVES_CONTAINER_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#include "../codecs/buf.h"
#include "../codecs/error.h"
#include "../codecs/zstd_frame.h"

#define EL_CONTAINER_MAGIC "ELVES\0\1\0"
#define EL_CONTAINER_END "ELVSEND\0"
#define EL_CONTAINER_MAGIC_LEN 8
#define EL_CONTAINER_TRAILER_LEN 32
#define EL_CONTAINER_VERSION 1

/* The ends of the messages for a damaged container: what to do about it. */
#define EL_COPY_AGAIN "copy it again from its source"
#define EL_DAMAGED "the container is damaged: " EL_COPY_AGAIN

/* Largest manifest a reader accepts: far above what a model with a million
 * tensors needs, and a cap on what a damaged trailer can make us allocate. */
#define EL_CONTAINER_MAX_MANIFEST (1ull << 30)

/* Largest opaque segment (file header or index) a reader decompresses:
 * safetensors headers stop at 100 MB, so this only stops damaged sizes. */
#define EL_CONTAINER_MAX_OPAQUE (1ull << 30)

/* zstd level for opaque segments (headers, index files). */
#define EL_OPAQUE_ZSTD_LEVEL 19

/* Writes all of buf to fd, or fails naming path. */
int el_write_all(int fd, const void *buf, size_t len, const char *path, el_error *err);

/* Writes all of buf to fd at offset, leaving the file position alone. */
int el_pwrite_all(int fd, const void *buf, size_t len, uint64_t offset, const char *path,
                  el_error *err);

/* Creates a temporary file beside path ("path.tmp-XXXXXX"); stores its name
 * in tmp (heap) and returns the descriptor, or -1. */
int el_create_temp(const char *path, char **tmp, el_error *err);

/* Flushes, closes and renames tmp over path. On failure removes tmp. */
int el_commit_temp(int fd, char *tmp, const char *path, el_error *err);

/* Closes and removes a temporary file after a failure. */
void el_abandon_temp(int fd, char *tmp);

/* Removes every temporary file that is still being written. Only calls
 * unlink(2), so a signal handler may call it before the process dies. */
void el_remove_temp_files(void);

/* Fails when out_path names the same existing file as in_path (also through
 * another spelling or a symbolic link), so that no command replaces its
 * own input. */
int el_check_not_input(const char *out_path, const char *in_path, el_error *err);

#endif
