/* The key bindings: one table that both dispatches keys and feeds the help
 * screen, and the small actions behind it. Actions that edit the plan or
 * export live in tui_edit.c and tui_export.c. */
#include <limits.h>
#include <ncurses.h>
#include <stdio.h>

#include "tui_app.h"

#define KEY_ESCAPE 27
#define KEY_TAB '\t'

/* Returns pos moved by delta and clamped to [0, last], without overflow
 * for any delta. */
static size_t tui_step(size_t pos, long delta, size_t last)
{
    if (pos > last)
        pos = last;
    if (delta < 0) {
        size_t up = (size_t)(-(delta + 1)) + 1;
        return up > pos ? 0 : pos - up;
    }

    size_t down = (size_t)delta;
    return down > last - pos ? last : pos + down;
}

void tui_scroll_by(tui_scroll *scroll, long delta)
{
    size_t last = scroll->lines > scroll->page ? scroll->lines - scroll->page : 0;

    scroll->top = tui_step(scroll->top, delta, last);
}

static tui_scroll *tui_current_scroll(tui_app *app)
{
    switch (app->screen) {
    case TUI_OVERVIEW:
        return &app->overview_scroll;
    case TUI_DETAIL:
        return &app->detail_scroll;
    case TUI_REPORT:
        return &app->report_scroll;
    case TUI_HELP:
        return &app->help_scroll;
    case TUI_TABLE:
    case TUI_DEDUP:
    case TUI_SCREEN_COUNT:
        break;
    }
    return NULL;
}

/* Moves the table or dedup cursor by delta rows, or scrolls a text
 * screen. */
static void tui_move(tui_app *app, long delta)
{
    tui_scroll *scroll = tui_current_scroll(app);

    if (app->screen == TUI_DEDUP) {
        tui_dedup_move(app, delta);
        return;
    }
    if (scroll != NULL) {
        tui_scroll_by(scroll, delta);
        return;
    }
    if (app->n_rows == 0)
        return;

    app->selected = tui_step(app->selected, delta, app->n_rows - 1);
    app->model = app->rows[app->selected].model;
}

static long tui_page_lines(const tui_app *app)
{
    size_t page = app->table_page;

    switch (app->screen) {
    case TUI_OVERVIEW:
        page = app->overview_scroll.page;
        break;
    case TUI_DETAIL:
        page = app->detail_scroll.page;
        break;
    case TUI_REPORT:
        page = app->report_scroll.page;
        break;
    case TUI_HELP:
        page = app->help_scroll.page;
        break;
    case TUI_DEDUP:
        page = app->dedup.page;
        break;
    case TUI_TABLE:
    case TUI_SCREEN_COUNT:
        break;
    }
    return page > 1 ? (long)page - 1 : 1;
}

static void act_up(tui_app *app) { tui_move(app, -1); }
static void act_down(tui_app *app) { tui_move(app, 1); }
static void act_page_up(tui_app *app) { tui_move(app, -tui_page_lines(app)); }
static void act_page_down(tui_app *app) { tui_move(app, tui_page_lines(app)); }
static void act_home(tui_app *app) { tui_move(app, -LONG_MAX); }
static void act_end(tui_app *app) { tui_move(app, LONG_MAX); }

static void act_detail(tui_app *app)
{
    if (tui_selected_row(app) == NULL) {
        tui_set_status(app, 1, "no layer matches the filter");
        return;
    }
    app->detail_scroll.top = 0;
    app->detail_return = TUI_TABLE;
    tui_open_screen(app, TUI_DETAIL);
}

/* Steps through layers in table order without leaving the detail screen. */
static void act_previous_layer(tui_app *app)
{
    if (app->selected > 0) {
        app->selected--;
        app->model = app->rows[app->selected].model;
        app->detail_scroll.top = 0;
    }
}

static void act_next_layer(tui_app *app)
{
    if (app->selected + 1 < app->n_rows) {
        app->selected++;
        app->model = app->rows[app->selected].model;
        app->detail_scroll.top = 0;
    }
}

static void tui_switch_model(tui_app *app, long step)
{
    size_t n = app->ws->n_models;

    if (n < 2) {
        tui_set_status(app, 0, "only one model is open");
        return;
    }
    app->model = (size_t)(((long)app->model + step + (long)n) % (long)n);

    for (size_t i = 0; i < app->n_rows; i++) {
        if (app->rows[i].model == app->model) {
            app->selected = i;
            break;
        }
    }
    tui_set_status(app, 0, "model %s", tui_model_label(app, app->model));
}

