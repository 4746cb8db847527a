#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static int line_drawn;
static double last_draw;

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

int el_cli_progress(void *ctx, uint64_t done, uint64_t total, const char *label)
{
    (void)ctx;
    if (!isatty(STDERR_FILENO))
        return 0;

    double t = now_seconds();
    if (done < total && t - last_draw < 0.1)
        return 0;
    last_draw = t;

    int pct = total ? (int)(100.0 * (double)done / (double)total) : 100;
    int filled = pct * 30 / 100;
    char bar[31];
    for (int i = 0; i < 30; i++)
        bar[i] = i < filled ? '#' : '.';
    bar[30] = '\0';
    fprintf(stderr, "\r[%s] %3d%%  %-40.40s", bar, pct, label ? label : "");
    line_drawn = 1;
    return 0;
}

void el_cli_progress_done(void)
{
    if (line_drawn)
        fprintf(stderr, "\r%80s\r", "");
    line_drawn = 0;
}

const char *el_format_bytes(uint64_t bytes, char *buf, unsigned len)
{
    static const char *const units[] = { "B", "kB", "MB", "GB", "TB", "PB" };
    double v = (double)bytes;
    int u = 0;
    while (v >= 1000 && u < 5) {
        v /= 1000;
        u++;
    }
    if (u == 0) {
        snprintf(buf, len, "%llu B", (unsigned long long)bytes);
        return buf;
    }

    int decimals = 0;
    if (v < 10)
        decimals = 2;
    else if (v < 100)
        decimals = 1;
    snprintf(buf, len, "%.*f %s", decimals, v, units[u]);
    return buf;
}

int el_cli_default_threads(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1)
        return 1;
    if (n > 64)
        return 64;
    return (int)n;
}

int el_cli_parse_threads(const char *command, const char *text, int *threads)
{
    char *end;
    long n = strtol(text, &end, 10);
    if (end == text || *end != '\0' || n < 1 || n > 64) {
        fprintf(stderr, "elves %s: invalid -T \"%s\": use 1 to 64 threads\n", command, text);
        return -1;
    }
    *threads = (int)n;
    return 0;
}
