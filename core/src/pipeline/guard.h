/* guard.h — what `ptq run` does when a signal ends it.
 *
 * A run writes into a temporary directory beside its output (outdir.h) that becomes the
 * output only when everything succeeded.  A signal must not leave that directory behind,
 * and a crash must say where it happened, since the plugin that crashed is the one thing
 * the user can act on:
 *   - SIGINT, SIGTERM: the temporary directory (and the parents the run made) is removed,
 *     "ptq: interrupted by SIGINT; no output written", exit status 128 + the signal (130,
 *     143), at once: the handler cleans up and _exits, so a long reconstruction needs no
 *     cancellation points.  Arriving while the output is being moved into place, the
 *     signal waits for the move, which is atomic; from then on it keeps the output and
 *     says so.
 *   - SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT: "ptq: fatal signal 11 (SIGSEGV) in pass
 *     'x.y' of plugin 'x' (PATH); no output written", the same removal, then the handler
 *     that was there before (a sanitizer's report) or the default action, so the process
 *     still dies of the signal.
 * Everything the handlers read is set beforehand into static buffers; they use only
 * async-signal-safe calls (write, openat, getdents64, unlinkat, rmdir, _exit). */
#ifndef PTQ_GUARD_H
#define PTQ_GUARD_H

#include "outdir.h"
#include "plugin/plugin.h"

/* Installs the handlers (the registry names the plugin a pass belongs to; borrowed until
 * ptq_guard_uninstall, which restores the handlers there were). */
void ptq_guard_install(const ptq_registry *reg);
void ptq_guard_uninstall(void);

/* The run's temporary output directory from now on (o borrowed: copied); NULL: none. */
void ptq_guard_outdir(const ptq_outdir *o);
/* Around ptq_outdir_commit: a SIGINT/SIGTERM arriving then waits.  commit_end says
 * whether the output was moved into place; a signal that waited then ends the process. */
void ptq_guard_commit_begin(void);
void ptq_guard_commit_end(bool committed);

/* The pass about to run (NULL: none runs).  A no-op unless installed. */
void ptq_guard_pass(const ptq_pass_def *d);

#endif
