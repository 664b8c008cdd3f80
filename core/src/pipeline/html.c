/* html.c — the HTML/SVG writer of html.h.  Every chart is laid out in a fixed 860-unit
 * wide viewBox and scaled by the page's style sheet, so positions here are plain numbers
 * and the page still fits any window. */
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "html.h"

#define CHART_W   860.0
#define MAX_TICKS 32

/* Okabe & Ito's colour-blind-safe palette, yellow last (faint on white); series past
 * the eighth reuse the colours with dashed lines, and markers differ by shape too. */
static const char *const palette[] = {"#0072B2", "#E69F00", "#009E73", "#D55E00",
                                      "#CC79A7", "#56B4E9", "#000000", "#F0E442"};
#define N_COLOURS ((int32_t)(sizeof palette / sizeof palette[0]))

/* No '<', '>' or '&' in here: it is text inside <style> and stays trivially well-formed. */
static const char style_sheet[] =
    "body{font:14px/1.45 system-ui,sans-serif;color:#222;max-width:1100px;margin:24px auto;"
    "padding:0 16px}\n"
    "h1{font-size:22px}h2{font-size:18px;margin-top:28px;border-bottom:1px solid #ddd}"
    "h3{font-size:15px}\n"
    "table{border-collapse:collapse;margin:8px 0 16px}\n"
    "th,td{padding:3px 10px;border-bottom:1px solid #e4e4e4;text-align:left;vertical-align:top}\n"
    "th{background:#f4f4f4}\n"
    ".num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}\n"
    ".best{background:#dff0d8;font-weight:600}.bad{color:#b00020}.muted{color:#777}\n"
    ".note{color:#666;font-size:13px}\n"
    ".banner{background:#fdecea;border:2px solid #b00020;color:#b00020;padding:8px 12px;"
    "font-weight:700}\n"
    "dl{display:grid;grid-template-columns:max-content auto;gap:2px "
    "16px}dt{color:#555}dd{margin:0}\n"
    ".chart svg{max-width:100%;height:auto;font-family:system-ui,sans-serif}\n"
    "svg text{font-size:11px;fill:#333}svg text.title{font-size:14px;font-weight:600}\n"
    "svg .grid{stroke:#e8e8e8}svg .axis{stroke:#555}\n";

/* ---- text ---------------------------------------------------------------------- */

/* len bytes of s, escaped; control characters (invalid in HTML text) become '?'. */
static void put_escaped(FILE *f, const char *s, size_t len) {
    for (size_t i = 0; i < len; i++) {
        const unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&#39;", f); break;
        default: fputc((c < 0x20 && c != '\n' && c != '\t') || c == 0x7f ? '?' : c, f);
        }
    }
}

void ptq_html_escape(FILE *f, const char *s) {
    if (s) put_escaped(f, s, strlen(s));
}

/* The bytes of s to write when at most max characters (UTF-8 code points) fit: all of
 * them, or the first max - 1 and *clipped set (the caller adds an ellipsis). */
static size_t clip_length(const char *s, int32_t max, bool *clipped) {
    int32_t chars = 0;
    size_t keep = 0;
    *clipped = false;
    for (size_t i = 0; s[i]; i++) {
        if (((unsigned char)s[i] & 0xC0) == 0x80) continue; /* continuation byte */
        if (chars == max - 1) keep = i;
        if (++chars > max) {
            *clipped = true;
            return keep;
        }
    }
    return strlen(s);
}

static _Thread_local bool g_incomplete; /* see ptq_html_out_of_memory */

void ptq_html_out_of_memory(void) { g_incomplete = true; }

/* Formats into a fresh buffer (NULL, and the page marked incomplete, when out of memory). */
static char *vformat(const char *fmt, va_list ap) {
    va_list ap2;
    va_copy(ap2, ap);
    const int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    char *buf = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (buf) vsnprintf(buf, (size_t)n + 1, fmt, ap);
    else ptq_html_out_of_memory();
    return buf;
}

/* ---- page ---------------------------------------------------------------------- */

