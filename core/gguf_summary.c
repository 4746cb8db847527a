/* The overview summary of a GGUF file's key-values: the few that describe
 * the model, as a JSON object. It is not a dump, because a vocabulary alone
 * can hold hundreds of thousands of strings. */
#include "gguf_parse.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Maximum length of a string value copied into the summary, in bytes. */
#define MAX_SHOWN 256

/* Length of the valid UTF-8 sequence at s (n bytes available), or 0. The
 * second-byte ranges exclude overlong forms, surrogates and code points
 * above U+10FFFF (RFC 3629, section 4). */
static size_t utf8_length(const unsigned char *s, size_t n)
{
    const unsigned char c = s[0];
    if (c >= 0x20 && c < 0x80)
        return 1;

    size_t len = 0;
    unsigned char lo = 0x80, hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        lo = c == 0xe0 ? 0xa0 : 0x80;
        hi = c == 0xed ? 0x9f : 0xbf;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        lo = c == 0xf0 ? 0x90 : 0x80;
        hi = c == 0xf4 ? 0x8f : 0xbf;
    }
    if (len == 0 || len > n || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if (s[i] < 0x80 || s[i] > 0xbf)
            return 0;
    return len;
}

/* Copies a file string as valid UTF-8, cut to MAX_SHOWN bytes, with control
 * characters and invalid bytes replaced by '?'. */
static void copy_text(gguf_string s, char out[MAX_SHOWN + 1])
{
    const unsigned char *p = (const unsigned char *)s.ptr;
    const size_t n = s.len < MAX_SHOWN ? (size_t)s.len : MAX_SHOWN;
    size_t i = 0, o = 0;
    while (i < n) {
        const size_t len = utf8_length(p + i, n - i);
        if (len == 0) {
            out[o++] = '?';
            i++;
            continue;
        }
        memcpy(out + o, p + i, len);
        o += len;
        i += len;
    }
    out[o] = '\0';
}

/* The value of a string key-value, which parsing checked is in the file. */
static gguf_string string_value(const gguf_header *h, const gguf_kv *kv)
{
    const uint8_t *p = h->base + kv->value_pos;
    uint64_t len = 0;
    for (int i = 7; i >= 0; i--)
        len = (len << 8) | p[i];
    return (gguf_string){ (const char *)p + 8, len };
}

/* Adds a scalar or string key-value under its own key; arrays and values
 * that do not fit a JSON number are left out. */
static int add_value(cJSON *o, const gguf_header *h, const gguf_kv *kv, el_error *err)
{
    char key[96];
    gguf_printable(kv->key, key, sizeof key);
    const uint8_t *p = h->base + kv->value_pos;
    cJSON *item = NULL;

    if (kv->type == GGUF_STRING) {
        char text[MAX_SHOWN + 1];
        copy_text(string_value(h, kv), text);
        item = cJSON_CreateString(text);
    } else if (kv->type == GGUF_F32) {
        float f;
        memcpy(&f, p, sizeof f);
        item = cJSON_CreateNumber(f);
    } else if (kv->type == GGUF_F64) {
        double d;
        memcpy(&d, p, sizeof d);
        item = cJSON_CreateNumber(d);
    } else if (kv->type == GGUF_BOOL) {
        item = cJSON_CreateBool(p[0] != 0);
    } else if (kv->type != GGUF_ARRAY) {
        int64_t v = 0;
        if (gguf_kv_integer(h, kv, &v, NULL) != 0)
            return 0;
        item = cJSON_CreateNumber((double)v);
    } else {
        return 0;
    }

    if (item == NULL || !cJSON_AddItemToObject(o, key, item)) {
        cJSON_Delete(item);
        return el_fail(err, "%s: out of memory for the key-value summary", h->path);
    }
    return 0;
}

static int add_key(cJSON *o, const gguf_header *h, const char *key, el_error *err)
{
    const gguf_kv *kv = gguf_find_kv(h, key);
    return kv != NULL ? add_value(o, h, kv, err) : 0;
}

static int add_number(cJSON *o, const gguf_header *h, const char *name, double v,
                      el_error *err)
{
    if (cJSON_AddNumberToObject(o, name, v) == NULL)
        return el_fail(err, "%s: out of memory for the key-value summary", h->path);
    return 0;
}

/* Adds the architecture's own keys, "llama.context_length" and so on. */
static int add_architecture_keys(cJSON *o, const gguf_header *h, el_error *err)
{
    static const char *const suffixes[] = {
        "context_length", "embedding_length", "block_count",
    };
    const gguf_kv *arch = gguf_find_kv(h, "general.architecture");
    if (arch == NULL || arch->type != GGUF_STRING)
        return 0;

    /* Architecture names are short ASCII words; anything else has no keys
     * worth looking up. */
    const gguf_string value = string_value(h, arch);
    char name[65];
    if (value.len == 0 || value.len >= sizeof name)
        return 0;
    memcpy(name, value.ptr, (size_t)value.len);
    name[value.len] = '\0';

    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        char key[128];
        snprintf(key, sizeof key, "%s.%s", name, suffixes[i]);
        if (add_key(o, h, key, err) != 0)
            return -1;
    }
    return 0;
}

int gguf_summary_json(const gguf_header *h, size_t n_files, char **out,
                      el_error *err)
{
    static const char *const general[] = {
        "general.architecture", "general.name", "general.quantization_version",
        "general.file_type",
    };
    cJSON *o = cJSON_CreateObject();
    if (o == NULL)
        return el_fail(err, "%s: out of memory for the key-value summary", h->path);

    int rc = add_number(o, h, "gguf_version", h->version, err);
    if (rc == 0)
        rc = add_number(o, h, "alignment", h->alignment, err);
    if (rc == 0 && n_files > 1)
        rc = add_number(o, h, "split_count", (double)n_files, err);
    for (size_t i = 0; rc == 0 && i < sizeof general / sizeof general[0]; i++)
        rc = add_key(o, h, general[i], err);
    if (rc == 0)
        rc = add_architecture_keys(o, h, err);
    if (rc == 0)
        rc = add_key(o, h, "tokenizer.ggml.model", err);

    const gguf_kv *tokens = gguf_find_kv(h, "tokenizer.ggml.tokens");
    if (rc == 0 && tokens != NULL && tokens->type == GGUF_ARRAY)
        rc = add_number(o, h, "token_count", (double)tokens->count, err);
    if (rc == 0)
        rc = add_number(o, h, "key_value_count", (double)h->n_kv, err);

    if (rc == 0) {
        *out = cJSON_PrintUnformatted(o);
        if (*out == NULL)
            rc = el_fail(err, "%s: out of memory for the key-value summary", h->path);
    }
    cJSON_Delete(o);
    return rc;
}
