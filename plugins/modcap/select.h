/* select.h — ModCap's merge rule over a sequence of base modules, apart from the host
 * (so it is tested on plain arrays): the differential of each adjacent pair, which
 * pairs may merge, the top-k choice, and the groups it gives.
 *
 * Pair i is modules i and i+1.  A larger differential means the capacity falls more
 * from module i to module i+1: the place where MRECG says the reconstruction loss jumps
 * and merging pays.  Selected pairs chain: pairs 3 and 4 make one group of modules
 * 3, 4 and 5. */
#ifndef MODCAP_SELECT_H
#define MODCAP_SELECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* d[i] for the n - 1 pairs from the modules' capacities c[0..n):
 *   relative (data-free capacities, parameters x bits): (c[i] - c[i+1]) / c[i], the
 *     fraction of capacity lost (0 when c[i] is 0);
 *   otherwise (capacities on a log scale, -log of the relative loss): c[i] - c[i+1]. */
void mc_differentials(const double *c, int32_t n, bool relative, double *d);

/* ok[i]: pair i may merge: both modules of the same kind (unless same_kind is false)
 * and neither the first nor the last module (unless merge_ends).  Returns the count. */
int32_t mc_eligible(const int32_t *kind, int32_t n, bool same_kind, bool merge_ends, bool *ok);

/* k for "auto": a quarter of the modules, rounded (the official MRECG configurations
 * merge 2 pairs of ResNet-18's 8 units and 4 of ResNet-50's and RegNetX-600M's 14), at
 * most the eligible pairs whose differential is positive. */
int32_t mc_auto_k(const double *d, const bool *ok, int32_t n);

/* merge[i] for the k eligible pairs of largest differential (ties: the earlier pair);
 * k must not exceed the eligible count.  Returns the number selected. */
int32_t mc_select(const double *d, const bool *ok, int32_t n, int32_t k, bool *merge);

/* group[m] for each module from the selected pairs (0, 1, 2, ... along depth); returns
 * the number of groups. */
int32_t mc_groups(const bool *merge, int32_t n, int32_t *group);

/* k as the pipeline gives it: "auto" (-1) or an integer >= 0.  Returns false on
 * anything else. */
bool mc_parse_k(const char *text, int32_t *k);

/* A hand-written grouping (the official code's hard-coded schemes), in 1-based module
 * numbers as the report's modules table shows them: items separated by commas, each a
 * range "a-b" or a list "a+b+c" of adjacent modules, e.g. "3-4, 7+8+9".  Sets merge[]
 * (n - 1 pairs).  On an error (out of range, not adjacent, overlapping, malformed)
 * returns false with the reason in err. */
bool mc_parse_merges(const char *text, int32_t n, bool *merge, char *err, size_t err_size);

#endif