void ptq_html_begin(FILE *f, const char *title) {
    g_incomplete = false;
    fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n"
          "<meta name=\"viewport\" content=\"width=device-width\"/>\n<title>",
          f);
    ptq_html_escape(f, title);
    fprintf(f, "</title>\n<style>\n%s</style>\n</head>\n<body>\n<h1>", style_sheet);
    ptq_html_escape(f, title);
    fputs("</h1>\n", f);
}

int ptq_html_end(FILE *f) {
    fputs("</body>\n</html>\n", f);
    if (fflush(f) != 0 || ferror(f)) return -1;
    return g_incomplete ? PTQ_HTML_INCOMPLETE : 0;
}

void ptq_html_heading(FILE *f, int level, const char *text) {
    level = level < 2 ? 2 : level > 4 ? 4 : level;
    fprintf(f, "<h%d>", level);
    ptq_html_escape(f, text);
    fprintf(f, "</h%d>\n", level);
}

void ptq_html_paragraph(FILE *f, const char *cls, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *text = vformat(fmt, ap);
    va_end(ap);
    fputs("<p", f);
    if (cls) {
        fputs(" class=\"", f);
        ptq_html_escape(f, cls);
        fputc('"', f);
    }
    fputc('>', f);
    ptq_html_escape(f, text);
    fputs("</p>\n", f);
    free(text);
}

void ptq_html_kv_begin(FILE *f) { fputs("<dl>\n", f); }
void ptq_html_kv_end(FILE *f) { fputs("</dl>\n", f); }

void ptq_html_kv(FILE *f, const char *key, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *text = vformat(fmt, ap);
    va_end(ap);
    fputs("<dt>", f);
    ptq_html_escape(f, key);
    fputs("</dt><dd>", f);
    ptq_html_escape(f, text);
    fputs("</dd>\n", f);
    free(text);
}

/* ---- tables -------------------------------------------------------------------- */

static void open_cell(FILE *f, const char *tag, unsigned flags) {
    fprintf(f, "<%s", tag);
    if (flags) {
        fprintf(f, " class=\"%s%s%s%s\"", flags & PTQ_HTML_NUM ? "num " : "",
                flags & PTQ_HTML_BEST ? "best " : "", flags & PTQ_HTML_BAD ? "bad " : "",
                flags & PTQ_HTML_MUTED ? "muted" : "");
    }
    fputc('>', f);
}

void ptq_html_table_begin(FILE *f, int32_t n, const char *const *headers, const char *align) {
    fputs("<table>\n<thead><tr>", f);
    size_t n_align = align ? strlen(align) : 0;
    for (int32_t i = 0; i < n; i++) {
        open_cell(f, "th", (size_t)i < n_align && align[i] == 'r' ? PTQ_HTML_NUM : 0);
        ptq_html_escape(f, headers[i]);
        fputs("</th>", f);
    }
    fputs("</tr></thead>\n<tbody>\n", f);
}

void ptq_html_row_begin(FILE *f) { fputs("<tr>", f); }
void ptq_html_row_end(FILE *f) { fputs("</tr>\n", f); }
void ptq_html_table_end(FILE *f) { fputs("</tbody>\n</table>\n", f); }

void ptq_html_cell(FILE *f, unsigned flags, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *text = vformat(fmt, ap);
    va_end(ap);
    open_cell(f, "td", flags);
    ptq_html_escape(f, text);
    fputs("</td>", f);
    free(text);
}

void ptq_html_cell_num(FILE *f, unsigned flags, double v, int decimals) {
    open_cell(f, "td", flags | PTQ_HTML_NUM);
    if (isnan(v))
        fputs("&#8211;", f);
    else if (isinf(v))
        fputs(v > 0 ? "&#8734;" : "-&#8734;", f);
    else
        fprintf(f, "%.*f", decimals < 0 ? 0 : decimals > 12 ? 12 : decimals, v);
    fputs("</td>", f);
}

