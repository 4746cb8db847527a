/* The overview. With several models open it starts with the base and the
 * bytes the models share. Then come per model its files, size, dtype mix,
 * duplicates and the predicted ratio of every codec and of the plan. */
#include <ncurses.h>
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "tui_app.h"

/* Column where values start, after the labels. */
#define TUI_VALUE_X 18

/* Columns of the family tables: the model label, then cells such as
 * "45.1% 1023.9 KiB", right-aligned. */
#define TUI_FAMILY_LABEL 16
#define TUI_FAMILY_CELL 18

static void tui_summarize(const el_workspace *ws, size_t m, tui_summary *s)
{
    const el_model *model = &ws->models[m];
    size_t n_codecs = el_codec_count();

    memset(s, 0, sizeof *s);
    s->duplicates_ready = el_workspace_duplicates_ready(ws);
    for (size_t t = 0; t < model->n_tensors; t++) {
        const el_tensor *tensor = &model->tensors[t];
        const el_layer *layer = &ws->layers[m][t];

        s->dtype_count[tensor->dtype]++;
        s->dtype_bytes[tensor->dtype] += tensor->nbytes;
        if (!el_layer_ready(ws, m, t))
            continue;
        s->layers_ready++;
        if (s->duplicates_ready && layer->dup.is_duplicate && layer->dup.of.model == m) {
            s->dup_tensors++;
            s->dup_bytes += tensor->nbytes;
        } else if (s->duplicates_ready && layer->dup.is_duplicate) {
            s->dup_other_tensors++;
            s->dup_other_bytes += tensor->nbytes;
        }

        s->plan_bytes += el_layer_predicted_bytes(ws, m, t);
        if (layer->chosen < 0)
            s->layers_without_codec++;
        else if (layer->pred[layer->chosen].estimated)
            s->plan_estimated = 1;

        for (size_t c = 0; c < n_codecs && c < EL_MAX_CODECS; c++) {
            if (layer->pred[c].applicable && layer->pred[c].estimated)
                s->codec_estimated[c] = 1;
        }
    }

    for (size_t c = 0; c < n_codecs && c < EL_MAX_CODECS; c++)
        s->codec_ratio[c] = el_model_predicted_ratio(ws, m, el_codecs[c]);
    s->plan_ratio = el_model_predicted_ratio(ws, m, NULL);
}

void tui_summaries_refresh(tui_app *app)
{
    for (size_t m = 0; m < app->ws->n_models; m++)
        tui_summarize(app->ws, m, &app->summaries[m]);
    app->summaries_stale = 0;
}

static void tui_label(int y, const char *label)
{
    tui_put(y, 4, TUI_VALUE_X - 5, TUI_HEADER, label);
}

/* A bar whose length is the predicted stored share of the original size, so
 * shorter is better. */
static void tui_ratio_line(tui_page *page, const char *name, double ratio,
                           int estimated, int highlight)
{
    int y = tui_page_next(page);
    char text[32];
    int bar_x = TUI_VALUE_X + 26;
    int bar_room = COLS - bar_x - 2;

    tui_format_ratio(ratio, estimated, text, sizeof text);
    tui_put(y, 6, TUI_VALUE_X - 7, highlight ? TUI_GOOD : TUI_NORMAL, name);
    tui_put(y, TUI_VALUE_X, 10, highlight ? TUI_GOOD : TUI_NORMAL, text);
    if (ratio > 0) {
        tui_putf(y, TUI_VALUE_X + 10, 14, TUI_DIM, "%5.1f%% stored",
                 100.0 / ratio);
        if (bar_room > 4 && ratio >= 1) {
            int len = (int)((double)bar_room / ratio + 0.5);
            for (int i = 0; i < len; i++)
                tui_put(y, bar_x + i, 1, TUI_BAR, "#");
        }
    }
}

/* The format's metadata summary (GGUF key-values, ONNX producer) as
 * "key value" lines, one per entry. */
