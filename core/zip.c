#include "zip.h"

#include <stdlib.h>
#include <string.h>

#include "inflate.h"

/* Record signatures and fixed sizes from PKWARE's APPNOTE.TXT (6.3.x). */
#define SIG_LOCAL 0x04034b50u
#define SIG_CENTRAL 0x02014b50u
#define SIG_END 0x06054b50u
#define SIG_END64 0x06064b50u
#define SIG_LOCATOR64 0x07064b50u
#define SIG_DESCRIPTOR 0x08074b50u

#define LOCAL_SIZE 30
#define CENTRAL_SIZE 46
#define END_SIZE 22
#define END64_SIZE 56
#define LOCATOR64_SIZE 20
#define MAX_COMMENT 65535u

#define EXTRA_ZIP64 0x0001u

#define FLAG_ENCRYPTED 0x0001u
#define FLAG_DESCRIPTOR 0x0008u
#define FLAG_STRONG_ENCRYPTION 0x0040u

/* A deflate symbol takes at least one bit and a match at least two (a length
 * and a distance code) for at most 258 bytes, so no stream inflates more
 * than 1032 times its size. */
#define MAX_DEFLATE_RATIO 1032u

#define FIX_FILE "the archive is damaged: download or save it again"

/* Where the central directory sits, from the (ZIP64) end record. */
typedef struct directory {
    uint64_t offset;
    uint64_t size;
    uint64_t entries;
    uint64_t end;       /* first byte of the end records, which it must precede */
} directory;

