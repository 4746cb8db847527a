#include "dedup.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

/* One non-empty tensor, keyed for sorting: equal keys are candidates. */
typedef struct candidate {
    el_hash128 hash;
    el_dtype dtype;
    uint64_t nbytes;
    el_tensor_ref ref;
    const el_tensor *tensor;
} candidate;

/* Whether two tensors have the same dtype, length and bytes. The hash only
 * proposes matches; this decides them, so a hash collision cannot merge two
 * different tensors. */
int el_tensors_identical(const el_tensor *a, const el_tensor *b)
{
    if (a->dtype != b->dtype || a->nbytes != b->nbytes)
        return 0;
    return a->nbytes == 0 || memcmp(a->data, b->data, (size_t)a->nbytes) == 0;
}

el_hash128 el_hash128_bytes(const void *data, size_t len)
{
    const XXH128_hash_t h = XXH3_128bits(data, len);
    return (el_hash128){ .lo = h.low64, .hi = h.high64 };
}

el_hash128 el_tensor_hash(const el_tensor *t)
{
    if (t->derived)
        return el_hash128_bytes(t->data, (size_t)t->nbytes);

    XXH3_state_t *state = XXH3_createState();
    if (state == NULL)
        return el_hash128_bytes(t->data, (size_t)t->nbytes);
    XXH3_128bits_reset(state);
    for (uint64_t pos = 0, window = 16u << 20; pos < t->nbytes; pos += window) {
        size_t n = t->nbytes - pos < window ? (size_t)(t->nbytes - pos) : (size_t)window;
        XXH3_128bits_update(state, t->data + pos, n);
        el_release_range(t->data + pos, n);
    }
    XXH128_hash_t h = XXH3_128bits_digest(state);
    XXH3_freeState(state);
    return (el_hash128){ .lo = h.low64, .hi = h.high64 };
}

void el_hash128_hex(el_hash128 h, char out[33])
{
    snprintf(out, 33, "%016llx%016llx", (unsigned long long)h.hi,
             (unsigned long long)h.lo);
}

static int compare_u64(uint64_t a, uint64_t b)
{
    return a < b ? -1 : a > b;
}

/* Orders by the grouping key (hash, dtype, length), then by model and
 * tensor index, so that the first of each group is the first occurrence. */
static int compare_candidates(const void *pa, const void *pb)
{
    const candidate *a = pa;
    const candidate *b = pb;
    int c;

    if ((c = compare_u64(a->hash.hi, b->hash.hi)) != 0 ||
        (c = compare_u64(a->hash.lo, b->hash.lo)) != 0 ||
        (c = compare_u64((uint64_t)a->dtype, (uint64_t)b->dtype)) != 0 ||
        (c = compare_u64(a->nbytes, b->nbytes)) != 0 ||
        (c = compare_u64(a->ref.model, b->ref.model)) != 0)
        return c;
    return compare_u64(a->ref.tensor, b->ref.tensor);
}

static int same_key(const candidate *a, const candidate *b)
{
    return a->hash.hi == b->hash.hi && a->hash.lo == b->hash.lo &&
           a->dtype == b->dtype && a->nbytes == b->nbytes;
}

/* Lists the non-empty tensors with the hashes in dups, and clears the
 * rest of each entry. */
static size_t collect(const el_model *const *models, size_t n_models,
                      el_dup *const *dups, candidate *out)
{
    size_t n = 0;
    for (size_t m = 0; m < n_models; m++) {
        for (size_t t = 0; t < models[m]->n_tensors; t++) {
            const el_tensor *tensor = &models[m]->tensors[t];
            el_dup *d = &dups[m][t];

            *d = (el_dup){ .hash = d->hash };
            if (tensor->nbytes == 0)
                continue;

            out[n++] = (candidate){
                .hash = d->hash,
                .dtype = tensor->dtype,
                .nbytes = tensor->nbytes,
                .ref = { .model = m, .tensor = t },
                .tensor = tensor,
            };
        }
    }
    return n;
}

/* Marks each member of a run of equal keys as a duplicate of the first
 * earlier member with the same bytes. A member unequal to all earlier ones
 * (a hash collision) starts its own group. Runs are almost always one group,
 * so the inner loop rarely runs more than once. */
static void resolve_run(const candidate *run, size_t n, el_dup *const *dups)
{
    for (size_t i = 1; i < n; i++) {
        for (size_t j = 0; j < i; j++) {
            const el_dup *first = &dups[run[j].ref.model][run[j].ref.tensor];
            if (first->is_duplicate)
                continue;
            if (!el_tensors_identical(run[j].tensor, run[i].tensor))
                continue;

            el_dup *d = &dups[run[i].ref.model][run[i].ref.tensor];
            d->is_duplicate = 1;
            d->of = run[j].ref;
            break;
        }
    }
}

int el_find_duplicates(const el_model *const *models, size_t n_models,
                       el_dup *const *dups, el_error *err)
{
    for (size_t m = 0; m < n_models; m++)
        for (size_t t = 0; t < models[m]->n_tensors; t++)
            dups[m][t].hash = el_tensor_hash(&models[m]->tensors[t]);
    return el_group_duplicates(models, n_models, dups, err);
}

int el_group_duplicates(const el_model *const *models, size_t n_models,
                        el_dup *const *dups, el_error *err)
{
    size_t total = 0;
    for (size_t m = 0; m < n_models; m++)
        total += models[m]->n_tensors;

    candidate *c = malloc((total > 0 ? total : 1) * sizeof *c);
    if (c == NULL)
        return el_fail(err, "out of memory hashing %zu tensors for duplicates",
                       total);

    const size_t n = collect(models, n_models, dups, c);
    qsort(c, n, sizeof *c, compare_candidates);

    size_t start = 0;
    for (size_t i = 1; i <= n; i++) {
        if (i < n && same_key(&c[start], &c[i]))
            continue;
        resolve_run(c + start, i - start, dups);
        start = i;
    }

    free(c);
    return 0;
}
