/* test_data.c — the IDX and NumPy readers and ptq_dataset_load.
 *
 * Files are written by the test itself (plain and gzip), so every byte of a malformed
 * one is known.  Readers must never crash, never allocate what a lying header claims
 * (checked under an address-space limit where the build allows one), and say in the
 * message which file is wrong and how. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

#define FMNIST_DIR "/usr/share/datasets/fashion-mnist"

/* ===================================================================== IDX ====== */

/* An IDX file in memory: 00 00 <type> <rank>, the dims as big-endian uint32, then the
 * payload (already big-endian).  Caller frees. */
static uint8_t *idx_bytes(uint8_t type, int rank, const uint32_t *dims, const void *payload,
                          size_t payload_len, size_t *len) {
    *len = 4 + 4 * (size_t)rank + payload_len;
    uint8_t *b = malloc(*len + 1);
    ck_assert_ptr_nonnull(b);
    b[0] = b[1] = 0;
    b[2] = type;
    b[3] = (uint8_t)rank;
    for (int i = 0; i < rank; i++) {
        b[4 + 4 * i] = (uint8_t)(dims[i] >> 24);
        b[5 + 4 * i] = (uint8_t)(dims[i] >> 16);
        b[6 + 4 * i] = (uint8_t)(dims[i] >> 8);
        b[7 + 4 * i] = (uint8_t)dims[i];
    }
    if (payload_len) memcpy(b + 4 + 4 * rank, payload, payload_len);
    return b;
}

/* Writes an IDX file (gzip-compressed if gz) and returns its path. */
static const char *idx_file(bool gz, uint8_t type, int rank, const uint32_t *dims,
                            const void *payload, size_t payload_len) {
    size_t len;
    uint8_t *b = idx_bytes(type, rank, dims, payload, payload_len, &len);
    const char *p = gz ? test_write_temp_gz(b, len, "-idx.gz") : test_write_temp(b, len, "-idx");
    free(b);
    return p;
}

/* 4-byte values in big-endian order, as IDX stores them. */
static void to_be32(const void *src, uint8_t *dst, size_t n) {
    const uint8_t *s = src;
    for (size_t i = 0; i < n; i++)
        for (int k = 0; k < 4; k++) dst[4 * i + k] = s[4 * i + 3 - k];
}

static ptq_tensor *read_idx_ok(const char *path) {
    ptq_error err = {0};
    ptq_tensor *t = ptq_idx_read(path, &err);
    ck_assert_msg(t != NULL, "%s", err.msg);
    return t;
}

/* Reads a file that must be refused with `status` and a message naming the file and
 * containing `what`. */
static void idx_refused(const char *path, ptq_status status, const char *what) {
    ptq_error err = {0};
    ptq_tensor *t = ptq_idx_read(path, &err);
    ck_assert_msg(t == NULL, "%s was accepted", path);
    ck_assert_msg(err.status == status, "status %d (%s), expected %d", err.status, err.msg, status);
    ck_assert_msg(test_contains(err.msg, path) && test_contains(err.msg, what),
                  "message '%s' should name %s and say '%s'", err.msg, path, what);
}

START_TEST(idx_uint8_images_and_labels) {
    for (int gz = 0; gz < 2; gz++) {
        uint8_t px[3 * 4 * 5];
        for (int i = 0; i < 60; i++) px[i] = (uint8_t)(i * 37 + 11);
        const uint32_t dims[3] = {3, 4, 5};
        ptq_tensor *t = read_idx_ok(idx_file(gz, 0x08, 3, dims, px, sizeof px));
        ck_assert_uint_eq(t->dtype, PTQ_DTYPE_U8);
        ck_assert_int_eq(t->ndim, 3);
        ck_assert_int_eq(t->ne[0], 3);
        ck_assert_int_eq(t->ne[1], 4);
        ck_assert_int_eq(t->ne[2], 5);
        ck_assert_mem_eq(t->data, px, sizeof px);
        ptq_tensor_free(t);

        const uint8_t labels[6] = {0, 9, 3, 3, 7, 1};
        const uint32_t ld[1] = {6};
        t = read_idx_ok(idx_file(gz, 0x08, 1, ld, labels, sizeof labels));
        ck_assert_int_eq(t->ndim, 1);
        ck_assert_int_eq(t->ne[0], 6);
        ck_assert_mem_eq(t->data, labels, sizeof labels);
        ptq_tensor_free(t);
    }
}
END_TEST

