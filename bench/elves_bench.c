/* elves-bench: ratio, error and speed of every codec and policy on real
 * models, with libzstd at levels 3 and 19 run in the same process as the
 * reference.
 *
 * For each model and configuration it encodes every tensor with the codec
 * the configuration gives it (a fixed codec, or what a policy picks at a
 * bound), decodes it, and measures the bytes, the time and the error. Ratios
 * are tensor bytes over payload bytes (file headers excluded); speeds are
 * tensor megabytes (10^6 bytes) per second of one thread. A configuration
 * that cannot take a tensor (an integer tensor under elf, say) stores it
 * with the lossless auto choice, so every row covers the whole model.
 *
 * Usage: elves-bench MODEL...    (prints Markdown on stdout) */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <xxhash.h>
#include <zstd.h>

#include "../codecs/measure.h"
#include "../core/stats.h"
#include "../core/workspace.h"

typedef struct config {
    const char *label;
    const char *codec;   /* NULL: the policy's choice */
    el_policy policy;
    const char *bound;   /* "lossless", "abs:E", or "elf" for ELF's own bound */
    int zstd_level;
} config;

static const config configs[] = {
    { "zstd -3", "zstd", EL_POLICY_AUTO, "lossless", 3 },
    { "zstd -19", "zstd", EL_POLICY_AUTO, "lossless", 19 },
    { "bytegroup", "bytegroup", EL_POLICY_AUTO, "lossless", 3 },
    { "fields", "fields", EL_POLICY_AUTO, "lossless", 3 },
    { "de", "de", EL_POLICY_AUTO, "lossless", 3 },
    { "auto lossless", NULL, EL_POLICY_AUTO, "lossless", 3 },
    { "elves-paper lossless", NULL, EL_POLICY_PAPER, "lossless", 3 },
    { "elf (paper)", "elf", EL_POLICY_AUTO, "elf", 3 },
    { "elf-ans", "elf-ans", EL_POLICY_AUTO, "elf", 3 },
    { "elves-paper at ELF's bound", NULL, EL_POLICY_PAPER, "elf", 3 },
    { "auto at ELF's bound", NULL, EL_POLICY_AUTO, "elf", 3 },
    { "auto abs:1e-5", NULL, EL_POLICY_AUTO, "abs:1e-5", 3 },
    { "auto abs:1e-4", NULL, EL_POLICY_AUTO, "abs:1e-4", 3 },
    { "auto abs:1e-3", NULL, EL_POLICY_AUTO, "abs:1e-3", 3 },
    { "quant abs:1e-4", "quant", EL_POLICY_AUTO, "abs:1e-4", 3 },
    { "elf-m abs:1e-4", "elf-m", EL_POLICY_AUTO, "abs:1e-4", 3 },
    { "int8", "int8", EL_POLICY_AUTO, "abs:1e30", 3 },
    { "int4", "int4", EL_POLICY_AUTO, "abs:1e30", 3 },
    { "cast-bf16", "cast-bf16", EL_POLICY_AUTO, "abs:1e30", 3 },
};
#define N_CONFIGS (sizeof configs / sizeof configs[0])

/* Totals of one configuration on one model. */
typedef struct result {
    int ran;
    uint64_t original, stored;
    double encode_s, decode_s;
    double max_error;
    size_t violations;   /* tensors whose decoded error exceeds their bound */
} result;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* The largest error exact ELF has on any float dtype of the model (2^-24
 * for F32, 2^-11 for F16, 2^-8 for BF16), so that every float tensor can
 * take it. */
static double elf_bound(const el_model *model)
{
    double bound = 0;
    const el_codec *elf = el_codec_find("elf");
    el_codec_params params = { 3, 0 };
    for (size_t t = 0; t < model->n_tensors; t++) {
        if (!elf->supports(model->tensors[t].dtype))
            continue;
        double e = elf->max_error(model->tensors[t].dtype, &params);
        bound = e > bound ? e : bound;
    }
    return bound;
}

