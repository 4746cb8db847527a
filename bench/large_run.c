/* Child processes for large_bench: each step runs in its own process so
 * that wait4 reports its peak resident memory, and the libzstd reference
 * runs the same way through streaming calls with bounded buffers. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>
#include <zstd.h>

#include "large_bench.h"

/* Read size of the reference and of hashing: large enough that system calls
 * cost nothing next to compression. */
#define IO_BYTES (1u << 20)

double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* CPU seconds that every CPU of the machine has spent busy since boot, from
 * /proc/stat (user, nice, system, irq, softirq and steal ticks); 0 when it
 * cannot be read. */
static double busy_cpu_seconds(void)
{
    FILE *f = fopen("/proc/stat", "r");
    if (f == NULL)
        return 0;
    unsigned long long user, nice, system, idle, iowait, irq, softirq, steal;
    int n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &user, &nice, &system,
                   &idle, &iowait, &irq, &softirq, &steal);
    fclose(f);
    if (n != 8)
        return 0;
    return (double)(user + nice + system + irq + softirq + steal) / (double)sysconf(_SC_CLK_TCK);
}

static double seconds_of(struct timeval tv)
{
    return (double)tv.tv_sec + (double)tv.tv_usec * 1e-6;
}

/* The work of a child process; its return value is the exit status. */
typedef int (*child_work)(void *arg);

static void pin_to(int cpu)
{
    if (cpu < 0)
        return;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof set, &set) != 0) {
        perror("large_bench: sched_setaffinity");
        _exit(126);
    }
}

/* Forks, runs work(arg) in the child on CPU pin_cpu (any CPU when it is
 * negative), and measures the child. Returns 0 when it exited with 0. */
static int run_child(child_work work, void *arg, int pin_cpu, measure *m)
{
    memset(m, 0, sizeof *m);
    fflush(NULL);
    /* Start every step with no dirty pages left by the previous one: the
     * kernel throttles a writer while an earlier step's gigabytes are still
     * being written back, which would charge that step's I/O to this one. */
    sync();
    double busy_start = busy_cpu_seconds();
    double start = bench_now();
    pid_t pid = fork();
    if (pid < 0) {
        perror("large_bench: fork");
        return -1;
    }
    if (pid == 0) {
        pin_to(pin_cpu);
        _exit(work(arg));
    }

    int status;
    struct rusage usage;
    while (wait4(pid, &status, 0, &usage) < 0) {
        if (errno != EINTR) {
            perror("large_bench: wait4");
            return -1;
        }
    }
    m->seconds = bench_now() - start;
    m->rss_kib = usage.ru_maxrss;
    double other = busy_cpu_seconds() - busy_start - seconds_of(usage.ru_utime)
                   - seconds_of(usage.ru_stime);
    if (busy_start > 0 && m->seconds > 0)
        m->other_load = other > 0 ? other / m->seconds : 0;
    m->ran = 1;
    m->ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    return m->ok ? 0 : -1;
}

/* ---- Commands ------------------------------------------------------------ */

typedef struct exec_job {
    char *const *argv;
    const char *log;
    int out_fd;         /* >= 0: stdout and stderr go here instead of log */
} exec_job;

static int exec_work(void *arg)
{
    const exec_job *job = arg;
    int fd = job->out_fd;
    if (fd < 0)
        fd = open(job->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd < 0 || dup2(fd, STDOUT_FILENO) < 0 || dup2(fd, STDERR_FILENO) < 0)
        return 126;
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0)
        dup2(devnull, STDIN_FILENO);
    execvp(job->argv[0], job->argv);
    fprintf(stderr, "large_bench: cannot run %s: %s\n", job->argv[0], strerror(errno));
    return 127;
}

int bench_run_command(char *const argv[], const char *log, int pin_cpu, measure *m)
{
    FILE *f = fopen(log, "a");
    if (f != NULL) {
        fprintf(f, "\n$");
        for (size_t i = 0; argv[i] != NULL; i++)
            fprintf(f, " %s", argv[i]);
        fprintf(f, "%s\n", pin_cpu >= 0 ? "    (pinned to one CPU)" : "");
        fclose(f);
    }
    exec_job job = { argv, log, -1 };
    return run_child(exec_work, &job, pin_cpu, m);
}

