/* cast.c — what a Cast does to a float32 value, shared by the importer (constants) and
 * the run-time kernel (kernels/math.c), so both round and saturate alike. */
#include "internal.h"

/* Integer range of an ONNX element type as floats; false for non-integer types. */
bool ptq_cast_int_range(int32_t to, float *lo, float *hi) {
    switch (to) {
    case 2: *lo = 0.0f, *hi = 255.0f; return true;              /* uint8 */
    case 3: *lo = -128.0f, *hi = 127.0f; return true;           /* int8 */
    case 4: *lo = 0.0f, *hi = 65535.0f; return true;            /* uint16 */
    case 5: *lo = -32768.0f, *hi = 32767.0f; return true;       /* int16 */
    case 6: *lo = -2147483648.0f, *hi = 2147483520.0f; return true; /* int32 (largest float <= max) */
    case 7: *lo = -9223372036854775808.0f, *hi = 9223371487098961920.0f; return true; /* int64 */
    case 12: *lo = 0.0f, *hi = 4294967040.0f; return true;      /* uint32 */
    case 13: *lo = 0.0f, *hi = 18446742974197923840.0f; return true; /* uint64 */
    default: return false;
    }
}

float ptq_cast_value(float x, int32_t to) {
    float lo, hi;
    if (to == 9) return x != 0.0f ? 1.0f : 0.0f; /* bool: NaN is nonzero, so true */
    if (!ptq_cast_int_range(to, &lo, &hi)) return x;       /* float, double: a copy */
    if (x != x) return 0.0f;
    float t = truncf(x);
    return t < lo ? lo : (t > hi ? hi : t);
}
