/* Tests of el_find_duplicates and the hash helpers, on models built in
 * memory (only the tensor table is filled). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "../core/dedup.h"
#include "testutil.h"

static el_tensor tensor(const char *name, el_dtype dtype, const void *data,
                        uint64_t nbytes)
{
    return (el_tensor){
        .name = (char *)name,
        .dtype = dtype,
        .ndim = 1,
        .shape = { nbytes / el_dtype_size(dtype) },
        .count = nbytes / el_dtype_size(dtype),
        .nbytes = nbytes,
        .data = data,
    };
}

static el_model model_of(el_tensor *tensors, size_t n)
{
    return (el_model){ .format = "safetensors", .tensors = tensors, .n_tensors = n };
}

static void find(const el_model *const *models, size_t n_models,
                 el_dup *const *dups)
{
    el_error err = { { 0 } };
    if (el_find_duplicates(models, n_models, dups, &err) != 0)
        fail_msg("el_find_duplicates failed: %s", err.msg);
}

static void assert_dup_of(const el_dup *d, size_t model, size_t index)
{
    assert_true(d->is_duplicate);
    assert_int_equal(d->of.model, model);
    assert_int_equal(d->of.tensor, index);
}

static void hash_hex_order(void **state)
{
    char hex[33];
    el_hash128_hex((el_hash128){ .hi = 0x0123456789abcdefULL,
                                 .lo = 0xfedcba9876543210ULL }, hex);
    assert_string_equal(hex, "0123456789abcdeffedcba9876543210");

    el_hash128_hex((el_hash128){ .hi = 0, .lo = 1 }, hex);
    assert_string_equal(hex, "00000000000000000000000000000001");
}

static void hash_matches_xxh3(void **state)
{
    const char text[] = "elves";
    const XXH128_hash_t want = XXH3_128bits(text, 5);
    const el_hash128 got = el_hash128_bytes(text, 5);

    assert_int_equal(got.lo, want.low64);
    assert_int_equal(got.hi, want.high64);
}

static void dedup_within_model(void **state)
{
    const float a[] = { 1, 2, 3 };
    const float same[] = { 1, 2, 3 };
    const float other[] = { 1, 2, 4 };
    el_tensor t[] = {
        tensor("embed", EL_F32, a, sizeof a),
        tensor("other", EL_F32, other, sizeof other),
        tensor("lm_head", EL_F32, same, sizeof same),
        tensor("again", EL_F32, a, sizeof a),
    };
    const el_model m = model_of(t, 4);
    const el_model *models[] = { &m };
    el_dup d[4];
    el_dup *dups[] = { d };

    find(models, 1, dups);
    assert_false(d[0].is_duplicate);
    assert_false(d[1].is_duplicate);
    assert_dup_of(&d[2], 0, 0);
    assert_dup_of(&d[3], 0, 0);
    assert_memory_equal(&d[0].hash, &d[2].hash, sizeof d[0].hash);
}

static void dedup_across_models(void **state)
{
    const uint16_t base[] = { 10, 20, 30, 40 };
    const uint16_t head[] = { 7, 7 };
    const uint16_t tuned[] = { 10, 20, 30, 41 };
    const uint16_t base_copy[] = { 10, 20, 30, 40 };
    const uint16_t head_copy[] = { 7, 7 };
    el_tensor ta[] = {
        tensor("head", EL_BF16, head, sizeof head),
        tensor("base", EL_BF16, base, sizeof base),
    };
    el_tensor tb[] = {
        tensor("base", EL_BF16, base_copy, sizeof base_copy),
        tensor("tuned", EL_BF16, tuned, sizeof tuned),
        tensor("extra", EL_BF16, tuned, sizeof tuned),
        tensor("head", EL_BF16, head_copy, sizeof head_copy),
    };
    const el_model a = model_of(ta, 2);
    const el_model b = model_of(tb, 4);
    const el_model *models[] = { &a, &b };
    el_dup da[2], db[4];
    el_dup *dups[] = { da, db };

    find(models, 2, dups);
    assert_false(da[0].is_duplicate);
    assert_false(da[1].is_duplicate);
    assert_dup_of(&db[0], 0, 1);
    assert_false(db[1].is_duplicate);
    assert_dup_of(&db[2], 1, 1);
    assert_dup_of(&db[3], 0, 0);
}

static void dedup_dtype_differs(void **state)
{
    const uint8_t bytes[] = { 1, 2, 3, 4 };
    el_tensor t[] = {
        tensor("as_f32", EL_F32, bytes, 4),
        tensor("as_i32", EL_I32, bytes, 4),
        tensor("as_u8", EL_U8, bytes, 4),
    };
    const el_model m = model_of(t, 3);
    const el_model *models[] = { &m };
    el_dup d[3];
    el_dup *dups[] = { d };

    find(models, 1, dups);
    assert_false(d[0].is_duplicate);
    assert_false(d[1].is_duplicate);
    assert_false(d[2].is_duplicate);
}

static void dedup_prefix_not_duplicate(void **state)
{
    const uint8_t bytes[] = { 1, 2, 3, 4 };
    el_tensor t[] = {
        tensor("long", EL_U8, bytes, 4),
        tensor("short", EL_U8, bytes, 2),
    };
    const el_model m = model_of(t, 2);
    const el_model *models[] = { &m };
    el_dup d[2];
    el_dup *dups[] = { d };

    find(models, 1, dups);
    assert_false(d[1].is_duplicate);
}

static void dedup_empty_never(void **state)
{
    const uint8_t byte = 0;
    el_tensor t[] = {
        tensor("e1", EL_F32, NULL, 0),
        tensor("e2", EL_F32, NULL, 0),
        tensor("e3", EL_F32, &byte, 0),
    };
    const el_model m = model_of(t, 3);
    const el_model *models[] = { &m, &m };
    el_dup d1[3], d2[3];
    el_dup *dups[] = { d1, d2 };

    find(models, 2, dups);
    for (int i = 0; i < 3; i++) {
        assert_false(d1[i].is_duplicate);
        assert_false(d2[i].is_duplicate);
    }
}

static void dedup_same_model_twice(void **state)
{
    const double x[] = { 1.5 };
    const double y[] = { 2.5 };
    el_tensor t[] = {
        tensor("x", EL_F64, x, sizeof x),
        tensor("y", EL_F64, y, sizeof y),
    };
    const el_model m = model_of(t, 2);
    const el_model *models[] = { &m, &m };
    el_dup d1[2], d2[2];
    el_dup *dups[] = { d1, d2 };

    find(models, 2, dups);
    assert_false(d1[0].is_duplicate);
    assert_false(d1[1].is_duplicate);
    assert_dup_of(&d2[0], 0, 0);
    assert_dup_of(&d2[1], 0, 1);
}

static void dedup_many_copies(void **state)
{
    enum { N = 300 };
    uint64_t rng = 7;
    uint32_t *pool = malloc(5 * 64 * sizeof *pool);
    assert_non_null(pool);
    for (int i = 0; i < 5 * 64; i++)
        pool[i] = (uint32_t)test_rand(&rng);

    el_tensor t[N];
    for (int i = 0; i < N; i++)
        t[i] = tensor("t", EL_U32, pool + 64 * (i % 5), 64 * sizeof *pool);
    const el_model m = model_of(t, N);
    const el_model *models[] = { &m };
    el_dup d[N];
    el_dup *dups[] = { d };

    find(models, 1, dups);
    for (int i = 0; i < N; i++) {
        if (i < 5)
            assert_false(d[i].is_duplicate);
        else
            assert_dup_of(&d[i], 0, (size_t)(i % 5));
    }
    free(pool);
}

static void dedup_no_models(void **state)
{
    el_error err = { { 0 } };
    assert_int_equal(el_find_duplicates(NULL, 0, NULL, &err), 0);
}

static void identical_compares_bytes(void **state)
{
    /* A hash collision cannot be forced, so this checks the comparison that
     * decides every hash match: equal dtype and length, different bytes. */
    const uint8_t a[] = { 1, 2, 3, 4 };
    const uint8_t b[] = { 1, 2, 3, 5 };
    const uint8_t c[] = { 1, 2, 3, 4 };
    const el_tensor ta = tensor("a", EL_U8, a, 4);
    const el_tensor tb = tensor("b", EL_U8, b, 4);
    const el_tensor tc = tensor("c", EL_U8, c, 4);
    const el_tensor td = tensor("d", EL_I8, c, 4);
    const el_tensor te = tensor("e", EL_U8, c, 3);

    assert_false(el_tensors_identical(&ta, &tb));
    assert_true(el_tensors_identical(&ta, &tc));
    assert_false(el_tensors_identical(&ta, &td));
    assert_false(el_tensors_identical(&ta, &te));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(hash_hex_order),
        cmocka_unit_test(hash_matches_xxh3),
        cmocka_unit_test(dedup_within_model),
        cmocka_unit_test(dedup_across_models),
        cmocka_unit_test(dedup_dtype_differs),
        cmocka_unit_test(dedup_prefix_not_duplicate),
        cmocka_unit_test(dedup_empty_never),
        cmocka_unit_test(dedup_same_model_twice),
        cmocka_unit_test(dedup_many_copies),
        cmocka_unit_test(dedup_no_models),
        cmocka_unit_test(identical_compares_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