static void act_next_model(tui_app *app) { tui_switch_model(app, 1); }
static void act_previous_model(tui_app *app) { tui_switch_model(app, -1); }

static void act_back(tui_app *app)
{
    switch (app->screen) {
    case TUI_HELP:
        app->screen = app->help_return;
        break;
    case TUI_DETAIL:
        app->screen = app->detail_return;
        break;
    case TUI_REPORT:
        app->screen = TUI_TABLE;
        break;
    case TUI_DEDUP:
        app->screen = app->ws->n_models > 1 ? TUI_OVERVIEW : TUI_TABLE;
        break;
    case TUI_TABLE:
        if (app->filter[0] != '\0') {
            app->filter[0] = '\0';
            tui_rows_rebuild(app);
            tui_set_status(app, 0, "filter cleared");
        }
        break;
    case TUI_OVERVIEW:
    case TUI_SCREEN_COUNT:
        break;
    }
}

/* q leaves a sub-screen and quits from the two top screens without asking,
 * as in ncdu and htop. NOTE: bound and codec edits that were not exported
 * are lost on quit. */
static void act_quit(tui_app *app)
{
    if (app->screen == TUI_OVERVIEW || app->screen == TUI_TABLE)
        app->quit = 1;
    else
        act_back(app);
}

static void act_help(tui_app *app)
{
    if (app->screen == TUI_HELP) {
        act_back(app);
        return;
    }
    app->help_return = app->screen;
    app->help_scroll.top = 0;
    app->screen = TUI_HELP;
}

static void act_overview(tui_app *app) { tui_open_screen(app, TUI_OVERVIEW); }
static void act_table(tui_app *app) { tui_open_screen(app, TUI_TABLE); }
static void act_dedup(tui_app *app) { tui_open_screen(app, TUI_DEDUP); }

/* Makes the current model the base of the others, or clears the base when
 * the current model is the base already. el_workspace_set_base predicts
 * every delta codec on every paired layer, which takes a while on large
 * models, so a notice stays up meanwhile. */
static void act_toggle_base(tui_app *app)
{
    el_workspace *ws = app->ws;
    const char *label = tui_model_label(app, app->model);
    long base = ws->base == (long)app->model ? -1 : (long)app->model;
    el_error err;

    if (ws->n_models < 2) {
        tui_set_status(app, 1, "a base needs a second model to encode; open "
                       "the base and its fine-tunes together");
        return;
    }
    if (!tui_analysis_done(app, "setting the base"))
        return;

    char notice[TUI_STATUS_MAX];
    if (base >= 0)
        snprintf(notice, sizeof notice, "Pairing layers with base %s...", label);
    else
        snprintf(notice, sizeof notice, "Clearing the base...");
    tui_busy_notice("Base model", notice);

    if (el_workspace_set_base(ws, base, &err) != 0) {
        /* With base -1, el_workspace_set_base only unpairs every layer and
         * predicts nothing, so it returns 0 and leaves no layer half paired
         * with the failed base. */
        el_error ignored;
        el_workspace_set_base(ws, -1, &ignored);
        tui_plan_changed(app);
        tui_set_status(app, 1, "cannot make %s the base: %s; no base is set",
                       label, err.msg);
        return;
    }
    tui_plan_changed(app);
    if (base >= 0)
        tui_set_status(app, 0, "%s is the base: auto may store the other "
                       "models' layers as deltas against it", label);
    else
        tui_set_status(app, 0, "base cleared: every model is stored on its own");
}

static void act_report(tui_app *app)
{
    if (!app->has_report) {
        tui_set_status(app, 0, "no export yet: press e to export");
        return;
    }
    tui_open_screen(app, TUI_REPORT);
}

static void act_sort(tui_app *app)
{
    static const char *const names[TUI_SORT_COUNT] = {
        "name", "size (largest first)", "ratio (highest first)",
        "exponent entropy (lowest first)",
    };

    app->sort = (tui_sort)((app->sort + 1) % TUI_SORT_COUNT);
    tui_rows_rebuild(app);
    tui_set_status(app, 0, "sorted by %s", names[app->sort]);
}

#define ON_TOP (TUI_ON(TUI_OVERVIEW) | TUI_ON(TUI_TABLE))
#define ON_LAYER (TUI_ON(TUI_TABLE) | TUI_ON(TUI_DETAIL))

