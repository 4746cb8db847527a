#include "chunks.h"

#include <pthread.h>

static uint64_t gear_table[256];
static pthread_once_t gear_once = PTHREAD_ONCE_INIT;

/* Fills the table from a 64-bit linear congruential sequence (Knuth's MMIX
 * multiplier and increment), each state scrambled by an xorshift-multiply
 * finalizer so that every output bit depends on every state bit. The seed
 * is "elves" in ASCII. Changing any of this moves every chunk boundary. */
static void fill_gear_table(void)
{
    uint64_t state = 0x656c766573ULL;
    for (int i = 0; i < 256; i++) {
        state = state * 6364136223846793005ULL + 1442695040888963407ULL;
        uint64_t x = state;
        x ^= x >> 31;
        x *= 0xd6e8feb86659fd93ULL;
        x ^= x >> 29;
        x *= 0xbf58476d1ce4e5b9ULL;
        x ^= x >> 32;
        gear_table[i] = x;
    }
}

static const uint64_t *gear(void)
{
    pthread_once(&gear_once, fill_gear_table);
    return gear_table;
}

uint64_t el_cdc_gear(uint8_t byte)
{
    return gear()[byte];
}

/* The gear hash shifts left once per byte, so bit k of the hash depends on
 * the last k + 1 bytes. Spreading the mask over the top 48 bits makes a cut
 * depend on a window of up to 64 bytes rather than the last log2(avg). */
uint64_t el_cdc_mask(unsigned bits)
{
    if (bits == 0 || bits > 48)
        return 0;

    uint64_t mask = 0;
    for (unsigned i = 0; i < bits; i++)
        mask |= 1ULL << (63 - (i * 48) / bits);
    return mask;
}

static unsigned log2_exact(size_t v)
{
    unsigned k = 0;
    while (((size_t)1 << k) < v)
        k++;
    return k;
}

int el_cdc_params_init(el_cdc_params *p, size_t min_size, size_t avg_size,
                       size_t max_size, el_error *err)
{
    if (avg_size == 0 || (avg_size & (avg_size - 1)) != 0)
        return el_fail(err, "CDC average chunk size %zu is not a power of two: "
                       "use e.g. %zu", avg_size, EL_CDC_AVG_DEFAULT);
    if (avg_size < EL_CDC_AVG_LOWEST || avg_size > EL_CDC_AVG_HIGHEST)
        return el_fail(err, "CDC average chunk size %zu is out of range: use a "
                       "power of two from %zu to %zu", avg_size,
                       EL_CDC_AVG_LOWEST, EL_CDC_AVG_HIGHEST);
    if (min_size >= avg_size)
        return el_fail(err, "CDC minimum chunk size %zu is not below the average "
                       "%zu: use a smaller minimum (default %zu)", min_size,
                       avg_size, EL_CDC_MIN_DEFAULT);
    if (max_size <= avg_size)
        return el_fail(err, "CDC maximum chunk size %zu is not above the average "
                       "%zu: use a larger maximum (default %zu)", max_size,
                       avg_size, EL_CDC_MAX_DEFAULT);

    const unsigned bits = log2_exact(avg_size);
    *p = (el_cdc_params){
        .min_size = min_size,
        .avg_size = avg_size,
        .max_size = max_size,
        .mask_strict = el_cdc_mask(bits + EL_CDC_NORMALIZATION),
        .mask_loose = el_cdc_mask(bits - EL_CDC_NORMALIZATION),
    };
    return 0;
}

el_cdc_params el_cdc_params_default(void)
{
    el_cdc_params p;
    el_cdc_params_init(&p, EL_CDC_MIN_DEFAULT, EL_CDC_AVG_DEFAULT,
                       EL_CDC_MAX_DEFAULT, NULL);
    return p;
}

size_t el_cdc_cut(const uint8_t *data, size_t len, const el_cdc_params *p)
{
    if (len <= p->min_size)
        return len;

    const uint64_t *g = gear();
    const size_t end = len < p->max_size ? len : p->max_size;
    const size_t normal = p->avg_size < end ? p->avg_size : end;
    uint64_t h = 0;
    size_t i = p->min_size;

    for (; i < normal; i++) {
        h = (h << 1) + g[data[i]];
        if ((h & p->mask_strict) == 0)
            return i + 1;
    }
    for (; i < end; i++) {
        h = (h << 1) + g[data[i]];
        if ((h & p->mask_loose) == 0)
            return i + 1;
    }
    return end;
}
