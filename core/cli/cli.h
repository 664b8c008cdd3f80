/* cli.h — the ptq command line: a table of options per command, parsed and documented
 * from that one table (usage text, validation and errors all come from it). */
#ifndef PTQ_CLI_H
#define PTQ_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

enum cli_kind {
    CLI_FLAG,   /* bool, no value */
    CLI_STRING, /* const char * */
    CLI_INT,    /* int64_t within [min, max] */
    CLI_FLOATS, /* up to max_count floats: "--mean 0.4 0.5" or "--mean 0.4,0.5" */
};

typedef struct cli_opt {
    const char *name;    /* "--images" */
    const char *metavar; /* "FILE"; NULL for flags */
    enum cli_kind kind;
    void *dest;          /* bool *, const char **, int64_t *, float * */
    int32_t *count;      /* CLI_FLOATS: number of values read */
    int32_t max_count;   /* CLI_FLOATS */
    int64_t min, max;    /* CLI_INT */
    bool required;
    const char *help;
} cli_opt;

typedef struct cli_command {
    const char *name;     /* "eval" */
    const char *synopsis; /* "MODEL --images FILE --labels FILE [options]" */
    const char *summary;  /* one line */
    const char *details;  /* paragraph after the options, or NULL */
    const cli_opt *opts;  /* terminated by {0} */
    int32_t n_positional; /* required positional arguments */
    const char *positional_names;
    int32_t max_positional; /* more may follow, up to this many (0: exactly n_positional) */
} cli_command;

/* Parses argv (after the command name) into the option table's destinations and the
 * positional arguments.  Returns 0, or 2 after printing a usage error; on --help, prints
 * the command's usage on stdout and sets *help (the caller then exits 0). */
int cli_parse(const cli_command *cmd, int argc, char **argv, const char **positional,
              bool *help);
void cli_usage(const cli_command *cmd, FILE *out);
/* An error on stderr, "ptq COMMAND: " before each line: a pipeline's validation errors
 * come all at once, one per line. */
void cli_print_error(const char *command, const char *msg);

int cmd_eval(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_plugins(int argc, char **argv);
int cmd_ab(int argc, char **argv);

extern const cli_command cli_eval_command;
extern const cli_command cli_inspect_command;
extern const cli_command cli_run_command;
extern const cli_command cli_plugins_command;
extern const cli_command cli_ab_command;

#endif
