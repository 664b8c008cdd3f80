/* threads.c — who parallelises what.
 *
 * The core parallelises over its own work items (images of a batch, rows of a product)
 * with OpenMP and calls the BLAS single-threaded from each worker.  Two reasons: results
 * then do not depend on how OpenBLAS would split a product across threads (each image
 * is computed the same way whatever the thread count), and the small per-image products
 * of these CNNs (16 to 64 output channels) parallelise better across images than inside
 * one product. */
#include <unistd.h>

#include "internal.h"

/* OpenBLAS's own control, declared here rather than including cblas.h twice. */
void openblas_set_num_threads(int num_threads);

void ptq_threads_init(void) {
    static int done;
    if (done) return;
    done = 1;
    openblas_set_num_threads(1);
}

int32_t ptq_default_threads(void) {
    const char *env = getenv("PTQ_THREADS");
    if (env && *env) {
        long v = strtol(env, NULL, 10);
        if (v >= 1 && v <= 1024) return (int32_t)v;
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n >= 1 ? (int32_t)PTQ_MIN(n, 1024) : 1;
}