START_TEST(idx_wide_types_big_endian) {
    for (int gz = 0; gz < 2; gz++) {
        const int32_t iv[6] = {0, -1, 123456789, -2000000000, 255, 256};
        uint8_t be[24];
        to_be32(iv, be, 6);
        const uint32_t d23[2] = {2, 3};
        ptq_tensor *t = read_idx_ok(idx_file(gz, 0x0C, 2, d23, be, sizeof be));
        ck_assert_uint_eq(t->dtype, PTQ_DTYPE_I32);
        ck_assert_mem_eq(t->data, iv, sizeof iv);
        ptq_tensor_free(t);

        const float fv[4] = {1.5f, -2.25f, 1e-3f, 3e7f};
        uint8_t bf[16];
        to_be32(fv, bf, 4);
        const uint32_t d4[1] = {4};
        t = read_idx_ok(idx_file(gz, 0x0D, 1, d4, bf, sizeof bf));
        ck_assert_uint_eq(t->dtype, PTQ_DTYPE_F32);
        ck_assert_mem_eq(t->data, fv, sizeof fv);
        ptq_tensor_free(t);

        const int8_t sv[3] = {-128, 0, 127};
        const uint32_t d3[1] = {3};
        t = read_idx_ok(idx_file(gz, 0x09, 1, d3, sv, sizeof sv));
        ck_assert_uint_eq(t->dtype, PTQ_DTYPE_I8);
        ck_assert_mem_eq(t->data, sv, sizeof sv);
        ptq_tensor_free(t);
    }
}
END_TEST

