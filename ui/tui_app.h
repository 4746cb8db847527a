/* State and functions shared by the screens of the terminal application.
 * Private to ui/tui_*.c; only el_tui_run is public.
 *
 * Every screen has a draw function that paints stdscr and writes no state
 * except its own scroll position, and every key goes through the binding
 * table in tui_keys.c, whose rows the help screen also draws. */
#ifndef ELVES_TUI_APP_H
#define ELVES_TUI_APP_H

#include <stddef.h>
#include <stdint.h>

#include "../core/chunks.h"
#include "../core/container.h"
#include "../core/workspace.h"

/* Below this size the screens do not fit and a notice is drawn instead. */
#define TUI_MIN_COLS 50
#define TUI_MIN_LINES 12

#define TUI_FILTER_MAX 128
#define TUI_PATH_MAX 4096
#define TUI_STATUS_MAX 512

typedef enum tui_screen {
    TUI_OVERVIEW,
    TUI_TABLE,
    TUI_DETAIL,
    TUI_DEDUP,
    TUI_REPORT,
    TUI_HELP,
    TUI_SCREEN_COUNT
} tui_screen;

#define TUI_ON(screen) (1u << (screen))
#define TUI_ON_ALL ((1u << TUI_SCREEN_COUNT) - 1u)

typedef enum tui_sort {
    TUI_SORT_NAME,    /* ascending, then model */
    TUI_SORT_SIZE,    /* largest first */
    TUI_SORT_RATIO,   /* highest predicted ratio first */
    TUI_SORT_ENTROPY, /* lowest exponent entropy first */
    TUI_SORT_COUNT
} tui_sort;

/* Colour roles. tui_draw.c maps each to a colour pair or, on a monochrome
 * terminal, to an attribute. */
typedef enum tui_role {
    TUI_NORMAL,
    TUI_TITLE,
    TUI_STATUS,
    TUI_HEADER,
    TUI_CURSOR,
    TUI_BAR,
    TUI_ERROR,
    TUI_DIM,
    TUI_GOOD,
    TUI_BOX,
    TUI_ROLE_COUNT
} tui_role;

/* One row of the layer table: a tensor that passes the filter. */
typedef struct tui_row {
    size_t model;
    size_t tensor;
} tui_row;

/* A scrollable text screen: first visible line, lines in the document and
 * lines that fit, the last two as measured by the latest draw. */
typedef struct tui_scroll {
    size_t top;
    size_t lines;
    size_t page;
} tui_scroll;

/* Figures of one model for the overview, recomputed when a plan changes. */
typedef struct tui_summary {
    uint64_t dtype_count[EL_DTYPE_COUNT];
    uint64_t dtype_bytes[EL_DTYPE_COUNT];
    size_t dup_tensors;        /* repeats of an earlier tensor of the model */
    uint64_t dup_bytes;
    size_t dup_other_tensors;  /* repeats of an earlier model's tensor */
    uint64_t dup_other_bytes;
    double codec_ratio[EL_MAX_CODECS];
    int codec_estimated[EL_MAX_CODECS]; /* some layer's figure is a sample's */
    double plan_ratio;
    int plan_estimated;
    uint64_t plan_bytes;
    size_t layers_without_codec;
    size_t layers_ready;       /* analysed layers, which the figures cover */
    int duplicates_ready;      /* the dup figures are complete */
} tui_summary;

/* One line of the dedup screen. Only copy lines take the cursor. */
typedef enum tui_dedup_kind {
    TUI_DEDUP_BLANK,
    TUI_DEDUP_HEADING,     /* a section title */
    TUI_DEDUP_NONE,        /* the section has no groups */
    TUI_DEDUP_GROUP,       /* a set of identical tensors or chunks */
    TUI_DEDUP_COPY,        /* one copy: group and copy index */
    TUI_DEDUP_MORE         /* copies of a chunk group the report does not list */
} tui_dedup_kind;

typedef struct tui_dedup_line {
    tui_dedup_kind kind;
    int chunk;             /* group indexes chunk_groups, else tensor_groups */
    size_t group;
    size_t copy;
} tui_dedup_line;

/* The duplicate report across every open model, built once on first use
 * because it reads every byte of every model. */
