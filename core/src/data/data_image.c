/* data_image.c — datasets from folders of PNG and JPEG files: listing, decoding through
 * libpng and libjpeg(-turbo), channel conversion, resizing, then the same scaling and
 * normalisation as the array datasets.
 *
 * Both libraries report errors by calling a handler that must not return (libjpeg's
 * default one calls exit()): ours longjmp back into the decoder, which frees what it
 * allocated and turns the library's message into a ptq_error naming the file.  Anything
 * allocated while a decoder runs lives in a struct reached through a pointer, so its
 * value is well defined after the longjmp. */
#define _DEFAULT_SOURCE /* DT_* in dirent */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <strings.h>
#include <stdio.h> /* before jpeglib.h, which needs FILE */
#include <sys/stat.h>

#include <jpeglib.h>
#include <jerror.h>
#include <png.h>

#include "internal.h"

/* Larger images are refused before their pixels are allocated: a header is cheap to forge. */
#define MAX_IMAGE_PIXELS ((int64_t)1 << 26) /* 67 Mpixels: 8192 x 8192 */
/* Folders nested deeper are not searched. */
#define MAX_DEPTH 16

/* ============================================================== listing ============ */

static bool has_image_ext(const char *name) {
    const char *dot = strrchr(name, '.');
    return dot && (!strcasecmp(dot, ".png") || !strcasecmp(dot, ".jpg") ||
                   !strcasecmp(dot, ".jpeg"));
}

bool ptq_is_image_source(const char *path) {
    struct stat st;
    if (!path || stat(path, &st) != 0) return false;
    return S_ISDIR(st.st_mode) || (S_ISREG(st.st_mode) && has_image_ext(path));
}

typedef struct file_list {
    char **paths; /* owned */
    int32_t *labels; /* class index per file, with folders; else NULL */
    int32_t n, cap;
    int32_t n_classes;
} file_list;

static void file_list_free(file_list *l) {
    for (int32_t i = 0; i < l->n; i++) free(l->paths[i]);
    free(l->paths);
    free(l->labels);
    memset(l, 0, sizeof *l);
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *join(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *s = malloc(n);
    if (s) snprintf(s, n, "%s%s%s", dir, dir[strlen(dir) - 1] == '/' ? "" : "/", name);
    return s;
}

/* The entries of dir (hidden ones skipped), sorted, as full paths; NULL with err set. */
static char **read_dir(const char *dir, int32_t *count, ptq_error *err) {
    DIR *d = opendir(dir);
    if (!d) {
        ptq_error_set(err, PTQ_ERR_IO, "%s: cannot open the folder: %s", dir, strerror(errno));
        return NULL;
    }
    char **v = NULL;
    int32_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char *p = NULL;
        if (ptq_grow((void **)&v, &cap, n + 1, sizeof *v) || !(p = join(dir, e->d_name))) {
            for (int32_t i = 0; i < n; i++) free(v[i]);
            free(v);
            closedir(d);
            ptq_error_set(err, PTQ_ERR_NOMEM, "%s: out of memory", dir);
            return NULL;
        }
        v[n++] = p;
    }
    closedir(d);
    if (n) qsort(v, (size_t)n, sizeof *v, cmp_str);
    *count = n;
    if (!v) v = calloc(1, sizeof *v); /* an empty folder is not an error here */
    if (!v) ptq_error_set(err, PTQ_ERR_NOMEM, "%s: out of memory", dir);
    return v;
}

