/* gen_large: writes a large safetensors model shaped like a transformer
 * checkpoint whose tensors copy the value distributions of real models.
 *
 * Every output tensor takes one source tensor of the same dtype from the
 * given models and fills each element with the source element at a
 * uniformly random position. Sign, exponent and the top mantissa bits
 * follow the source's distribution exactly, outliers included, and a
 * source with few distinct values is copied exactly (see choose_noise).
 * The output can be far larger than the sources. Sources are taken
 * round-robin over the models, and
 * within a model from its largest float tensor down, so that every model
 * and dtype contributes. Large output tensors take tensors of two or more
 * dimensions, norms take one-dimensional ones where there are any.
 *
 * The output depends only on the sources, --size and --seed: each output
 * tensor has its own SplitMix64 stream seeded from the seed and its name.
 * Elements are generated and written in 4 MiB blocks, and the source pages
 * are released after each output tensor, so memory stays small whatever
 * the size. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../core/model.h"

/* Elements are copied and their mantissa bits changed as host integers. */
#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "gen_large needs a little-endian host"
#endif

#define DEFAULT_SIZE 4000000000ULL
#define MIN_SIZE 10000000ULL          /* smallest --size: 10 MB */
#define MAX_SIZE (1ULL << 50)
#define DEFAULT_SEED 20240402ULL
#define BLOCK_BYTES (4u << 20)        /* output buffer, a multiple of 8 bytes */
#define VOCAB 32000ULL
#define NAME_LEN 96

static const char usage_text[] =
    "Usage: gen_large [--size BYTES] [--seed N] --out FILE MODEL...\n"
    "\n"
    "Writes a safetensors model of about BYTES bytes shaped like a\n"
    "transformer checkpoint (embedding, layers of attention and MLP\n"
    "matrices with their norms, final norm, lm_head). Each tensor copies\n"
    "the value distribution of one F64/F32/F16/BF16 tensor of the source\n"
    "MODELs, in that tensor's dtype, by drawing its elements at random\n"
    "positions. MODEL is any model elves opens (.safetensors, a folder, ...).\n"
    "\n"
    "  --size BYTES  file size to aim at, in bytes; K, M, G and T multiply\n"
    "                by 10^3, 10^6, 10^9 and 10^12 (default 4000000000)\n"
    "  --seed N      seed of the random positions (default 20240402); the\n"
    "                output is the same for the same sources, size and seed\n"
    "  --out FILE    file to write (replaced atomically)\n"
    "  -h, --help    print this help and exit\n";

/* One source tensor: the model it belongs to and its index there. */
typedef struct source {
    size_t model;
    size_t tensor;
} source;

/* Sources of one kind (matrices or vectors), visited round-robin over the
 * models: the k-th draw takes model k mod M, and that model's tensors in
 * order of decreasing size. */
typedef struct source_pool {
    source **per_model;     /* per_model[m]: model m's sources, largest first */
    size_t *count;          /* count[m]: entries of per_model[m] */
    size_t *models;         /* indices m with count[m] > 0 */
    size_t n_models;
    size_t next;            /* draws so far */
} source_pool;

/* How an output tensor perturbs the elements it draws: the mask of low
 * mantissa bits replaced by random bits (0: exact copies), applied to
 * normal numbers only, so zeros, subnormals, Inf and NaN stay as they are. */
typedef struct noise {
    uint64_t mask;
    int exponent_shift;     /* the mantissa width */
    unsigned exponent_max;  /* the all-ones exponent field */
} noise;

/* One tensor of the output, in file order. */
typedef struct output_tensor {
    char name[NAME_LEN];
    source src;
    el_dtype dtype;
    uint64_t rows, cols;    /* cols == 0: a one-dimensional tensor of `rows` */
    uint64_t nbytes;
    noise noise;
} output_tensor;

typedef struct plan {
    output_tensor *tensors;
    size_t n, cap;
    uint64_t data_bytes;
} plan;

/* ---- Random numbers -------------------------------------------------- */

/* SplitMix64: one 64-bit state, period 2^64. */
static uint64_t next_random(uint64_t *state)
{
    *state += 0x9E3779B97F4A7C15ULL;
    uint64_t z = *state;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* FNV-1a 64-bit hash, to give each output tensor its own stream. */
static uint64_t hash_name(const char *name)
{
    uint64_t h = 0xCBF29CE484222325ULL;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
        h ^= *p;
        h *= 0x100000001B3ULL;
    }
    return h;
}

