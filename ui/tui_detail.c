/* The layer detail: statistics, the exponent histogram as a bar chart and
 * every codec's prediction for the layer, with the delta codecs against
 * the base tensor when a base model is set. */
#include <math.h>
#include <ncurses.h>
#include <stdio.h>

#include "tui_app.h"

static void tui_pair(int y, int x, int width, const char *label,
                     const char *value)
{
    tui_put(y, x, 12, TUI_HEADER, label);
    tui_put(y, x + 12, width - 12, TUI_NORMAL, value);
}

/* The base tensor the layer is paired with and how far the layer moved
 * from it, when a base model is set. */
static void tui_detail_base(tui_app *app, tui_page *page, const tui_row *row)
{
    const el_workspace *ws = app->ws;
    const el_layer *layer = &ws->layers[row->model][row->tensor];
    const el_tensor *base = el_layer_base_tensor(ws, layer);
    const char *base_label;
    int y;

    if (ws->base < 0)
        return;
    base_label = tui_model_label(app, (size_t)ws->base);
    y = tui_page_next(page);
    if ((long)row->model == ws->base) {
        tui_put(y, 2, COLS - 3, TUI_DIM, "this model is the base of the others");
        return;
    }
    if (base == NULL) {
        tui_putf(y, 2, COLS - 3, TUI_DIM,
                 "base %s has no tensor of this name, dtype and shape",
                 base_label);
        return;
    }

    char change[48];
    double l2 = layer->base_rel_l2;
    if (tui_layer_matches_base(ws, row->model, row->tensor))
        snprintf(change, sizeof change, "bit-identical");
    else if (isnan(l2))
        snprintf(change, sizeof change, "changed (no L2 for %s)",
                 el_dtype_name(base->dtype));
    else
        snprintf(change, sizeof change, "relative L2 change %.3g", l2);
    tui_putf(y, 2, COLS - 3, TUI_NORMAL, "base %s:%s, %s", base_label,
             base->name, change);
}

static void tui_detail_header(tui_app *app, tui_page *page, const tui_row *row)
{
    const el_tensor *t = &app->ws->models[row->model].tensors[row->tensor];
    const el_layer *layer = &app->ws->layers[row->model][row->tensor];
    char shape[128], size[32], count[32], codec[64], bound[64];
    int y;

    y = tui_page_next(page);
    tui_put(y, 1, COLS - 2, TUI_HEADER, t->name);

    el_shape_format(t, shape, sizeof shape);
    tui_format_bytes(t->nbytes, size, sizeof size);
    tui_format_count(t->count, count, sizeof count);
    y = tui_page_next(page);
    tui_putf(y, 2, COLS - 3, TUI_NORMAL, "%s  %s %s  %s, %s elements",
             tui_model_label(app, row->model), el_dtype_name(t->dtype), shape,
             size, count);

    if (!el_layer_ready(app->ws, row->model, row->tensor))
        snprintf(codec, sizeof codec, "..");
    else if (el_layer_delta(layer) != NULL)
        snprintf(codec, sizeof codec, "auto:%s against the base",
                 el_layer_delta(layer)->name);
    else
        tui_codec_label(layer, codec, sizeof codec);
    el_bound_format(layer->bound, bound, sizeof bound);
    y = tui_page_next(page);
    tui_putf(y, 2, COLS - 3, TUI_NORMAL, "codec %s  bound %s", codec, bound);

    if (el_workspace_duplicates_ready(app->ws) && layer->dup.is_duplicate) {
        el_tensor_ref of = layer->dup.of;
        y = tui_page_next(page);
        int shared = el_layer_shares_payload(app->ws, row->model, row->tensor);
        tui_putf(y, 2, COLS - 3, TUI_DIM, "duplicate of %s:%s, %s",
                 tui_model_label(app, of.model),
                 app->ws->models[of.model].tensors[of.tensor].name,
                 shared ? "stored once in the export"
                 : of.model != row->model ? "stored again by e; once by E when the plans match"
                                          : "stored again: its plan differs");
    }
    tui_detail_base(app, page, row);
}

