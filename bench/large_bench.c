/* large_bench: the whole `elves` commands on one large model, each in its
 * own process, with libzstd in the same run as the reference.
 *
 * Steps, each timed from fork to exit with the child's peak resident memory
 * (ru_maxrss from wait4):
 *   - libzstd -3 over the model and -19 (with -3 again for comparison) over
 *     evenly spaced slices of it, streaming with 1 MiB reads, with one
 *     thread and with N workers, then decompressed;
 *   - `elves inspect -T 1` and `-T N`;
 *   - per configuration, `elves compress -T 1` and `-T N`, the containers
 *     compared, then `elves restore` on one core and on N;
 *   - optionally the terminal test that times the first screen.
 * One-thread runs are pinned to one CPU so that helper threads cannot use a
 * second core. Speeds are model bytes (10^6 per MB) per second of wall
 * time. Containers and restored files go to the work folder and are deleted
 * after each step; the peak extra disk use is about two model sizes.
 *
 * Prints a Markdown report on stdout (and into --report FILE) and progress
 * on stderr. Exits 1 when a step fails or outputs differ across thread
 * counts; missed targets only show in the report. */
#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>
#include <zstd.h>

#include "../codecs/codec.h"
#include "../core/model.h"
#include "large_bench.h"

#define DEFAULT_SAMPLE 128000000ULL

static const config all_configs[] = {
    { "zstd", "zstd", "zstd", NULL },
    { "bytegroup", "bytegroup", "bytegroup", NULL },
    { "fields", "fields", "fields", NULL },
    { "auto", "auto lossless", "auto", NULL },
    { "auto-1e-4", "auto abs:1e-4", "auto", "abs:1e-4" },
    { "quant-1e-4", "quant abs:1e-4", "quant", "abs:1e-4" },
    { "elf", "elf at ELF's bound", "elf", "elf" },
    /* int8's error depends on the data; a bound no layer reaches lets it
     * take every float layer, as elves-bench does. */
    { "int8", "int8", "int8", "abs:1e30" },
};
#define N_ALL_CONFIGS (sizeof all_configs / sizeof all_configs[0])

static const char usage_text[] =
    "Usage: large_bench [options] MODEL.safetensors\n"
    "\n"
    "Runs elves inspect, compress and restore on MODEL with one thread and\n"
    "with N, and libzstd -3 and -19 as the reference, and prints a Markdown\n"
    "report. Containers and restored files are written to the work folder and\n"
    "deleted after each step (about two model sizes of free space needed).\n"
    "\n"
    "  --elves PATH      the elves binary (default ./elves)\n"
    "  --work DIR        folder for temporary outputs (default: MODEL's folder)\n"
    "  -T, --threads N   threads of the all-threads runs (default: the CPUs this\n"
    "                    process may run on)\n"
    "  --configs LIST    comma-separated configurations to run (default all):\n"
    "                    zstd,bytegroup,fields,auto,auto-1e-4,quant-1e-4,elf,int8\n"
    "  --sample BYTES    bytes that zstd -19 compresses, in 16 evenly spaced\n"
    "                    slices of MODEL (default 128000000)\n"
    "  --tui SCRIPT      also run the terminal first-screen test SCRIPT on MODEL\n"
    "                    (tests/tui_first_screen.sh; needs tmux)\n"
    "  --build DIR       the build folder passed to SCRIPT (default build)\n"
    "  --report FILE     also write the report to FILE\n"
    "  -h, --help        print this help and exit\n";

typedef struct options {
    const char *elves, *model, *work, *tui, *build, *report;
    int threads;
    uint64_t sample;
    int selected[N_ALL_CONFIGS];
} options;

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "large_bench: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\nRun `large_bench --help` for the options.\n");
    va_end(ap);
    return 2;
}

static int allowed_cpus(int *first)
{
    cpu_set_t set;
    *first = 0;
    if (sched_getaffinity(0, sizeof set, &set) != 0)
        return (int)sysconf(_SC_NPROCESSORS_ONLN);
    for (int c = 0; c < CPU_SETSIZE; c++) {
        if (CPU_ISSET(c, &set)) {
            *first = c;
            break;
        }
    }
    return CPU_COUNT(&set);
}