START_TEST(idx_malformed) {
    const uint8_t px[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    const uint32_t d8[1] = {8};
    size_t len;
    uint8_t *b = idx_bytes(0x08, 1, d8, px, sizeof px, &len);
    for (int gz = 0; gz < 2; gz++) {
        const char *(*write)(const void *, size_t, const char *) =
            gz ? test_write_temp_gz : test_write_temp;
        /* Wrong magic. */
        b[0] = 0x01;
        idx_refused(write(b, len, "-idx"), PTQ_ERR_INVALID, "magic");
        b[0] = 0;
        /* Too short for even the magic. */
        idx_refused(write(b, 3, "-idx"), PTQ_ERR_INVALID, "too short");
        idx_refused(write(b, 0, "-idx"), PTQ_ERR_INVALID, "too short");
        /* A header cut inside the dims. */
        b[3] = 3;
        idx_refused(write(b, 10, "-idx"), PTQ_ERR_INVALID, "truncated IDX header");
        b[3] = 1;
        /* Data cut short. */
        idx_refused(write(b, len - 3, "-idx"), PTQ_ERR_INVALID, "truncated");
        /* Bytes after the data. */
        uint8_t *longer = malloc(len + 2);
        memcpy(longer, b, len);
        longer[len] = longer[len + 1] = 0xAA;
        idx_refused(write(longer, len + 2, "-idx"), PTQ_ERR_INVALID, "trailing");
        free(longer);
        /* Element types the reader does not take: int16 (0x0B) and float64 (0x0E). */
        b[2] = 0x0B;
        idx_refused(write(b, len, "-idx"), PTQ_ERR_UNSUPPORTED, "0x0b");
        b[2] = 0x0E;
        idx_refused(write(b, len, "-idx"), PTQ_ERR_UNSUPPORTED, "0x0e");
        b[2] = 0x08;
        /* Rank 0 and a rank above PTQ_MAX_DIMS. */
        b[3] = 0;
        idx_refused(write(b, 4, "-idx"), PTQ_ERR_INVALID, "rank");
        b[3] = 9;
        idx_refused(write(b, len, "-idx"), PTQ_ERR_INVALID, "rank");
        b[3] = 1;
    }
    free(b);
    /* Dims whose product overflows PTQ_MAX_ELEMENTS. */
    const uint32_t huge[3] = {65535, 65535, 65535};
    idx_refused(idx_file(false, 0x08, 3, huge, px, sizeof px), PTQ_ERR_INVALID, "absurd");
    /* A missing file. */
    ptq_error err = {0};
    ck_assert_ptr_null(ptq_idx_read("/nonexistent/dir/images-idx3-ubyte", &err));
    ck_assert_int_eq(err.status, PTQ_ERR_IO);
    ck_assert_msg(test_contains(err.msg, "/nonexistent/dir/images-idx3-ubyte"), "%s", err.msg);
}
END_TEST

/* A tiny file that claims 10^9 elements fails as truncated, without first allocating
 * what it claims (the address space is capped well below 1 GB where possible). */
START_TEST(idx_lying_header_no_big_allocation) {
    const uint8_t px[16] = {0};
    const uint32_t dims[3] = {1000, 1000, 1000};
    const char *plain = idx_file(false, 0x08, 3, dims, px, sizeof px);
    const char *gz = idx_file(true, 0x08, 3, dims, px, sizeof px);
    const char *f32 = idx_file(false, 0x0D, 3, dims, px, sizeof px); /* 4 GB claimed */
    test_limit_address_space((size_t)256 << 20);
    idx_refused(plain, PTQ_ERR_INVALID, "truncated");
    idx_refused(gz, PTQ_ERR_INVALID, "truncated");
    idx_refused(f32, PTQ_ERR_INVALID, "truncated");
}
END_TEST

/* A gzip stream cut in the middle: an error, not a crash. */
START_TEST(idx_truncated_gzip_stream) {
    uint8_t px[4000];
    test_rng r = {3};
    for (size_t i = 0; i < sizeof px; i++) px[i] = (uint8_t)test_rng_next(&r); /* incompressible */
    const uint32_t dims[2] = {40, 100};
    const char *p = idx_file(true, 0x08, 2, dims, px, sizeof px);
    FILE *f = fopen(p, "rb");
    ck_assert_ptr_nonnull(f);
    uint8_t buf[8192];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    ck_assert_uint_gt(n, 2000);
    for (size_t cut = 10; cut < n; cut += n / 7) {
        ptq_error err = {0};
        const char *q = test_write_temp(buf, cut, "-idx.gz");
        ck_assert_ptr_null(ptq_idx_read(q, &err));
        ck_assert_msg(err.status == PTQ_ERR_INVALID || err.status == PTQ_ERR_IO, "cut %zu: %s", cut,
                      err.msg);
        ck_assert_msg(test_contains(err.msg, q), "%s", err.msg);
    }
}
END_TEST

/* ===================================================================== NPY ====== */

/* A .npy file in memory: magic, version, header length, then the header dict padded with
 * spaces to a multiple of 64 bytes and ended by a newline, as NumPy writes it. */
static uint8_t *npy_bytes(int version, const char *descr, const char *fortran, const char *shape,
                          const void *data, size_t data_len, size_t *len) {
    char dict[256];
    snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }", descr,
             fortran, shape);
    const size_t pre = version == 1 ? 10 : 12;
    size_t hlen = strlen(dict) + 1;
    hlen += (64 - (pre + hlen) % 64) % 64;
    *len = pre + hlen + data_len;
    uint8_t *b = malloc(*len + 1);
    ck_assert_ptr_nonnull(b);
    memcpy(b, "\x93NUMPY", 6);
    b[6] = (uint8_t)version;
    b[7] = 0;
    b[8] = (uint8_t)hlen;
    b[9] = (uint8_t)(hlen >> 8);
    if (version > 1) b[10] = b[11] = 0;
    memset(b + pre, ' ', hlen);
    memcpy(b + pre, dict, strlen(dict));
    b[pre + hlen - 1] = '\n';
    if (data_len) memcpy(b + pre + hlen, data, data_len);
    return b;
}

static const char *npy_file(int version, const char *descr, const char *fortran,
                            const char *shape, const void *data, size_t data_len) {
    size_t len;
    uint8_t *b = npy_bytes(version, descr, fortran, shape, data, data_len, &len);
    const char *p = test_write_temp(b, len, ".npy");
    free(b);
    return p;
}

static void npy_refused(const char *path, ptq_status status, const char *what) {
    ptq_error err = {0};
    ptq_tensor *t = ptq_npy_read(path, &err);
    ck_assert_msg(t == NULL, "%s was accepted", path);
    ck_assert_msg(err.status == status, "status %d (%s), expected %d", err.status, err.msg, status);
    ck_assert_msg(test_contains(err.msg, path) && test_contains(err.msg, what),
                  "message '%s' should name %s and say '%s'", err.msg, path, what);
}