static void tui_metadata_lines(tui_page *page, const el_model *model)
{
    cJSON *root = model->metadata_json ? cJSON_Parse(model->metadata_json) : NULL;
    const cJSON *item;
    int first = 1;
    cJSON_ArrayForEach(item, root) {
        int y = tui_page_next(page);
        if (first)
            tui_label(y, "metadata");
        first = 0;
        char *value = cJSON_IsString(item) ? NULL : cJSON_PrintUnformatted(item);
        tui_putf(y, TUI_VALUE_X, COLS - TUI_VALUE_X - 1, TUI_NORMAL, "%-28s %s",
                 item->string, value ? value : item->valuestring);
        cJSON_free(value);
    }
    cJSON_Delete(root);
}

static void tui_model_section(tui_app *app, tui_page *page, size_t m)
{
    const el_model *model = &app->ws->models[m];
    const tui_summary *s = &app->summaries[m];
    char a[64], b[64];
    int y;

    y = tui_page_next(page);
    if (app->ws->n_models > 1 && m == app->model)
        tui_put(y, 0, 2, TUI_GOOD, ">");
    tui_putf(y, 2, COLS - 4, TUI_HEADER, "%s%s", tui_model_label(app, m),
             (long)m == app->ws->base ? " (base)" : "");

    y = tui_page_next(page);
    tui_label(y, "path");
    tui_put(y, TUI_VALUE_X, COLS - TUI_VALUE_X - 1, TUI_NORMAL, model->path);

    y = tui_page_next(page);
    tui_label(y, "format");
    tui_putf(y, TUI_VALUE_X, COLS - TUI_VALUE_X - 1, TUI_NORMAL,
             "%s, %zu file%s, %zu tensors", model->format, model->n_files,
             model->n_files == 1 ? "" : "s", model->n_tensors);

    tui_metadata_lines(page, model);

    y = tui_page_next(page);
    tui_label(y, "parameters");
    tui_format_count(el_model_parameters(model), a, sizeof a);
    tui_put(y, TUI_VALUE_X, COLS - TUI_VALUE_X - 1, TUI_NORMAL, a);

    y = tui_page_next(page);
    tui_label(y, "tensor bytes");
    tui_format_bytes(el_model_tensor_bytes(model), a, sizeof a);
    tui_format_count(el_model_tensor_bytes(model), b, sizeof b);
    tui_putf(y, TUI_VALUE_X, COLS - TUI_VALUE_X - 1, TUI_NORMAL, "%s (%s B)",
             a, b);

    int first_dtype = 1;
    for (int dt = 0; dt < EL_DTYPE_COUNT; dt++) {
        if (s->dtype_count[dt] == 0)
            continue;
        y = tui_page_next(page);
        if (first_dtype)
            tui_label(y, "dtypes");
        first_dtype = 0;
        tui_format_bytes(s->dtype_bytes[dt], a, sizeof a);
        tui_putf(y, TUI_VALUE_X, COLS - TUI_VALUE_X - 1, TUI_NORMAL,
                 "%-8s %6llu tensors  %s", el_dtype_name((el_dtype)dt),
                 (unsigned long long)s->dtype_count[dt], a);
    }

    int partial = s->layers_ready < model->n_tensors;
    if (partial) {
        y = tui_page_next(page);
        tui_label(y, "analysed");
        tui_putf(y, TUI_VALUE_X, COLS - TUI_VALUE_X - 1, TUI_DIM,
                 "%zu of %zu layers so far; figures below are partial",
                 s->layers_ready, model->n_tensors);
    }

    y = tui_page_next(page);
    tui_label(y, "duplicates");
    if (!s->duplicates_ready) {
        tui_put(y, TUI_VALUE_X, COLS - TUI_VALUE_X - 1, TUI_DIM,
                "..  found after every layer is analysed");
    } else {
        tui_format_bytes(s->dup_bytes, a, sizeof a);
        tui_putf(y, TUI_VALUE_X, COLS - TUI_VALUE_X - 1, TUI_NORMAL,
                 "%zu tensor%s (%s) repeat an earlier tensor of this model",
                 s->dup_tensors, s->dup_tensors == 1 ? "" : "s", a);
        if (app->ws->n_models > 1) {
            y = tui_page_next(page);
            tui_format_bytes(s->dup_other_bytes, a, sizeof a);
            tui_putf(y, TUI_VALUE_X, COLS - TUI_VALUE_X - 1, TUI_NORMAL,
                     "%zu tensor%s (%s) repeat a tensor of an earlier model",
                     s->dup_other_tensors, s->dup_other_tensors == 1 ? "" : "s", a);
        }
    }

    y = tui_page_next(page);
    tui_label(y, "plan size");
    tui_format_bytes(s->plan_bytes, a, sizeof a);
    tui_format_ratio(s->plan_ratio, s->plan_estimated, b, sizeof b);
    tui_putf(y, TUI_VALUE_X, COLS - TUI_VALUE_X - 1, TUI_NORMAL,
             "%s%s predicted for the tensors, %s for the model%s",
             s->plan_estimated ? "~" : "", a, b,
             partial ? " (partial)" : "");
    if (s->layers_without_codec > 0) {
        y = tui_page_next(page);
        tui_putf(y, TUI_VALUE_X, COLS - TUI_VALUE_X - 1, TUI_ERROR,
                 "%zu layer%s no codec that honours the bound",
                 s->layers_without_codec,
                 s->layers_without_codec == 1 ? " has" : "s have");
    }

    y = tui_page_next(page);
    tui_label(y, "codec ratios");
    tui_put(y, TUI_VALUE_X, COLS - TUI_VALUE_X - 1, TUI_DIM,
            partial ? "partial: the analysed layers only, each with one codec"
                    : "whole model, every layer with one codec (~ from samples)");
    for (size_t c = 0; el_codecs[c] != NULL && c < EL_MAX_CODECS; c++)
        tui_ratio_line(page, el_codecs[c]->name, s->codec_ratio[c],
                       s->codec_estimated[c], 0);
    tui_ratio_line(page, "plan", s->plan_ratio, s->plan_estimated, 1);
}

