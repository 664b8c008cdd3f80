/* test_plugins.c — the plugin loader, through the real dlopen path, with small test
 * plugins built as shared objects (tests/plugins/): a good one, one built for another
 * ABI, one without the entry symbol, one whose init fails, one with a malformed table,
 * and a file that is not a shared object at all. */
#include <dirent.h>
#include <fcntl.h>
#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pipeline/guard.h"
#include "plugin/plugin.h"
#include "testutil.h"

static const char *plugin_path(const char *name) {
    static char buf[4][1024];
    static int slot;
    char *p = buf[slot++ % 4];
    snprintf(p, 1024, "%s/%s.so", PTQ_TEST_PLUGIN_DIR, name);
    return p;
}

/* An empty registry holding only the built-in passes. */
static ptq_registry *fresh(void) {
    ptq_error err = {0};
    /* PTQ_PLUGIN_PATH must not leak plugins into these tests. */
    unsetenv("PTQ_PLUGIN_PATH");
    ptq_registry *r = ptq_registry_load(NULL, &err);
    ck_assert_msg(r != NULL, "%s", err.msg);
    return r;
}

START_TEST(builtins_present) {
    ptq_registry *r = fresh();
    ck_assert_ptr_nonnull(ptq_registry_find_pass(r, "core.fold_bn"));
    ck_assert_ptr_nonnull(ptq_registry_find_pass(r, "core.calibrate"));
    ck_assert_ptr_nonnull(ptq_registry_find_plugin(r, "core"));
    ck_assert_ptr_null(ptq_registry_find_pass(r, "core.nothing"));
    ptq_registry_free(r);
}
END_TEST

START_TEST(good_plugin_loads) {
    ptq_registry *r = fresh();
    ptq_error err = {0};
    ck_assert_msg(ptq_registry_add_file(r, plugin_path("good"), &err) == PTQ_OK, "%s", err.msg);
    const ptq_loaded_plugin *pl = ptq_registry_find_plugin(r, "good");
    ck_assert_ptr_nonnull(pl);
    ck_assert_str_eq(pl->desc->version, "1.2.3");
    const ptq_pass_def *p = ptq_registry_find_pass(r, "good.count");
    ck_assert_ptr_nonnull(p);
    ck_assert_ptr_eq(ptq_registry_plugin_of(r, p), pl);
    /* Loading the same plugin again is refused (duplicate name), the first stays. */
    ptq_error err2 = {0};
    ck_assert_int_ne(ptq_registry_add_file(r, plugin_path("good"), &err2), PTQ_OK);
    ck_assert_msg(test_contains(err2.msg, "already loaded"), "%s", err2.msg);
    ck_assert_ptr_nonnull(ptq_registry_find_pass(r, "good.count"));
    ptq_registry_free(r);
}
END_TEST

START_TEST(wrong_abi_refused) {
    ptq_registry *r = fresh();
    ptq_error err = {0};
    ck_assert_int_eq(ptq_registry_add_file(r, plugin_path("wrong_abi"), &err), PTQ_ERR_UNSUPPORTED);
    ck_assert_msg(test_contains(err.msg, "wrong_abi.so"), "%s", err.msg);
    ck_assert_msg(test_contains(err.msg, "99.0.0"), "%s", err.msg);
    char host[32];
    snprintf(host, sizeof host, "%d.%d.%d", PTQ_VERSION_MAJOR, PTQ_VERSION_MINOR, PTQ_VERSION_PATCH);
    ck_assert_msg(test_contains(err.msg, host), "%s", err.msg);
    ck_assert_ptr_null(ptq_registry_find_plugin(r, "wrong_abi"));
    ptq_registry_free(r);
}
END_TEST

START_TEST(missing_symbol_refused) {
    ptq_registry *r = fresh();
    ptq_error err = {0};
    ck_assert_int_ne(ptq_registry_add_file(r, plugin_path("no_symbol"), &err), PTQ_OK);
    ck_assert_msg(test_contains(err.msg, "no_symbol.so") && test_contains(err.msg, "ptq_plugin_entry"),
                  "%s", err.msg);
    ptq_registry_free(r);
}
END_TEST

