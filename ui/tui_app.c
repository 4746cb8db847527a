/* The application shell: terminal setup and teardown, the event loop, the
 * title bar and the status line. */
#include <locale.h>
#include <ncurses.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tui.h"
#include "tui_app.h"

/* Consecutive failed reads after which input counts as gone (a closed
 * terminal), so the loop ends instead of spinning. */
#define TUI_MAX_READ_ERRORS 100

/* How often the screen redraws while the analysis runs. */
#define TUI_REFRESH_MS 100

static const char *const tui_screen_names[TUI_SCREEN_COUNT] = {
    [TUI_OVERVIEW] = "Overview",
    [TUI_TABLE] = "Layers",
    [TUI_DETAIL] = "Layer detail",
    [TUI_DEDUP] = "Duplicates",
    [TUI_REPORT] = "Export report",
    [TUI_HELP] = "Help",
};

static const char *const tui_screen_hints[TUI_SCREEN_COUNT] = {
    [TUI_OVERVIEW] = "2:layers 3:dedup e:export ?:help q:quit",
    [TUI_TABLE] = "Enter:detail /:filter s:sort b:bound c:codec e:export ?:help",
    [TUI_DETAIL] = "h/l:layer b:bound c:codec Esc:back ?:help",
    [TUI_DEDUP] = "Enter:detail Esc:back ?:help",
    [TUI_REPORT] = "Esc:back ?:help",
    [TUI_HELP] = "Esc:back",
};

void tui_set_status(tui_app *app, int is_error, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(app->status, sizeof app->status, fmt, ap);
    va_end(ap);
    app->status_is_error = is_error;
}

const char *tui_model_label(const tui_app *app, size_t model)
{
    return app->model_labels[model];
}

void tui_open_screen(tui_app *app, tui_screen screen)
{
    if (screen == TUI_REPORT)
        app->report_scroll.top = 0;
    app->screen = screen;
}

/* A model's short name: the base name of its path without a trailing slash
 * or the safetensors suffixes. */
static char *tui_make_label(const char *path)
{
    size_t len = strlen(path);
    while (len > 1 && path[len - 1] == '/')
        len--;

    size_t start = len;
    while (start > 0 && path[start - 1] != '/')
        start--;

    static const char *const suffixes[] = {".safetensors.index.json",
                                           ".safetensors"};
    size_t end = len;
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        size_t n = strlen(suffixes[i]);
        if (end - start > n && strncmp(path + end - n, suffixes[i], n) == 0) {
            end -= n;
            break;
        }
    }
    return strndup(path + start, end - start);
}

static void tui_draw_title(const tui_app *app)
{
    char right[TUI_FILTER_MAX + 128];
    static const char *const sorts[TUI_SORT_COUNT] = {
        "name", "size", "ratio", "entropy"};

    tui_fill(0, 0, COLS, TUI_TITLE);
    tui_putf(0, 1, COLS - 2, TUI_TITLE, "elves | %s",
             tui_screen_names[app->screen]);

    char progress[48];
    tui_analysis_label(app, progress, sizeof progress);
    const char *gap = progress[0] != '\0' ? "  " : "";
    if (app->screen != TUI_TABLE)
        snprintf(right, sizeof right, "%s", progress);
    else if (app->filter[0] != '\0')
        snprintf(right, sizeof right, "%s%ssort:%s  filter:%s  %zu rows",
                 progress, gap, sorts[app->sort], app->filter, app->n_rows);
    else
        snprintf(right, sizeof right, "%s%ssort:%s  %zu rows", progress, gap,
                 sorts[app->sort], app->n_rows);

    int x = COLS - 1 - (int)strlen(right);
    if (x > 24)
        tui_put(0, x, COLS - x, TUI_TITLE, right);
}

