/* evalcache.h — the float model's evaluation, cached across runs.
 *
 * Every run of a pipeline evaluates the float model on the evaluation set; for the same
 * model file, images, labels and preprocessing that number cannot change (the executor
 * is deterministic, whatever the thread count or batch), and on ResNet-20 it was 14 of a
 * run's 45 s.  The key hashes the model file's bytes and the evaluation set as loaded
 * (the preprocessed floats and the labels), so any change of file, selection or
 * normalization is a different key; the ptq version is part of it too.  A/B runs share it.
 *
 * Where: $PTQ_CACHE_DIR, else $XDG_CACHE_HOME/qcraft, else $HOME/.cache/qcraft;
 * PTQ_CACHE_DIR=off (or an unwritable place) disables it.  Entries are small JSON files,
 * written atomically; a damaged one is ignored. */
#ifndef PTQ_EVALCACHE_H
#define PTQ_EVALCACHE_H

#include "internal.h"

typedef struct ptq_float_eval_key {
    uint64_t h[2];
} ptq_float_eval_key;

/* The key of evaluating model file `model` on ds; false when the file cannot be read. */
bool ptq_float_eval_key_make(ptq_float_eval_key *key, const char *model, const ptq_dataset *ds);
/* True and *res filled on a hit. */
bool ptq_float_eval_cache_get(const ptq_float_eval_key *key, ptq_eval_result *res);
/* Stores res (best effort: a cache that cannot be written is no error). */
void ptq_float_eval_cache_put(const ptq_float_eval_key *key, const ptq_eval_result *res);

#endif
