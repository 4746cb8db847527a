/* gen_synth: writes the synthetic safetensors models that the tests and the
 * benchmark use, so that nothing has to be downloaded.
 *
 *   synth-base.safetensors       a small Llama-shaped model in F32, F16, BF16
 *   synth-finetune.safetensors   the base with layer 3 changed slightly
 *   synth-sharded/               the base split into two shards plus an index
 *
 * The output is byte-identical on every machine. Each tensor has its own
 * seed. Every value comes from integer arithmetic and a few correctly rounded
 * IEEE 754 operations: int to double, sqrt, x * y, x / y, double to float.
 * None of them is an addition, so fused multiply-add cannot change a bit.
 * The 16-bit formats are rounded by this file's own code, and bytes are
 * written little-endian one at a time whatever the host's byte order.
 *
 * NOTE: this assumes FLT_EVAL_METHOD == 0 (SSE2 on x86-64, AArch64). On
 * x87-only targets, double rounding could change rare bits. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define LAYER_COUNT 4
#define VOCAB 1000
#define BASE_DIM 128
#define MAX_SCALE 64
#define MAX_TENSORS 64
#define TENSORS_PER_LAYER 12

/* Embedding, lm_head and the final norm, then the layers. */
_Static_assert(3 + LAYER_COUNT * TENSORS_PER_LAYER <= MAX_TENSORS,
               "MAX_TENSORS too small for the model layout");
#define NAME_MAX_LEN 96

/* Standard deviation of normal_int(): values are N(0, 1) in units of 2^-20. */
#define NORMAL_UNIT 1048576.0
#define NORMAL_UNIT_INT 1048576

static const char usage_text[] =
    "Usage: gen_synth [--scale N] DIR\n"
    "\n"
    "Writes synthetic safetensors models into DIR (created if missing):\n"
    "  synth-base.safetensors      Llama-shaped model, 4 layers, vocab 1000,\n"
    "                              layers 0-1 F32, layer 2 F16, layer 3 BF16,\n"
    "                              lm_head a byte-identical copy of the embedding\n"
    "  synth-finetune.safetensors  the base with layer 3 matrices and norms\n"
    "                              changed by about 1% (relative)\n"
    "  synth-sharded/              the base in two shards plus\n"
    "                              model.safetensors.index.json\n"
    "\n"
    "Options:\n"
    "  --scale N   multiply the hidden size (128) and the MLP size (256) by N,\n"
    "              1 to 64 (default 1: about 2.8 MB per model, growing\n"
    "              roughly with N squared)\n"
    "  --help      print this help and exit\n"
    "\n"
    "The output is byte-identical on every machine for a given N.\n";

/* ---- Random numbers ------------------------------------------------------ */

/* SplitMix64: one 64-bit state, period 2^64. */
static uint64_t next_random(uint64_t *state)
{
    *state += 0x9E3779B97F4A7C15ULL;

    uint64_t z = *state;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* Approximately normal integer with mean 0 and standard deviation 2^20: the
 * sum of 12 uniform 20-bit integers (Irwin-Hall) minus their mean. The range
 * is limited to +-6 standard deviations. */
static int64_t normal_int(uint64_t *state)
{
    int64_t sum = 0;

    for (int draw = 0; draw < 4; draw++) {
        uint64_t bits = next_random(state);
        for (int part = 0; part < 3; part++) {
            sum += (int64_t)(bits & 0xFFFFF);
            bits >>= 20;
        }
    }
    return sum - 6 * (int64_t)NORMAL_UNIT_INT;
}

/* Uniform integer in [0, bound), bound > 0. The modulo bias is below
 * bound / 2^64, under 2^-36 for the bounds used here. */
static uint64_t uniform_below(uint64_t *state, uint64_t bound)
{
    return next_random(state) % bound;
}

/* FNV-1a 64-bit hash of a string, used to give every tensor its own seed. */
static uint64_t hash_name(const char *name)
{
    uint64_t h = 0xCBF29CE484222325ULL;

    for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
        h ^= *p;
        h *= 0x100000001B3ULL;
    }
    return h;
}

/* ---- Float formats --------------------------------------------------------- */

typedef enum dtype { DT_F32, DT_F16, DT_BF16 } dtype;

static const char *dtype_name(dtype dt)
{
    switch (dt) {
    case DT_F32:
        return "F32";
    case DT_F16:
        return "F16";
    case DT_BF16:
        return "BF16";
    }
    return "?";
}