static int select_configs(options *o, const char *list)
{
    char *copy = strdup(list);
    if (copy == NULL)
        return usage_error("out of memory");
    memset(o->selected, 0, sizeof o->selected);
    char *save = NULL;
    for (char *key = strtok_r(copy, ",", &save); key != NULL; key = strtok_r(NULL, ",", &save)) {
        size_t c = 0;
        while (c < N_ALL_CONFIGS && strcmp(all_configs[c].key, key) != 0)
            c++;
        if (c == N_ALL_CONFIGS) {
            int rc = usage_error("unknown configuration \"%s\" in --configs: use names from "
                                 "zstd,bytegroup,fields,auto,auto-1e-4,quant-1e-4,elf,int8",
                                 key);
            free(copy);
            return rc;
        }
        o->selected[c] = 1;
    }
    free(copy);
    return 0;
}

static int parse_options(int argc, char **argv, options *o, int *exit_code)
{
    memset(o, 0, sizeof *o);
    o->elves = "./elves";
    o->build = "build";
    o->sample = DEFAULT_SAMPLE;
    for (size_t c = 0; c < N_ALL_CONFIGS; c++)
        o->selected[c] = 1;

    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            fputs(usage_text, stdout);
            *exit_code = 0;
            return -1;
        }
        if (arg[0] != '-') {
            if (o->model != NULL) {
                *exit_code = usage_error("give one MODEL, not \"%s\" and \"%s\"", o->model, arg);
                return -1;
            }
            o->model = arg;
            continue;
        }
        if (i + 1 >= argc) {
            *exit_code = usage_error("%s needs a value", arg);
            return -1;
        }
        const char *value = argv[++i];
        char *end;
        if (strcmp(arg, "--elves") == 0) {
            o->elves = value;
        } else if (strcmp(arg, "--work") == 0) {
            o->work = value;
        } else if (strcmp(arg, "--tui") == 0) {
            o->tui = value;
        } else if (strcmp(arg, "--build") == 0) {
            o->build = value;
        } else if (strcmp(arg, "--report") == 0) {
            o->report = value;
        } else if (strcmp(arg, "--configs") == 0) {
            if ((*exit_code = select_configs(o, value)) != 0)
                return -1;
        } else if (strcmp(arg, "-T") == 0 || strcmp(arg, "--threads") == 0) {
            long n = strtol(value, &end, 10);
            if (*end != '\0' || end == value || n < 1 || n > 64) {
                *exit_code = usage_error("invalid -T \"%s\": use 1 to 64 threads", value);
                return -1;
            }
            o->threads = (int)n;
        } else if (strcmp(arg, "--sample") == 0) {
            errno = 0;
            unsigned long long n = strtoull(value, &end, 10);
            if (errno != 0 || *end != '\0' || end == value || value[0] == '-'
                || n < SAMPLE_SLICES) {
                *exit_code = usage_error("invalid --sample \"%s\": give a byte count of at "
                                         "least %d", value, SAMPLE_SLICES);
                return -1;
            }
            o->sample = n;
        } else {
            *exit_code = usage_error("unknown option \"%s\"", arg);
            return -1;
        }
    }
    if (o->model == NULL) {
        *exit_code = usage_error("no MODEL given: name the .safetensors file to measure");
        return -1;
    }
    return 0;
}

/* ---- Machine and model --------------------------------------------------- */

/* Copies the value after "key" and its colon in the first matching line of
 * a /proc file, trimmed, into buf. */
static void proc_field(const char *path, const char *key, char *buf, size_t len)
{
    snprintf(buf, len, "unknown");
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return;
    char line[512];
    while (fgets(line, sizeof line, f) != NULL) {
        if (strncmp(line, key, strlen(key)) != 0)
            continue;
        char *colon = strchr(line, ':');
        if (colon == NULL)
            continue;
        char *value = colon + 1;
        while (*value == ' ' || *value == '\t')
            value++;
        value[strcspn(value, "\n")] = '\0';
        snprintf(buf, len, "%s", value);
        break;
    }
    fclose(f);
}

