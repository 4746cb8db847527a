/* Tests of the bounded protobuf wire-format reader: varints at their
 * limits, each wire type, and every kind of malformed field. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "../core/protobuf.h"

/* Reads the one field of buf and returns el_pb_next's result. */
static int read_one(const uint8_t *buf, size_t len, el_pb_field *f, el_error *err)
{
    el_pb_reader r;
    el_pb_init(&r, buf, 0, len);
    return el_pb_next(&r, f, err);
}

static void varint_values(void **state)
{
    static const struct {
        uint8_t bytes[10];
        size_t len;
        uint64_t value;
    } cases[] = {
        { { 0x00 }, 1, 0 },
        { { 0x01 }, 1, 1 },
        { { 0x7f }, 1, 127 },
        { { 0xac, 0x02 }, 2, 300 },
        { { 0xff, 0xff, 0xff, 0xff, 0x0f }, 5, 0xffffffffu },
        { { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01 }, 10, UINT64_MAX },
        { { 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01 }, 10,
          0x8000000000000000ULL },
        /* A redundant continuation byte is allowed by the format. */
        { { 0x81, 0x00 }, 2, 1 },
    };

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint64_t pos = 0, value = 0;
        el_error err;
        assert_int_equal(el_pb_read_varint(cases[i].bytes, &pos, cases[i].len,
                                           &value, &err), 0);
        assert_int_equal(value, cases[i].value);
        assert_int_equal(pos, cases[i].len);
    }
}

static void varint_truncated(void **state)
{
    const uint8_t bytes[] = { 0x80, 0x80, 0x80 };
    uint64_t pos = 0, value;
    el_error err;
    assert_int_equal(el_pb_read_varint(bytes, &pos, sizeof bytes, &value, &err), -1);
    assert_non_null(strstr(err.msg, "truncated"));
    assert_int_equal(pos, 0);
}

static void varint_too_long(void **state)
{
    const uint8_t eleven[] = { 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
                               0x80, 0x80, 0x01 };
    const uint8_t past_64[] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                0xff, 0x02 };
    uint64_t pos = 0, value;
    el_error err;
    assert_int_equal(el_pb_read_varint(eleven, &pos, sizeof eleven, &value, &err), -1);
    assert_non_null(strstr(err.msg, "64 bits"));

    pos = 0;
    assert_int_equal(el_pb_read_varint(past_64, &pos, sizeof past_64, &value, &err), -1);
    assert_non_null(strstr(err.msg, "64 bits"));
}

/* The end bound stops a varint even when more bytes follow in the buffer. */
static void varint_stops_at_end(void **state)
{
    const uint8_t bytes[] = { 0xac, 0x02 };
    uint64_t pos = 0, value;
    el_error err;
    assert_int_equal(el_pb_read_varint(bytes, &pos, 1, &value, &err), -1);
}

static void next_each_wire(void **state)
{
    /* field 1 varint 150, field 2 fixed64, field 3 "abc", field 4 fixed32 */
    const uint8_t msg[] = {
        0x08, 0x96, 0x01,
        0x11, 1, 2, 3, 4, 5, 6, 7, 8,
        0x1a, 0x03, 'a', 'b', 'c',
        0x25, 0x78, 0x56, 0x34, 0x12,
    };
    el_pb_reader r;
    el_pb_init(&r, msg, 0, sizeof msg);
    el_pb_field f;
    el_error err;

    assert_int_equal(el_pb_next(&r, &f, &err), 1);
    assert_int_equal(f.number, 1);
    assert_int_equal(f.wire, EL_PB_VARINT);
    assert_int_equal(f.value, 150);

    assert_int_equal(el_pb_next(&r, &f, &err), 1);
    assert_int_equal(f.number, 2);
    assert_int_equal(f.wire, EL_PB_I64);
    assert_int_equal(f.value, 0x0807060504030201ULL);
    assert_int_equal(f.offset, 4);

    assert_int_equal(el_pb_next(&r, &f, &err), 1);
    assert_int_equal(f.number, 3);
    assert_int_equal(f.wire, EL_PB_LEN);
    assert_int_equal(f.offset, 14);
    assert_int_equal(f.length, 3);
    assert_int_equal(f.key_offset, 12);

    assert_int_equal(el_pb_next(&r, &f, &err), 1);
    assert_int_equal(f.number, 4);
    assert_int_equal(f.wire, EL_PB_I32);
    assert_int_equal(f.value, 0x12345678);

    assert_int_equal(el_pb_next(&r, &f, &err), 0);
}

static void next_large_field_number(void **state)
{
    /* field 2^29 - 1, wire type 0: key (2^29 - 1) << 3 = 0xfffffff8 */
    const uint8_t max[] = { 0xf8, 0xff, 0xff, 0xff, 0x0f, 0x00 };
    /* field 2^29: key 0x100000000 */
    const uint8_t over[] = { 0x80, 0x80, 0x80, 0x80, 0x10, 0x00 };
    el_pb_field f;
    el_error err;
    assert_int_equal(read_one(max, sizeof max, &f, &err), 1);
    assert_int_equal(f.number, EL_PB_MAX_FIELD);
    assert_int_equal(read_one(over, sizeof over, &f, &err), -1);
    assert_non_null(strstr(err.msg, "field number"));
}

static void next_field_zero(void **state)
{
    const uint8_t msg[] = { 0x00, 0x01 };
    el_pb_field f;
    el_error err;
    assert_int_equal(read_one(msg, sizeof msg, &f, &err), -1);
    assert_non_null(strstr(err.msg, "field number 0"));
    assert_int_equal(f.number, 0);
}