static size_t dtype_size(dtype dt)
{
    return dt == DT_F32 ? 4 : 2;
}

static uint32_t float_bits(float f)
{
    uint32_t bits;
    memcpy(&bits, &f, sizeof bits);
    return bits;
}

/* Rounds to nearest even. NaN becomes a quiet NaN of the same sign. */
static uint16_t f32_to_bf16(float f)
{
    uint32_t bits = float_bits(f);

    if ((bits & 0x7FFFFFFFu) > 0x7F800000u)
        return (uint16_t)((bits >> 16) | 0x0040u);

    uint32_t rounding = 0x7FFFu + ((bits >> 16) & 1u);
    return (uint16_t)((bits + rounding) >> 16);
}

/* Rounds m / 2^shift to nearest even, for 1 <= shift <= 31. */
static uint32_t shift_round_even(uint32_t m, int shift)
{
    uint32_t quotient = m >> shift;
    uint32_t rest = m & ((1u << shift) - 1u);
    uint32_t half = 1u << (shift - 1);

    if (rest > half || (rest == half && (quotient & 1u)))
        quotient++;
    return quotient;
}

/* Rounds to nearest even, including F16 subnormals. Values too large for F16
 * become infinity, and NaN becomes a quiet NaN of the same sign. */
static uint16_t f32_to_f16(float f)
{
    uint32_t bits = float_bits(f);
    uint16_t sign = (uint16_t)((bits >> 16) & 0x8000u);
    int exponent = (int)((bits >> 23) & 0xFFu);
    uint32_t mantissa = bits & 0x7FFFFFu;

    if (exponent == 0xFF)
        return (uint16_t)(sign | 0x7C00u | (mantissa ? 0x0200u : 0u));

    /* Biased F16 exponent: the F32 bias is 127, the F16 bias 15. */
    int half_exponent = exponent - 127 + 15;
    if (half_exponent >= 31)
        return (uint16_t)(sign | 0x7C00u);

    if (half_exponent <= 0) {
        /* Subnormal result in units of 2^-24. F32 subnormals are far below
         * half of that unit and round to zero, as does anything that needs a
         * shift of more than 24. */
        if (exponent == 0 || half_exponent < -10)
            return sign;
        uint32_t full = mantissa | 0x800000u;
        return (uint16_t)(sign | shift_round_even(full, 14 - half_exponent));
    }

    /* A carry out of the mantissa moves into the exponent, which is the right
     * result and turns the largest values into infinity. */
    uint32_t normal = ((uint32_t)half_exponent << 10) | (mantissa >> 13);
    uint32_t rest = mantissa & 0x1FFFu;
    if (rest > 0x1000u || (rest == 0x1000u && (normal & 1u)))
        normal++;
    return (uint16_t)(sign | normal);
}

/* Encodes values into little-endian bytes of the given dtype. */
static void encode_values(const float *values, size_t count, dtype dt,
                          unsigned char *out)
{
    for (size_t i = 0; i < count; i++) {
        uint32_t bits;

        if (dt == DT_F32)
            bits = float_bits(values[i]);
        else if (dt == DT_F16)
            bits = f32_to_f16(values[i]);
        else
            bits = f32_to_bf16(values[i]);

        for (size_t b = 0; b < dtype_size(dt); b++)
            *out++ = (unsigned char)(bits >> (8 * b));
    }
}

/* ---- Model layout ---------------------------------------------------------- */

typedef enum tensor_kind {
    KIND_MATRIX, /* normal weights, with a few outliers and zeros */
    KIND_NORM,   /* 1 + N(0, 0.05) */
    KIND_BIAS,   /* all zero */
} tensor_kind;

typedef struct tensor_spec {
    char name[NAME_MAX_LEN];
    dtype dt;
    tensor_kind kind;
    size_t shape[2];
    int ndim;
    double sd;       /* standard deviation of KIND_MATRIX values */
    uint64_t seed;
    int finetuned;   /* multiply by 1 + N(0, 0.01) after generation */
} tensor_spec;

typedef struct model {
    tensor_spec tensors[MAX_TENSORS];
    size_t count;
} model;

typedef struct dims {
    size_t hidden;
    size_t kv;
    size_t mlp;
    int scale;
} dims;

static size_t element_count(const tensor_spec *t)
{
    return t->ndim == 1 ? t->shape[0] : t->shape[0] * t->shape[1];
}

static size_t byte_size(const tensor_spec *t)
{
    return element_count(t) * dtype_size(t->dt);
}

