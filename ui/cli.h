/* The batch commands of the command-line front end. Each returns the
 * process exit status: 0 on success, 1 on failure, 2 on a usage error. */
#ifndef ELVES_CLI_H
#define ELVES_CLI_H

#include <stdint.h>

int el_cli_inspect(int argc, char **argv);
int el_cli_compress(int argc, char **argv);
int el_cli_restore(int argc, char **argv);
int el_cli_verify(int argc, char **argv);

/* Progress callback that draws one self-overwriting line on stderr when it
 * is a terminal, at most ten times a second; ctx is unused. */
int el_cli_progress(void *ctx, uint64_t done, uint64_t total, const char *label);

/* Ends the progress line, if one was drawn. */
void el_cli_progress_done(void);

/* Worker threads when -T is not given: every online core. */
int el_cli_default_threads(void);

/* Parses the argument of -T for the named command into *threads. Prints
 * the error and returns -1 unless it is a whole number from 1 to 64. */
int el_cli_parse_threads(const char *command, const char *text, int *threads);

/* Formats a byte count as "1.5 MB" (powers of 1000) into buf. */
const char *el_format_bytes(uint64_t bytes, char *buf, unsigned len);

#endif
