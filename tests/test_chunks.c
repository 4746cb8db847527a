/* Tests of the content-defined chunker and the duplicate-content report,
 * on deterministic random data, the bundled stories260K model and small
 * models built in memory (only the tensor table is filled). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../core/chunks.h"
#include "testutil.h"

#define SAMPLE "samples/stories260K.safetensors"

/* Small sizes so that test data of a few hundred KiB contains many chunks. */
static el_cdc_params small_params(void)
{
    el_cdc_params p;
    el_error err = { { 0 } };
    if (el_cdc_params_init(&p, 1024, 4096, 16384, &err) != 0)
        fail_msg("el_cdc_params_init failed: %s", err.msg);
    return p;
}

static uint8_t *random_bytes(size_t n, uint64_t seed)
{
    uint8_t *b = malloc(n);
    assert_non_null(b);
    for (size_t i = 0; i < n; i++)
        b[i] = (uint8_t)(test_rand(&seed) >> 56);
    return b;
}

static unsigned log2_of(size_t v)
{
    unsigned k = 0;
    while (((size_t)1 << k) < v)
        k++;
    return k;
}

/* The chunker's definition computed the slow way: the gear hash at byte i
 * is the sum of gear[byte j] << (i - j) over the bytes hashed so far (from
 * min_size on), and only the last 64 contribute to a 64-bit value. */
static size_t reference_cut(const uint8_t *d, size_t len, const el_cdc_params *p)
{
    if (len <= p->min_size)
        return len;

    const unsigned bits = log2_of(p->avg_size);
    const uint64_t strict = el_cdc_mask(bits + 2);
    const uint64_t loose = el_cdc_mask(bits - 2);
    const size_t end = len < p->max_size ? len : p->max_size;

    for (size_t i = p->min_size; i < end; i++) {
        const size_t from = i - p->min_size >= 63 ? i - 63 : p->min_size;
        uint64_t h = 0;
        for (size_t j = from; j <= i; j++)
            h += el_cdc_gear(d[j]) << (i - j);

        const uint64_t mask = i < p->avg_size ? strict : loose;
        if ((h & mask) == 0)
            return i + 1;
    }
    return end;
}

typedef size_t (*cut_fn)(const uint8_t *, size_t, const el_cdc_params *);

/* Splits a whole buffer into chunk lengths and returns their count. */
static size_t chunk_all(cut_fn cut, const uint8_t *d, size_t len,
                        const el_cdc_params *p, size_t *lengths, size_t cap)
{
    size_t n = 0;
    while (len > 0) {
        const size_t c = cut(d, len, p);
        assert_true(c > 0 && c <= len);
        assert_true(n < cap);
        lengths[n++] = c;
        d += c;
        len -= c;
    }
    return n;
}

static void assert_same_as_reference(const uint8_t *d, size_t len,
                                     const el_cdc_params *p)
{
    const size_t cap = len / (p->min_size + 1) + 2;
    size_t *fast = malloc(cap * sizeof *fast);
    size_t *slow = malloc(cap * sizeof *slow);
    assert_non_null(fast);
    assert_non_null(slow);

    const size_t n_fast = chunk_all(el_cdc_cut, d, len, p, fast, cap);
    const size_t n_slow = chunk_all(reference_cut, d, len, p, slow, cap);
    assert_int_equal(n_fast, n_slow);
    for (size_t i = 0; i < n_fast; i++)
        assert_int_equal(fast[i], slow[i]);

    free(fast);
    free(slow);
}

static void cdc_matches_reference_random(void **state)
{
    const size_t len = (size_t)1 << 20;
    uint8_t *d = random_bytes(len, 11);
    const el_cdc_params small = small_params();
    const el_cdc_params defaults = el_cdc_params_default();

    assert_same_as_reference(d, len, &small);
    assert_same_as_reference(d, len, &defaults);
    free(d);
}

