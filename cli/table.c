/*
 * table: the CLI's tables, fitted to the terminal's width, and the
 * formatting of the numbers in their cells.
 *
 * A table is built row by row and printed once: every column first gets
 * its natural width (its widest cell or heading); while the line is too
 * wide for the terminal, the flexible column with the most to give (ids,
 * names: TABLE_FLEX) loses one column, down to 4 columns; when that
 * is not enough, the other columns are narrowed the same way, never below
 * their heading. Cells cut that way lose their middle to a "~". Widths count UTF-8 code
 * points, not bytes.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "cli.h"
#include "mem.h"

#define TABLE_MIN_COL 4
#define TABLE_GAP 2

struct table {
    size_t ncols;
    char **heads;
    bool *flexible; /* narrowed first */
    char ***rows;
    size_t nrows, cap;
};

struct table *table_new(size_t ncols, const char *const *heads, unsigned flexible)
{
    struct table *t = xcalloc(1, sizeof(*t));
    t->ncols = ncols;
    t->heads = xcalloc(ncols, sizeof(char *));
    t->flexible = xcalloc(ncols, sizeof(bool));
    for (size_t i = 0; i < ncols && i < 32; i++)
        t->flexible[i] = (flexible >> i) & 1u;
    for (size_t i = 0; i < ncols; i++)
        t->heads[i] = xstrdup(heads[i]);
    return t;
}

void table_free(struct table *t)
{
    if (t == NULL)
        return;
    for (size_t r = 0; r < t->nrows; r++) {
        for (size_t i = 0; i < t->ncols; i++)
            free(t->rows[r][i]);
        free(t->rows[r]);
    }
    for (size_t i = 0; i < t->ncols; i++)
        free(t->heads[i]);
    free(t->heads);
    free(t->flexible);
    free(t->rows);
    free(t);
}

void table_add(struct table *t, const char *const *cells)
{
    if (t->nrows == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 16;
        t->rows = xrealloc(t->rows, t->cap * sizeof(*t->rows));
    }
    char **row = xcalloc(t->ncols, sizeof(char *));
    for (size_t i = 0; i < t->ncols; i++) {
        /* Tabs and newlines would break the columns. */
        row[i] = xstrdup(cells[i] && *cells[i] ? cells[i] : "-");
        for (char *p = row[i]; *p; p++)
            if (*p == '\n' || *p == '\t' || *p == '\r')
                *p = ' ';
    }
    t->rows[t->nrows++] = row;
}

size_t table_text_width(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80)
            n++;
    return n;
}

/* Byte offset of code point n of s (its length when s has fewer). */
static size_t cp_offset(const char *s, size_t n)
{
    size_t cps = 0;
    const char *p = s;
    for (; *p; p++) {
        if (((unsigned char)*p & 0xC0) != 0x80) {
            if (cps == n)
                break;
            cps++;
        }
    }
    return (size_t)(p - s);
}

/* Print s in exactly w columns, padded unless last. A cell too wide loses
 * its middle to a "~": ids differ at either end (a task's app name comes
 * first, a slave's -S<n> last), so both are kept. */
static void put_cell(FILE *out, const char *s, size_t w, bool last)
{
    size_t sw = table_text_width(s);
    if (sw <= w) {
        fputs(s, out);
        if (!last)
            fprintf(out, "%*s", (int)(w - sw), "");
        return;
    }
    size_t head = w / 2, tail = w - 1 - head;
    fwrite(s, 1, cp_offset(s, head), out);
    fputc('~', out);
    fputs(s + cp_offset(s, sw - tail), out);
}

void table_print(const struct table *t, int width, FILE *out)
{
    size_t *w = xcalloc(t->ncols, sizeof(size_t)), *minw = xcalloc(t->ncols, sizeof(size_t));
    size_t total = 0;

    for (size_t i = 0; i < t->ncols; i++) {
        w[i] = table_text_width(t->heads[i]);
        /* A flexible column may cut its heading too. */
        minw[i] = !t->flexible[i] && w[i] > TABLE_MIN_COL ? w[i] : TABLE_MIN_COL;
        for (size_t r = 0; r < t->nrows; r++) {
            size_t cw = table_text_width(t->rows[r][i]);
            if (cw > w[i])
                w[i] = cw;
        }
        if (minw[i] > w[i])
            minw[i] = w[i];
        total += w[i] + (i ? TABLE_GAP : 0);
    }
    for (int pass = 0; pass < 2; pass++) {
        while (width > 0 && total > (size_t)width) {
            size_t widest = t->ncols;
            for (size_t i = 0; i < t->ncols; i++) {
                if (pass == 0 && !t->flexible[i])
                    continue;
                if (widest == t->ncols || w[i] - minw[i] > w[widest] - minw[widest])
                    widest = i;
            }
            if (widest == t->ncols || w[widest] <= minw[widest])
                break; /* nothing left to narrow in this pass */
            w[widest]--;
            total--;
        }
    }
    for (size_t r = 0; r <= t->nrows; r++) {
        char **row = r == 0 ? t->heads : t->rows[r - 1];
        for (size_t i = 0; i < t->ncols; i++) {
            if (i)
                fprintf(out, "%*s", TABLE_GAP, "");
            put_cell(out, row[i], w[i], i + 1 == t->ncols);
        }
        fputc('\n', out);
    }
    free(w);
    free(minw);
}

void table_show(struct table *t, const struct cli *c)
{
    table_print(t, c->width, stdout);
    table_free(t);
}

int table_term_width(int fd, int dflt)
{
    struct winsize ws;
    if (isatty(fd) && ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
        return ws.ws_col;
    const char *cols = getenv("COLUMNS");
    if (cols) {
        char *end;
        long n = strtol(cols, &end, 10);
        if (*end == '\0' && n > 0 && n < 10000)
            return (int)n;
    }
    return dflt;
}

char *fmt_num(char *buf, size_t n, double v)
{
    snprintf(buf, n, "%.10g", (double)(long long)(v * 100 + (v < 0 ? -0.5 : 0.5)) / 100);
    return buf;
}

char *fmt_mb(char *buf, size_t n, double mb)
{
    char num[32];
    if (mb >= 1024 * 1024)
        snprintf(buf, n, "%sTB", fmt_num(num, sizeof(num), mb / (1024 * 1024)));
    else if (mb >= 1024)
        snprintf(buf, n, "%sGB", fmt_num(num, sizeof(num), mb / 1024));
    else
        snprintf(buf, n, "%sMB", fmt_num(num, sizeof(num), mb));
    return buf;
}

char *fmt_used(char *buf, size_t n, double used, double total, bool mb)
{
    char a[32], b[32];
    if (mb)
        snprintf(buf, n, "%s/%s", fmt_mb(a, sizeof(a), used), fmt_mb(b, sizeof(b), total));
    else
        snprintf(buf, n, "%s/%s", fmt_num(a, sizeof(a), used), fmt_num(b, sizeof(b), total));
    return buf;
}