static bool is_dir(const char *path) {
    /* lstat: a symbolic link to a folder is not followed (links to a parent would make
     * the walk repeat itself exponentially, bounded only by MAX_DEPTH). */
    struct stat st;
    return lstat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Adds the image files under dir (recursively, sorted at each level) with label `label`. */
static ptq_status walk(const char *dir, int32_t label, int32_t depth, file_list *l,
                       ptq_error *err) {
    if (depth > MAX_DEPTH) return PTQ_OK;
    int32_t n = 0;
    char **v = read_dir(dir, &n, err);
    if (!v) return err->status;
    ptq_status st = PTQ_OK;
    for (int32_t i = 0; i < n && !st; i++) {
        if (is_dir(v[i])) {
            st = walk(v[i], label, depth + 1, l, err);
        } else if (has_image_ext(v[i])) {
            if (ptq_grow((void **)&l->paths, &l->cap, l->n + 1, sizeof *l->paths)) {
                st = ptq_error_set(err, PTQ_ERR_NOMEM, "out of memory");
                break;
            }
            void *nl = realloc(l->labels, (size_t)l->cap * sizeof *l->labels);
            if (!nl) {
                st = ptq_error_set(err, PTQ_ERR_NOMEM, "out of memory");
                break;
            }
            l->labels = nl;
            l->labels[l->n] = label;
            l->paths[l->n++] = v[i];
            v[i] = NULL;
        }
    }
    for (int32_t i = 0; i < n; i++) free(v[i]);
    free(v);
    return st;
}

/* Every image file of `root` (a folder or one file) in order; with `folders`, labelled by
 * class subfolder. */
static ptq_status list_images(const char *root, bool folders, file_list *l, ptq_error *err) {
    memset(l, 0, sizeof *l);
    struct stat st;
    if (stat(root, &st) != 0)
        return ptq_error_set(err, PTQ_ERR_IO, "%s: %s", root, strerror(errno));
    if (!S_ISDIR(st.st_mode)) {
        if (folders)
            return ptq_error_set(err, PTQ_ERR_INVALID, "%s: 'labels: folders' needs a folder of "
                                 "class subfolders, this is one file", root);
        l->paths = malloc(sizeof *l->paths);
        l->labels = calloc(1, sizeof *l->labels);
        if (!l->paths || !l->labels || !(l->paths[0] = ptq_strdup(root))) {
            free(l->paths);
            free(l->labels);
            memset(l, 0, sizeof *l);
            return ptq_error_set(err, PTQ_ERR_NOMEM, "out of memory");
        }
        l->n = l->cap = 1;
        return PTQ_OK;
    }
    ptq_status s = PTQ_OK;
    if (!folders) {
        s = walk(root, -1, 0, l, err);
    } else {
        int32_t n = 0;
        char **v = read_dir(root, &n, err);
        if (!v) return err->status;
        for (int32_t i = 0; i < n && !s; i++) {
            if (is_dir(v[i])) {
                s = walk(v[i], l->n_classes++, 1, l, err);
            } else if (has_image_ext(v[i])) {
                s = ptq_error_set(err, PTQ_ERR_INVALID, "%s: with 'labels: folders' every image "
                                  "must be inside a class subfolder of %s", v[i], root);
            }
        }
        for (int32_t i = 0; i < n; i++) free(v[i]);
        free(v);
    }
    if (!s && l->n == 0)
        s = ptq_error_set(err, PTQ_ERR_INVALID, "%s: no .png, .jpg or .jpeg files in this folder "
                          "(searched recursively)", root);
    if (s) file_list_free(l);
    return s;
}

/* ============================================================== decoding =========== */

/* A decoded image: h x w pixels of c (1 or 3) 8-bit channels, row-major, interleaved. */
typedef struct raw_image {
    int32_t h, w, c;
    uint8_t *px;
    png_bytep *rows; /* libpng's row pointers while decoding */
} raw_image;

static void raw_image_clear(raw_image *im) {
    free(im->px);
    free(im->rows);
    memset(im, 0, sizeof *im);
}

static bool size_ok(uint32_t w, uint32_t h, char *why, size_t why_size) {
    if (w == 0 || h == 0 || (int64_t)w * h > MAX_IMAGE_PIXELS) {
        snprintf(why, why_size, "image size %ux%u is out of range (1 to %" PRId64 " pixels)", w,
                 h, MAX_IMAGE_PIXELS);
        return false;
    }
    return true;
}

typedef struct png_failure {
    char msg[200];
} png_failure;

typedef struct jpeg_failure {
    struct jpeg_error_mgr mgr; /* first: libjpeg hands back a pointer to it */
    jmp_buf jump;
    char msg[JMSG_LENGTH_MAX];
    bool truncated;
} jpeg_failure;

/* What a decoder changes between its setjmp and a longjmp: kept by the caller of the
 * function that calls setjmp, so its values are defined after the jump (C11 7.13.2.1). */
typedef struct decoder {
    png_failure png;
    jpeg_failure jpeg;
    struct jpeg_decompress_struct cinfo;
} decoder;

static void png_fail(png_structp png, png_const_charp msg) {
    png_failure *f = png_get_error_ptr(png);
    snprintf(f->msg, sizeof f->msg, "%s", msg);
    png_longjmp(png, 1);
}

static void png_warn(png_structp png, png_const_charp msg) { (void)png, (void)msg; }

static bool read_png(FILE *fp, decoder *dec, raw_image *im, char *why, size_t why_size) {
    png_failure *failure = &dec->png;
    snprintf(failure->msg, sizeof failure->msg, "libpng failed");
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, failure, png_fail, png_warn);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) {
        png_destroy_read_struct(&png, NULL, NULL);
        snprintf(why, why_size, "out of memory");
        return false;
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_read_struct(&png, &info, NULL);
        raw_image_clear(im);
        snprintf(why, why_size, "libpng: %s", failure->msg);
        return false;
    }
    png_init_io(png, fp);
    /* Only the pixels matter: text and profile chunks are skipped unread, and no chunk
     * may make libpng allocate more than 8 MB (a 189-byte file declaring a 1.8 GB zTXt
     * kept it busy for 30 s; found by the image fuzzer). */
    static const png_byte skipped[] = "tEXt\0zTXt\0iTXt\0iCCP\0sPLT\0eXIf";
    png_set_keep_unknown_chunks(png, PNG_HANDLE_CHUNK_NEVER, skipped, 6);
    png_set_chunk_malloc_max(png, (png_alloc_size_t)8 << 20);
    png_read_info(png, info);
    const uint32_t w = png_get_image_width(png, info), h = png_get_image_height(png, info);
    const int type = png_get_color_type(png, info), depth = png_get_bit_depth(png, info);
    if (!size_ok(w, h, why, why_size)) {
        png_destroy_read_struct(&png, &info, NULL);
        return false;
    }
    /* Always 8-bit grey or RGB: palettes expanded, low-depth grey widened, 16 bits
     * scaled (not truncated: 65535 -> 255 exactly, rounded), alpha (and a palette's
     * transparency, which is never expanded) dropped. */
    if (type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (type == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (depth == 16) png_set_scale_16(png);
    if (type & PNG_COLOR_MASK_ALPHA) png_set_strip_alpha(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    const int c = png_get_channels(png, info);
    const size_t row = png_get_rowbytes(png, info);
    if ((c != 1 && c != 3) || row != (size_t)w * (size_t)c) {
        png_destroy_read_struct(&png, &info, NULL);
        snprintf(why, why_size, "unsupported PNG layout (colour type %d, %d channels)", type, c);
        return false;
    }
    im->h = (int32_t)h, im->w = (int32_t)w, im->c = c;
    im->px = malloc(row * h);
    im->rows = malloc(h * sizeof *im->rows);
    if (!im->px || !im->rows) {
        png_destroy_read_struct(&png, &info, NULL);
        raw_image_clear(im);
        snprintf(why, why_size, "out of memory");
        return false;
    }
    for (uint32_t y = 0; y < h; y++) im->rows[y] = im->px + (size_t)y * row;
    png_read_image(png, im->rows);
    png_destroy_read_struct(&png, &info, NULL);
    free(im->rows);
    im->rows = NULL;
    return true;
}

static void jpeg_fail(j_common_ptr cinfo) {
    jpeg_failure *f = (jpeg_failure *)cinfo->err;
    (*cinfo->err->format_message)(cinfo, f->msg);
    longjmp(f->jump, 1);
}

/* Warnings are silent, except a file that ends before its data: libjpeg pads it with
 * grey and goes on, which would calibrate on half-grey images without a word.  (A scan
 * cut short by a marker, "premature end of data segment", is accepted as PIL accepts
 * it: real photo collections hold such files.) */
static void jpeg_message(j_common_ptr cinfo, int level) {
    jpeg_failure *f = (jpeg_failure *)cinfo->err;
    if (level < 0 && cinfo->err->msg_code == JWRN_JPEG_EOF && !f->truncated) {
        f->truncated = true;
        (*cinfo->err->format_message)(cinfo, f->msg);
    }
}

static bool read_jpeg(FILE *fp, decoder *dec, raw_image *im, char *why, size_t why_size) {
    jpeg_failure *failure = &dec->jpeg;
    memset(failure, 0, sizeof *failure);
    memset(&dec->cinfo, 0, sizeof dec->cinfo); /* destroyable even if creating it fails */
    dec->cinfo.err = jpeg_std_error(&failure->mgr);
    failure->mgr.error_exit = jpeg_fail;
    failure->mgr.emit_message = jpeg_message;
    if (setjmp(failure->jump)) {
        jpeg_destroy_decompress(&dec->cinfo);
        raw_image_clear(im);
        snprintf(why, why_size, "libjpeg: %s", failure->msg);
        return false;
    }
    struct jpeg_decompress_struct *const ci = &dec->cinfo;
    jpeg_create_decompress(ci);
    jpeg_stdio_src(ci, fp);
    jpeg_read_header(ci, TRUE);
    if (ci->jpeg_color_space == JCS_CMYK || ci->jpeg_color_space == JCS_YCCK) {
        jpeg_destroy_decompress(ci);
        snprintf(why, why_size, "CMYK JPEGs are not supported (convert it to RGB)");
        return false;
    }
    /* Checked on the header's size, before jpeg_start_decompress: it allocates a
     * progressive JPEG's whole coefficient buffers. */
    if (!size_ok(ci->image_width, ci->image_height, why, why_size)) {
        jpeg_destroy_decompress(ci);
        return false;
    }
    ci->out_color_space = ci->jpeg_color_space == JCS_GRAYSCALE ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_start_decompress(ci);
    const uint32_t w = ci->output_width, h = ci->output_height;
    const int c = ci->output_components;
    if (!size_ok(w, h, why, why_size)) {
        jpeg_destroy_decompress(ci);
        return false;
    }
    im->h = (int32_t)h, im->w = (int32_t)w, im->c = c;
    im->px = malloc((size_t)w * h * (size_t)c);
    if (!im->px) {
        jpeg_destroy_decompress(ci);
        snprintf(why, why_size, "out of memory");
        return false;
    }
    /* Stop at the row where the file ran out: it is refused below, and a 150-byte file
     * may declare millions of pixels to pad with grey first. */
    while (ci->output_scanline < h && !failure->truncated) {
        JSAMPROW row = im->px + (size_t)ci->output_scanline * w * (size_t)c;
        jpeg_read_scanlines(ci, &row, 1);
    }
    if (failure->truncated) {
        jpeg_destroy_decompress(ci);
        raw_image_clear(im);
        snprintf(why, why_size, "libjpeg: %s", failure->msg);
        return false;
    }
    jpeg_finish_decompress(ci);
    jpeg_destroy_decompress(ci);
    return true;
}

/* Decodes the PNG or JPEG at path (told apart by their signatures, not the name).  On
 * failure `why` says what the library said. */
static bool read_image(const char *path, raw_image *im, char *why, size_t why_size) {
    memset(im, 0, sizeof *im);
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        snprintf(why, why_size, "%s", strerror(errno));
        return false;
    }
    uint8_t sig[8] = {0};
    const size_t got = fread(sig, 1, sizeof sig, fp);
    rewind(fp);
    bool ok;
    decoder dec;
    if (got == 8 && !png_sig_cmp(sig, 0, 8)) {
        ok = read_png(fp, &dec, im, why, why_size);
    } else if (got >= 3 && sig[0] == 0xFF && sig[1] == 0xD8 && sig[2] == 0xFF) {
        ok = read_jpeg(fp, &dec, im, why, why_size);
    } else {
        snprintf(why, why_size, got ? "not a PNG or JPEG file" : "the file is empty");
        ok = false;
    }
    fclose(fp);
    return ok;
}

/* ============================================================== resampling ========= */

/* One axis of a resize: for each output index, the first input index and the weights
 * of the taps that follow it.  PIL's bilinear filter (a triangle) widened by the
 * downscale factor, so shrinking averages every input pixel (antialiasing, as PIL and
 * torchvision's antialias=True); for enlarging it is plain bilinear interpolation with
 * pixel centres at +0.5. */
typedef struct axis_taps {
    int32_t *first, *count;
    float *w; /* out x max_taps */
    int32_t max_taps;
} axis_taps;

static void axis_taps_free(axis_taps *t) {
    free(t->first);
    free(t->count);
    free(t->w);
}

/* The triangle's weight of input pixel x for an output centred at `centre`. */
static double d_weight(int32_t x, double centre, double fs) {
    const double d = fabs((x - centre + 0.5) / fs);
    return d < 1.0 ? 1.0 - d : 0.0;
}

static bool axis_taps_make(int32_t in, int32_t out, axis_taps *t) {
    const double scale = (double)in / out, fs = scale > 1.0 ? scale : 1.0, support = fs;
    t->max_taps = (int32_t)ceil(support) * 2 + 1;
    t->first = malloc((size_t)out * sizeof *t->first);
    t->count = malloc((size_t)out * sizeof *t->count);
    t->w = malloc((size_t)out * (size_t)t->max_taps * sizeof *t->w);
    if (!t->first || !t->count || !t->w) return false;
    for (int32_t o = 0; o < out; o++) {
        const double centre = (o + 0.5) * scale;
        int32_t lo = (int32_t)(centre - support + 0.5), hi = (int32_t)(centre + support + 0.5);
        lo = PTQ_MAX(lo, 0);
        hi = PTQ_MIN(hi, in);
        hi = PTQ_MIN(hi, lo + t->max_taps);
        float *w = t->w + (size_t)o * t->max_taps;
        double sum = 0.0;
        int32_t n = 0;
        for (int32_t x = lo; x < hi; x++, n++) sum += d_weight(x, centre, fs);
        t->first[o] = lo;
        t->count[o] = n;
        for (int32_t k = 0; k < n; k++)
            w[k] = (float)(sum > 0 ? d_weight(lo + k, centre, fs) / sum : 0);
    }
    return true;
}

/* src (h x w x c floats) resized to oh x ow into dst, whose rows are dst_stride floats
 * apart; tmp holds h x ow x c floats. */
static bool resize_hwc(const float *src, int32_t h, int32_t w, int32_t c, float *dst, int32_t oh,
                       int32_t ow, size_t dst_stride, float *tmp) {
    axis_taps tx = {0}, ty = {0};
    bool ok = axis_taps_make(w, ow, &tx) && axis_taps_make(h, oh, &ty);
    if (ok) {
        for (int32_t y = 0; y < h; y++) {
            const float *row = src + (size_t)y * w * c;
            float *o = tmp + (size_t)y * ow * c;
            for (int32_t x = 0; x < ow; x++) {
                const float *wt = tx.w + (size_t)x * tx.max_taps;
                for (int32_t ch = 0; ch < c; ch++) {
                    float acc = 0.0f;
                    for (int32_t k = 0; k < tx.count[x]; k++)
                        acc += wt[k] * row[(size_t)(tx.first[x] + k) * c + ch];
                    o[(size_t)x * c + ch] = acc;
                }
            }
        }
        for (int32_t y = 0; y < oh; y++) {
            const float *wt = ty.w + (size_t)y * ty.max_taps;
            float *o = dst + (size_t)y * dst_stride;
            for (size_t i = 0; i < (size_t)ow * c; i++) o[i] = 0.0f;
            for (int32_t k = 0; k < ty.count[y]; k++) {
                const float *r = tmp + (size_t)(ty.first[y] + k) * ow * c;
                for (size_t i = 0; i < (size_t)ow * c; i++) o[i] += wt[k] * r[i];
            }
        }
    }
    axis_taps_free(&tx);
    axis_taps_free(&ty);
    return ok;
}

/* ============================================================== one sample ========= */

/* im in the wanted channels as floats (h x w x C), 0..255: grey replicated into RGB,
 * colour turned to grey by PIL's integer ITU-R 601 luma, RGB swapped for BGR. */
static void convert_channels(const raw_image *im, int32_t channels, float *out) {
    const size_t n = (size_t)im->h * im->w;
    const uint8_t *p = im->px;
    for (size_t i = 0; i < n; i++) {
        if (channels == PTQ_CHANNELS_GRAY) {
            out[i] = im->c == 1 ? p[i]
                                : (float)((p[3 * i] * 19595u + p[3 * i + 1] * 38470u +
                                           p[3 * i + 2] * 7471u + 0x8000u) >> 16);
            continue;
        }
        const uint8_t r = im->c == 1 ? p[i] : p[3 * i], g = im->c == 1 ? p[i] : p[3 * i + 1],
                      b = im->c == 1 ? p[i] : p[3 * i + 2];
        const bool bgr = channels == PTQ_CHANNELS_BGR;
        out[3 * i] = bgr ? b : r;
        out[3 * i + 1] = g;
        out[3 * i + 2] = bgr ? r : b;
    }
}

/* Scratch of one sample, grown as images come. */
typedef struct scratch {
    float *conv, *tmp, *canvas;
    size_t conv_n, tmp_n, canvas_n;
} scratch;

static bool reserve(float **buf, size_t *have, size_t need) {
    if (need <= *have) return true;
    float *nb = realloc(*buf, need * sizeof *nb);
    if (!nb) return false;
    *buf = nb;
    *have = need;
    return true;
}

/* Writes im as C x H x W floats into dst, resized per pp, scaled and normalised. */
static bool make_sample(const raw_image *im, const ptq_preprocess *pp, int32_t C, int32_t H,
                        int32_t W, scratch *s, float *dst) {
    const size_t hw = (size_t)H * W;
    if (!reserve(&s->conv, &s->conv_n, (size_t)im->h * im->w * C) ||
        !reserve(&s->canvas, &s->canvas_n, hw * C))
        return false;
    convert_channels(im, pp->channels, s->conv);
    const float *hwc = s->conv;
    if (im->h != H || im->w != W) {
        int32_t nh = H, nw = W, top = 0, left = 0;
        if (pp->resize == PTQ_RESIZE_LETTERBOX) {
            const double r = PTQ_MIN((double)H / im->h, (double)W / im->w);
            nh = PTQ_MAX(1, PTQ_MIN(H, (int32_t)lround(im->h * r)));
            nw = PTQ_MAX(1, PTQ_MIN(W, (int32_t)lround(im->w * r)));
            top = (H - nh) / 2;
            left = (W - nw) / 2;
            for (size_t i = 0; i < hw * C; i++) s->canvas[i] = pp->pad_value;
        }
        if (!reserve(&s->tmp, &s->tmp_n, (size_t)im->h * nw * C) ||
            !resize_hwc(s->conv, im->h, im->w, C, s->canvas + ((size_t)top * W + left) * C, nh, nw,
                        (size_t)W * C, s->tmp))
            return false;
        hwc = s->canvas;
    }
    /* The arithmetic of dataset.c's arrays (torchvision's ToTensor then Normalize). */
    const bool div255 = pp->scale <= 0.0f;
    for (int32_t ch = 0; ch < C; ch++) {
        const float mean = pp->n_mean ? pp->mean[pp->n_mean > 1 ? ch : 0] : 0.0f;
        const float std = pp->n_std ? pp->std[pp->n_std > 1 ? ch : 0] : 1.0f;
        float *o = dst + (size_t)ch * hw;
        for (size_t i = 0; i < hw; i++) {
            float v = hwc[i * C + ch];
            v = div255 ? v / 255.0f : v * pp->scale;
            o[i] = (v - mean) / std;
        }
    }
    return true;
}

/* ============================================================== the dataset ======== */

/* What became of one image file. */
typedef struct row_result {
    char *why;       /* owned: what the library said, for an unreadable file */
    int32_t h, w;    /* its size */
    uint8_t state;   /* ROW_* */
} row_result;

#define ROW_OK 0
#define ROW_BAD 1    /* unreadable: on_bad_image decides */
#define ROW_SIZE 2   /* another size than the first image, without a resize */
#define ROW_NOMEM 3

/* Decodes one file into dst (C x H x W) when its size fits, recording what happened. */
static void decode_row(const char *path, const ptq_preprocess *pp, int32_t C, int32_t H, int32_t W,
                       bool sized, scratch *s, float *dst, row_result *r) {
    raw_image im;
    char why[JMSG_LENGTH_MAX + 64];
    if (!read_image(path, &im, why, sizeof why)) {
        r->state = (r->why = ptq_strdup(why)) ? ROW_BAD : ROW_NOMEM;
        return;
    }
    r->h = im.h, r->w = im.w;
    if (!sized && (im.h != H || im.w != W))
        r->state = ROW_SIZE;
    else
        r->state = make_sample(&im, pp, C, H, W, s, dst) ? ROW_OK : ROW_NOMEM;
    raw_image_clear(&im);
}

ptq_dataset *ptq_image_dataset_load(const char *images, const ptq_preprocess *pp, int64_t limit,
                                    ptq_row_select select, void *ctx, ptq_error *err) {
    file_list l;
    if (list_images(images, pp->labels_from_folders, &l, err)) return NULL;
    const int32_t C = pp->channels == PTQ_CHANNELS_GRAY ? 1 : 3;
    const bool sized = pp->resize != PTQ_RESIZE_NONE;
    ptq_dataset *ds = NULL;
    int64_t *rows = NULL, n = l.n, first = 0;
    row_result *res = NULL;
    scratch s = {0};
    if ((pp->n_mean > 1 && pp->n_mean != C) || (pp->n_std > 1 && pp->n_std != C)) {
        ptq_error_set(err, PTQ_ERR_INVALID, "%s: images are decoded to %d channel%s but %d means "
                      "and %d stds were given", images, C, C == 1 ? "" : "s", pp->n_mean, pp->n_std);
        goto fail;
    }
    if (sized && (pp->resize_h <= 0 || pp->resize_w <= 0 ||
                  (int64_t)pp->resize_h * pp->resize_w > MAX_IMAGE_PIXELS)) {
        ptq_error_set(err, PTQ_ERR_INVALID, "%s: resize to %dx%d is out of range", images,
                      pp->resize_h, pp->resize_w);
        goto fail;
    }
    if (select) {
        if (!(rows = select(l.n, pp->labels_from_folders ? l.labels : NULL, ctx, &n, err)))
            goto fail;
    } else if (limit > 0 && limit < n) {
        n = limit;
    }
    if (!(ds = calloc(1, sizeof *ds))) goto nomem;
    ds->c = C;
    if (sized) ds->h = pp->resize_h, ds->w = pp->resize_w;
    if (pp->labels_from_folders &&
        !(ds->labels = ptq_calloc_array((size_t)PTQ_MAX(n, 1), sizeof *ds->labels)))
        goto nomem;
    if (!(ds->files = ptq_calloc_array((size_t)PTQ_MAX(n, 1), sizeof *ds->files)) ||
        !(res = ptq_calloc_array((size_t)PTQ_MAX(n, 1), sizeof *res)))
        goto nomem;
    if (n == 0) goto done; /* nothing selected (an offset past the end): the caller says so */
#define PATH(i) l.paths[rows ? rows[i] : (i)]
    /* Without a resize the first readable image sets the size: decoded alone, before the
     * others are decoded in parallel into their slots (row i into slot i, compacted below). */
    for (; first < n && !ds->images; first++) {
        raw_image im;
        char why[JMSG_LENGTH_MAX + 64];
        if (!read_image(PATH(first), &im, why, sizeof why)) {
            if (!(res[first].why = ptq_strdup(why))) goto nomem;
            res[first].state = ROW_BAD;
            continue;
        }
        if (!sized) ds->h = im.h, ds->w = im.w;
        const size_t per = (size_t)C * ds->h * ds->w;
        bool ok = (size_t)n <= PTQ_MAX_DATA_BYTES / sizeof(float) / per;
        if (!ok)
            ptq_error_set(err, PTQ_ERR_NOMEM, "%s: %" PRId64 " images of %dx%dx%d floats are more "
                          "than %zu bytes", images, n, C, ds->h, ds->w, PTQ_MAX_DATA_BYTES);
        ok = ok && (ds->images = ptq_calloc_array((size_t)n * per, sizeof(float))) &&
             make_sample(&im, pp, C, ds->h, ds->w, &s, ds->images + (size_t)first * per);
        raw_image_clear(&im);
        if (!ok) goto nomem; /* a no-op on err when the size check already said why */
        res[first].h = ds->h, res[first].w = ds->w;
    }
    const int64_t size_row = first - 1; /* the image that fixed the size, if !sized */
    if (ds->images) {
        const int32_t threads = ptq_default_threads();
#pragma omp parallel num_threads(threads)
        {
            scratch ts = {0};
#pragma omp for schedule(dynamic, 4)
            for (int64_t i = first; i < n; i++)
                decode_row(PATH(i), pp, C, ds->h, ds->w, sized, &ts,
                           ds->images + (size_t)i * C * ds->h * ds->w, &res[i]);
            free(ts.conv), free(ts.tmp), free(ts.canvas);
        }
    }
    /* In file order: messages, skips, and the kept images moved down over the gaps. */
    const size_t per = (size_t)C * ds->h * ds->w;
    for (int64_t i = 0; i < n; i++) {
        const char *path = PATH(i);
        if (res[i].state == ROW_NOMEM) goto nomem;
        if (res[i].state == ROW_SIZE) {
            ptq_error_set(err, PTQ_ERR_INVALID, "images of different sizes without a resize: %s is "
                          "%dx%d (width x height), %s is %dx%d; set 'resize' (--resize) to give "
                          "them one size", PATH(size_row), ds->w, ds->h, path, res[i].w, res[i].h);
            goto fail;
        }
        if (res[i].state == ROW_BAD) {
            if (!pp->skip_bad) {
                ptq_error_set(err, PTQ_ERR_INVALID, "%s: %s", path, res[i].why);
                goto fail;
            }
            fprintf(stderr, "warning: skipping %s: %s\n", path, res[i].why);
            ds->n_skipped++;
            continue;
        }
        if (ds->n != i)
            memmove(ds->images + (size_t)ds->n * per, ds->images + (size_t)i * per,
                    per * sizeof(float));
        if (ds->labels) ds->labels[ds->n] = l.labels[rows ? rows[i] : i];
        if (!(ds->files[ds->n] = ptq_strdup(path))) goto nomem;
        ds->n++;
    }
#undef PATH
    if (ds->n == 0) {
        ptq_error_set(err, PTQ_ERR_INVALID, "%s: none of its %" PRId64 " image files could be read",
                      images, n);
        goto fail;
    }
    if (ds->labels) ds->n_classes = l.n_classes;
    goto done;
nomem:
    ptq_error_set(err, PTQ_ERR_NOMEM, "%s: out of memory", images);
fail:
    ptq_dataset_free(ds);
    ds = NULL;
done:
    for (int64_t i = 0; res && i < n; i++) free(res[i].why);
    free(res);
    free(s.conv), free(s.tmp), free(s.canvas);
    free(rows);
    file_list_free(&l);
    return ds;
}
