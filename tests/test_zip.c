/* Tests of the zip reader. Archives are built byte by byte here (stored and
 * deflated members, ZIP64 records, data descriptors, comments) and then
 * damaged one field at a time. samples/fixtures/arrays.npz is a real archive
 * written by Python's zipfile with zlib-deflated members. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../core/inflate.h"
#include "../core/model.h"
#include "../core/zip.h"

typedef struct buffer {
    uint8_t bytes[8192];
    size_t n;
} buffer;

static void put8(buffer *b, unsigned v)
{
    assert_true(b->n < sizeof b->bytes);
    b->bytes[b->n++] = (uint8_t)v;
}

static void put16(buffer *b, unsigned v)
{
    put8(b, v & 0xff);
    put8(b, (v >> 8) & 0xff);
}

static void put32(buffer *b, uint32_t v)
{
    put16(b, v & 0xffff);
    put16(b, v >> 16);
}

static void put64(buffer *b, uint64_t v)
{
    put32(b, (uint32_t)v);
    put32(b, (uint32_t)(v >> 32));
}

static void put_bytes(buffer *b, const void *p, size_t n)
{
    assert_true(n <= sizeof b->bytes - b->n);
    memcpy(b->bytes + b->n, p, n);
    b->n += n;
}

/* One member as it goes into the archive. */
typedef struct member {
    const char *name;
    uint16_t method;
    const uint8_t *data;    /* bytes in the archive (deflated when method 8) */
    size_t data_len;
    uint64_t size;          /* declared uncompressed size */
    unsigned flags;         /* 0x08: sizes in a data descriptor */
    int no_local;           /* only a central entry, pointing at header_offset */
    uint64_t header_offset; /* set by build_zip, or given with no_local */
} member;

typedef struct layout {
    int zip64;              /* ZIP64 extra fields, end record and locator */
    const char *comment;
    uint64_t cd_offset;     /* filled in */
    uint64_t end_offset;    /* filled in: the classic end record */
} layout;

static void put_zip64_extra(buffer *b, const uint64_t *values, unsigned n)
{
    put16(b, 0x0001);
    put16(b, 8 * n);
    for (unsigned i = 0; i < n; i++)
        put64(b, values[i]);
}

static void put_local(buffer *b, member *m, const layout *l)
{
    const uint32_t crc = el_crc32(0, m->method == 0 ? m->data : NULL,
                                  m->method == 0 ? m->data_len : 0);
    const int descriptor = (m->flags & 0x08) != 0;
    m->header_offset = b->n;

    /* A data descriptor leaves the local CRC and sizes zero. ZIP64 moves the
     * sizes into the extra field. */
    uint32_t compressed32 = (uint32_t)m->data_len;
    uint32_t size32 = (uint32_t)m->size;
    if (l->zip64) {
        compressed32 = 0xffffffff;
        size32 = 0xffffffff;
    }
    if (descriptor) {
        compressed32 = 0;
        size32 = 0;
    }

    put32(b, 0x04034b50);
    put16(b, l->zip64 ? 45 : 20);
    put16(b, m->flags);
    put16(b, m->method);
    put32(b, 0);
    put32(b, descriptor ? 0 : crc);
    put32(b, compressed32);
    put32(b, size32);
    put16(b, (unsigned)strlen(m->name));
    put16(b, l->zip64 ? 20 : 0);
    put_bytes(b, m->name, strlen(m->name));
    if (l->zip64) {
        const uint64_t sizes[2] = { descriptor ? 0 : m->size,
                                    descriptor ? 0 : m->data_len };
        put_zip64_extra(b, sizes, 2);
    }
    put_bytes(b, m->data, m->data_len);

    if (descriptor) {
        put32(b, 0x08074b50);
        put32(b, crc);
        put32(b, (uint32_t)m->data_len);
        put32(b, (uint32_t)m->size);
    }
}

