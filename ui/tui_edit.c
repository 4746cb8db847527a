/* Editing: the one-line text editor and the actions that change the view or
 * the plan through it (filter, bound, bound of all filtered layers) or
 * without it (codec cycling). */
#include <ncurses.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tui_app.h"

#define KEY_ESCAPE 27
#define KEY_CTRL(c) ((c) & 0x1f)

typedef struct tui_line {
    char *text;
    size_t cap;
    size_t len;
    size_t cursor;
    int fresh;   /* the text is the suggestion: typing replaces it */
} tui_line;

/* Deletes the character under the cursor. Returns 1, or 0 at the end. */
static int tui_line_delete(tui_line *line)
{
    if (line->cursor >= line->len)
        return 0;
    memmove(line->text + line->cursor, line->text + line->cursor + 1,
            line->len - line->cursor);
    line->len--;
    return 1;
}

/* Applies one editing key. Returns 1 when the text changed. A character
 * typed first replaces the suggested text, as in most dialog fields; any
 * editing key first keeps it for changing. */
static int tui_line_key(tui_line *line, int key)
{
    int fresh = line->fresh;
    line->fresh = 0;
    if (fresh && key >= 0x20 && key <= 0x7e) {
        line->text[0] = '\0';
        line->len = line->cursor = 0;
    }

    switch (key) {
    case KEY_LEFT:
        if (line->cursor > 0)
            line->cursor--;
        return 0;
    case KEY_RIGHT:
        if (line->cursor < line->len)
            line->cursor++;
        return 0;
    case KEY_HOME:
    case KEY_CTRL('a'):
        line->cursor = 0;
        return 0;
    case KEY_END:
    case KEY_CTRL('e'):
        line->cursor = line->len;
        return 0;
    case KEY_BACKSPACE:
    case 127:
    case KEY_CTRL('h'):
        if (line->cursor == 0)
            return 0;
        line->cursor--;
        return tui_line_delete(line);
    case KEY_DC:
        return tui_line_delete(line);
    case KEY_CTRL('u'):
        line->text[0] = '\0';
        line->len = line->cursor = 0;
        return 1;
    default:
        break;
    }

    if (key < 0x20 || key > 0x7e || line->len + 1 >= line->cap)
        return 0;
    memmove(line->text + line->cursor + 1, line->text + line->cursor,
            line->len - line->cursor + 1);
    line->text[line->cursor++] = (char)key;
    line->len++;
    return 1;
}

static void tui_line_draw(const tui_line *line, const char *label, int y,
                          int x, int width)
{
    int label_width = (int)strlen(label);
    int field_x = x + label_width;
    int field_width = width - label_width;

    if (field_width < 2) {
        label_width = 0;
        field_x = x;
        field_width = width;
    }
    tui_fill(y, x, width, TUI_STATUS);
    tui_put(y, x, label_width, TUI_STATUS, label);

    /* Scroll the text sideways so the cursor stays inside the field. */
    size_t offset = 0;
    if (line->cursor >= (size_t)field_width)
        offset = line->cursor - (size_t)field_width + 1;
    tui_put(y, field_x, field_width, TUI_STATUS, line->text + offset);
    move(y, field_x + (int)(line->cursor - offset));
}

int tui_edit_line(tui_app *app, const char *label, char *text, size_t cap,
                  tui_frame_fn frame, void *frame_ctx,
                  void (*on_change)(tui_app *app, const char *text))
{
    char *original = strdup(text);
    if (original == NULL) {
        tui_set_status(app, 1, "out of memory");
        return 0;
    }

    tui_line line = {text, cap, strlen(text), strlen(text), text[0] != '\0'};
    int accepted = -1;

    curs_set(1);
    while (accepted < 0) {
        tui_draw(app);
        if (!tui_too_small()) {
            int y = LINES - 1, x = 0, width = COLS;
            if (frame != NULL)
                frame(app, frame_ctx, &y, &x, &width);
            tui_line_draw(&line, label, y, x, width);
        }
        refresh();

        int key = tui_read_key(app);
        if (key == KEY_RESIZE || key == TUI_KEY_IDLE)
            continue;
        if (key == ERR || key == KEY_ESCAPE) {
            accepted = 0;
        } else if (key == '\n' || key == '\r' || key == KEY_ENTER) {
            accepted = 1;
        } else if (tui_line_key(&line, key) && on_change != NULL) {
            on_change(app, text);
        }
    }
    curs_set(0);

    if (!accepted) {
        snprintf(text, cap, "%s", original);
        if (on_change != NULL)
            on_change(app, text);
    }
    free(original);
    return accepted;
}

static void tui_filter_changed(tui_app *app, const char *text)
{
    snprintf(app->filter, sizeof app->filter, "%s", text);
    if (tui_rows_rebuild(app) != 0)
        tui_set_status(app, 1, "out of memory filtering the table");
}

/* The table follows the filter as it is typed, and Esc clears it. */
void tui_edit_filter(tui_app *app)
{
    char text[TUI_FILTER_MAX];

    snprintf(text, sizeof text, "%s", app->filter);
    if (tui_edit_line(app, "filter: ", text, sizeof text, NULL, NULL,
                      tui_filter_changed)) {
        tui_set_status(app, 0, "%zu layer%s match \"%s\"", app->n_rows,
                       app->n_rows == 1 ? "" : "s", app->filter);
        return;
    }
    tui_filter_changed(app, "");
    tui_set_status(app, 0, "filter cleared");
}

/* Re-sorts after a plan change, keeping the cursor on its layer, because
 * ratio order depends on the plan. */