const tui_binding tui_bindings[] = {
    {{KEY_UP, 'k'}, "Up k", TUI_ON_ALL, "move up one line", act_up},
    {{KEY_DOWN, 'j'}, "Down j", TUI_ON_ALL, "move down one line", act_down},
    {{KEY_PPAGE}, "PgUp", TUI_ON_ALL, "move up one page", act_page_up},
    {{KEY_NPAGE, ' '}, "PgDn Space", TUI_ON_ALL, "move down one page",
     act_page_down},
    {{KEY_HOME, 'g'}, "Home g", TUI_ON_ALL, "go to the first line", act_home},
    {{KEY_END, 'G'}, "End G", TUI_ON_ALL, "go to the last line", act_end},
    {{'\n', '\r', KEY_ENTER}, "Enter", TUI_ON(TUI_TABLE),
     "open the selected layer's detail", act_detail},
    {{KEY_LEFT, 'h'}, "Left h", TUI_ON(TUI_DETAIL), "previous layer",
     act_previous_layer},
    {{KEY_RIGHT, 'l'}, "Right l", TUI_ON(TUI_DETAIL), "next layer",
     act_next_layer},
    {{KEY_TAB, ']', KEY_RIGHT, 'l'}, "Tab ] Right l", ON_TOP,
     "next model (when several are open)", act_next_model},
    {{KEY_BTAB, '[', KEY_LEFT, 'h'}, "S-Tab [ Left h", ON_TOP,
     "previous model", act_previous_model},
    {{'1'}, "1", TUI_ON_ALL, "overview", act_overview},
    {{'2'}, "2", TUI_ON_ALL, "layer table", act_table},
    {{'3'}, "3", TUI_ON_ALL,
     "duplicates: identical tensors and repeated chunks", act_dedup},
    {{'\n', '\r', KEY_ENTER}, "Enter", TUI_ON(TUI_DEDUP),
     "open the detail of the selected copy", tui_dedup_open_copy},
    {{'s'}, "s", TUI_ON(TUI_TABLE),
     "sort by name, size, ratio or exponent entropy", act_sort},
    {{'/'}, "/", TUI_ON(TUI_TABLE),
     "filter layers by a name substring, ignoring case", tui_edit_filter},
    {{'b'}, "b", ON_LAYER,
     "set the layer's bound: lossless, abs:E or rel:R", tui_edit_bound},
    {{'B'}, "B", TUI_ON(TUI_TABLE),
     "set the bound of every layer the filter shows", tui_edit_bound_all},
    {{'c'}, "c", ON_LAYER,
     "cycle the layer's codec: auto, then each codec for its dtype",
     tui_cycle_codec},
    {{'p'}, "p", ON_TOP | TUI_ON(TUI_DETAIL),
     "switch the policy of auto layers: auto or elves-paper", tui_switch_policy},
    {{'S'}, "S", ON_TOP | TUI_ON(TUI_DETAIL),
     "save the current model's plan to a JSON file", tui_plan_save},
    {{'L'}, "L", ON_TOP | TUI_ON(TUI_DETAIL),
     "load a plan file into the current model", tui_plan_load},
    {{'e'}, "e", ON_TOP | TUI_ON(TUI_DETAIL) | TUI_ON(TUI_REPORT),
     "export the current model to a .elves file", tui_export_dialog},
    {{'E'}, "E", ON_TOP | TUI_ON(TUI_DETAIL),
     "export every open model (but the base) into one family container",
     tui_export_family_dialog},
    {{'m'}, "m", ON_TOP | TUI_ON(TUI_DETAIL),
     "make the current model the base of the others; again clears it",
     act_toggle_base},
    {{'r'}, "r", ON_TOP | TUI_ON(TUI_DETAIL),
     "show the report of the latest export", act_report},
    {{'?', KEY_F(1)}, "? F1", TUI_ON_ALL, "this help", act_help},
    {{KEY_ESCAPE}, "Esc", TUI_ON_ALL,
     "back; on the table, clear the filter first", act_back},
    {{'q'}, "q", TUI_ON_ALL,
     "back; quit on the overview and the table", act_quit},
};

const size_t tui_binding_count = sizeof tui_bindings / sizeof tui_bindings[0];

int tui_dispatch_key(tui_app *app, int key)
{
    unsigned screen = TUI_ON(app->screen);

    for (size_t i = 0; i < tui_binding_count; i++) {
        const tui_binding *binding = &tui_bindings[i];
        if (!(binding->screens & screen))
            continue;

        for (size_t k = 0; k < 4 && binding->keys[k] != 0; k++) {
            if (binding->keys[k] == key) {
                binding->run(app);
                return 1;
            }
        }
    }
    return 0;
}
