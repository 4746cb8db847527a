/* Colours and the drawing primitives every screen uses. Each primitive clips
 * to the window, so no screen can draw outside it whatever its size. */
#include <ncurses.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "tui_app.h"

typedef struct tui_style {
    short fg;
    short bg;          /* -1 is the terminal's default colour */
    attr_t with_color; /* added to the colour pair */
    attr_t mono;       /* used alone when the terminal has no colours */
} tui_style;

static const tui_style tui_styles[TUI_ROLE_COUNT] = {
    [TUI_NORMAL] = {-1, -1, 0, 0},
    [TUI_TITLE] = {COLOR_BLACK, COLOR_CYAN, A_BOLD, A_REVERSE | A_BOLD},
    [TUI_STATUS] = {COLOR_BLACK, COLOR_CYAN, 0, A_REVERSE},
    [TUI_HEADER] = {COLOR_YELLOW, -1, A_BOLD, A_BOLD | A_UNDERLINE},
    [TUI_CURSOR] = {COLOR_BLACK, COLOR_GREEN, 0, A_REVERSE},
    [TUI_BAR] = {COLOR_GREEN, -1, A_BOLD, A_BOLD},
    [TUI_ERROR] = {COLOR_WHITE, COLOR_RED, A_BOLD, A_REVERSE | A_BOLD},
    [TUI_DIM] = {COLOR_CYAN, -1, 0, A_DIM},
    [TUI_GOOD] = {COLOR_GREEN, -1, A_BOLD, A_BOLD},
    [TUI_BOX] = {-1, -1, A_BOLD, A_BOLD},
};

static int tui_use_color;

void tui_colors_init(void)
{
    tui_use_color = 0;
    if (!has_colors() || start_color() == ERR)
        return;

    int default_colors = use_default_colors() != ERR;
    for (int role = 0; role < TUI_ROLE_COUNT; role++) {
        short fg = tui_styles[role].fg;
        short bg = tui_styles[role].bg;
        if (!default_colors) {
            fg = fg < 0 ? COLOR_WHITE : fg;
            bg = bg < 0 ? COLOR_BLACK : bg;
        }
        /* Pair 0 is fixed by curses, so role r uses pair r + 1. */
        if (init_pair((short)(role + 1), fg, bg) == ERR)
            return;
    }
    tui_use_color = 1;
}

int tui_attr(tui_role role)
{
    if (!tui_use_color)
        return (int)tui_styles[role].mono;
    return (int)(COLOR_PAIR(role + 1) | tui_styles[role].with_color);
}

int tui_too_small(void)
{
    return COLS < TUI_MIN_COLS || LINES < TUI_MIN_LINES;
}

void tui_put(int y, int x, int width, tui_role role, const char *text)
{
    if (y < 0 || y >= LINES || x < 0 || x >= COLS || width <= 0)
        return;
    if (width > COLS - x)
        width = COLS - x;

    char clean[1024];
    tui_sanitize(text, clean, sizeof clean);

    attrset(tui_attr(role));
    mvaddnstr(y, x, clean, width);
    attrset(A_NORMAL);
}

void tui_putf(int y, int x, int width, tui_role role, const char *fmt, ...)
{
    char text[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    tui_put(y, x, width, role, text);
}

void tui_fill(int y, int x, int width, tui_role role)
{
    if (y < 0 || y >= LINES || x < 0 || x >= COLS || width <= 0)
        return;
    if (width > COLS - x)
        width = COLS - x;
    mvhline(y, x, (chtype)' ' | (chtype)tui_attr(role), width);
}

void tui_box(int y, int x, int height, int width, const char *title)
{
    if (height < 2 || width < 2)
        return;

    for (int row = y; row < y + height; row++)
        tui_fill(row, x, width, TUI_NORMAL);

    attrset(tui_attr(TUI_BOX));
    if (y >= 0 && y + height <= LINES && x >= 0 && x + width <= COLS) {
        mvhline(y, x + 1, ACS_HLINE, width - 2);
        mvhline(y + height - 1, x + 1, ACS_HLINE, width - 2);
        mvvline(y + 1, x, ACS_VLINE, height - 2);
        mvvline(y + 1, x + width - 1, ACS_VLINE, height - 2);
        mvaddch(y, x, ACS_ULCORNER);
        mvaddch(y, x + width - 1, ACS_URCORNER);
        mvaddch(y + height - 1, x, ACS_LLCORNER);
        mvaddch(y + height - 1, x + width - 1, ACS_LRCORNER);
    }
    attrset(A_NORMAL);

    if (title != NULL)
        tui_putf(y, x + 2, width - 4, TUI_BOX, " %s ", title);
}

/* Splits text into lines of at most width columns, breaking at spaces where
 * it can. Returns the number of lines stored (at most max_lines). */
static int tui_wrap(const char *text, int width, char lines[][256],
                    int max_lines)
{
    int n = 0;
    size_t len = strlen(text);
    size_t pos = 0;

    if (width > 255)
        width = 255;
    while (pos < len && n < max_lines) {
        size_t take = len - pos;
        if (take > (size_t)width) {
            take = (size_t)width;
            size_t space = take;
            while (space > 0 && text[pos + space] != ' ')
                space--;
            if (space > 0)
                take = space;
        }
        memcpy(lines[n], text + pos, take);
        lines[n][take] = '\0';
        n++;

        pos += take;
        while (pos < len && text[pos] == ' ')
            pos++;
    }
    return n;
}

void tui_message_box(tui_app *app, const char *title, const char *text)
{
    for (;;) {
        tui_draw(app);

        if (!tui_too_small()) {
            char lines[16][256];
            int width = COLS - 8 < 72 ? COLS - 8 : 72;
            int max_lines = LINES - 6 < 16 ? LINES - 6 : 16;
            int n = tui_wrap(text, width - 4, lines, max_lines);
            int height = n + 4;
            int y = (LINES - height) / 2;
            int x = (COLS - width) / 2;

            tui_box(y, x, height, width, title);
            for (int i = 0; i < n; i++)
                tui_put(y + 1 + i, x + 2, width - 4, TUI_NORMAL, lines[i]);
            tui_put(y + height - 2, x + 2, width - 4, TUI_DIM,
                    "press any key to continue");
        }
        refresh();

        /* ERR means input is gone, so waiting longer would hang. */
        int key = tui_read_key(app);
        if (key != KEY_RESIZE && key != TUI_KEY_IDLE)
            break;
    }
}

tui_page tui_page_begin(const tui_scroll *scroll, int top, int height)
{
    tui_page page = {top, height > 0 ? height : 0, scroll->top, 0};
    return page;
}

int tui_page_next(tui_page *page)
{
    size_t line = page->line++;

    if (line < page->first || line - page->first >= (size_t)page->height)
        return -1;
    return page->top + (int)(line - page->first);
}

void tui_page_end(tui_scroll *scroll, const tui_page *page)
{
    scroll->lines = page->line;
    scroll->page = (size_t)page->height;
    tui_scroll_by(scroll, 0);
}
