/* test_plugins.c — the plugin loader, through the real dlopen path, with small test
 * plugins built as shared objects (tests/plugins/): a good one, one built for another
 * ABI, one without the entry symbol, one whose init fails, one with a malformed table,
 * and a file that is not a shared object at all. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    return test_run_suite(s);
}