static int plan_config(el_workspace *ws, const config *c, el_error *err)
{
    el_bound bound;
    if (strcmp(c->bound, "elf") == 0) {
        double e = elf_bound(&ws->models[0]);
        bound = e > 0 ? (el_bound){ EL_BOUND_ABS, e } : (el_bound){ EL_BOUND_LOSSLESS, 0 };
    } else if (el_bound_parse(c->bound, &bound, err) != 0) {
        return -1;
    }

    ws->zstd_level = c->zstd_level;
    ws->policy = c->policy;
    /* A tensor a fixed codec cannot take is stored as auto would store it
     * losslessly, so that the row measures that codec and nothing looser. */
    const el_codec *codec = c->codec ? el_codec_find(c->codec) : NULL;
    el_bound exact = { EL_BOUND_LOSSLESS, 0 };
    for (size_t t = 0; t < ws->models[0].n_tensors; t++) {
        if (codec != NULL && el_layer_set_plan(ws, 0, t, bound, codec, NULL) == 0)
            continue;
        if (el_layer_set_plan(ws, 0, t, codec != NULL ? exact : bound, NULL, err) != 0)
            return -1;
    }
    return 0;
}

/* Encodes and decodes one tensor with the first candidate that meets its
 * bound, as an export does. */
static int run_tensor(const el_workspace *ws, size_t t, uint8_t *decoded, result *r,
                      el_error *err)
{
    const el_tensor *tensor = &ws->models[0].tensors[t];
    const el_layer *layer = &ws->layers[0][t];
    el_codec_params params = el_bound_params(layer->abs_bound, ws->zstd_level);
    int order[EL_MAX_CODECS];
    size_t n = el_layer_candidates(layer, ws->policy, order, EL_MAX_CODECS);

    /* A plan that predicts again drops the tensor's pages, and one that
     * keeps the bound does not. Reading the tensor first keeps the page
     * faults out of every configuration's time alike. */
    volatile uint64_t sink = XXH3_64bits(tensor->data, tensor->nbytes);
    (void)sink;

    for (size_t i = 0; i < n; i++) {
        const el_codec *codec = el_codecs[order[i]];
        el_buf payload = { 0 };
        double t0 = now();
        int rc = codec->encode(tensor->dtype, tensor->data, tensor->count, &params, &payload,
                               err);
        double t1 = now();
        if (rc == 0)
            rc = codec->decode(tensor->dtype, payload.data, payload.len, decoded,
                               tensor->count, err);
        double t2 = now();
        if (rc != 0) {
            el_buf_free(&payload);
            return -1;
        }

        double e = el_max_abs_error(tensor->dtype, tensor->data, decoded, tensor->count);
        int lossless_ok = layer->bound.kind != EL_BOUND_LOSSLESS
                          || memcmp(decoded, tensor->data, tensor->nbytes) == 0;
        int within = lossless_ok && (layer->bound.kind == EL_BOUND_LOSSLESS
                                     || e <= layer->abs_bound);
        if (within || i + 1 == n) {
            r->stored += payload.len;
            r->encode_s += t1 - t0;
            r->decode_s += t2 - t1;
            r->max_error = e > r->max_error ? e : r->max_error;
            r->violations += !within;
            el_buf_free(&payload);
            return 0;
        }
        el_buf_free(&payload);
    }
    return el_fail(err, "tensor \"%s\": no codec for its plan", tensor->name);
}

static int run_config(el_workspace *ws, const config *c, result *r, el_error *err)
{
    memset(r, 0, sizeof *r);
    if (c->codec != NULL && el_codec_find(c->codec) == NULL)
        return 0;
    if (plan_config(ws, c, err) != 0)
        return -1;

    const el_model *model = &ws->models[0];
    uint8_t *decoded = NULL;
    size_t cap = 0;
    for (size_t t = 0; t < model->n_tensors; t++) {
        const el_tensor *tensor = &model->tensors[t];
        const el_layer *layer = &ws->layers[0][t];
        r->original += tensor->nbytes;
        if (layer->dup.is_duplicate && layer->dup.of.model == 0)
            continue;
        if (tensor->nbytes > cap) {
            free(decoded);
            cap = tensor->nbytes;
            decoded = malloc(cap);
            if (decoded == NULL)
                return el_fail(err, "out of memory");
        }
        if (run_tensor(ws, t, decoded, r, err) != 0) {
            free(decoded);
            return -1;
        }
    }
    free(decoded);
    r->ran = 1;
    return 0;
}

