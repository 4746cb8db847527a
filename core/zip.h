/* Reading zip archives in place: the central directory (with ZIP64), each
 * member's local header, and inflating deflated members into memory. Used
 * by the PyTorch and NumPy .npz readers. */
#ifndef ELVES_ZIP_H
#define ELVES_ZIP_H

#include <stddef.h>
#include <stdint.h>

#include "../codecs/error.h"

typedef struct el_zip_entry {
    char *name;
    uint16_t method;           /* 0 stored, 8 deflated; others are rejected on use */
    uint64_t compressed_size;  /* bytes of member data in the file */
    uint64_t size;             /* bytes once inflated */
    uint32_t crc32;
    uint64_t header_offset;    /* of the local file header */
    uint64_t data_offset;      /* of the first byte of member data */
    uint64_t central_offset;   /* of the member's central directory entry */
    int has_descriptor;        /* sizes and CRC follow the data (flag bit 3) */
} el_zip_entry;

typedef struct el_zip {
    el_zip_entry *entries;     /* in central directory order */
    size_t n_entries;
} el_zip;

/* Parses the archive in map (size bytes). Every offset and size is checked
 * against the file, local headers must agree with the central directory,
 * and member data ranges must not overlap. path is used in messages. */
int el_zip_read(const uint8_t *map, uint64_t size, const char *path, el_zip *out,
                el_error *err);

void el_zip_free(el_zip *zip);

/* Offsets of every CRC-32 field that covers the entry's data: the local
 * header's (unless a data descriptor carries it), the data descriptor's, and
 * the central directory's. Returns how many were stored in at (at most 3). */
size_t el_zip_crc_offsets(const uint8_t *map, uint64_t size, const el_zip_entry *entry,
                          uint64_t at[3]);

/* The entry with this exact name, or NULL. */
const el_zip_entry *el_zip_find(const el_zip *zip, const char *name);

/* Returns a member's bytes in a new buffer of exactly entry->size bytes
 * (caller frees): copied when stored, inflated when deflated, never past
 * the declared size (a deflate bomb fails), and checked against the CRC-32. */
int el_zip_extract(const uint8_t *map, uint64_t size, const el_zip_entry *entry,
                   uint8_t **out, el_error *err);

#endif
