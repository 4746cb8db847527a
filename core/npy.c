#include "npy.h"

#include <stdio.h>
#include <string.h>

#define MAGIC "\x93NUMPY"
#define MAGIC_SIZE 6

#define FIX_FILE "the array is damaged or not written by NumPy: save it again with numpy.save"
#define SUPPORTED_DESCRS "'<f2' '<f4' '<f8' '<i1'..'<i8' '<u1'..'<u8' '|b1' '|i1' '|u1', " \
                         "or '>' for big-endian"

typedef enum token_kind {
    TOKEN_END,
    TOKEN_LBRACE,
    TOKEN_RBRACE,
    TOKEN_LPAREN,
    TOKEN_RPAREN,
    TOKEN_LBRACKET,
    TOKEN_COMMA,
    TOKEN_COLON,
    TOKEN_STRING,
    TOKEN_INT,
    TOKEN_TRUE,
    TOKEN_FALSE,
} token_kind;

typedef struct token {
    token_kind kind;
    const char *text;   /* string contents without quotes, or the token itself */
    size_t len;
    size_t at;          /* byte offset in the header text, for messages */
    uint64_t value;     /* TOKEN_INT */
} token;

/* Tokenizer over the header's dict literal. Only the Python literal forms
 * that NumPy writes are recognised: strings without escapes, non-negative
 * integers (with Python 2's 'L' suffix), True, False and punctuation. */
typedef struct lexer {
    const char *s;
    size_t n;
    size_t pos;
    token tok;          /* current token */
    el_error *err;
} lexer;

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static int is_word(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
           (c >= '0' && c <= '9');
}

static int lex_string(lexer *lx)
{
    const char quote = lx->s[lx->pos];
    const size_t start = lx->pos + 1;
    size_t end = start;
    while (end < lx->n && lx->s[end] != quote) {
        if (lx->s[end] == '\\' || lx->s[end] == '\n')
            return el_fail(lx->err, "header byte %zu: string with an escape or line "
                           "break; " FIX_FILE, end);
        end++;
    }
    if (end == lx->n)
        return el_fail(lx->err, "header byte %zu: string is not closed; " FIX_FILE,
                       lx->pos);

    lx->tok = (token){ .kind = TOKEN_STRING, .text = lx->s + start, .len = end - start,
                       .at = lx->pos };
    lx->pos = end + 1;
    return 0;
}

static int lex_int(lexer *lx)
{
    const size_t start = lx->pos;
    uint64_t v = 0;
    while (lx->pos < lx->n && lx->s[lx->pos] >= '0' && lx->s[lx->pos] <= '9') {
        const unsigned digit = (unsigned)(lx->s[lx->pos] - '0');
        if (v > (UINT64_MAX - digit) / 10)
            return el_fail(lx->err, "header byte %zu: integer %.*s... does not fit "
                           "in 64 bits; " FIX_FILE, start, (int)(lx->pos - start),
                           lx->s + start);
        v = v * 10 + digit;
        lx->pos++;
    }
    if (lx->pos < lx->n && (lx->s[lx->pos] == 'L' || lx->s[lx->pos] == 'l'))
        lx->pos++;
    if (lx->pos < lx->n && is_word(lx->s[lx->pos]))
        return el_fail(lx->err, "header byte %zu: '%c' after a number; " FIX_FILE,
                       lx->pos, lx->s[lx->pos]);

    lx->tok = (token){ .kind = TOKEN_INT, .text = lx->s + start,
                       .len = lx->pos - start, .at = start, .value = v };
    return 0;
}

static int lex_word(lexer *lx)
{
    const size_t start = lx->pos;
    while (lx->pos < lx->n && is_word(lx->s[lx->pos]))
        lx->pos++;
    const size_t len = lx->pos - start;
    const char *w = lx->s + start;

    if (len == 4 && memcmp(w, "True", 4) == 0)
        lx->tok = (token){ .kind = TOKEN_TRUE, .text = w, .len = len, .at = start };
    else if (len == 5 && memcmp(w, "False", 5) == 0)
        lx->tok = (token){ .kind = TOKEN_FALSE, .text = w, .len = len, .at = start };
    else
        return el_fail(lx->err, "header byte %zu: unexpected word '%.*s' (expected "
                       "True or False); " FIX_FILE, start, (int)(len < 40 ? len : 40), w);
    return 0;
}