START_TEST(npy_read_types) {
    /* float32 N x H x W. */
    float fv[2 * 3 * 4];
    for (int i = 0; i < 24; i++) fv[i] = (float)i * 0.5f - 3.0f;
    ptq_error err = {0};
    ptq_tensor *t = ptq_npy_read(npy_file(1, "<f4", "False", "(2, 3, 4)", fv, sizeof fv), &err);
    ck_assert_msg(t != NULL, "%s", err.msg);
    ck_assert_uint_eq(t->dtype, PTQ_DTYPE_F32);
    ck_assert_int_eq(t->ndim, 3);
    ck_assert_int_eq(t->ne[0], 2);
    ck_assert_int_eq(t->ne[1], 3);
    ck_assert_int_eq(t->ne[2], 4);
    ck_assert_mem_eq(t->data, fv, sizeof fv);
    ptq_tensor_free(t);
    /* uint8 N x C x H x W, in a version 2.0 header. */
    uint8_t uv[2 * 3 * 2 * 2];
    for (int i = 0; i < 24; i++) uv[i] = (uint8_t)(i * 11);
    t = ptq_npy_read(npy_file(2, "|u1", "False", "(2, 3, 2, 2)", uv, sizeof uv), &err);
    ck_assert_msg(t != NULL, "%s", err.msg);
    ck_assert_uint_eq(t->dtype, PTQ_DTYPE_U8);
    ck_assert_int_eq(t->ndim, 4);
    ck_assert_int_eq(t->ne[1], 3);
    ck_assert_mem_eq(t->data, uv, sizeof uv);
    ptq_tensor_free(t);
    /* int64 labels, 1-D. */
    const int64_t lv[5] = {0, 9, 4, 4, 1};
    t = ptq_npy_read(npy_file(1, "<i8", "False", "(5,)", lv, sizeof lv), &err);
    ck_assert_msg(t != NULL, "%s", err.msg);
    ck_assert_uint_eq(t->dtype, PTQ_DTYPE_I64);
    ck_assert_int_eq(t->ndim, 1);
    ck_assert_int_eq(t->ne[0], 5);
    ck_assert_mem_eq(t->data, lv, sizeof lv);
    ptq_tensor_free(t);
    /* int32, and a scalar (shape "()"). */
    const int32_t one = -7;
    t = ptq_npy_read(npy_file(1, "<i4", "False", "()", &one, sizeof one), &err);
    ck_assert_msg(t != NULL, "%s", err.msg);
    ck_assert_int_eq(t->ndim, 0);
    ck_assert_int_eq(*(int32_t *)t->data, -7);
    ptq_tensor_free(t);
}
END_TEST