START_TEST(failing_init_refused) {
    ptq_registry *r = fresh();
    ptq_error err = {0};
    ck_assert_int_eq(ptq_registry_add_file(r, plugin_path("init_fails"), &err), PTQ_ERR_UNSUPPORTED);
    ck_assert_msg(test_contains(err.msg, "no GPU found") && test_contains(err.msg, "init_fails.so"),
                  "%s", err.msg);
    ck_assert_ptr_null(ptq_registry_find_pass(r, "init_fails.x"));
    ptq_registry_free(r);
}
END_TEST

START_TEST(malformed_table_refused) {
    ptq_registry *r = fresh();
    ptq_error err = {0};
    ck_assert_int_ne(ptq_registry_add_file(r, plugin_path("bad_param"), &err), PTQ_OK);
    ck_assert_msg(test_contains(err.msg, "'n'") && test_contains(err.msg, "bad_param.x"), "%s", err.msg);
    ptq_registry_free(r);
}
END_TEST

START_TEST(not_a_shared_object) {
    const char junk[] = "this is not an ELF file";
    const char *path = test_write_temp(junk, sizeof junk, ".so");
    ptq_registry *r = fresh();
    ptq_error err = {0};
    ck_assert_int_ne(ptq_registry_add_file(r, path, &err), PTQ_OK);
    ck_assert_msg(test_contains(err.msg, "cannot load") && test_contains(err.msg, path), "%s", err.msg);
    ptq_registry_free(r);
}
END_TEST

/* The directory scan loads the good plugin, records every refusal with its reason, and
 * keeps going: one bad plugin never stops the others. */
START_TEST(directory_scan_keeps_going) {
    unsetenv("PTQ_PLUGIN_PATH");
    ptq_error err = {0};
    ptq_registry *r = ptq_registry_load(PTQ_TEST_PLUGIN_DIR, &err);
    ck_assert_ptr_nonnull(r);
    ck_assert_ptr_nonnull(ptq_registry_find_pass(r, "good.count"));
    ck_assert_ptr_nonnull(ptq_registry_find_pass(r, "core.calibrate"));
    /* A plugin built against SDK 0.3 (a shorter pass definition) still loads, and the
     * member it does not have is never read (old_layout.c sets it to a crashing address). */
    const ptq_pass_def *old = ptq_registry_find_pass(r, "old_layout.x");
    ck_assert_ptr_nonnull(old);
    ck_assert(!PTQ_PASS_HAS(old, invalidates));
    ck_assert_int_ge(r->n_rejected, 4);
    bool abi = false, sym = false, init = false, param = false;
    for (int32_t i = 0; i < r->n_rejected; i++) {
        abi |= test_contains(r->rejected[i], "wrong_abi.so");
        sym |= test_contains(r->rejected[i], "no_symbol.so");
        init |= test_contains(r->rejected[i], "init_fails.so");
        param |= test_contains(r->rejected[i], "bad_param.so");
    }
    ck_assert(abi && sym && init && param);
    ck_assert_int_ge(r->n_searched, 1);
    ptq_registry_free(r);
}
END_TEST

/* PTQ_PLUGIN_PATH is searched too (colon-separated, missing directories ignored). */
START_TEST(plugin_path_env) {
    char env[2048];
    snprintf(env, sizeof env, "/nonexistent/dir:%s", PTQ_TEST_PLUGIN_DIR);
    setenv("PTQ_PLUGIN_PATH", env, 1);
    ptq_error err = {0};
    ptq_registry *r = ptq_registry_load(NULL, &err);
    ck_assert_ptr_nonnull(r);
    ck_assert_ptr_nonnull(ptq_registry_find_pass(r, "good.count"));
    ptq_registry_free(r);
    unsetenv("PTQ_PLUGIN_PATH");
}
END_TEST

/* Every member of the host table a plugin may call is set. */
START_TEST(host_table_complete) {
    const ptq_host *h = ptq_host_table();
    ck_assert_uint_eq(h->abi.major, PTQ_VERSION_MAJOR);
    ck_assert_uint_eq(h->struct_size, sizeof(ptq_host));
    const size_t first = offsetof(ptq_host, log), n = (sizeof(ptq_host) - first) / sizeof(void (*)(void));
    const unsigned char *base = (const unsigned char *)h + first;
    for (size_t i = 0; i < n; i++) {
        void (*fn)(void);
        memcpy(&fn, base + i * sizeof fn, sizeof fn);
        ck_assert_msg(fn != NULL, "host table member %zu is NULL", i);
    }
}
END_TEST