/* Reads the next token into lx->tok. */
static int next(lexer *lx)
{
    while (lx->pos < lx->n && is_space(lx->s[lx->pos]))
        lx->pos++;
    if (lx->pos == lx->n) {
        lx->tok = (token){ .kind = TOKEN_END, .text = "end of header", .len = 13,
                           .at = lx->n };
        return 0;
    }

    static const char punct[] = "{}()[,:";
    static const token_kind kinds[] = {
        TOKEN_LBRACE, TOKEN_RBRACE, TOKEN_LPAREN, TOKEN_RPAREN, TOKEN_LBRACKET,
        TOKEN_COMMA, TOKEN_COLON,
    };
    const char c = lx->s[lx->pos];
    const char *p = c != '\0' ? strchr(punct, c) : NULL;
    if (p != NULL) {
        lx->tok = (token){ .kind = kinds[p - punct], .text = lx->s + lx->pos, .len = 1,
                           .at = lx->pos };
        lx->pos++;
        return 0;
    }
    if (c == '\'' || c == '"')
        return lex_string(lx);
    if (c >= '0' && c <= '9')
        return lex_int(lx);
    if (is_word(c))
        return lex_word(lx);
    if (c == '-')
        return el_fail(lx->err, "header byte %zu: negative number; " FIX_FILE, lx->pos);
    return el_fail(lx->err, "header byte %zu: unexpected character 0x%02x; " FIX_FILE,
                   lx->pos, (unsigned)(unsigned char)c);
}

/* Fails unless the current token has this kind, then reads the next one. */
static int expect(lexer *lx, token_kind kind, const char *what)
{
    if (lx->tok.kind != kind)
        return el_fail(lx->err, "header byte %zu: expected %s, found '%.*s'; "
                       FIX_FILE, lx->tok.at, what,
                       (int)(lx->tok.len < 40 ? lx->tok.len : 40), lx->tok.text);
    return next(lx);
}

static int token_is(const token *t, const char *s)
{
    return t->len == strlen(s) && memcmp(t->text, s, t->len) == 0;
}

/* Maps a type character and element size to a dtype. */
static int dtype_of(char kind, unsigned size, el_dtype *out)
{
    static const struct {
        char kind;
        unsigned size;
        el_dtype dtype;
    } types[] = {
        { 'f', 2, EL_F16 }, { 'f', 4, EL_F32 }, { 'f', 8, EL_F64 },
        { 'i', 1, EL_I8 }, { 'i', 2, EL_I16 }, { 'i', 4, EL_I32 }, { 'i', 8, EL_I64 },
        { 'u', 1, EL_U8 }, { 'u', 2, EL_U16 }, { 'u', 4, EL_U32 }, { 'u', 8, EL_U64 },
        { 'b', 1, EL_BOOL },
    };
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        if (types[i].kind == kind && types[i].size == size) {
            *out = types[i].dtype;
            return 0;
        }
    }
    return -1;
}

static int parse_descr(lexer *lx, el_npy_header *h)
{
    if (lx->tok.kind == TOKEN_LBRACKET)
        return el_fail(lx->err, "'descr' is a list of fields: structured dtypes are "
                       "not supported; save each field as its own array");
    if (lx->tok.kind != TOKEN_STRING)
        return el_fail(lx->err, "'descr' is not a string; " FIX_FILE);

    const token *t = &lx->tok;
    const int shown = (int)(t->len < 40 ? t->len : 40);
    if (t->len >= 2 && (t->text[1] == 'O' || (t->text[0] == 'O' && t->len == 1)))
        return el_fail(lx->err, "'descr' is '%.*s': object arrays hold pickled Python "
                       "objects, which elves never loads; save the array with a "
                       "numeric dtype", shown, t->text);

    const char order = t->len > 0 ? t->text[0] : '\0';
    unsigned size = 0;
    if (t->len == 3 && t->text[2] >= '1' && t->text[2] <= '9')
        size = (unsigned)(t->text[2] - '0');
    if ((order != '<' && order != '>' && order != '|') || size == 0 ||
        dtype_of(t->text[1], size, &h->dtype) != 0)
        return el_fail(lx->err, "'descr' is '%.*s', which is not supported; expected "
                       SUPPORTED_DESCRS, shown, t->text);
    if (order == '|' && size != 1)
        return el_fail(lx->err, "'descr' is '%.*s': '|' (no byte order) is only "
                       "valid for 1-byte types; " FIX_FILE, shown, t->text);

    h->big_endian = order == '>' && size > 1;
    return next(lx);
}

static int parse_fortran_order(lexer *lx, el_npy_header *h)
{
    if (lx->tok.kind != TOKEN_TRUE && lx->tok.kind != TOKEN_FALSE)
        return el_fail(lx->err, "'fortran_order' is not True or False; " FIX_FILE);
    h->fortran_order = lx->tok.kind == TOKEN_TRUE;
    return next(lx);
}

