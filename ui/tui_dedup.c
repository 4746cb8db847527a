/* The dedup screen: every set of identical tensors, largest saving first,
 * then the largest repeated CDC chunks, each with where every copy lives.
 * Enter opens the layer detail of the copy under the cursor. */
#include <ncurses.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tui_app.h"

/* Worker threads for el_dedup_analyse, as `elves inspect` uses. */
#define TUI_DEDUP_THREADS 2

static uint64_t tui_group_saving(const el_tensor_group *group)
{
    return group->nbytes * (uint64_t)(group->n_copies - 1);
}

typedef struct tui_group_order {
    uint64_t saving;
    size_t group;
} tui_group_order;

/* Largest saving first, then in the report's order (of the first copy). */
static int tui_compare_saving(const void *pa, const void *pb)
{
    const tui_group_order *a = pa, *b = pb;

    if (a->saving != b->saving)
        return a->saving > b->saving ? -1 : 1;
    return a->group < b->group ? -1 : a->group > b->group;
}

static size_t tui_count_lines(const el_dedup_report *r)
{
    size_t n = 2; /* the two section headings */

    if (r->n_tensor_groups == 0)
        n++;
    for (size_t g = 0; g < r->n_tensor_groups; g++)
        n += 1 + r->tensor_groups[g].n_copies;

    n++; /* blank line between the sections */
    if (r->n_chunk_groups == 0)
        n++;
    for (size_t g = 0; g < r->n_chunk_groups; g++)
        n += 2 + r->chunk_groups[g].n_listed;
    return n;
}

static void tui_add_line(tui_dedup *d, tui_dedup_kind kind, int chunk,
                         size_t group, size_t copy)
{
    d->lines[d->n_lines++] = (tui_dedup_line){kind, chunk, group, copy};
}

static int tui_build_lines(tui_dedup *d)
{
    const el_dedup_report *r = &d->report;
    tui_group_order *order = malloc((r->n_tensor_groups ? r->n_tensor_groups : 1) *
                                    sizeof *order);
    d->lines = malloc(tui_count_lines(r) * sizeof *d->lines);
    if (order == NULL || d->lines == NULL) {
        free(order);
        return -1;
    }
    for (size_t g = 0; g < r->n_tensor_groups; g++)
        order[g] = (tui_group_order){tui_group_saving(&r->tensor_groups[g]), g};
    qsort(order, r->n_tensor_groups, sizeof *order, tui_compare_saving);

    d->n_lines = 0;
    tui_add_line(d, TUI_DEDUP_HEADING, 0, 0, 0);
    if (r->n_tensor_groups == 0)
        tui_add_line(d, TUI_DEDUP_NONE, 0, 0, 0);
    for (size_t i = 0; i < r->n_tensor_groups; i++) {
        size_t g = order[i].group;
        tui_add_line(d, TUI_DEDUP_GROUP, 0, g, 0);
        for (size_t c = 0; c < r->tensor_groups[g].n_copies; c++)
            tui_add_line(d, TUI_DEDUP_COPY, 0, g, c);
    }
    free(order);

    tui_add_line(d, TUI_DEDUP_BLANK, 1, 0, 0);
    tui_add_line(d, TUI_DEDUP_HEADING, 1, 0, 0);
    if (r->n_chunk_groups == 0)
        tui_add_line(d, TUI_DEDUP_NONE, 1, 0, 0);
    for (size_t g = 0; g < r->n_chunk_groups; g++) {
        const el_chunk_group *group = &r->chunk_groups[g];
        tui_add_line(d, TUI_DEDUP_GROUP, 1, g, 0);
        for (size_t c = 0; c < group->n_listed; c++)
            tui_add_line(d, TUI_DEDUP_COPY, 1, g, c);
        if (group->n_copies > group->n_listed)
            tui_add_line(d, TUI_DEDUP_MORE, 1, g, 0);
    }

    d->selected = 0;
    while (d->selected < d->n_lines &&
           d->lines[d->selected].kind != TUI_DEDUP_COPY)
        d->selected++;
    d->top = 0;
    return 0;
}

void tui_dedup_ensure(tui_app *app)
{
    tui_dedup *d = &app->dedup;
    el_error err;

    if (d->state != 0)
        return;

    const el_model **models = calloc(app->ws->n_models ? app->ws->n_models : 1,
                                     sizeof *models);
    if (models == NULL) {
        d->state = -1;
        snprintf(d->error, sizeof d->error,
                 "out of memory starting the duplicate analysis");
        return;
    }
    for (size_t m = 0; m < app->ws->n_models; m++)
        models[m] = &app->ws->models[m];

    /* NOTE: el_dedup_analyse takes no progress callback, so the notice
     * stays up, and keys wait, until every byte has been hashed. */
    char notice[96];
    snprintf(notice, sizeof notice, "Comparing tensors and chunks of %zu model%s...",
             app->ws->n_models, app->ws->n_models == 1 ? "" : "s");
    tui_busy_notice("Duplicates", notice);
    int rc = el_dedup_analyse(models, app->ws->n_models, NULL, 0,
                              TUI_DEDUP_THREADS, &d->report, &err);
    free(models);
    if (rc != 0) {
        d->state = -1;
        snprintf(d->error, sizeof d->error, "%s", err.msg);
        return;
    }
    if (tui_build_lines(d) != 0) {
        el_dedup_report_free(&d->report);
        d->state = -1;
        snprintf(d->error, sizeof d->error,
                 "out of memory listing the duplicate groups");
        return;
    }
    d->state = 1;
}