/* ---- Arguments --------------------------------------------------------- */

/* Parses a decimal byte count with an optional K, M, G or T suffix (powers
 * of 1000). Returns 0, or -1 when the text is not one. */
static int parse_bytes(const char *text, uint64_t *out)
{
    if (text[0] < '0' || text[0] > '9')
        return -1;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno != 0)
        return -1;

    uint64_t scale = 1;
    switch (*end) {
    case '\0':
        break;
    case 'K': case 'k':
        scale = 1000ULL;
        break;
    case 'M': case 'm':
        scale = 1000000ULL;
        break;
    case 'G': case 'g':
        scale = 1000000000ULL;
        break;
    case 'T': case 't':
        scale = 1000000000000ULL;
        break;
    default:
        return -1;
    }
    if (*end != '\0' && end[1] != '\0')
        return -1;
    if (v > UINT64_MAX / scale)
        return -1;
    *out = (uint64_t)v * scale;
    return 0;
}

/* ---- Sources ------------------------------------------------------------ */

static int is_vector(const el_tensor *t)
{
    return t->ndim <= 1;
}

static const el_tensor *source_tensor(const el_model *models, source s)
{
    return &models[s.model].tensors[s.tensor];
}

/* Sorts one model's sources by decreasing byte size, then by index, so the
 * order does not depend on the sort algorithm. */
static const el_model *sort_models;

static int by_size_desc(const void *a, const void *b)
{
    const source *x = a, *y = b;
    uint64_t nx = source_tensor(sort_models, *x)->nbytes;
    uint64_t ny = source_tensor(sort_models, *y)->nbytes;
    if (nx != ny)
        return nx > ny ? -1 : 1;
    return x->tensor < y->tensor ? -1 : x->tensor > y->tensor;
}

static void pool_free(source_pool *pool, size_t n_models)
{
    for (size_t m = 0; m < n_models && pool->per_model != NULL; m++)
        free(pool->per_model[m]);
    free(pool->per_model);
    free(pool->count);
    free(pool->models);
    memset(pool, 0, sizeof *pool);
}

/* Fills the pool with the float tensors of every model: the one-dimensional
 * ones when `vectors` is 1, the others when it is 0, all of them when it is
 * negative. Returns -1 when memory runs out. */
static int pool_fill(source_pool *pool, const el_model *models, size_t n_models, int vectors)
{
    memset(pool, 0, sizeof *pool);
    pool->per_model = calloc(n_models, sizeof *pool->per_model);
    pool->count = calloc(n_models, sizeof *pool->count);
    pool->models = calloc(n_models, sizeof *pool->models);
    if (pool->per_model == NULL || pool->count == NULL || pool->models == NULL)
        return -1;

    for (size_t m = 0; m < n_models; m++) {
        const el_model *model = &models[m];
        pool->per_model[m] = calloc(model->n_tensors + 1, sizeof(source));
        if (pool->per_model[m] == NULL)
            return -1;
        for (size_t t = 0; t < model->n_tensors; t++) {
            const el_tensor *tensor = &model->tensors[t];
            if (!el_dtype_is_float(tensor->dtype) || tensor->count == 0
                || tensor->data == NULL)
                continue;
            if (vectors >= 0 && is_vector(tensor) != vectors)
                continue;
            pool->per_model[m][pool->count[m]++] = (source){ m, t };
        }
        sort_models = models;
        qsort(pool->per_model[m], pool->count[m], sizeof(source), by_size_desc);
        if (pool->count[m] > 0)
            pool->models[pool->n_models++] = m;
    }
    return 0;
}

/* The next source in round-robin order; the pool must not be empty. */
static source pool_draw(source_pool *pool)
{
    size_t k = pool->next++;
    size_t m = pool->models[k % pool->n_models];
    size_t round = k / pool->n_models;
    return pool->per_model[m][round % pool->count[m]];
}

/* ---- Values ------------------------------------------------------------ */

/* Mantissa bits of the source that an output element keeps when the source
 * is continuous: bfloat16's precision. */