static void cdc_matches_reference_sample(void **state)
{
    el_model model;
    el_error err = { { 0 } };
    if (el_model_open(SAMPLE, &model, &err) != 0)
        fail_msg("cannot open %s: %s", SAMPLE, err.msg);

    const el_cdc_params small = small_params();
    const el_cdc_params defaults = el_cdc_params_default();
    for (size_t t = 0; t < model.n_tensors; t++) {
        const el_tensor *tensor = &model.tensors[t];
        assert_same_as_reference(tensor->data, (size_t)tensor->nbytes, &small);
        assert_same_as_reference(tensor->data, (size_t)tensor->nbytes, &defaults);
    }
    el_model_close(&model);
}

static void cdc_sizes_within_bounds(void **state)
{
    const size_t len = (size_t)1 << 20;
    uint8_t *d = random_bytes(len, 12);
    const el_cdc_params p = small_params();
    const size_t cap = len / p.min_size + 2;
    size_t *lengths = malloc(cap * sizeof *lengths);
    assert_non_null(lengths);

    const size_t n = chunk_all(el_cdc_cut, d, len, &p, lengths, cap);
    assert_true(n > 100);
    for (size_t i = 0; i + 1 < n; i++) {
        assert_true(lengths[i] > p.min_size);
        assert_true(lengths[i] <= p.max_size);
    }
    assert_true(lengths[n - 1] <= p.max_size);

    /* Normalized chunking keeps the mean near the average size. */
    const double mean = (double)len / (double)n;
    assert_true(mean > p.avg_size * 0.5);
    assert_true(mean < p.avg_size * 2.0);

    free(lengths);
    free(d);
}

static void cdc_short_input_one_chunk(void **state)
{
    const el_cdc_params p = small_params();
    uint8_t *d = random_bytes(p.min_size, 13);

    assert_int_equal(el_cdc_cut(d, 0, &p), 0);
    assert_int_equal(el_cdc_cut(d, 1, &p), 1);
    assert_int_equal(el_cdc_cut(d, p.min_size, &p), p.min_size);
    free(d);
}

/* Sorted chunk end positions of a buffer. */
static size_t boundaries(const uint8_t *d, size_t len, const el_cdc_params *p,
                         size_t *ends, size_t cap)
{
    const size_t n = chunk_all(el_cdc_cut, d, len, p, ends, cap);
    for (size_t i = 1; i < n; i++)
        ends[i] += ends[i - 1];
    return n;
}

static int contains(const size_t *v, size_t n, size_t x)
{
    for (size_t i = 0; i < n; i++)
        if (v[i] == x)
            return 1;
    return 0;
}

static void cdc_edit_moves_nearby_cuts(void **state)
{
    const size_t len = (size_t)1 << 20;
    uint8_t *d = random_bytes(len, 14);
    const el_cdc_params p = small_params();
    const size_t cap = len / p.min_size + 2;
    size_t *before = malloc(cap * sizeof *before);
    size_t *after = malloc(cap * sizeof *after);
    assert_non_null(before);
    assert_non_null(after);

    /* Edit the last byte of a chunk in the middle: its hash decided the
     * cut, so that cut goes away. */
    const size_t n_before = boundaries(d, len, &p, before, cap);
    const size_t cut = before[n_before / 2];
    const size_t edit = cut - 1;
    d[edit] ^= 0x5a;
    const size_t n_after = boundaries(d, len, &p, after, cap);
    assert_false(contains(after, n_after, cut));

    /* Cuts before the edit stay, cuts well past it come back. */
    size_t changed = 0;
    for (size_t i = 0; i < n_before; i++) {
        if (before[i] <= edit || before[i] > edit + 2 * p.max_size)
            assert_true(contains(after, n_after, before[i]));
        changed += !contains(after, n_after, before[i]);
    }
    for (size_t i = 0; i < n_after; i++)
        changed += !contains(before, n_before, after[i]);
    assert_true(changed >= 1);
    assert_true(changed <= 6);

    free(before);
    free(after);
    free(d);
}