static double mbps(uint64_t bytes, double seconds)
{
    return seconds > 0 ? (double)bytes / 1e6 / seconds : 0;
}

static const char *main_dtype(const el_model *model)
{
    uint64_t bytes[EL_DTYPE_COUNT] = { 0 };
    int best = 0;
    for (size_t t = 0; t < model->n_tensors; t++)
        bytes[model->tensors[t].dtype] += model->tensors[t].nbytes;
    for (int d = 1; d < EL_DTYPE_COUNT; d++)
        best = bytes[d] > bytes[best] ? d : best;
    return el_dtype_name((el_dtype)best);
}

/* Running log-sum of ratios per dtype and configuration, for geometric
 * means. */
#define MAX_MODELS 256

typedef struct summary {
    double log_sum[EL_DTYPE_COUNT][N_CONFIGS];
    int count[EL_DTYPE_COUNT][N_CONFIGS];
    size_t violations;
    size_t n_models;                           /* rows of the matrix */
    const char *model_name[MAX_MODELS];
    const char *model_dtype[MAX_MODELS];
    double ratio[MAX_MODELS][N_CONFIGS];       /* 0 where the codec is missing */
    double analysis_s, zstd3_encode_s;         /* over every model */
    uint64_t analysis_bytes;
} summary;

/* Seconds one thread takes for the analysis the terminal application and
 * inspect run on every tensor before predicting: statistics, exponent and
 * byte-plane histograms, and the XXH3-128 hash that finds duplicates,
 * which the statistics pass takes as it goes. */
static double analysis_seconds(const el_model *model, el_error *err)
{
    double t0 = now();
    for (size_t t = 0; t < model->n_tensors; t++) {
        el_stats s;
        if (el_stats_compute(&model->tensors[t], &s, err) != 0)
            return -1;
        el_stats_free(&s);
    }
    return now() - t0;
}

static int bench_model(const char *path, summary *sum)
{
    el_workspace ws;
    el_error err;
    if (el_workspace_open(&ws, &path, 1, &err) != 0
        || el_workspace_analyse(&ws, NULL, NULL, &err) != 0) {
        fprintf(stderr, "elves-bench: %s\n", err.msg);
        el_workspace_close(&ws);
        return -1;
    }

    const el_model *model = &ws.models[0];
    const char *dtype = main_dtype(model);
    el_dtype dt;
    el_dtype_parse(dtype, &dt);
    printf("\n### %s (%s, %.2f MB of tensors)\n\n", path, dtype,
           (double)el_model_tensor_bytes(model) / 1e6);
    printf("| configuration | ratio | vs zstd -3 | max error | compress MB/s | "
           "decompress MB/s | bound misses |\n");
    printf("|---|---:|---:|---:|---:|---:|---:|\n");

    double zstd3_ratio = 0, zstd3_encode_s = 0;
    int rc = 0;
    size_t row = sum->n_models < MAX_MODELS ? sum->n_models++ : MAX_MODELS - 1;
    const char *slash = strrchr(path, '/');
    sum->model_name[row] = slash ? slash + 1 : path;
    sum->model_dtype[row] = dtype;
    for (size_t c = 0; c < N_CONFIGS; c++) {
        result r;
        if (run_config(&ws, &configs[c], &r, &err) != 0) {
            fprintf(stderr, "elves-bench: %s: %s: %s\n", path, configs[c].label, err.msg);
            rc = -1;
            break;
        }
        if (!r.ran) {
            printf("| %s | - | | | | | |\n", configs[c].label);
            continue;
        }
        double ratio = r.stored ? (double)r.original / (double)r.stored : 0;
        if (c == 0) {
            zstd3_ratio = ratio;
            zstd3_encode_s = r.encode_s;
        }
        printf("| %s | %.3f | %.3f | %.3g | %.1f | %.1f | %zu |\n", configs[c].label, ratio,
               zstd3_ratio > 0 ? ratio / zstd3_ratio : 0, r.max_error,
               mbps(r.original, r.encode_s), mbps(r.original, r.decode_s), r.violations);
        sum->ratio[row][c] = ratio;
        sum->log_sum[dt][c] += log(ratio);
        sum->count[dt][c]++;
        sum->violations += r.violations;
    }

    double analysis_s = rc == 0 ? analysis_seconds(model, &err) : 0;
    if (analysis_s < 0) {
        fprintf(stderr, "elves-bench: %s: analysis: %s\n", path, err.msg);
        rc = -1;
    } else if (rc == 0) {
        uint64_t bytes = el_model_tensor_bytes(model);
        printf("\nAnalysis (statistics, histograms, hashing), one thread: %.1f MB/s, "
               "%.2fx the speed of zstd -3 compressing the same tensors.\n",
               mbps(bytes, analysis_s), analysis_s > 0 ? zstd3_encode_s / analysis_s : 0);
        sum->analysis_s += analysis_s;
        sum->zstd3_encode_s += zstd3_encode_s;
        sum->analysis_bytes += bytes;
    }
    el_workspace_close(&ws);
    return rc;
}