/* Adds a tensor. seed_name picks the values, so a tied copy passes the name
 * of the tensor it copies. */
static tensor_spec *add_tensor(model *m, const char *name,
                               const char *seed_name, dtype dt,
                               tensor_kind kind, size_t rows, size_t cols)
{
    tensor_spec *t = &m->tensors[m->count++];

    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", name);
    t->dt = dt;
    t->kind = kind;
    t->shape[0] = rows;
    t->shape[1] = cols;
    t->ndim = cols ? 2 : 1;
    t->seed = hash_name(seed_name);

    /* LeCun-style initialisation: sd = 1 / sqrt(fan-in). IEEE 754 requires
     * sqrt to be correctly rounded, so it is the same everywhere. */
    if (kind == KIND_MATRIX && cols)
        t->sd = 1.0 / sqrt((double)cols);
    return t;
}

/* Adds the TENSORS_PER_LAYER tensors of one decoder layer. */
static void add_layer(model *m, const dims *d, int layer, dtype dt,
                      int finetuned)
{
    static const char *const attention[] = {"q", "k", "v", "o"};
    static const char *const mlp[] = {"gate", "up", "down"};
    char name[NAME_MAX_LEN];
    tensor_spec *t;

    for (int i = 0; i < 4; i++) {
        size_t rows = (i == 1 || i == 2) ? d->kv : d->hidden;
        snprintf(name, sizeof name, "model.layers.%d.self_attn.%s_proj.weight",
                 layer, attention[i]);
        t = add_tensor(m, name, name, dt, KIND_MATRIX, rows, d->hidden);
        t->finetuned = finetuned;

        /* Q, K and V have biases as in Qwen2, and O has none. */
        if (i < 3) {
            snprintf(name, sizeof name, "model.layers.%d.self_attn.%s_proj.bias",
                     layer, attention[i]);
            add_tensor(m, name, name, dt, KIND_BIAS, rows, 0);
        }
    }

    for (int i = 0; i < 3; i++) {
        int down = i == 2;
        snprintf(name, sizeof name, "model.layers.%d.mlp.%s_proj.weight",
                 layer, mlp[i]);
        t = add_tensor(m, name, name, dt, KIND_MATRIX,
                       down ? d->hidden : d->mlp, down ? d->mlp : d->hidden);
        t->finetuned = finetuned;
    }

    snprintf(name, sizeof name, "model.layers.%d.input_layernorm.weight", layer);
    t = add_tensor(m, name, name, dt, KIND_NORM, d->hidden, 0);
    t->finetuned = finetuned;

    snprintf(name, sizeof name,
             "model.layers.%d.post_attention_layernorm.weight", layer);
    t = add_tensor(m, name, name, dt, KIND_NORM, d->hidden, 0);
    t->finetuned = finetuned;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(((const tensor_spec *)a)->name,
                  ((const tensor_spec *)b)->name);
}

/* Builds the tensor list, sorted by name. With finetune set, layer 3's
 * matrices and norms are marked to be changed slightly. */
static void build_model(model *m, const dims *d, int finetune)
{
    static const dtype layer_dtype[LAYER_COUNT] = {DT_F32, DT_F32, DT_F16,
                                                   DT_BF16};
    const char *embed = "model.embed_tokens.weight";
    tensor_spec *t;

    m->count = 0;
    t = add_tensor(m, embed, embed, DT_F32, KIND_MATRIX, VOCAB, d->hidden);
    t->sd = 0.05;

    /* Tied weights: the same seed gives the same bytes. */
    t = add_tensor(m, "lm_head.weight", embed, DT_F32, KIND_MATRIX, VOCAB,
                   d->hidden);
    t->sd = 0.05;

    for (int layer = 0; layer < LAYER_COUNT; layer++)
        add_layer(m, d, layer, layer_dtype[layer], finetune && layer == 3);

    add_tensor(m, "model.norm.weight", "model.norm.weight", DT_F32,
               KIND_NORM, d->hidden, 0);

    qsort(m->tensors, m->count, sizeof m->tensors[0], compare_names);
}

/* ---- Values ---------------------------------------------------------------- */

/* Puts a few outliers (|w| in [1, 8), about 0.01% of the elements) and a few
 * exact zeros (about 0.02%) at random positions. Every non-empty matrix gets
 * at least one of each. */