static void load_average(char *buf, size_t len)
{
    snprintf(buf, len, "unknown");
    FILE *f = fopen("/proc/loadavg", "r");
    if (f == NULL)
        return;
    double a, b, c;
    if (fscanf(f, "%lf %lf %lf", &a, &b, &c) == 3)
        snprintf(buf, len, "%.2f %.2f %.2f", a, b, c);
    fclose(f);
}

static void describe_machine(bench_report *r)
{
    char cpu[256], mem[64];
    proc_field("/proc/cpuinfo", "model name", cpu, sizeof cpu);
    proc_field("/proc/meminfo", "MemTotal", mem, sizeof mem);
    double gib = strtod(mem, NULL) / (1024.0 * 1024.0);
    struct utsname u;
    const char *kernel = uname(&u) == 0 ? u.release : "unknown";
    snprintf(r->machine, sizeof r->machine,
             "%ld CPUs online (%s), %.1f GiB RAM, Linux %s, libzstd %s",
             sysconf(_SC_NPROCESSORS_ONLN), cpu, gib, kernel, ZSTD_versionString());
}

/* Largest error exact ELF has on any float dtype of the model, so that
 * every float tensor can take it; 0 when there is none. */
static double elf_bound(const el_model *model)
{
    const el_codec *elf = el_codec_find("elf");
    el_codec_params params = { 3, 0 };
    double bound = 0;
    for (size_t t = 0; elf != NULL && t < model->n_tensors; t++) {
        if (!elf->supports(model->tensors[t].dtype))
            continue;
        double e = elf->max_error(model->tensors[t].dtype, &params);
        bound = e > bound ? e : bound;
    }
    return bound;
}

static int describe_model(bench_report *r, const char *path, double *elf_error)
{
    el_model model;
    el_error err;
    if (el_model_open(path, &model, &err) != 0) {
        fprintf(stderr, "large_bench: cannot open %s: %s\n", path, err.msg);
        return -1;
    }
    r->n_tensors = model.n_tensors;
    *elf_error = elf_bound(&model);

    uint64_t bytes[EL_DTYPE_COUNT] = { 0 }, total = el_model_tensor_bytes(&model);
    for (size_t t = 0; t < model.n_tensors; t++)
        bytes[model.tensors[t].dtype] += model.tensors[t].nbytes;
    size_t used = 0;
    for (int d = 0; d < EL_DTYPE_COUNT && total > 0; d++) {
        if (bytes[d] == 0)
            continue;
        int n = snprintf(r->dtype_mix + used, sizeof r->dtype_mix - used, "%s%s %.0f%%",
                         used ? ", " : "", el_dtype_name((el_dtype)d),
                         100.0 * (double)bytes[d] / (double)total);
        if (n < 0 || (size_t)n >= sizeof r->dtype_mix - used)
            break;
        used += (size_t)n;
    }
    if (model.n_files > 0 && model.files[0].metadata_json != NULL)
        snprintf(r->metadata, sizeof r->metadata, "%s", model.files[0].metadata_json);
    el_model_close(&model);
    return 0;
}

/* ---- Steps ------------------------------------------------------------------ */

typedef struct bench {
    options opt;
    bench_report report;
    int pin;                    /* the CPU of one-thread runs */
    double start;
    int failures;
    unsigned char model_hash[16];
    char log[PATH_MAX];
    char container[2][PATH_MAX];
    char restored[PATH_MAX];
    char zst[PATH_MAX];
    char unzst[PATH_MAX];
    char threads_arg[16];
} bench;

static double mbps(uint64_t bytes, const measure *m)
{
    return m->ran && m->ok && m->seconds > 0 ? (double)bytes / 1e6 / m->seconds : 0;
}

/* Other work above BUSY_LOAD cores during a step of at least BUSY_MIN_SECONDS
 * marks its speed as unreliable. Below them are the noise of 10 ms CPU
 * accounting ticks and the kernel writing the step's output back. */
