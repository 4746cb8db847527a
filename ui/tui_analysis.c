/* The terminal application's view of the background analysis: progress
 * for the title bar, and the checks that hold back actions until the
 * layers they need are analysed. */
#include <ncurses.h>
#include <stdio.h>

#include "tui_app.h"

static int tui_percent(const tui_app *app)
{
    if (app->analysis_total == 0)
        return 100;
    return (int)(100.0 * (double)app->analysis_done / (double)app->analysis_total);
}

/* Swaps in the exact predictions that are done and follows the pass's
 * progress for the title bar. */
static void tui_exact_poll(tui_app *app)
{
    uint64_t done, total;
    int finished;
    el_workspace_exact_progress(app->ws, &done, &total, &finished);
    app->exact_done = done;
    app->exact_total = total;
    app->exact_finished = finished;

    if (el_workspace_apply_exact(app->ws) == 0)
        return;
    app->summaries_stale = 1;
    if (app->sort != TUI_SORT_NAME && app->sort != TUI_SORT_SIZE)
        tui_rows_rebuild(app);
}

void tui_analysis_poll(tui_app *app)
{
    uint64_t done, total;
    int finished;

    el_workspace_analysis_progress(app->ws, &done, &total, &finished);
    if (done != app->analysis_done)
        app->summaries_stale = 1;
    app->analysis_done = done;
    app->analysis_total = total;
    if (app->analysis_finished) {
        tui_exact_poll(app);
        return;
    }
    if (!finished)
        return;

    el_error err;
    app->analysis_finished = 1;
    app->summaries_stale = 1;
    if (el_workspace_analysis_error(app->ws, &err) != 0) {
        app->analysis_failed = 1;
        snprintf(app->analysis_error, sizeof app->analysis_error, "%s", err.msg);
    }
    /* Rows sorted by ratio or entropy were placed before their figures came. */
    if (app->sort != TUI_SORT_NAME && app->sort != TUI_SORT_SIZE)
        tui_rows_rebuild(app);
}

void tui_analysis_label(const tui_app *app, char *buf, size_t len)
{
    if (app->analysis_failed)
        snprintf(buf, len, "analysis failed");
    else if (app->analysis_finished && !app->exact_finished && app->exact_total > 0)
        snprintf(buf, len, "exact figures %d%%",
                 (int)(100.0 * (double)app->exact_done / (double)app->exact_total));
    else if (app->analysis_finished)
        snprintf(buf, len, "%s", "");
    else if (app->analysis_done < app->analysis_total)
        snprintf(buf, len, "analysing %d%%", tui_percent(app));
    else
        snprintf(buf, len, "finding duplicates");
}

#define KEY_ESCAPE 27

/* Draws a box saying what waits for what, until ready(app, model, tensor)
 * returns 1 (then 1), or the user presses Esc, input is gone or the
 * analysis ends without it (then 0). The screen behind keeps updating. */
static int tui_wait(tui_app *app, const char *text,
                    int (*ready)(const tui_app *app, size_t model, size_t tensor),
                    size_t model, size_t tensor)
{
    for (;;) {
        tui_draw(app);
        if (ready(app, model, tensor))
            return 1;
        if (app->analysis_finished)
            return 0;

        char progress[48];
        tui_analysis_label(app, progress, sizeof progress);
        tui_busy_notice("Waiting for the analysis", text);
        if (!tui_too_small()) {
            int width = COLS - 4 < 64 ? COLS - 4 : 64;
            tui_putf((LINES - 3) / 2 + 2, (COLS - width) / 2 + 2, width - 4, TUI_DIM,
                     " %s   Esc: cancel ", progress);
            refresh();
        }

        int key = tui_read_key(app);
        if (key == KEY_ESCAPE || key == ERR)
            return 0;
    }
}

static int tui_all_ready(const tui_app *app, size_t model, size_t tensor)
{
    (void)model;
    (void)tensor;
    return app->analysis_finished && !app->analysis_failed;
}

static int tui_one_ready(const tui_app *app, size_t model, size_t tensor)
{
    return el_layer_ready(app->ws, model, tensor);
}

int tui_analysis_done(tui_app *app, const char *action)
{
    char text[128];

    snprintf(text, sizeof text, "%s starts once every layer is analysed", action);
    if (tui_wait(app, text, tui_all_ready, 0, 0))
        return 1;
    if (app->analysis_failed)
        tui_set_status(app, 1, "%s needs every layer analysed, but the analysis "
                       "failed: %s", action, app->analysis_error);
    else
        tui_set_status(app, 0, "%s cancelled while waiting for the analysis", action);
    return 0;
}

int tui_layer_usable(tui_app *app, size_t model, size_t tensor)
{
    const char *name = app->ws->models[model].tensors[tensor].name;
    char text[128];

    el_workspace_prioritise(app->ws, model, tensor);
    snprintf(text, sizeof text, "analysing %s first", name);
    if (tui_wait(app, text, tui_one_ready, model, tensor))
        return 1;
    if (app->analysis_finished)
        tui_set_status(app, 1, "%s has no analysis because the analysis failed: %s",
                       name, app->analysis_error);
    else
        tui_set_status(app, 0, "cancelled while %s was still analysing", name);
    return 0;
}

void tui_analysis_report_failure(tui_app *app)
{
    char text[TUI_STATUS_MAX + 128];

    if (!app->analysis_failed || app->analysis_error_shown)
        return;
    app->analysis_error_shown = 1;
    snprintf(text, sizeof text, "%s. The layers analysed before the failure "
             "keep their figures; plans and export need every layer.",
             app->analysis_error);
    tui_message_box(app, "Analysis failed", text);
    tui_set_status(app, 1, "analysis failed: %s", app->analysis_error);
}