int bench_capture(char *const argv[], char *buf, size_t len)
{
    int fds[2];
    buf[0] = '\0';
    if (pipe(fds) != 0)
        return -1;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    if (pid == 0) {
        close(fds[0]);
        exec_job job = { argv, NULL, fds[1] };
        _exit(exec_work(&job));
    }

    close(fds[1]);
    size_t used = 0;
    char scratch[4096];
    for (;;) {
        ssize_t n = read(fds[0], scratch, sizeof scratch);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        /* Keep the first len - 1 bytes and drain the rest. */
        size_t take = (size_t)n;
        if (used + take > len - 1)
            take = len - 1 - used;
        memcpy(buf + used, scratch, take);
        used += take;
    }
    buf[used] = '\0';
    close(fds[0]);

    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* ---- libzstd reference ------------------------------------------------ */

static int write_all(int fd, const void *data, size_t len)
{
    const unsigned char *p = data;
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

/* Reads up to len bytes, fewer only at the end of the file. */
static ssize_t read_full(int fd, void *data, size_t len)
{
    size_t got = 0;
    while (got < len) {
        ssize_t n = read(fd, (unsigned char *)data + got, len - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0)
            break;
        got += (size_t)n;
    }
    return (ssize_t)got;
}

/* Reads a whole file, or a sample of it: SAMPLE_SLICES slices of equal
 * size, evenly spaced from the first byte to the last, that add up to
 * `sample` bytes (rounded down to a multiple of SAMPLE_SLICES). */
typedef struct sample_reader {
    int fd;
    uint64_t file_size;
    uint64_t slice;     /* bytes per slice; 0 reads the whole file */
    uint64_t done;      /* bytes returned so far */
} sample_reader;

static int sample_open(sample_reader *r, const char *path, uint64_t sample)
{
    memset(r, 0, sizeof *r);
    r->fd = open(path, O_RDONLY);
    struct stat st;
    if (r->fd < 0 || fstat(r->fd, &st) != 0)
        return -1;
    r->file_size = (uint64_t)st.st_size;
    if (sample > 0 && sample / SAMPLE_SLICES > 0 && sample < r->file_size)
        r->slice = sample / SAMPLE_SLICES;
    return 0;
}

static uint64_t sample_total(const sample_reader *r)
{
    return r->slice ? r->slice * SAMPLE_SLICES : r->file_size;
}

/* Reads up to len bytes of the sample; returns 0 at its end, -1 on error. */
static ssize_t sample_read(sample_reader *r, void *data, size_t len)
{
    if (r->slice == 0) {
        ssize_t n = read_full(r->fd, data, len);
        if (n > 0)
            r->done += (uint64_t)n;
        return n;
    }
    if (r->done >= sample_total(r))
        return 0;

    uint64_t index = r->done / r->slice, within = r->done % r->slice;
    uint64_t start = index * ((r->file_size - r->slice) / (SAMPLE_SLICES - 1));
    size_t want = r->slice - within < len ? (size_t)(r->slice - within) : len;
    ssize_t n;
    do
        n = pread(r->fd, data, want, (off_t)(start + within));
    while (n < 0 && errno == EINTR);
    if (n <= 0)
        return -1;
    r->done += (uint64_t)n;
    return n;
}

typedef struct zstd_job {
    const char *in, *out;
    uint64_t sample;
    int level, workers;
} zstd_job;

static int fail_child(const char *step, const char *detail)
{
    fprintf(stderr, "large_bench: %s: %s\n", step, detail);
    return 1;
}

static int compress_work(void *arg)
{
    const zstd_job *job = arg;
    sample_reader in;
    if (sample_open(&in, job->in, job->sample) != 0)
        return fail_child(job->in, strerror(errno));
    int out = open(job->out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (out < 0)
        return fail_child(job->out, strerror(errno));
    uint64_t total = sample_total(&in);

    ZSTD_CCtx *cctx = ZSTD_createCCtx();
    if (cctx == NULL)
        return fail_child("ZSTD_createCCtx", "out of memory");
    /* The zstd command line's defaults: a checksum and the size up front. */
    size_t rc = ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, job->level);
    if (!ZSTD_isError(rc))
        rc = ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1);
    if (!ZSTD_isError(rc) && job->workers > 0)
        rc = ZSTD_CCtx_setParameter(cctx, ZSTD_c_nbWorkers, job->workers);
    if (!ZSTD_isError(rc))
        rc = ZSTD_CCtx_setPledgedSrcSize(cctx, total);
    if (ZSTD_isError(rc))
        return fail_child("libzstd parameters", ZSTD_getErrorName(rc));

    size_t out_cap = ZSTD_CStreamOutSize();
    unsigned char *src = malloc(IO_BYTES), *dst = malloc(out_cap);
    if (src == NULL || dst == NULL)
        return fail_child("zstd buffers", "out of memory");

    uint64_t done = 0;
    for (;;) {
        size_t want = total - done < IO_BYTES ? (size_t)(total - done) : IO_BYTES;
        ssize_t got = 0;
        while ((size_t)got < want) {
            ssize_t n = sample_read(&in, src + got, want - (size_t)got);
            if (n <= 0) {
                got = n < 0 ? n : got;
                break;
            }
            got += n;
        }
        if (got < 0 || (size_t)got != want)
            return fail_child(job->in, got < 0 ? strerror(errno) : "file shrank while read");
        done += (uint64_t)got;
        ZSTD_EndDirective mode = done == total ? ZSTD_e_end : ZSTD_e_continue;

        ZSTD_inBuffer input = { src, (size_t)got, 0 };
        int finished = 0;
        while (!finished) {
            ZSTD_outBuffer output = { dst, out_cap, 0 };
            size_t left = ZSTD_compressStream2(cctx, &output, &input, mode);
            if (ZSTD_isError(left))
                return fail_child("ZSTD_compressStream2", ZSTD_getErrorName(left));
            if (write_all(out, dst, output.pos) != 0)
                return fail_child(job->out, strerror(errno));
            /* In ZSTD_e_end mode, 0 means the frame is complete; otherwise
             * the block is done once its input is consumed. */
            finished = mode == ZSTD_e_end ? left == 0 : input.pos == input.size;
        }
        if (mode == ZSTD_e_end)
            break;
    }

    ZSTD_freeCCtx(cctx);
    free(src);
    free(dst);
    close(in.fd);
    if (close(out) != 0)
        return fail_child(job->out, strerror(errno));
    return 0;
}

static int decompress_work(void *arg)
{
    const zstd_job *job = arg;
    int in = open(job->in, O_RDONLY);
    if (in < 0)
        return fail_child(job->in, strerror(errno));
    int out = open(job->out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (out < 0)
        return fail_child(job->out, strerror(errno));

    ZSTD_DCtx *dctx = ZSTD_createDCtx();
    size_t out_cap = ZSTD_DStreamOutSize();
    unsigned char *src = malloc(IO_BYTES), *dst = malloc(out_cap);
    if (dctx == NULL || src == NULL || dst == NULL)
        return fail_child("zstd decompression", "out of memory");

    size_t last = 0;
    for (;;) {
        ssize_t got = read_full(in, src, IO_BYTES);
        if (got < 0)
            return fail_child(job->in, strerror(errno));
        if (got == 0)
            break;
        ZSTD_inBuffer input = { src, (size_t)got, 0 };
        while (input.pos < input.size) {
            ZSTD_outBuffer output = { dst, out_cap, 0 };
            last = ZSTD_decompressStream(dctx, &output, &input);
            if (ZSTD_isError(last))
                return fail_child("ZSTD_decompressStream", ZSTD_getErrorName(last));
            if (write_all(out, dst, output.pos) != 0)
                return fail_child(job->out, strerror(errno));
        }
    }
    /* libzstd keeps the last byte of a frame until it has written all of
     * the frame's output. So the frame is whole when the input is consumed
     * and the last call returned 0, and cut short otherwise. */
    if (last != 0)
        return fail_child(job->in, "truncated zstd frame");

    ZSTD_freeDCtx(dctx);
    free(src);
    free(dst);
    close(in);
    if (close(out) != 0)
        return fail_child(job->out, strerror(errno));
    return 0;
}

int bench_zstd_compress(const char *in, uint64_t sample, const char *out, int level,
                        int workers, int pin_cpu, measure *m)
{
    zstd_job job = { in, out, sample, level, workers };
    return run_child(compress_work, &job, pin_cpu, m);
}

int bench_zstd_decompress(const char *in, const char *out, int pin_cpu, measure *m)
{
    zstd_job job = { in, out, 0, 0, 0 };
    return run_child(decompress_work, &job, pin_cpu, m);
}

int bench_hash_file(const char *path, uint64_t sample, unsigned char digest[16])
{
    sample_reader in;
    if (sample_open(&in, path, sample) != 0) {
        if (in.fd >= 0)
            close(in.fd);
        return -1;
    }
    XXH3_state_t *state = XXH3_createState();
    unsigned char *buf = malloc(IO_BYTES);
    int rc = state != NULL && buf != NULL ? 0 : -1;
    if (rc == 0)
        XXH3_128bits_reset(state);

    while (rc == 0) {
        ssize_t got = sample_read(&in, buf, IO_BYTES);
        if (got < 0)
            rc = -1;
        if (got <= 0)
            break;
        XXH3_128bits_update(state, buf, (size_t)got);
    }
    if (rc == 0) {
        XXH128_canonical_t canonical;
        XXH128_canonicalFromHash(&canonical, XXH3_128bits_digest(state));
        memcpy(digest, canonical.digest, 16);
    }
    XXH3_freeState(state);
    free(buf);
    close(in.fd);
    return rc;
}