#define BUSY_LOAD 0.25
#define BUSY_MIN_SECONDS 1.0

static void progress(bench *b, const char *step, const measure *m, uint64_t bytes)
{
    fprintf(stderr, "[%7.1f s] %-44s ", bench_now() - b->start, step);
    if (!m->ok)
        fprintf(stderr, "FAILED after %.1f s (see %s)\n", m->seconds, b->log);
    else
        fprintf(stderr, "%7.1f s %8.1f MB/s %7.1f MiB  other load %.2f\n", m->seconds,
                mbps(bytes, m), (double)m->rss_kib / 1024.0, m->other_load);

    char *list = b->report.busy_steps;
    size_t used = strlen(list);
    if (m->ok && m->other_load > BUSY_LOAD && m->seconds >= BUSY_MIN_SECONDS
        && used + 1 < sizeof b->report.busy_steps)
        snprintf(list + used, sizeof b->report.busy_steps - used, "%s%s (%.2f)",
                 used ? ", " : "", step, m->other_load);
}

static void note(bench *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void note(bench *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "[%7.1f s] ", bench_now() - b->start);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
}

static uint64_t file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
}

static void run_zstd(bench *b, zstd_result *z)
{
    const char *model = b->opt.model;
    uint64_t sample = z->on_sample ? z->input_bytes : 0;
    char step[96];
    unsigned char a[16], c[16];

    snprintf(step, sizeof step, "libzstd %s, 1 thread", z->label);
    if (bench_zstd_compress(model, sample, b->zst, z->level, 0, b->pin, &z->compress[ONE]) != 0)
        b->failures++;
    progress(b, step, &z->compress[ONE], z->input_bytes);
    z->output_bytes = file_size(b->zst);

    snprintf(step, sizeof step, "libzstd %s decompress", z->label);
    if (z->compress[ONE].ok) {
        if (bench_zstd_decompress(b->zst, b->unzst, b->pin, &z->decompress) != 0)
            b->failures++;
        progress(b, step, &z->decompress, z->input_bytes);
        if (sample == 0)
            memcpy(c, b->model_hash, 16);
        else if (bench_hash_file(model, sample, c) != 0)
            memset(c, 0, 16);
        z->verified = z->decompress.ok && bench_hash_file(b->unzst, 0, a) == 0
                      && memcmp(a, c, 16) == 0;
        if (z->decompress.ok && !z->verified) {
            note(b, "libzstd %s: the decompressed bytes differ from the input", z->label);
            b->failures++;
        }
    }
    unlink(b->unzst);
    unlink(b->zst);

    snprintf(step, sizeof step, "libzstd %s, %d workers", z->label, b->report.threads);
    if (bench_zstd_compress(model, sample, b->zst, z->level, b->report.threads, -1,
                            &z->compress[ALL]) != 0)
        b->failures++;
    progress(b, step, &z->compress[ALL], z->input_bytes);
    unlink(b->zst);
}

static void run_inspect(bench *b)
{
    for (int k = ONE; k <= ALL; k++) {
        char *argv[] = { (char *)b->opt.elves, "inspect", (char *)b->opt.model, "-T",
                         k == ONE ? "1" : b->threads_arg, NULL };
        /* The table goes to the log like every other output. */
        if (bench_run_command(argv, b->log, k == ONE ? b->pin : -1, &b->report.inspect[k]) != 0)
            b->failures++;
        char step[64];
        snprintf(step, sizeof step, "elves inspect -T %s", argv[4]);
        progress(b, step, &b->report.inspect[k], b->report.model_bytes);
    }
}