void ptq_html_cell_link(FILE *f, unsigned flags, const char *href, const char *text) {
    open_cell(f, "td", flags);
    fputs("<a href=\"", f);
    for (const char *c = href ? href : ""; *c; c++) {
        const unsigned char b = (unsigned char)*c;
        if ((b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || (b >= '0' && b <= '9') ||
            strchr("-._~/", b))
            fputc(b, f);
        else
            fprintf(f, "%%%02X", b);
    }
    fputs("\">", f);
    ptq_html_escape(f, text);
    fputs("</a></td>", f);
}

/* ---- axes ---------------------------------------------------------------------- */

/* 1, 2, 5 or 10 x 10^k, the smallest at least raw. */
static double nice_step(double raw) {
    const double p = pow(10.0, floor(log10(raw)));
    const double m = raw / p;
    return (m <= 1.0 + 1e-9 ? 1.0 : m <= 2.0 + 1e-9 ? 2.0 : m <= 5.0 + 1e-9 ? 5.0 : 10.0) * p;
}

int32_t ptq_html_nice_ticks(double lo, double hi, int32_t target, double *ticks, int32_t max) {
    if (!isfinite(lo) || !isfinite(hi) || max < 2) return 0;
    if (lo > hi) {
        const double t = lo;
        lo = hi;
        hi = t;
    }
    if (hi - lo <= 1e-12 * fmax(fabs(lo), fabs(hi))) { /* one value: a range around it */
        const double w = lo == 0.0 ? 1.0 : fabs(lo) * 0.1;
        lo -= w;
        hi += w;
    }
    if (!isfinite(hi - lo)) return 0;
    if (target < 2) target = 2;
    double step = nice_step((hi - lo) / (target - 1));
    double first = 0, last = 0;
    for (int guard = 0; guard < 64; guard++) {
        first = floor(lo / step + 1e-9);
        last = ceil(hi / step - 1e-9);
        if (last - first + 1 <= max) break;
        step = nice_step(step * 2.0);
    }
    if (!(last - first + 1 <= max) || !isfinite(step) || step <= 0) return 0;
    const int32_t n = (int32_t)(last - first) + 1;
    for (int32_t i = 0; i < n; i++) {
        const double v = (first + i) * step;
        ticks[i] = fabs(v) < step * 1e-9 ? 0.0 : v; /* no "-0" or 1e-17 at zero */
    }
    return n;
}

typedef struct axis {
    bool log;
    double lo, hi;       /* the span drawn (log10 of the values on a log axis) */
    double t[MAX_TICKS]; /* ticks, in values */
    int32_t n_t;
    int decimals; /* of the linear tick labels */
} axis;

static void axis_linear(axis *a, double lo, double hi) {
    a->log = false;
    a->n_t = ptq_html_nice_ticks(lo, hi, 6, a->t, MAX_TICKS);
    if (a->n_t < 2) { /* not reachable with finite input; keep the drawing sane anyway */
        a->t[0] = 0.0;
        a->t[1] = 1.0;
        a->n_t = 2;
    }
    a->lo = a->t[0];
    a->hi = a->t[a->n_t - 1];
    const double step = a->t[1] - a->t[0];
    a->decimals = step >= 1.0 ? 0 : (int)ceil(-log10(step) - 1e-9);
}

/* Decades covering [lo, hi] (both > 0), at most 10 ticks. */
static void axis_log(axis *a, double lo, double hi) {
    a->log = true;
    a->lo = floor(log10(lo));
    a->hi = ceil(log10(hi));
    if (a->hi <= a->lo) a->hi = a->lo + 1.0;
    const double every = ceil((a->hi - a->lo) / 9.0);
    a->hi = a->lo + every * ceil((a->hi - a->lo) / every);
    a->n_t = 0;
    for (double d = a->lo; d <= a->hi + 1e-9 && a->n_t < MAX_TICKS; d += every)
        a->t[a->n_t++] = pow(10.0, d);
}

/* Where v falls on the axis, 0 at lo and 1 at hi. */
static double axis_frac(const axis *a, double v) {
    if (a->log) v = log10(v);
    return (v - a->lo) / (a->hi - a->lo);
}

static void tick_label(const axis *a, double v, char *buf, size_t size) {
    if (a->log) {
        const int k = (int)lround(log10(v));
        if (k >= -3 && k <= 4)
            snprintf(buf, size, "%g", v);
        else
            snprintf(buf, size, "1e%d", k);
    } else if (fabs(v) >= 1e6 || a->decimals > 6) {
        snprintf(buf, size, "%.3g", v);
    } else {
        snprintf(buf, size, "%.*f", a->decimals, v);
    }
}

static void value_label(double v, char *buf, size_t size) { snprintf(buf, size, "%.4g", v); }

/* ---- SVG pieces ---------------------------------------------------------------- */

/* <text>, cut to max characters with the full text as its tooltip; rotate in degrees
 * about (x, y). */
static void svg_text(FILE *f, double x, double y, const char *anchor, double rotate,
                     const char *cls, const char *text, int32_t max) {
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\"", x, y, anchor);
    if (cls) fprintf(f, " class=\"%s\"", cls);
    if (rotate != 0.0) fprintf(f, " transform=\"rotate(%.0f %.1f %.1f)\"", rotate, x, y);
    fputc('>', f);
    text = text ? text : "";
    bool clipped;
    const size_t len = clip_length(text, max < 2 ? 2 : max, &clipped);
    if (clipped) {
        fputs("<title>", f);
        ptq_html_escape(f, text);
        fputs("</title>", f);
    }
    put_escaped(f, text, len);
    if (clipped) fputs("&#8230;", f);
    fputs("</text>\n", f);
}

