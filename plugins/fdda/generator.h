/* generator.h — FDDA's class-conditional image generator (Zhong et al., ECCV 2022, which
 * takes it from GDFQ, Xu et al., ECCV 2020), with forward and backward so the plugin can
 * train it by gradient descent.  Self-contained: plain malloc, OpenBLAS for the GEMMs, no
 * host services, no global state.
 *
 * The network, for an input of C x H x W (H, W divisible by 4), base width F, h0 = H/4,
 * w0 = W/4:
 *   z [B, z_dim] -> Linear -> [B, F, h0, w0] -> CondBN(eps 1e-5)
 *     -> Upsample x2 (nearest) -> Conv3x3(F -> F) -> CondBN(eps 0.8) -> LeakyReLU(0.2)
 *     -> Upsample x2 (nearest) -> Conv3x3(F -> F/2) -> CondBN(eps 1e-5) -> LeakyReLU(0.2)
 *     -> Conv3x3(F/2 -> C) -> tanh -> BatchNorm without affine (eps 1e-5) -> [B, C, H, W]
 * CondBN normalises with the batch's statistics per channel over (B, h, w) and then applies
 * the affine of each sample's class: y = gamma[label][c] * xhat + beta[label][c].  The
 * 0.8 of the second one is the paper's code (nn.BatchNorm2d(128, 0.8): eps, positional).
 *
 * Every BN uses the statistics of the batch at hand (training mode), always: no running
 * statistics are kept, so the output of a sample depends on the rest of its batch.  A
 * batch of one is normalised over its own pixels; where a BN sees one value per channel
 * (B = 1 and H = W = 4 at the first CondBN) its xhat is 0.  Use batches of 2 or more.
 *
 * Initialisation (from config.seed): Linear and Conv weights and biases as PyTorch's
 * defaults, U(-1/sqrt(fan_in), 1/sqrt(fan_in)); gamma 1, beta 0.
 *
 * Threads: the GEMMs run on OpenBLAS's threads; the rest is serial.  Results are
 * deterministic for a given seed and OpenBLAS thread count.  A generator is not safe to
 * use from two threads at once. */
#ifndef FDDA_GENERATOR_H
#define FDDA_GENERATOR_H

#include <stddef.h>
#include <stdint.h>

typedef struct fdda_gen fdda_gen;

typedef struct fdda_gen_config {
    int32_t z_dim;                    /* noise dimensions, e.g. 100 */
    int32_t classes;                  /* >= 1 */
    int32_t channels, height, width;  /* the model's input C, H, W; H, W divisible by 4 */
    int32_t base;                     /* F, e.g. 128; even, >= 2 */
    int64_t max_batch;                /* buffers are sized for this */
    uint64_t seed;                    /* of the initial parameters */
} fdda_gen_config;

/* NULL on a bad config (a message naming the field in err, err_size bytes; err may be
 * NULL) or when out of memory.  The generator owns all its memory until fdda_gen_free. */
fdda_gen *fdda_gen_new(const fdda_gen_config *c, char *err, size_t err_size);
void fdda_gen_free(fdda_gen *g);

/* All learnable parameters as ONE flat float array (so one Adam steps them all) and the
 * matching gradient array; count = number of floats.  Both arrays are owned by g and stay
 * at the same address for its lifetime. */
int64_t fdda_gen_param_count(const fdda_gen *g);
float *fdda_gen_params(fdda_gen *g);
float *fdda_gen_grads(fdda_gen *g);
void fdda_gen_zero_grad(fdda_gen *g);

/* Forward on batch B (1 <= B <= max_batch; labels in [0, classes), both checked by
 * assert): keeps what backward needs.  z is [B, z_dim], out is [B, C, H, W]. */
void fdda_gen_forward(fdda_gen *g, const float *z, const int32_t *labels, int64_t B, float *out);

/* Backward of the last forward: grad_out is d loss / d out [B, C, H, W]; ACCUMULATES into
 * the parameter gradients (and, if grad_z is non-NULL, writes d loss / d z [B, z_dim]).
 * The parameters must not have changed since that forward. */
void fdda_gen_backward(fdda_gen *g, const float *grad_out, float *grad_z);

/* Bytes held (parameters, gradients, activations, scratch). */
size_t fdda_gen_bytes(const fdda_gen *g);

#endif