START_TEST(npy_malformed) {
    const float fv[6] = {0};
    size_t len;
    uint8_t *b = npy_bytes(1, "<f4", "False", "(2, 3)", fv, sizeof fv, &len);
    /* Bad magic. */
    b[1] = 'X';
    npy_refused(test_write_temp(b, len, ".npy"), PTQ_ERR_INVALID, "magic");
    b[1] = 'N';
    /* Unknown format version. */
    b[6] = 9;
    npy_refused(test_write_temp(b, len, ".npy"), PTQ_ERR_UNSUPPORTED, "version 9");
    b[6] = 1;
    /* Header cut short, and data cut short. */
    npy_refused(test_write_temp(b, 40, ".npy"), PTQ_ERR_INVALID, "truncated");
    npy_refused(test_write_temp(b, len - 5, ".npy"), PTQ_ERR_INVALID, "truncated");
    npy_refused(test_write_temp(b, 7, ".npy"), PTQ_ERR_INVALID, "magic");
    free(b);
    /* Fortran order, other dtypes (named in the message), a missing shape. */
    npy_refused(npy_file(1, "<f4", "True", "(2, 3)", fv, sizeof fv), PTQ_ERR_UNSUPPORTED,
                "fortran_order");
    npy_refused(npy_file(1, "<f8", "False", "(3,)", fv, 24), PTQ_ERR_UNSUPPORTED, "<f8");
    npy_refused(npy_file(1, ">f4", "False", "(2, 3)", fv, sizeof fv), PTQ_ERR_UNSUPPORTED, ">f4");
    npy_refused(npy_file(1, "<U5", "False", "(1,)", fv, 20), PTQ_ERR_UNSUPPORTED, "<U5");
    npy_refused(npy_file(1, "<f4", "False", "[2, 3]", fv, sizeof fv), PTQ_ERR_INVALID, "shape");
    npy_refused(npy_file(1, "<f4", "False", "(2, x)", fv, sizeof fv), PTQ_ERR_INVALID, "shape");
    npy_refused(npy_file(1, "<f4", "False", "(1, 1, 1, 1, 1, 1, 1, 1, 1)", fv, 4),
                PTQ_ERR_INVALID, "shape");
    /* Absurd shapes: one dimension too large, or a product too large. */
    npy_refused(npy_file(1, "<f4", "False", "(99999999999, 2)", fv, sizeof fv), PTQ_ERR_INVALID,
                "out of range");
    npy_refused(npy_file(1, "<f4", "False", "(100000, 100000, 100000)", fv, sizeof fv),
                PTQ_ERR_INVALID, "absurd");
    /* A version 2 header that claims a gigabyte of header. */
    uint8_t v2[16] = {0x93, 'N', 'U', 'M', 'P', 'Y', 2, 0, 0, 0, 0, 0x40};
    npy_refused(test_write_temp(v2, sizeof v2, ".npy"), PTQ_ERR_INVALID, "header length");
    ptq_error err = {0};
    ck_assert_ptr_null(ptq_npy_read("/nonexistent/x.npy", &err));
    ck_assert_int_eq(err.status, PTQ_ERR_IO);
    ck_assert_msg(test_contains(err.msg, "/nonexistent/x.npy"), "%s", err.msg);
}
END_TEST

START_TEST(npy_lying_header_no_big_allocation) {
    const uint8_t px[16] = {0};
    const char *p = npy_file(1, "|u1", "False", "(1000, 1000, 1000)", px, sizeof px);
    test_limit_address_space((size_t)256 << 20);
    npy_refused(p, PTQ_ERR_INVALID, "truncated");
}
END_TEST

/* ================================================================= dataset ====== */

static ptq_dataset *load_ok(const char *images, const char *labels, const ptq_preprocess *pp,
                            int64_t limit) {
    ptq_error err = {0};
    ptq_dataset *ds = ptq_dataset_load(images, labels, pp, limit, &err);
    ck_assert_msg(ds != NULL, "%s", err.msg);
    return ds;
}

static void load_refused(const char *images, const char *labels, const ptq_preprocess *pp,
                         ptq_status status, const char *what) {
    ptq_error err = {0};
    ptq_dataset *ds = ptq_dataset_load(images, labels, pp, 0, &err);
    ck_assert_msg(ds == NULL, "dataset %s accepted", images);
    ck_assert_msg(err.status == status, "status %d (%s), expected %d", err.status, err.msg, status);
    ck_assert_msg(test_contains(err.msg, what), "message '%s' should say '%s'", err.msg, what);
}

/* uint8 IDX images and labels, default preprocessing: pixels / 255. */
START_TEST(dataset_idx_default) {
    uint8_t px[4 * 2 * 3];
    for (int i = 0; i < 24; i++) px[i] = (uint8_t)(i * 10 + 5);
    const uint8_t lab[4] = {0, 3, 1, 3};
    const uint32_t di[3] = {4, 2, 3}, dl[1] = {4};
    const char *images = idx_file(true, 0x08, 3, di, px, sizeof px);
    const char *labels = idx_file(false, 0x08, 1, dl, lab, sizeof lab);
    ptq_dataset *ds = load_ok(images, labels, NULL, 0);
    ck_assert_int_eq(ds->n, 4);
    ck_assert_int_eq(ds->c, 1);
    ck_assert_int_eq(ds->h, 2);
    ck_assert_int_eq(ds->w, 3);
    for (int i = 0; i < 24; i++) ck_assert_float_eq(ds->images[i], (float)px[i] / 255.0f);
    for (int i = 0; i < 4; i++) ck_assert_int_eq(ds->labels[i], lab[i]);
    ck_assert_int_eq(ds->n_classes, 4);
    ptq_dataset_free(ds);
    /* Without labels. */
    ds = load_ok(images, NULL, NULL, 0);
    ck_assert_ptr_null(ds->labels);
    ck_assert_int_eq(ds->n_classes, 0);
    ptq_dataset_free(ds);
    /* limit keeps the first samples. */
    ds = load_ok(images, labels, NULL, 2);
    ck_assert_int_eq(ds->n, 2);
    ck_assert_int_eq(ds->labels[1], 3);
    ck_assert_float_eq(ds->images[11], (float)px[11] / 255.0f);
    ck_assert_int_eq(ds->n_classes, 4); /* 1 + largest label kept */
    ptq_dataset_free(ds);
    ds = load_ok(images, labels, NULL, 100); /* a limit above n changes nothing */
    ck_assert_int_eq(ds->n, 4);
    ptq_dataset_free(ds);
    ptq_dataset_free(NULL);
}
END_TEST