/* ---- plugins that misbehave (tests/plugins/faulty/) ------------------------------------ */

static const char *faulty_path(const char *name) {
    static char buf[4][1024];
    static int slot;
    char *p = buf[slot++ % 4];
    snprintf(p, 1024, "%s/%s.so", PTQ_FAULTY_PLUGIN_DIR, name);
    return p;
}

/* A plugin that crashes in its entry, a constructor or init is refused with the signal
 * and the stage, and this process lives on to say so. */
START_TEST(crash_at_load_refused) {
    static const char *const cases[][2] = {{"crash_entry", "in entry"}, {"crash_ctor", "in dlopen (a constructor)"},
                                           {"crash_init", "in init"}};
    ptq_registry *r = fresh();
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ptq_error err = {0};
        ck_assert_int_eq(ptq_registry_add_file(r, faulty_path(cases[i][0]), &err), PTQ_ERR_INVALID);
        ck_assert_msg(test_contains(err.msg, "crashed at load (signal 11, SIGSEGV, ") &&
                      test_contains(err.msg, cases[i][1]) && test_contains(err.msg, cases[i][0]),
                      "%s", err.msg);
    }
    ck_assert_int_eq(r->n_plugins, 1); /* the built-ins only */
    ptq_registry_free(r);
}
END_TEST

START_TEST(hang_at_load_refused) {
    setenv("PTQ_PLUGIN_TIMEOUT", "0.5", 1);
    ptq_registry *r = fresh();
    ptq_error err = {0};
    const double t0 = ptq_now_seconds();
    ck_assert_int_ne(ptq_registry_add_file(r, faulty_path("hang_init"), &err), PTQ_OK);
    ck_assert_double_lt(ptq_now_seconds() - t0, 5.0);
    ck_assert_msg(test_contains(err.msg, "hung at load (in init, no answer within 0.5 s; killed)"),
                  "%s", err.msg);
    unsetenv("PTQ_PLUGIN_TIMEOUT");
    ptq_registry_free(r);
}
END_TEST

/* The full check of one file: each problem, in the child's words. */
static ptq_probe check_file(const char *name) {
    ptq_registry *r = fresh();
    ptq_probe p;
    ptq_error err = {0};
    ck_assert_msg(ptq_plugin_probe(r, faulty_path(name), true, &p, &err) == PTQ_OK, "%s", err.msg);
    ptq_registry_free(r);
    return p;
}

static bool has_problem(const ptq_probe *p, const char *needle) {
    for (int32_t i = 0; i < p->n_problems; i++)
        if (test_contains(p->problems[i], needle)) return true;
    return false;
}

START_TEST(full_check_finds_every_problem) {
    ptq_probe p = check_file("default_range");
    ck_assert_int_eq(p.n_problems, 3);
    ck_assert(has_problem(&p, "'lr' of pass 'default_range.x': default 2.5 outside its range [0, 1]"));
    ck_assert(has_problem(&p, "'mode' of pass 'default_range.x': default index 5 is not one of its 2"));
    ck_assert(has_problem(&p, "'n' of pass 'default_range.x': range [10, 1] is empty"));
    ck_assert(!p.signal && !p.hung && !p.exited);
    ptq_probe_free(&p);
    p = check_file("dup_param");
    ck_assert(has_problem(&p, "parameter 'steps' of pass 'dup_param.x' is defined twice"));
    ptq_probe_free(&p);
    p = check_file("bad_names");
    ck_assert(has_problem(&p, "pass 'other.x' must be named 'bad_names.<name>'"));
    ck_assert(has_problem(&p, "pass 'bad_names.Tune' must be named"));
    ck_assert(has_problem(&p, "name 'dry-run' is not [a-z0-9_]+"));
    ptq_probe_free(&p);
    p = check_file("no_terminator");
    ck_assert_int_eq(p.n_problems, 1);
    ck_assert(has_problem(&p, "no {0} terminator within 256 entries"));
    ptq_probe_free(&p);
    p = check_file("unsatisfiable_read");
    ck_assert_int_eq(p.n_problems, 1);
    ck_assert(has_problem(&p, "reads 'quant.weight', which neither the host nor any pass"));
    ck_assert_str_eq(p.stage, "deinit"); /* it got through init and the reads */
    ptq_probe_free(&p);
    p = check_file("crash_init");
    ck_assert_int_eq(p.signal, SIGSEGV);
    ck_assert_str_eq(p.stage, "init");
    ptq_probe_free(&p);
    p = check_file("crash_pass"); /* fine until its pass runs */
    ck_assert(!p.signal && !p.hung && !p.exited && p.n_problems == 0);
    ck_assert_str_eq(p.plugin, "crash_pass");
    ck_assert_int_eq(p.n_passes, 1);
    ptq_probe_free(&p);
}
END_TEST

