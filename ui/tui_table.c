/* The layer table: the filtered, sorted rows and the columns that fit. */
#include <langinfo.h>
#include <math.h>
#include <ncurses.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tui_app.h"

/* Names shorter than this make rows hard to tell apart, so narrower
 * terminals lose columns instead. */
#define TUI_NAME_MIN 24

typedef enum tui_column {
    COL_NAME,
    COL_MODEL,
    COL_DTYPE,
    COL_SHAPE,
    COL_SIZE,
    COL_ABS_LT_1,
    COL_ENTROPY,
    COL_DUP,
    COL_BASE,
    COL_CODEC,
    COL_BOUND,
    COL_RATIO,
    COL_COUNT
} tui_column;

typedef struct tui_column_spec {
    const char *title;
    int width;        /* 0 for the name, which takes the rest */
    int right_align;
} tui_column_spec;

static const tui_column_spec tui_columns[COL_COUNT] = {
    [COL_NAME] = {"name", 0, 0},
    [COL_MODEL] = {"model", 12, 0},
    [COL_DTYPE] = {"dtype", 7, 0},
    [COL_SHAPE] = {"shape", 13, 0},
    [COL_SIZE] = {"size", 9, 1},
    [COL_ABS_LT_1] = {"|w|<1", 6, 1},
    [COL_ENTROPY] = {"expH", 5, 1},
    [COL_DUP] = {"dup of", 16, 0},
    [COL_BASE] = {"base", 6, 1}, /* tui_base_title adds a delta sign */
    [COL_CODEC] = {"codec", 14, 0},
    [COL_BOUND] = {"bound", 10, 0},
    [COL_RATIO] = {"ratio", 7, 1},
};

/* A row with its sort keys, so the comparators need no other state. */
typedef struct tui_sort_item {
    tui_row row;
    const char *name;
    uint64_t bytes;
    double ratio;   /* 0 when no codec fits */
    double entropy; /* INFINITY for dtypes without an exponent */
} tui_sort_item;

static int tui_compare_position(const tui_sort_item *a, const tui_sort_item *b)
{
    if (a->row.model != b->row.model)
        return a->row.model < b->row.model ? -1 : 1;
    if (a->row.tensor != b->row.tensor)
        return a->row.tensor < b->row.tensor ? -1 : 1;
    return 0;
}

static int tui_compare_name(const void *pa, const void *pb)
{
    const tui_sort_item *a = pa, *b = pb;
    int c = strcmp(a->name, b->name);
    return c != 0 ? c : tui_compare_position(a, b);
}

static int tui_compare_size(const void *pa, const void *pb)
{
    const tui_sort_item *a = pa, *b = pb;
    if (a->bytes != b->bytes)
        return a->bytes > b->bytes ? -1 : 1;
    return tui_compare_position(a, b);
}

static int tui_compare_ratio(const void *pa, const void *pb)
{
    const tui_sort_item *a = pa, *b = pb;
    if (a->ratio != b->ratio)
        return a->ratio > b->ratio ? -1 : 1;
    return tui_compare_position(a, b);
}

static int tui_compare_entropy(const void *pa, const void *pb)
{
    const tui_sort_item *a = pa, *b = pb;
    if (a->entropy != b->entropy)
        return a->entropy < b->entropy ? -1 : 1;
    return tui_compare_position(a, b);
}

/* The prediction of the codec the layer will be exported with: a delta
 * codec when auto chose one, else the standalone choice, or NULL. */
static const el_prediction *tui_chosen_prediction(const el_layer *layer)
{
    if (layer->chosen_delta >= 0)
        return &layer->delta_pred[layer->chosen_delta];
    if (layer->chosen >= 0)
        return &layer->pred[layer->chosen];
    return NULL;
}

static tui_sort_item tui_sort_item_of(const el_workspace *ws, size_t m,
                                      size_t t)
{
    const el_tensor *tensor = &ws->models[m].tensors[t];
    const el_layer *layer = &ws->layers[m][t];
    tui_sort_item item = {{m, t}, tensor->name, tensor->nbytes, 0, INFINITY};

    if (!el_layer_ready(ws, m, t))
        return item;
    const el_prediction *pred = tui_chosen_prediction(layer);
    if (pred != NULL)
        item.ratio = isnan(pred->ratio) ? 0 : pred->ratio;
    if (layer->stats.exponent_hist != NULL)
        item.entropy = layer->stats.exponent_entropy;
    return item;
}

const tui_row *tui_selected_row(const tui_app *app)
{
    if (app->selected >= app->n_rows)
        return NULL;
    return &app->rows[app->selected];
}

