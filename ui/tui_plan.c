/* Plan files and the policy from the terminal application: `S` saves the
 * current model's plan, `L` loads one, `p` switches between policies. */
#include <ncurses.h>
#include <stdio.h>

#include "../core/plan.h"
#include "tui_app.h"

static void tui_plan_path(tui_app *app, char *path, size_t len)
{
    snprintf(path, len, "%s.plan.json", tui_model_label(app, app->model));
}

void tui_plan_save(tui_app *app)
{
    char path[TUI_PATH_MAX];
    el_error err;

    if (!tui_analysis_done(app, "saving the plan"))
        return;
    tui_plan_path(app, path, sizeof path);
    if (!tui_edit_line(app, "save plan to: ", path, sizeof path, NULL, NULL, NULL))
        return;
    if (el_plan_save(app->ws, app->model, path, &err) != 0) {
        tui_set_status(app, 1, "%s", err.msg);
        return;
    }
    tui_set_status(app, 0, "plan saved to %s", path);
}

void tui_plan_load(tui_app *app)
{
    char path[TUI_PATH_MAX];
    el_error err;

    if (!tui_analysis_done(app, "loading a plan"))
        return;
    tui_plan_path(app, path, sizeof path);
    if (!tui_edit_line(app, "load plan from: ", path, sizeof path, NULL, NULL, NULL))
        return;
    if (el_plan_load(app->ws, app->model, path, &err) != 0) {
        tui_set_status(app, 1, "%s", err.msg);
        return;
    }
    tui_plan_changed(app);
    tui_set_status(app, 0, "plan loaded from %s", path);
}

void tui_switch_policy(tui_app *app)
{
    if (!tui_analysis_done(app, "switching the policy"))
        return;
    el_policy next = (el_policy)((app->ws->policy + 1) % EL_POLICY_COUNT);

    el_workspace_set_policy(app->ws, next);
    tui_plan_changed(app);
    tui_set_status(app, 0, "policy %s: auto layers now pick %s", el_policy_name(next),
                   next == EL_POLICY_PAPER ? "the smallest of zstd, de and elf"
                                           : "the smallest codec that honours the bound");
}