static void tui_detail_stats(tui_page *page, const el_stats *s)
{
    int half = COLS / 2;
    char a[48], b[48];
    int y;

    tui_page_next(page);
    tui_put(tui_page_next(page), 1, COLS - 2, TUI_HEADER, "Statistics");

    y = tui_page_next(page);
    tui_format_count(s->count, a, sizeof a);
    tui_format_count(s->zeros, b, sizeof b);
    tui_pair(y, 2, half - 2, "count", a);
    tui_pair(y, half, half - 1, "zeros", b);

    y = tui_page_next(page);
    snprintf(a, sizeof a, "%.6g", s->min);
    snprintf(b, sizeof b, "%.6g", s->max);
    tui_pair(y, 2, half - 2, "min", a);
    tui_pair(y, half, half - 1, "max", b);

    y = tui_page_next(page);
    snprintf(a, sizeof a, "%.6g", s->mean);
    snprintf(b, sizeof b, "%.6g", s->std);
    tui_pair(y, 2, half - 2, "mean", a);
    tui_pair(y, half, half - 1, "std", b);

    y = tui_page_next(page);
    tui_format_count(s->nans, a, sizeof a);
    tui_format_count(s->infs, b, sizeof b);
    tui_pair(y, 2, half - 2, "NaN", a);
    tui_pair(y, half, half - 1, "Inf", b);

    y = tui_page_next(page);
    tui_format_count(s->subnormals, a, sizeof a);
    if (s->count > 0)
        snprintf(b, sizeof b, "%.2f%%",
                 100.0 * (double)s->abs_lt_1 / (double)s->count);
    else
        snprintf(b, sizeof b, "-");
    tui_pair(y, 2, half - 2, "subnormals", a);
    tui_pair(y, half, half - 1, "|w|<1", b);

    if (s->exponent_hist != NULL) {
        y = tui_page_next(page);
        snprintf(a, sizeof a, "%.3f bits", s->exponent_entropy);
        snprintf(b, sizeof b, "%u of %u", el_stats_distinct_exponents(s),
                 s->n_exponents);
        tui_pair(y, 2, half - 2, "exp entropy", a);
        tui_pair(y, half, half - 1, "exponents", b);
    }

    y = tui_page_next(page);
    double order0 = el_stats_order0_ratio(s);
    if (order0 > 0)
        snprintf(a, sizeof a, "%.3fx", order0);
    else
        snprintf(a, sizeof a, "-");
    tui_pair(y, 2, 22, "order-0", a);
    tui_put(y, 2 + 24, COLS - 28, TUI_DIM, "bound of byte-plane coders (bytegroup, ZipNN)");
}

/* Why auto cannot take delta codec el_delta_codecs[index] for the layer,
 * as el_choose_delta decides it, or NULL when it can. */
static const char *tui_delta_reason(const el_workspace *ws,
                                    const el_layer *layer,
                                    const el_tensor *tensor, size_t index,
                                    char *buf, size_t len)
{
    const el_delta_codec *codec = el_delta_codecs[index];
    const el_prediction *pred = &layer->delta_pred[index];

    if (!codec->supports(tensor->dtype)) {
        snprintf(buf, len, "not for %s", el_dtype_name(tensor->dtype));
        return buf;
    }
    if (!pred->applicable) {
        snprintf(buf, len, "cannot honour the bound");
        return buf;
    }
    if (layer->codec != NULL) {
        snprintf(buf, len, "the layer's codec is fixed");
        return buf;
    }
    if (ws->policy != EL_POLICY_AUTO) {
        snprintf(buf, len, "only the auto policy uses deltas");
        return buf;
    }
    int lossless = layer->bound.kind == EL_BOUND_LOSSLESS || layer->abs_bound <= 0;
    if (lossless && !codec->lossless) {
        snprintf(buf, len, "not lossless");
        return buf;
    }
    if (!lossless && pred->max_error > layer->abs_bound) {
        snprintf(buf, len, "error up to %.3g", pred->max_error);
        return buf;
    }
    return NULL;
}