#define KEPT_MANTISSA_BITS 7

/* Elements of a source examined to tell whether it is continuous. */
#define CARDINALITY_SAMPLE 65536

/* Fewer distinct values than this, and fewer than half of those examined,
 * mark a layer of few levels (constant, pruned, quantized), whose exact
 * values matter to codecs such as de. */
#define FEW_LEVELS 2048

static int compare_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Counts the distinct non-zero values among up to CARDINALITY_SAMPLE evenly
 * spaced elements; *examined receives how many non-zero ones there were. */
static size_t count_distinct(const el_tensor *t, size_t *examined)
{
    const size_t size = el_dtype_size(t->dtype);
    const uint64_t sign = 1ULL << (8 * size - 1);
    uint64_t step = t->count > CARDINALITY_SAMPLE ? t->count / CARDINALITY_SAMPLE : 1;
    uint64_t *values = malloc(CARDINALITY_SAMPLE * sizeof *values);
    size_t n = 0;
    *examined = 0;
    if (values == NULL)
        return 0;

    for (uint64_t i = 0; i < t->count && n < CARDINALITY_SAMPLE; i += step) {
        uint64_t v = 0;
        memcpy(&v, t->data + i * size, size);
        if ((v & ~sign) != 0)
            values[n++] = v;
    }
    qsort(values, n, sizeof *values, compare_u64);
    size_t distinct = 0;
    for (size_t i = 0; i < n; i++)
        distinct += i == 0 || values[i] != values[i - 1];
    free(values);
    *examined = n;
    return distinct;
}

/* A source smaller than its output would repeat each of its values many
 * times. No real large tensor does that, and dictionary coders exploit it:
 * on a 500 MB model drawn from the real-model set with exact copies,
 * large_bench measured zstd -19 25% above -3, against 2% on the real
 * models. So when the source is continuous, each drawn element keeps its
 * sign, exponent and top KEPT_MANTISSA_BITS mantissa bits, and the bits
 * below become uniformly random, as the low mantissa bits of trained
 * weights are. A source with few distinct values is copied exactly. */
static noise choose_noise(const el_tensor *src)
{
    el_float_layout layout = el_dtype_float_layout(src->dtype);
    noise z = { 0, layout.mantissa_bits, (1u << layout.exponent_bits) - 1 };
    if (layout.mantissa_bits <= KEPT_MANTISSA_BITS)
        return z;

    size_t examined;
    size_t distinct = count_distinct(src, &examined);
    if (distinct < FEW_LEVELS && 2 * distinct < examined)
        return z;
    z.mask = (1ULL << (layout.mantissa_bits - KEPT_MANTISSA_BITS)) - 1;
    return z;
}

/* ---- Layout --------------------------------------------------------------- */

static int plan_add(plan *p, const el_model *models, const char *name, source src,
                    uint64_t rows, uint64_t cols)
{
    if (p->n == p->cap) {
        size_t cap = p->cap ? 2 * p->cap : 64;
        output_tensor *grown = realloc(p->tensors, cap * sizeof *grown);
        if (grown == NULL)
            return -1;
        p->tensors = grown;
        p->cap = cap;
    }
    output_tensor *o = &p->tensors[p->n++];
    memset(o, 0, sizeof *o);
    snprintf(o->name, sizeof o->name, "%s", name);
    o->src = src;
    o->dtype = source_tensor(models, src)->dtype;
    o->rows = rows;
    o->cols = cols;
    o->nbytes = rows * (cols ? cols : 1) * el_dtype_size(o->dtype);
    o->noise = choose_noise(source_tensor(models, src));
    p->data_bytes += o->nbytes;
    return 0;
}

/* The hidden size: the largest of a few common ones for which one layer
 * (about 12 H^2 elements at 4 bytes) takes at most half the file. The
 * matrices are then tens to hundreds of MB at gigabyte sizes. Below about
 * 100 MB, no size fits and 512 is used. */
static uint64_t choose_hidden(uint64_t size)
{
    static const uint64_t sizes[] = { 8192, 5120, 4096, 3072, 2048, 1024 };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        if (12 * sizes[i] * sizes[i] * 4 <= size / 2)
            return sizes[i];
    return 512;
}