static void put_central(buffer *b, const member *m, const layout *l)
{
    const uint32_t crc = el_crc32(0, m->method == 0 ? m->data : NULL,
                                  m->method == 0 ? m->data_len : 0);
    put32(b, 0x02014b50);
    put16(b, 20);
    put16(b, l->zip64 ? 45 : 20);
    put16(b, m->flags);
    put16(b, m->method);
    put32(b, 0);
    put32(b, crc);
    put32(b, l->zip64 ? 0xffffffff : (uint32_t)m->data_len);
    put32(b, l->zip64 ? 0xffffffff : (uint32_t)m->size);
    put16(b, (unsigned)strlen(m->name));
    put16(b, l->zip64 ? 28 : 0);
    put16(b, 0);
    put16(b, 0);
    put16(b, 0);
    put32(b, 0);
    put32(b, l->zip64 ? 0xffffffff : (uint32_t)m->header_offset);
    put_bytes(b, m->name, strlen(m->name));
    if (l->zip64) {
        const uint64_t values[3] = { m->size, m->data_len, m->header_offset };
        put_zip64_extra(b, values, 3);
    }
}

/* Writes the members, the central directory and the end records. A deflated
 * member gets CRC 0, so tests that extract one set it with fix_crc. */
static void build_zip(buffer *b, member *members, size_t n, layout *l)
{
    b->n = 0;
    for (size_t i = 0; i < n; i++)
        if (!members[i].no_local)
            put_local(b, &members[i], l);

    l->cd_offset = b->n;
    for (size_t i = 0; i < n; i++)
        put_central(b, &members[i], l);
    const uint64_t cd_size = b->n - l->cd_offset;

    if (l->zip64) {
        const uint64_t end64 = b->n;
        put32(b, 0x06064b50);
        put64(b, 44);
        put16(b, 45);
        put16(b, 45);
        put32(b, 0);
        put32(b, 0);
        put64(b, n);
        put64(b, n);
        put64(b, cd_size);
        put64(b, l->cd_offset);

        put32(b, 0x07064b50);
        put32(b, 0);
        put64(b, end64);
        put32(b, 1);
    }

    const size_t comment_len = l->comment != NULL ? strlen(l->comment) : 0;
    l->end_offset = b->n;
    put32(b, 0x06054b50);
    put16(b, 0);
    put16(b, 0);
    put16(b, l->zip64 ? 0xffff : (unsigned)n);
    put16(b, l->zip64 ? 0xffff : (unsigned)n);
    put32(b, l->zip64 ? 0xffffffff : (uint32_t)cd_size);
    put32(b, l->zip64 ? 0xffffffff : (uint32_t)l->cd_offset);
    put16(b, (unsigned)comment_len);
    put_bytes(b, l->comment != NULL ? l->comment : "", comment_len);
}

/* Writes the CRC-32 of the inflated data into the central entry and the
 * local header of member i. */
static void fix_crc(buffer *b, const layout *l, const member *members, size_t i,
                    const uint8_t *plain, size_t n)
{
    const uint32_t crc = el_crc32(0, plain, n);
    uint8_t le[4] = { crc & 0xff, (crc >> 8) & 0xff, (crc >> 16) & 0xff, crc >> 24 };
    memcpy(b->bytes + members[i].header_offset + 14, le, 4);

    uint64_t pos = l->cd_offset;
    for (size_t k = 0; k < i; k++) {
        const size_t extra = l->zip64 ? 28 : 0;
        pos += 46 + strlen(members[k].name) + extra;
    }
    memcpy(b->bytes + pos + 16, le, 4);
}

/* A deflate stream of one final stored block. */
static size_t stored_deflate(uint8_t *out, const void *data, uint16_t n)
{
    out[0] = 0x01;
    out[1] = (uint8_t)(n & 0xff);
    out[2] = (uint8_t)(n >> 8);
    out[3] = (uint8_t)(~n & 0xff);
    out[4] = (uint8_t)((uint16_t)~n >> 8);
    memcpy(out + 5, data, n);
    return 5u + n;
}

static int read_zip(const buffer *b, el_zip *zip, el_error *err)
{
    return el_zip_read(b->bytes, b->n, "test.zip", zip, err);
}

