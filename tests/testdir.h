/* A temporary folder per test, removed with everything in it afterwards:
 * the fixture of the tests that write model files. */
#ifndef ELVES_TESTDIR_H
#define ELVES_TESTDIR_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

typedef struct fixture {
    char dir[64];
} fixture;

/* cmocka setup: creates the folder and stores the fixture in *state. */
static inline int setup(void **state)
{
    fixture *fx = calloc(1, sizeof *fx);
    if (fx == NULL)
        return -1;
    snprintf(fx->dir, sizeof fx->dir, "/tmp/elves-test-XXXXXX");
    if (mkdtemp(fx->dir) == NULL) {
        free(fx);
        return -1;
    }
    *state = fx;
    return 0;
}

static inline int remove_entry(const char *path, const struct stat *st, int flag,
                               struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* cmocka teardown: removes the folder and what the test wrote in it. */
static inline int teardown(void **state)
{
    fixture *fx = *state;
    nftw(fx->dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
    free(fx);
    return 0;
}

/* Path of a file in the fixture folder, in one of four static buffers used
 * in turn, so that a call may take two or three paths at once. */
static inline const char *path_in(const fixture *fx, const char *name)
{
    static char paths[4][256];
    static int slot;
    char *p = paths[slot++ % 4];
    snprintf(p, sizeof paths[0], "%s/%s", fx->dir, name);
    return p;
}

#endif