static void cdc_params_validation(void **state)
{
    el_cdc_params p;
    el_error err = { { 0 } };

    assert_int_equal(el_cdc_params_init(&p, 100, 1000, 4000, &err), -1);
    assert_non_null(strstr(err.msg, "1000 is not a power of two"));

    assert_int_equal(el_cdc_params_init(&p, 1, 32, 64, &err), -1);
    assert_non_null(strstr(err.msg, "32 is out of range"));

    assert_int_equal(el_cdc_params_init(&p, 4096, 4096, 8192, &err), -1);
    assert_non_null(strstr(err.msg, "minimum chunk size 4096"));

    assert_int_equal(el_cdc_params_init(&p, 1024, 4096, 4096, &err), -1);
    assert_non_null(strstr(err.msg, "maximum chunk size 4096"));

    assert_int_equal(el_cdc_params_init(&p, 0, 4096, 4097, &err), 0);
    assert_int_equal(p.min_size, 0);
    assert_int_equal(p.mask_strict, el_cdc_mask(14));
    assert_int_equal(p.mask_loose, el_cdc_mask(10));
}

static void cdc_defaults_and_masks(void **state)
{
    const el_cdc_params p = el_cdc_params_default();
    assert_int_equal(p.min_size, 8192);
    assert_int_equal(p.avg_size, 65536);
    assert_int_equal(p.max_size, 131072);

    for (unsigned bits = 1; bits <= 48; bits++) {
        const uint64_t mask = el_cdc_mask(bits);
        assert_int_equal(__builtin_popcountll(mask), bits);
        assert_int_equal(mask & 0xffff, 0);
    }
    assert_int_equal(el_cdc_mask(0), 0);
    assert_int_equal(el_cdc_mask(49), 0);
}

/* Pinned entries: a change to the generator moves every boundary. */
static void cdc_gear_table_pinned(void **state)
{
    int distinct = 1;
    for (int i = 0; i < 256; i++)
        for (int j = 0; j < i; j++)
            distinct &= el_cdc_gear((uint8_t)i) != el_cdc_gear((uint8_t)j);
    assert_true(distinct);

    assert_int_equal(el_cdc_gear(0), 0xf5be035723e900c6ULL);
    assert_int_equal(el_cdc_gear(255), 0x6b22e8907a7300deULL);
}

/* ---- the report --------------------------------------------------------- */

static el_tensor tensor_of(const char *name, el_dtype dtype, const void *data,
                           uint64_t nbytes)
{
    const uint64_t count = nbytes / el_dtype_size(dtype);
    return (el_tensor){
        .name = (char *)name,
        .dtype = dtype,
        .ndim = 1,
        .shape = { count },
        .count = count,
        .nbytes = nbytes,
        .data = data,
    };
}

static el_model model_of(const char *path, el_tensor *tensors, size_t n)
{
    return (el_model){ .path = (char *)path, .format = "safetensors",
                       .tensors = tensors, .n_tensors = n };
}

/* Two models. A contains "shared", "text" and the tied pair "embed" and
 * "lm_head". B contains the same "shared", the text shifted by 100
 * inserted bytes, and a tensor of its own. */
typedef struct two_models {
    uint8_t *shared, *text, *embed, *shifted, *own;
    el_tensor a[4], b[3];
    el_model ma, mb;
    const el_model *models[2];
} two_models;

#define SHARED_BYTES 65536
#define TEXT_BYTES 98304
#define EMBED_BYTES 32768
#define SHIFT 100

