/* The Markdown report of large_bench: the machine, the model, one table per
 * kind of step and the targets, each speed also as a ratio to libzstd -3
 * measured in the same run. */
#include <stdio.h>
#include <string.h>

#include "large_bench.h"

/* Peak resident memory allowed to inspect, compress and restore. */
#define RSS_BUDGET_MIB 512.0

/* Table cells: each helper formats into a caller's buffer and returns it. */
typedef struct cell {
    char text[48];
} cell;

static double mbps(uint64_t bytes, const measure *m)
{
    return m->ran && m->ok && m->seconds > 0 ? (double)bytes / 1e6 / m->seconds : 0;
}

static double mib(const measure *m)
{
    return (double)m->rss_kib / 1024.0;
}

static cell speed_cell(uint64_t bytes, const measure *m)
{
    cell c;
    if (!m->ran)
        snprintf(c.text, sizeof c.text, "-");
    else if (!m->ok)
        snprintf(c.text, sizeof c.text, "failed");
    else
        snprintf(c.text, sizeof c.text, "%.1f", mbps(bytes, m));
    return c;
}

static cell rss_cell(const measure *m)
{
    cell c;
    if (!m->ran)
        snprintf(c.text, sizeof c.text, "-");
    else
        snprintf(c.text, sizeof c.text, "%.0f%s", mib(m),
                 m->ok && mib(m) > RSS_BUDGET_MIB ? " (over)" : "");
    return c;
}

/* a / b to three decimals, or "-" when either is missing. */
static cell ratio_cell(double a, double b)
{
    cell c;
    if (a > 0 && b > 0)
        snprintf(c.text, sizeof c.text, "%.3f", a / b);
    else
        snprintf(c.text, sizeof c.text, "-");
    return c;
}

/* A comparison result: 1, 0, or -1 when it was not made. */
static const char *yes_no(int v)
{
    if (v < 0)
        return "-";
    return v ? "yes" : "**no**";
}

static void print_header(FILE *out, const bench_report *r)
{
    fprintf(out, "## Large model: whole commands, 1 and %d threads\n\n", r->threads);
    fprintf(out, "- Model: `%s`, %llu bytes (%.2f GB), %zu tensors, %s.\n", r->model_path,
            (unsigned long long)r->model_bytes, (double)r->model_bytes / 1e9, r->n_tensors,
            r->dtype_mix);
    if (r->metadata[0] != '\0')
        fprintf(out, "- Its `__metadata__`: `%s`.\n", r->metadata);
    fprintf(out, "- Machine: %s; load average %s at the start, %s at the end.\n", r->machine,
            r->load_start, r->load_end);
    fprintf(out, "- %s; command `%s`; %.1f min in all.\n", r->elves_version, r->command,
            r->total_seconds / 60.0);
    fprintf(out, "- Speeds are model megabytes (10^6 bytes) per second of wall time of the "
                 "whole process. One-thread runs are pinned to one CPU");
    if (!r->restore_has_threads)
        fprintf(out, "; `elves restore` has no -T option, so its one-thread run is the "
                     "restore pinned to one CPU");
    fprintf(out, ". Peak RSS is the process's ru_maxrss (wait4), in MiB; the budget is "
                 "%.0f MiB.\n", RSS_BUDGET_MIB);
    if (r->busy_steps[0] != '\0')
        fprintf(out, "- Other processes shared the machine during these steps (cores they "
                     "kept busy on average): %s. Their speeds are low and their thread "
                     "speedups unreliable; rerun on an idle machine.\n", r->busy_steps);
    else
        fprintf(out, "- No step of 1 s or more shared the machine with other work (0.25 "
                     "of a core or more on average).\n");
}

static void print_zstd(FILE *out, const bench_report *r)
{
    fprintf(out, "\n### libzstd, streaming (reference)\n\n");
    fprintf(out, "The -19 rows cover %d evenly spaced slices of the model, %llu bytes in "
                 "all, with -3 on the same bytes for comparison.\n\n", SAMPLE_SLICES,
            (unsigned long long)r->sample_bytes);
    fprintf(out, "| level | input MB | ratio | compress MB/s, 1 thread | compress MB/s, %d "
                 "threads | decompress MB/s | peak RSS 1 / %d threads / decompress | "
                 "round trip |\n", r->threads, r->threads);
    fprintf(out, "|---|---:|---:|---:|---:|---:|---:|---|\n");
    for (size_t i = 0; i < r->n_zstd; i++) {
        const zstd_result *z = &r->zstd[i];
        fprintf(out, "| zstd %s | %.1f | %s | %s | %s | %s | %s / %s / %s | %s |\n", z->label,
                (double)z->input_bytes / 1e6,
                ratio_cell((double)z->input_bytes, (double)z->output_bytes).text,
                speed_cell(z->input_bytes, &z->compress[ONE]).text,
                speed_cell(z->input_bytes, &z->compress[ALL]).text,
                speed_cell(z->input_bytes, &z->decompress).text,
                rss_cell(&z->compress[ONE]).text, rss_cell(&z->compress[ALL]).text,
                rss_cell(&z->decompress).text,
                z->decompress.ran ? yes_no(z->verified) : "-");
    }
}