/* Reads the shape tuple: "()", "(5,)", "(3, 4)". */
static int parse_shape(lexer *lx, el_npy_header *h)
{
    if (expect(lx, TOKEN_LPAREN, "'(' to start 'shape'") != 0)
        return -1;

    h->ndim = 0;
    while (lx->tok.kind != TOKEN_RPAREN) {
        if (lx->tok.kind != TOKEN_INT)
            return el_fail(lx->err, "'shape' contains '%.*s', expected non-negative "
                           "integers; " FIX_FILE,
                           (int)(lx->tok.len < 40 ? lx->tok.len : 40), lx->tok.text);
        if (h->ndim == EL_MAX_DIMS)
            return el_fail(lx->err, "'shape' has more than the %d dimensions "
                           "supported", EL_MAX_DIMS);
        h->shape[h->ndim++] = lx->tok.value;
        if (next(lx) != 0)
            return -1;

        if (lx->tok.kind == TOKEN_COMMA) {
            if (next(lx) != 0)
                return -1;
        } else if (lx->tok.kind != TOKEN_RPAREN) {
            return expect(lx, TOKEN_RPAREN, "',' or ')' in 'shape'");
        }
    }
    return next(lx);
}

/* Parses the dict literal, which must contain each of the three keys once and
 * no other key, followed by nothing but padding. */
static int parse_dict(lexer *lx, el_npy_header *h)
{
    int seen_descr = 0, seen_order = 0, seen_shape = 0;

    if (next(lx) != 0 || expect(lx, TOKEN_LBRACE, "'{' to start the header dict") != 0)
        return -1;

    while (lx->tok.kind != TOKEN_RBRACE) {
        if (lx->tok.kind != TOKEN_STRING)
            return expect(lx, TOKEN_STRING, "a key string or '}'");

        const token key = lx->tok;
        int *seen;
        int (*parse_value)(lexer *, el_npy_header *);
        if (token_is(&key, "descr")) {
            seen = &seen_descr;
            parse_value = parse_descr;
        } else if (token_is(&key, "fortran_order")) {
            seen = &seen_order;
            parse_value = parse_fortran_order;
        } else if (token_is(&key, "shape")) {
            seen = &seen_shape;
            parse_value = parse_shape;
        } else {
            return el_fail(lx->err, "header has the unknown key '%.*s'; expected "
                           "only 'descr', 'fortran_order' and 'shape'",
                           (int)(key.len < 40 ? key.len : 40), key.text);
        }
        if ((*seen)++)
            return el_fail(lx->err, "header key '%.*s' appears twice; " FIX_FILE,
                           (int)key.len, key.text);

        if (next(lx) != 0 || expect(lx, TOKEN_COLON, "':' after a key") != 0 ||
            parse_value(lx, h) != 0)
            return -1;

        if (lx->tok.kind == TOKEN_COMMA) {
            if (next(lx) != 0)
                return -1;
        } else if (lx->tok.kind != TOKEN_RBRACE) {
            return expect(lx, TOKEN_RBRACE, "',' or '}' after a value");
        }
    }
    if (next(lx) != 0)
        return -1;
    if (lx->tok.kind != TOKEN_END)
        return expect(lx, TOKEN_END, "only padding after the header dict");

    const char *missing = NULL;
    if (!seen_descr)
        missing = "descr";
    else if (!seen_order)
        missing = "fortran_order";
    else if (!seen_shape)
        missing = "shape";
    if (missing != NULL)
        return el_fail(lx->err, "header is missing the key '%s'; " FIX_FILE, missing);
    return 0;
}

