/* test_html.c — the HTML/SVG report writer (pipeline/html.c) and the two pages built on
 * it (report_html.c, ab/ab_html.c).
 *
 * Every page is checked with a small well-formedness checker for the subset html.c
 * writes (every tag closed in order or self-closed, attributes double-quoted, no raw
 * '<' '>' or stray '&' in text), itself tested on broken input first so it can fail.
 * Whether Chromium renders the pages is tests/e2e/check_html.sh's job. */
#define _POSIX_C_SOURCE 200809L /* open_memstream */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ab/ab_report.h"
#include "pipeline/html.h"
#include "pipeline/report.h"
#include "testutil.h"

/* ============================================================ well-formedness ===== */

static bool is_name_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == ':';
}

/* An entity html.c may write at p (which points at '&'): &amp; &lt; &gt; &quot; &#N; */
static bool entity_ok(const char *p) {
    static const char *const named[] = {"&amp;", "&lt;", "&gt;", "&quot;"};
    for (size_t i = 0; i < sizeof named / sizeof named[0]; i++)
        if (!strncmp(p, named[i], strlen(named[i]))) return true;
    if (p[1] != '#') return false;
    p += 2;
    if (*p < '0' || *p > '9') return false;
    while (*p >= '0' && *p <= '9') p++;
    return *p == ';';
}

/* NULL when html is well-formed, else what is wrong and where. */
static const char *well_formed(const char *html) {
    static char why[512];
    const char *stack[512];
    size_t lens[512];
    int depth = 0;
    const char *p = html;
#define FAIL(...)                                                                                  \
    do {                                                                                           \
        int at_ = snprintf(why, sizeof why, __VA_ARGS__);                                          \
        at_ = at_ < 0 || at_ > 400 ? 0 : at_;                                                      \
        snprintf(why + at_, sizeof why - (size_t)at_, " at offset %ld: %.40s", (long)(p - html),   \
                 p);                                                                               \
        return why;                                                                                \
    } while (0)
    if (strncmp(p, "<!DOCTYPE html>", 15)) FAIL("no doctype");
    p += 15;
    while (*p) {
        if (*p == '>') FAIL("stray '>' in text");
        if (*p == '&') {
            if (!entity_ok(p)) FAIL("bare '&'");
            p++;
            continue;
        }
        if (*p != '<') {
            p++;
            continue;
        }
        if (p[1] == '/') { /* a closing tag: the innermost open one */
            const char *name = p + 2;
            size_t len = 0;
            while (is_name_char(name[len])) len++;
            if (name[len] != '>') FAIL("malformed closing tag");
            if (depth == 0) FAIL("closing tag with nothing open");
            if (lens[depth - 1] != len || strncmp(stack[depth - 1], name, len))
                FAIL("</%.*s> closes <%.*s>", (int)len, name, (int)lens[depth - 1],
                     stack[depth - 1]);
            depth--;
            p = name + len + 1;
            continue;
        }
        const char *name = p + 1;
        size_t len = 0;
        while (is_name_char(name[len])) len++;
        if (len == 0) FAIL("raw '<' in text");
        p = name + len;
        for (;;) { /* attributes */
            while (*p == ' ' || *p == '\n') p++;
            if (*p == '>' || (p[0] == '/' && p[1] == '>')) break;
            size_t an = 0;
            while (is_name_char(p[an])) an++;
            if (an == 0) FAIL("malformed attribute");
            p += an;
            if (p[0] != '=' || p[1] != '"') FAIL("attribute not double-quoted");
            p += 2;
            for (; *p != '"'; p++) {
                if (!*p || *p == '<' || *p == '>') FAIL("bad character in attribute value");
                if (*p == '&' && !entity_ok(p)) FAIL("bare '&' in attribute value");
            }
            p++;
        }
        if (*p == '/') { /* self-closed */
            p += 2;
            continue;
        }
        p++;
        if (len == 5 && !strncmp(name, "style", 5)) { /* its text is CSS: no markup in it */
            const char *end = strstr(p, "</style>");
            if (!end) FAIL("unclosed style");
            for (; p < end; p++)
                if (*p == '<' || *p == '>' || *p == '&')
                    FAIL("markup character in the style sheet");
            p = end + 8;
            continue;
        }
        if (depth == 512) FAIL("too deep");
        stack[depth] = name;
        lens[depth++] = len;
    }
    if (depth) {
        snprintf(why, sizeof why, "<%.*s> never closed", (int)lens[depth - 1], stack[depth - 1]);
        return why;
    }
    return NULL;
#undef FAIL
}