static void svg_begin(FILE *f, double height, const char *title, const char *note) {
    fprintf(f,
            "<div class=\"chart\"><svg viewBox=\"0 0 %.0f %.0f\" width=\"%.0f\" height=\"%.0f\" "
            "role=\"img\" aria-label=\"",
            CHART_W, height, CHART_W, height);
    ptq_html_escape(f, title);
    fputs("\">\n", f);
    char full[512];
    snprintf(full, sizeof full, "%s%s", title ? title : "", note ? note : "");
    svg_text(f, CHART_W / 2, 20, "middle", 0, "title", full, 110);
}

static void svg_end(FILE *f) { fputs("</svg></div>\n", f); }

/* A chart with nothing to draw still says so in its place. */
static void svg_no_data(FILE *f, const char *title) {
    svg_begin(f, 80, title, NULL);
    svg_text(f, CHART_W / 2, 55, "middle", 0, "note", "no data", 20);
    svg_end(f);
}

/* A value axis along the y direction of the plot [x0, x1] x [y0, y1] (y0 top): grid
 * lines, tick labels, the caption. */
static void y_axis(FILE *f, const axis *a, double x0, double x1, double y0, double y1,
                   const char *caption) {
    char buf[64];
    for (int32_t i = 0; i < a->n_t; i++) {
        const double y = y1 - axis_frac(a, a->t[i]) * (y1 - y0);
        fprintf(f, "<line class=\"grid\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", x0,
                y, x1, y);
        tick_label(a, a->t[i], buf, sizeof buf);
        svg_text(f, x0 - 6, y + 4, "end", 0, NULL, buf, 12);
    }
    fprintf(f, "<line class=\"axis\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", x0, y0,
            x0, y1);
    svg_text(f, 14, (y0 + y1) / 2, "middle", -90, NULL, caption, 40);
}

/* A category label under the plot at x: horizontal when it fits `room`, else slanted. */
static void x_label(FILE *f, double x, double y, const char *text, double room, bool slant) {
    if (slant)
        svg_text(f, x + 3, y + 6, "end", -45, NULL, text, 24);
    else
        svg_text(f, x, y + 14, "middle", 0, NULL, text, (int32_t)(room / 6.5));
}

static bool labels_fit(int32_t n, const char *const *labels, double room) {
    for (int32_t i = 0; i < n; i++)
        if (labels[i] && strlen(labels[i]) * 6.5 > room) return false;
    return true;
}

/* ---- bar chart ----------------------------------------------------------------- */