/* uint8 N x C x H x W: x / 255, then (x - mean[c]) / std[c], in float as torchvision. */
START_TEST(dataset_preprocess_per_channel) {
    uint8_t px[2 * 3 * 2 * 2];
    for (int i = 0; i < 24; i++) px[i] = (uint8_t)(255 - i * 9);
    const int64_t lab[2] = {1, 0};
    const char *images = npy_file(1, "|u1", "False", "(2, 3, 2, 2)", px, sizeof px);
    const char *labels = npy_file(1, "<i8", "False", "(2,)", lab, sizeof lab);
    ptq_preprocess pp = {0};
    pp.n_mean = pp.n_std = 3;
    const float mean[3] = {0.485f, 0.456f, 0.406f}, std[3] = {0.229f, 0.224f, 0.225f};
    memcpy(pp.mean, mean, sizeof mean);
    memcpy(pp.std, std, sizeof std);
    ptq_dataset *ds = load_ok(images, labels, &pp, 0);
    ck_assert_int_eq(ds->c, 3);
    for (int i = 0; i < 24; i++) {
        const int c = (i / 4) % 3;
        const float want = ((float)px[i] / 255.0f - mean[c]) / std[c];
        ck_assert_msg(fabsf(ds->images[i] - want) <= 1e-6f * fabsf(want) + 1e-7f,
                      "element %d: %.9g, expected %.9g", i, (double)ds->images[i], (double)want);
    }
    ck_assert_int_eq(ds->labels[0], 1);
    ck_assert_int_eq(ds->n_classes, 2);
    ptq_dataset_free(ds);
    /* One mean and std for all channels. */
    pp.n_mean = pp.n_std = 1;
    pp.mean[0] = 0.286f;
    pp.std[0] = 0.353f;
    ds = load_ok(images, NULL, &pp, 0);
    for (int i = 0; i < 24; i++) {
        const float want = ((float)px[i] / 255.0f - 0.286f) / 0.353f;
        ck_assert_msg(fabsf(ds->images[i] - want) <= 1e-6f * fabsf(want) + 1e-7f, "element %d", i);
    }
    ptq_dataset_free(ds);
    /* An explicit scale replaces the division by 255. */
    ptq_preprocess sc = {0};
    sc.scale = 1.0f;
    ds = load_ok(images, NULL, &sc, 0);
    for (int i = 0; i < 24; i++) ck_assert_float_eq(ds->images[i], (float)px[i]);
    ptq_dataset_free(ds);
}
END_TEST

/* float32 data is not divided by 255. */
START_TEST(dataset_float_images) {
    float fv[3 * 2 * 2];
    for (int i = 0; i < 12; i++) fv[i] = (float)i * 0.75f - 2.0f;
    const char *images = npy_file(1, "<f4", "False", "(3, 2, 2)", fv, sizeof fv);
    ptq_dataset *ds = load_ok(images, NULL, NULL, 0);
    ck_assert_int_eq(ds->n, 3);
    ck_assert_int_eq(ds->c, 1);
    ck_assert_mem_eq(ds->images, fv, sizeof fv);
    ptq_dataset_free(ds);
    ptq_preprocess pp = {0};
    pp.n_mean = pp.n_std = 1;
    pp.mean[0] = 0.5f;
    pp.std[0] = 2.0f;
    ds = load_ok(images, NULL, &pp, 0);
    for (int i = 0; i < 12; i++) ck_assert_float_eq(ds->images[i], (fv[i] - 0.5f) / 2.0f);
    ptq_dataset_free(ds);
    pp.scale = 2.0f;
    ds = load_ok(images, NULL, &pp, 0);
    for (int i = 0; i < 12; i++) ck_assert_float_eq(ds->images[i], (fv[i] * 2.0f - 0.5f) / 2.0f);
    ptq_dataset_free(ds);
}
END_TEST

