/* Runs a command and prints its peak resident memory in KiB (the child's
 * ru_maxrss from wait4), then exits with the command's status. Used by
 * tests/memory_budget.sh, so CI needs no /usr/bin/time. */
#include <stdio.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: rss_of COMMAND [ARG...]\n");
        return 2;
    }

    pid_t pid = fork();
    if (pid < 0) {
        perror("rss_of: fork");
        return 1;
    }
    if (pid == 0) {
        execvp(argv[1], argv + 1);
        perror("rss_of: exec");
        _exit(127);
    }

    int status;
    struct rusage usage;
    if (wait4(pid, &status, 0, &usage) < 0) {
        perror("rss_of: wait4");
        return 1;
    }
    printf("%ld\n", usage.ru_maxrss);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
