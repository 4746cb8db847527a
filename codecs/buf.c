#include "buf.h"

#include <stdlib.h>
#include <string.h>

int el_buf_reserve(el_buf *buf, size_t extra, el_error *err)
{
    if (extra > SIZE_MAX - buf->len)
        return el_fail(err, "buffer size overflows: %zu + %zu bytes", buf->len, extra);

    size_t need = buf->len + extra;
    if (need <= buf->cap)
        return 0;

    size_t cap = buf->cap ? buf->cap : 256;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;

    uint8_t *grown = realloc(buf->data, cap);
    if (grown == NULL)
        return el_fail(err, "out of memory growing a buffer to %zu bytes", cap);
    buf->data = grown;
    buf->cap = cap;
    return 0;
}

int el_buf_append(el_buf *buf, const void *bytes, size_t n, el_error *err)
{
    if (n == 0)
        return 0;
    if (el_buf_reserve(buf, n, err) != 0)
        return -1;
    memcpy(buf->data + buf->len, bytes, n);
    buf->len += n;
    return 0;
}

int el_buf_append_u8(el_buf *buf, uint8_t v, el_error *err)
{
    return el_buf_append(buf, &v, 1, err);
}

int el_buf_append_u32le(el_buf *buf, uint32_t v, el_error *err)
{
    uint8_t b[4];
    for (int i = 0; i < 4; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    return el_buf_append(buf, b, sizeof b, err);
}

int el_buf_append_u64le(el_buf *buf, uint64_t v, el_error *err)
{
    uint8_t b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    return el_buf_append(buf, b, sizeof b, err);
}

int el_buf_append_varint(el_buf *buf, uint64_t v, el_error *err)
{
    uint8_t b[10];
    size_t n = 0;
    do {
        uint8_t byte = v & 0x7f;
        v >>= 7;
        b[n++] = byte | (v ? 0x80 : 0);
    } while (v);
    return el_buf_append(buf, b, n, err);
}

void el_buf_free(el_buf *buf)
{
    free(buf->data);
    buf->data = NULL;
    buf->len = buf->cap = 0;
}

const uint8_t *el_read_span(el_reader *r, size_t n, el_error *err)
{
    if (n > r->len - r->pos) {
        el_fail(err, "data ends early: %zu bytes needed at offset %zu, %zu left",
                n, r->pos, r->len - r->pos);
        return NULL;
    }
    const uint8_t *p = r->data + r->pos;
    r->pos += n;
    return p;
}

int el_read_bytes(el_reader *r, void *out, size_t n, el_error *err)
{
    const uint8_t *p = el_read_span(r, n, err);
    if (p == NULL)
        return -1;
    if (n)
        memcpy(out, p, n);
    return 0;
}

int el_read_u8(el_reader *r, uint8_t *v, el_error *err)
{
    return el_read_bytes(r, v, 1, err);
}

int el_read_u32le(el_reader *r, uint32_t *v, el_error *err)
{
    const uint8_t *p = el_read_span(r, 4, err);
    if (p == NULL)
        return -1;
    *v = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    return 0;
}

int el_read_u64le(el_reader *r, uint64_t *v, el_error *err)
{
    const uint8_t *p = el_read_span(r, 8, err);
    if (p == NULL)
        return -1;
    uint64_t x = 0;
    for (int i = 7; i >= 0; i--)
        x = x << 8 | p[i];
    *v = x;
    return 0;
}

int el_read_varint(el_reader *r, uint64_t *v, el_error *err)
{
    uint64_t x = 0;
    for (int shift = 0; shift < 70; shift += 7) {
        uint8_t byte;
        if (el_read_u8(r, &byte, err) != 0)
            return -1;
        if (shift == 63 && byte > 1)
            return el_fail(err, "varint at offset %zu overflows 64 bits", r->pos - 1);
        x |= (uint64_t)(byte & 0x7f) << shift;
        if (!(byte & 0x80)) {
            *v = x;
            return 0;
        }
    }
    return el_fail(err, "varint at offset %zu is longer than 10 bytes", r->pos);
}

int el_read_index_delta(el_reader *r, const char *what, size_t n, size_t prev, size_t count,
                        size_t *index, el_error *err)
{
    uint64_t delta;
    if (el_read_varint(r, &delta, err) != 0)
        return el_fail_context(err, "%s %zu index", what, n);
    if (n > 0 && delta == 0)
        return el_fail(err, "%s %zu repeats index %zu", what, n, prev);

    uint64_t base = n > 0 ? prev : 0;
    if (delta >= count - base)
        return el_fail(err, "%s %zu index %llu + %llu is out of range for %zu elements",
                       what, n, (unsigned long long)base, (unsigned long long)delta, count);
    *index = (size_t)(base + delta);
    return 0;
}

size_t el_varint_size(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}