void tui_plan_changed(tui_app *app)
{
    app->summaries_stale = 1;
    if (tui_rows_rebuild(app) != 0)
        tui_set_status(app, 1, "out of memory rebuilding the table");
}

/* Reads a bound at the prompt and returns 0 with *bound set. Returns -1
 * when the user cancels or types an invalid value, which the status line
 * then reports. */
static int tui_read_bound(tui_app *app, const char *label, el_bound initial,
                          el_bound *bound)
{
    char text[64];
    el_error err;

    el_bound_format(initial, text, sizeof text);
    if (!tui_edit_line(app, label, text, sizeof text, NULL, NULL, NULL))
        return -1;
    if (el_bound_parse(text, bound, &err) != 0) {
        tui_set_status(app, 1, "%s", err.msg);
        return -1;
    }
    return 0;
}

void tui_edit_bound(tui_app *app)
{
    const tui_row *row = tui_selected_row(app);
    if (row == NULL) {
        tui_set_status(app, 1, "no layer selected");
        return;
    }

    size_t m = row->model, t = row->tensor;
    if (!tui_layer_usable(app, m, t))
        return;
    const el_layer *layer = &app->ws->layers[m][t];
    el_bound bound;
    if (tui_read_bound(app, "bound (lossless, abs:E or rel:R): ", layer->bound,
                       &bound) != 0)
        return;

    el_error err;
    if (el_layer_set_plan(app->ws, m, t, bound, layer->codec, &err) != 0) {
        tui_set_status(app, 1, "%s", err.msg);
        return;
    }
    tui_plan_changed(app);

    char text[64];
    el_bound_format(bound, text, sizeof text);
    tui_set_status(app, 0, "bound of %s set to %s",
                   app->ws->models[m].tensors[t].name, text);
}

void tui_edit_bound_all(tui_app *app)
{
    size_t n = app->n_rows;
    if (n == 0) {
        tui_set_status(app, 1, "no layer matches the filter");
        return;
    }
    if (!tui_analysis_done(app, "setting filtered bounds"))
        return;

    char label[96];
    snprintf(label, sizeof label, "bound for %zu layer%s (lossless, abs:E, rel:R): ",
             n, n == 1 ? "" : "s");
    const tui_row *row = tui_selected_row(app);
    el_bound initial = row != NULL ? app->ws->layers[row->model][row->tensor].bound
                                   : (el_bound){EL_BOUND_LOSSLESS, 0};
    el_bound bound;
    if (tui_read_bound(app, label, initial, &bound) != 0)
        return;

    /* Rows are re-sorted afterwards, so iterate over the list as it was. */
    size_t failed = 0;
    el_error first_error = {{0}};
    for (size_t i = 0; i < n; i++) {
        tui_row r = app->rows[i];
        const el_layer *layer = &app->ws->layers[r.model][r.tensor];
        el_error err;
        if (el_layer_set_plan(app->ws, r.model, r.tensor, bound, layer->codec,
                              &err) != 0) {
            if (failed++ == 0)
                first_error = err;
        }
    }
    tui_plan_changed(app);

    char text[64];
    el_bound_format(bound, text, sizeof text);
    if (failed == 0)
        tui_set_status(app, 0, "bound %s set on %zu layer%s", text, n,
                       n == 1 ? "" : "s");
    else
        tui_set_status(app, 1, "bound %s set on %zu of %zu layers; %zu failed, "
                               "first: %s",
                       text, n - failed, n, failed, first_error.msg);
}

/* Option 0 is auto and option i > 0 is el_codecs[i - 1]. */
static const el_codec *tui_codec_option(size_t option)
{
    return option == 0 ? NULL : el_codecs[option - 1];
}

static size_t tui_current_option(const tui_app *app, const tui_row *row)
{
    const tui_codec_cursor *cursor = &app->codec_cursor;
    const el_layer *layer = &app->ws->layers[row->model][row->tensor];

    if (cursor->valid && cursor->model == row->model &&
        cursor->tensor == row->tensor)
        return cursor->option;
    if (layer->codec == NULL)
        return 0;
    for (size_t c = 0; el_codecs[c] != NULL; c++) {
        if (el_codecs[c] == layer->codec)
            return c + 1;
    }
    return 0;
}

void tui_cycle_codec(tui_app *app)
{
    const tui_row *row = tui_selected_row(app);
    if (row == NULL) {
        tui_set_status(app, 1, "no layer selected");
        return;
    }

    size_t m = row->model, t = row->tensor;
    if (!tui_layer_usable(app, m, t))
        return;
    const el_tensor *tensor = &app->ws->models[m].tensors[t];
    size_t n_options = el_codec_count() + 1;
    size_t option = tui_current_option(app, row);

    /* The next option whose codec takes this dtype. Auto takes every dtype. */
    do {
        option = (option + 1) % n_options;
    } while (option != 0 && !tui_codec_option(option)->supports(tensor->dtype));

    const el_codec *codec = tui_codec_option(option);
    const el_layer *layer = &app->ws->layers[m][t];
    el_error err;
    if (el_layer_set_plan(app->ws, m, t, layer->bound, codec, &err) != 0) {
        app->codec_cursor = (tui_codec_cursor){1, m, t, option};
        tui_set_status(app, 1, "%s", err.msg);
        return;
    }
    app->codec_cursor.valid = 0;
    tui_plan_changed(app);

    char label[64], ratio[32] = "-";
    tui_codec_label(layer, label, sizeof label);
    if (layer->chosen >= 0)
        tui_format_ratio(layer->pred[layer->chosen].ratio,
                         layer->pred[layer->chosen].estimated, ratio,
                         sizeof ratio);
    tui_set_status(app, 0, "codec of %s: %s, predicted %s", tensor->name,
                   label, ratio);
}