static void run_restore(bench *b, const config *c, codec_result *res, int k,
                        unsigned char hash[16])
{
    char *argv[8];
    size_t n = 0;
    argv[n++] = (char *)b->opt.elves;
    argv[n++] = "restore";
    argv[n++] = b->container[ONE];
    argv[n++] = "-o";
    argv[n++] = b->restored;
    if (b->report.restore_has_threads) {
        argv[n++] = "-T";
        argv[n++] = k == ONE ? "1" : b->threads_arg;
    }
    argv[n] = NULL;

    char step[96];
    snprintf(step, sizeof step, "restore %s -T %s", c->label, k == ONE ? "1" : b->threads_arg);
    if (bench_run_command(argv, b->log, k == ONE ? b->pin : -1, &res->restore[k]) != 0)
        b->failures++;
    progress(b, step, &res->restore[k], b->report.model_bytes);
    if (res->restore[k].ok && bench_hash_file(b->restored, 0, hash) != 0) {
        note(b, "cannot read %s: %s", b->restored, strerror(errno));
        b->failures++;
        res->restore[k].ok = 0;
    }
    unlink(b->restored);
}

static void run_config(bench *b, const config *c, codec_result *res, double elf_error)
{
    res->ran = 1;
    res->containers_equal = res->restores_equal = res->restore_matches_model = -1;
    if (c->bound != NULL && strcmp(c->bound, "elf") == 0)
        snprintf(res->bound, sizeof res->bound, "abs:%.17g", elf_error);
    else
        snprintf(res->bound, sizeof res->bound, "%s", c->bound ? c->bound : "");

    unsigned char container_hash[2][16], restore_hash[2][16];
    for (int k = ONE; k <= ALL; k++) {
        char *argv[16];
        size_t n = 0;
        argv[n++] = (char *)b->opt.elves;
        argv[n++] = "compress";
        argv[n++] = (char *)b->opt.model;
        argv[n++] = "-o";
        argv[n++] = b->container[k];
        argv[n++] = "--codec";
        argv[n++] = (char *)c->codec;
        if (res->bound[0] != '\0') {
            argv[n++] = "--bound";
            argv[n++] = res->bound;
        }
        argv[n++] = "-T";
        argv[n++] = k == ONE ? "1" : b->threads_arg;
        argv[n] = NULL;

        char step[96];
        snprintf(step, sizeof step, "compress %s -T %s", c->label, argv[n - 1]);
        if (bench_run_command(argv, b->log, k == ONE ? b->pin : -1, &res->compress[k]) != 0)
            b->failures++;
        progress(b, step, &res->compress[k], b->report.model_bytes);
        if (k == ONE)
            res->container_bytes = file_size(b->container[ONE]);
        if (res->compress[k].ok && bench_hash_file(b->container[k], 0, container_hash[k]) != 0)
            res->compress[k].ok = 0;
    }
    unlink(b->container[ALL]);
    if (res->compress[ONE].ok && res->compress[ALL].ok) {
        res->containers_equal = memcmp(container_hash[ONE], container_hash[ALL], 16) == 0;
        if (!res->containers_equal) {
            note(b, "%s: the -T 1 and -T %d containers differ", c->label, b->report.threads);
            b->failures++;
        }
    }

    if (res->compress[ONE].ok) {
        for (int k = ONE; k <= ALL; k++)
            run_restore(b, c, res, k, restore_hash[k]);
        if (res->restore[ONE].ok && res->restore[ALL].ok) {
            res->restores_equal = memcmp(restore_hash[ONE], restore_hash[ALL], 16) == 0;
            if (!res->restores_equal) {
                note(b, "%s: restores on 1 and %d threads differ", c->label, b->report.threads);
                b->failures++;
            }
        }
        if (res->restore[ONE].ok) {
            res->restore_matches_model = memcmp(restore_hash[ONE], b->model_hash, 16) == 0;
            if (c->bound == NULL && !res->restore_matches_model) {
                note(b, "%s: the lossless restore differs from the model", c->label);
                b->failures++;
            }
        }
    }
    unlink(b->container[ONE]);
}

/* Runs the tmux first-screen test on the model and reads the times from
 * its last line. */