/* The rules on descriptors built here, without any file: the cases no test plugin has. */
static bool collect(void *ctx, ptq_status st, const char *msg) {
    (void)st;
    char *buf = ctx;
    strncat(buf, msg, 4000 - strlen(buf));
    strncat(buf, "\n", 4000 - strlen(buf));
    return true;
}

typedef struct two { int32_t flag; int64_t n; } two;
static ptq_status noop(const ptq_host *h, ptq_session *s, const void *p) {
    (void)h, (void)s, (void)p;
    return PTQ_OK;
}

START_TEST(descriptor_rules) {
    static const char *const unterminated[300] = {"a", "b"}; /* NULL from index 2: fine */
    static const ptq_param_def defs[] = {
        {"flag", PTQ_PARAM_BOOL, 0, offsetof(two, flag), 0, 1, 2, NULL, NULL, "bool default 2"},
        {"n", PTQ_PARAM_INT, 0, offsetof(two, n), 0, 10, 2.5, NULL, NULL, "not an integer"},
        {"far", PTQ_PARAM_INT, 0, sizeof(two), 0, 10, 1, NULL, NULL, "outside the struct"},
        {"kind", 99, 0, 0, 0, 0, 0, NULL, NULL, "unknown type"},
        {"mode", PTQ_PARAM_ENUM, 0, 0, 0, 0, 0, NULL, unterminated, "fine"},
        {0}};
    static const ptq_pass_def pass = {sizeof(ptq_pass_def), "rules.x", "x", defs, sizeof(two), NULL,
                                      NULL, NULL, noop, NULL};
    static const ptq_pass_def twin = {sizeof(ptq_pass_def), "rules.x", "x", NULL, 0, NULL, NULL,
                                      NULL, noop, NULL};
    static const ptq_pass_def *const passes[] = {&pass, &twin, NULL};
    static const ptq_plugin_desc d = {PTQ_VERSION_INIT, sizeof(ptq_plugin_desc), PTQ_ABI_FINGERPRINT,
                                      "rules", NULL, "x", NULL, NULL, passes};
    char buf[4096] = "";
    ck_assert_int_eq(ptq_plugin_desc_problems(NULL, &d, collect, buf), 6);
    ck_assert_msg(test_contains(buf, "'flag' of pass 'rules.x': bool default 2 is neither 0 nor 1"), "%s", buf);
    ck_assert_msg(test_contains(buf, "'n' of pass 'rules.x': default 2.5 of an int parameter is not an integer"), "%s", buf);
    ck_assert_msg(test_contains(buf, "'far' of pass 'rules.x': offset 16 (+8 bytes) lies outside"), "%s", buf);
    ck_assert_msg(test_contains(buf, "'kind' of pass 'rules.x' has an unknown type 99"), "%s", buf);
    ck_assert_msg(test_contains(buf, "pass 'rules.x' is defined twice in the plugin"), "%s", buf);
    ck_assert_msg(test_contains(buf, "plugin 'rules' gives no version string"), "%s", buf);
    /* Lists without their NULL within 256 entries: reported, not read past. */
    static const char *full[300];
    for (int i = 0; i < 300; i++) full[i] = "quant.weights";
    static ptq_param_def enum_def[] = {{"mode", PTQ_PARAM_ENUM, 0, 0, 0, 0, 0, NULL, NULL, "x"}, {0}};
    enum_def[0].choices = full;
    ptq_pass_def open_lists = {sizeof(ptq_pass_def), "rules.y", "y", enum_def, sizeof(int32_t),
                               full, NULL, NULL, noop, NULL};
    const ptq_pass_def *const passes2[] = {&open_lists, NULL};
    ptq_plugin_desc d2 = d;
    d2.version = "1";
    d2.passes = passes2;
    buf[0] = '\0';
    ck_assert_int_eq(ptq_plugin_desc_problems(NULL, &d2, collect, buf), 2);
    ck_assert_msg(test_contains(buf, "pass 'rules.y': its reads list has no NULL terminator within 256"), "%s", buf);
    ck_assert_msg(test_contains(buf, "'mode' of pass 'rules.y': its choices have no NULL terminator"), "%s", buf);
    /* Another ABI: one problem, and nothing past the version is read. */
    static const ptq_plugin_desc old = {{PTQ_VERSION_MAJOR + 1, 0, 0}, 0, 0, NULL, NULL, NULL,
                                        NULL, NULL, NULL};
    buf[0] = '\0';
    ck_assert_int_eq(ptq_plugin_desc_problems(NULL, &old, collect, buf), 1);
    ck_assert_msg(test_contains(buf, "the major versions must match"), "%s", buf);
}
END_TEST