typedef struct tui_dedup {
    int state;             /* 0 not built yet, 1 built, -1 failed */
    char error[TUI_STATUS_MAX];
    el_dedup_report report;
    tui_dedup_line *lines;
    size_t n_lines;
    size_t selected;       /* index into lines, always a copy line when any */
    size_t top;            /* first line drawn */
    size_t page;           /* lines that fit, from the latest draw */
} tui_dedup;

/* Where `c` resumes cycling after a codec was rejected, so the user can
 * step past codecs that cannot honour the layer's bound. */
typedef struct tui_codec_cursor {
    int valid;
    size_t model;
    size_t tensor;
    size_t option; /* 0 is auto, i > 0 is el_codecs[i - 1] */
} tui_codec_cursor;

typedef struct tui_app {
    el_workspace *ws;
    char **model_labels;    /* short name of each model, for columns */
    tui_screen screen;
    tui_screen help_return; /* screen that `?` was pressed on */
    int quit;

    tui_row *rows;
    size_t n_rows;
    size_t selected;        /* index into rows */
    size_t table_top;       /* first row drawn */
    size_t table_page;      /* rows that fit, from the latest draw */
    tui_sort sort;
    char filter[TUI_FILTER_MAX];

    size_t model;           /* model the overview marks and export writes */
    tui_summary *summaries; /* one per model */
    int summaries_stale;

    tui_scroll overview_scroll;
    tui_scroll detail_scroll;
    tui_scroll report_scroll;
    tui_scroll help_scroll;
    tui_screen detail_return; /* screen that Esc on the detail goes back to */

    tui_dedup dedup;

    el_export_report report;
    int has_report;
    char report_path[TUI_PATH_MAX];
    size_t report_model;

    tui_codec_cursor codec_cursor;

    char status[TUI_STATUS_MAX];
    int status_is_error;

    /* The background analysis as of the latest tui_analysis_poll. */
    uint64_t analysis_done;     /* bytes */
    uint64_t analysis_total;
    int analysis_finished;      /* ended, by success or failure */
    int analysis_failed;
    int analysis_error_shown;   /* the failure's message box was drawn */
    char analysis_error[TUI_STATUS_MAX];

    /* The pass that replaces estimated predictions with exact ones. */
    uint64_t exact_done;        /* bytes */
    uint64_t exact_total;
    int exact_finished;
} tui_app;

