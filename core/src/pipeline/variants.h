/* variants.h — the variants of an A/B: named overlays of a base pipeline, read from the
 * file's `variants:` section (one axis of name -> overlay, or a `matrix:` of axes whose
 * product is taken), each loaded as a pipeline of its own.
 *
 *   variants:
 *     seeds: 3                      # each variant 3 times (seed, seed+1, seed+2)
 *     full: {}                      # the base pipeline as it is
 *     no-dfq: {without: [dfq.equalize]}
 *     w4: {quantization: {weights: {bits: 4}}}
 *     adaround: {params: {nwq.reconstruct: {rounding: adaround}}}
 *
 * An overlay is merged into the base document before it is validated: mappings merge key
 * by key, anything else replaces; `without` removes passes by name, `params` merges into
 * a named pass's parameters.  Because the overlay's nodes keep their marks, a bad value
 * in a variant is reported at its own line and column. */
#ifndef PTQ_VARIANTS_H
#define PTQ_VARIANTS_H

#include "pipeline.h"

typedef struct ptq_variant {
    char *name;           /* owned: "name", or "a+b" for a product of axes */
    int32_t *overlays;    /* owned: node indices in the file's document, applied in order */
    int32_t n_overlays;
    ptq_src_pos pos;      /* where it is named */
} ptq_variant;

typedef struct ptq_variant_set {
    char *path;           /* owned: the file */
    ptq_variant *v;       /* owned; n = 0 when the file has no variants */
    int32_t n;
    int32_t seeds;        /* variants.seeds, 0 when not given */
} ptq_variant_set;

/* Reads and checks the variants section of a pipeline file (names, duplicates, the
 * matrix's shape, overlay keys); every problem "FILE:LINE:COLUMN: ...", all of them.
 * A file without `variants:` gives n = 0. */
ptq_status ptq_variants_read(const char *path, ptq_variant_set *set, ptq_error *err);
/* Variant i of the set as a pipeline (i = -1: the base), validated like any file. */
ptq_pipeline *ptq_variant_load(const ptq_variant_set *set, int32_t i, const ptq_registry *reg,
                               ptq_error *err);
void ptq_variant_set_free(ptq_variant_set *set);

/* A name usable as a directory: [A-Za-z0-9._+-], 1..64 characters, not starting with '.'. */
bool ptq_variant_name_ok(const char *name);

#endif