static void print_inspect(FILE *out, const bench_report *r)
{
    const zstd_result *z3 = &r->zstd[0];
    fprintf(out, "\n### Analysis: `elves inspect` (statistics, histograms, hashing, "
                 "predictions)\n\n");
    fprintf(out, "| command | time s | MB/s | vs zstd -3 compress, same threads | peak RSS |\n");
    fprintf(out, "|---|---:|---:|---:|---:|\n");
    for (int k = ONE; k <= ALL; k++) {
        const measure *m = &r->inspect[k];
        fprintf(out, "| `inspect -T %d` | %.2f | %s | %s | %s |\n", k == ONE ? 1 : r->threads,
                m->seconds, speed_cell(r->model_bytes, m).text,
                ratio_cell(mbps(r->model_bytes, m), mbps(z3->input_bytes, &z3->compress[k])).text,
                rss_cell(m).text);
    }
}

static void print_compress(FILE *out, const bench_report *r)
{
    const zstd_result *z3 = &r->zstd[0];
    double z3_ratio = z3->output_bytes ? (double)z3->input_bytes / (double)z3->output_bytes : 0;
    fprintf(out, "\n### `elves compress`\n\n");
    fprintf(out, "Ratio is model bytes over container bytes; \"vs zstd -3\" divides by the "
                 "libzstd -3 figure of the same thread count.\n\n");
    fprintf(out, "| configuration | ratio | vs zstd -3 | MB/s, 1 thread | MB/s, %d threads | "
                 "%d / 1 | vs zstd -3, 1 thread | vs zstd -3, %d threads | peak RSS 1 / %d "
                 "threads | same container |\n", r->threads, r->threads, r->threads, r->threads);
    fprintf(out, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|\n");
    for (size_t c = 0; c < r->n_configs; c++) {
        const codec_result *x = &r->codecs[c];
        if (!x->ran)
            continue;
        double ratio = x->compress[ONE].ok && x->container_bytes
                       ? (double)r->model_bytes / (double)x->container_bytes : 0;
        double one_thread = mbps(r->model_bytes, &x->compress[ONE]);
        double all_threads = mbps(r->model_bytes, &x->compress[ALL]);
        /* ELF's bound depends on the model's dtypes: show the one used. */
        const char *bound = r->configs[c].bound;
        char label[128];
        if (bound != NULL && strcmp(bound, "elf") == 0)
            snprintf(label, sizeof label, "%s (`%s`)", r->configs[c].label, x->bound);
        else
            snprintf(label, sizeof label, "%s", r->configs[c].label);
        fprintf(out, "| %s | %s | %s | %s | %s | %s | %s | %s | %s / %s | %s |\n", label,
                ratio > 0 ? ratio_cell(ratio, 1).text : "-", ratio_cell(ratio, z3_ratio).text,
                speed_cell(r->model_bytes, &x->compress[ONE]).text,
                speed_cell(r->model_bytes, &x->compress[ALL]).text,
                ratio_cell(all_threads, one_thread).text,
                ratio_cell(one_thread, mbps(z3->input_bytes, &z3->compress[ONE])).text,
                ratio_cell(all_threads, mbps(z3->input_bytes, &z3->compress[ALL])).text,
                rss_cell(&x->compress[ONE]).text, rss_cell(&x->compress[ALL]).text,
                yes_no(x->containers_equal));
    }
}

static void print_restore(FILE *out, const bench_report *r)
{
    const zstd_result *z3 = &r->zstd[0];
    double zd = mbps(z3->input_bytes, &z3->decompress);
    fprintf(out, "\n### `elves restore`\n\n");
    fprintf(out, "\"vs zstd -d\" divides by libzstd's decompression of the -3 stream, which "
                 "runs on one thread.\n\n");
    fprintf(out, "| configuration | MB/s, 1 thread | MB/s, %d threads | %d / 1 | vs zstd -d, "
                 "1 / %d threads | peak RSS 1 / %d threads | same output | equals the model |\n",
            r->threads, r->threads, r->threads, r->threads);
    fprintf(out, "|---|---:|---:|---:|---:|---:|---|---|\n");
    for (size_t c = 0; c < r->n_configs; c++) {
        const codec_result *x = &r->codecs[c];
        if (!x->ran)
            continue;
        double one_thread = mbps(r->model_bytes, &x->restore[ONE]);
        double all_threads = mbps(r->model_bytes, &x->restore[ALL]);
        const char *equals = yes_no(x->restore_matches_model);
        if (r->configs[c].bound != NULL && x->restore_matches_model == 0)
            equals = "no (lossy)";
        fprintf(out, "| %s | %s | %s | %s | %s / %s | %s / %s | %s | %s |\n",
                r->configs[c].label, speed_cell(r->model_bytes, &x->restore[ONE]).text,
                speed_cell(r->model_bytes, &x->restore[ALL]).text,
                ratio_cell(all_threads, one_thread).text,
                ratio_cell(one_thread, zd).text, ratio_cell(all_threads, zd).text,
                rss_cell(&x->restore[ONE]).text, rss_cell(&x->restore[ALL]).text,
                yes_no(x->restores_equal), equals);
    }
}

static const char *verdict(int met)
{
    return met ? "met" : "**not met**";
}

/* The smallest N-thread over one-thread speedup over the configurations,
 * for compress (restore = 0) or restore; its configuration in *label. */
static double min_speedup(const bench_report *r, int restore, const char **label)
{
    double best = 0;
    *label = "-";
    for (size_t c = 0; c < r->n_configs; c++) {
        const codec_result *x = &r->codecs[c];
        const measure *m = restore ? x->restore : x->compress;
        if (!x->ran || !m[ONE].ok || !m[ALL].ok)
            continue;
        double s = mbps(r->model_bytes, &m[ALL]) / mbps(r->model_bytes, &m[ONE]);
        if (best == 0 || s < best) {
            best = s;
            *label = r->configs[c].label;
        }
    }
    return best;
}

static double max_rss(const bench_report *r, int kind)
{
    double peak = 0;
    for (int k = ONE; k <= ALL; k++) {
        if (kind == 0 && r->inspect[k].ran)
            peak = mib(&r->inspect[k]) > peak ? mib(&r->inspect[k]) : peak;
        for (size_t c = 0; kind > 0 && c < r->n_configs; c++) {
            const measure *m = kind == 1 ? &r->codecs[c].compress[k] : &r->codecs[c].restore[k];
            if (m->ran)
                peak = mib(m) > peak ? mib(m) : peak;
        }
    }
    return peak;
}

static void print_targets(FILE *out, const bench_report *r)
{
    const zstd_result *z3 = &r->zstd[0];
    fprintf(out, "\n### Targets\n\n| target | measured | goal | |\n|---|---|---|---|\n");

    double a1 = mbps(r->model_bytes, &r->inspect[ONE]), a2 = mbps(r->model_bytes, &r->inspect[ALL]);
    double z1 = mbps(z3->input_bytes, &z3->compress[ONE]), z2 = mbps(z3->input_bytes, &z3->compress[ALL]);
    if (a1 > 0 && a2 > 0 && z1 > 0 && z2 > 0)
        fprintf(out, "| analysis speed over zstd -3 compress speed | %.2fx on 1 thread, %.2fx "
                     "on %d | >= 2x | %s |\n", a1 / z1, a2 / z2, r->threads,
                verdict(a1 / z1 >= 2 && a2 / z2 >= 2));

    for (int restore = 0; restore <= 1; restore++) {
        const char *label;
        double s = min_speedup(r, restore, &label);
        if (s > 0)
            fprintf(out, "| %s on %d threads over 1 thread, lowest | %.2fx (%s) | >= 1.8x "
                         "on 2 threads | %s |\n", restore ? "restore" : "compress", r->threads,
                    s, label, verdict(s >= 1.8));
    }

    static const char *const kinds[] = { "inspect", "compress", "restore" };
    for (int kind = 0; kind < 3; kind++) {
        double peak = max_rss(r, kind);
        if (peak > 0)
            fprintf(out, "| peak RSS of %s | %.0f MiB | <= %.0f MiB | %s |\n", kinds[kind],
                    peak, RSS_BUDGET_MIB, verdict(peak <= RSS_BUDGET_MIB));
    }

    if (r->tui.ran && r->tui.table_ms >= 0)
        fprintf(out, "| terminal application: tensor table shown after | %ld ms | < 1000 ms "
                     "| %s |\n", r->tui.table_ms, verdict(r->tui.table_ms < 1000));
}

void bench_print_report(FILE *out, const bench_report *r)
{
    print_header(out, r);
    print_zstd(out, r);
    print_inspect(out, r);
    print_compress(out, r);
    print_restore(out, r);
    if (r->tui.ran) {
        fprintf(out, "\n### Terminal application\n\n`tests/tui_first_screen.sh` on the model: "
                     "%s\n", r->tui.message);
    }
    print_targets(out, r);
    fflush(out);
}
