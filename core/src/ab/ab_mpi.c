/* ab_mpi.c — an A/B over MPI ranks.  Launched by mpirun (Open MPI), every rank plans the
 * same runs and takes its slice (ab.c); afterwards each rank sends the files of its runs'
 * directories to rank 0, which writes them into the A/B directory and builds the report.
 * MPI does the transport; without Open MPI at build time, or when not launched by mpirun,
 * there is one rank. */
#define _DEFAULT_SOURCE
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ab.h"
#include "pipeline/outdir.h"

#ifdef PTQ_HAVE_MPI
#include <mpi.h>

/* mpirun (Open MPI's or another's) tells its processes who they are. */
static bool launched_by_mpirun(void) {
    return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMI_SIZE") || getenv("PMIX_RANK");
}

void ab_mpi_init(ab_ranks *r, int *argc, char ***argv) {
    *r = (ab_ranks){0, 1, 1};
    if (!launched_by_mpirun()) return;
    int ok = 0;
    MPI_Initialized(&ok);
    if (!ok && MPI_Init(argc, argv) != MPI_SUCCESS) return;
    MPI_Comm_rank(MPI_COMM_WORLD, &r->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &r->size);
    const char *local = getenv("OMPI_COMM_WORLD_LOCAL_SIZE");
    r->local_size = local ? atoi(local) : r->size;
}

void ab_mpi_finalize(const ab_ranks *r) {
    int ok = 0;
    if (r->size > 1 || launched_by_mpirun()) {
        MPI_Initialized(&ok);
        if (ok) MPI_Finalize();
    }
}

/* A buffer of files: for each, path length (u32), path, size (u64), bytes. */
typedef struct pack {
    char *b;
    size_t n, cap;
} pack;

static int put(pack *p, const void *data, size_t n) {
    if (p->n + n > p->cap) {
        size_t cap = p->cap ? p->cap : 1 << 20;
        while (cap < p->n + n) cap *= 2;
        char *nb = realloc(p->b, cap);
        if (!nb) return -1;
        p->b = nb, p->cap = cap;
    }
    memcpy(p->b + p->n, data, n);
    p->n += n;
    return 0;
}

static int pack_tree(pack *p, const char *root, const char *rel) {
    char path[8300];
    snprintf(path, sizeof path, "%s/%s", root, rel);
    DIR *d = opendir(path);
    if (!d) return -1;
    int rc = 0;
    for (struct dirent *e; rc == 0 && (e = readdir(d));) {
        if (e->d_name[0] == '.') continue;
        char r2[4096], full[8300];
        snprintf(r2, sizeof r2, "%s/%s", rel, e->d_name);
        snprintf(full, sizeof full, "%s/%s", root, r2);
        struct stat st;
        if (stat(full, &st) != 0) { rc = -1; break; }
        if (S_ISDIR(st.st_mode)) { rc = pack_tree(p, root, r2); continue; }
        FILE *f = fopen(full, "rb");
        char *buf = malloc((size_t)st.st_size + 1);
        const uint32_t len = (uint32_t)strlen(r2);
        const uint64_t size = (uint64_t)st.st_size;
        if (!f || !buf || fread(buf, 1, size, f) != size || put(p, &len, 4) || put(p, r2, len) ||
            put(p, &size, 8) || put(p, buf, size))
            rc = -1;
        free(buf);
        if (f) fclose(f);
    }
    closedir(d);
    return rc;
}

static int unpack(const char *b, size_t n, const char *dir) {
    size_t at = 0;
    while (at + 4 <= n) {
        uint32_t len;
        uint64_t size;
        memcpy(&len, b + at, 4);
        at += 4;
        if (at + len + 8 > n || len >= 4096) return -1;
        char rel[4096], path[8300];
        memcpy(rel, b + at, len);
        rel[len] = 0;
        at += len;
        memcpy(&size, b + at, 8);
        at += 8;
        if (at + size > n || strstr(rel, "..")) return -1;
        snprintf(path, sizeof path, "%s/%s", dir, rel);
        char *slash = strrchr(path, '/');
        *slash = 0;
        if (ptq_mkdirs(path) != 0) return -1;
        *slash = '/';
        FILE *f = fopen(path, "wb");
        if (!f || fwrite(b + at, 1, size, f) != size) {
            if (f) fclose(f);
            return -1;
        }
        if (fclose(f) != 0) return -1;
        at += size;
    }
    return at == n ? 0 : -1;
}

ptq_status ab_mpi_gather(const ab_ranks *r, const char *dir, const ab_plan *pl, const bool *mine,
                         ptq_error *err) {
    if (r->size <= 1) return PTQ_OK;
    int bad = 0;
    if (r->rank != 0) {
        pack p = {0};
        for (int32_t i = 0; i < pl->n_runs && !bad; i++) {
            char path[8300];
            snprintf(path, sizeof path, "%s/%s", dir, pl->runs[i].dir);
            if (mine[i] && access(path, F_OK) == 0) bad = pack_tree(&p, dir, pl->runs[i].dir);
        }
        unsigned long long n = bad ? 0 : p.n;
        MPI_Send(&n, 1, MPI_UNSIGNED_LONG_LONG, 0, 1, MPI_COMM_WORLD);
        /* in chunks: an MPI count is an int */
        for (size_t at = 0; at < n; at += 1 << 30) {
            const int k = (int)(n - at < (1u << 30) ? n - at : (1u << 30));
            MPI_Send(p.b + at, k, MPI_BYTE, 0, 2, MPI_COMM_WORLD);
        }
        free(p.b);
    } else {
        for (int src = 1; src < r->size; src++) {
            unsigned long long n = 0;
            MPI_Recv(&n, 1, MPI_UNSIGNED_LONG_LONG, src, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            char *b = malloc(n ? n : 1);
            for (size_t at = 0; at < n; at += 1 << 30) {
                const int k = (int)(n - at < (1u << 30) ? n - at : (1u << 30));
                MPI_Recv(b ? b + at : NULL, b ? k : 0, MPI_BYTE, src, 2, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            }
            if (!b || unpack(b, n, dir) != 0) bad = 1;
            free(b);
        }
    }
    int any = 0;
    MPI_Allreduce(&bad, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    return any ? ptq_error_set(err, PTQ_ERR_IO, "gathering the runs' directories from the MPI "
                               "ranks failed") : PTQ_OK;
}

#else /* one rank */

void ab_mpi_init(ab_ranks *r, int *argc, char ***argv) {
    (void)argc, (void)argv;
    *r = (ab_ranks){0, 1, 1};
    if (getenv("OMPI_COMM_WORLD_SIZE") && atoi(getenv("OMPI_COMM_WORLD_SIZE")) > 1)
        fprintf(stderr, "warning: launched by mpirun, but this ptq was built without Open MPI "
                "(libopenmpi-dev): every rank runs the whole A/B\n");
}

void ab_mpi_finalize(const ab_ranks *r) { (void)r; }

ptq_status ab_mpi_gather(const ab_ranks *r, const char *dir, const ab_plan *pl, const bool *mine,
                         ptq_error *err) {
    (void)r, (void)dir, (void)pl, (void)mine, (void)err;
    return PTQ_OK;
}

#endif
