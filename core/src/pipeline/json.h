/* json.h — a minimal JSON writer for reports: correct escaping, no trailing commas,
 * numbers that round-trip (NaN and infinities written as null, which JSON lacks). */
#ifndef PTQ_JSON_H
#define PTQ_JSON_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

typedef struct ptq_json {
    FILE *f;
    int depth;
    bool first[64];  /* no element written yet at this depth */
    bool after_key;  /* a key was just written: the next value needs no comma */
} ptq_json;

void ptq_json_init(ptq_json *j, FILE *f);
void ptq_json_begin_object(ptq_json *j);
void ptq_json_end_object(ptq_json *j);
void ptq_json_begin_array(ptq_json *j);
void ptq_json_end_array(ptq_json *j);
void ptq_json_key(ptq_json *j, const char *key);
void ptq_json_string(ptq_json *j, const char *s);
void ptq_json_number(ptq_json *j, double v); /* shortest exact form; null if not finite */
void ptq_json_float(ptq_json *j, float v);   /* a float32 setting: its shortest form */
void ptq_json_int(ptq_json *j, int64_t v);
void ptq_json_bool(ptq_json *j, bool v);
void ptq_json_null(ptq_json *j);

#endif