static void zip_stored_members(void **state)
{
    member m[2] = {
        { .name = "a.txt", .data = (const uint8_t *)"alpha", .data_len = 5, .size = 5 },
        { .name = "dir/b.bin", .data = (const uint8_t *)"\x00\x01\x02", .data_len = 3,
          .size = 3 },
    };
    buffer b;
    layout l = { 0 };
    build_zip(&b, m, 2, &l);

    el_zip zip;
    el_error err = { 0 };
    assert_int_equal(read_zip(&b, &zip, &err), 0);
    assert_int_equal(zip.n_entries, 2);
    assert_string_equal(zip.entries[0].name, "a.txt");
    assert_string_equal(zip.entries[1].name, "dir/b.bin");
    assert_int_equal(zip.entries[0].data_offset, 30 + 5);
    assert_int_equal(zip.entries[1].header_offset, 30 + 5 + 5);
    assert_int_equal(zip.entries[1].size, 3);

    const el_zip_entry *e = el_zip_find(&zip, "dir/b.bin");
    assert_ptr_equal(e, &zip.entries[1]);
    assert_null(el_zip_find(&zip, "b.bin"));

    uint8_t *data = NULL;
    assert_int_equal(el_zip_extract(b.bytes, b.n, e, &data, &err), 0);
    assert_memory_equal(data, "\x00\x01\x02", 3);
    free(data);
    el_zip_free(&zip);
}

static void zip_deflated_member(void **state)
{
    const char *plain = "deflated member contents";
    uint8_t deflated[64];
    const size_t n = stored_deflate(deflated, plain, (uint16_t)strlen(plain));

    member m[1] = {
        { .name = "m", .method = 8, .data = deflated, .data_len = n,
          .size = strlen(plain) },
    };
    buffer b;
    layout l = { 0 };
    build_zip(&b, m, 1, &l);
    fix_crc(&b, &l, m, 0, (const uint8_t *)plain, strlen(plain));

    el_zip zip;
    el_error err = { 0 };
    assert_int_equal(read_zip(&b, &zip, &err), 0);
    assert_int_equal(zip.entries[0].method, 8);
    assert_int_equal(zip.entries[0].compressed_size, n);

    uint8_t *data = NULL;
    assert_int_equal(el_zip_extract(b.bytes, b.n, &zip.entries[0], &data, &err), 0);
    assert_memory_equal(data, plain, strlen(plain));
    free(data);
    el_zip_free(&zip);
}

static void zip_real_deflated_archive(void **state)
{
    FILE *f = fopen("samples/fixtures/arrays.npz", "rb");
    assert_non_null(f);
    static uint8_t bytes[4096];
    const size_t n = fread(bytes, 1, sizeof bytes, f);
    fclose(f);

    el_zip zip;
    el_error err = { 0 };
    assert_int_equal(el_zip_read(bytes, n, "arrays.npz", &zip, &err), 0);
    assert_int_equal(zip.n_entries, 5);
    assert_string_equal(zip.entries[3].name, "layer/bias.npy");
    assert_int_equal(zip.entries[0].method, 8);
    assert_int_equal(zip.entries[4].method, 0);

    for (size_t i = 0; i < zip.n_entries; i++) {
        uint8_t *data = NULL;
        assert_int_equal(el_zip_extract(bytes, n, &zip.entries[i], &data, &err), 0);
        assert_memory_equal(data, "\x93NUMPY", 6);
        free(data);
    }
    el_zip_free(&zip);
}