void ptq_html_bar_chart(FILE *f, const char *title, const char *y_label, int32_t n,
                        const char *const *labels, const double *values, const double *lo,
                        const double *hi) {
    double vmin = 0.0, vmax = 0.0; /* bars start at zero */
    double dmin = INFINITY, dmax = -INFINITY;
    bool any = false;
    for (int32_t i = 0; i < n; i++) {
        const double v[3] = {values[i], lo ? lo[i] : NAN, hi ? hi[i] : NAN};
        any = any || isfinite(v[0]);
        for (int k = 0; k < 3; k++) {
            if (!isfinite(v[k])) continue;
            vmin = fmin(vmin, v[k]);
            vmax = fmax(vmax, v[k]);
            dmin = fmin(dmin, v[k]);
            dmax = fmax(dmax, v[k]);
        }
    }
    if (!any) {
        svg_no_data(f, title);
        return;
    }
    /* Accuracies of close variants (90.1 against 90.6 %): bars from zero would hide the
     * differences the chart is for, so the axis then starts below the lowest value and
     * the bars at the axis (the labels above them carry the values). */
    const bool zoomed = dmin > 0 && dmax - dmin < 0.5 * dmin;
    if (zoomed) vmin = fmax(0.0, dmin - fmax(dmax - dmin, 0.02 * dmax));
    if (vmax == vmin) vmax = vmin + 1.0; /* all zero */
    const double left = 70, right = CHART_W - 20, top = 44, bottom = top + 260;
    const double slot = (right - left) / n;
    const bool slant = !labels_fit(n, labels, slot);
    svg_begin(f, bottom + (slant ? 120 : 36), title, NULL);
    axis a;
    axis_linear(&a, vmin, vmax);
    y_axis(f, &a, left, right, top, bottom, y_label);
    const double y_zero = bottom - axis_frac(&a, zoomed ? a.lo : 0.0) * (bottom - top);
    char buf[64];
    for (int32_t i = 0; i < n; i++) {
        const double cx = left + (i + 0.5) * slot, w = fmin(slot * 0.6, 80);
        x_label(f, cx, bottom, labels[i], slot, slant);
        if (!isfinite(values[i])) {
            svg_text(f, cx, y_zero - 4, "middle", 0, "note", "n/a", 8);
            continue;
        }
        const double y = bottom - axis_frac(&a, values[i]) * (bottom - top);
        value_label(values[i], buf, sizeof buf);
        fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\"><title>",
                cx - w / 2, fmin(y, y_zero), w, fabs(y_zero - y), palette[0]);
        ptq_html_escape(f, labels[i]);
        fprintf(f, ": %s", buf);
        double top_y = fmin(y, y_zero);
        const bool bar = lo && hi && isfinite(lo[i]) && isfinite(hi[i]);
        if (bar) {
            fprintf(f, " (%.4g to %.4g)", lo[i], hi[i]);
        }
        fputs("</title></rect>\n", f);
        if (bar) {
            const double yl = bottom - axis_frac(&a, lo[i]) * (bottom - top);
            const double yh = bottom - axis_frac(&a, hi[i]) * (bottom - top);
            fprintf(f,
                    "<path d=\"M%.1f,%.1fV%.1fM%.1f,%.1fH%.1fM%.1f,%.1fH%.1f\" stroke=\"#222\" "
                    "fill=\"none\"/>\n",
                    cx, yl, yh, cx - 6, yl, cx + 6, cx - 6, yh, cx + 6);
            top_y = fmin(top_y, fmin(yl, yh));
        }
        svg_text(f, cx, top_y - 4, "middle", 0, NULL, buf, 12);
    }
    fprintf(f, "<line class=\"axis\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", left,
            y_zero, right, y_zero);
    svg_end(f);
}

/* ---- line chart ---------------------------------------------------------------- */

/* Legend items flow in rows across the chart; returns the rows' height, drawing them
 * from y when f is not NULL. */
static double legend(FILE *f, double y, int32_t n_series, const ptq_html_series *series) {
    const double x0 = 70, x1 = CHART_W - 20, row_h = 18;
    double x = x0;
    int32_t rows = n_series > 0 ? 1 : 0;
    for (int32_t s = 0; s < n_series; s++) {
        const char *name = series[s].name ? series[s].name : "";
        const double w = 30 + fmin((double)strlen(name), 40) * 6.5;
        if (x + w > x1 && x > x0) {
            x = x0;
            rows++;
        }
        if (f) {
            const double ly = y + (rows - 1) * row_h;
            fprintf(f,
                    "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
                    "stroke-width=\"2\"%s/>\n",
                    x, ly - 4, x + 18, ly - 4, palette[s % N_COLOURS],
                    s >= N_COLOURS ? " stroke-dasharray=\"5 3\"" : "");
            svg_text(f, x + 22, ly, "start", 0, NULL, name, 40);
        }
        x += w;
    }
    return rows * row_h;
}