static uint16_t le16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static uint64_t le64(const uint8_t *p)
{
    return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

/* Whether [offset, offset + n) lies inside a file of `size` bytes. */
static int in_file(uint64_t offset, uint64_t n, uint64_t size)
{
    return offset <= size && n <= size - offset;
}

/* Finds the end of central directory record: the last signature in the final
 * 64 KiB + 22 bytes whose comment length reaches exactly the end of the file. */
static int find_end(const uint8_t *map, uint64_t size, const char *path,
                    uint64_t *out, el_error *err)
{
    if (size < END_SIZE)
        return el_fail(err, "%s: file is %llu bytes, too short for a zip archive; "
                       FIX_FILE, path, (unsigned long long)size);

    const uint64_t lowest = size - END_SIZE > MAX_COMMENT ? size - END_SIZE - MAX_COMMENT
                                                           : 0;
    for (uint64_t pos = size - END_SIZE;; pos--) {
        if (le32(map + pos) == SIG_END &&
            pos + END_SIZE + le16(map + pos + 20) == size) {
            *out = pos;
            return 0;
        }
        if (pos == lowest)
            break;
    }
    return el_fail(err, "%s: no end of central directory record in the last %llu "
                   "bytes; the file is truncated or not a zip archive",
                   path, (unsigned long long)(size - lowest));
}

/* Reads the ZIP64 end record that the locator before the end record points
 * to, replacing the 16- and 32-bit fields of the classic record. */
static int read_end64(const uint8_t *map, const char *path, uint64_t locator,
                      directory *dir, el_error *err)
{
    if (le32(map + locator + 4) != 0 || le32(map + locator + 16) > 1)
        return el_fail(err, "%s: the ZIP64 locator names disk %u of %u; multi-disk "
                       "archives are not supported: join the parts into one file",
                       path, le32(map + locator + 4), le32(map + locator + 16));

    const uint64_t at = le64(map + locator + 8);
    if (!in_file(at, END64_SIZE, locator) || le32(map + at) != SIG_END64)
        return el_fail(err, "%s: the ZIP64 locator points to offset %llu, where "
                       "there is no ZIP64 end of central directory record; "
                       FIX_FILE, path, (unsigned long long)at);

    const uint64_t record = le64(map + at + 4);
    if (record < END64_SIZE - 12 || record > locator - at - 12)
        return el_fail(err, "%s: the ZIP64 end record at offset %llu declares %llu "
                       "bytes, which do not fit before its locator; " FIX_FILE,
                       path, (unsigned long long)at, (unsigned long long)record);
    if (le32(map + at + 16) != 0 || le32(map + at + 20) != 0 ||
        le64(map + at + 24) != le64(map + at + 32))
        return el_fail(err, "%s: the ZIP64 end record describes a multi-disk "
                       "archive; join the parts into one file", path);

    dir->entries = le64(map + at + 32);
    dir->size = le64(map + at + 40);
    dir->offset = le64(map + at + 48);
    dir->end = at;
    return 0;
}

/* Locates the central directory from the end record, and from the ZIP64 end
 * record when a ZIP64 locator precedes it. */
static int read_end(const uint8_t *map, uint64_t size, const char *path,
                    directory *dir, el_error *err)
{
    uint64_t end = 0;
    if (find_end(map, size, path, &end, err) != 0)
        return -1;

    const uint8_t *e = map + end;
    if (le16(e + 4) != 0 || le16(e + 6) != 0 || le16(e + 8) != le16(e + 10))
        return el_fail(err, "%s: the end record describes a multi-disk archive "
                       "(disk %u, directory on disk %u); join the parts into one file",
                       path, le16(e + 4), le16(e + 6));

    dir->entries = le16(e + 10);
    dir->size = le32(e + 12);
    dir->offset = le32(e + 16);
    dir->end = end;

    if (end >= LOCATOR64_SIZE && le32(map + end - LOCATOR64_SIZE) == SIG_LOCATOR64) {
        directory classic = *dir;
        if (read_end64(map, path, end - LOCATOR64_SIZE, dir, err) != 0)
            return -1;
        /* Fields that did not overflow must agree with the ZIP64 values. */
        if ((classic.entries != 0xffff && classic.entries != dir->entries) ||
            (classic.size != 0xffffffff && classic.size != dir->size) ||
            (classic.offset != 0xffffffff && classic.offset != dir->offset))
            return el_fail(err, "%s: the end record and the ZIP64 end record "
                           "disagree on the central directory (%llu vs %llu "
                           "entries at offset %llu vs %llu); " FIX_FILE, path,
                           (unsigned long long)classic.entries,
                           (unsigned long long)dir->entries,
                           (unsigned long long)classic.offset,
                           (unsigned long long)dir->offset);
    }

    if (!in_file(dir->offset, dir->size, dir->end))
        return el_fail(err, "%s: the central directory (%llu bytes at offset %llu) "
                       "does not fit before the end record at offset %llu; "
                       FIX_FILE, path, (unsigned long long)dir->size,
                       (unsigned long long)dir->offset, (unsigned long long)dir->end);
    if (dir->entries > dir->size / CENTRAL_SIZE)
        return el_fail(err, "%s: the end record declares %llu members, more than "
                       "a %llu-byte central directory can hold; " FIX_FILE, path,
                       (unsigned long long)dir->entries,
                       (unsigned long long)dir->size);
    return 0;
}

/* Replaces the saturated fields of a central directory entry with the values
 * of its ZIP64 extra field. The field stores only the saturated ones, in the
 * order size, compressed size, header offset (8 bytes each), starting disk
 * (4 bytes). */
static int read_zip64_extra(const uint8_t *extra, size_t n, const char *path,
                            el_zip_entry *e, unsigned *disk, el_error *err)
{
    const int need_size = e->size == 0xffffffff;
    const int need_compressed = e->compressed_size == 0xffffffff;
    const int need_offset = e->header_offset == 0xffffffff;
    const int need_disk = *disk == 0xffff;
    if (!need_size && !need_compressed && !need_offset && !need_disk)
        return 0;

    size_t pos = 0;
    while (pos + 4 <= n) {
        const unsigned id = le16(extra + pos);
        const size_t len = le16(extra + pos + 2);
        if (len > n - pos - 4)
            break;
        if (id != EXTRA_ZIP64) {
            pos += 4 + len;
            continue;
        }

        const uint8_t *p = extra + pos + 4;
        const size_t want = 8u * (size_t)(need_size + need_compressed + need_offset) +
                            4u * (size_t)need_disk;
        if (len < want)
            return el_fail(err, "%s: member '%s': its ZIP64 extra field has %zu "
                           "bytes, fewer than the %zu its fields need; " FIX_FILE,
                           path, e->name, len, want);
        if (need_size) {
            e->size = le64(p);
            p += 8;
        }
        if (need_compressed) {
            e->compressed_size = le64(p);
            p += 8;
        }
        if (need_offset) {
            e->header_offset = le64(p);
            p += 8;
        }
        if (need_disk)
            *disk = le32(p) > 0xffff ? 0xffff : (unsigned)le32(p);
        return 0;
    }
    return el_fail(err, "%s: member '%s' has a saturated size, offset or disk "
                   "field but no ZIP64 extra field; " FIX_FILE, path, e->name);
}

/* Parses the central directory entry at *pos and advances past it. */
static int read_central(const uint8_t *map, const directory *dir, const char *path,
                        uint64_t *pos, size_t index, el_zip_entry *e, el_error *err)
{
    const uint64_t end = dir->offset + dir->size;
    const uint8_t *c = map + *pos;
    e->central_offset = *pos;
    if (end - *pos < CENTRAL_SIZE || le32(c) != SIG_CENTRAL)
        return el_fail(err, "%s: central directory entry %zu at offset %llu is "
                       "missing or truncated; " FIX_FILE, path, index + 1,
                       (unsigned long long)*pos);

    const size_t name_len = le16(c + 28);
    const size_t extra_len = le16(c + 30);
    const size_t comment_len = le16(c + 32);
    if (end - *pos - CENTRAL_SIZE < (uint64_t)name_len + extra_len + comment_len)
        return el_fail(err, "%s: central directory entry %zu runs past the end of "
                       "the directory; " FIX_FILE, path, index + 1);

    const uint8_t *name = c + CENTRAL_SIZE;
    if (memchr(name, '\0', name_len) != NULL)
        return el_fail(err, "%s: the name of member %zu contains a NUL byte; "
                       FIX_FILE, path, index + 1);
    e->name = malloc(name_len + 1);
    if (e->name == NULL)
        return el_fail(err, "%s: out of memory", path);
    memcpy(e->name, name, name_len);
    e->name[name_len] = '\0';

    const unsigned flags = le16(c + 8);
    if (flags & (FLAG_ENCRYPTED | FLAG_STRONG_ENCRYPTION))
        return el_fail(err, "%s: member '%s' is encrypted; elves reads only "
                       "unencrypted archives: save it again without a password",
                       path, e->name);

    e->method = le16(c + 10);
    e->crc32 = le32(c + 16);
    e->compressed_size = le32(c + 20);
    e->size = le32(c + 24);
    e->header_offset = le32(c + 42);
    unsigned disk = le16(c + 34);
    if (read_zip64_extra(name + name_len, extra_len, path, e, &disk, err) != 0)
        return -1;
    if (disk != 0)
        return el_fail(err, "%s: member '%s' starts on disk %u; multi-disk archives "
                       "are not supported: join the parts into one file", path,
                       e->name, disk);

    *pos += CENTRAL_SIZE + name_len + extra_len + comment_len;
    return 0;
}

/* Finds a ZIP64 extra field in a local header and reads the sizes from it. */
static int local_zip64_sizes(const uint8_t *extra, size_t n, uint64_t *size,
                             uint64_t *compressed)
{
    size_t pos = 0;
    while (pos + 4 <= n) {
        const unsigned id = le16(extra + pos);
        const size_t len = le16(extra + pos + 2);
        if (len > n - pos - 4)
            return -1;
        if (id == EXTRA_ZIP64 && len >= 16) {
            *size = le64(extra + pos + 4);
            *compressed = le64(extra + pos + 12);
            return 0;
        }
        pos += 4 + len;
    }
    return -1;
}

/* Checks the member's local header against its central directory entry and
 * sets data_offset. With a data descriptor (flag bit 3) the local sizes may
 * be zero, and the central directory's sizes are used. */
static int read_local(const uint8_t *map, const directory *dir, const char *path,
                      el_zip_entry *e, el_error *err)
{
    if (!in_file(e->header_offset, LOCAL_SIZE, dir->offset) ||
        le32(map + e->header_offset) != SIG_LOCAL)
        return el_fail(err, "%s: member '%s': no local header at offset %llu; "
                       FIX_FILE, path, e->name, (unsigned long long)e->header_offset);

    const uint8_t *l = map + e->header_offset;
    const size_t name_len = le16(l + 26);
    const size_t extra_len = le16(l + 28);
    const uint64_t data = e->header_offset + LOCAL_SIZE + name_len + extra_len;
    if (data > dir->offset)
        return el_fail(err, "%s: member '%s': the local header at offset %llu runs "
                       "into the central directory; " FIX_FILE, path, e->name,
                       (unsigned long long)e->header_offset);

    if (name_len != strlen(e->name) || memcmp(l + LOCAL_SIZE, e->name, name_len) != 0)
        return el_fail(err, "%s: member '%s': the local header at offset %llu names "
                       "'%.*s' instead; " FIX_FILE, path, e->name,
                       (unsigned long long)e->header_offset, (int)(name_len < 200 ? name_len : 200),
                       (const char *)(l + LOCAL_SIZE));
    if (le16(l + 8) != e->method)
        return el_fail(err, "%s: member '%s': the local header gives method %u, the "
                       "central directory %u; " FIX_FILE, path, e->name,
                       le16(l + 8), e->method);

    e->has_descriptor = (le16(l + 6) & FLAG_DESCRIPTOR) != 0;
    if (!e->has_descriptor) {
        uint64_t compressed = le32(l + 18);
        uint64_t size = le32(l + 22);
        if ((compressed == 0xffffffff || size == 0xffffffff) &&
            local_zip64_sizes(l + LOCAL_SIZE + name_len, extra_len, &size, &compressed) != 0)
            return el_fail(err, "%s: member '%s': the local header has saturated "
                           "sizes but no valid ZIP64 extra field; " FIX_FILE, path,
                           e->name);
        if (compressed != e->compressed_size || size != e->size || le32(l + 14) != e->crc32)
            return el_fail(err, "%s: member '%s': the local header gives %llu bytes "
                           "(%llu compressed, CRC %08x), the central directory %llu "
                           "(%llu compressed, CRC %08x); " FIX_FILE, path, e->name,
                           (unsigned long long)size, (unsigned long long)compressed,
                           le32(l + 14), (unsigned long long)e->size,
                           (unsigned long long)e->compressed_size, e->crc32);
    }

    if (!in_file(data, e->compressed_size, dir->offset))
        return el_fail(err, "%s: member '%s': %llu bytes of data at offset %llu run "
                       "into the central directory at offset %llu or past the end "
                       "of the file; the file is truncated or damaged: download or "
                       "save it again", path, e->name,
                       (unsigned long long)e->compressed_size,
                       (unsigned long long)data, (unsigned long long)dir->offset);
    if (e->method == 0 && e->compressed_size != e->size)
        return el_fail(err, "%s: member '%s' is stored but declares %llu bytes in "
                       "%llu bytes of data; " FIX_FILE, path, e->name,
                       (unsigned long long)e->size,
                       (unsigned long long)e->compressed_size);

    e->data_offset = data;
    return 0;
}

static int compare_by_offset(const void *a, const void *b)
{
    const el_zip_entry *const *x = a;
    const el_zip_entry *const *y = b;
    if ((*x)->header_offset != (*y)->header_offset)
        return (*x)->header_offset < (*y)->header_offset ? -1 : 1;
    return 0;
}

static int compare_by_name(const void *a, const void *b)
{
    const el_zip_entry *const *x = a;
    const el_zip_entry *const *y = b;
    return strcmp((*x)->name, (*y)->name);
}

/* Rejects two members whose local header and data overlap, which would let
 * one set of bytes be read as two members, and repeated names, which readers
 * resolve differently. */
static int check_members(const el_zip *zip, const char *path, el_error *err)
{
    if (zip->n_entries < 2)
        return 0;

    const el_zip_entry **sorted = malloc(zip->n_entries * sizeof *sorted);
    if (sorted == NULL)
        return el_fail(err, "%s: out of memory for %zu members", path, zip->n_entries);
    for (size_t i = 0; i < zip->n_entries; i++)
        sorted[i] = &zip->entries[i];

    int rc = 0;
    qsort(sorted, zip->n_entries, sizeof *sorted, compare_by_offset);
    for (size_t i = 1; rc == 0 && i < zip->n_entries; i++) {
        const el_zip_entry *prev = sorted[i - 1];
        const el_zip_entry *e = sorted[i];
        if (e->header_offset < prev->data_offset + prev->compressed_size)
            rc = el_fail(err, "%s: member '%s' (offset %llu) overlaps member '%s' "
                         "(offset %llu, %llu bytes of data); " FIX_FILE, path,
                         e->name, (unsigned long long)e->header_offset, prev->name,
                         (unsigned long long)prev->header_offset,
                         (unsigned long long)prev->compressed_size);
    }

    qsort(sorted, zip->n_entries, sizeof *sorted, compare_by_name);
    for (size_t i = 1; rc == 0 && i < zip->n_entries; i++)
        if (strcmp(sorted[i - 1]->name, sorted[i]->name) == 0)
            rc = el_fail(err, "%s: member '%s' appears twice in the central "
                         "directory; " FIX_FILE, path, sorted[i]->name);

    free(sorted);
    return rc;
}

int el_zip_read(const uint8_t *map, uint64_t size, const char *path, el_zip *out,
                el_error *err)
{
    memset(out, 0, sizeof *out);

    directory dir = { 0 };
    if (read_end(map, size, path, &dir, err) != 0)
        return -1;

    el_zip zip = { 0 };
    if (dir.entries > 0) {
        zip.entries = calloc((size_t)dir.entries, sizeof *zip.entries);
        if (zip.entries == NULL)
            return el_fail(err, "%s: out of memory for %llu members", path,
                           (unsigned long long)dir.entries);
    }

    int rc = 0;
    uint64_t pos = dir.offset;
    for (size_t i = 0; rc == 0 && i < dir.entries; i++) {
        el_zip_entry *e = &zip.entries[i];
        zip.n_entries++;
        rc = read_central(map, &dir, path, &pos, i, e, err);
        if (rc == 0)
            rc = read_local(map, &dir, path, e, err);
    }
    if (rc == 0)
        rc = check_members(&zip, path, err);

    if (rc != 0) {
        el_zip_free(&zip);
        return -1;
    }
    *out = zip;
    return 0;
}

void el_zip_free(el_zip *zip)
{
    if (zip == NULL)
        return;
    for (size_t i = 0; i < zip->n_entries; i++)
        free(zip->entries[i].name);
    free(zip->entries);
    memset(zip, 0, sizeof *zip);
}

/* Field offsets from the APPNOTE: CRC-32 at byte 14 of a local header and
 * byte 16 of a central directory entry; a data descriptor starts with an
 * optional signature, then the CRC-32. */
size_t el_zip_crc_offsets(const uint8_t *map, uint64_t size, const el_zip_entry *entry,
                          uint64_t at[3])
{
    size_t n = 0;
    at[n++] = entry->central_offset + 16;
    if (!entry->has_descriptor) {
        at[n++] = entry->header_offset + 14;
        return n;
    }

    uint64_t descriptor = entry->data_offset + entry->compressed_size;
    if (in_file(descriptor, 8, size)) {
        int signed_descriptor = le32(map + descriptor) == SIG_DESCRIPTOR;
        at[n++] = descriptor + (signed_descriptor ? 4 : 0);
    }
    return n;
}

const el_zip_entry *el_zip_find(const el_zip *zip, const char *name)
{
    for (size_t i = 0; i < zip->n_entries; i++)
        if (strcmp(zip->entries[i].name, name) == 0)
            return &zip->entries[i];
    return NULL;
}

int el_zip_extract(const uint8_t *map, uint64_t size, const el_zip_entry *entry,
                   uint8_t **out, el_error *err)
{
    *out = NULL;
    if (entry->method != 0 && entry->method != 8)
        return el_fail(err, "member '%s' uses compression method %u; elves reads "
                       "only stored (0) and deflated (8) members: save the archive "
                       "again with one of those", entry->name, entry->method);
    if (!in_file(entry->data_offset, entry->compressed_size, size))
        return el_fail(err, "member '%s': %llu bytes of data at offset %llu are "
                       "past the end of the file", entry->name,
                       (unsigned long long)entry->compressed_size,
                       (unsigned long long)entry->data_offset);
    if (entry->method == 8 && entry->size / MAX_DEFLATE_RATIO > entry->compressed_size)
        return el_fail(err, "member '%s' declares %llu bytes from %llu deflated "
                       "bytes, more than deflate can produce; " FIX_FILE,
                       entry->name, (unsigned long long)entry->size,
                       (unsigned long long)entry->compressed_size);
    if (entry->size > SIZE_MAX - 1)
        return el_fail(err, "member '%s' is %llu bytes, too large for memory on "
                       "this system", entry->name, (unsigned long long)entry->size);

    uint8_t *buf = malloc(entry->size > 0 ? (size_t)entry->size : 1);
    if (buf == NULL)
        return el_fail(err, "member '%s': out of memory for %llu bytes", entry->name,
                       (unsigned long long)entry->size);

    const uint8_t *data = map + entry->data_offset;
    if (entry->method == 0) {
        memcpy(buf, data, (size_t)entry->size);
    } else if (el_inflate(data, (size_t)entry->compressed_size, buf,
                          (size_t)entry->size, err) != 0) {
        free(buf);
        return el_fail_context(err, "member '%s'", entry->name);
    }

    const uint32_t crc = el_crc32(0, buf, (size_t)entry->size);
    if (crc != entry->crc32) {
        free(buf);
        return el_fail(err, "member '%s': CRC-32 of the data is %08x, the archive "
                       "records %08x; " FIX_FILE, entry->name, crc, entry->crc32);
    }

    *out = buf;
    return 0;
}