/* Lays out the output: embedding first, then layers, then the final norm
 * and lm_head. The embedding, final norm and lm_head are planned first, so
 * the layers fill what is left of data_target. The last layer tensor that
 * does not fit whole loses rows. */
static int plan_layout(plan *p, const el_model *models, source_pool *matrices,
                       source_pool *vectors, uint64_t data_target)
{
    const uint64_t hidden = choose_hidden(data_target);
    /* Intermediate size of a SwiGLU MLP: 8H/3 rounded up to 256. */
    const uint64_t inter = (8 * hidden / 3 + 255) / 256 * 256;
    /* The embedding and lm_head together take at most a quarter of the file,
     * even at 8 bytes an element. */
    uint64_t vocab = data_target / 8 / (hidden * 8);
    vocab = vocab > VOCAB ? VOCAB : vocab;
    vocab = vocab < 1 ? 1 : vocab;

    source embed_src = pool_draw(matrices);
    source head_src = pool_draw(matrices);
    source norm_src = pool_draw(vectors);
    if (plan_add(p, models, "model.embed_tokens.weight", embed_src, vocab, hidden) != 0)
        return -1;
    uint64_t tail = vocab * hidden * el_dtype_size(source_tensor(models, head_src)->dtype)
                    + hidden * el_dtype_size(source_tensor(models, norm_src)->dtype);

    static const struct {
        const char *suffix;
        int kind;  /* 0: norm [H], 1: [H, H], 2: [I, H], 3: [H, I] */
    } layer[] = {
        { "input_layernorm.weight", 0 },
        { "self_attn.q_proj.weight", 1 },
        { "self_attn.k_proj.weight", 1 },
        { "self_attn.v_proj.weight", 1 },
        { "self_attn.o_proj.weight", 1 },
        { "post_attention_layernorm.weight", 0 },
        { "mlp.gate_proj.weight", 2 },
        { "mlp.up_proj.weight", 2 },
        { "mlp.down_proj.weight", 3 },
    };
    const size_t per_layer = sizeof layer / sizeof layer[0];

    int full = 0;
    for (uint64_t n = 0; !full; n++) {
        for (size_t i = 0; i < per_layer && !full; i++) {
            uint64_t rows = hidden, cols = hidden;
            if (layer[i].kind == 0)
                cols = 0;
            else if (layer[i].kind == 2)
                rows = inter;
            else if (layer[i].kind == 3)
                cols = inter;

            source src = layer[i].kind == 0 ? pool_draw(vectors) : pool_draw(matrices);
            uint64_t row_bytes = (cols ? cols : 1) * el_dtype_size(source_tensor(models, src)->dtype);
            uint64_t left = data_target > p->data_bytes + tail
                            ? data_target - p->data_bytes - tail : 0;
            if (rows * row_bytes > left) {
                /* A norm is never cut: the file simply ends before it. */
                rows = cols ? left / row_bytes : 0;
                full = 1;
            }
            if (rows == 0)
                break;

            char name[NAME_LEN];
            snprintf(name, sizeof name, "model.layers.%" PRIu64 ".%s", n, layer[i].suffix);
            if (plan_add(p, models, name, src, rows, cols) != 0)
                return -1;
        }
    }

    if (plan_add(p, models, "model.norm.weight", norm_src, hidden, 0) != 0
        || plan_add(p, models, "lm_head.weight", head_src, vocab, hidden) != 0)
        return -1;
    return 0;
}

/* ---- Output ---------------------------------------------------------------- */

typedef struct text {
    char *data;
    size_t len, cap;
} text;

static int text_append(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int text_append(text *t, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(t->data ? t->data + t->len : NULL, t->data ? t->cap - t->len : 0,
                          fmt, ap);
        va_end(ap);
        if (n < 0)
            return -1;
        if (t->data != NULL && t->len + (size_t)n < t->cap) {
            t->len += (size_t)n;
            return 0;
        }
        size_t cap = t->cap ? t->cap : 4096;
        while (cap <= t->len + (size_t)n)
            cap *= 2;
        char *grown = realloc(t->data, cap);
        if (grown == NULL)
            return -1;
        t->data = grown;
        t->cap = cap;
    }
}

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash && slash[1] ? slash + 1 : path;
}

