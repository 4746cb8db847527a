/* The export report: per layer the achieved against the predicted size,
 * the codec and the measured error, with the totals above. */
#include <ncurses.h>
#include <stdio.h>
#include <string.h>

#include "tui_app.h"

/* Widths of the columns after the name, in order: codec, original,
 * predicted, achieved, ratio, max error. */
static const int tui_report_widths[6] = {10, 10, 10, 10, 8, 10};

static void tui_report_totals(const tui_app *app, int y)
{
    const el_export_report *r = &app->report;
    char original[32], predicted[32], stored[32], ratio[32], plan[32];

    tui_format_bytes(r->original, original, sizeof original);
    tui_format_bytes(r->predicted, predicted, sizeof predicted);
    tui_format_bytes(r->stored, stored, sizeof stored);
    tui_format_ratio(r->stored ? (double)r->original / (double)r->stored : 0,
                     0, ratio, sizeof ratio);
    tui_format_ratio(r->predicted ? (double)r->original / (double)r->predicted
                                  : 0,
                     0, plan, sizeof plan);

    tui_putf(y, 1, COLS - 2, TUI_HEADER, "%s -> %s",
             tui_model_label(app, app->report_model), app->report_path);
    tui_putf(y + 1, 2, COLS - 3, TUI_NORMAL,
             "original %s   predicted %s (%s)   achieved %s (%s)", original,
             predicted, plan, stored, ratio);
    tui_putf(y + 2, 2, COLS - 3, TUI_DIM,
             "%zu layers; sizes are bytes of tensor payload, totals whole files",
             r->n_layers);
}

static void tui_report_row(const el_export_layer *layer, int y, int name_width,
                           int selected_role)
{
    char cells[6][40], fitted[512];
    int x = 1;

    snprintf(cells[0], sizeof cells[0], "%s", layer->codec ? layer->codec : "-");
    tui_format_bytes(layer->original, cells[1], sizeof cells[1]);
    tui_format_bytes(layer->predicted, cells[2], sizeof cells[2]);
    if (layer->duplicate) {
        snprintf(cells[3], sizeof cells[3], "dup");
        snprintf(cells[4], sizeof cells[4], "dup");
    } else {
        tui_format_bytes(layer->stored, cells[3], sizeof cells[3]);
        tui_format_ratio(layer->stored ? (double)layer->original /
                                             (double)layer->stored
                                       : 0,
                         0, cells[4], sizeof cells[4]);
    }
    if (layer->lossless)
        snprintf(cells[5], sizeof cells[5], "exact");
    else
        tui_format_error(layer->error.max_abs, cells[5], sizeof cells[5]);

    tui_fit_name(layer->name, (size_t)name_width, fitted, sizeof fitted);
    tui_put(y, x, name_width, (tui_role)selected_role, fitted);
    x += name_width + 1;
    for (int c = 0; c < 6; c++) {
        int width = tui_report_widths[c];
        int pad = c == 0 ? 0 : width - (int)strlen(cells[c]);
        tui_put(y, x + (pad > 0 ? pad : 0), width, TUI_NORMAL, cells[c]);
        x += width + 1;
    }
}

void tui_report_draw(tui_app *app, int top, int height)
{
    static const char *const titles[6] = {"codec", "original", "predicted",
                                          "achieved", "ratio", "max error"};

    if (!app->has_report) {
        tui_put(top + 1, 2, COLS - 4, TUI_DIM, "no export yet: press e");
        return;
    }
    tui_report_totals(app, top);

    int name_width = COLS - 2;
    for (int c = 0; c < 6; c++)
        name_width -= tui_report_widths[c] + 1;
    if (name_width < 8)
        name_width = 8;

    int y = top + 4;
    int x = 1;
    tui_put(y, x, name_width, TUI_HEADER, "name");
    x += name_width + 1;
    for (int c = 0; c < 6; c++) {
        int width = tui_report_widths[c];
        int pad = c == 0 ? 0 : width - (int)strlen(titles[c]);
        tui_put(y, x + pad, width - pad, TUI_HEADER, titles[c]);
        x += width + 1;
    }

    tui_page page = tui_page_begin(&app->report_scroll, y + 1,
                                   height - (y + 1 - top));
    for (size_t i = 0; i < app->report.n_layers; i++)
        tui_report_row(&app->report.layers[i], tui_page_next(&page),
                       name_width, TUI_NORMAL);
    tui_page_end(&app->report_scroll, &page);
}