/* A family cell: bytes as a percent of whole, then the size. */
static void tui_share_cell(int y, int x, uint64_t bytes, uint64_t whole)
{
    char size[32];

    tui_format_bytes(bytes, size, sizeof size);
    tui_putf(y, x, TUI_FAMILY_CELL, TUI_NORMAL, "%*s%5.1f%% %10s",
             TUI_FAMILY_CELL - 17, "",
             whole > 0 ? 100.0 * (double)bytes / (double)whole : 0.0, size);
}

static void tui_family_label(const tui_app *app, int y, size_t m)
{
    char fitted[TUI_FAMILY_LABEL + 1];

    tui_fit_name(tui_model_label(app, m), TUI_FAMILY_LABEL - 1, fitted,
                 sizeof fitted);
    tui_put(y, 4, TUI_FAMILY_LABEL, (long)m == app->ws->base ? TUI_GOOD
                                                           : TUI_NORMAL,
            fitted);
}

/* Bytes of each model's CDC chunks whose content also occurs in another
 * model: row i, column j is shared_bytes[i][j] as a share of model i's
 * chunked bytes. Columns that do not fit are left out with a note. */
static void tui_shared_matrix(tui_app *app, tui_page *page)
{
    const el_dedup_report *r = &app->dedup.report;
    size_t n = r->n_models;
    int x0 = 4 + TUI_FAMILY_LABEL;
    int room = (COLS - x0 - 1) / TUI_FAMILY_CELL;
    size_t columns = room > 0 ? (size_t)room : 0;
    if (columns > n)
        columns = n;

    int y = tui_page_next(page);
    tui_put(y, 2, COLS - 3, TUI_HEADER,
            "Shared bytes: a row model's CDC chunks also found in the column model");
    y = tui_page_next(page);
    for (size_t j = 0; j < columns; j++) {
        char fitted[TUI_FAMILY_CELL];
        tui_fit_name(tui_model_label(app, j), TUI_FAMILY_CELL - 2, fitted,
                     sizeof fitted);
        tui_putf(y, x0 + (int)j * TUI_FAMILY_CELL, TUI_FAMILY_CELL, TUI_DIM,
                 "%*s", TUI_FAMILY_CELL, fitted);
    }

    for (size_t i = 0; i < n; i++) {
        uint64_t whole = r->models[i].cdc.bytes;
        y = tui_page_next(page);
        tui_family_label(app, y, i);
        for (size_t j = 0; j < columns; j++) {
            int x = x0 + (int)j * TUI_FAMILY_CELL;
            if (i == j)
                tui_putf(y, x, TUI_FAMILY_CELL, TUI_DIM, "%*s",
                         TUI_FAMILY_CELL, "-");
            else
                tui_share_cell(y, x, r->shared_bytes[i * n + j], whole);
        }
    }
    if (columns < n) {
        y = tui_page_next(page);
        tui_putf(y, 4, COLS - 5, TUI_DIM,
                 "%zu more column%s: widen the terminal to see %s",
                 n - columns, n - columns == 1 ? "" : "s",
                 n - columns == 1 ? "it" : "them");
    }
}