static void two_models_init(two_models *s)
{
    s->shared = random_bytes(SHARED_BYTES, 21);
    s->text = random_bytes(TEXT_BYTES, 22);
    s->embed = random_bytes(EMBED_BYTES, 23);
    s->own = random_bytes(EMBED_BYTES, 24);
    s->shifted = random_bytes(TEXT_BYTES + SHIFT, 25);
    memcpy(s->shifted + SHIFT, s->text, TEXT_BYTES);

    s->a[0] = tensor_of("shared", EL_F32, s->shared, SHARED_BYTES);
    s->a[1] = tensor_of("text", EL_U8, s->text, TEXT_BYTES);
    s->a[2] = tensor_of("embed", EL_F32, s->embed, EMBED_BYTES);
    s->a[3] = tensor_of("lm_head", EL_F32, s->embed, EMBED_BYTES);
    s->b[0] = tensor_of("shared", EL_F32, s->shared, SHARED_BYTES);
    s->b[1] = tensor_of("text", EL_U8, s->shifted, TEXT_BYTES + SHIFT);
    s->b[2] = tensor_of("own", EL_F32, s->own, EMBED_BYTES);
    s->ma = model_of("a.safetensors", s->a, 4);
    s->mb = model_of("b.safetensors", s->b, 3);
    s->models[0] = &s->ma;
    s->models[1] = &s->mb;
}

static void two_models_free(two_models *s)
{
    free(s->shared);
    free(s->text);
    free(s->embed);
    free(s->own);
    free(s->shifted);
}

static void analyse(const el_model *const *models, size_t n, int threads,
                    el_dedup_report *r)
{
    const el_cdc_params p = small_params();
    el_error err = { { 0 } };
    if (el_dedup_analyse(models, n, &p, 4096, threads, r, &err) != 0)
        fail_msg("el_dedup_analyse failed: %s", err.msg);
}

static void report_tensor_granularity(void **state)
{
    two_models s;
    two_models_init(&s);
    el_dedup_report r;
    analyse(s.models, 2, 1, &r);

    assert_int_equal(r.models[0].tensor.chunks, 4);
    assert_int_equal(r.models[0].tensor.bytes, SHARED_BYTES + TEXT_BYTES + 2 * EMBED_BYTES);
    assert_int_equal(r.models[0].tensor.dup_bytes, EMBED_BYTES);
    assert_int_equal(r.models[0].tensor.dup_chunks, 1);
    assert_int_equal(r.models[0].tensor.cross_bytes, 0);
    assert_int_equal(r.models[1].tensor.dup_bytes, 0);
    assert_int_equal(r.models[1].tensor.cross_bytes, SHARED_BYTES);
    assert_int_equal(r.models[1].tensor.cross_chunks, 1);
    assert_int_equal(r.total.tensor.cross_bytes, SHARED_BYTES);
    assert_int_equal(r.total.tensor.dup_bytes, EMBED_BYTES);

    /* Groups in order of their first copy: "shared" (0, 0), "embed" (0, 2). */
    assert_int_equal(r.n_tensor_groups, 2);
    assert_int_equal(r.tensor_groups[0].nbytes, SHARED_BYTES);
    assert_int_equal(r.tensor_groups[0].n_copies, 2);
    assert_int_equal(r.tensor_groups[0].copies[0].model, 0);
    assert_int_equal(r.tensor_groups[0].copies[0].tensor, 0);
    assert_int_equal(r.tensor_groups[0].copies[1].model, 1);
    assert_int_equal(r.tensor_groups[0].copies[1].tensor, 0);
    assert_int_equal(r.tensor_groups[1].n_copies, 2);
    assert_int_equal(r.tensor_groups[1].copies[0].tensor, 2);
    assert_int_equal(r.tensor_groups[1].copies[1].model, 0);
    assert_int_equal(r.tensor_groups[1].copies[1].tensor, 3);

    el_dedup_report_free(&r);
    two_models_free(&s);
}

