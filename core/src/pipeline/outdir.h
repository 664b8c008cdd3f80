/* outdir.h — the output directory of a run, written atomically: everything goes into a
 * fresh temporary directory beside the target, which replaces the target only when the
 * whole run succeeded.  The location is checked (and the temporary directory made)
 * before any work starts, so an unwritable --out fails in the first second. */
#ifndef PTQ_OUTDIR_H
#define PTQ_OUTDIR_H

#include "internal.h"

typedef struct ptq_outdir {
    char target[4096];      /* the directory asked for */
    char tmp[4096 + 16];    /* the temporary directory being filled ("" when none) */
    char created[4096];     /* the topmost parent this run created ("" when none) */
} ptq_outdir;

/* Checks, without creating anything, that `path` could become the output directory:
 * absent (or present and `force`), not a file, and its first existing ancestor a
 * writable directory.  What --dry-run runs. */
ptq_status ptq_outdir_check(const char *path, bool force, ptq_error *err);

/* ptq_outdir_check, then creates the missing parents and the temporary directory
 * (mode 0777 less the umask, like mkdir).  On failure nothing is left behind. */
ptq_status ptq_outdir_begin(ptq_outdir *o, const char *path, bool force, ptq_error *err);

/* Moves the temporary directory into place (an existing target is moved aside first and
 * removed once the new one is in place). */
ptq_status ptq_outdir_commit(ptq_outdir *o, ptq_error *err);

/* Removes the temporary directory and the parents begin() created; safe after commit
 * and on a zeroed struct. */
void ptq_outdir_abort(ptq_outdir *o);

/* Writes dir/name through write(f, ctx), which returns PTQ_HTML_INCOMPLETE (html.h)
 * when a part of the file could not be built for want of memory, else 0 (write errors
 * are sticky in f and checked here with ferror, then fclose).  The one file writer of
 * the run's and the A/B's outputs. */
ptq_status ptq_write_file_with(const char *dir, const char *name,
                               int (*write)(FILE *f, const void *ctx), const void *ctx,
                               ptq_error *err);

/* mkdir -p (0777 less the umask); 0, or -1 with errno. */
int ptq_mkdirs(const char *path);

/* rm -r (for the temporary directory and the old output). */
int ptq_remove_tree(const char *path);

#endif