static void next_groups_rejected(void **state)
{
    const uint8_t start[] = { 0x0b, 0x0c };     /* field 1 start and end group */
    const uint8_t end[] = { 0x0c };
    el_pb_field f;
    el_error err;
    assert_int_equal(read_one(start, sizeof start, &f, &err), -1);
    assert_non_null(strstr(err.msg, "group"));
    assert_int_equal(f.number, 1);
    assert_int_equal(read_one(end, sizeof end, &f, &err), -1);
    assert_non_null(strstr(err.msg, "group"));
}

static void next_invalid_wire(void **state)
{
    const uint8_t six[] = { 0x0e, 0x00 };
    const uint8_t seven[] = { 0x0f, 0x00 };
    el_pb_field f;
    el_error err;
    assert_int_equal(read_one(six, sizeof six, &f, &err), -1);
    assert_non_null(strstr(err.msg, "wire type 6"));
    assert_int_equal(read_one(seven, sizeof seven, &f, &err), -1);
    assert_non_null(strstr(err.msg, "wire type 7"));
}

static void next_length_past_end(void **state)
{
    const uint8_t msg[] = { 0x0a, 0x05, 'a', 'b' };
    el_pb_field f;
    el_error err;
    assert_int_equal(read_one(msg, sizeof msg, &f, &err), -1);
    assert_non_null(strstr(err.msg, "length 5"));
    assert_int_equal(f.number, 1);
}

/* A length near 2^64 must not wrap around the end check. */
static void next_length_huge(void **state)
{
    const uint8_t msg[] = { 0x0a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                            0xff, 0xff, 0x01, 'a' };
    el_pb_field f;
    el_error err;
    assert_int_equal(read_one(msg, sizeof msg, &f, &err), -1);
    assert_non_null(strstr(err.msg, "past the end"));
}

static void next_fixed_truncated(void **state)
{
    const uint8_t i64[] = { 0x09, 1, 2, 3, 4, 5, 6, 7 };
    const uint8_t i32[] = { 0x0d, 1, 2, 3 };
    el_pb_field f;
    el_error err;
    assert_int_equal(read_one(i64, sizeof i64, &f, &err), -1);
    assert_non_null(strstr(err.msg, "8-byte"));
    assert_int_equal(read_one(i32, sizeof i32, &f, &err), -1);
    assert_non_null(strstr(err.msg, "4-byte"));
}

static void next_key_truncated(void **state)
{
    const uint8_t msg[] = { 0x80 };
    el_pb_field f;
    el_error err;
    assert_int_equal(read_one(msg, sizeof msg, &f, &err), -1);
    assert_non_null(strstr(err.msg, "truncated"));
    assert_int_equal(f.number, 0);
}

static void payload_nested(void **state)
{
    /* field 1 contains a message with field 2 = 7, then field 3 = 9 follows */
    const uint8_t msg[] = { 0x0a, 0x02, 0x10, 0x07, 0x18, 0x09 };
    el_pb_reader r;
    el_pb_init(&r, msg, 0, sizeof msg);
    el_pb_field f, inner;
    el_error err;

    assert_int_equal(el_pb_next(&r, &f, &err), 1);
    el_pb_reader sub = el_pb_payload(&r, &f);
    assert_int_equal(el_pb_next(&sub, &inner, &err), 1);
    assert_int_equal(inner.number, 2);
    assert_int_equal(inner.value, 7);
    assert_int_equal(el_pb_next(&sub, &inner, &err), 0);

    assert_int_equal(el_pb_next(&r, &f, &err), 1);
    assert_int_equal(f.number, 3);
    assert_int_equal(f.value, 9);
}

/* A nested message whose field runs past the nested end fails even though
 * the outer message has more bytes. */
static void payload_bounded(void **state)
{
    const uint8_t msg[] = { 0x0a, 0x02, 0x12, 0x03, 'a', 'b', 'c' };
    el_pb_reader r;
    el_pb_init(&r, msg, 0, sizeof msg);
    el_pb_field f, inner;
    el_error err;
    assert_int_equal(el_pb_next(&r, &f, &err), 1);
    el_pb_reader sub = el_pb_payload(&r, &f);
    assert_int_equal(el_pb_next(&sub, &inner, &err), -1);
    assert_non_null(strstr(err.msg, "past the end"));
}

static void count_varints_packed(void **state)
{
    const uint8_t packed[] = { 0x03, 0x8e, 0x02, 0x9e, 0xa7, 0x05 };
    const uint8_t cut[] = { 0x03, 0x8e };
    uint64_t n = 0;
    el_error err;
    assert_int_equal(el_pb_count_varints(packed, 0, sizeof packed, &n, &err), 0);
    assert_int_equal(n, 3);
    assert_int_equal(el_pb_count_varints(packed, 0, 0, &n, &err), 0);
    assert_int_equal(n, 0);
    assert_int_equal(el_pb_count_varints(cut, 0, sizeof cut, &n, &err), -1);
    assert_non_null(strstr(err.msg, "truncated"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(varint_values),
        cmocka_unit_test(varint_truncated),
        cmocka_unit_test(varint_too_long),
        cmocka_unit_test(varint_stops_at_end),
        cmocka_unit_test(next_each_wire),
        cmocka_unit_test(next_large_field_number),
        cmocka_unit_test(next_field_zero),
        cmocka_unit_test(next_groups_rejected),
        cmocka_unit_test(next_invalid_wire),
        cmocka_unit_test(next_length_past_end),
        cmocka_unit_test(next_length_huge),
        cmocka_unit_test(next_fixed_truncated),
        cmocka_unit_test(next_key_truncated),
        cmocka_unit_test(payload_nested),
        cmocka_unit_test(payload_bounded),
        cmocka_unit_test(count_varints_packed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