static void report_cdc_finds_shift(void **state)
{
    two_models s;
    two_models_init(&s);
    el_dedup_report r;
    analyse(s.models, 2, 1, &r);

    /* Fixed 4 KiB chunks: the shifted text never lines up. */
    assert_int_equal(r.models[1].fixed.cross_bytes, SHARED_BYTES);
    assert_int_equal(r.models[0].fixed.dup_bytes, EMBED_BYTES);
    assert_int_equal(r.models[1].fixed.bytes, SHARED_BYTES + TEXT_BYTES + SHIFT + EMBED_BYTES);

    /* CDC chunks: after at most the first chunks of the shifted tensor the
     * cuts fall on the same content again. */
    assert_int_equal(r.models[0].cdc.dup_bytes, EMBED_BYTES);
    assert_int_equal(r.models[0].cdc.cross_bytes, 0);
    assert_int_equal(r.models[1].cdc.dup_bytes, 0);
    assert_true(r.models[1].cdc.cross_bytes >= SHARED_BYTES + TEXT_BYTES - 2 * 16384);
    assert_true(r.models[1].cdc.cross_bytes <= SHARED_BYTES + TEXT_BYTES);
    assert_int_equal(r.total.cdc.cross_bytes, r.models[1].cdc.cross_bytes);
    assert_int_equal(r.total.cdc.bytes, r.models[0].cdc.bytes + r.models[1].cdc.bytes);

    /* Shared content counted from each side; the diagonal stays 0. */
    assert_int_equal(r.shared_bytes[0], 0);
    assert_int_equal(r.shared_bytes[3], 0);
    assert_int_equal(r.shared_bytes[1 * 2 + 0], r.models[1].cdc.cross_bytes);
    assert_int_equal(r.shared_bytes[0 * 2 + 1], r.models[1].cdc.cross_bytes);

    el_dedup_report_free(&r);
    two_models_free(&s);
}

static void report_chunk_groups(void **state)
{
    two_models s;
    two_models_init(&s);
    el_dedup_report r;
    analyse(s.models, 2, 1, &r);

    assert_true(r.n_chunk_groups > 10);
    assert_true(r.n_chunk_groups <= EL_DEDUP_TOP_GROUPS);
    uint64_t dup_total = 0;
    for (size_t g = 0; g < r.n_chunk_groups; g++) {
        const el_chunk_group *cg = &r.chunk_groups[g];
        assert_int_equal(cg->n_copies, 2);
        assert_int_equal(cg->n_listed, 2);
        assert_int_equal(cg->dup_bytes, cg->size);
        if (g > 0)
            assert_true(cg->dup_bytes <= r.chunk_groups[g - 1].dup_bytes);

        const el_chunk_ref x = cg->copies[0];
        const el_chunk_ref y = cg->copies[1];
        assert_true(x.model < y.model || (x.model == y.model && x.tensor < y.tensor));
        const uint8_t *bx = s.models[x.model]->tensors[x.tensor].data + x.offset;
        const uint8_t *by = s.models[y.model]->tensors[y.tensor].data + y.offset;
        assert_memory_equal(bx, by, cg->size);
        dup_total += cg->dup_bytes;
    }
    /* Under 100 groups here, so they cover every duplicate byte. */
    assert_int_equal(dup_total, r.total.cdc.dup_bytes + r.total.cdc.cross_bytes);

    el_dedup_report_free(&r);
    two_models_free(&s);
}

static char *report_text(const el_model *const *models, size_t n, int threads)
{
    el_dedup_report r;
    analyse(models, n, threads, &r);
    cJSON *json = el_dedup_json(&r, models, n);
    assert_non_null(json);
    char *text = cJSON_PrintUnformatted(json);
    assert_non_null(text);
    cJSON_Delete(json);
    el_dedup_report_free(&r);
    return text;
}