/* .npy.gz is read as NumPy through zlib. */
START_TEST(dataset_npy_gz) {
    uint8_t px[2 * 2 * 2];
    for (int i = 0; i < 8; i++) px[i] = (uint8_t)(i * 30);
    size_t len;
    uint8_t *b = npy_bytes(1, "|u1", "False", "(2, 2, 2)", px, sizeof px, &len);
    const char *images = test_write_temp_gz(b, len, ".npy.gz");
    free(b);
    ptq_dataset *ds = load_ok(images, NULL, NULL, 0);
    ck_assert_int_eq(ds->n, 2);
    for (int i = 0; i < 8; i++) ck_assert_float_eq(ds->images[i], (float)px[i] / 255.0f);
    ptq_dataset_free(ds);
}
END_TEST

START_TEST(dataset_errors) {
    uint8_t px[4 * 2 * 2] = {0};
    const uint32_t di[3] = {4, 2, 2}, d5[1] = {5}, d4[1] = {4}, d22[2] = {2, 2};
    /* Copies: test_write_temp's path buffers are reused after 8 files. */
    char images[256], labels5[256];
    snprintf(images, sizeof images, "%s", idx_file(false, 0x08, 3, di, px, sizeof px));
    /* Label count differs from the image count: both files named. */
    const uint8_t lab5[5] = {0, 1, 2, 3, 4};
    snprintf(labels5, sizeof labels5, "%s", idx_file(false, 0x08, 1, d5, lab5, sizeof lab5));
    ptq_error err = {0};
    ck_assert_ptr_null(ptq_dataset_load(images, labels5, NULL, 0, &err));
    ck_assert_int_eq(err.status, PTQ_ERR_INVALID);
    ck_assert_msg(test_contains(err.msg, images) && test_contains(err.msg, labels5) &&
                      test_contains(err.msg, "5 labels"),
                  "%s", err.msg);
    /* Labels out of range: negative, and absurdly large. */
    const int32_t neg[4] = {0, 1, -1, 2};
    uint8_t be[16];
    to_be32(neg, be, 4);
    load_refused(images, idx_file(false, 0x0C, 1, d4, be, sizeof be), NULL, PTQ_ERR_INVALID,
                 "out of range");
    const int32_t big[4] = {0, 1, 1 << 21, 2};
    to_be32(big, be, 4);
    load_refused(images, idx_file(false, 0x0C, 1, d4, be, sizeof be), NULL, PTQ_ERR_INVALID,
                 "out of range");
    /* Labels must be a 1-D integer array. */
    const float fl[4] = {0, 1, 2, 3};
    to_be32(fl, be, 4);
    load_refused(images, idx_file(false, 0x0D, 1, d4, be, sizeof be), NULL, PTQ_ERR_INVALID,
                 "1-D integer");
    load_refused(images, idx_file(false, 0x08, 2, d22, px, 4), NULL, PTQ_ERR_INVALID, "1-D integer");
    /* Images must be 3-D or 4-D, uint8 or float32, and not empty. */
    load_refused(idx_file(false, 0x08, 2, d22, px, 4), NULL, NULL, PTQ_ERR_INVALID, "N x H x W");
    int32_t iv[8] = {0};
    uint8_t ibe[32];
    to_be32(iv, ibe, 8);
    const uint32_t di2[3] = {2, 2, 2};
    load_refused(idx_file(false, 0x0C, 3, di2, ibe, sizeof ibe), NULL, NULL, PTQ_ERR_UNSUPPORTED,
                 "int32");
    const uint32_t d0[3] = {0, 2, 2};
    load_refused(idx_file(false, 0x08, 3, d0, px, 0), NULL, NULL, PTQ_ERR_INVALID, "no images");
    /* Means/stds that do not match the channels, and a std that is not positive. */
    ptq_preprocess pp = {0};
    pp.n_mean = 2;
    load_refused(images, NULL, &pp, PTQ_ERR_INVALID, "channels");
    pp.n_mean = 1;
    pp.n_std = 1;
    pp.std[0] = 0.0f;
    load_refused(images, NULL, &pp, PTQ_ERR_INVALID, "positive");
    pp.std[0] = -1.0f;
    load_refused(images, NULL, &pp, PTQ_ERR_INVALID, "positive");
    /* Missing files are I/O errors naming the file. */
    ptq_error e2 = {0};
    ck_assert_ptr_null(ptq_dataset_load("/nonexistent/imgs-idx3-ubyte", NULL, NULL, 0, &e2));
    ck_assert_int_eq(e2.status, PTQ_ERR_IO);
    ck_assert_msg(test_contains(e2.msg, "/nonexistent/imgs-idx3-ubyte"), "%s", e2.msg);
    ptq_error e3 = {0};
    ck_assert_ptr_null(ptq_dataset_load(images, "/nonexistent/labels.npy", NULL, 0, &e3));
    ck_assert_int_eq(e3.status, PTQ_ERR_IO);
}
END_TEST