static void zip_zip64_records(void **state)
{
    member m[2] = {
        { .name = "first", .data = (const uint8_t *)"0123456789", .data_len = 10,
          .size = 10 },
        { .name = "second", .data = (const uint8_t *)"xyz", .data_len = 3, .size = 3 },
    };
    buffer b;
    layout l = { .zip64 = 1 };
    build_zip(&b, m, 2, &l);

    el_zip zip;
    el_error err = { 0 };
    assert_int_equal(read_zip(&b, &zip, &err), 0);
    assert_int_equal(zip.n_entries, 2);
    assert_int_equal(zip.entries[1].size, 3);
    assert_int_equal(zip.entries[1].compressed_size, 3);
    assert_int_equal(zip.entries[1].header_offset, m[1].header_offset);
    assert_int_equal(zip.entries[1].data_offset, m[1].header_offset + 30 + 6 + 20);
    el_zip_free(&zip);

    /* A ZIP64 extra field too short for the saturated fields. */
    buffer bad = b;
    bad.bytes[l.cd_offset + 46 + 5 + 2] = 16;   /* the first entry's extra size */
    assert_int_equal(read_zip(&bad, &zip, &err), -1);
    assert_non_null(strstr(err.msg, "ZIP64 extra field has 16 bytes"));

    /* A locator that points at nothing. */
    bad = b;
    bad.bytes[l.end_offset - 20 + 8] ^= 0x40;
    assert_int_equal(read_zip(&bad, &zip, &err), -1);
    assert_non_null(strstr(err.msg, "no ZIP64 end of central directory record"));
}

static void zip_data_descriptor(void **state)
{
    member m[2] = {
        { .name = "d1", .data = (const uint8_t *)"hello", .data_len = 5, .size = 5,
          .flags = 0x08 },
        { .name = "d2", .data = (const uint8_t *)"world!", .data_len = 6, .size = 6,
          .flags = 0x08 },
    };
    buffer b;
    layout l = { 0 };
    build_zip(&b, m, 2, &l);

    el_zip zip;
    el_error err = { 0 };
    assert_int_equal(read_zip(&b, &zip, &err), 0);
    assert_int_equal(zip.entries[0].size, 5);
    assert_int_equal(zip.entries[1].data_offset, m[1].header_offset + 30 + 2);

    uint8_t *data = NULL;
    assert_int_equal(el_zip_extract(b.bytes, b.n, &zip.entries[1], &data, &err), 0);
    assert_memory_equal(data, "world!", 6);
    free(data);
    el_zip_free(&zip);
}

static void zip_comment_at_end(void **state)
{
    member m[1] = {
        { .name = "c", .data = (const uint8_t *)"abc", .data_len = 3, .size = 3 },
    };
    /* The comment contains a fake end record whose comment length does not
     * reach the end of the file, so the reader must skip it. */
    char comment[200];
    memset(comment, '#', sizeof comment);
    memcpy(comment + 50, "PK\x05\x06", 4);
    comment[sizeof comment - 1] = '\0';

    buffer b;
    layout l = { .comment = comment };
    build_zip(&b, m, 1, &l);

    el_zip zip;
    el_error err = { 0 };
    assert_int_equal(read_zip(&b, &zip, &err), 0);
    assert_int_equal(zip.n_entries, 1);
    el_zip_free(&zip);

    /* A comment length that runs past the end is no end record. */
    b.bytes[l.end_offset + 20] += 1;
    assert_int_equal(read_zip(&b, &zip, &err), -1);
    assert_non_null(strstr(err.msg, "no end of central directory record"));
}

static void zip_bad_offsets(void **state)
{
    member m[1] = {
        { .name = "m", .data = (const uint8_t *)"abcdef", .data_len = 6, .size = 6 },
    };
    buffer b;
    layout l = { 0 };
    build_zip(&b, m, 1, &l);
    el_zip zip;
    el_error err = { 0 };

    /* Local header offset past the central directory. */
    buffer bad = b;
    bad.bytes[l.cd_offset + 42] = 0x70;
    assert_int_equal(read_zip(&bad, &zip, &err), -1);
    assert_non_null(strstr(err.msg, "no local header at offset 112"));

    /* Compressed size running into the central directory. */
    bad = b;
    bad.bytes[l.cd_offset + 20] = 60;
    bad.bytes[l.cd_offset + 24] = 60;
    assert_int_equal(read_zip(&bad, &zip, &err), -1);
    assert_non_null(strstr(err.msg, "local header gives 6 bytes"));

    /* Central directory offset past its end record. */
    bad = b;
    bad.bytes[l.end_offset + 16] = 0xff;
    assert_int_equal(read_zip(&bad, &zip, &err), -1);
    assert_non_null(strstr(err.msg, "does not fit before the end record"));

    /* A truncated file loses its end record. */
    bad = b;
    bad.n -= 3;
    assert_int_equal(read_zip(&bad, &zip, &err), -1);
    assert_non_null(strstr(err.msg, "no end of central directory record"));

    /* A header that disagrees with its central entry. */
    bad = b;
    bad.bytes[30] = 'x';
    assert_int_equal(read_zip(&bad, &zip, &err), -1);
    assert_non_null(strstr(err.msg, "names 'x' instead"));
}

