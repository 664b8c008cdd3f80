/* html.h — a small writer for self-contained HTML reports (report.html, ab.html).
 *
 * One file that opens anywhere, offline, years later: one inline <style>, no script, no
 * external resource, charts as inline SVG drawn here.  Every string written goes through
 * the escaper (names come from ONNX files and YAML: anything may be in them).  Empty
 * elements are written self-closed (<meta/>, <rect/>) so a test can check the output with
 * a tiny XML-like well-formedness checker.
 *
 * Charts take plain arrays; values that are NaN or infinite are skipped, and a chart with
 * nothing finite says "no data".  Long labels are cut with an ellipsis and keep their full
 * text in a tooltip (<title>).  Write errors are sticky in the FILE: ptq_html_end reports
 * them. */
#ifndef PTQ_HTML_H
#define PTQ_HTML_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* ---- page ------------------------------------------------------------------------- */

/* <!DOCTYPE html>, <head> with the title and the style sheet, <body>, <h1>title</h1>. */
void ptq_html_begin(FILE *f, const char *title);
/* Closes the page and flushes: 0; -1 when anything failed to write (errno says why);
 * PTQ_HTML_INCOMPLETE when a part of the page could not be built for want of memory. */
int ptq_html_end(FILE *f);
#define PTQ_HTML_INCOMPLETE (-2)
/* What a page writer calls when it cannot allocate what a part of the page needs (a
 * chart's arrays): the page goes on without it, and ptq_html_end reports it incomplete
 * rather than the page passing for whole.  Per thread, cleared by ptq_html_begin. */
void ptq_html_out_of_memory(void);

/* Text with & < > " ' escaped (usable in attribute values too); NULL writes nothing. */
void ptq_html_escape(FILE *f, const char *s);
void ptq_html_heading(FILE *f, int level, const char *text); /* level 2..4 */
/* A paragraph of printf-formatted, escaped text; cls NULL or one of the style sheet's
 * classes: "note" (small, grey), "banner" (a red warning box). */
void ptq_html_paragraph(FILE *f, const char *cls, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A key/value block (<dl>): begin, any number of kv lines, end. */
void ptq_html_kv_begin(FILE *f);
void ptq_html_kv(FILE *f, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void ptq_html_kv_end(FILE *f);

/* ---- tables ----------------------------------------------------------------------- */

/* Cell flags. */
enum {
    PTQ_HTML_NUM = 1,  /* a number: right-aligned, tabular digits */
    PTQ_HTML_BEST = 2, /* highlighted (the best variant, a significant difference) */
    PTQ_HTML_BAD = 4,  /* an error, a failed run, the worst layer */
    PTQ_HTML_MUTED = 8 /* secondary (implicit passes, shared work) */
};

/* <table> with a header row of n cells; align NULL or one letter per column, 'r' for
 * right-aligned (numbers), anything else left ("lrrr"; columns past its end are left). */
void ptq_html_table_begin(FILE *f, int32_t n, const char *const *headers, const char *align);
void ptq_html_row_begin(FILE *f);
/* A cell of printf-formatted, escaped text. */
void ptq_html_cell(FILE *f, unsigned flags, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A number with `decimals` digits after the point, right-aligned; NaN as "–" and
 * infinities as "∞" / "-∞" (an SQNR of an exact layer is infinite). */
void ptq_html_cell_num(FILE *f, unsigned flags, double v, int decimals);
/* A link to a relative path (percent-encoded, so no name can turn it into a URL). */
void ptq_html_cell_link(FILE *f, unsigned flags, const char *href, const char *text);
void ptq_html_row_end(FILE *f);
void ptq_html_table_end(FILE *f);

/* ---- charts (one <svg> each, 860 units wide, scaled to the page) ------------------- */

/* Vertical bars from zero, one per label, each with its value written above it; lo and
 * hi (both NULL, or n values each) draw an error bar from lo[i] to hi[i].  y_label is
 * the axis caption ("top-1 %"). */
void ptq_html_bar_chart(FILE *f, const char *title, const char *y_label, int32_t n,
                        const char *const *labels, const double *values, const double *lo,
                        const double *hi);

/* One line of a line chart: n points at categories x[k] with values y[k]. */
typedef struct ptq_html_series {
    const char *name;
    int32_t n;
    const char *const *x;
    const double *y;
} ptq_html_series;

/* Lines over a categorical x axis (layers along depth): the categories are every series'
 * x labels merged in order, a label new to the chart placed right after the series'
 * previous label, so series over different layer sets still line up; a label repeated
 * within a series keeps its last value.  A line breaks where a value is missing or not
 * finite (a lone value is a marker alone).  log_y asks for a logarithmic axis, used when every
 * finite value is > 0 (the axis caption then says "log scale"; the title says when it fell
 * back to linear). */
void ptq_html_line_chart(FILE *f, const char *title, const char *y_label, bool log_y,
                         int32_t n_series, const ptq_html_series *series);

/* Horizontal bars from zero, one per label, each with its value and unit ("s") after
 * it. */
void ptq_html_hbar_chart(FILE *f, const char *title, const char *unit, int32_t n,
                         const char *const *labels, const double *values);

/* "Nice" axis ticks covering [lo, hi]: equally spaced by 1, 2 or 5 x 10^k, about
 * `target` of them, the first <= lo and the last >= hi.  lo == hi is widened around the
 * value.  Returns the count written (<= max), 0 when lo or hi is not finite. */
int32_t ptq_html_nice_ticks(double lo, double hi, int32_t target, double *ticks, int32_t max);

#endif
