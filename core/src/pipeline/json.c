/* json.c — the report writer of json.h. */
#include <stdlib.h>
#include "json.h"

#include <inttypes.h>
#include <math.h>

void ptq_json_init(ptq_json *j, FILE *f) {
    j->f = f;
    j->depth = 0;
    j->first[0] = true;
    j->after_key = false;
}

/* Separator and indentation before an element. */
static void sep(ptq_json *j) {
    if (j->after_key) {
        j->after_key = false;
        return;
    }
    if (j->depth > 0) {
        fputs(j->first[j->depth] ? "\n" : ",\n", j->f);
        for (int i = 0; i < j->depth; i++) fputs("  ", j->f);
    }
    j->first[j->depth] = false;
}

static void open_(ptq_json *j, char c) {
    sep(j);
    fputc(c, j->f);
    if (j->depth < 63) j->depth++;
    j->first[j->depth] = true;
}

static void close_(ptq_json *j, char c) {
    bool empty = j->first[j->depth];
    if (j->depth > 0) j->depth--;
    if (!empty) {
        fputc('\n', j->f);
        for (int i = 0; i < j->depth; i++) fputs("  ", j->f);
    }
    fputc(c, j->f);
    if (j->depth == 0) fputc('\n', j->f);
}

void ptq_json_begin_object(ptq_json *j) { open_(j, '{'); }
void ptq_json_end_object(ptq_json *j) { close_(j, '}'); }
void ptq_json_begin_array(ptq_json *j) { open_(j, '['); }
void ptq_json_end_array(ptq_json *j) { close_(j, ']'); }

static void str(FILE *f, const char *s) {
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        switch (*p) {
        case '"': fputs("\\\"", f); break;
        case '\\': fputs("\\\\", f); break;
        case '\n': fputs("\\n", f); break;
        case '\r': fputs("\\r", f); break;
        case '\t': fputs("\\t", f); break;
        default:
            if (*p < 0x20) fprintf(f, "\\u%04x", *p);
            else fputc(*p, f);
        }
    }
    fputc('"', f);
}

void ptq_json_key(ptq_json *j, const char *key) {
    sep(j);
    str(j->f, key);
    fputs(": ", j->f);
    j->after_key = true;
}

void ptq_json_string(ptq_json *j, const char *s) {
    sep(j);
    str(j->f, s);
}

/* The shortest decimal that reads back as the same double (so 0.1 stays 0.1). */
void ptq_json_number(ptq_json *j, double v) {
    sep(j);
    if (!isfinite(v)) {
        fputs("null", j->f);
        return;
    }
    char buf[40];
    for (int prec = 6; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, v);
        if (strtod(buf, NULL) == v) break;
    }
    fputs(buf, j->f);
}

void ptq_json_float(ptq_json *j, float v) {
    sep(j);
    if (!isfinite(v)) {
        fputs("null", j->f);
        return;
    }
    char buf[32];
    for (int prec = 6; prec <= 9; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, (double)v);
        if (strtof(buf, NULL) == v) break;
    }
    fputs(buf, j->f);
}

void ptq_json_int(ptq_json *j, int64_t v) {
    sep(j);
    fprintf(j->f, "%" PRId64, v);
}

void ptq_json_bool(ptq_json *j, bool v) {
    sep(j);
    fputs(v ? "true" : "false", j->f);
}

void ptq_json_null(ptq_json *j) {
    sep(j);
    fputs("null", j->f);
}