static void zip_overlapping_members(void **state)
{
    /* Member "a" stores a complete local header of "b" with its data, and the
     * central directory lists "b" at that header inside "a". */
    buffer inner = { .n = 0 };
    member hidden = { .name = "b", .data = (const uint8_t *)"hi", .data_len = 2,
                      .size = 2 };
    layout plain = { 0 };
    put_local(&inner, &hidden, &plain);

    member m[2] = {
        { .name = "a", .data = inner.bytes, .data_len = inner.n, .size = inner.n },
        { .name = "b", .data = (const uint8_t *)"hi", .data_len = 2, .size = 2,
          .no_local = 1, .header_offset = 30 + 1 },
    };
    buffer b;
    layout l = { 0 };
    build_zip(&b, m, 2, &l);

    el_zip zip;
    el_error err = { 0 };
    assert_int_equal(read_zip(&b, &zip, &err), -1);
    assert_non_null(strstr(err.msg, "member 'b' (offset 31) overlaps member 'a'"));
}

static void zip_duplicate_names(void **state)
{
    member m[2] = {
        { .name = "same", .data = (const uint8_t *)"1", .data_len = 1, .size = 1 },
        { .name = "same", .data = (const uint8_t *)"2", .data_len = 1, .size = 1 },
    };
    buffer b;
    layout l = { 0 };
    build_zip(&b, m, 2, &l);

    el_zip zip;
    el_error err = { 0 };
    assert_int_equal(read_zip(&b, &zip, &err), -1);
    assert_non_null(strstr(err.msg, "member 'same' appears twice"));
}

static void zip_truncated_directory(void **state)
{
    /* Names of 40 bytes make room for three entries' fixed parts in the
     * bytes of two entries. */
    member m[2] = {
        { .name = "one-0123456789012345678901234567890123456", .data = (const uint8_t *)"1",
          .data_len = 1, .size = 1 },
        { .name = "two-0123456789012345678901234567890123456", .data = (const uint8_t *)"2",
          .data_len = 1, .size = 1 },
    };
    buffer b;
    layout l = { 0 };
    build_zip(&b, m, 2, &l);
    el_zip zip;
    el_error err = { 0 };

    /* The end record declares three members but the directory has two. */
    buffer bad = b;
    bad.bytes[l.end_offset + 8] = 3;
    bad.bytes[l.end_offset + 10] = 3;
    assert_int_equal(read_zip(&bad, &zip, &err), -1);
    assert_non_null(strstr(err.msg, "central directory entry 3 at offset"));

    /* A directory size that cuts the second entry's name. */
    bad = b;
    bad.bytes[l.end_offset + 12] -= 2;
    assert_int_equal(read_zip(&bad, &zip, &err), -1);
    assert_non_null(strstr(err.msg, "entry 2 runs past the end of the directory"));

    /* More members than the directory's bytes can hold: rejected before any
     * allocation. */
    bad = b;
    bad.bytes[l.end_offset + 8] = 0xff;
    bad.bytes[l.end_offset + 10] = 0xff;
    assert_int_equal(read_zip(&bad, &zip, &err), -1);
    assert_non_null(strstr(err.msg, "declares 255 members"));
}

