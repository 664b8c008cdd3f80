/* seed_images.c — writes the image harness's seeds through libpng and libjpeg
 * themselves, so every colour type, bit depth, interlacing and JPEG coding mode the
 * loaders meet is in the corpus: cc seed_images.c -lpng -ljpeg && ./a.out DIR */
#include <stddef.h>
#include <stdio.h> /* before jpeglib.h, which needs FILE and size_t */
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <png.h>

static int write_png(const char *dir, const char *name, int w, int h, int color, int depth,
                     int interlace, int with_trns) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f) return 1;
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    if (setjmp(png_jmpbuf(png))) {
        fclose(f);
        return 1;
    }
    png_init_io(png, f);
    png_set_IHDR(png, info, w, h, depth, color, interlace, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    if (color == PNG_COLOR_TYPE_PALETTE) {
        png_color pal[4] = {{0, 0, 0}, {255, 0, 0}, {0, 255, 0}, {0, 0, 255}};
        png_set_PLTE(png, info, pal, 4);
        if (with_trns) {
            png_byte alpha[2] = {0, 128};
            png_set_tRNS(png, info, alpha, 2, NULL);
        }
    } else if (with_trns) {
        png_color_16 key = {0, 1, 1, 1, 1};
        png_set_tRNS(png, info, NULL, 0, &key);
    }
    png_write_info(png, info);
    const int passes = png_set_interlace_handling(png);
    const size_t rowbytes = png_get_rowbytes(png, info);
    png_bytep row = malloc(rowbytes);
    for (int p = 0; p < passes; p++)
        for (int y = 0; y < h; y++) {
            for (size_t i = 0; i < rowbytes; i++) row[i] = (png_byte)(i * 37 + y * 11);
            if (color == PNG_COLOR_TYPE_PALETTE) /* indices stay within the palette */
                for (size_t i = 0; i < rowbytes; i++) row[i] &= depth == 8 ? 3 : depth == 4 ? 0x33 : 0xff;
            png_write_row(png, row);
        }
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    free(row);
    return fclose(f) != 0;
}

static int write_jpeg(const char *dir, const char *name, int w, int h, int comps,
                      J_COLOR_SPACE cs, int progressive, int restart, int quality) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f) return 1;
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr jerr;
    c.err = jpeg_std_error(&jerr);
    jpeg_create_compress(&c);
    jpeg_stdio_dest(&c, f);
    c.image_width = w;
    c.image_height = h;
    c.input_components = comps;
    c.in_color_space = cs;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, quality, TRUE);
    if (progressive) jpeg_simple_progression(&c);
    c.restart_interval = restart;
    jpeg_start_compress(&c, TRUE);
    JSAMPLE *row = malloc((size_t)w * comps);
    while (c.next_scanline < c.image_height) {
        for (int i = 0; i < w * comps; i++) row[i] = (JSAMPLE)(i * 13 + c.next_scanline * 7);
        jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    free(row);
    return fclose(f) != 0;
}

int main(int argc, char **argv) {
    if (argc != 2) return 2;
    const char *d = argv[1];
    int bad = 0;
    bad |= write_png(d, "gray1.png", 9, 5, PNG_COLOR_TYPE_GRAY, 1, PNG_INTERLACE_NONE, 0);
    bad |= write_png(d, "gray4.png", 7, 6, PNG_COLOR_TYPE_GRAY, 4, PNG_INTERLACE_NONE, 1);
    bad |= write_png(d, "gray8.png", 8, 8, PNG_COLOR_TYPE_GRAY, 8, PNG_INTERLACE_NONE, 0);
    bad |= write_png(d, "gray16.png", 5, 4, PNG_COLOR_TYPE_GRAY, 16, PNG_INTERLACE_NONE, 0);
    bad |= write_png(d, "graya8.png", 6, 5, PNG_COLOR_TYPE_GRAY_ALPHA, 8, PNG_INTERLACE_NONE, 0);
    bad |= write_png(d, "rgb8.png", 12, 9, PNG_COLOR_TYPE_RGB, 8, PNG_INTERLACE_NONE, 1);
    bad |= write_png(d, "rgb16.png", 4, 4, PNG_COLOR_TYPE_RGB, 16, PNG_INTERLACE_NONE, 0);
    bad |= write_png(d, "rgba8_adam7.png", 11, 13, PNG_COLOR_TYPE_RGB_ALPHA, 8, PNG_INTERLACE_ADAM7, 0);
    bad |= write_png(d, "rgba16.png", 3, 3, PNG_COLOR_TYPE_RGB_ALPHA, 16, PNG_INTERLACE_NONE, 0);
    bad |= write_png(d, "pal4_trns.png", 10, 6, PNG_COLOR_TYPE_PALETTE, 4, PNG_INTERLACE_NONE, 1);
    bad |= write_png(d, "pal8_adam7.png", 9, 9, PNG_COLOR_TYPE_PALETTE, 8, PNG_INTERLACE_ADAM7, 0);
    bad |= write_jpeg(d, "gray.jpg", 16, 8, 1, JCS_GRAYSCALE, 0, 0, 75);
    bad |= write_jpeg(d, "rgb.jpg", 20, 14, 3, JCS_RGB, 0, 0, 90);
    bad |= write_jpeg(d, "rgb_progressive.jpg", 17, 9, 3, JCS_RGB, 1, 0, 50);
    bad |= write_jpeg(d, "rgb_restart.jpg", 32, 16, 3, JCS_RGB, 0, 1, 30);
    bad |= write_jpeg(d, "cmyk.jpg", 8, 8, 4, JCS_CMYK, 0, 0, 80);
    return bad;
}