static void run_tui(bench *b)
{
    tui_result *t = &b->report.tui;
    char elves[PATH_MAX], model[PATH_MAX], build[PATH_MAX];
    if (realpath(b->opt.elves, elves) == NULL || realpath(b->opt.model, model) == NULL
        || realpath(b->opt.build, build) == NULL) {
        note(b, "first screen: cannot resolve the paths of elves, the model or %s: %s",
             b->opt.build, strerror(errno));
        b->failures++;
        return;
    }
    setenv("ELVES", elves, 1);
    setenv("BUILD", build, 1);
    setenv("TUI_MODEL", model, 1);

    char out[8192];
    char *argv[] = { "sh", (char *)b->opt.tui, NULL };
    int status = bench_capture(argv, out, sizeof out);
    t->ran = 1;
    t->ok = status == 0;
    t->table_ms = t->analysed_ms = -1;

    const char *p = strstr(out, "table after ");
    if (p != NULL)
        sscanf(p, "table after %ld ms, analysis done after %ld ms", &t->table_ms, &t->analysed_ms);
    else if ((p = strstr(out, "layer table took ")) != NULL)
        sscanf(p, "layer table took %ld ms", &t->table_ms);

    /* The first line of the failure, or the success line. */
    const char *line = strstr(out, "tui_first_screen:");
    snprintf(t->message, sizeof t->message, "%.*s", (int)sizeof t->message - 1, line ? line : out);
    t->message[strcspn(t->message, "\n")] = '\0';
    if (!t->ok)
        b->failures++;
    note(b, "first screen: %s", t->message);
}

/* ---- Main ------------------------------------------------------------------------ */

static void join_command(int argc, char **argv, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < argc && used < len; i++) {
        int n = snprintf(buf + used, len - used, "%s%s", i ? " " : "", argv[i]);
        if (n < 0)
            break;
        used += (size_t)n;
    }
}

static int set_paths(bench *b)
{
    const char *work = b->opt.work;
    char folder[PATH_MAX];
    if (work == NULL) {
        snprintf(folder, sizeof folder, "%s", b->opt.model);
        char *slash = strrchr(folder, '/');
        if (slash != NULL)
            *slash = '\0';
        else
            snprintf(folder, sizeof folder, ".");
        work = folder;
    }
    struct stat st;
    if (stat(work, &st) != 0 || !S_ISDIR(st.st_mode)) {
        fprintf(stderr, "large_bench: work folder %s not found or not a folder: create it "
                        "or pass --work DIR\n", work);
        return -1;
    }
    int n = 0;
    n |= snprintf(b->log, PATH_MAX, "%s/large_bench.log", work) >= PATH_MAX;
    n |= snprintf(b->container[ONE], PATH_MAX, "%s/large_bench.1.elves", work) >= PATH_MAX;
    n |= snprintf(b->container[ALL], PATH_MAX, "%s/large_bench.N.elves", work) >= PATH_MAX;
    n |= snprintf(b->restored, PATH_MAX, "%s/large_bench.restored.safetensors", work) >= PATH_MAX;
    n |= snprintf(b->zst, PATH_MAX, "%s/large_bench.zst", work) >= PATH_MAX;
    n |= snprintf(b->unzst, PATH_MAX, "%s/large_bench.unzst", work) >= PATH_MAX;
    if (n) {
        fprintf(stderr, "large_bench: work folder path %s is too long\n", work);
        return -1;
    }
    unlink(b->log);
    return 0;
}

/* Whether `elves restore --help` lists a -T option. */
static int restore_takes_threads(const char *elves)
{
    char out[8192];
    char *argv[] = { (char *)elves, "restore", "--help", NULL };
    if (bench_capture(argv, out, sizeof out) != 0)
        return 0;
    return strstr(out, "-T ") != NULL || strstr(out, "--threads") != NULL;
}