static void add_outliers_and_zeros(float *values, size_t count,
                                   uint64_t *state)
{
    size_t outliers = (count + 9999) / 10000;
    size_t zeros = (count + 4999) / 5000;

    for (size_t i = 0; i < outliers; i++) {
        size_t at = (size_t)uniform_below(state, count);
        uint64_t steps = uniform_below(state, 7 * (uint64_t)NORMAL_UNIT_INT);
        double magnitude = (double)(NORMAL_UNIT_INT + steps) / NORMAL_UNIT;
        int negative = (int)(next_random(state) & 1u);
        values[at] = (float)(negative ? -magnitude : magnitude);
    }

    /* A zero never replaces an outlier. Outliers are so rare that this loop
     * ends after a draw or two. */
    for (size_t i = 0; i < zeros; i++) {
        size_t at;
        do {
            at = (size_t)uniform_below(state, count);
        } while (values[at] >= 1.0f || values[at] <= -1.0f);
        values[at] = 0.0f;
    }
}

/* Multiplies every value by 1 + N(0, 0.01), as a small fine-tuning step. */
static void apply_finetune(float *values, size_t count, uint64_t seed)
{
    uint64_t state = seed ^ 0x46494E4554554E45ULL;
    double denominator = 100.0 * NORMAL_UNIT;

    for (size_t i = 0; i < count; i++) {
        int64_t steps = 100 * (int64_t)NORMAL_UNIT_INT + normal_int(&state);
        double factor = (double)steps / denominator;
        values[i] = (float)((double)values[i] * factor);
    }
}

static void generate_values(const tensor_spec *t, float *values)
{
    size_t count = element_count(t);
    uint64_t state = t->seed;

    if (t->kind == KIND_BIAS) {
        for (size_t i = 0; i < count; i++)
            values[i] = 0.0f;
    } else if (t->kind == KIND_NORM) {
        /* 1 + N(0, 0.05) as (20 * 2^20 + k) / (20 * 2^20), one rounding. */
        double denominator = 20.0 * NORMAL_UNIT;
        for (size_t i = 0; i < count; i++) {
            int64_t steps = 20 * (int64_t)NORMAL_UNIT_INT + normal_int(&state);
            values[i] = (float)((double)steps / denominator);
        }
    } else {
        double unit = t->sd / NORMAL_UNIT;
        for (size_t i = 0; i < count; i++)
            values[i] = (float)((double)normal_int(&state) * unit);
        add_outliers_and_zeros(values, count, &state);
    }

    if (t->finetuned)
        apply_finetune(values, count, t->seed);
}

/* ---- Output ---------------------------------------------------------------- */

typedef struct text {
    char *data;
    size_t length;
    size_t capacity;
} text;

static void fail_memory(void)
{
    fprintf(stderr, "gen_synth: out of memory\n");
    exit(1);
}