static void report_same_across_threads(void **state)
{
    two_models s;
    two_models_init(&s);
    el_model sample;
    el_error err = { { 0 } };
    if (el_model_open(SAMPLE, &sample, &err) != 0)
        fail_msg("cannot open %s: %s", SAMPLE, err.msg);
    const el_model *models[3] = { &s.ma, &sample, &s.mb };

    char *one_thread = report_text(models, 3, 1);
    char *two_threads = report_text(models, 3, 2);
    char *four_threads = report_text(models, 3, 4);
    assert_string_equal(one_thread, two_threads);
    assert_string_equal(one_thread, four_threads);

    free(one_thread);
    free(two_threads);
    free(four_threads);
    el_model_close(&sample);
    two_models_free(&s);
}

static void report_json_fields(void **state)
{
    two_models s;
    two_models_init(&s);
    el_dedup_report r;
    analyse(s.models, 2, 2, &r);
    cJSON *json = el_dedup_json(&r, s.models, 2);
    assert_non_null(json);

    const cJSON *cdc = cJSON_GetObjectItem(json, "cdc");
    assert_int_equal(cJSON_GetObjectItem(cdc, "avg_size")->valuedouble, 4096);
    assert_int_equal(cJSON_GetObjectItem(json, "fixed_size")->valuedouble, 4096);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(json, "tensor_groups")), 2);

    const cJSON *chunks = cJSON_GetObjectItem(json, "chunks");
    const cJSON *total = cJSON_GetObjectItem(chunks, "total");
    const cJSON *fixed = cJSON_GetObjectItem(total, "fixed");
    assert_int_equal(cJSON_GetObjectItem(fixed, "cross_model_bytes")->valuedouble,
                     SHARED_BYTES);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(chunks, "models")), 2);

    const cJSON *shared = cJSON_GetObjectItem(json, "shared_bytes");
    const cJSON *rows = cJSON_GetObjectItem(shared, "bytes");
    assert_int_equal(cJSON_GetArraySize(rows), 2);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetArrayItem(rows, 0)), 2);
    assert_string_equal(cJSON_GetArrayItem(cJSON_GetObjectItem(shared, "models"), 1)->valuestring,
                        "b.safetensors");
    assert_non_null(cJSON_GetObjectItem(json, "repeated_values"));
    assert_non_null(cJSON_GetObjectItem(json, "chunk_groups"));

    /* A model count unlike the report's is rejected. */
    assert_null(el_dedup_json(&r, s.models, 1));

    cJSON_Delete(json);
    el_dedup_report_free(&r);
    two_models_free(&s);
}

static void report_rejects_bad_arguments(void **state)
{
    two_models s;
    two_models_init(&s);
    el_dedup_report r;
    el_error err = { { 0 } };

    assert_int_equal(el_dedup_analyse(s.models, 2, NULL, 0, 0, &r, &err), -1);
    assert_non_null(strstr(err.msg, "thread count 0"));
    assert_null(r.models);

    const el_cdc_params bad = { .min_size = 10, .avg_size = 3000, .max_size = 9000 };
    assert_int_equal(el_dedup_analyse(s.models, 2, &bad, 0, 1, &r, &err), -1);
    assert_non_null(strstr(err.msg, "3000 is not a power of two"));

    /* NULL parameters and fixed size 0 select the defaults. */
    assert_int_equal(el_dedup_analyse(s.models, 2, NULL, 0, 1, &r, &err), 0);
    assert_int_equal(r.cdc.avg_size, EL_CDC_AVG_DEFAULT);
    assert_int_equal(r.fixed_size, EL_DEDUP_FIXED_DEFAULT);
    el_dedup_report_free(&r);
    two_models_free(&s);
}

static void report_no_models(void **state)
{
    el_dedup_report r;
    el_error err = { { 0 } };
    if (el_dedup_analyse(NULL, 0, NULL, 0, 2, &r, &err) != 0)
        fail_msg("el_dedup_analyse failed: %s", err.msg);

    assert_int_equal(r.n_models, 0);
    assert_int_equal(r.total.cdc.chunks, 0);
    assert_int_equal(r.n_tensor_groups, 0);
    assert_int_equal(r.n_chunk_groups, 0);

    cJSON *json = el_dedup_json(&r, NULL, 0);
    assert_non_null(json);
    cJSON_Delete(json);
    el_dedup_report_free(&r);
}

