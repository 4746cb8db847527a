/* The export dialogs. `e` exports the current model with el_export, and
 * `E` exports every open model but the base into one family container
 * with el_export_models. Both choose the output path, confirm, export with
 * a progress box that Esc cancels, then open the report or show the
 * error. */
#include <ncurses.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../core/container.h"
#include "tui_app.h"

#define KEY_ESCAPE 27

/* What an export writes: one model, or a family container of several. */
typedef struct tui_export_job {
    size_t *models;
    size_t n_models;
    int family;
} tui_export_job;

typedef struct tui_export_run {
    tui_app *app;
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

static int tui_job_has(const tui_export_job *job, size_t model)
{
    for (size_t i = 0; i < job->n_models; i++) {
        if (job->models[i] == model)
            return 1;
    }
    return 0;
}

/* Predicted tensor bytes of a family container: every model's plan, less
 * the tensors that repeat one of an earlier exported model under the same
 * plan, which the container stores once. An estimate: a tensor whose first
 * copy is in a model left out (the base) counts in full. */
static uint64_t tui_family_predicted(const tui_app *app,
                                     const tui_export_job *job)
{
    const el_workspace *ws = app->ws;
    uint64_t total = 0;

    for (size_t i = 0; i < job->n_models; i++) {
        size_t m = job->models[i];
        for (size_t t = 0; t < ws->models[m].n_tensors; t++) {
            const el_layer *layer = &ws->layers[m][t];
            const el_tensor_ref of = layer->dup.of;
            if (layer->dup.is_duplicate && of.model != m &&
                tui_job_has(job, of.model)) {
                const el_layer *first = &ws->layers[of.model][of.tensor];
                if (el_bound_equal(first->bound, layer->bound) &&
                    el_layer_codec(first) == el_layer_codec(layer) &&
                    el_layer_delta(first) == el_layer_delta(layer))
                    continue;
            }
            total += el_layer_predicted_bytes(ws, m, t);
        }
    }
    return total;
}

static void tui_export_summary(tui_app *app, const tui_export_job *job,
                               char *buf, size_t len)
{
    char size[32], ratio[32];

    if (!job->family) {
        size_t model = job->models[0];
        const tui_summary *s = &app->summaries[model];
        tui_format_bytes(s->plan_bytes, size, sizeof size);
        tui_format_ratio(s->plan_ratio, s->plan_estimated, ratio, sizeof ratio);
        snprintf(buf, len, "model %s: %zu tensors, tensors predicted %s%s, %s",
                 tui_model_label(app, model), app->ws->models[model].n_tensors,
                 s->plan_estimated ? "~" : "", size, ratio);
        return;
    }

    size_t tensors = 0;
    for (size_t i = 0; i < job->n_models; i++)
        tensors += app->ws->models[job->models[i]].n_tensors;
    tui_format_bytes(tui_family_predicted(app, job), size, sizeof size);
    int used = snprintf(buf, len, "%zu model%s, %zu tensors, ~%s predicted",
                        job->n_models, job->n_models == 1 ? "" : "s", tensors,
                        size);
    if (app->ws->base >= 0 && used > 0 && (size_t)used < len)
        snprintf(buf + used, len - (size_t)used, "; base %s left out",
                 tui_model_label(app, (size_t)app->ws->base));
}

static void tui_export_frame(tui_app *app, void *ctx, int *y, int *x,
                             int *width)
{
    const tui_export_job *job = ctx;
    int by, bx, bw;
    char summary[TUI_PATH_MAX];

    tui_centered_box(8, 76, job->family ? "Export family" : "Export", &by,
                     &bx, &bw);
    tui_export_summary(app, job, summary, sizeof summary);
    tui_put(by + 1, bx + 2, bw - 4, TUI_NORMAL, summary);
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

        int key = tui_read_key(app);
        if (key == 'y' || key == 'Y')
            return 1;
        if (key != KEY_RESIZE && key != TUI_KEY_IDLE)
            return 0;
    }
}