/* The delta codecs against the layer's base tensor, in the columns of the
 * standalone codecs above them. */
static void tui_detail_deltas(tui_page *page, const el_workspace *ws,
                              const el_tensor *tensor, const el_layer *layer)
{
    char ratio[32], error[32], reason[96];
    int y;

    if (el_layer_base_tensor(ws, layer) == NULL)
        return;
    y = tui_page_next(page);
    tui_put(y, 2, COLS - 3, TUI_DIM, "against the base tensor:");

    for (size_t i = 0; el_delta_codecs[i] != NULL && i < EL_MAX_DELTA; i++) {
        const el_prediction *pred = &layer->delta_pred[i];
        const char *why = tui_delta_reason(ws, layer, tensor, i, reason,
                                           sizeof reason);
        int chosen = (int)i == layer->chosen_delta;

        if (pred->applicable) {
            tui_format_ratio(pred->ratio, pred->estimated, ratio, sizeof ratio);
            tui_format_error(pred->max_error, error, sizeof error);
        } else {
            snprintf(ratio, sizeof ratio, "-");
            snprintf(error, sizeof error, "-");
        }
        tui_role role = TUI_NORMAL;
        const char *plan = "";
        if (chosen) {
            role = TUI_GOOD;
            plan = "<- chosen by auto";
        } else if (why != NULL) {
            role = TUI_DIM;
            plan = why;
        }
        y = tui_page_next(page);
        tui_putf(y, 2, COLS - 3, role, "%-11s %9s %11s  %s",
                 el_delta_codecs[i]->name, ratio, error, plan);
    }
}

/* Every codec, with the ones that cannot take the layer dimmed and the
 * reason beside them. */
static void tui_detail_codecs(tui_page *page, const el_workspace *ws,
                              const el_tensor *tensor, const el_layer *layer)
{
    char bound[64], ratio[32], error[32], reason[96];
    int y;

    el_bound_format(layer->bound, bound, sizeof bound);
    tui_page_next(page);
    y = tui_page_next(page);
    if (layer->bound.kind == EL_BOUND_REL)
        tui_putf(y, 1, COLS - 2, TUI_HEADER, "Codecs at bound %s (abs %.3g), policy %s",
                 bound, layer->abs_bound, el_policy_name(ws->policy));
    else
        tui_putf(y, 1, COLS - 2, TUI_HEADER, "Codecs at bound %s, policy %s", bound,
                 el_policy_name(ws->policy));
    y = tui_page_next(page);
    tui_putf(y, 2, COLS - 3, TUI_DIM, "%-11s %9s %11s  %s", "codec", "ratio",
             "max error", "plan");

    for (size_t c = 0; el_codecs[c] != NULL && c < EL_MAX_CODECS; c++) {
        const el_codec *codec = el_codecs[c];
        const el_prediction *pred = &layer->pred[c];
        const char *why = el_layer_codec_reason(ws, layer, tensor, c, reason, sizeof reason);
        y = tui_page_next(page);

        if (pred->applicable) {
            tui_format_ratio(pred->ratio, pred->estimated, ratio, sizeof ratio);
            tui_format_error(pred->max_error, error, sizeof error);
        } else {
            snprintf(ratio, sizeof ratio, "-");
            snprintf(error, sizeof error, "-");
        }

        const char *plan = why != NULL ? why : "";
        int delta_wins = el_layer_delta(layer) != NULL;
        if ((int)c == layer->chosen && delta_wins)
            plan = "best standalone; a delta codec is smaller";
        else if ((int)c == layer->chosen)
            plan = layer->codec == NULL ? "<- chosen by auto" : "<- fixed";
        else if ((int)c == layer->policy_choice[EL_POLICY_PAPER] && ws->policy != EL_POLICY_PAPER)
            plan = why != NULL ? why : "elves-paper would pick this";
        tui_role role = TUI_NORMAL;
        if ((int)c == layer->chosen && !delta_wins)
            role = TUI_GOOD;
        else if (why != NULL)
            role = TUI_DIM;
        tui_putf(y, 2, COLS - 3, role, "%-11s %9s %11s  %s", codec->name,
                 ratio, error, plan);
    }
    tui_detail_deltas(page, ws, tensor, layer);
}