/* One table with a row per model and a column per configuration. */
static void print_matrix(const summary *sum)
{
    printf("\n## Ratio per model and configuration\n\n| model | dtype |");
    for (size_t c = 0; c < N_CONFIGS; c++)
        printf(" %s |", configs[c].label);
    printf("\n|---|---|");
    for (size_t c = 0; c < N_CONFIGS; c++)
        printf("---:|");
    printf("\n");
    for (size_t m = 0; m < sum->n_models; m++) {
        printf("| %s | %s |", sum->model_name[m], sum->model_dtype[m]);
        for (size_t c = 0; c < N_CONFIGS; c++) {
            if (sum->ratio[m][c] > 0)
                printf(" %.3f |", sum->ratio[m][c]);
            else
                printf(" - |");
        }
        printf("\n");
    }
}

static void print_summary(const summary *sum)
{
    print_matrix(sum);
    static const el_dtype shown[] = { EL_F32, EL_F16, EL_BF16 };
    printf("\n## Geometric means of the ratio by main dtype\n\n| configuration |");
    for (size_t d = 0; d < 3; d++)
        printf(" %s (%d models) |", el_dtype_name(shown[d]), sum->count[shown[d]][0]);
    printf("\n|---|---:|---:|---:|\n");
    for (size_t c = 0; c < N_CONFIGS; c++) {
        printf("| %s |", configs[c].label);
        for (size_t d = 0; d < 3; d++) {
            int n = sum->count[shown[d]][c];
            if (n > 0)
                printf(" %.3f |", exp(sum->log_sum[shown[d]][c] / n));
            else
                printf(" - |");
        }
        printf("\n");
    }

    struct rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    printf("\nBound misses over all models and configurations: %zu. "
           "Peak resident memory of the run: %.1f MB.\n", sum->violations,
           (double)usage.ru_maxrss / 1e3);
    if (sum->analysis_s > 0)
        printf("\nAnalysis over all models, one thread: %.1f MB/s, %.2fx the speed of "
               "zstd -3 compressing the same tensors.\n",
               mbps(sum->analysis_bytes, sum->analysis_s), sum->zstd3_encode_s / sum->analysis_s);
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0) {
        fprintf(argc < 2 ? stderr : stdout, "Usage: elves-bench MODEL...\n");
        return argc < 2 ? 2 : 0;
    }

    printf("# elves-bench, zstd %s\n", ZSTD_versionString());
    static summary sum;
    int failed = 0;
    for (int i = 1; i < argc; i++)
        failed |= bench_model(argv[i], &sum) != 0;
    print_summary(&sum);
    return failed ? 1 : 0;
}
