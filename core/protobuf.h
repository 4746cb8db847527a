/* A bounded reader of the protobuf wire format (protobuf.dev/programming-guides/
 * encoding): a message is a run of fields, each a key varint (field number
 * << 3 | wire type) followed by a varint, 8 bytes, a length-prefixed payload
 * or 4 bytes. The reader never reads outside the message it was given, and
 * every offset it returns is absolute within the buffer, so a payload offset
 * is a file offset when the buffer is a mapped file. Groups (wire types 3
 * and 4), deprecated since proto2, are rejected. */
#ifndef ELVES_PROTOBUF_H
#define ELVES_PROTOBUF_H

#include <stdint.h>

#include "../codecs/error.h"

/* A varint takes at most 10 bytes: 64 bits in 7-bit groups. */
#define EL_PB_MAX_VARINT 10

/* Largest field number the format allows: 2^29 - 1. */
#define EL_PB_MAX_FIELD 536870911u

typedef enum el_pb_wire {
    EL_PB_VARINT = 0,
    EL_PB_I64 = 1,
    EL_PB_LEN = 2,
    EL_PB_I32 = 5,
} el_pb_wire;

/* A message being read: bytes [pos, end) of buf. */
typedef struct el_pb_reader {
    const uint8_t *buf;
    uint64_t pos;           /* offset of the next key */
    uint64_t end;           /* offset one past the message */
} el_pb_reader;

/* One field as read from the wire. */
typedef struct el_pb_field {
    uint32_t number;        /* 0 when the key itself could not be read */
    el_pb_wire wire;
    uint64_t key_offset;    /* offset of the key */
    uint64_t value;         /* VARINT: the value; I64, I32: the little-endian value */
    uint64_t offset;        /* offset of the value or payload */
    uint64_t length;        /* bytes of the value or payload, without the key */
} el_pb_field;

/* Starts reading the message in bytes [begin, end) of buf. */
void el_pb_init(el_pb_reader *r, const uint8_t *buf, uint64_t begin, uint64_t end);

/* A reader over the payload of a length-delimited field of r. */
el_pb_reader el_pb_payload(const el_pb_reader *r, const el_pb_field *f);

/* Reads the next field of r into *f. Returns 1 when a field was read, 0 at
 * the end of the message and -1 when the bytes are malformed: err then names
 * the byte offset and the problem, and f->number is the field number when
 * the key was read (0 otherwise), so that the caller can name the field. */
int el_pb_next(el_pb_reader *r, el_pb_field *f, el_error *err);

/* Reads one varint from bytes [*pos, end) of buf and advances *pos past it.
 * Returns 0, or -1 when it is truncated or longer than 64 bits. */
int el_pb_read_varint(const uint8_t *buf, uint64_t *pos, uint64_t end,
                      uint64_t *value, el_error *err);

/* Counts the varints of a packed repeated field whose payload is bytes
 * [begin, end) of buf, checking each one. Returns 0 or -1. */
int el_pb_count_varints(const uint8_t *buf, uint64_t begin, uint64_t end,
                        uint64_t *count, el_error *err);

#endif
