/* test_images.c — image folders: PNG and JPEG decoding (every PNG colour type the loader
 * promises, a JPEG, corrupt and non-image files), channel orders, resizing, scaling and
 * normalisation against hand-computed pixel values, labels from class folders.
 *
 * Fixtures are written by the test through libpng and libjpeg, so every pixel is known. */
#define _DEFAULT_SOURCE /* mkdtemp */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jpeglib.h>
#include <png.h>

#include "testutil.h"

/* ===================================================================== fixtures === */

static char g_dir[64];

/* A fresh folder for this (forked) test; removed by the OS's /tmp cleaning only, so the
 * tests remove what they make with rm_tree. */
static const char *fresh_dir(void) {
    snprintf(g_dir, sizeof g_dir, "/tmp/ptq-images-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(g_dir));
    return g_dir;
}

static void rm_tree(const char *dir) {
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

static const char *path_in(const char *dir, const char *name) {
    static char buf[8][256];
    static int slot;
    char *p = buf[slot++ % 8];
    snprintf(p, 256, "%s/%s", dir, name);
    return p;
}

static void make_subdir(const char *dir, const char *name) {
    ck_assert_int_eq(mkdir(path_in(dir, name), 0755), 0);
}

/* A PNG of colour type `type` and bit depth `depth`; samples as 16-bit values when depth
 * is 16 (big-endian as PNG stores them is done here), else bytes.  plte: palette entries
 * (RGB triples) for palette images. */
static void write_png(const char *path, int w, int h, int type, int depth, const void *px,
                      const uint8_t *plte, int n_plte) {
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    ck_assert(png && info);
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, depth, type, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (type == PNG_COLOR_TYPE_PALETTE) {
        png_color pal[16];
        for (int i = 0; i < n_plte; i++)
            pal[i] = (png_color){plte[3 * i], plte[3 * i + 1], plte[3 * i + 2]};
        png_set_PLTE(png, info, pal, n_plte);
    }
    png_write_info(png, info);
    if (depth == 16) png_set_swap(png); /* our uint16 are little-endian */
    const int ch = type == PNG_COLOR_TYPE_GRAY || type == PNG_COLOR_TYPE_PALETTE ? 1
                   : type == PNG_COLOR_TYPE_GRAY_ALPHA ? 2 : type == PNG_COLOR_TYPE_RGB ? 3 : 4;
    const size_t row = (size_t)w * ch * (depth == 16 ? 2 : 1);
    for (int y = 0; y < h; y++) png_write_row(png, (png_const_bytep)px + (size_t)y * row);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    fclose(f);
}

static void write_gray(const char *path, int w, int h, const uint8_t *px) {
    write_png(path, w, h, PNG_COLOR_TYPE_GRAY, 8, px, NULL, 0);
}

static void write_jpeg(const char *path, int w, int h, int c, const uint8_t *px) {
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    struct jpeg_compress_struct cinfo;
    struct jpeg_error_mgr jerr;
    cinfo.err = jpeg_std_error(&jerr);
    jpeg_create_compress(&cinfo);
    jpeg_stdio_dest(&cinfo, f);
    cinfo.image_width = (JDIMENSION)w;
    cinfo.image_height = (JDIMENSION)h;
    cinfo.input_components = c;
    cinfo.in_color_space = c == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_set_defaults(&cinfo);
    jpeg_set_quality(&cinfo, 100, TRUE);
    jpeg_start_compress(&cinfo, TRUE);
    while (cinfo.next_scanline < cinfo.image_height) {
        JSAMPROW row = (JSAMPROW)(px + (size_t)cinfo.next_scanline * w * c);
        jpeg_write_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_compress(&cinfo);
    jpeg_destroy_compress(&cinfo);
    fclose(f);
}

static void write_bytes(const char *path, const void *b, size_t n) {
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(b, 1, n, f), n);
    fclose(f);
}

static ptq_dataset *load_ok(const char *images, const ptq_preprocess *pp) {
    ptq_error err = {0};
    ptq_dataset *ds = ptq_dataset_load(images, NULL, pp, 0, &err);
    ck_assert_msg(ds != NULL, "%s", err.msg);
    return ds;
}

static void load_fails(const char *images, const ptq_preprocess *pp, const char *w1,
                       const char *w2) {
    ptq_error err = {0};
    ptq_dataset *ds = ptq_dataset_load(images, NULL, pp, 0, &err);
    ck_assert_msg(ds == NULL, "loaded");
    ck_assert_msg(test_contains(err.msg, w1), "'%s' lacks '%s'", err.msg, w1);
    if (w2) ck_assert_msg(test_contains(err.msg, w2), "'%s' lacks '%s'", err.msg, w2);
}

/* Pixel k of channel ch of image i, scaled back to 0..255 (default scale 1/255). */
static float px255(const ptq_dataset *ds, int64_t i, int32_t ch, int64_t k) {
    return ds->images[((i * ds->c + ch) * ds->h * ds->w) + k] * 255.0f;
}

#define CK_NEAR(a, b, tol) ck_assert_msg(fabs((double)(a) - (double)(b)) <= (tol), \
                                         "%s = %g, expected %g", #a, (double)(a), (double)(b))

/* ===================================================================== decoding === */

START_TEST(png_colour_types) {
    const char *d = fresh_dir();
    /* Each file holds 2x2 pixels; a folder lists them in name order. */
    const uint8_t gray[4] = {0, 64, 128, 255};
    write_gray(path_in(d, "a_gray.png"), 2, 2, gray);
    const uint8_t rgb[12] = {255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30};
    write_png(path_in(d, "b_rgb.png"), 2, 2, PNG_COLOR_TYPE_RGB, 8, rgb, NULL, 0);
    const uint8_t rgba[16] = {255, 0, 0, 0, 0, 255, 0, 128, 0, 0, 255, 255, 10, 20, 30, 7};
    write_png(path_in(d, "c_rgba.PNG"), 2, 2, PNG_COLOR_TYPE_RGB_ALPHA, 8, rgba, NULL, 0);
    const uint8_t plte[9] = {255, 0, 0, 0, 255, 0, 10, 20, 30}, idx[4] = {0, 1, 2, 2};
    write_png(path_in(d, "d_palette.png"), 2, 2, PNG_COLOR_TYPE_PALETTE, 8, idx, plte, 3);
    const uint16_t g16[4] = {0, 65535, 32896, 1000};
    write_png(path_in(d, "e_gray16.png"), 2, 2, PNG_COLOR_TYPE_GRAY, 16, g16, NULL, 0);
    const uint8_t ga[8] = {0, 255, 64, 0, 128, 9, 255, 1};
    write_png(path_in(d, "f_gray_alpha.png"), 2, 2, PNG_COLOR_TYPE_GRAY_ALPHA, 8, ga, NULL, 0);
    write_bytes(path_in(d, "readme.txt"), "not listed", 10); /* other extensions ignored */

    ptq_preprocess pp = {0};
    ptq_dataset *ds = load_ok(d, &pp);
    ck_assert_int_eq(ds->n, 6);
    ck_assert_int_eq(ds->c, 3);
    ck_assert_int_eq(ds->h, 2);
    ck_assert_int_eq(ds->w, 2);
    ck_assert_ptr_null(ds->labels);
    /* grey replicated into all three channels */
    for (int ch = 0; ch < 3; ch++)
        for (int k = 0; k < 4; k++) CK_NEAR(px255(ds, 0, ch, k), gray[k], 1e-4);
    /* RGB, RGBA (alpha dropped, not composited) and the palette: the same colours */
    for (int i = 1; i <= 3; i++)
        for (int ch = 0; ch < 3; ch++)
            for (int k = 0; k < 4; k++) {
                const uint8_t want = i == 3 ? plte[3 * idx[k] + ch] : rgb[3 * k + ch];
                CK_NEAR(px255(ds, i, ch, k), want, 1e-4);
            }
    /* 16-bit scaled to 8 bits: round(v / 257) */
    const float g8[4] = {0, 255, 128, 4};
    for (int k = 0; k < 4; k++) CK_NEAR(px255(ds, 4, 1, k), g8[k], 1e-4);
    /* grey + alpha: the grey */
    for (int k = 0; k < 4; k++) CK_NEAR(px255(ds, 5, 2, k), ga[2 * k], 1e-4);
    /* exactly torchvision's ToTensor: v / 255 in float32 */
    ck_assert(ds->images[1] == 64.0f / 255.0f);
    ptq_dataset_free(ds);
    rm_tree(d);
}
END_TEST

START_TEST(jpeg_decoded) {
    const char *d = fresh_dir();
    uint8_t rgb[8 * 8 * 3], gray[8 * 8];
    for (int i = 0; i < 64; i++) {
        rgb[3 * i] = 200, rgb[3 * i + 1] = 100, rgb[3 * i + 2] = 50;
        gray[i] = 77;
    }
    write_jpeg(path_in(d, "a.jpg"), 8, 8, 3, rgb);
    write_jpeg(path_in(d, "b.JPEG"), 8, 8, 1, gray);
    ptq_preprocess pp = {0};
    ptq_dataset *ds = load_ok(d, &pp);
    ck_assert_int_eq(ds->n, 2);
    /* quality 100 on a flat image: within a level or two of the source */
    for (int k = 0; k < 64; k++) {
        CK_NEAR(px255(ds, 0, 0, k), 200, 2.01);
        CK_NEAR(px255(ds, 0, 1, k), 100, 2.01);
        CK_NEAR(px255(ds, 0, 2, k), 50, 2.01);
        for (int ch = 0; ch < 3; ch++) CK_NEAR(px255(ds, 1, ch, k), 77, 1.01);
    }
    ptq_dataset_free(ds);
    rm_tree(d);
}
END_TEST

/* ===================================================================== preprocessing */

START_TEST(channel_orders_scale_normalize) {
    const char *d = fresh_dir();
    const uint8_t rgb[12] = {255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30};
    write_png(path_in(d, "x.png"), 2, 2, PNG_COLOR_TYPE_RGB, 8, rgb, NULL, 0);
    ptq_preprocess pp = {.channels = PTQ_CHANNELS_GRAY};
    ptq_dataset *ds = load_ok(d, &pp);
    ck_assert_int_eq(ds->c, 1);
    /* PIL's "L": (R*19595 + G*38470 + B*7471 + 32768) >> 16, by hand:
     * red 255 -> 76, green -> 150, blue -> 29, (10,20,30) -> 18 */
    const float luma[4] = {76, 150, 29, 18};
    for (int k = 0; k < 4; k++) CK_NEAR(px255(ds, 0, 0, k), luma[k], 1e-4);
    ptq_dataset_free(ds);

    pp = (ptq_preprocess){.channels = PTQ_CHANNELS_BGR, .scale = 1.0f, .n_mean = 3,
                          .mean = {1, 2, 3}, .n_std = 1, .std = {2}};
    ds = load_ok(d, &pp);
    ck_assert_int_eq(ds->c, 3);
    /* channel 0 is blue: (B * 1 - mean[0]) / 2 */
    for (int k = 0; k < 4; k++) {
        ck_assert(ds->images[0 * 4 + k] == (rgb[3 * k + 2] - 1.0f) / 2.0f);
        ck_assert(ds->images[1 * 4 + k] == (rgb[3 * k + 1] - 2.0f) / 2.0f);
        ck_assert(ds->images[2 * 4 + k] == (rgb[3 * k + 0] - 3.0f) / 2.0f);
    }
    ptq_dataset_free(ds);

    /* two means for three channels */
    pp = (ptq_preprocess){.n_mean = 2, .mean = {0.5f, 0.5f}};
    load_fails(d, &pp, "3 channels", "2 means");
    rm_tree(d);
}
END_TEST

START_TEST(resize_modes) {
    const char *d = fresh_dir();
    const uint8_t row[2] = {0, 100};
    write_gray(path_in(d, "up.png"), 2, 1, row);
    /* stretch 1x2 -> 1x4 (enlarging: bilinear, pixel centres at +0.5, edges clamped):
     * by hand [0, 0.75*0 + 0.25*100, 0.25*0 + 0.75*100, 100] */
    ptq_preprocess pp = {.channels = PTQ_CHANNELS_GRAY, .resize = PTQ_RESIZE_STRETCH,
                         .resize_h = 1, .resize_w = 4};
    ptq_dataset *ds = load_ok(path_in(d, "up.png"), &pp);
    const float up[4] = {0, 25, 75, 100};
    ck_assert_int_eq(ds->w, 4);
    for (int k = 0; k < 4; k++) CK_NEAR(px255(ds, 0, 0, k), up[k], 1e-3);
    ptq_dataset_free(ds);

    /* shrinking 1x4 -> 1x2 averages with a triangle twice as wide (antialiasing):
     * output 0 centred at 1.0 takes inputs 0,1,2 with weights .75,.75,.25 (/1.75),
     * output 1 centred at 3.0 takes inputs 1,2,3 with weights .25,.75,.75 */
    const uint8_t four[4] = {0, 100, 200, 40};
    write_gray(path_in(d, "down.png"), 4, 1, four);
    pp.resize_w = 2;
    ds = load_ok(path_in(d, "down.png"), &pp);
    CK_NEAR(px255(ds, 0, 0, 0), (0 * .75 + 100 * .75 + 200 * .25) / 1.75, 1e-3);
    CK_NEAR(px255(ds, 0, 0, 1), (100 * .25 + 200 * .75 + 40 * .75) / 1.75, 1e-3);
    ptq_dataset_free(ds);

    /* shrinking 100-fold: all 150 taps of the widened triangle count (a ramp 0..199 to
     * 2 pixels; output 0 is centred at 50 and reaches from 0 to 149, the triangle's
     * weights renormalised over that window) */
    uint8_t ramp[200];
    for (int x = 0; x < 200; x++) ramp[x] = (uint8_t)x;
    write_gray(path_in(d, "ramp.png"), 200, 1, ramp);
    ds = load_ok(path_in(d, "ramp.png"), &pp);
    for (int o = 0; o < 2; o++) {
        const double centre = (o + 0.5) * 100;
        double num = 0, den = 0;
        for (int x = 0; x < 200; x++) {
            const double t = fabs((x + 0.5 - centre) / 100);
            num += (t < 1 ? 1 - t : 0) * x;
            den += t < 1 ? 1 - t : 0;
        }
        CK_NEAR(px255(ds, 0, 0, o), num / den, 1e-3);
    }
    ptq_dataset_free(ds);

    /* letterbox 1x2 (h x w) into 4x4: scale 2 -> 2x4 content, rows 1..2, rows 0 and 3
     * the pad value */
    const uint8_t two[2] = {10, 20};
    write_gray(path_in(d, "lb.png"), 2, 1, two);
    pp = (ptq_preprocess){.channels = PTQ_CHANNELS_GRAY, .resize = PTQ_RESIZE_LETTERBOX,
                          .resize_h = 4, .resize_w = 4, .pad_value = 114};
    ds = load_ok(path_in(d, "lb.png"), &pp);
    const float body[4] = {10, 12.5f, 17.5f, 20};
    for (int y = 0; y < 4; y++)
        for (int x = 0; x < 4; x++)
            CK_NEAR(px255(ds, 0, 0, y * 4 + x), y == 0 || y == 3 ? 114 : body[x], 1e-3);
    ptq_dataset_free(ds);

    /* letterbox of a tall image centres it horizontally: 2x1 (h x w) into 2x4 */
    write_gray(path_in(d, "tall.png"), 1, 2, two);
    pp.resize_h = 2, pp.pad_value = 0;
    ds = load_ok(path_in(d, "tall.png"), &pp);
    /* the 1-column content at left = (4 - 1) / 2 = 1: pixels 1 (row 0) and 5 (row 1) */
    for (int k = 0; k < 8; k++)
        CK_NEAR(px255(ds, 0, 0, k), k == 1 ? 10 : k == 5 ? 20 : 0, 1e-3);
    ptq_dataset_free(ds);
    rm_tree(d);
}
END_TEST

/* ===================================================================== folders ==== */

START_TEST(folders_order_and_labels) {
    const char *d = fresh_dir();
    make_subdir(d, "dog");
    make_subdir(d, "cat");
    make_subdir(d, "cat/deeper");
    make_subdir(d, ".hidden");
    const uint8_t v[4][1] = {{1}, {2}, {3}, {4}};
    write_gray(path_in(d, "dog/b.png"), 1, 1, v[0]);
    write_gray(path_in(d, "dog/a.png"), 1, 1, v[1]);
    write_gray(path_in(d, "cat/z.png"), 1, 1, v[2]);
    write_gray(path_in(d, "cat/deeper/y.png"), 1, 1, v[3]);
    write_gray(path_in(d, ".hidden/h.png"), 1, 1, v[3]);
    ptq_preprocess pp = {.channels = PTQ_CHANNELS_GRAY, .labels_from_folders = true};
    ptq_dataset *ds = load_ok(d, &pp);
    /* sorted: cat/deeper/y, cat/z, dog/a, dog/b; classes cat = 0, dog = 1 */
    ck_assert_int_eq(ds->n, 4);
    const float want[4] = {4, 3, 2, 1};
    const int32_t labels[4] = {0, 0, 1, 1};
    for (int i = 0; i < 4; i++) {
        CK_NEAR(px255(ds, i, 0, 0), want[i], 1e-4);
        ck_assert_int_eq(ds->labels[i], labels[i]);
    }
    ck_assert_int_eq(ds->n_classes, 2);
    ptq_dataset_free(ds);

    /* limit keeps the first in order; without folders there are no labels */
    pp.labels_from_folders = false;
    ptq_error err = {0};
    ds = ptq_dataset_load(d, NULL, &pp, 2, &err);
    ck_assert_msg(ds != NULL, "%s", err.msg);
    ck_assert_int_eq(ds->n, 2);
    ck_assert_ptr_null(ds->labels);
    CK_NEAR(px255(ds, 1, 0, 0), 3, 1e-4);
    ptq_dataset_free(ds);

    /* an image beside the class folders */
    write_gray(path_in(d, "stray.png"), 1, 1, v[0]);
    pp.labels_from_folders = true;
    load_fails(d, &pp, "stray.png", "class subfolder");
    /* a labels file with a folder */
    ds = ptq_dataset_load(d, "/tmp/labels.npy", &pp, 0, &err);
    ck_assert_ptr_null(ds);
    ck_assert_msg(test_contains(err.msg, "labels: folders"), "%s", err.msg);
    rm_tree(d);
}
END_TEST

/* ===================================================================== errors ===== */

START_TEST(bad_files_fail_or_skip) {
    const char *d = fresh_dir();
    const uint8_t g[4] = {1, 2, 3, 4}, g2[4] = {9, 8, 7, 6};
    write_gray(path_in(d, "a.png"), 2, 2, g);
    write_gray(path_in(d, "d.png"), 2, 2, g2);
    /* a PNG cut short inside its pixel data */
    FILE *f = fopen(path_in(d, "a.png"), "rb");
    uint8_t buf[4096];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    write_bytes(path_in(d, "b_cut.png"), buf, n - 20);
    ptq_preprocess pp = {0};
    load_fails(d, &pp, "b_cut.png", "libpng");
    /* skipped, with a count */
    pp.skip_bad = true;
    ptq_dataset *ds = load_ok(d, &pp);
    ck_assert_int_eq(ds->n, 2);
    ck_assert_int_eq(ds->n_skipped, 1);
    /* the images after the gap moved down, with their file names */
    CK_NEAR(px255(ds, 1, 0, 0), 9, 1e-4);
    ck_assert(test_contains(ds->files[1], "/d.png") && test_contains(ds->files[0], "/a.png"));
    ptq_dataset_free(ds);
    rm_tree(d);

    d = fresh_dir();
    write_bytes(path_in(d, "text.jpg"), "hello, world", 12);
    pp.skip_bad = false;
    load_fails(d, &pp, "text.jpg", "not a PNG or JPEG");
    write_bytes(path_in(d, "text.jpg"), "", 0);
    load_fails(d, &pp, "text.jpg", "empty");
    /* a JPEG cut in half: libjpeg would pad it with grey and carry on */
    uint8_t px[16 * 16 * 3];
    for (size_t i = 0; i < sizeof px; i++) px[i] = (uint8_t)(i * 7);
    write_jpeg(path_in(d, "text.jpg"), 16, 16, 3, px);
    f = fopen(path_in(d, "text.jpg"), "rb");
    n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    write_bytes(path_in(d, "text.jpg"), buf, n / 2);
    load_fails(d, &pp, "text.jpg", "libjpeg");
    /* a JPEG header and garbage: libjpeg's own error, not exit() */
    const uint8_t junk[16] = {0xFF, 0xD8, 0xFF, 0x00, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    write_bytes(path_in(d, "text.jpg"), junk, sizeof junk);
    load_fails(d, &pp, "text.jpg", "libjpeg");
    /* everything skipped is still an error */
    pp.skip_bad = true;
    load_fails(d, &pp, "none of its 1 image files", NULL);
    rm_tree(d);

    d = fresh_dir();
    pp = (ptq_preprocess){0};
    load_fails(d, &pp, "no .png, .jpg or .jpeg", NULL);
    /* two sizes without a resize: both files named */
    write_gray(path_in(d, "a.png"), 2, 2, g);
    write_gray(path_in(d, "b.png"), 4, 1, g);
    load_fails(d, &pp, "a.png is 2x2", "b.png is 4x1");
    pp.resize = PTQ_RESIZE_STRETCH, pp.resize_h = pp.resize_w = 3;
    ds = load_ok(d, &pp);
    ck_assert_int_eq(ds->n, 2);
    ptq_dataset_free(ds);
    rm_tree(d);
    /* a folder that is not there */
    load_fails("/nonexistent/images/", &pp, "/nonexistent/images/", NULL);
}
END_TEST

START_TEST(image_source_detection) {
    const char *d = fresh_dir();
    const uint8_t g[1] = {1};
    write_gray(path_in(d, "one.Jpg"), 1, 1, g); /* a PNG named .jpg: told by its bytes */
    ck_assert(ptq_is_image_source(d));
    ck_assert(ptq_is_image_source(path_in(d, "one.Jpg")));
    write_bytes(path_in(d, "x.npy"), "x", 1);
    ck_assert(!ptq_is_image_source(path_in(d, "x.npy")));
    ck_assert(!ptq_is_image_source(path_in(d, "missing.png")));
    ptq_preprocess pp = {0};
    ptq_dataset *ds = load_ok(path_in(d, "one.Jpg"), &pp);
    ck_assert_int_eq(ds->n, 1);
    ptq_dataset_free(ds);
    rm_tree(d);
}
END_TEST

int main(void) {
    Suite *s = suite_create("images");
    TCase *tc = tcase_create("decode");
    tcase_add_test(tc, png_colour_types);
    tcase_add_test(tc, jpeg_decoded);
    suite_add_tcase(s, tc);
    tc = tcase_create("preprocess");
    tcase_add_test(tc, channel_orders_scale_normalize);
    tcase_add_test(tc, resize_modes);
    suite_add_tcase(s, tc);
    tc = tcase_create("folders");
    tcase_add_test(tc, folders_order_and_labels);
    tcase_add_test(tc, bad_files_fail_or_skip);
    tcase_add_test(tc, image_source_detection);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