/* Per model, the bytes that repeat an earlier piece (of the same model or
 * of an earlier one) when cut into whole tensors, CDC chunks or fixed-size
 * chunks. */
static void tui_dedup_levels(tui_app *app, tui_page *page)
{
    const el_dedup_report *r = &app->dedup.report;
    int x0 = 4 + TUI_FAMILY_LABEL;
    char size[32], fixed[48];

    tui_format_bytes(r->fixed_size, size, sizeof size);
    snprintf(fixed, sizeof fixed, "fixed %s", size);
    int y = tui_page_next(page);
    tui_put(y, 2, COLS - 3, TUI_HEADER,
            "Duplicate bytes: repeats of an earlier piece, per granularity");
    y = tui_page_next(page);
    tui_putf(y, x0, COLS - x0 - 1, TUI_DIM, "%*s%*s%*s", TUI_FAMILY_CELL,
             "tensors", TUI_FAMILY_CELL, "CDC chunks", TUI_FAMILY_CELL,
             fixed);

    for (size_t m = 0; m < r->n_models; m++) {
        const el_model_dedup *d = &r->models[m];
        const el_chunk_counts *levels[3] = {&d->tensor, &d->cdc, &d->fixed};
        y = tui_page_next(page);
        tui_family_label(app, y, m);
        for (int level = 0; level < 3; level++)
            tui_share_cell(y, x0 + level * TUI_FAMILY_CELL,
                           levels[level]->dup_bytes + levels[level]->cross_bytes,
                           levels[level]->bytes);
    }
}

static void tui_family_section(tui_app *app, tui_page *page)
{
    const el_workspace *ws = app->ws;
    int y;

    y = tui_page_next(page);
    tui_putf(y, 2, COLS - 4, TUI_HEADER, "Family of %zu models", ws->n_models);

    y = tui_page_next(page);
    tui_label(y, "base model");
    if (ws->base >= 0)
        tui_putf(y, TUI_VALUE_X, COLS - TUI_VALUE_X - 1, TUI_GOOD,
                 "%s; auto may store the others' layers as deltas against it",
                 tui_model_label(app, (size_t)ws->base));
    else
        tui_put(y, TUI_VALUE_X, COLS - TUI_VALUE_X - 1, TUI_DIM,
                "none; m makes the current model the base");

    if (!app->analysis_finished) {
        y = tui_page_next(page);
        tui_label(y, "duplicates");
        tui_put(y, TUI_VALUE_X, COLS - TUI_VALUE_X - 1, TUI_DIM,
                "..  shared bytes are measured after the analysis");
        return;
    }
    if (app->dedup.state != 1) {
        y = tui_page_next(page);
        tui_label(y, "duplicates");
        tui_putf(y, TUI_VALUE_X, COLS - TUI_VALUE_X - 1, TUI_ERROR,
                 "analysis failed: %s",
                 app->dedup.state == -1 ? app->dedup.error : "not run");
        return;
    }
    tui_page_next(page);
    tui_shared_matrix(app, page);
    tui_page_next(page);
    tui_dedup_levels(app, page);
}

void tui_overview_draw(tui_app *app, int top, int height)
{
    tui_page page = tui_page_begin(&app->overview_scroll, top, height);

    if (app->ws->n_models > 1) {
        tui_family_section(app, &page);
        tui_page_next(&page);
    }
    for (size_t m = 0; m < app->ws->n_models; m++) {
        if (m > 0)
            tui_page_next(&page);
        tui_model_section(app, &page, m);
    }
    tui_page_end(&app->overview_scroll, &page);
}