static void append(text *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void append(text *s, const char *fmt, ...)
{
    va_list args;

    va_start(args, fmt);
    int needed = vsnprintf(NULL, 0, fmt, args);
    va_end(args);
    if (needed < 0)
        fail_memory();

    size_t want = s->length + (size_t)needed + 1;
    if (want > s->capacity) {
        size_t capacity = s->capacity ? s->capacity : 1024;
        while (capacity < want)
            capacity *= 2;
        char *grown = realloc(s->data, capacity);
        if (!grown)
            fail_memory();
        s->data = grown;
        s->capacity = capacity;
    }

    va_start(args, fmt);
    vsnprintf(s->data + s->length, s->capacity - s->length, fmt, args);
    va_end(args);
    s->length += (size_t)needed;
}

static void append_metadata(text *s, const dims *d)
{
    append(s, "\"__metadata__\":{\"format\":\"pt\","
              "\"generator\":\"elves gen_synth\"");
    if (d->scale != 1)
        append(s, ",\"scale\":\"%d\"", d->scale);
    append(s, "}");
}

/* Builds the JSON header for tensors[0..count), padded with spaces so that
 * the data area starts at a multiple of 8 bytes and a reader can map every
 * tensor in place without misaligned loads. */
static void build_header(text *s, const tensor_spec *tensors, size_t count,
                         const dims *d)
{
    size_t offset = 0;

    append(s, "{");
    append_metadata(s, d);
    for (size_t i = 0; i < count; i++) {
        const tensor_spec *t = &tensors[i];
        size_t end = offset + byte_size(t);

        append(s, ",\"%s\":{\"dtype\":\"%s\",\"shape\":[%zu", t->name,
               dtype_name(t->dt), t->shape[0]);
        if (t->ndim == 2)
            append(s, ",%zu", t->shape[1]);
        append(s, "],\"data_offsets\":[%zu,%zu]}", offset, end);
        offset = end;
    }
    append(s, "}");

    while ((8 + s->length) % 8 != 0)
        append(s, " ");
}

/* An output file written to PATH.tmp and renamed into place on success, so
 * that a failed run never leaves a truncated model behind. */
typedef struct output {
    char path[4096];
    char temp_path[4096 + 8];
    FILE *file;
} output;

static int open_output(output *out, const char *path)
{
    snprintf(out->path, sizeof out->path, "%s", path);
    snprintf(out->temp_path, sizeof out->temp_path, "%s.tmp", path);

    out->file = fopen(out->temp_path, "wb");
    if (!out->file) {
        fprintf(stderr, "gen_synth: failed to create %s: %s\n", out->temp_path,
                strerror(errno));
        return -1;
    }
    return 0;
}

static int write_bytes(output *out, const void *data, size_t size)
{
    if (size && fwrite(data, 1, size, out->file) != size) {
        fprintf(stderr, "gen_synth: write to %s failed: %s\n", out->temp_path,
                strerror(errno));
        return -1;
    }
    return 0;
}

/* Closes the file and renames it into place. Removes it instead when ok is 0
 * or closing fails. */
static int finish_output(output *out, int ok)
{
    if (fclose(out->file) != 0 && ok) {
        fprintf(stderr, "gen_synth: write to %s failed: %s\n", out->temp_path,
                strerror(errno));
        ok = 0;
    }

    if (ok && rename(out->temp_path, out->path) != 0) {
        fprintf(stderr, "gen_synth: failed to rename %s to %s: %s\n",
                out->temp_path, out->path, strerror(errno));
        ok = 0;
    }

    if (!ok)
        remove(out->temp_path);
    return ok ? 0 : -1;
}

static int write_tensor_data(output *out, const tensor_spec *t)
{
    size_t count = element_count(t);
    float *values = malloc(count * sizeof *values);
    unsigned char *bytes = malloc(byte_size(t));

    if (!values || !bytes)
        fail_memory();

    generate_values(t, values);
    encode_values(values, count, t->dt, bytes);
    int rc = write_bytes(out, bytes, byte_size(t));

    free(values);
    free(bytes);
    return rc;
}

static int write_safetensors(const char *path, const tensor_spec *tensors,
                             size_t count, const dims *d)
{
    text header = {0};
    unsigned char length_bytes[8];
    output out;

    build_header(&header, tensors, count, d);
    for (int b = 0; b < 8; b++)
        length_bytes[b] = (unsigned char)((uint64_t)header.length >> (8 * b));

    if (open_output(&out, path) != 0) {
        free(header.data);
        return -1;
    }

    int ok = write_bytes(&out, length_bytes, sizeof length_bytes) == 0 &&
             write_bytes(&out, header.data, header.length) == 0;
    for (size_t i = 0; ok && i < count; i++)
        ok = write_tensor_data(&out, &tensors[i]) == 0;

    free(header.data);
    return finish_output(&out, ok);
}

static int write_text_file(const char *path, const text *s)
{
    output out;

    if (open_output(&out, path) != 0)
        return -1;
    int ok = write_bytes(&out, s->data, s->length) == 0;
    return finish_output(&out, ok);
}

/* Writes dir/name into path. Returns -1 with a message when it does not fit. */
static int join_path(char *path, size_t size, const char *dir, const char *name)
{
    int length = snprintf(path, size, "%s/%s", dir, name);

    if (length < 0 || (size_t)length >= size) {
        fprintf(stderr, "gen_synth: path too long: %s/%s\n", dir, name);
        return -1;
    }
    return 0;
}

/* ---- Sharding -------------------------------------------------------------- */

#define SHARD_COUNT 2

static const char *const shard_names[SHARD_COUNT] = {
    "model-00001-of-00002.safetensors",
    "model-00002-of-00002.safetensors",
};

/* Index of the first tensor of the second shard: the first one at which the
 * first shard would pass half of the total bytes. */
static size_t shard_split(const model *m)
{
    size_t total = 0;
    size_t running = 0;

    for (size_t i = 0; i < m->count; i++)
        total += byte_size(&m->tensors[i]);

    for (size_t i = 0; i < m->count; i++) {
        running += byte_size(&m->tensors[i]);
        if (running > total / 2)
            return i == 0 ? 1 : i;
    }
    return m->count - 1;
}

/* Writes model.safetensors.index.json in the Hugging Face layout, where
 * total_size is the sum of the tensors' data sizes. */
static int write_index(const char *path, const model *m, size_t split)
{
    text s = {0};
    size_t total = 0;

    for (size_t i = 0; i < m->count; i++)
        total += byte_size(&m->tensors[i]);

    append(&s, "{\n  \"metadata\": {\n    \"total_size\": %zu\n  },\n", total);
    append(&s, "  \"weight_map\": {\n");
    for (size_t i = 0; i < m->count; i++) {
        const char *shard = shard_names[i < split ? 0 : 1];
        append(&s, "    \"%s\": \"%s\"%s\n", m->tensors[i].name, shard,
               i + 1 < m->count ? "," : "");
    }
    append(&s, "  }\n}\n");

    int rc = write_text_file(path, &s);
    free(s.data);
    return rc;
}

static int write_sharded(const char *dir, const model *m, const dims *d)
{
    char path[4096];
    size_t split = shard_split(m);

    if (join_path(path, sizeof path, dir, shard_names[0]) != 0 ||
        write_safetensors(path, m->tensors, split, d) != 0)
        return -1;

    if (join_path(path, sizeof path, dir, shard_names[1]) != 0 ||
        write_safetensors(path, m->tensors + split, m->count - split, d) != 0)
        return -1;

    if (join_path(path, sizeof path, dir, "model.safetensors.index.json") != 0)
        return -1;
    return write_index(path, m, split);
}

/* ---- Command line ---------------------------------------------------------- */

/* Creates dir and its missing parents, like mkdir -p. */
static int make_dirs(const char *dir)
{
    char path[4096];

    if (snprintf(path, sizeof path, "%s", dir) >= (int)sizeof path) {
        fprintf(stderr, "gen_synth: path too long: %s\n", dir);
        return -1;
    }

    for (char *p = path + 1; ; p++) {
        if (*p != '/' && *p != '\0')
            continue;

        char saved = *p;
        *p = '\0';
        if (mkdir(path, 0777) != 0 && errno != EEXIST) {
            fprintf(stderr, "gen_synth: failed to create directory %s: %s\n",
                    path, strerror(errno));
            return -1;
        }
        *p = saved;
        if (saved == '\0')
            return 0;
    }
}

static int parse_scale(const char *arg, int *scale)
{
    char *end;

    errno = 0;
    long value = strtol(arg, &end, 10);
    if (errno || end == arg || *end != '\0' || value < 1 || value > MAX_SCALE) {
        fprintf(stderr,
                "gen_synth: invalid --scale '%s': expected an integer from 1 "
                "to %d\n", arg, MAX_SCALE);
        return -1;
    }
    *scale = (int)value;
    return 0;
}

static int write_all(const char *dir, const dims *d)
{
    static model base;
    static model finetune;
    char path[4096];

    build_model(&base, d, 0);
    build_model(&finetune, d, 1);

    if (make_dirs(dir) != 0)
        return -1;

    if (join_path(path, sizeof path, dir, "synth-base.safetensors") != 0 ||
        write_safetensors(path, base.tensors, base.count, d) != 0)
        return -1;

    if (join_path(path, sizeof path, dir, "synth-finetune.safetensors") != 0 ||
        write_safetensors(path, finetune.tensors, finetune.count, d) != 0)
        return -1;

    if (join_path(path, sizeof path, dir, "synth-sharded") != 0 ||
        make_dirs(path) != 0)
        return -1;
    return write_sharded(path, &base, d);
}

int main(int argc, char **argv)
{
    const char *dir = NULL;
    int scale = 1;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(usage_text, stdout);
            return 0;
        }

        if (strcmp(argv[i], "--scale") == 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, "gen_synth: --scale needs a value\n");
                return 1;
            }
            if (parse_scale(argv[++i], &scale) != 0)
                return 1;
        } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            fprintf(stderr, "gen_synth: unknown option '%s'; try --help\n",
                    argv[i]);
            return 1;
        } else if (dir) {
            fprintf(stderr, "gen_synth: more than one DIR given; try --help\n");
            return 1;
        } else {
            dir = argv[i];
        }
    }

    if (!dir) {
        fprintf(stderr, "gen_synth: missing DIR; try --help\n");
        return 1;
    }

    dims d = {
        .hidden = BASE_DIM * (size_t)scale,
        .kv = BASE_DIM / 2 * (size_t)scale,
        .mlp = BASE_DIM * 2 * (size_t)scale,
        .scale = scale,
    };
    return write_all(dir, &d) == 0 ? 0 : 1;
}