/* Reads the magic, the version and the header length. */
static int parse_preamble(const uint8_t *bytes, uint64_t n, uint64_t *text_start,
                          uint64_t *text_len, el_error *err)
{
    if (n < MAGIC_SIZE + 2 || memcmp(bytes, MAGIC, MAGIC_SIZE) != 0)
        return el_fail(err, "no .npy magic (\\x93NUMPY) at the start; " FIX_FILE);

    const unsigned major = bytes[6];
    const unsigned minor = bytes[7];
    if ((major != 1 && major != 2 && major != 3) || minor != 0)
        return el_fail(err, ".npy format version %u.%u is not supported; expected "
                       "1.0, 2.0 or 3.0", major, minor);

    const unsigned width = major == 1 ? 2 : 4;
    if (n < MAGIC_SIZE + 2 + width)
        return el_fail(err, "file ends inside the header length; " FIX_FILE);
    const uint8_t *p = bytes + MAGIC_SIZE + 2;
    const uint64_t len = width == 2
        ? (uint64_t)p[0] | (uint64_t)p[1] << 8
        : (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 |
          (uint64_t)p[3] << 24;

    *text_start = MAGIC_SIZE + 2 + width;
    if (len > EL_NPY_MAX_HEADER)
        return el_fail(err, "header length %llu is larger than the %u-byte limit; "
                       FIX_FILE, (unsigned long long)len, EL_NPY_MAX_HEADER);
    if (len > n - *text_start)
        return el_fail(err, "header length %llu runs past the end of the %llu "
                       "bytes; the file is truncated: save it again",
                       (unsigned long long)len, (unsigned long long)n);
    *text_len = len;
    return 0;
}

/* Computes count and nbytes and checks them against the bytes after the
 * header. */
static int check_size(el_npy_header *h, uint64_t available, el_error *err)
{
    uint64_t count = 1;
    for (int d = 0; d < h->ndim; d++) {
        if (h->shape[d] != 0 && count > UINT64_MAX / h->shape[d])
            return el_fail(err, "the product of 'shape' overflows 64 bits at "
                           "dimension %d (%llu); " FIX_FILE, d,
                           (unsigned long long)h->shape[d]);
        count *= h->shape[d];
    }

    const uint64_t size = el_dtype_size(h->dtype);
    if (count > UINT64_MAX / size)
        return el_fail(err, "'shape' has %llu elements of %llu bytes, which "
                       "overflows 64 bits; " FIX_FILE, (unsigned long long)count,
                       (unsigned long long)size);
    h->count = count;
    h->nbytes = count * size;

    if (h->nbytes > available)
        return el_fail(err, "'shape' needs %llu bytes of data but %llu follow the "
                       "header; the file is truncated or damaged: save it again",
                       (unsigned long long)h->nbytes, (unsigned long long)available);
    if (h->nbytes < available)
        return el_fail(err, "%llu bytes follow the header but 'shape' needs %llu; "
                       FIX_FILE, (unsigned long long)available,
                       (unsigned long long)h->nbytes);
    return 0;
}

int el_npy_parse(const uint8_t *bytes, uint64_t n, el_npy_header *out, el_error *err)
{
    memset(out, 0, sizeof *out);

    uint64_t start = 0, len = 0;
    if (parse_preamble(bytes, n, &start, &len, err) != 0)
        return -1;

    el_npy_header h = { 0 };
    lexer lx = { .s = (const char *)bytes + start, .n = (size_t)len, .err = err };
    if (parse_dict(&lx, &h) != 0)
        return -1;

    h.data_offset = start + len;
    if (check_size(&h, n - h.data_offset, err) != 0)
        return -1;

    *out = h;
    return 0;
}

/* Whether the data must be reordered: Fortran order with two or more
 * dimensions longer than 1 (otherwise both orders give the same layout). */
static int needs_transpose(const el_npy_header *h)
{
    if (!h->fortran_order || h->count == 0)
        return 0;

    int long_dims = 0;
    for (int d = 0; d < h->ndim; d++)
        long_dims += h->shape[d] > 1;
    return long_dims > 1;
}

int el_npy_is_native(const el_npy_header *h)
{
    return !h->big_endian && !needs_transpose(h);
}

/* Copies one element, reversing its bytes when swap is set. */
static void copy_element(uint8_t *dst, const uint8_t *src, size_t size, int swap)
{
    if (!swap) {
        memcpy(dst, src, size);
        return;
    }
    for (size_t b = 0; b < size; b++)
        dst[b] = src[size - 1 - b];
}

void el_npy_to_native(const el_npy_header *h, const uint8_t *src, uint8_t *dst)
{
    const size_t size = el_dtype_size(h->dtype);
    if (h->count == 0)
        return;

    if (!needs_transpose(h)) {
        for (uint64_t i = 0; i < h->count; i++)
            copy_element(dst + i * size, src + i * size, size, h->big_endian);
        return;
    }

    /* Walks the output in C order (last index fastest) while tracking the
     * element's position in Fortran order, where dimension d has stride
     * shape[0] * ... * shape[d-1]. */
    uint64_t stride[EL_MAX_DIMS];
    uint64_t index[EL_MAX_DIMS] = { 0 };
    stride[0] = 1;
    for (int d = 1; d < h->ndim; d++)
        stride[d] = stride[d - 1] * h->shape[d - 1];

    uint64_t from = 0;
    for (uint64_t i = 0; i < h->count; i++) {
        copy_element(dst + i * size, src + from * size, size, h->big_endian);

        for (int d = h->ndim - 1; d >= 0; d--) {
            from += stride[d];
            if (++index[d] < h->shape[d])
                break;
            from -= stride[d] * h->shape[d];
            index[d] = 0;
        }
    }
}
