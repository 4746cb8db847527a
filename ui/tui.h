/* The terminal application: overview, layer table, layer detail, plan
 * editing and export, drawn with ncurses. */
#ifndef ELVES_TUI_H
#define ELVES_TUI_H

#include "../codecs/error.h"
#include "../core/workspace.h"

/* Runs the application on an opened workspace until the user quits. The
 * analysis must have been started (el_workspace_analyse_start) or have
 * finished; the screens fill in as it proceeds. Needs a terminal on standard input and output. Returns 0 on a normal
 * quit, or -1 with err filled when the terminal cannot be set up; the
 * terminal is restored on every path. */
int el_tui_run(el_workspace *ws, el_error *err);

#endif
