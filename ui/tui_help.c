/* The help screen, drawn from the binding table so it always lists the keys
 * that work. */
#include <ncurses.h>
#include <stdio.h>

#include "tui_app.h"

static void tui_screens_text(unsigned screens, char *buf, size_t len)
{
    static const char *const names[TUI_SCREEN_COUNT] = {
        [TUI_OVERVIEW] = "overview", [TUI_TABLE] = "table",
        [TUI_DETAIL] = "detail",     [TUI_DEDUP] = "dedup",
        [TUI_REPORT] = "report",     [TUI_HELP] = "help",
    };
    size_t used = 0;

    buf[0] = '\0';
    if (screens == TUI_ON_ALL) {
        snprintf(buf, len, "everywhere");
        return;
    }
    for (int s = 0; s < TUI_SCREEN_COUNT && used < len; s++) {
        if (screens & TUI_ON(s))
            used += (size_t)snprintf(buf + used, len - used, "%s%s",
                                     used ? ", " : "", names[s]);
    }
}

void tui_help_draw(tui_app *app, int top, int height)
{
    tui_page page = tui_page_begin(&app->help_scroll, top, height);
    char where[96];
    int y;

    y = tui_page_next(&page);
    tui_put(y, 1, COLS - 2, TUI_HEADER,
            "elves: compressibility of model layers, and export to .elves");
    tui_page_next(&page);

    y = tui_page_next(&page);
    tui_putf(y, 2, COLS - 3, TUI_HEADER, "%-16s %-31s %s", "key", "where",
             "action");
    for (size_t i = 0; i < tui_binding_count; i++) {
        const tui_binding *b = &tui_bindings[i];
        tui_screens_text(b->screens, where, sizeof where);
        y = tui_page_next(&page);
        tui_putf(y, 2, COLS - 3, TUI_NORMAL, "%-16s %-31s %s", b->label, where,
                 b->help);
    }

    tui_page_next(&page);
    y = tui_page_next(&page);
    tui_put(y, 2, COLS - 3, TUI_DIM,
            "Ratios with ~ are estimates from a sample of the layer.");
    y = tui_page_next(&page);
    tui_put(y, 2, COLS - 3, TUI_DIM,
            "Bounds: lossless; abs:E for |w - w'| <= E on every element;");
    y = tui_page_next(&page);
    tui_put(y, 2, COLS - 3, TUI_DIM,
            "rel:R for |w - w'| <= R * (max - min) of the layer.");
    y = tui_page_next(&page);
    tui_put(y, 2, COLS - 3, TUI_DIM,
            "auto picks the smallest codec that honours the layer's bound;");
    y = tui_page_next(&page);
    tui_put(y, 2, COLS - 3, TUI_DIM,
            "elves-paper picks among zstd, de and elf, as Su et al. (VLDB 2024) did.");
    y = tui_page_next(&page);
    tui_put(y, 2, COLS - 3, TUI_DIM,
            "With a base model (m), the table's base column is each layer's");
    y = tui_page_next(&page);
    tui_put(y, 2, COLS - 3, TUI_DIM,
            "relative L2 change from its base tensor, = when bit-identical;");
    y = tui_page_next(&page);
    tui_put(y, 2, COLS - 3, TUI_DIM,
            "restoring a layer stored as a delta needs the base file itself.");
    tui_page_end(&app->help_scroll, &page);
}