int main(int argc, char **argv)
{
    static bench b;
    int exit_code = 0;
    if (parse_options(argc, argv, &b.opt, &exit_code) != 0)
        return exit_code;

    bench_report *r = &b.report;
    b.start = bench_now();
    int cpus = allowed_cpus(&b.pin);
    r->threads = b.opt.threads > 0 ? b.opt.threads : (cpus > 0 ? cpus : 1);
    snprintf(b.threads_arg, sizeof b.threads_arg, "%d", r->threads);

    static char command[4096];
    join_command(argc, argv, command, sizeof command);
    r->command = command;
    r->model_path = b.opt.model;
    r->model_bytes = file_size(b.opt.model);
    if (r->model_bytes == 0) {
        fprintf(stderr, "large_bench: %s is missing or empty: generate it with gen_large\n",
                b.opt.model);
        return 1;
    }
    double elf_error = 0;
    if (describe_model(r, b.opt.model, &elf_error) != 0 || set_paths(&b) != 0)
        return 1;
    describe_machine(r);
    load_average(r->load_start, sizeof r->load_start);

    char version[256];
    char *version_argv[] = { (char *)b.opt.elves, "--version", NULL };
    if (bench_capture(version_argv, version, sizeof version) != 0) {
        fprintf(stderr, "large_bench: %s --version failed: %s\n", b.opt.elves, version);
        return 1;
    }
    version[strcspn(version, "\n")] = '\0';
    snprintf(r->elves_version, sizeof r->elves_version, "%.*s", (int)sizeof r->elves_version - 1,
             version);
    r->restore_has_threads = restore_takes_threads(b.opt.elves);

    note(&b, "model %s: %llu bytes; hashing it", b.opt.model, (unsigned long long)r->model_bytes);
    if (bench_hash_file(b.opt.model, 0, b.model_hash) != 0) {
        fprintf(stderr, "large_bench: cannot read %s: %s\n", b.opt.model, strerror(errno));
        return 1;
    }

    /* The reference first: -3 on the whole model, then -19 and -3 on the
     * sample so that -19's ratio has a -3 figure on the same bytes. A sample
     * as large as the model is the whole model. */
    r->sample_bytes = b.opt.sample / SAMPLE_SLICES * SAMPLE_SLICES;
    int on_sample = r->sample_bytes < r->model_bytes;
    if (!on_sample)
        r->sample_bytes = r->model_bytes;
    r->zstd[0] = (zstd_result){ .label = "-3", .level = 3, .input_bytes = r->model_bytes };
    r->zstd[1] = (zstd_result){ .label = "-19 (sample)", .level = 19, .on_sample = on_sample,
                                .input_bytes = r->sample_bytes };
    r->zstd[2] = (zstd_result){ .label = "-3 (sample)", .level = 3, .on_sample = on_sample,
                                .input_bytes = r->sample_bytes };
    r->n_zstd = 3;
    for (size_t z = 0; z < r->n_zstd; z++)
        run_zstd(&b, &r->zstd[z]);

    run_inspect(&b);

    static codec_result results[N_ALL_CONFIGS];
    r->configs = all_configs;
    r->codecs = results;
    r->n_configs = N_ALL_CONFIGS;
    for (size_t c = 0; c < N_ALL_CONFIGS; c++) {
        if (!b.opt.selected[c])
            continue;
        if (strcmp(all_configs[c].codec, "auto") != 0 && el_codec_find(all_configs[c].codec) == NULL) {
            note(&b, "skipping %s: this build has no codec %s", all_configs[c].label,
                 all_configs[c].codec);
            continue;
        }
        run_config(&b, &all_configs[c], &results[c], elf_error);
    }

    if (b.opt.tui != NULL)
        run_tui(&b);

    load_average(r->load_end, sizeof r->load_end);
    r->total_seconds = bench_now() - b.start;
    bench_print_report(stdout, r);
    if (b.opt.report != NULL) {
        FILE *f = fopen(b.opt.report, "w");
        if (f == NULL) {
            fprintf(stderr, "large_bench: cannot write %s: %s\n", b.opt.report, strerror(errno));
            b.failures++;
        } else {
            bench_print_report(f, r);
            if (fclose(f) != 0)
                b.failures++;
        }
    }
    if (b.failures > 0)
        fprintf(stderr, "large_bench: %d step(s) failed or gave differing outputs; the "
                        "commands' output is in %s\n", b.failures, b.log);
    return b.failures > 0 ? 1 : 0;
}