/* The real Fashion-MNIST test set, if the Debian package is installed. */
START_TEST(dataset_fashion_mnist) {
    const char *images = FMNIST_DIR "/t10k-images-idx3-ubyte.gz";
    const char *labels = FMNIST_DIR "/t10k-labels-idx1-ubyte.gz";
    if (access(images, R_OK) != 0 || access(labels, R_OK) != 0) {
        fprintf(stderr, "dataset_fashion_mnist: %s not found, skipped\n", images);
        return;
    }
    ptq_dataset *ds = load_ok(images, labels, NULL, 0);
    ck_assert_int_eq(ds->n, 10000);
    ck_assert_int_eq(ds->c, 1);
    ck_assert_int_eq(ds->h, 28);
    ck_assert_int_eq(ds->w, 28);
    ck_assert_int_eq(ds->n_classes, 10);
    /* The test set is balanced: 1000 images per class. */
    int counts[10] = {0};
    for (int64_t i = 0; i < ds->n; i++) {
        ck_assert(ds->labels[i] >= 0 && ds->labels[i] <= 9);
        counts[ds->labels[i]]++;
    }
    for (int k = 0; k < 10; k++) ck_assert_int_eq(counts[k], 1000);
    /* Pixels in [0, 1] with the dataset's known mean (0.286, the models' normalisation).
     * Counted, not asserted one by one: each Check assertion costs a system call. */
    double sum = 0.0;
    int64_t outside = 0;
    for (int64_t i = 0; i < ds->n * 28 * 28; i++) {
        outside += !(ds->images[i] >= 0.0f && ds->images[i] <= 1.0f);
        sum += ds->images[i];
    }
    ck_assert_int_eq(outside, 0);
    const double mean = sum / (double)(ds->n * 28 * 28);
    ck_assert_msg(fabs(mean - 0.286) < 0.005, "mean pixel %g", mean);
    ptq_dataset_free(ds);
}
END_TEST

int main(void) {
    Suite *s = suite_create("data");
    TCase *tc = tcase_create("idx");
    tcase_add_test(tc, idx_uint8_images_and_labels);
    tcase_add_test(tc, idx_wide_types_big_endian);
    tcase_add_test(tc, idx_malformed);
    tcase_add_test(tc, idx_lying_header_no_big_allocation);
    tcase_add_test(tc, idx_truncated_gzip_stream);
    suite_add_tcase(s, tc);

    tc = tcase_create("npy");
    tcase_add_test(tc, npy_read_types);
    tcase_add_test(tc, npy_malformed);
    tcase_add_test(tc, npy_lying_header_no_big_allocation);
    suite_add_tcase(s, tc);

    tc = tcase_create("dataset");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, dataset_idx_default);
    tcase_add_test(tc, dataset_preprocess_per_channel);
    tcase_add_test(tc, dataset_float_images);
    tcase_add_test(tc, dataset_npy_gz);
    tcase_add_test(tc, dataset_errors);
    tcase_add_test(tc, dataset_fashion_mnist);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
