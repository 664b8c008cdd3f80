/* outdir.c — the run's output directory, checked first and replaced atomically last. */
#include <dirent.h>
#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

#include "html.h"
#include "outdir.h"

int ptq_remove_tree(const char *path) {
    struct stat st;
    if (lstat(path, &st) != 0) return errno == ENOENT ? 0 : -1;
    if (!S_ISDIR(st.st_mode)) return unlink(path);
    DIR *d = opendir(path);
    if (!d) return -1;
    struct dirent *e;
    int rc = 0;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char child[8192];
        snprintf(child, sizeof child, "%s/%s", path, e->d_name);
        rc |= ptq_remove_tree(child);
    }
    closedir(d);
    return rc | rmdir(path);
}

/* path without trailing slashes (but "/" stays "/"). */
static void trim(char *dst, size_t size, const char *path) {
    snprintf(dst, size, "%s", path);
    for (size_t n = strlen(dst); n > 1 && dst[n - 1] == '/'; n--) dst[n - 1] = '\0';
}

/* The parent of path ("." for a bare name). */
static void parent_of(char *dst, size_t size, const char *path) {
    snprintf(dst, size, "%s", path);
    char *slash = strrchr(dst, '/');
    if (!slash) snprintf(dst, size, ".");
    else if (slash == dst) dst[1] = '\0';
    else *slash = '\0';
}

ptq_status ptq_outdir_check(const char *path, bool force, ptq_error *err) {
    if (!path || !*path) return ptq_error_set(err, PTQ_ERR_INVALID, "no output directory given");
    char p[4096];
    trim(p, sizeof p, path);
    struct stat st;
    if (stat(p, &st) == 0) {
        if (!S_ISDIR(st.st_mode))
            return ptq_error_set(err, PTQ_ERR_INVALID, "output %s exists and is not a directory", p);
        if (!force)
            return ptq_error_set(err, PTQ_ERR_INVALID, "output %s exists: pass --force to replace "
                                 "it, or choose another --out", p);
    } else if (errno != ENOENT && errno != ENOTDIR) {
        return ptq_error_set(err, PTQ_ERR_IO, "output %s: %s", p, strerror(errno));
    }
    /* The first ancestor that exists must be a directory we can create entries in (the
     * temporary directory goes beside the target, the old output is moved aside there). */
    char a[4096];
    parent_of(a, sizeof a, p);
    for (;;) {
        if (stat(a, &st) == 0) {
            if (!S_ISDIR(st.st_mode))
                return ptq_error_set(err, PTQ_ERR_INVALID, "output %s: %s is not a directory", p, a);
            if (access(a, W_OK | X_OK) != 0)
                return ptq_error_set(err, PTQ_ERR_IO, "output %s: cannot write in %s: %s", p, a,
                                     strerror(errno));
            return PTQ_OK;
        }
        if (errno != ENOENT && errno != ENOTDIR)
            return ptq_error_set(err, PTQ_ERR_IO, "output %s: %s: %s", p, a, strerror(errno));
        char up[4096];
        parent_of(up, sizeof up, a);
        if (!strcmp(up, a)) return PTQ_OK;
        snprintf(a, sizeof a, "%s", up);
    }
}

/* mkdir -p of dir, remembering the topmost directory it made in o->created. */
static int make_parents(ptq_outdir *o, const char *dir) {
    struct stat st;
    if (stat(dir, &st) == 0) return S_ISDIR(st.st_mode) ? 0 : (errno = ENOTDIR, -1);
    char up[4096];
    parent_of(up, sizeof up, dir);
    if (strcmp(up, dir) && make_parents(o, up) != 0) return -1;
    if (mkdir(dir, 0777) != 0) return errno == EEXIST ? 0 : -1;
    if (!o->created[0]) snprintf(o->created, sizeof o->created, "%s", dir);
    return 0;
}

int ptq_mkdirs(const char *path) {
    ptq_outdir scratch = {0};
    return make_parents(&scratch, path);
}