static uint32_t f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static void repeats_handmade_tensor(void **state)
{
    /* 1, 1 and 2 repeat, -0.0 and 0.0 differ, the NaN repeats only with
     * the same payload. */
    uint32_t f32[11];
    const float values[] = { 1, 2, 1, 1, 3, 2, -0.0f, 0.0f };
    for (size_t i = 0; i < 8; i++)
        f32[i] = f32_bits(values[i]);
    f32[8] = 0x7fc00000;
    f32[9] = 0x7fc00000;
    f32[10] = 0x7fc00001;

    const uint16_t f16[] = { 0x3c00, 0x3c00, 0x0000, 0x8000, 0x3c00 };
    const uint8_t u8[] = { 5, 5, 5, 7 };
    const int64_t i64[] = { 0, 0, 1, -1, 1, 0 };

    /* 100000 elements over 1000 values: enough to grow the set. */
    int32_t *i32 = malloc(100000 * sizeof *i32);
    assert_non_null(i32);
    for (int32_t i = 0; i < 100000; i++)
        i32[i] = (i * 7919) % 1000;

    el_tensor t[] = {
        tensor_of("f32", EL_F32, f32, sizeof f32),
        tensor_of("f16", EL_F16, f16, sizeof f16),
        tensor_of("u8", EL_U8, u8, sizeof u8),
        tensor_of("i64", EL_I64, i64, sizeof i64),
        tensor_of("i32", EL_I32, i32, 100000 * sizeof *i32),
        tensor_of("empty", EL_F32, NULL, 0),
    };
    el_model m = model_of("repeats.safetensors", t, 6);
    const el_model *models[] = { &m };
    el_dedup_report r;
    analyse(models, 1, 2, &r);

    const el_repeat_counts *c = r.models[0].tensor_repeats;
    const uint64_t want[] = { 4, 2, 2, 3, 99000, 0 };
    const uint64_t elements[] = { 11, 5, 4, 6, 100000, 0 };
    const uint64_t width[] = { 4, 2, 1, 8, 4, 4 };
    uint64_t sum = 0, sum_bytes = 0, sum_elements = 0;
    for (size_t i = 0; i < 6; i++) {
        assert_int_equal(c[i].elements, elements[i]);
        assert_int_equal(c[i].repeated, want[i]);
        assert_int_equal(c[i].repeated_bytes, want[i] * width[i]);
        sum += want[i];
        sum_bytes += want[i] * width[i];
        sum_elements += elements[i];
    }
    assert_int_equal(r.models[0].repeats.repeated, sum);
    assert_int_equal(r.models[0].repeats.repeated_bytes, sum_bytes);
    assert_int_equal(r.models[0].repeats.elements, sum_elements);
    assert_int_equal(r.total.repeats.repeated, sum);

    el_dedup_report_free(&r);
    free(i32);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(cdc_matches_reference_random),
        cmocka_unit_test(cdc_matches_reference_sample),
        cmocka_unit_test(cdc_sizes_within_bounds),
        cmocka_unit_test(cdc_short_input_one_chunk),
        cmocka_unit_test(cdc_edit_moves_nearby_cuts),
        cmocka_unit_test(cdc_params_validation),
        cmocka_unit_test(cdc_defaults_and_masks),
        cmocka_unit_test(cdc_gear_table_pinned),
        cmocka_unit_test(report_tensor_granularity),
        cmocka_unit_test(report_cdc_finds_shift),
        cmocka_unit_test(report_chunk_groups),
        cmocka_unit_test(report_same_across_threads),
        cmocka_unit_test(report_json_fields),
        cmocka_unit_test(report_rejects_bad_arguments),
        cmocka_unit_test(report_no_models),
        cmocka_unit_test(repeats_handmade_tensor),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