static void zip_rejected_members(void **state)
{
    member m[1] = {
        { .name = "secret", .data = (const uint8_t *)"abc", .data_len = 3, .size = 3 },
    };
    buffer b;
    layout l = { 0 };
    build_zip(&b, m, 1, &l);
    el_zip zip;
    el_error err = { 0 };

    buffer bad = b;
    bad.bytes[l.cd_offset + 8] |= 0x01;
    assert_int_equal(read_zip(&bad, &zip, &err), -1);
    assert_non_null(strstr(err.msg, "member 'secret' is encrypted"));

    /* Method 12 (bzip2) parses, and fails on extraction. */
    bad = b;
    bad.bytes[8] = 12;
    bad.bytes[l.cd_offset + 10] = 12;
    assert_int_equal(read_zip(&bad, &zip, &err), 0);
    uint8_t *data = NULL;
    assert_int_equal(el_zip_extract(bad.bytes, bad.n, &zip.entries[0], &data, &err), -1);
    assert_null(data);
    assert_non_null(strstr(err.msg, "member 'secret' uses compression method 12"));
    el_zip_free(&zip);
}

static void zip_extract_checks(void **state)
{
    const char *plain = "checked";
    uint8_t deflated[32];
    const size_t n = stored_deflate(deflated, plain, 7);
    member m[1] = {
        { .name = "m", .method = 8, .data = deflated, .data_len = n, .size = 7 },
    };
    buffer b;
    layout l = { 0 };
    build_zip(&b, m, 1, &l);
    el_zip zip;
    el_error err = { 0 };
    uint8_t *data = NULL;

    /* build_zip wrote CRC 0 for the deflated member. */
    assert_int_equal(read_zip(&b, &zip, &err), 0);
    assert_int_equal(el_zip_extract(b.bytes, b.n, &zip.entries[0], &data, &err), -1);
    assert_non_null(strstr(err.msg, "member 'm': CRC-32 of the data is"));

    /* A declared size beyond what deflate can produce from 12 bytes is
     * rejected before allocating it. */
    el_zip_entry huge = zip.entries[0];
    huge.size = (uint64_t)1 << 40;
    assert_int_equal(el_zip_extract(b.bytes, b.n, &huge, &data, &err), -1);
    assert_non_null(strstr(err.msg, "more than deflate can produce"));

    /* A stream that inflates past the declared size. */
    el_zip_entry small = zip.entries[0];
    small.size = 6;
    assert_int_equal(el_zip_extract(b.bytes, b.n, &small, &data, &err), -1);
    assert_non_null(strstr(err.msg, "member 'm': deflate stream inflates past"));
    el_zip_free(&zip);
}

static void zip_model_neither_format(void **state)
{
    member m[1] = {
        { .name = "readme.txt", .data = (const uint8_t *)"hi", .data_len = 2, .size = 2 },
    };
    buffer b;
    layout l = { 0 };
    build_zip(&b, m, 1, &l);

    char dir[] = "/tmp/elves-zip-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[64];
    snprintf(path, sizeof path, "%s/other.zip", dir);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(b.bytes, 1, b.n, f), b.n);
    fclose(f);

    el_model model;
    el_error err = { 0 };
    const int rc = el_model_open(path, &model, &err);
    remove(path);
    rmdir(dir);
    assert_int_equal(rc, -1);
    assert_non_null(strstr(err.msg, "neither a PyTorch checkpoint"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(zip_stored_members),
        cmocka_unit_test(zip_deflated_member),
        cmocka_unit_test(zip_real_deflated_archive),
        cmocka_unit_test(zip_zip64_records),
        cmocka_unit_test(zip_data_descriptor),
        cmocka_unit_test(zip_comment_at_end),
        cmocka_unit_test(zip_bad_offsets),
        cmocka_unit_test(zip_overlapping_members),
        cmocka_unit_test(zip_duplicate_names),
        cmocka_unit_test(zip_truncated_directory),
        cmocka_unit_test(zip_rejected_members),
        cmocka_unit_test(zip_extract_checks),
        cmocka_unit_test(zip_model_neither_format),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