/* Whether some layer went out as a delta, so that restoring needs the
 * base model. */
static int tui_report_uses_delta(const el_export_report *report)
{
    for (size_t i = 0; i < report->n_layers; i++) {
        const char *codec = report->layers[i].codec;
        if (codec != NULL && el_delta_codec_find(codec) != NULL)
            return 1;
    }
    return 0;
}

static void tui_export_finish(tui_app *app, const tui_export_job *job,
                              const char *path, el_export_report *report)
{
    size_t model = job->models[0];

    if (app->has_report)
        el_export_report_free(&app->report);
    app->report = *report;
    app->has_report = 1;
    app->report_model = model;
    snprintf(app->report_path, sizeof app->report_path, "%s", path);
    tui_open_screen(app, TUI_REPORT);

    char stored[32], what[TUI_PATH_MAX / 4];
    tui_format_bytes(report->stored, stored, sizeof stored);
    if (job->family)
        snprintf(what, sizeof what, "%zu model%s", job->n_models,
                 job->n_models == 1 ? "" : "s");
    else
        snprintf(what, sizeof what, "%s", tui_model_label(app, model));

    if (app->ws->base >= 0 && tui_report_uses_delta(&app->report))
        tui_set_status(app, 0, "exported %s to %s: %s; restoring needs "
                       "--base %s", what, path, stored,
                       app->ws->models[app->ws->base].path);
    else
        tui_set_status(app, 0, "exported %s to %s: %s", what, path, stored);
}

static int tui_export_write(tui_app *app, const tui_export_job *job,
                            const char *path, tui_export_run *run,
                            el_export_report *report, el_error *err)
{
    /* The pass computing exact predictions waits, so the export has every
     * core. */
    el_workspace_pause_exact(app->ws, 1);
    int rc = job->family
        ? el_export_models(app->ws, job->models, job->n_models, path, tui_export_progress, run,
                           report, err)
        : el_export(app->ws, job->models[0], path, tui_export_progress, run, report, err);
    el_workspace_pause_exact(app->ws, 0);
    return rc;
}

/* Asks for the output path, starting from default_path, and exports. */
static void tui_export_run_dialog(tui_app *app, tui_export_job *job,
                                  const char *default_path)
{
    char path[TUI_PATH_MAX];

    if (!tui_analysis_done(app, "export"))
        return;
    if (app->summaries_stale)
        tui_summaries_refresh(app);
    snprintf(path, sizeof path, "%s", default_path);
    if (!tui_edit_line(app, "", path, sizeof path, tui_export_frame, job,
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

    tui_export_run run = {app, path, 0, 0, -1, ""};
    el_export_report report;
    el_error err;
    memset(&report, 0, sizeof report);

    if (tui_export_write(app, job, path, &run, &report, &err) == 0) {
        tui_export_finish(app, job, path, &report);
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

void tui_export_dialog(tui_app *app)
{
    size_t model = app->model;
    tui_export_job job = {&model, 1, 0};
    char path[TUI_PATH_MAX];

    snprintf(path, sizeof path, "%s.elves", tui_model_label(app, model));
    tui_export_run_dialog(app, &job, path);
}

/* Exports every open model into one container, leaving out the base: its
 * fine-tunes are stored as deltas against it, and restoring them needs the
 * base file itself. */
void tui_export_family_dialog(tui_app *app)
{
    const el_workspace *ws = app->ws;
    tui_export_job job = {NULL, 0, 1};

    job.models = malloc(ws->n_models * sizeof *job.models);
    if (job.models == NULL) {
        tui_set_status(app, 1, "out of memory starting the family export");
        return;
    }
    for (size_t m = 0; m < ws->n_models; m++) {
        if ((long)m != ws->base)
            job.models[job.n_models++] = m;
    }
    tui_export_run_dialog(app, &job, "family.elves");
    free(job.models);
}