/* A marker whose shape follows the series (so series differ without colour too), with
 * its tooltip. */
static void marker(FILE *f, int32_t s, double x, double y, const char *series, const char *cat,
                   double v) {
    const char *c = palette[s % N_COLOURS];
    switch (s % 4) {
    case 0: fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3.5\" fill=\"%s\">", x, y, c); break;
    case 1:
        fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"7\" height=\"7\" fill=\"%s\">", x - 3.5,
                y - 3.5, c);
        break;
    case 2: fprintf(f, "<path d=\"M%.1f,%.1fl4,7h-8z\" fill=\"%s\">", x, y - 4.5, c); break;
    default:
        fprintf(f, "<path d=\"M%.1f,%.1fl4.5,4.5l-4.5,4.5l-4.5,-4.5z\" fill=\"%s\">", x, y - 4.5,
                c);
    }
    fputs("<title>", f);
    ptq_html_escape(f, series);
    fputs(" | ", f);
    ptq_html_escape(f, cat);
    fprintf(f, ": %.4g</title>", v);
    fputs(s % 4 == 0 ? "</circle>\n" : s % 4 == 1 ? "</rect>\n" : "</path>\n", f);
}

void ptq_html_line_chart(FILE *f, const char *title, const char *y_label, bool log_y,
                         int32_t n_series, const ptq_html_series *series) {
    /* The categories: every series' labels merged in order, a label new to the chart going
     * right after the series' previous one (a variant's extra layer lands where it sits). */
    int64_t points = 0;
    for (int32_t s = 0; s < n_series; s++) points += series[s].n > 0 ? series[s].n : 0;
    const char **cats = points ? calloc((size_t)points, sizeof *cats) : NULL;
    if (points && !cats) ptq_html_out_of_memory();
    int32_t n_x = 0;
    for (int32_t s = 0; cats && s < n_series; s++) {
        int32_t prev = -1;
        for (int32_t k = 0; k < series[s].n; k++) {
            const char *x = series[s].x[k] ? series[s].x[k] : "";
            int32_t c = 0;
            while (c < n_x && strcmp(cats[c], x)) c++;
            if (c == n_x) {
                c = prev + 1;
                memmove(cats + c + 1, cats + c, (size_t)(n_x - c) * sizeof *cats);
                cats[c] = x;
                n_x++;
            }
            prev = c;
        }
    }
    double *v = n_x ? malloc((size_t)n_x * (size_t)n_series * sizeof *v) : NULL;
    if (n_x && !v) ptq_html_out_of_memory();
    double vmin = INFINITY, vmax = -INFINITY;
    for (int32_t s = 0; v && s < n_series; s++) {
        double *row = v + (size_t)s * (size_t)n_x;
        for (int32_t c = 0; c < n_x; c++) row[c] = NAN;
        for (int32_t k = 0; k < series[s].n; k++) {
            const char *x = series[s].x[k] ? series[s].x[k] : "";
            int32_t c = 0;
            while (strcmp(cats[c], x)) c++;
            row[c] = isfinite(series[s].y[k]) ? series[s].y[k] : NAN;
            if (isfinite(row[c])) {
                vmin = fmin(vmin, row[c]);
                vmax = fmax(vmax, row[c]);
            }
        }
    }
    if (!isfinite(vmin)) {
        svg_no_data(f, title);
        free(cats);
        free(v);
        return;
    }
    const bool use_log = log_y && vmin > 0.0;
    const double left = 70, right = CHART_W - 20;
    const double top = 52 + legend(NULL, 0, n_series, series), bottom = top + 280;
    const double slot = (right - left) / n_x;
    const bool slant = !labels_fit(n_x, cats, slot);
    const int32_t every = slant ? (int32_t)ceil(13.0 / slot) : 1; /* labels 13 units apart */
    svg_begin(f, bottom + (slant ? 130 : 36), title,
              log_y && !use_log ? " (linear: values <= 0)" : NULL);
    legend(f, 40, n_series, series);
    axis a;
    if (use_log)
        axis_log(&a, vmin, vmax);
    else
        axis_linear(&a, vmin, vmax);
    char caption[256];
    snprintf(caption, sizeof caption, "%s%s", y_label ? y_label : "",
             use_log ? " (log scale)" : "");
    y_axis(f, &a, left, right, top, bottom, caption);
    fprintf(f, "<line class=\"axis\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", left,
            bottom, right, bottom);
    for (int32_t c = 0; c < n_x; c += every)
        x_label(f, left + (c + 0.5) * slot, bottom, cats[c], slot, slant);
    for (int32_t s = 0; s < n_series; s++) {
        const double *row = v + (size_t)s * (size_t)n_x;
        for (int32_t c = 0; c < n_x; c++) { /* a path per run of values; a lone one is a marker */
            if (isnan(row[c])) continue;
            const bool prev = c > 0 && !isnan(row[c - 1]), next = c + 1 < n_x && !isnan(row[c + 1]);
            if (!prev && !next) continue;
            if (!prev)
                fprintf(f, "<path fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\"%s d=\"M",
                        palette[s % N_COLOURS], s >= N_COLOURS ? " stroke-dasharray=\"5 3\"" : "");
            fprintf(f, "%s%.1f,%.1f", prev ? " L" : "", left + (c + 0.5) * slot,
                    bottom - axis_frac(&a, row[c]) * (bottom - top));
            if (!next) fputs("\"/>\n", f);
        }
        for (int32_t c = 0; c < n_x; c++)
            if (!isnan(row[c]))
                marker(f, s, left + (c + 0.5) * slot,
                       bottom - axis_frac(&a, row[c]) * (bottom - top), series[s].name, cats[c],
                       row[c]);
    }
    svg_end(f);
    free(cats);
    free(v);
}

