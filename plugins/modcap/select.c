/* select.c — ModCap's merge rule (select.h). */
#include "select.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void mc_differentials(const double *c, int32_t n, bool relative, double *d) {
    for (int32_t i = 0; i + 1 < n; i++) {
        if (!relative) d[i] = c[i] - c[i + 1];
        else d[i] = c[i] > 0.0 ? (c[i] - c[i + 1]) / c[i] : 0.0;
    }
}

int32_t mc_eligible(const int32_t *kind, int32_t n, bool same_kind, bool merge_ends, bool *ok) {
    int32_t count = 0;
    for (int32_t i = 0; i + 1 < n; i++) {
        ok[i] = (!same_kind || kind[i] == kind[i + 1]) && (merge_ends || (i > 0 && i + 2 < n));
        count += ok[i];
    }
    return count;
}

int32_t mc_auto_k(const double *d, const bool *ok, int32_t n) {
    int32_t positive = 0;
    for (int32_t i = 0; i + 1 < n; i++) positive += ok[i] && d[i] > 0.0;
    const int32_t quarter = (int32_t)lround((double)n / 4.0);
    return quarter < positive ? quarter : positive;
}

int32_t mc_select(const double *d, const bool *ok, int32_t n, int32_t k, bool *merge) {
    for (int32_t i = 0; i + 1 < n; i++) merge[i] = false;
    int32_t chosen = 0;
    /* k is a handful: k passes over the pairs beat sorting an index. */
    for (; chosen < k; chosen++) {
        int32_t best = -1;
        for (int32_t i = 0; i + 1 < n; i++)
            if (ok[i] && !merge[i] && (best < 0 || d[i] > d[best])) best = i;
        if (best < 0) break;
        merge[best] = true;
    }
    return chosen;
}

int32_t mc_groups(const bool *merge, int32_t n, int32_t *group) {
    if (n <= 0) return 0;
    group[0] = 0;
    for (int32_t m = 1; m < n; m++) group[m] = group[m - 1] + !merge[m - 1];
    return group[n - 1] + 1;
}

bool mc_parse_k(const char *text, int32_t *k) {
    if (!text || !*text || !strcmp(text, "auto")) {
        *k = -1;
        return true;
    }
    char *end;
    errno = 0;
    const long v = strtol(text, &end, 10);
    if (errno || *end || end == text || v < 0 || v > INT32_MAX) return false;
    *k = (int32_t)v;
    return true;
}

/* A module number at *p (1..n); advances *p. */
static bool parse_module(const char **p, int32_t n, int32_t *m, char *err, size_t size) {
    while (isspace((unsigned char)**p)) (*p)++;
    char *end;
    errno = 0;
    const long v = strtol(*p, &end, 10);
    if (end == *p || errno) {
        snprintf(err, size, "expected a module number at '%s'", *p);
        return false;
    }
    if (v < 1 || v > n) {
        snprintf(err, size, "module %ld is out of range (the modules are 1..%d)", v, n);
        return false;
    }
    *p = end;
    while (isspace((unsigned char)**p)) (*p)++;
    *m = (int32_t)v - 1;
    return true;
}

bool mc_parse_merges(const char *text, int32_t n, bool *merge, char *err, size_t size) {
    for (int32_t i = 0; i + 1 < n; i++) merge[i] = false;
    /* used[m]: module m is in a group already written. */
    bool *used = calloc((size_t)(n > 0 ? n : 1), sizeof *used);
    if (!used) {
        snprintf(err, size, "out of memory");
        return false;
    }
    bool good = true;
    const char *p = text;
    while (good && *p) {
        int32_t a, b;
        if (!(good = parse_module(&p, n, &a, err, size))) break;
        b = a;
        int32_t items = 1;
        if (*p == '-') {
            p++;
            if (!(good = parse_module(&p, n, &b, err, size))) break;
            if (b <= a) {
                snprintf(err, size, "range %d-%d: the second module must come after the first",
                         a + 1, b + 1);
                good = false;
                break;
            }
        } else {
            while (*p == '+') {
                p++;
                int32_t next;
                if (!(good = parse_module(&p, n, &next, err, size))) break;
                if (next != b + 1) {
                    snprintf(err, size, "modules %d and %d are not adjacent: a reconstruction "
                             "unit must be contiguous (merge %d-%d, or the modules between)",
                             b + 1, next + 1, b + 1, next + 1);
                    good = false;
                    break;
                }
                b = next, items++;
            }
            if (!good) break;
        }
        if (a == b && items == 1) {
            snprintf(err, size, "'%d' alone merges nothing: give a range such as %d-%d", a + 1,
                     a + 1, a + 2 <= n ? a + 2 : a + 1);
            good = false;
            break;
        }
        for (int32_t m = a; m <= b && good; m++)
            if (used[m]) {
                snprintf(err, size, "module %d is in two groups", m + 1);
                good = false;
            }
        for (int32_t m = a; m <= b && good; m++) used[m] = true;
        for (int32_t m = a; m < b && good; m++) merge[m] = true;
        if (!good) break;
        if (*p == ',') p++;
        else if (*p) {
            snprintf(err, size, "expected ',' at '%s'", p);
            good = false;
        }
        while (isspace((unsigned char)*p)) p++;
    }
    free(used);
    return good;
}
