/* evalcache.c — the float evaluation cache of evalcache.h. */
#include <errno.h>
#include <inttypes.h>
#include <sys/stat.h>
#include <unistd.h>

#include "evalcache.h"
#include "outdir.h"

/* Two independent 64-bit streams over the bytes (a cache key, not a cryptographic hash):
 * a collision would need both to collide. */
typedef struct hasher {
    uint64_t a, b;
} hasher;

static inline uint64_t mix(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    return x ^ (x >> 33);
}

static void hash_bytes(hasher *h, const void *data, size_t n) {
    const unsigned char *p = data;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        h->a = (h->a ^ w) * 0x100000001b3ULL + 0x9E3779B97F4A7C15ULL;
        h->b = mix(h->b + w);
    }
    uint64_t tail = 0;
    memcpy(&tail, p + i, n - i);
    h->a = (h->a ^ tail ^ (uint64_t)n) * 0x100000001b3ULL;
    h->b = mix(h->b ^ tail ^ ((uint64_t)n << 1));
}

bool ptq_float_eval_key_make(ptq_float_eval_key *key, const char *model, const ptq_dataset *ds) {
    hasher h = {0xcbf29ce484222325ULL, 0x243F6A8885A308D3ULL};
    const char *v = ptq_version_string();
    hash_bytes(&h, v, strlen(v));
    FILE *f = fopen(model, "rb");
    if (!f) return false;
    unsigned char buf[1 << 16];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) hash_bytes(&h, buf, n);
    const bool bad = ferror(f);
    fclose(f);
    if (bad) return false;
    const int64_t dims[4] = {ds->n, ds->c, ds->h, ds->w};
    hash_bytes(&h, dims, sizeof dims);
    hash_bytes(&h, ds->images, (size_t)(ds->n * ds->c * ds->h * ds->w) * sizeof(float));
    if (ds->labels) hash_bytes(&h, ds->labels, (size_t)ds->n * sizeof(int32_t));
    key->h[0] = h.a;
    key->h[1] = h.b;
    return true;
}

/* The cache directory, or false when caching is off or no place is known. */
static bool cache_dir(char *dir, size_t size) {
    const char *env = getenv("PTQ_CACHE_DIR");
    if (env && (!*env || !strcmp(env, "off"))) return false;
    if (env) snprintf(dir, size, "%s/float-eval", env);
    else if ((env = getenv("XDG_CACHE_HOME")) && *env) snprintf(dir, size, "%s/qcraft/float-eval", env);
    else if ((env = getenv("HOME")) && *env) snprintf(dir, size, "%s/.cache/qcraft/float-eval", env);
    else return false;
    return true;
}

static void entry_path(const ptq_float_eval_key *key, const char *dir, char *path, size_t size) {
    snprintf(path, size, "%s/%016" PRIx64 "%016" PRIx64 ".json", dir, key->h[0], key->h[1]);
}

bool ptq_float_eval_cache_get(const ptq_float_eval_key *key, ptq_eval_result *res) {
    char dir[4096], path[4200];
    if (!cache_dir(dir, sizeof dir)) return false;
    entry_path(key, dir, path, sizeof path);
    FILE *f = fopen(path, "r");
    if (!f) return false;
    ptq_eval_result r = {0};
    const int got = fscanf(f, "{\"images\": %" SCNd64 ", \"correct\": %" SCNd64 ", \"seconds\": %lf}",
                           &r.images, &r.correct, &r.seconds);
    fclose(f);
    if (got != 3 || r.images <= 0 || r.correct < 0 || r.correct > r.images) return false;
    r.top1 = (double)r.correct / (double)r.images;
    *res = r;
    return true;
}

void ptq_float_eval_cache_put(const ptq_float_eval_key *key, const ptq_eval_result *res) {
    char dir[4096], path[4200], tmp[4300];
    if (!cache_dir(dir, sizeof dir) || ptq_mkdirs(dir) != 0) return;
    entry_path(key, dir, path, sizeof path);
    snprintf(tmp, sizeof tmp, "%s.tmp-%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "w");
    if (!f) return;
    fprintf(f, "{\"images\": %" PRId64 ", \"correct\": %" PRId64 ", \"seconds\": %.6f}\n",
            res->images, res->correct, res->seconds);
    if (fclose(f) != 0 || rename(tmp, path) != 0) unlink(tmp);
}