/* Builds the safetensors header: the JSON text padded with spaces so that
 * the data area starts at a multiple of 8 bytes. */
static int build_header(text *h, const plan *p, char **model_paths, size_t n_models,
                        uint64_t seed)
{
    if (text_append(h, "{\"__metadata__\":{\"format\":\"pt\",\"generator\":\"gen_large\","
                       "\"seed\":\"%" PRIu64 "\",\"sources\":\"", seed) != 0)
        return -1;
    for (size_t m = 0; m < n_models; m++) {
        /* Names go into a JSON string: keep printable ASCII without quotes
         * or backslashes. */
        const char *name = base_name(model_paths[m]);
        if (text_append(h, "%s", m ? " " : "") != 0)
            return -1;
        for (const char *c = name; *c; c++)
            if (text_append(h, "%c", (*c >= 32 && *c < 127 && *c != '"' && *c != '\\') ? *c : '_') != 0)
                return -1;
    }
    if (text_append(h, "\"}") != 0)
        return -1;

    uint64_t offset = 0;
    for (size_t i = 0; i < p->n; i++) {
        const output_tensor *o = &p->tensors[i];
        int rc = o->cols
                 ? text_append(h, ",\"%s\":{\"dtype\":\"%s\",\"shape\":[%" PRIu64 ",%" PRIu64
                                  "],\"data_offsets\":[%" PRIu64 ",%" PRIu64 "]}",
                               o->name, el_dtype_name(o->dtype), o->rows, o->cols, offset,
                               offset + o->nbytes)
                 : text_append(h, ",\"%s\":{\"dtype\":\"%s\",\"shape\":[%" PRIu64
                                  "],\"data_offsets\":[%" PRIu64 ",%" PRIu64 "]}",
                               o->name, el_dtype_name(o->dtype), o->rows, offset,
                               offset + o->nbytes);
        if (rc != 0)
            return -1;
        offset += o->nbytes;
    }
    if (text_append(h, "}") != 0)
        return -1;
    while ((8 + h->len) % 8 != 0)
        if (text_append(h, " ") != 0)
            return -1;
    return 0;
}

static int write_all(int fd, const void *data, size_t len)
{
    const uint8_t *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Fills `count` elements at dst with elements of src (n elements) at
 * uniformly random positions, with the noise that z describes. For n < 2^32 a position
 * takes the low 32 bits of a draw by multiply-shift, whose bias (at most
 * n / 2^32 relative) is far below anything a codec can see, and the noise
 * takes the high 32 bits. */
#define DEFINE_FILL(NAME, TYPE)                                                    \
    static void NAME(uint8_t *dst, size_t count, const uint8_t *src, uint64_t n,   \
                     const noise *z, uint64_t *state)                              \
    {                                                                              \
        const int small = n < (1ULL << 32);                                        \
        for (size_t i = 0; i < count; i++) {                                       \
            uint64_t r = next_random(state);                                       \
            uint64_t at = small ? ((r & 0xFFFFFFFFULL) * n) >> 32 : r % n;         \
            TYPE v;                                                                \
            memcpy(&v, src + at * sizeof v, sizeof v);                             \
            if (z->mask != 0) {                                                    \
                unsigned e = (unsigned)(v >> z->exponent_shift) & z->exponent_max; \
                if (e != 0 && e != z->exponent_max) {                              \
                    uint64_t bits = small && sizeof v < 8 ? r >> 32 : next_random(state); \
                    v = (TYPE)((v & ~(TYPE)z->mask) | (bits & z->mask));           \
                }                                                                  \
            }                                                                      \
            memcpy(dst + i * sizeof v, &v, sizeof v);                              \
        }                                                                          \
    }

DEFINE_FILL(fill_16, uint16_t)
DEFINE_FILL(fill_32, uint32_t)
DEFINE_FILL(fill_64, uint64_t)
#undef DEFINE_FILL

static int write_tensor(int fd, const el_model *models, const output_tensor *o, uint64_t seed,
                        uint8_t *block)
{
    const el_tensor *src = source_tensor(models, o->src);
    const size_t size = el_dtype_size(o->dtype);
    const size_t per_block = BLOCK_BYTES / size;
    uint64_t state = seed ^ hash_name(o->name);
    uint64_t left = o->nbytes / size;

    while (left > 0) {
        size_t count = left < per_block ? (size_t)left : per_block;
        if (size == 2)
            fill_16(block, count, src->data, src->count, &o->noise, &state);
        else if (size == 4)
            fill_32(block, count, src->data, src->count, &o->noise, &state);
        else
            fill_64(block, count, src->data, src->count, &o->noise, &state);
        if (write_all(fd, block, count * size) != 0)
            return -1;
        left -= count;
    }
    el_tensor_release(&models[o->src.model], src);
    return 0;
}

/* Writes header and tensors to tmp_path; returns -1 with errno set. */
static int write_model(const char *tmp_path, const text *header, const plan *p,
                       const el_model *models, uint64_t seed)
{
    int fd = open(tmp_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return -1;

    uint8_t length[8];
    for (int i = 0; i < 8; i++)
        length[i] = (uint8_t)((uint64_t)header->len >> (8 * i));
    uint8_t *block = malloc(BLOCK_BYTES);
    int rc = block != NULL ? 0 : -1;
    if (rc == 0)
        rc = write_all(fd, length, sizeof length);
    if (rc == 0)
        rc = write_all(fd, header->data, header->len);
    for (size_t i = 0; i < p->n && rc == 0; i++)
        rc = write_tensor(fd, models, &p->tensors[i], seed, block);
    free(block);

    int saved = errno;
    if (close(fd) != 0 && rc == 0) {
        saved = errno;
        rc = -1;
    }
    errno = saved;
    return rc;
}

/* ---- Main ------------------------------------------------------------------ */

/* Prints a usage error and returns 2, the exit status for one. */
static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "gen_large: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\nRun `gen_large --help` for the options.\n");
    va_end(ap);
    return 2;
}

