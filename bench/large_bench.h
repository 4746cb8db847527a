/* Shared types of large_bench, the whole-command benchmark on a large
 * model: the measurements it takes and the helpers that take them. */
#ifndef ELVES_LARGE_BENCH_H
#define ELVES_LARGE_BENCH_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* One child process: wall time from fork to exit, and its peak resident
 * memory (ru_maxrss from wait4, in KiB). */
typedef struct measure {
    int ran;
    int ok;             /* exited with status 0 */
    double seconds;
    long rss_kib;
    /* CPU time that other processes and the kernel used during the step,
     * per second of it: 1.0 means another job kept one core busy. */
    double other_load;
} measure;

/* Index of the one-thread and the all-threads run in the arrays below. */
enum { ONE = 0, ALL = 1 };

/* A configuration of `elves compress`. */
typedef struct config {
    const char *key;    /* name for --configs */
    const char *label;
    const char *codec;
    const char *bound;  /* NULL: lossless; "elf": ELF's own bound on the model */
} config;

typedef struct codec_result {
    int ran;
    char bound[64];             /* the --bound given, "" for lossless */
    measure compress[2], restore[2];
    uint64_t container_bytes;   /* of the one-thread container */
    int containers_equal;       /* 1, 0, or -1 when not compared */
    int restores_equal;
    int restore_matches_model;
} codec_result;

/* Slices of the sample that zstd -19 compresses: evenly spaced, so that
 * the sample covers every part of the model and not just its embedding. */
#define SAMPLE_SLICES 16

/* libzstd at one level over the model or a sample of it. */
typedef struct zstd_result {
    const char *label;
    int level;
    int on_sample;
    uint64_t input_bytes, output_bytes;
    measure compress[2], decompress;
    int verified;               /* decompressed bytes equal the input */
} zstd_result;

typedef struct tui_result {
    int ran;
    int ok;
    long table_ms;              /* -1 when the script did not report it */
    long analysed_ms;
    char message[256];          /* the script's last line */
} tui_result;

/* The machine, the model and every result, for the report. */
typedef struct bench_report {
    const char *command;
    const char *model_path;
    uint64_t model_bytes;
    size_t n_tensors;
    char dtype_mix[128];        /* "F32 61%, BF16 20%" */
    char metadata[2048];         /* the generator's __metadata__, if any */
    char machine[512];
    char load_start[64], load_end[64];
    char busy_steps[4096];      /* steps that shared the machine, with their load */
    char elves_version[64];
    int threads;
    int restore_has_threads;    /* `elves restore` takes -T */
    uint64_t sample_bytes;
    double total_seconds;

    zstd_result zstd[3];        /* -3 on the model, -19 and -3 on the sample */
    size_t n_zstd;
    measure inspect[2];
    const config *configs;
    codec_result *codecs;
    size_t n_configs;
    tui_result tui;
} bench_report;

/* Process helpers (large_run.c). */
double bench_now(void);

/* Runs argv with stdout and stderr appended to log, pinned to CPU pin_cpu
 * unless it is negative. Returns 0 when the command exited with status 0. */
int bench_run_command(char *const argv[], const char *log, int pin_cpu, measure *m);

/* Runs argv with stdout and stderr captured into buf (NUL-terminated,
 * truncated to len - 1 bytes). Returns the exit status, or -1. */
int bench_capture(char *const argv[], char *buf, size_t len);

/* Compresses in with libzstd's streaming API into out, in a child process
 * pinned like the commands. It reads SAMPLE_SLICES evenly spaced slices
 * adding up to `sample` bytes, or the whole file when sample is 0, and
 * runs `workers` threads (0: the calling thread alone). */
int bench_zstd_compress(const char *in, uint64_t sample, const char *out, int level,
                        int workers, int pin_cpu, measure *m);

/* Decompresses in into out in a child process. */
int bench_zstd_decompress(const char *in, const char *out, int pin_cpu, measure *m);

/* Computes the XXH3-128 of a file, or of the same sample as
 * bench_zstd_compress, into 16 bytes at digest. */
int bench_hash_file(const char *path, uint64_t sample, unsigned char digest[16]);

/* Markdown report (large_report.c). */
void bench_print_report(FILE *out, const bench_report *r);

#endif