int tui_select_tensor(tui_app *app, size_t model, size_t tensor)
{
    for (size_t i = 0; i < app->n_rows; i++) {
        if (app->rows[i].model == model && app->rows[i].tensor == tensor) {
            app->selected = i;
            return 1;
        }
    }
    return 0;
}

int tui_rows_rebuild(tui_app *app)
{
    const el_workspace *ws = app->ws;
    size_t total = 0;

    for (size_t m = 0; m < ws->n_models; m++)
        total += ws->models[m].n_tensors;

    tui_sort_item *items = malloc((total ? total : 1) * sizeof *items);
    tui_row *rows = malloc((total ? total : 1) * sizeof *rows);
    if (items == NULL || rows == NULL) {
        free(items);
        free(rows);
        return -1;
    }

    size_t n = 0;
    for (size_t m = 0; m < ws->n_models; m++) {
        for (size_t t = 0; t < ws->models[m].n_tensors; t++) {
            const char *name = ws->models[m].tensors[t].name;
            if (app->filter[0] == '\0' || strcasestr(name, app->filter) != NULL)
                items[n++] = tui_sort_item_of(ws, m, t);
        }
    }

    static int (*const comparators[TUI_SORT_COUNT])(const void *,
                                                    const void *) = {
        [TUI_SORT_NAME] = tui_compare_name,
        [TUI_SORT_SIZE] = tui_compare_size,
        [TUI_SORT_RATIO] = tui_compare_ratio,
        [TUI_SORT_ENTROPY] = tui_compare_entropy,
    };
    qsort(items, n, sizeof *items, comparators[app->sort]);
    for (size_t i = 0; i < n; i++)
        rows[i] = items[i].row;
    free(items);

    /* Keep the cursor on the same tensor when it is still listed. */
    const tui_row *old = tui_selected_row(app);
    tui_row keep = old != NULL ? *old : (tui_row){app->model, 0};
    int had_selection = old != NULL;

    free(app->rows);
    app->rows = rows;
    app->n_rows = n;
    app->selected = 0;
    if (had_selection)
        tui_select_tensor(app, keep.model, keep.tensor);
    return 0;
}

static void tui_drop_column(tui_column c, int widths[COL_COUNT], int *used)
{
    if (widths[c] > 0) {
        *used -= widths[c] + 1;
        widths[c] = 0;
    }
}

static int tui_longest_name(const tui_app *app)
{
    size_t longest = 0;

    for (size_t i = 0; i < app->n_rows; i++) {
        const tui_row *r = &app->rows[i];
        size_t len = strlen(app->ws->models[r->model].tensors[r->tensor].name);
        if (len > longest)
            longest = len;
    }
    return longest > 60 ? 60 : (int)longest;
}

/* Sets the width of every column for a terminal this wide; 0 hides one.
 * Columns go in drop order until the name gets TUI_NAME_MIN, then the
 * statistics columns go while the longest name still does not fit. The
 * name and dup-of share what is left. */
static void tui_layout(const tui_app *app, int width, int widths[COL_COUNT])
{
    int several = app->ws->n_models > 1;
    int used = 0;

    for (int c = 0; c < COL_COUNT; c++) {
        widths[c] = tui_columns[c].width;
        if ((c == COL_MODEL && !several) || (c == COL_BASE && app->ws->base < 0))
            widths[c] = 0;
        if (c != COL_NAME && widths[c] > 0)
            used += widths[c] + 1;
    }

    /* Across models dup-of is what the user came for, so it stays longer. */
    static const tui_column one_model[] = {
        COL_SHAPE, COL_DUP, COL_ABS_LT_1, COL_ENTROPY, COL_DTYPE,
        COL_SIZE, COL_BOUND,
    };
    static const tui_column several_models[] = {
        COL_SHAPE, COL_ABS_LT_1, COL_ENTROPY, COL_DTYPE, COL_DUP,
        COL_SIZE, COL_MODEL, COL_BOUND, COL_BASE,
    };
    const tui_column *order = several ? several_models : one_model;
    size_t n_order = several ? sizeof several_models / sizeof *several_models
                             : sizeof one_model / sizeof *one_model;
    for (size_t i = 0; i < n_order && width - used < TUI_NAME_MIN; i++)
        tui_drop_column(order[i], widths, &used);

    static const tui_column optional[] = {COL_SHAPE, COL_ABS_LT_1, COL_ENTROPY};
    int longest = tui_longest_name(app);
    for (size_t i = 0; i < sizeof optional / sizeof *optional; i++) {
        if (width - used >= longest)
            break;
        tui_drop_column(optional[i], widths, &used);
    }

    int room = width - used;
    if (widths[COL_DUP] > 0) {
        used -= widths[COL_DUP];
        room = width - used;
        int share = room / 3;
        int dup = share > tui_columns[COL_DUP].width ? share
                                                     : tui_columns[COL_DUP].width;
        if (room - dup > longest)
            dup = room - longest;
        widths[COL_DUP] = dup;
        room -= dup;
    }
    widths[COL_NAME] = room > 1 ? room : 1;
}