/* ---- the run's signal guard (pipeline/guard.c), in a child process each ---------------- */

/* A temporary output directory with files two levels deep, registered with the guard,
 * then sig raised inside "pass" crash_pass-like 'good.count'.  Returns the wait status;
 * the child's stderr goes to err_path. */
static int guarded_child(int sig, const char *parent, const char *err_path) {
    fflush(NULL);
    const pid_t pid = fork();
    if (pid == 0) {
        const int fd = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(fd, 2);
        ptq_registry *r = fresh();
        ptq_error err = {0};
        if (ptq_registry_add_file(r, plugin_path("good"), &err)) _exit(90);
        ptq_outdir o;
        char target[4096];
        snprintf(target, sizeof target, "%s/made/out", parent);
        if (ptq_outdir_begin(&o, target, false, &err)) _exit(91);
        char sub[8192];
        snprintf(sub, sizeof sub, "%s/a/b", o.tmp);
        ptq_mkdirs(sub);
        for (int i = 0; i < 50; i++) {
            char f[8300];
            snprintf(f, sizeof f, "%s/file%d", sub, i);
            FILE *x = fopen(f, "w");
            if (x) fclose(x);
        }
        ptq_guard_install(r);
        ptq_guard_outdir(&o);
        ptq_guard_pass(ptq_registry_find_pass(r, "good.count"));
        raise(sig);
        _exit(92);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return status;
}

static bool dir_empty(const char *path) {
    DIR *d = opendir(path);
    if (!d) return false;
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    closedir(d);
    return n == 0;
}

START_TEST(guard_interrupt_removes_output) {
    static const int sigs[] = {SIGINT, SIGTERM};
    for (size_t i = 0; i < 2; i++) {
        char parent[] = "/tmp/ptq_guard_XXXXXX";
        ck_assert_ptr_nonnull(mkdtemp(parent));
        char err_path[256];
        snprintf(err_path, sizeof err_path, "%s.err", parent);
        const int status = guarded_child(sigs[i], parent, err_path);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 128 + sigs[i], "status %#x", status);
        /* The temporary directory and the parent the run made ("made") are gone. */
        ck_assert_msg(dir_empty(parent), "%s is not empty", parent);
        char text[4096] = "";
        FILE *f = fopen(err_path, "r");
        ck_assert_ptr_nonnull(f);
        text[fread(text, 1, sizeof text - 1, f)] = '\0';
        fclose(f);
        ck_assert_msg(test_contains(text, sigs[i] == SIGINT ? "ptq: interrupted by SIGINT; no output written"
                                                            : "ptq: interrupted by SIGTERM; no output written"),
                      "%s", text);
        remove(err_path);
        rmdir(parent);
    }
}
END_TEST