static void print_plan(const plan *p, const el_model *models, char **paths)
{
    for (size_t i = 0; i < p->n; i++) {
        const output_tensor *o = &p->tensors[i];
        const el_tensor *src = source_tensor(models, o->src);
        char shape[48];
        if (o->cols)
            snprintf(shape, sizeof shape, "[%" PRIu64 ", %" PRIu64 "]", o->rows, o->cols);
        else
            snprintf(shape, sizeof shape, "[%" PRIu64 "]", o->rows);
        int random_bits = 0;
        for (uint64_t mask = o->noise.mask; mask != 0; mask >>= 1)
            random_bits++;
        printf("  %-48s %-4s %-14s %9.1f MB  low bits random: %2d  <- %s: %s\n", o->name,
               el_dtype_name(o->dtype), shape, (double)o->nbytes / 1e6, random_bits,
               base_name(paths[o->src.model]), src->name);
    }
}

int main(int argc, char **argv)
{
    uint64_t size = DEFAULT_SIZE, seed = DEFAULT_SEED;
    const char *out = NULL;
    char **paths = calloc((size_t)argc, sizeof *paths);
    size_t n_paths = 0;
    if (paths == NULL) {
        fprintf(stderr, "gen_large: out of memory\n");
        return 1;
    }

    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            fputs(usage_text, stdout);
            return 0;
        }
        if (strcmp(arg, "--size") == 0 || strcmp(arg, "--seed") == 0
            || strcmp(arg, "--out") == 0 || strcmp(arg, "-o") == 0) {
            if (i + 1 >= argc)
                return usage_error("%s needs a value", arg);
            const char *value = argv[++i];
            if (strcmp(arg, "--size") == 0) {
                if (parse_bytes(value, &size) != 0)
                    return usage_error("invalid --size \"%s\": give a byte count such as "
                                       "4000000000 or 4G", value);
                if (size < MIN_SIZE || size > MAX_SIZE)
                    return usage_error("--size %s is out of range: give 10000000 (10 MB) "
                                       "to 2^50 bytes", value);
            } else if (strcmp(arg, "--seed") == 0) {
                if (parse_bytes(value, &seed) != 0)
                    return usage_error("invalid --seed \"%s\": give a non-negative integer",
                                       value);
            } else {
                out = value;
            }
            continue;
        }
        if (arg[0] == '-' && arg[1] != '\0')
            return usage_error("unknown option \"%s\"", arg);
        paths[n_paths++] = argv[i];
    }
    if (out == NULL)
        return usage_error("%s", "missing --out FILE: name the file to write");
    if (n_paths == 0)
        return usage_error("%s", "no source MODEL given: name one or more real models");

    el_model *models = calloc(n_paths, sizeof *models);
    if (models == NULL) {
        fprintf(stderr, "gen_large: out of memory\n");
        return 1;
    }
    for (size_t m = 0; m < n_paths; m++) {
        el_error err;
        if (el_model_open(paths[m], &models[m], &err) != 0) {
            fprintf(stderr, "gen_large: cannot open source model %s: %s\n", paths[m], err.msg);
            return 1;
        }
    }

    source_pool matrices, vectors;
    if (pool_fill(&matrices, models, n_paths, 0) != 0 || pool_fill(&vectors, models, n_paths, 1) != 0) {
        fprintf(stderr, "gen_large: out of memory\n");
        return 1;
    }
    if (matrices.n_models == 0) {
        /* Only one-dimensional float tensors: they serve as matrices too. */
        pool_free(&matrices, n_paths);
        if (pool_fill(&matrices, models, n_paths, -1) != 0) {
            fprintf(stderr, "gen_large: out of memory\n");
            return 1;
        }
    }
    if (matrices.n_models == 0) {
        fprintf(stderr, "gen_large: the source models have no F64, F32, F16 or BF16 tensor "
                        "to copy; give models with float weights\n");
        return 1;
    }
    if (vectors.n_models == 0) {
        pool_free(&vectors, n_paths);
        if (pool_fill(&vectors, models, n_paths, -1) != 0) {
            fprintf(stderr, "gen_large: out of memory\n");
            return 1;
        }
    }

    /* The header takes about 150 bytes a tensor; aim the data area at what
     * remains, so the file lands within a few kilobytes of --size. */
    plan p = { 0 };
    uint64_t guess = 4096 + 150 * (size / 20000000 + 16);
    if (plan_layout(&p, models, &matrices, &vectors, size - guess) != 0) {
        fprintf(stderr, "gen_large: out of memory\n");
        return 1;
    }
    text header = { 0 };
    if (build_header(&header, &p, paths, n_paths, seed) != 0) {
        fprintf(stderr, "gen_large: out of memory\n");
        return 1;
    }

    size_t tmp_len = strlen(out) + 8;
    char *tmp = malloc(tmp_len);
    if (tmp == NULL) {
        fprintf(stderr, "gen_large: out of memory\n");
        return 1;
    }
    snprintf(tmp, tmp_len, "%s.part", out);
    uint64_t total = 8 + header.len + p.data_bytes;
    printf("gen_large: writing %s, %" PRIu64 " bytes, %zu tensors, seed %" PRIu64 "\n", out,
           total, p.n, seed);
    print_plan(&p, models, paths);
    fflush(stdout);

    if (write_model(tmp, &header, &p, models, seed) != 0) {
        fprintf(stderr, "gen_large: writing %s failed: %s\n", tmp, strerror(errno));
        unlink(tmp);
        return 1;
    }
    if (rename(tmp, out) != 0) {
        fprintf(stderr, "gen_large: renaming %s to %s failed: %s\n", tmp, out, strerror(errno));
        unlink(tmp);
        return 1;
    }

    /* Read the result back with the library's reader, as elves will. */
    el_model check;
    el_error err;
    if (el_model_open(out, &check, &err) != 0) {
        fprintf(stderr, "gen_large: the written model does not open: %s\n", err.msg);
        return 1;
    }
    if (check.n_tensors != p.n || el_model_tensor_bytes(&check) != p.data_bytes) {
        fprintf(stderr, "gen_large: the written model has %zu tensors and %" PRIu64
                        " bytes of them, expected %zu and %" PRIu64 "\n",
                check.n_tensors, el_model_tensor_bytes(&check), p.n, p.data_bytes);
        return 1;
    }
    el_model_close(&check);

    for (size_t m = 0; m < n_paths; m++)
        el_model_close(&models[m]);
    pool_free(&matrices, n_paths);
    pool_free(&vectors, n_paths);
    free(models);
    free(p.tensors);
    free(header.data);
    free(tmp);
    free(paths);
    printf("gen_large: wrote %s\n", out);
    return 0;
}