void tui_dedup_free(tui_app *app)
{
    if (app->dedup.state == 1)
        el_dedup_report_free(&app->dedup.report);
    free(app->dedup.lines);
    app->dedup.lines = NULL;
    app->dedup.n_lines = 0;
    app->dedup.state = 0;
}

static int tui_is_copy(const tui_dedup *d, size_t line)
{
    return line < d->n_lines && d->lines[line].kind == TUI_DEDUP_COPY;
}

void tui_dedup_move(tui_app *app, long delta)
{
    tui_dedup *d = &app->dedup;
    size_t at = d->selected;

    if (!tui_is_copy(d, at))
        return;
    for (; delta > 0; delta--) {
        size_t next = at + 1;
        while (next < d->n_lines && !tui_is_copy(d, next))
            next++;
        if (next >= d->n_lines)
            break;
        at = next;
    }
    for (; delta < 0; delta++) {
        size_t previous = at;
        while (previous > 0 && !tui_is_copy(d, previous - 1))
            previous--;
        if (previous == 0)
            break;
        at = previous - 1;
    }
    d->selected = at;
}

static el_tensor_ref tui_copy_ref(const el_dedup_report *r,
                                  const tui_dedup_line *line)
{
    if (line->chunk) {
        const el_chunk_ref *c = &r->chunk_groups[line->group].copies[line->copy];
        return (el_tensor_ref){c->model, c->tensor};
    }
    return r->tensor_groups[line->group].copies[line->copy];
}

int tui_dedup_selected(const tui_app *app, size_t *model, size_t *tensor)
{
    const tui_dedup *d = &app->dedup;

    if (d->state != 1 || !tui_is_copy(d, d->selected))
        return 0;
    el_tensor_ref ref = tui_copy_ref(&d->report, &d->lines[d->selected]);
    *model = ref.model;
    *tensor = ref.tensor;
    return 1;
}

void tui_dedup_open_copy(tui_app *app)
{
    size_t model, tensor;

    if (!tui_dedup_selected(app, &model, &tensor)) {
        tui_set_status(app, 0, "no copy selected: there are no duplicates");
        return;
    }
    if (!tui_select_tensor(app, model, tensor)) {
        app->filter[0] = '\0';
        tui_rows_rebuild(app);
        if (!tui_select_tensor(app, model, tensor)) {
            tui_set_status(app, 1, "layer not found in the table");
            return;
        }
        tui_set_status(app, 0, "filter cleared to show the layer");
    }
    app->model = model;
    app->detail_scroll.top = 0;
    app->detail_return = TUI_DEDUP;
    tui_open_screen(app, TUI_DETAIL);
}

static void tui_heading_text(const tui_app *app, const tui_dedup_line *line,
                             char *buf, size_t len)
{
    const el_dedup_report *r = &app->dedup.report;
    char bytes[32];

    if (!line->chunk) {
        uint64_t saved = 0;
        for (size_t g = 0; g < r->n_tensor_groups; g++)
            saved += tui_group_saving(&r->tensor_groups[g]);
        tui_format_bytes(saved, bytes, sizeof bytes);
        if (r->n_tensor_groups == 0)
            snprintf(buf, len, "Identical tensors");
        else
            snprintf(buf, len, "Identical tensors: %zu group%s, %s saved by "
                     "storing each once", r->n_tensor_groups,
                     r->n_tensor_groups == 1 ? "" : "s", bytes);
        return;
    }

    tui_format_bytes(r->cdc.avg_size, bytes, sizeof bytes);
    if (r->n_chunk_groups == 0)
        snprintf(buf, len, "Repeated CDC chunks (about %s each)", bytes);
    else
        snprintf(buf, len, "Repeated CDC chunks (about %s each): the %zu "
                 "largest savings", bytes, r->n_chunk_groups);
}

static void tui_group_text(const tui_app *app, const tui_dedup_line *line,
                           char *buf, size_t len)
{
    const el_dedup_report *r = &app->dedup.report;
    char saved[32], size[32];

    if (line->chunk) {
        const el_chunk_group *g = &r->chunk_groups[line->group];
        char hash[33];
        el_hash128_hex(g->hash, hash);
        tui_format_bytes(g->dup_bytes, saved, sizeof saved);
        tui_format_bytes(g->size, size, sizeof size);
        snprintf(buf, len, "%10s saved  %llu copies of %s, chunk %.12s",
                 saved, (unsigned long long)g->n_copies, size, hash);
        return;
    }

    const el_tensor_group *g = &r->tensor_groups[line->group];
    const el_tensor_ref first = g->copies[0];
    const el_tensor *t = &app->ws->models[first.model].tensors[first.tensor];
    char shape[128];
    el_shape_format(t, shape, sizeof shape);
    tui_format_bytes(tui_group_saving(g), saved, sizeof saved);
    tui_format_bytes(g->nbytes, size, sizeof size);
    snprintf(buf, len, "%10s saved  %zu copies of %s, %s %s", saved,
             g->n_copies, size, el_tensor_type(t), shape);
}

