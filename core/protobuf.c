#include "protobuf.h"

void el_pb_init(el_pb_reader *r, const uint8_t *buf, uint64_t begin, uint64_t end)
{
    r->buf = buf;
    r->pos = begin;
    r->end = end;
}

el_pb_reader el_pb_payload(const el_pb_reader *r, const el_pb_field *f)
{
    el_pb_reader sub = { r->buf, f->offset, f->offset + f->length };
    return sub;
}

int el_pb_read_varint(const uint8_t *buf, uint64_t *pos, uint64_t end,
                      uint64_t *value, el_error *err)
{
    const uint64_t start = *pos;
    uint64_t v = 0;

    for (int i = 0; i < EL_PB_MAX_VARINT; i++) {
        if (start + (uint64_t)i >= end)
            return el_fail(err, "varint at byte %llu is truncated: the message "
                           "ends at byte %llu", (unsigned long long)start,
                           (unsigned long long)end);

        const uint8_t byte = buf[start + (uint64_t)i];
        /* The tenth byte carries bit 63 only. */
        if (i == EL_PB_MAX_VARINT - 1 && byte > 1)
            return el_fail(err, "varint at byte %llu does not fit in 64 bits",
                           (unsigned long long)start);

        v |= (uint64_t)(byte & 0x7f) << (7 * i);
        if ((byte & 0x80) == 0) {
            *pos = start + (uint64_t)i + 1;
            *value = v;
            return 0;
        }
    }
    return el_fail(err, "varint at byte %llu does not fit in 64 bits",
                   (unsigned long long)start);
}

int el_pb_count_varints(const uint8_t *buf, uint64_t begin, uint64_t end,
                        uint64_t *count, el_error *err)
{
    uint64_t n = 0;
    uint64_t pos = begin;
    while (pos < end) {
        uint64_t ignored;
        if (el_pb_read_varint(buf, &pos, end, &ignored, err) != 0)
            return -1;
        n++;
    }
    *count = n;
    return 0;
}

/* Reads a fixed-width little-endian value of `width` bytes. */
static int read_fixed(const el_pb_reader *r, el_pb_field *f, unsigned width,
                      el_error *err)
{
    if (r->end - f->offset < width)
        return el_fail(err, "%u-byte value at byte %llu runs past the end of the "
                       "message at byte %llu", width, (unsigned long long)f->offset,
                       (unsigned long long)r->end);

    uint64_t v = 0;
    for (unsigned i = 0; i < width; i++)
        v |= (uint64_t)r->buf[f->offset + i] << (8 * i);
    f->value = v;
    f->length = width;
    return 0;
}

static int read_value(const el_pb_reader *r, el_pb_field *f, el_error *err)
{
    switch (f->wire) {
    case EL_PB_VARINT: {
        uint64_t pos = f->offset;
        if (el_pb_read_varint(r->buf, &pos, r->end, &f->value, err) != 0)
            return -1;
        f->length = pos - f->offset;
        return 0;
    }
    case EL_PB_I64:
        return read_fixed(r, f, 8, err);
    case EL_PB_I32:
        return read_fixed(r, f, 4, err);
    case EL_PB_LEN: {
        uint64_t pos = f->offset;
        uint64_t length;
        if (el_pb_read_varint(r->buf, &pos, r->end, &length, err) != 0)
            return -1;
        if (length > r->end - pos)
            return el_fail(err, "length %llu at byte %llu runs past the end of the "
                           "message at byte %llu", (unsigned long long)length,
                           (unsigned long long)f->offset, (unsigned long long)r->end);
        f->offset = pos;
        f->length = length;
        return 0;
    }
    }
    return el_fail(err, "wire type %d is not valid", (int)f->wire);
}

int el_pb_next(el_pb_reader *r, el_pb_field *f, el_error *err)
{
    f->number = 0;
    f->key_offset = r->pos;
    if (r->pos >= r->end)
        return 0;

    uint64_t key;
    uint64_t pos = r->pos;
    if (el_pb_read_varint(r->buf, &pos, r->end, &key, err) != 0)
        return -1;

    const uint64_t number = key >> 3;
    const unsigned wire = (unsigned)(key & 7);
    if (number == 0 || number > EL_PB_MAX_FIELD)
        return el_fail(err, "key at byte %llu has field number %llu, expected 1 "
                       "to %u", (unsigned long long)r->pos,
                       (unsigned long long)number, EL_PB_MAX_FIELD);
    f->number = (uint32_t)number;

    if (wire == 3 || wire == 4)
        return el_fail(err, "key at byte %llu starts a group (wire type %u), "
                       "which is not supported", (unsigned long long)r->pos, wire);
    if (wire != EL_PB_VARINT && wire != EL_PB_I64 && wire != EL_PB_LEN &&
        wire != EL_PB_I32)
        return el_fail(err, "key at byte %llu has wire type %u, which is not valid",
                       (unsigned long long)r->pos, wire);

    f->wire = (el_pb_wire)wire;
    f->offset = pos;
    if (read_value(r, f, err) != 0)
        return -1;

    r->pos = f->offset + f->length;
    return 1;
}
