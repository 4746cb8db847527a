/* The export dialog: choose the output path, confirm, run el_export with a
 * progress box that Esc cancels, then open the report or show the error. */
#include <ncurses.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../core/container.h"
#include "tui_app.h"

#define KEY_ESCAPE 27

typedef struct tui_export_run {
    tui_app *app;
    size_t model;
    const char *path;
    int cancelled;
    int background_drawn;
    int permille;          /* progress last drawn, -1 before the first */
    char label[128];       /* label last drawn */
} tui_export_run;

static void tui_centered_box(int height, int max_width, const char *title,
                             int *y, int *x, int *width)
{
    *width = COLS - 4 < max_width ? COLS - 4 : max_width;
    *y = (LINES - height) / 2;
    *x = (COLS - *width) / 2;
    tui_box(*y, *x, height, *width, title);
}

static void tui_export_frame(tui_app *app, void *ctx, int *y, int *x,
                             int *width)
{
    const size_t *model = ctx;
    const tui_summary *s = &app->summaries[*model];
    int by, bx, bw;
    char size[32], ratio[32];

    tui_centered_box(8, 76, "Export", &by, &bx, &bw);
    tui_format_bytes(s->plan_bytes, size, sizeof size);
    tui_format_ratio(s->plan_ratio, s->plan_estimated, ratio, sizeof ratio);
    tui_putf(by + 1, bx + 2, bw - 4, TUI_NORMAL,
             "model %s: %zu tensors, tensors predicted %s%s, %s",
             tui_model_label(app, *model),
             app->ws->models[*model].n_tensors, s->plan_estimated ? "~" : "",
             size, ratio);
    tui_put(by + 2, bx + 2, bw - 4, TUI_HEADER, "output path");
    tui_put(by + 5, bx + 2, bw - 4, TUI_DIM, "Enter: export   Esc: cancel");

    *y = by + 3;
    *x = bx + 2;
    *width = bw - 4;
}

static void tui_draw_progress(tui_export_run *run, uint64_t done,
                              uint64_t total)
{
    int y, x, width;
    char done_text[32], total_text[32];

    if (tui_too_small()) {
        refresh();
        return;
    }
    tui_centered_box(7, 70, "Exporting", &y, &x, &width);
    tui_putf(y + 1, x + 2, width - 4, TUI_NORMAL, "%s", run->path);
    tui_putf(y + 2, x + 2, width - 4, TUI_DIM, "%s", run->label);

    int bar_width = width - 4 - 6;
    int filled = total > 0 ? (int)((double)bar_width * (double)done /
                                   (double)total)
                           : 0;
    if (filled > bar_width)
        filled = bar_width;
    tui_fill(y + 3, x + 2, bar_width, TUI_DIM);
    for (int i = 0; i < filled; i++)
        tui_put(y + 3, x + 2 + i, 1, TUI_BAR, "#");
    tui_putf(y + 3, x + 2 + bar_width + 1, 5, TUI_NORMAL, "%3d%%",
             run->permille / 10);

    tui_format_bytes(done, done_text, sizeof done_text);
    tui_format_bytes(total, total_text, sizeof total_text);
    tui_putf(y + 4, x + 2, width - 4, TUI_DIM, "%s of %s   Esc: cancel",
             done_text, total_text);
    refresh();
}

/* Polls the keyboard without waiting and redraws the box only when the
 * figure or the label changes. el_export calls it between tensors on the
 * calling thread, which curses requires because it is not thread-safe. */
static int tui_export_progress(void *ctx, uint64_t done, uint64_t total,
                               const char *label)
{
    tui_export_run *run = ctx;
    int key;

    nodelay(stdscr, TRUE);
    while ((key = getch()) != ERR) {
        if (key == KEY_ESCAPE)
            run->cancelled = 1;
        else if (key == KEY_RESIZE)
            run->background_drawn = 0;
    }
    nodelay(stdscr, FALSE);

    int permille = total > 0 ? (int)(1000.0 * (double)done / (double)total) : 0;
    if (permille > 1000)
        permille = 1000;
    label = label != NULL ? label : "";

    int changed = permille != run->permille || strcmp(label, run->label) != 0;
    if (!run->background_drawn) {
        tui_draw(run->app);
        run->background_drawn = 1;
        changed = 1;
    }
    if (changed) {
        run->permille = permille;
        snprintf(run->label, sizeof run->label, "%s", label);
        tui_draw_progress(run, done, total);
    }
    return run->cancelled;
}

/* Asks whether to replace an existing file. Returns 1 for yes. */
static int tui_confirm_overwrite(tui_app *app, const char *path)
{
    for (;;) {
        tui_draw(app);
        if (!tui_too_small()) {
            int y, x, width;
            tui_centered_box(5, 76, "File exists", &y, &x, &width);
            tui_putf(y + 1, x + 2, width - 4, TUI_NORMAL, "%s", path);
            tui_put(y + 2, x + 2, width - 4, TUI_NORMAL,
                    "Replace it? y: replace   n or Esc: keep it");
        }
        refresh();

        int key = getch();
        if (key == 'y' || key == 'Y')
            return 1;
        if (key != KEY_RESIZE)
            return 0;
    }
}

static void tui_export_finish(tui_app *app, size_t model, const char *path,
                              el_export_report *report)
{
    if (app->has_report)
        el_export_report_free(&app->report);
    app->report = *report;
    app->has_report = 1;
    app->report_model = model;
    snprintf(app->report_path, sizeof app->report_path, "%s", path);
    tui_open_screen(app, TUI_REPORT);

    char stored[32];
    tui_format_bytes(report->stored, stored, sizeof stored);
    tui_set_status(app, 0, "exported %s to %s: %s", tui_model_label(app, model),
                   path, stored);
}

void tui_export_dialog(tui_app *app)
{
    size_t model = app->model;
    char path[TUI_PATH_MAX];

    if (app->summaries_stale)
        tui_summaries_refresh(app);
    snprintf(path, sizeof path, "%s.elves", tui_model_label(app, model));
    if (!tui_edit_line(app, "", path, sizeof path, tui_export_frame, &model,
                       NULL))
        return;
    if (path[0] == '\0') {
        tui_set_status(app, 1, "no output path given; nothing exported");
        return;
    }
    if (access(path, F_OK) == 0 && !tui_confirm_overwrite(app, path)) {
        tui_set_status(app, 0, "kept %s; nothing exported", path);
        return;
    }

    tui_export_run run = {app, model, path, 0, 0, -1, ""};
    el_export_report report;
    el_error err;
    memset(&report, 0, sizeof report);

    if (el_export(app->ws, model, path, tui_export_progress, &run, &report,
                  &err) == 0) {
        tui_export_finish(app, model, path, &report);
        return;
    }

    el_export_report_free(&report);
    if (run.cancelled) {
        tui_set_status(app, 0, "export cancelled; nothing written to %s", path);
        return;
    }
    tui_message_box(app, "Export failed", err.msg);
    tui_set_status(app, 1, "export failed; nothing written to %s", path);
}