ptq_status ptq_outdir_begin(ptq_outdir *o, const char *path, bool force, ptq_error *err) {
    memset(o, 0, sizeof *o);
    ptq_status st = ptq_outdir_check(path, force, err);
    if (st) return st;
    trim(o->target, sizeof o->target, path);
    char parent[4096];
    parent_of(parent, sizeof parent, o->target);
    if (make_parents(o, parent) != 0) {
        st = ptq_error_set(err, PTQ_ERR_IO, "output %s: cannot create %s: %s", o->target, parent,
                           strerror(errno));
        ptq_outdir_abort(o);
        return st;
    }
    snprintf(o->tmp, sizeof o->tmp, "%s.tmp-XXXXXX", o->target);
    if (!mkdtemp(o->tmp)) {
        st = ptq_error_set(err, PTQ_ERR_IO, "output %s: cannot create a temporary directory "
                           "beside it: %s", o->target, strerror(errno));
        o->tmp[0] = '\0';
        ptq_outdir_abort(o);
        return st;
    }
    /* mkdtemp makes it 0700; the output is an ordinary directory, as mkdir makes them. */
    const mode_t mask = umask(0);
    umask(mask);
    chmod(o->tmp, 0777 & ~mask);
    return PTQ_OK;
}

ptq_status ptq_outdir_commit(ptq_outdir *o, ptq_error *err) {
    struct stat st;
    if (stat(o->target, &st) == 0) {
        char old[4096 + 32];
        snprintf(old, sizeof old, "%s.old-XXXXXX", o->target);
        if (!mkdtemp(old) || rmdir(old) != 0 || rename(o->target, old) != 0)
            return ptq_error_set(err, PTQ_ERR_IO, "%s: cannot move the old output aside: %s",
                                 o->target, strerror(errno));
        if (rename(o->tmp, o->target) != 0) {
            const int e = errno;
            rename(old, o->target);
            return ptq_error_set(err, PTQ_ERR_IO, "%s: cannot rename into place: %s", o->target,
                                 strerror(e));
        }
        ptq_remove_tree(old);
    } else if (rename(o->tmp, o->target) != 0) {
        return ptq_error_set(err, PTQ_ERR_IO, "%s: cannot rename into place: %s", o->target,
                             strerror(errno));
    }
    o->tmp[0] = '\0';
    o->created[0] = '\0';
    return PTQ_OK;
}

void ptq_outdir_abort(ptq_outdir *o) {
    if (o->tmp[0]) ptq_remove_tree(o->tmp);
    o->tmp[0] = '\0';
    /* Only the directories this run made, and only if still empty: rmdir refuses others. */
    if (o->created[0]) {
        char d[4096];
        parent_of(d, sizeof d, o->target);
        while (rmdir(d) == 0 && strcmp(d, o->created)) {
            char up[4096];
            parent_of(up, sizeof up, d);
            if (!strcmp(up, d)) break;
            snprintf(d, sizeof d, "%s", up);
        }
    }
    o->created[0] = '\0';
}

ptq_status ptq_write_file_with(const char *dir, const char *name,
                               int (*write)(FILE *f, const void *ctx), const void *ctx,
                               ptq_error *err) {
    char path[8300];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    errno = 0;
    FILE *f = fopen(path, "w");
    int wrote = 0;
    bool bad = !f;
    if (f) {
        wrote = write(f, ctx);
        /* A write that failed earlier (and lost its bytes) need not make fclose fail. */
        bad = ferror(f) != 0;
        bad |= fclose(f) != 0;
    }
    if (bad)
        return ptq_error_set(err, PTQ_ERR_IO, "%s: cannot write: %s", path,
                             errno ? strerror(errno) : "write error");
    if (wrote == PTQ_HTML_INCOMPLETE)
        return ptq_error_set(err, PTQ_ERR_NOMEM, "%s: out of memory writing it", path);
    return PTQ_OK;
}
