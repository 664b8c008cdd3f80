/* args.c — option parsing and usage text generated from each command's option table. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const cli_opt *find_opt(const cli_opt *opts, const char *name, size_t len) {
    for (const cli_opt *o = opts; o->name; o++)
        if (strlen(o->name) == len && strncmp(o->name, name, len) == 0) return o;
    return NULL;
}

/* Edit distance, for "did you mean". */
static size_t distance(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b), row[64];
    if (la >= 63 || lb >= 63) return 99;
    for (size_t j = 0; j <= lb; j++) row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            if (up + 1 < best) best = up + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

static int usage_error(const cli_command *cmd, const char *fmt, const char *a, const char *b) {
    fprintf(stderr, "ptq %s: ", cmd->name);
    fprintf(stderr, fmt, a, b);
    fprintf(stderr, "\nusage: ptq %s %s\n(see 'ptq %s --help')\n", cmd->name, cmd->synopsis,
            cmd->name);
    return 2;
}

static bool parse_float(const char *s, float *out) {
    char *end;
    errno = 0;
    float v = strtof(s, &end);
    if (errno || end == s || *end) return false;
    *out = v;
    return true;
}

int cli_parse(const cli_command *cmd, int argc, char **argv, const char **positional, bool *help) {
    int32_t n_pos = 0;
    bool seen[64] = {false};
    *help = false;
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i];
        if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) {
            cli_usage(cmd, stdout);
            *help = true;
            return 0;
        }
        if (strncmp(arg, "--", 2) != 0 || !strcmp(arg, "--")) {
            if (!strcmp(arg, "--") && i + 1 < argc) arg = argv[++i];
            if (n_pos >= (cmd->max_positional > cmd->n_positional ? cmd->max_positional : cmd->n_positional))
                return usage_error(cmd, "unexpected argument '%s'%s", arg, "");
            positional[n_pos++] = arg;
            continue;
        }
        const char *eq = strchr(arg, '=');
        size_t len = eq ? (size_t)(eq - arg) : strlen(arg);
        const cli_opt *o = find_opt(cmd->opts, arg, len);
        if (!o) {
            const cli_opt *best = NULL;
            size_t bd = 4;
            char name[64];
            snprintf(name, sizeof name, "%.*s", (int)(len < 63 ? len : 63), arg);
            for (const cli_opt *c = cmd->opts; c->name; c++) {
                size_t d = distance(name, c->name);
                if (d < bd) bd = d, best = c;
            }
            if (best) return usage_error(cmd, "unknown option '%s' (did you mean '%s'?)", name, best->name);
            return usage_error(cmd, "unknown option '%s'%s", name, "");
        }
        seen[o - cmd->opts] = true;
        if (o->kind == CLI_FLAG) {
            if (eq) return usage_error(cmd, "option '%s' takes no value%s", o->name, "");
            *(bool *)o->dest = true;
            continue;
        }
        const char *val = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
        if (!val) return usage_error(cmd, "option '%s' needs a value (%s)", o->name, o->metavar);
        switch (o->kind) {
        case CLI_STRING: *(const char **)o->dest = val; break;
        case CLI_INT: {
            char *end;
            errno = 0;
            long long v = strtoll(val, &end, 10);
            if (errno || end == val || *end || v < o->min || v > o->max) {
                char range[64];
                snprintf(range, sizeof range, "an integer in %" PRId64 "..%" PRId64, o->min, o->max);
                fprintf(stderr, "ptq %s: %s '%s' must be %s\n", cmd->name, o->name, val, range);
                return 2;
            }
            *(int64_t *)o->dest = v;
            break;
        }
        case CLI_FLOATS: {
            /* Values separated by commas and/or given as following arguments. */
            float *dst = o->dest;
            int32_t n = 0;
            for (;;) {
                char tmp[256];
                snprintf(tmp, sizeof tmp, "%s", val);
                for (char *tok = strtok(tmp, ","); tok; tok = strtok(NULL, ",")) {
                    if (n >= o->max_count) {
                        fprintf(stderr, "ptq %s: %s takes at most %d values\n", cmd->name, o->name, o->max_count);
                        return 2;
                    }
                    if (!parse_float(tok, &dst[n++])) {
                        fprintf(stderr, "ptq %s: %s: '%s' is not a number\n", cmd->name, o->name, tok);
                        return 2;
                    }
                }
                float dummy;
                if (eq || i + 1 >= argc || !parse_float(argv[i + 1], &dummy)) break;
                val = argv[++i];
            }
            *o->count = n;
            break;
        }
        default: break;
        }
    }
    if (n_pos < cmd->n_positional)
        return usage_error(cmd, "missing %s%s", cmd->positional_names, "");
    for (const cli_opt *o = cmd->opts; o->name; o++)
        if (o->required && !seen[o - cmd->opts])
            return usage_error(cmd, "missing required option %s %s", o->name, o->metavar);
    return 0;
}

void cli_usage(const cli_command *cmd, FILE *out) {
    fprintf(out, "usage: ptq %s %s\n\n%s\n\noptions:\n", cmd->name, cmd->synopsis, cmd->summary);
    for (const cli_opt *o = cmd->opts; o->name; o++) {
        char lhs[64];
        snprintf(lhs, sizeof lhs, "%s%s%s", o->name, o->metavar ? " " : "", o->metavar ? o->metavar : "");
        fprintf(out, "  %-22s %s", lhs, o->help);
        if (o->kind == CLI_INT) fprintf(out, " [%" PRId64 "..%" PRId64 "]", o->min, o->max);
        if (o->required) fprintf(out, " (required)");
        fputc('\n', out);
    }
    fprintf(out, "  %-22s %s\n", "--help", "show this help");
    if (cmd->details) fprintf(out, "\n%s\n", cmd->details);
}

void cli_print_error(const char *command, const char *msg) {
    for (const char *line = msg; *line;) {
        const char *nl = strchr(line, '\n');
        const int len = nl ? (int)(nl - line) : (int)strlen(line);
        fprintf(stderr, "ptq %s: %.*s\n", command, len, line);
        line += len + (nl != NULL);
    }
}