/* The title of the base column: a Greek capital delta before "base", or a
 * "d" when the terminal's character set is not UTF-8. Right-aligned in
 * width columns. */
static void tui_base_title(int y, int x, int width)
{
    const char *codeset = nl_langinfo(CODESET);
    int utf8 = codeset != NULL && strcmp(codeset, "UTF-8") == 0;
    int pad = width - 5;

    if (y < 0 || x + width > COLS || pad < 0)
        return;
    if (utf8) {
        attrset(tui_attr(TUI_HEADER));
        mvaddstr(y, x + pad, "\xce\x94");
        attrset(A_NORMAL);
    } else {
        tui_put(y, x + pad, 1, TUI_HEADER, "d");
    }
    tui_put(y, x + pad + 1, 4, TUI_HEADER, "base");
}

int tui_layer_matches_base(const el_workspace *ws, size_t model, size_t tensor)
{
    const el_layer *layer = &ws->layers[model][tensor];

    if (el_layer_base_tensor(ws, layer) == NULL)
        return 0;
    if (ws->models[model].tensors[tensor].nbytes == 0)
        return 1; /* pairing requires equal sizes, and empty tensors never count as duplicates */

    /* A duplicate points at the first copy of its bytes, which is not
     * itself a duplicate, so two tensors are identical exactly when they
     * lead to the same first copy. */
    el_tensor_ref mine = {model, tensor};
    el_tensor_ref base = {(size_t)ws->base, (size_t)layer->base_tensor};
    if (layer->dup.is_duplicate)
        mine = layer->dup.of;
    const el_layer *base_layer = &ws->layers[base.model][base.tensor];
    if (base_layer->dup.is_duplicate)
        base = base_layer->dup.of;
    return mine.model == base.model && mine.tensor == base.tensor;
}

/* How far a layer moved from its base tensor: "=" when bit-identical,
 * else the relative L2 change. Blank when it has no base tensor. */
static void tui_base_cell(const tui_app *app, const tui_row *row,
                          char *buf, size_t len)
{
    const el_workspace *ws = app->ws;
    const el_layer *layer = &ws->layers[row->model][row->tensor];

    buf[0] = '\0';
    if (el_layer_base_tensor(ws, layer) == NULL)
        return;

    double change = layer->base_rel_l2;
    if (tui_layer_matches_base(ws, row->model, row->tensor))
        snprintf(buf, len, "=");
    else if (isnan(change))
        snprintf(buf, len, "diff"); /* an integer tensor that changed */
    else if (isinf(change))
        snprintf(buf, len, "inf");
    else if (change == 0 || change >= 0.01)
        snprintf(buf, len, "%.2f", change);
    else
        snprintf(buf, len, "%.0e", change);
}

/* Whether the figures of a column are known for the row: the header's
 * columns at once, the analysis columns once the layer is ready, and
 * dup-of once the duplicates are found. */
static int tui_cell_ready(const tui_app *app, const tui_row *row, tui_column col)
{
    switch (col) {
    case COL_ABS_LT_1:
    case COL_ENTROPY:
    case COL_CODEC:
    case COL_RATIO:
    case COL_BASE:
        return el_layer_ready(app->ws, row->model, row->tensor);
    case COL_DUP:
        return el_workspace_duplicates_ready(app->ws);
    case COL_NAME:
    case COL_MODEL:
    case COL_DTYPE:
    case COL_SHAPE:
    case COL_SIZE:
    case COL_BOUND:
    case COL_COUNT:
        break;
    }
    return 1;
}