/* Bins are labelled with the power of two they cover: biased exponent minus
 * the bias. The all-zero field contains zeros and subnormals, and the
 * all-ones field Inf and NaN. */
static void tui_bin_label(unsigned e, unsigned n_exponents, int bias,
                          char *buf, size_t len)
{
    if (e == 0)
        snprintf(buf, len, "0/subn");
    else if (e + 1 == n_exponents)
        snprintf(buf, len, "inf/nan");
    else
        snprintf(buf, len, "2^%d", (int)e - bias);
}

static void tui_detail_histogram(tui_page *page, const el_tensor *t,
                                 const el_stats *s)
{
    int y;

    tui_page_next(page);
    y = tui_page_next(page);
    if (s->exponent_hist == NULL) {
        tui_putf(y, 1, COLS - 2, TUI_HEADER,
                 "Exponent histogram: none for %s", el_dtype_name(t->dtype));
        return;
    }
    tui_put(y, 1, COLS - 2, TUI_HEADER,
            "Exponent histogram (non-empty bins, |w| in [2^e, 2^(e+1)))");

    uint64_t max_count = 0;
    for (unsigned e = 0; e < s->n_exponents; e++) {
        if (s->exponent_hist[e] > max_count)
            max_count = s->exponent_hist[e];
    }

    int bias = el_dtype_float_layout(t->dtype).bias;
    int bar_x = 2 + 8 + 1 + 13 + 1 + 7 + 1;
    int bar_room = COLS - bar_x - 1;
    for (unsigned e = 0; e < s->n_exponents; e++) {
        uint64_t n = s->exponent_hist[e];
        if (n == 0)
            continue;

        char label[16], count[32];
        tui_bin_label(e, s->n_exponents, bias, label, sizeof label);
        tui_format_count(n, count, sizeof count);
        y = tui_page_next(page);
        tui_putf(y, 2, 8, TUI_NORMAL, "%8s", label);
        tui_putf(y, 11, 13, TUI_NORMAL, "%13s", count);
        tui_putf(y, 25, 7, TUI_DIM, "%6.2f%%",
                 100.0 * (double)n / (double)(s->count ? s->count : 1));

        int len = bar_room > 0 ? (int)ceil((double)bar_room * (double)n /
                                           (double)max_count)
                               : 0;
        for (int i = 0; i < len; i++)
            tui_put(y, bar_x + i, 1, TUI_BAR, "#");
    }
}

void tui_detail_draw(tui_app *app, int top, int height)
{
    const tui_row *row = tui_selected_row(app);
    if (row == NULL) {
        tui_put(top + 1, 2, COLS - 4, TUI_DIM, "no layer selected");
        return;
    }

    const el_tensor *t = &app->ws->models[row->model].tensors[row->tensor];
    const el_layer *layer = &app->ws->layers[row->model][row->tensor];
    tui_page page = tui_page_begin(&app->detail_scroll, top, height);

    tui_detail_header(app, &page, row);
    el_workspace_prioritise(app->ws, row->model, row->tensor);
    if (!el_layer_ready(app->ws, row->model, row->tensor)) {
        tui_page_next(&page);
        int y = tui_page_next(&page);
        if (app->analysis_finished) {
            tui_putf(y, 2, COLS - 3, TUI_ERROR,
                     "not analysed: the analysis failed (%s)", app->analysis_error);
        } else {
            tui_put(y, 2, COLS - 3, TUI_DIM,
                    "analysing this layer: statistics, histogram and codecs "
                    "appear when it is done");
        }
        tui_page_end(&app->detail_scroll, &page);
        return;
    }
    tui_detail_stats(&page, &layer->stats);
    tui_detail_histogram(&page, t, &layer->stats);
    tui_detail_codecs(&page, app->ws, t, layer);
    tui_page_end(&app->detail_scroll, &page);
}