/* A copy as "model:tensor" in buf, and what follows it in suffix: the
 * chunk's offset in the tensor, or a mark on the first copy. */
static void tui_copy_text(const tui_app *app, const tui_dedup_line *line,
                          char *buf, size_t len, char *suffix,
                          size_t suffix_len)
{
    const el_dedup_report *r = &app->dedup.report;
    el_tensor_ref ref = tui_copy_ref(r, line);

    snprintf(buf, len, "%s:%s", tui_model_label(app, ref.model),
             app->ws->models[ref.model].tensors[ref.tensor].name);
    if (line->chunk) {
        const el_chunk_ref *c = &r->chunk_groups[line->group].copies[line->copy];
        snprintf(suffix, suffix_len, " @ %llu", (unsigned long long)c->offset);
    } else {
        snprintf(suffix, suffix_len, "%s", line->copy == 0 ? "  (first)" : "");
    }
}

/* Scrolls so the cursor is visible. When the cursor goes above the screen,
 * the group and section lines right above it come into view too. */
static void tui_dedup_scroll(tui_dedup *d, size_t page)
{
    if (d->selected < d->top) {
        size_t want = d->selected;
        while (want > 0 && d->lines[want - 1].kind != TUI_DEDUP_COPY &&
               d->selected - (want - 1) < page)
            want--;
        d->top = want;
    }
    if (d->selected >= d->top + page)
        d->top = d->selected - page + 1;
    if (d->top + page > d->n_lines)
        d->top = d->n_lines > page ? d->n_lines - page : 0;
}

static void tui_dedup_line_draw(const tui_app *app, size_t index, int y)
{
    const tui_dedup *d = &app->dedup;
    const tui_dedup_line *line = &d->lines[index];
    char text[1024], fitted[1024], suffix[48] = "";
    tui_role role = TUI_NORMAL;
    int x = 1;

    switch (line->kind) {
    case TUI_DEDUP_BLANK:
        return;
    case TUI_DEDUP_HEADING:
        tui_heading_text(app, line, text, sizeof text);
        role = TUI_HEADER;
        break;
    case TUI_DEDUP_NONE:
        snprintf(text, sizeof text, "%s", line->chunk
                     ? "no CDC chunk occurs twice"
                     : "no two tensors are identical");
        role = TUI_DIM;
        x = 2;
        break;
    case TUI_DEDUP_GROUP:
        tui_group_text(app, line, text, sizeof text);
        x = 2;
        break;
    case TUI_DEDUP_COPY:
        tui_copy_text(app, line, text, sizeof text, suffix, sizeof suffix);
        role = index == d->selected ? TUI_CURSOR : TUI_NORMAL;
        x = 6;
        break;
    case TUI_DEDUP_MORE: {
        const el_chunk_group *g = &d->report.chunk_groups[line->group];
        snprintf(text, sizeof text, "and %llu more copies",
                 (unsigned long long)(g->n_copies - g->n_listed));
        role = TUI_DIM;
        x = 6;
        break;
    }
    }

    if (line->kind == TUI_DEDUP_COPY && index == d->selected)
        tui_fill(y, 0, COLS, TUI_CURSOR);
    if (line->kind != TUI_DEDUP_COPY) {
        tui_put(y, x, COLS - x - 1, role, text);
        return;
    }

    /* A long tensor name loses its middle, so the suffix and the end of
     * the name stay readable. */
    int room = COLS - x - 1 - (int)strlen(suffix);
    tui_fit_name(text, (size_t)(room > 1 ? room : 1), fitted, sizeof fitted);
    strncat(fitted, suffix, sizeof fitted - strlen(fitted) - 1);
    tui_put(y, x, COLS - x - 1, role, fitted);
}

void tui_dedup_draw(tui_app *app, int top, int height)
{
    tui_dedup *d = &app->dedup;

    if (d->state == 0 && !app->analysis_finished) {
        char progress[48];
        tui_analysis_label(app, progress, sizeof progress);
        tui_putf(top + 1, 2, COLS - 4, TUI_DIM,
                 "the duplicate search starts when the analysis ends (%s)", progress);
        return;
    }
    if (d->state != 1) {
        tui_putf(top + 1, 2, COLS - 4, TUI_ERROR,
                 "duplicate analysis failed: %s",
                 d->state == -1 ? d->error : "not run");
        return;
    }

    size_t page = height > 0 ? (size_t)height : 1;
    d->page = page;
    tui_dedup_scroll(d, page);
    for (size_t i = 0; i < page && d->top + i < d->n_lines; i++)
        tui_dedup_line_draw(app, d->top + i, top + (int)i);
}