/* tui_app.c */
void tui_set_status(tui_app *app, int is_error, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void tui_draw(tui_app *app);
void tui_open_screen(tui_app *app, tui_screen screen);
const char *tui_model_label(const tui_app *app, size_t model);
/* Draws a box with text over the current screen and shows it at once, for
 * work that keeps the loop from reading keys for a while. */
void tui_busy_notice(const char *title, const char *text);

/* Returned by tui_read_key when no key came within the refresh interval. */
#define TUI_KEY_IDLE (KEY_MAX + 1)

/* Reads a key. While the analysis runs it waits at most the refresh
 * interval and returns TUI_KEY_IDLE, so callers redraw the progress. ERR
 * means that input is gone. */
int tui_read_key(const tui_app *app);

/* tui_analysis.c */
/* Reads the analysis progress into app and, when it has just finished,
 * re-sorts the table and marks the overview stale. */
void tui_analysis_poll(tui_app *app);
/* The title bar's progress: "analysing 37%", "finding duplicates",
 * "analysis failed", or "" when done. */
void tui_analysis_label(const tui_app *app, char *buf, size_t len);
/* Waits until the whole analysis has succeeded, with a box naming the
 * action (a phrase such as "export") and the progress,
 * while the screen behind keeps updating. Returns 1 then, or 0 with a
 * status when the user pressed Esc or the analysis failed. */
int tui_analysis_done(tui_app *app, const char *action);
/* Like tui_analysis_done for one layer, which the workers take next. */
int tui_layer_usable(tui_app *app, size_t model, size_t tensor);
/* Shows the analysis error in a message box, once. */
void tui_analysis_report_failure(tui_app *app);

/* tui_keys.c */
typedef struct tui_binding {
    int keys[4];           /* curses key codes, 0-terminated */
    const char *label;     /* the keys as the help screen shows them */
    unsigned screens;      /* TUI_ON() mask of the screens it works on */
    const char *help;
    void (*run)(tui_app *app);
} tui_binding;

extern const tui_binding tui_bindings[];
extern const size_t tui_binding_count;

/* Runs the binding for key on the current screen. Returns 1, or 0 when
 * the screen has no binding for the key. */
int tui_dispatch_key(tui_app *app, int key);

/* tui_draw.c */
void tui_colors_init(void);
int tui_attr(tui_role role);
void tui_put(int y, int x, int width, tui_role role, const char *text);
void tui_putf(int y, int x, int width, tui_role role, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
void tui_fill(int y, int x, int width, tui_role role);
void tui_box(int y, int x, int height, int width, const char *title);
void tui_message_box(tui_app *app, const char *title, const char *text);
int tui_too_small(void);

/* A text screen being drawn line by line: lines above the scroll position
 * or below the screen are counted but not drawn, which gives the document
 * length for scrolling without building it first. */
typedef struct tui_page {
    int top;
    int height;
    size_t first; /* first document line shown */
    size_t line;  /* next document line */
} tui_page;

tui_page tui_page_begin(const tui_scroll *scroll, int top, int height);
/* Screen row of the next document line, or -1 when it is off screen (every
 * tui_put* call ignores row -1). */
int tui_page_next(tui_page *page);
void tui_page_end(tui_scroll *scroll, const tui_page *page);

/* tui_format.c */
void tui_format_bytes(uint64_t bytes, char *buf, size_t len);
void tui_format_count(uint64_t n, char *buf, size_t len);
void tui_format_ratio(double ratio, int estimated, char *buf, size_t len);
void tui_format_error(double error, char *buf, size_t len);
void tui_fit_name(const char *name, size_t width, char *buf, size_t len);
void tui_sanitize(const char *text, char *buf, size_t len);
const char *tui_codec_label(const el_layer *layer, char *buf, size_t len);

/* tui_table.c */
int tui_rows_rebuild(tui_app *app);
const tui_row *tui_selected_row(const tui_app *app);
/* Moves the table cursor to a tensor. Returns 1, or 0 when the filter
 * hides it. */
int tui_select_tensor(tui_app *app, size_t model, size_t tensor);
void tui_table_draw(tui_app *app, int top, int height);
/* Whether a layer has a base tensor with the same bytes, found from the
 * duplicate analysis without reading either tensor. */
int tui_layer_matches_base(const el_workspace *ws, size_t model, size_t tensor);

/* tui_overview.c */
void tui_summaries_refresh(tui_app *app);
void tui_overview_draw(tui_app *app, int top, int height);

/* tui_dedup.c */
/* Builds the duplicate report if it is not built yet, with a notice on the
 * screen meanwhile. On failure dedup.state is -1 and dedup.error contains the reason. */
void tui_dedup_ensure(tui_app *app);
void tui_dedup_free(tui_app *app);
void tui_dedup_draw(tui_app *app, int top, int height);
/* Moves the cursor by delta copy lines, clamped to the first and last. */
void tui_dedup_move(tui_app *app, long delta);
/* The tensor holding the selected copy. Returns 0 when nothing is selected. */
int tui_dedup_selected(const tui_app *app, size_t *model, size_t *tensor);
void tui_dedup_open_copy(tui_app *app);

/* tui_detail.c */
void tui_detail_draw(tui_app *app, int top, int height);

/* tui_edit.c */
typedef void (*tui_frame_fn)(tui_app *app, void *ctx, int *y, int *x,
                             int *width);
int tui_edit_line(tui_app *app, const char *label, char *text, size_t cap,
                  tui_frame_fn frame, void *frame_ctx,
                  void (*on_change)(tui_app *app, const char *text));
void tui_edit_filter(tui_app *app);
void tui_edit_bound(tui_app *app);
void tui_edit_bound_all(tui_app *app);
void tui_cycle_codec(tui_app *app);

/* Marks the overview stale and re-sorts the table after any plan change. */
void tui_plan_changed(tui_app *app);

/* tui_plan.c */
void tui_plan_save(tui_app *app);
void tui_plan_load(tui_app *app);
void tui_switch_policy(tui_app *app);

/* tui_export.c */
void tui_export_dialog(tui_app *app);
void tui_export_family_dialog(tui_app *app);

/* tui_report.c */
void tui_report_draw(tui_app *app, int top, int height);

/* tui_help.c */
void tui_help_draw(tui_app *app, int top, int height);

/* tui_keys.c: scrolls a text screen by delta lines, clamped. */
void tui_scroll_by(tui_scroll *scroll, long delta);

#endif