/* Output captured in memory. */
typedef struct capture {
    FILE *f;
    char *buf;
    size_t len;
} capture;

static void cap_open(capture *c) {
    c->buf = NULL;
    c->len = 0;
    c->f = open_memstream(&c->buf, &c->len);
    ck_assert(c->f != NULL);
}

static const char *cap_close(capture *c) {
    fclose(c->f);
    return c->buf;
}

/* PTQ_HTML_DUMP=DIR keeps a page as DIR/name, to look at it in a browser. */
static void dump(const char *name, const char *html) {
    const char *dir = getenv("PTQ_HTML_DUMP");
    if (!dir) return;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(html, f);
        fclose(f);
    }
}

static void assert_well_formed(const char *html) {
    const char *why = well_formed(html);
    ck_assert_msg(why == NULL, "%s", why ? why : "");
}

static int count_of(const char *hay, const char *needle) {
    int n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle)) n++;
    return n;
}

START_TEST(checker_catches_errors) {
    const char *bad[] = {
        "<p>no doctype</p>",           "<!DOCTYPE html><p><b>x</p></b>",
        "<!DOCTYPE html><p>unclosed",  "<!DOCTYPE html><p class=x>unquoted</p>",
        "<!DOCTYPE html><p>a & b</p>", "<!DOCTYPE html><p>a < b</p>",
        "<!DOCTYPE html><p>a > b</p>", "<!DOCTYPE html><p title=\"a<b\">x</p>",
        "<!DOCTYPE html></p>",         "<!DOCTYPE html><style>a>b{}</style>",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(well_formed(bad[i]) != NULL, "accepted: %s", bad[i]);
    assert_well_formed("<!DOCTYPE html><html><p class=\"a\">x &amp; &#8230; y<br/></p></html>");
}
END_TEST

/* ============================================================ the writer ========== */

START_TEST(escaping) {
    capture c;
    cap_open(&c);
    ptq_html_escape(c.f, "<a href=\"x\">&'\x01");
    ptq_html_escape(c.f, NULL);
    ck_assert_str_eq(cap_close(&c), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;?");
    free(c.buf);

    /* every primitive with a hostile string stays inert text */
    const char *evil = "<script>alert('x')</script> & \"q\"";
    cap_open(&c);
    ptq_html_begin(c.f, evil);
    ptq_html_heading(c.f, 2, evil);
    ptq_html_paragraph(c.f, "note", "%s", evil);
    ptq_html_kv_begin(c.f);
    ptq_html_kv(c.f, evil, "%s", evil);
    ptq_html_kv_end(c.f);
    const char *head[] = {evil, "n"};
    ptq_html_table_begin(c.f, 2, head, "lr");
    ptq_html_row_begin(c.f);
    ptq_html_cell(c.f, PTQ_HTML_BAD, "%s", evil);
    ptq_html_cell_link(c.f, 0, "run \"1\"/<x>?a=b#c:d/report.html", evil);
    ptq_html_row_end(c.f);
    ptq_html_table_end(c.f);
    const char *labels[] = {evil, "b"};
    const double v[] = {1, 2};
    ptq_html_bar_chart(c.f, evil, evil, 2, labels, v, NULL, NULL);
    ptq_html_hbar_chart(c.f, evil, evil, 2, labels, v);
    const ptq_html_series se = {evil, 2, labels, v};
    ptq_html_line_chart(c.f, evil, evil, false, 1, &se);
    ck_assert_int_eq(ptq_html_end(c.f), 0);
    const char *html = cap_close(&c);
    assert_well_formed(html);
    ck_assert(!strstr(html, "<script"));
    ck_assert(strstr(html, "&lt;script&gt;alert(&#39;x&#39;)"));
    /* a link stays a relative path whatever the name holds */
    ck_assert(strstr(html, "href=\"run%20%221%22/%3Cx%3E%3Fa%3Db%23c%3Ad/report.html\""));
    free(c.buf);
}
END_TEST

START_TEST(number_cells) {
    capture c;
    cap_open(&c);
    ptq_html_cell_num(c.f, 0, NAN, 2);
    ptq_html_cell_num(c.f, 0, INFINITY, 2);
    ptq_html_cell_num(c.f, PTQ_HTML_BEST, -INFINITY, 2);
    ptq_html_cell_num(c.f, 0, 3.14159, 2);
    ck_assert_str_eq(cap_close(&c),
                     "<td class=\"num \">&#8211;</td><td class=\"num \">&#8734;</td>"
                     "<td class=\"num best \">-&#8734;</td><td class=\"num \">3.14</td>");
    free(c.buf);
}
END_TEST

/* ticks: equally spaced by 1, 2 or 5 x 10^k, covering [lo, hi], a sensible count. */
static void check_ticks(double lo, double hi) {
    double t[32];
    const int32_t n = ptq_html_nice_ticks(lo, hi, 6, t, 32);
    ck_assert_msg(n >= 3 && n <= 12, "[%g, %g]: %d ticks", lo, hi, (int)n);
    ck_assert_msg(t[0] <= fmin(lo, hi) && t[n - 1] >= fmax(lo, hi), "[%g, %g]: ticks %g..%g", lo,
                  hi, t[0], t[n - 1]);
    const double step = t[1] - t[0];
    const double mant = step / pow(10, floor(log10(step) + 1e-9));
    ck_assert_msg(fabs(mant - 1) < 1e-6 || fabs(mant - 2) < 1e-6 || fabs(mant - 5) < 1e-6,
                  "[%g, %g]: step %g", lo, hi, step);
    for (int32_t i = 1; i < n; i++) ck_assert(fabs(t[i] - t[i - 1] - step) < step * 1e-6);
}

START_TEST(nice_ticks) {
    double t[32];
    ck_assert_int_eq(ptq_html_nice_ticks(0, 1, 6, t, 32), 6); /* 0, 0.2, ..., 1 */
    ck_assert(t[0] == 0.0 && fabs(t[1] - 0.2) < 1e-12 && fabs(t[5] - 1.0) < 1e-12);
    ck_assert_int_eq(ptq_html_nice_ticks(0.853, 0.921, 6, t, 32), 6); /* 0.84 .. 0.94 by 0.02 */
    ck_assert(fabs(t[0] - 0.84) < 1e-12 && fabs(t[5] - 0.94) < 1e-12);
    ck_assert_int_eq(ptq_html_nice_ticks(-3, 17, 6, t, 32), 6); /* -5 .. 20 by 5 */
    ck_assert(t[0] == -5 && t[5] == 20);
    ck_assert(ptq_html_nice_ticks(-1e-9, 1e-9, 6, t, 32) > 0);
    for (int32_t i = 0; i < 6; i++) ck_assert(!signbit(t[i]) || t[i] != 0.0); /* no -0 */
    check_ticks(0, 1);
    check_ticks(0.853, 0.921);
    check_ticks(-47.3, 12.1);
    check_ticks(1e-7, 3e-7);
    check_ticks(12345678, 98765432);
    check_ticks(5, 5); /* one value: widened */
    check_ticks(0, 0);
    check_ticks(-2, -2);
    check_ticks(3, 1); /* reversed */
    ck_assert_int_eq(ptq_html_nice_ticks(NAN, 1, 6, t, 32), 0);
    ck_assert_int_eq(ptq_html_nice_ticks(0, INFINITY, 6, t, 32), 0);
    ck_assert_int_eq(ptq_html_nice_ticks(-1e308, 1e308, 6, t, 32), 0); /* span overflows */
    /* a small max makes the step coarser, never more ticks than asked */
    const int32_t n = ptq_html_nice_ticks(0, 100, 50, t, 4);
    ck_assert(n >= 2 && n <= 4 && t[0] <= 0 && t[n - 1] >= 100);
}
END_TEST

/* Charts fed nothing, NaN, infinities, one value, equal values: valid markup, and "no
 * data" exactly where nothing is finite. */
START_TEST(charts_degenerate_inputs) {
    const char *labels[] = {"a", "b", "c"};
    const double nan3[] = {NAN, INFINITY, -INFINITY};
    const double one[] = {42};
    const double same[] = {7, 7, 7};
    const double mixed[] = {1, NAN, 3};
    const double neg[] = {-1, 2, 0};
    struct {
        const char *what;
        int no_data; /* "no data" expected */
    } cases[] = {{"bar n=0", 1},           {"bar non-finite", 1}, {"bar one", 0},
                 {"bar same", 0},          {"bar mixed", 0},      {"hbar n=0", 1},
                 {"hbar non-finite", 1},   {"hbar neg", 0},       {"line none", 1},
                 {"line non-finite", 1},   {"line one", 0},       {"line same", 0},
                 {"line empty series", 1}, {"line neg log", 0}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        capture c;
        cap_open(&c);
        ptq_html_begin(c.f, cases[i].what);
        const ptq_html_series s_nan = {"s", 3, labels, nan3}, s_one = {"s", 1, labels, one},
                              s_same = {"s", 3, labels, same}, s_empty = {"s", 0, NULL, NULL},
                              s_neg = {"s", 3, labels, neg};
        switch (i) {
        case 0: ptq_html_bar_chart(c.f, "t", "y", 0, NULL, NULL, NULL, NULL); break;
        case 1: ptq_html_bar_chart(c.f, "t", "y", 3, labels, nan3, nan3, nan3); break;
        case 2: ptq_html_bar_chart(c.f, "t", "y", 1, labels, one, one, one); break;
        case 3: ptq_html_bar_chart(c.f, "t", "y", 3, labels, same, NULL, NULL); break;
        case 4: ptq_html_bar_chart(c.f, "t", "y", 3, labels, mixed, nan3, mixed); break;
        case 5: ptq_html_hbar_chart(c.f, "t", "s", 0, NULL, NULL); break;
        case 6: ptq_html_hbar_chart(c.f, "t", "s", 3, labels, nan3); break;
        case 7: ptq_html_hbar_chart(c.f, "t", "s", 3, labels, neg); break;
        case 8: ptq_html_line_chart(c.f, "t", "y", false, 0, NULL); break;
        case 9: ptq_html_line_chart(c.f, "t", "y", true, 1, &s_nan); break;
        case 10: ptq_html_line_chart(c.f, "t", "y", true, 1, &s_one); break;
        case 11: ptq_html_line_chart(c.f, "t", "y", false, 1, &s_same); break;
        case 12: ptq_html_line_chart(c.f, "t", "y", false, 1, &s_empty); break;
        case 13: ptq_html_line_chart(c.f, "t", "y", true, 1, &s_neg); break;
        }
        ck_assert_int_eq(ptq_html_end(c.f), 0);
        const char *html = cap_close(&c);
        char name[64];
        snprintf(name, sizeof name, "degenerate%d.html", (int)i);
        dump(name, html);
        const char *why = well_formed(html);
        ck_assert_msg(!why, "%s: %s", cases[i].what, why ? why : "");
        ck_assert_msg(!strstr(html, "nan") && !strstr(html, "inf"),
                      "%s: a non-finite number printed", cases[i].what);
        ck_assert_msg(!!strstr(html, ">no data<") == cases[i].no_data, "%s: 'no data' %s",
                      cases[i].what, cases[i].no_data ? "missing" : "shown");
        if (i == 13)
            ck_assert(strstr(html, "(linear: values &lt;= 0)") && !strstr(html, "log scale"));
        free(c.buf);
    }
}
END_TEST

START_TEST(line_chart_shape) {
    /* Two series over different layer sets: b's extra layer goes after conv1, where b has
     * it; a NaN breaks a line, and a lone value is a marker without a path. */
    const char *xa[] = {"conv1", "conv2", "conv3", "fc"};
    const double ya[] = {30, NAN, 25, 20};
    const char *xb[] = {"conv1", "extra", "fc", "fc"};
    const double yb[] = {31, 29, 5, 21}; /* fc repeated: the last value counts */
    const ptq_html_series se[] = {{"a", 4, xa, ya}, {"b", 4, xb, yb}};
    capture c;
    cap_open(&c);
    ptq_html_line_chart(c.f, "t", "dB", false, 2, se);
    const char *svg = cap_close(&c);
    ck_assert_int_eq(count_of(svg, "<path fill=\"none\""), 2); /* a: conv3-fc, b: conv1-extra */
    ck_assert_int_eq(count_of(svg, "<circle "), 3); /* a: a marker at every finite value */
    ck_assert(strstr(svg, "b | fc: 21<") && !strstr(svg, "b | fc: 5<"));
    const char *c1 = strstr(svg, ">conv1<"), *ex = strstr(svg, ">extra<"),
               *c2 = strstr(svg, ">conv2<"), *fc = strstr(svg, ">fc<");
    ck_assert(c1 && ex && c2 && fc && c1 < ex && ex < c2 && c2 < fc);
    ck_assert(strstr(svg, "#0072B2") && strstr(svg, "#E69F00")); /* two palette colours */
    free(c.buf);

    /* log axis: decades as tick labels */
    const double loss[] = {1e-4, 3e-3, 10};
    const ptq_html_series sl = {"loss", 3, xa, loss};
    cap_open(&c);
    ptq_html_line_chart(c.f, "t", "loss", true, 1, &sl);
    svg = cap_close(&c);
    ck_assert(strstr(svg, ">1e-4</text>") && strstr(svg, ">0.01</text>") &&
              strstr(svg, ">10</text>"));
    ck_assert(strstr(svg, ">loss (log scale)</text>"));
    free(c.buf);
}
END_TEST

START_TEST(long_labels) {
    char name[200];
    memset(name, 'x', sizeof name - 1);
    name[sizeof name - 1] = 0;
    memcpy(name, "\xc3\xa9\xc3\xa9", 4); /* two-byte characters: never cut inside one */
    const char *labels[] = {name};
    const double v[] = {1};
    capture c;
    cap_open(&c);
    ptq_html_hbar_chart(c.f, "t", "s", 1, labels, v);
    const char *svg = cap_close(&c);
    ck_assert(strstr(svg, "&#8230;</text>"));
    char tip[260];
    snprintf(tip, sizeof tip, "<title>%s</title>", name);
    ck_assert(strstr(svg, tip));
    /* the cut label: 39 characters (the 40th is the ellipsis), so 41 bytes */
    char cut[64];
    snprintf(cut, sizeof cut, "</title>%.41s&#8230;", name);
    ck_assert_msg(strstr(svg, cut) != NULL, "%s", svg);
    free(c.buf);
}
END_TEST

START_TEST(write_error_reported) {
    FILE *f = fopen("/dev/full", "w");
    if (!f) return; /* no /dev/full here */
    ptq_html_begin(f, "t");
    ptq_html_paragraph(f, NULL, "%s", "text");
    ck_assert_int_eq(ptq_html_end(f), -1);
    fclose(f);
}
END_TEST

/* ============================================================ ab.html ============= */

static char *copy_str(const char *s) { return s ? strdup(s) : NULL; }

/* Two variants x 2 seeds: "base" finished both; "<new> & co" finished one and failed one;
 * the comparison was interrupted; pairs as given. */
static void fake_ab(ptq_ab_report *r, int32_t n_pairs, ptq_ab_pair *pairs) {
    static char *layers[] = {"conv1", "conv2", "fc"};
    static double sqnr_a[] = {30, 25, INFINITY}, sqnr_b[] = {32, NAN, 24};
    static char *units[] = {"block1", "block2"};
    static double loss_a[] = {0.01, 0.2}, loss_b[] = {0.005, 0.1};
    static char *passes[] = {"core.fold_bn", "core.calibrate"};
    static double secs[] = {0.1, 2.5};
    static bool shared[] = {true, false};
    memset(r, 0, sizeof *r);
    r->title = copy_str("cmp.yaml");
    r->model = copy_str("models/resnet20.onnx");
    r->evaluation = copy_str("10000 images");
    r->complete = false;
    r->n_variants = 2;
    r->variants = calloc(2, sizeof *r->variants);
    r->n_runs = 4;
    r->runs = calloc(4, sizeof *r->runs);
    r->seeds = 2;
    r->jobs = 2;
    r->ranks = 1;
    for (int32_t i = 0; i < 4; i++) {
        ptq_ab_run *run = &r->runs[i];
        run->variant_index = i / 2;
        run->seed_index = i % 2;
        run->seed = (uint64_t)i;
        run->variant = copy_str(i < 2 ? "base" : "<new> & co");
        char dir[64];
        snprintf(dir, sizeof dir, "%s s%d", i < 2 ? "base" : "new", (int)i % 2);
        run->dir = copy_str(dir);
        run->status = i == 3 ? PTQ_AB_FAILED : PTQ_AB_OK;
        run->top1 = 0.9 + 0.01 * i;
        run->seconds = 3;
        if (i == 3) {
            run->error = copy_str("nwq: loss is NaN at <block 2> & gave up");
            continue;
        }
        run->n_layers = 3;
        run->layer_names = layers;
        run->layer_sqnr_db = i < 2 ? sqnr_a : sqnr_b;
        run->n_passes = 2;
        run->pass_names = passes;
        run->pass_seconds = secs;
        run->pass_shared = shared;
        run->n_units = 2;
        run->unit_names = units;
        run->unit_loss = i < 2 ? loss_a : loss_b;
    }
    for (int32_t v = 0; v < 2; v++) {
        ptq_ab_variant *va = &r->variants[v];
        va->name = copy_str(v == 0 ? "base" : "<new> & co");
        va->n_runs = 2;
        va->n_ok = v == 0 ? 2 : 1;
        va->runs = calloc(2, sizeof *va->runs);
        va->runs[0] = 2 * v;
        va->runs[1] = 2 * v + 1;
        va->mean = v == 0 ? 0.905 : 0.92;
        va->min = v == 0 ? 0.9 : 0.92;
        va->max = v == 0 ? 0.91 : 0.92;
    }
    r->n_pairs = n_pairs;
    r->pairs = pairs;
    r->n_shared = 1;
    r->shared = calloc(1, sizeof *r->shared);
    r->shared[0].what = copy_str("setup, core.fold_bn");
    r->shared[0].n_runs = 4;
    r->seconds = 12.5;
}

static void free_fake_ab(ptq_ab_report *r) {
    for (int32_t i = 0; i < r->n_runs; i++) {
        free(r->runs[i].variant);
        free(r->runs[i].dir);
        free(r->runs[i].error);
    }
    for (int32_t v = 0; v < r->n_variants; v++) {
        free(r->variants[v].name);
        free(r->variants[v].runs);
    }
    free(r->shared[0].what);
    free(r->shared);
    free(r->runs);
    free(r->variants);
    free(r->title);
    free(r->model);
    free(r->evaluation);
}

static char *ab_page(const ptq_ab_report *r, const char *dump_name) {
    capture c;
    cap_open(&c);
    ck_assert_int_eq(ptq_ab_html_write(c.f, r), 0);
    cap_close(&c);
    dump(dump_name, c.buf);
    assert_well_formed(c.buf);
    return c.buf;
}

START_TEST(ab_page_incomplete_no_pairs) {
    ptq_ab_report r;
    fake_ab(&r, 0, NULL);
    char *html = ab_page(&r, "ab_incomplete.html");
    ck_assert(strstr(html, "class=\"banner\">INCOMPLETE: interrupted"));
    ck_assert(strstr(html, "nwq: loss is NaN at &lt;block 2&gt; &amp; gave up"));
    ck_assert(strstr(html, "&lt;new&gt; &amp; co"));
    ck_assert(strstr(html, "No pairs to compare"));
    ck_assert(strstr(html, "<a href=\"base%20s0/report.html\">base s0</a>"));
    ck_assert(!strstr(html, "new%20s1/report.html")); /* the failed run has no report to link */
    ck_assert(strstr(html, "base: core.fold_bn (shared)"));
    ck_assert(!strstr(html, "(best)"));
    ck_assert(!strstr(html, ">no data<"));
    ck_assert_int_eq(count_of(html, "<svg "), 4); /* top-1, SQNR, time, loss */
    free(html);
    /* complete: no banner */
    r.complete = true;
    html = ab_page(&r, "ab_complete.html");
    ck_assert(!strstr(html, "INCOMPLETE"));
    free(html);
    free_fake_ab(&r);
}
END_TEST

START_TEST(ab_best_needs_significance) {
    ptq_ab_pair pair = {.a = 0,
                        .b = 1,
                        .seeds = 1,
                        .n = 1000,
                        .only_a = 3,
                        .only_b = 20,
                        .diff = 0.015,
                        .lo = 0.005,
                        .hi = 0.025,
                        .p = 0.001,
                        .p_holm = 0.001,
                        .significant = true};
    ptq_ab_report r;
    fake_ab(&r, 1, &pair);
    r.complete = true;
    char *html = ab_page(&r, "ab_best.html");
    ck_assert(strstr(html, "class=\"best \">&lt;new&gt; &amp; co (best)"));
    ck_assert(strstr(html, ">[0.50, 2.50]<"));
    free(html);
    pair.significant = false; /* a higher mean alone is not marked */
    html = ab_page(&r, "ab_other.html");
    ck_assert(!strstr(html, "(best)"));
    free(html);
    pair.significant = true; /* significant, but the other way: the best mean is not the winner */
    pair.diff = -0.015;
    html = ab_page(&r, "ab_other.html");
    ck_assert(!strstr(html, "(best)"));
    free(html);
    free_fake_ab(&r);
}
END_TEST

START_TEST(ab_page_nothing_finished) {
    ptq_ab_report r;
    fake_ab(&r, 0, NULL);
    for (int32_t i = 0; i < r.n_runs; i++) r.runs[i].status = PTQ_AB_NOT_RUN;
    for (int32_t v = 0; v < r.n_variants; v++) r.variants[v].n_ok = 0;
    char *html = ab_page(&r, "ab_nothing.html");
    ck_assert(strstr(html, ">no data<"));
    ck_assert(strstr(html, ">not run<"));
    free(html);
    free_fake_ab(&r);
}
END_TEST

/* ============================================================ report.html ========= */

START_TEST(report_page) {
    /* A run of two passes on a three-layer graph, every measurement shape report.c
     * meets: invalid before, infinite and NaN SQNRs after, unit rows with a zero loss
     * (the log axis falls back), a table whose rows have different columns. */
    ptq_node nodes[3] = {{.name = "conv<1>", .op = PTQ_OP_CONV},
                         {.name = "conv2", .op = PTQ_OP_CONV},
                         {.name = "fc", .op = PTQ_OP_GEMM}};
    ptq_graph g = {.nodes = nodes, .n_nodes = 3};
    const ptq_pass_def d_fold = {.name = "core.fold_bn"}, d_recon = {.name = "x.recon"},
                       d_noop = {.name = "x.noop"};
    ptq_pass_cfg cfgs[3] = {
        {.def = &d_fold, .implicit = true}, {.def = &d_recon}, {.def = &d_noop}};
    ptq_layer_sqnr l1[3] = {{0, 40, 30}, {1, 41, INFINITY}, {2, NAN, 20}};
    ptq_layer_sqnr l2[3] = {{0, 40, 33}, {1, 41, 28}, {2, 39, 22}};
    ptq_pass_record recs[3] = {{.cfg = &cfgs[0],
                                .seconds = 0.01,
                                .before = {.valid = false},
                                .after = {.layers = l1, .n = 3, .valid = true}},
                               {.cfg = &cfgs[1],
                                .seconds = 5.5,
                                .before = {.layers = l1, .n = 3, .valid = true},
                                .after = {.layers = l2, .n = 3, .valid = true, .model_db = 18}},
                               {.cfg = &cfgs[2],
                                .before = {.layers = l2, .n = 3, .valid = true},
                                .after = {.layers = l2, .n = 3, .valid = true}}};
    char *c_units[] = {"loss_first", "loss_last"}, *c_other[] = {"a"}, *c_other2[] = {"b", "a"};
    double v1[] = {1, 0.5}, v2[] = {1, 0}, v3[] = {7}, v4[] = {8, 9};
    ptq_report_row rows[4] = {{1, "units", "block <1>", 2, c_units, v1},
                              {1, "units", "block2", 2, c_units, v2},
                              {1, "misc", "r1", 1, c_other, v3},
                              {1, "misc", "r2", 2, c_other2, v4}};
    ptq_session s = {.g = &g, .rows = rows, .n_rows = 4};
    ptq_pipeline p = {
        .path = "/x/pipe&line.yaml", .model = "/m.onnx", .passes = cfgs, .n_passes = 3};
    p.quant.quantize_weights = true;
    p.quant.weights.bits = 4;
    ptq_run_results r = {.passes = recs,
                         .n_passes = 3,
                         .final = recs[1].after,
                         .seconds_total = 6,
                         .have_eval = true,
                         .fl = {.images = 100, .top1 = 0.91},
                         .qu = {.images = 100, .top1 = 0.88}};
    capture c;
    cap_open(&c);
    ck_assert_int_eq(ptq_report_html_write(c.f, &p, &s, &r), 0);
    const char *html = cap_close(&c);
    dump("report.html", html);
    assert_well_formed(html);
    ck_assert(strstr(html, "<title>ptq run: pipe&amp;line.yaml</title>"));
    ck_assert(strstr(html, "float 91.00 % -&gt; quantized 88.00 % (-3.00 points, 100 images)"));
    /* x.noop changed nothing: it joins x.recon's series */
    ck_assert(strstr(html, ">after core.fold_bn<") && strstr(html, ">after x.recon, x.noop<"));
    ck_assert(!strstr(html, ">before core.fold_bn<")); /* invalid: left out */
    ck_assert(strstr(html, "core.fold_bn (implicit)"));
    ck_assert(strstr(html, "pass 2: x.recon") && strstr(html, "(linear: values &lt;= 0)"));
    ck_assert(strstr(html, "pass 2 (x.recon): misc") && strstr(html, "pass 2 (x.recon): units"));
    ck_assert(strstr(html, "<th>name</th><th class=\"num \">a</th><th class=\"num \">b</th>"));
    ck_assert(strstr(html, "conv&lt;1&gt;"));
    ck_assert(strstr(html, "class=\"num bad \">22.00<")); /* the worst final output SQNR */
    free(c.buf);
}
END_TEST

static Suite *html_suite(void) {
    Suite *s = suite_create("html");
    TCase *t = tcase_create("writer");
    tcase_add_test(t, checker_catches_errors);
    tcase_add_test(t, escaping);
    tcase_add_test(t, number_cells);
    tcase_add_test(t, nice_ticks);
    tcase_add_test(t, charts_degenerate_inputs);
    tcase_add_test(t, line_chart_shape);
    tcase_add_test(t, long_labels);
    tcase_add_test(t, write_error_reported);
    suite_add_tcase(s, t);
    t = tcase_create("pages");
    tcase_add_test(t, ab_page_incomplete_no_pairs);
    tcase_add_test(t, ab_best_needs_significance);
    tcase_add_test(t, ab_page_nothing_finished);
    tcase_add_test(t, report_page);
    suite_add_tcase(s, t);
    return s;
}

int main(void) { return test_run_suite(html_suite()); }
