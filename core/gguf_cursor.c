/* Bounded little-endian reads over a mapped GGUF file. */
#include "gguf_parse.h"

#include <stdlib.h>
#include <string.h>

uint64_t gguf_remaining(const gguf_cursor *c)
{
    return c->size - c->pos;
}

/* Checks that n more bytes are in the file before a read of `field`. */
static int need(const gguf_cursor *c, uint64_t n, const char *field, el_error *err)
{
    if (n <= gguf_remaining(c))
        return 0;
    return el_fail(err, "%s: %s at byte %llu needs %llu bytes, but the file ends "
                   "after %llu; the file is truncated or damaged: download or "
                   "convert it again", c->path, field, (unsigned long long)c->pos,
                   (unsigned long long)n, (unsigned long long)gguf_remaining(c));
}

int gguf_skip(gguf_cursor *c, uint64_t n, const char *field, el_error *err)
{
    if (need(c, n, field, err) != 0)
        return -1;
    c->pos += n;
    return 0;
}

/* Reads an n-byte little-endian unsigned integer. */
static int read_le(gguf_cursor *c, int n, const char *field, uint64_t *out,
                   el_error *err)
{
    if (need(c, (uint64_t)n, field, err) != 0)
        return -1;

    const uint8_t *p = c->base + c->pos;
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = (v << 8) | p[i];
    c->pos += (uint64_t)n;
    *out = v;
    return 0;
}

int gguf_read_u8(gguf_cursor *c, const char *field, uint8_t *out, el_error *err)
{
    uint64_t v = 0;
    if (read_le(c, 1, field, &v, err) != 0)
        return -1;
    *out = (uint8_t)v;
    return 0;
}

int gguf_read_u16(gguf_cursor *c, const char *field, uint16_t *out, el_error *err)
{
    uint64_t v = 0;
    if (read_le(c, 2, field, &v, err) != 0)
        return -1;
    *out = (uint16_t)v;
    return 0;
}

int gguf_read_u32(gguf_cursor *c, const char *field, uint32_t *out, el_error *err)
{
    uint64_t v = 0;
    if (read_le(c, 4, field, &v, err) != 0)
        return -1;
    *out = (uint32_t)v;
    return 0;
}

int gguf_read_u64(gguf_cursor *c, const char *field, uint64_t *out, el_error *err)
{
    return read_le(c, 8, field, out, err);
}

int gguf_read_string(gguf_cursor *c, const char *field, gguf_string *out,
                     el_error *err)
{
    const uint64_t start = c->pos;
    uint64_t len = 0;
    if (gguf_read_u64(c, field, &len, err) != 0)
        return -1;

    if (len > gguf_remaining(c))
        return el_fail(err, "%s: %s at byte %llu has length %llu, but only %llu "
                       "bytes follow; " GGUF_FIX, c->path, field,
                       (unsigned long long)start, (unsigned long long)len,
                       (unsigned long long)gguf_remaining(c));

    out->ptr = (const char *)(c->base + c->pos);
    out->len = len;
    c->pos += len;
    return 0;
}

void *gguf_reserve(void *items, uint64_t *cap, uint64_t index, size_t size)
{
    if (index < *cap)
        return items;

    const uint64_t grown = *cap > 0 ? *cap * 2 : 16;
    if (grown > SIZE_MAX / size)
        return NULL;
    void *p = realloc(items, (size_t)grown * size);
    if (p != NULL)
        *cap = grown;
    return p;
}

const char *gguf_printable(gguf_string s, char *buf, size_t len)
{
    if (len == 0)
        return buf;

    size_t n = s.len < 80 ? (size_t)s.len : 80;
    if (n > len - 1)
        n = len - 1;
    for (size_t i = 0; i < n; i++) {
        const unsigned char ch = (unsigned char)s.ptr[i];
        buf[i] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
    }
    buf[n] = '\0';
    return buf;
}

int gguf_string_is(gguf_string s, const char *text)
{
    const size_t n = strlen(text);
    return s.len == n && memcmp(s.ptr, text, n) == 0;
}
