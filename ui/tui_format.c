/* Number and name formatting for the screens. Everything here writes plain
 * ASCII so one byte is one terminal column. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "tui_app.h"

void tui_format_bytes(uint64_t bytes, char *buf, size_t len)
{
    static const char *const units[] = {"KiB", "MiB", "GiB", "TiB", "PiB"};

    if (bytes < 1024) {
        snprintf(buf, len, "%llu B", (unsigned long long)bytes);
        return;
    }

    double value = (double)bytes / 1024.0;
    size_t unit = 0;
    while (value >= 1024.0 && unit + 1 < sizeof units / sizeof units[0]) {
        value /= 1024.0;
        unit++;
    }
    snprintf(buf, len, "%.1f %s", value, units[unit]);
}

/* Groups digits in threes with commas: 262,144. */
void tui_format_count(uint64_t n, char *buf, size_t len)
{
    char digits[32];
    int n_digits = snprintf(digits, sizeof digits, "%llu",
                            (unsigned long long)n);
    char grouped[48];
    size_t out = 0;

    for (int i = 0; i < n_digits; i++) {
        if (i > 0 && (n_digits - i) % 3 == 0)
            grouped[out++] = ',';
        grouped[out++] = digits[i];
    }
    grouped[out] = '\0';
    snprintf(buf, len, "%s", grouped);
}

/* A ratio such as "3.21x"; estimates from a sample get a leading "~". */
void tui_format_ratio(double ratio, int estimated, char *buf, size_t len)
{
    if (!(ratio > 0) || isnan(ratio))
        snprintf(buf, len, "-");
    else if (isinf(ratio))
        snprintf(buf, len, "inf");
    else
        snprintf(buf, len, "%s%.2fx", estimated ? "~" : "", ratio);
}

void tui_format_error(double error, char *buf, size_t len)
{
    if (error < 0 || isnan(error))
        snprintf(buf, len, "-");
    else if (error == 0)
        snprintf(buf, len, "0");
    else
        snprintf(buf, len, "%.3g", error);
}

/* Copies text, replacing control and non-ASCII bytes with '?', so a
 * hostile tensor name cannot move the cursor or change the column count. */
void tui_sanitize(const char *text, char *buf, size_t len)
{
    size_t i = 0;

    if (len == 0)
        return;
    for (; text[i] != '\0' && i + 1 < len; i++) {
        unsigned char c = (unsigned char)text[i];
        buf[i] = (c < 0x20 || c >= 0x7f) ? '?' : (char)c;
    }
    buf[i] = '\0';
}

/* Fits a name into width columns. A long name loses its middle, and the
 * tail keeps two thirds of the room because the end (".weight", ".bias")
 * distinguishes layers. */
void tui_fit_name(const char *name, size_t width, char *buf, size_t len)
{
    static const char ellipsis[] = "...";
    size_t name_len = strlen(name);

    if (len == 0)
        return;
    if (width >= len)
        width = len - 1;
    if (name_len <= width) {
        snprintf(buf, len, "%s", name);
        return;
    }
    if (width <= sizeof ellipsis) {
        snprintf(buf, len, "%s", name + name_len - width);
        return;
    }

    size_t room = width - (sizeof ellipsis - 1);
    size_t tail = room * 2 / 3;
    size_t head = room - tail;
    snprintf(buf, len, "%.*s%s%s", (int)head, name, ellipsis,
             name + name_len - tail);
}

/* The codec column: a codec the user fixed, or "auto:NAME" with the one the
 * plan picked ("auto:none" when no codec honours the bound). */
const char *tui_codec_label(const el_layer *layer, char *buf, size_t len)
{
    if (layer->codec != NULL) {
        snprintf(buf, len, "%s", layer->codec->name);
        return buf;
    }

    const el_codec *chosen = el_layer_codec(layer);
    snprintf(buf, len, "auto:%s", chosen != NULL ? chosen->name : "none");
    return buf;
}