static void tui_draw_status(const tui_app *app)
{
    int y = LINES - 1;

    if (app->status[0] != '\0') {
        tui_role role = app->status_is_error ? TUI_ERROR : TUI_STATUS;
        tui_fill(y, 0, COLS, role);
        tui_put(y, 1, COLS - 2, role, app->status);
        return;
    }

    tui_fill(y, 0, COLS, TUI_STATUS);

    char where[600];
    const tui_row *row = tui_selected_row(app);
    int on_layer = app->screen == TUI_TABLE || app->screen == TUI_DETAIL;
    size_t copy_model, copy_tensor;
    if (app->screen == TUI_DEDUP &&
        tui_dedup_selected(app, &copy_model, &copy_tensor))
        snprintf(where, sizeof where, "%s | %s",
                 tui_model_label(app, copy_model),
                 app->ws->models[copy_model].tensors[copy_tensor].name);
    else if (on_layer && row != NULL)
        snprintf(where, sizeof where, "%s | %s",
                 tui_model_label(app, row->model),
                 app->ws->models[row->model].tensors[row->tensor].name);
    else
        snprintf(where, sizeof where, "%s", tui_model_label(app, app->model));

    /* The layer name matters more than the hints, which shrink to one. */
    const char *hints = tui_screen_hints[app->screen];
    if ((int)(strlen(where) + strlen(hints)) + 4 > COLS)
        hints = "?:help";
    int hints_x = COLS - 1 - (int)strlen(hints);
    int where_width = COLS - 2;
    if (hints_x > 20) {
        tui_put(y, hints_x, COLS - hints_x, TUI_STATUS, hints);
        where_width = hints_x - 3;
    }

    char fitted[600];
    tui_fit_name(where, (size_t)where_width, fitted, sizeof fitted);
    tui_put(y, 1, where_width, TUI_STATUS, fitted);
}

void tui_busy_notice(const char *title, const char *text)
{
    if (tui_too_small())
        return;

    int width = COLS - 4 < 64 ? COLS - 4 : 64;
    int y = (LINES - 3) / 2;
    int x = (COLS - width) / 2;
    tui_box(y, x, 3, width, title);
    tui_put(y + 1, x + 2, width - 4, TUI_NORMAL, text);
    refresh();
}

static void tui_draw_too_small(void)
{
    char text[96];

    snprintf(text, sizeof text, "terminal too small (%dx%d); needs %dx%d",
             COLS, LINES, TUI_MIN_COLS, TUI_MIN_LINES);
    int x = (COLS - (int)strlen(text)) / 2;
    tui_put(LINES / 2, x < 0 ? 0 : x, COLS, TUI_NORMAL, text);
}

void tui_draw(tui_app *app)
{
    tui_analysis_poll(app);

    /* The duplicate report reads every byte, so it waits for the analysis
     * rather than compete with it for the disk and the cores. */
    int wants_dedup = app->screen == TUI_DEDUP ||
                      (app->screen == TUI_OVERVIEW && app->ws->n_models > 1);
    if (wants_dedup && app->analysis_finished && !tui_too_small())
        tui_dedup_ensure(app);

    erase();
    if (tui_too_small()) {
        tui_draw_too_small();
        refresh();
        return;
    }
    if (app->summaries_stale)
        tui_summaries_refresh(app);

    int top = 1;
    int height = LINES - 2;

    tui_draw_title(app);
    switch (app->screen) {
    case TUI_OVERVIEW:
        tui_overview_draw(app, top, height);
        break;
    case TUI_TABLE:
        tui_table_draw(app, top, height);
        break;
    case TUI_DETAIL:
        tui_detail_draw(app, top, height);
        break;
    case TUI_DEDUP:
        tui_dedup_draw(app, top, height);
        break;
    case TUI_REPORT:
        tui_report_draw(app, top, height);
        break;
    case TUI_HELP:
        tui_help_draw(app, top, height);
        break;
    case TUI_SCREEN_COUNT:
        break;
    }
    tui_draw_status(app);
    refresh();
}

int tui_read_key(const tui_app *app)
{
    if (app->analysis_finished && (app->exact_finished || app->analysis_failed)) {
        timeout(-1);
        return getch();
    }

    struct timespec start, end;
    clock_gettime(CLOCK_MONOTONIC, &start);
    timeout(TUI_REFRESH_MS);
    int key = getch();
    if (key != ERR)
        return key;

    /* An ERR well before the timeout means input is gone, not idle. */
    clock_gettime(CLOCK_MONOTONIC, &end);
    long elapsed_ms = (long)(end.tv_sec - start.tv_sec) * 1000
                      + (end.tv_nsec - start.tv_nsec) / 1000000;
    return elapsed_ms < TUI_REFRESH_MS / 2 ? ERR : TUI_KEY_IDLE;
}