static void tui_cell(const tui_app *app, const tui_row *row, tui_column col,
                     char *buf, size_t len, tui_role *role)
{
    const el_model *model = &app->ws->models[row->model];
    const el_tensor *t = &model->tensors[row->tensor];
    const el_layer *layer = &app->ws->layers[row->model][row->tensor];

    *role = TUI_NORMAL;
    buf[0] = '\0';
    if (!tui_cell_ready(app, row, col)) {
        *role = TUI_DIM;
        snprintf(buf, len, "..");
        return;
    }
    switch (col) {
    case COL_NAME:
        snprintf(buf, len, "%s", t->name);
        break;
    case COL_MODEL:
        snprintf(buf, len, "%s", tui_model_label(app, row->model));
        break;
    case COL_DTYPE:
        snprintf(buf, len, "%s", el_tensor_type(t));
        break;
    case COL_SHAPE:
        el_shape_format(t, buf, len);
        break;
    case COL_SIZE:
        tui_format_bytes(t->nbytes, buf, len);
        break;
    case COL_ABS_LT_1:
        if (layer->stats.count > 0)
            snprintf(buf, len, "%.1f%%",
                     100.0 * (double)layer->stats.abs_lt_1 /
                         (double)layer->stats.count);
        else
            snprintf(buf, len, "-");
        break;
    case COL_ENTROPY:
        if (layer->stats.exponent_hist != NULL)
            snprintf(buf, len, "%.2f", layer->stats.exponent_entropy);
        else
            snprintf(buf, len, "-");
        break;
    case COL_DUP:
        *role = TUI_DIM;
        if (!layer->dup.is_duplicate)
            break;
        {
            const el_tensor_ref of = layer->dup.of;
            const char *name = app->ws->models[of.model].tensors[of.tensor].name;
            if (of.model == row->model)
                snprintf(buf, len, "%s", name);
            else
                snprintf(buf, len, "%s:%s", tui_model_label(app, of.model),
                         name);
        }
        break;
    case COL_BASE:
        tui_base_cell(app, row, buf, len);
        break;
    case COL_CODEC:
        if (el_layer_delta(layer) != NULL) {
            snprintf(buf, len, "auto:%s", el_layer_delta(layer)->name);
            break;
        }
        tui_codec_label(layer, buf, len);
        if (el_layer_codec(layer) == NULL)
            *role = TUI_ERROR;
        break;
    case COL_BOUND:
        el_bound_format(layer->bound, buf, len);
        break;
    case COL_RATIO: {
        const el_prediction *pred = tui_chosen_prediction(layer);
        if (pred != NULL)
            tui_format_ratio(pred->ratio, pred->estimated, buf, len);
        else
            snprintf(buf, len, "-");
        break;
    }
    case COL_COUNT:
        break;
    }
}

static void tui_draw_cells(const tui_app *app, const tui_row *row, int y,
                           const int widths[COL_COUNT], int selected)
{
    int x = 0;

    if (selected)
        tui_fill(y, 0, COLS, TUI_CURSOR);
    for (int c = 0; c < COL_COUNT; c++) {
        int width = widths[c];
        if (width == 0)
            continue;

        char text[512], fitted[512];
        tui_role role = TUI_NORMAL;

        if (row == NULL && c == COL_BASE) {
            tui_base_title(y, x, width);
            x += width + 1;
            continue;
        }
        if (row == NULL)
            snprintf(text, sizeof text, "%s", tui_columns[c].title);
        else
            tui_cell(app, row, (tui_column)c, text, sizeof text, &role);
        tui_fit_name(text, (size_t)width, fitted, sizeof fitted);

        int pad = tui_columns[c].right_align ? width - (int)strlen(fitted) : 0;
        if (row == NULL)
            role = TUI_HEADER;
        else if (selected)
            role = TUI_CURSOR;
        tui_put(y, x + pad, width - pad, role, fitted);
        x += width + 1;
    }
}

void tui_table_draw(tui_app *app, int top, int height)
{
    int widths[COL_COUNT];
    tui_layout(app, COLS, widths);
    size_t page = height > 1 ? (size_t)height - 1 : 1;

    app->table_page = page;
    tui_draw_cells(app, NULL, top, widths, 0);

    if (app->n_rows == 0) {
        if (app->filter[0] != '\0')
            tui_putf(top + 2, 2, COLS - 4, TUI_DIM,
                     "no layer name contains \"%s\"; Esc clears the filter",
                     app->filter);
        else
            tui_put(top + 2, 2, COLS - 4, TUI_DIM, "the model has no tensors");
        return;
    }

    if (app->selected < app->table_top)
        app->table_top = app->selected;
    if (app->selected >= app->table_top + page)
        app->table_top = app->selected - page + 1;
    if (app->table_top + page > app->n_rows)
        app->table_top = app->n_rows > page ? app->n_rows - page : 0;

    /* Ask for the visible rows first, the top one last so it goes first:
     * their analysis, then their exact predictions. */
    size_t visible_rows = app->n_rows - app->table_top;
    if (visible_rows > page)
        visible_rows = page;
    for (size_t i = visible_rows; i-- > 0;) {
        const tui_row *row = &app->rows[app->table_top + i];
        el_workspace_prioritise(app->ws, row->model, row->tensor);
    }

    for (size_t i = 0; i < page && app->table_top + i < app->n_rows; i++) {
        size_t index = app->table_top + i;
        tui_draw_cells(app, &app->rows[index], top + 1 + (int)i, widths,
                       index == app->selected);
    }
}