/* ---- horizontal bar chart ------------------------------------------------------ */

void ptq_html_hbar_chart(FILE *f, const char *title, const char *unit, int32_t n,
                         const char *const *labels, const double *values) {
    double vmin = 0.0, vmax = 0.0;
    bool any = false;
    for (int32_t i = 0; i < n; i++) {
        if (!isfinite(values[i])) continue;
        any = true;
        vmin = fmin(vmin, values[i]);
        vmax = fmax(vmax, values[i]);
    }
    if (!any) {
        svg_no_data(f, title);
        return;
    }
    if (vmax == vmin) vmax = vmin + 1.0;
    const double left = 270, right = CHART_W - 90, top = 40, row_h = 22;
    const double bottom = top + n * row_h;
    svg_begin(f, bottom + 36, title, NULL);
    axis a;
    axis_linear(&a, vmin, vmax);
    char buf[96];
    for (int32_t i = 0; i < a.n_t; i++) {
        const double x = left + axis_frac(&a, a.t[i]) * (right - left);
        fprintf(f, "<line class=\"grid\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", x,
                top, x, bottom);
        tick_label(&a, a.t[i], buf, sizeof buf);
        svg_text(f, x, bottom + 16, "middle", 0, NULL, buf, 12);
    }
    const double x_zero = left + axis_frac(&a, 0.0) * (right - left);
    for (int32_t i = 0; i < n; i++) {
        const double y = top + i * row_h;
        svg_text(f, left - 8, y + 15, "end", 0, NULL, labels[i], 40);
        if (!isfinite(values[i])) {
            svg_text(f, x_zero + 4, y + 15, "start", 0, "note", "n/a", 8);
            continue;
        }
        const double x = left + axis_frac(&a, values[i]) * (right - left);
        snprintf(buf, sizeof buf, "%.3g %s", values[i], unit ? unit : "");
        fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\"><title>",
                fmin(x, x_zero), y + 4, fabs(x - x_zero), row_h - 8, palette[0]);
        ptq_html_escape(f, labels[i]);
        fputs(": ", f);
        ptq_html_escape(f, buf);
        fputs("</title></rect>\n", f);
        svg_text(f, fmax(x, x_zero) + 4, y + 15, "start", 0, NULL, buf, 24);
    }
    fprintf(f, "<line class=\"axis\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", x_zero,
            top, x_zero, bottom);
    svg_end(f);
}