static void tui_event_loop(tui_app *app)
{
    int read_errors = 0;

    while (!app->quit) {
        tui_draw(app);
        if (app->analysis_failed && !app->analysis_error_shown) {
            tui_analysis_report_failure(app);
            continue;
        }

        int key = tui_read_key(app);
        if (key == TUI_KEY_IDLE)
            continue;
        if (key == ERR) {
            if (++read_errors >= TUI_MAX_READ_ERRORS)
                break;
            continue;
        }
        read_errors = 0;
        if (key == KEY_RESIZE)
            continue;

        app->status[0] = '\0';
        if (!tui_dispatch_key(app, key) && key < KEY_MIN)
            tui_set_status(app, 0, "no action on this key here; ? lists the keys");
    }
}

static void tui_app_free(tui_app *app)
{
    if (app->model_labels != NULL) {
        for (size_t m = 0; m < app->ws->n_models; m++)
            free(app->model_labels[m]);
    }
    free(app->model_labels);
    free(app->rows);
    free(app->summaries);
    tui_dedup_free(app);
    if (app->has_report)
        el_export_report_free(&app->report);
}

static int tui_app_init(tui_app *app, el_workspace *ws, el_error *err)
{
    memset(app, 0, sizeof *app);
    app->ws = ws;
    app->screen = ws->n_models > 1 ? TUI_OVERVIEW : TUI_TABLE;
    app->summaries_stale = 1;
    app->detail_return = TUI_TABLE;

    app->model_labels = calloc(ws->n_models ? ws->n_models : 1,
                               sizeof *app->model_labels);
    app->summaries = calloc(ws->n_models ? ws->n_models : 1,
                            sizeof *app->summaries);
    if (app->model_labels == NULL || app->summaries == NULL)
        return el_fail(err, "out of memory starting the terminal application");

    for (size_t m = 0; m < ws->n_models; m++) {
        app->model_labels[m] = tui_make_label(ws->models[m].path);
        if (app->model_labels[m] == NULL)
            return el_fail(err, "out of memory starting the terminal application");
    }
    if (tui_rows_rebuild(app) != 0)
        return el_fail(err, "out of memory building the layer table");
    return 0;
}

/* Character type only: numbers must keep parsing with '.' as the decimal
 * point whatever the user's locale, and wide-character line drawing needs
 * LC_CTYPE alone. */
static char *tui_set_locale(void)
{
    const char *previous = setlocale(LC_CTYPE, NULL);
    char *saved = previous != NULL ? strdup(previous) : NULL;

    setlocale(LC_CTYPE, "");
    return saved;
}

static void tui_restore_locale(char *saved)
{
    if (saved != NULL)
        setlocale(LC_CTYPE, saved);
    free(saved);
}

int el_tui_run(el_workspace *ws, el_error *err)
{
    if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO))
        return el_fail(err, "the terminal application needs a terminal on "
                            "standard input and output; use `elves inspect` "
                            "in scripts");

    tui_app app;
    if (tui_app_init(&app, ws, err) != 0) {
        tui_app_free(&app);
        return -1;
    }

    char *saved_locale = tui_set_locale();

    /* newterm, unlike initscr, returns NULL instead of exiting when the
     * terminal type is unknown. */
    SCREEN *screen = newterm(NULL, stdout, stdin);
    if (screen == NULL) {
        const char *term = getenv("TERM");
        tui_restore_locale(saved_locale);
        tui_app_free(&app);
        return el_fail(err, "cannot start the terminal application: "
                            "terminal type \"%s\" is unknown; set TERM",
                       term != NULL ? term : "");
    }
    set_term(screen);

    cbreak();
    noecho();
    keypad(stdscr, TRUE);
    set_escdelay(25);
    curs_set(0);
    tui_colors_init();

    tui_event_loop(&app);

    endwin();
    delscreen(screen);
    tui_restore_locale(saved_locale);
    tui_app_free(&app);
    return 0;
}