START_TEST(guard_crash_names_pass_and_removes_output) {
    char parent[] = "/tmp/ptq_guard_XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(parent));
    char err_path[256];
    snprintf(err_path, sizeof err_path, "%s.err", parent);
    const int status = guarded_child(SIGSEGV, parent, err_path);
    /* Dies of the signal; under a sanitizer its handler (chained) exits instead, or
     * aborts (ASAN_OPTIONS=abort_on_error=1, as the suite runs it). */
    ck_assert_msg((WIFSIGNALED(status) && (WTERMSIG(status) == SIGSEGV || WTERMSIG(status) == SIGABRT)) ||
                  (WIFEXITED(status) && WEXITSTATUS(status) != 0 && WEXITSTATUS(status) < 90),
                  "status %#x", status);
    ck_assert_msg(dir_empty(parent), "%s is not empty", parent);
    char text[8192] = "";
    FILE *f = fopen(err_path, "r");
    ck_assert_ptr_nonnull(f);
    text[fread(text, 1, sizeof text - 1, f)] = '\0';
    fclose(f);
    char want[2048];
    snprintf(want, sizeof want, "ptq: fatal signal %d (SIGSEGV) in pass 'good.count' of plugin 'good' "
             "(%s); no output written", SIGSEGV, plugin_path("good"));
    ck_assert_msg(test_contains(text, want), "%s", text);
    remove(err_path);
    rmdir(parent);
}
END_TEST

/* SIGINT while the output is moved into place waits for the move, then keeps it. */
START_TEST(guard_interrupt_during_commit_keeps_output) {
    char parent[] = "/tmp/ptq_guard_XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(parent));
    char target[4096], err_path[256];
    snprintf(target, sizeof target, "%s/out", parent);
    snprintf(err_path, sizeof err_path, "%s.err", parent);
    fflush(NULL);
    const pid_t pid = fork();
    if (pid == 0) {
        const int fd = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(fd, 2);
        ptq_outdir o;
        ptq_error err = {0};
        if (ptq_outdir_begin(&o, target, false, &err)) _exit(91);
        ptq_guard_install(NULL);
        ptq_guard_outdir(&o);
        ptq_guard_commit_begin();
        raise(SIGINT); /* waits */
        const bool ok = ptq_outdir_commit(&o, &err) == PTQ_OK;
        ptq_guard_commit_end(ok);
        _exit(92); /* not reached: the waiting SIGINT ends the process */
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 130, "status %#x", status);
    struct stat st;
    ck_assert_int_eq(stat(target, &st), 0);
    char text[4096] = "";
    FILE *f = fopen(err_path, "r");
    ck_assert_ptr_nonnull(f);
    text[fread(text, 1, sizeof text - 1, f)] = '\0';
    fclose(f);
    ck_assert_msg(test_contains(text, "ptq: interrupted by SIGINT; the output ") &&
                  test_contains(text, "/out was complete and is kept"), "%s", text);
    rmdir(target);
    remove(err_path);
    rmdir(parent);
}
END_TEST

int main(void) {
    Suite *s = suite_create("plugins");
    TCase *tc = tcase_create("loader");
    tcase_add_test(tc, builtins_present);
    tcase_add_test(tc, good_plugin_loads);
    tcase_add_test(tc, wrong_abi_refused);
    tcase_add_test(tc, missing_symbol_refused);
    tcase_add_test(tc, failing_init_refused);
    tcase_add_test(tc, malformed_table_refused);
    tcase_add_test(tc, not_a_shared_object);
    tcase_add_test(tc, directory_scan_keeps_going);
    tcase_add_test(tc, plugin_path_env);
    tcase_add_test(tc, host_table_complete);
    suite_add_tcase(s, tc);
    TCase *tf = tcase_create("faults");
    tcase_add_test(tf, crash_at_load_refused);
    tcase_add_test(tf, hang_at_load_refused);
    tcase_add_test(tf, full_check_finds_every_problem);
    tcase_add_test(tf, descriptor_rules);
    tcase_add_test(tf, guard_interrupt_removes_output);
    tcase_add_test(tf, guard_crash_names_pass_and_removes_output);
    tcase_add_test(tf, guard_interrupt_during_commit_keeps_output);
    suite_add_tcase(s, tf);
    return test_run_suite(s);
}
