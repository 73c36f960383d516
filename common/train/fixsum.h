/* fixsum.h - exact, order-free sums of float vectors in 128-bit fixed point.
 *
 * The step's gradient is a sum over groups of terms, computed on whichever worker and thread
 * the fleet's size gives (engine.h, engine_side_gradient). Float or double sums of those parts
 * would round differently for every way of splitting them, and Adam turns such noise on
 * near-zero gradients into full-size updates, so runs with different W would drift apart.
 * Instead every part is converted exactly to a signed 128-bit integer in units of 2^-80 and
 * the integers are added: integer addition is exact, associative and commutative, so any
 * order, any split over threads or workers and any MPI reduction algorithm give the same
 * bits. Only the final conversion back to float rounds, once, from the exact sum.
 *
 * Range and quantisation (FIXSUM_FRAC_BITS = 80, FIXSUM_MAX_PARTS = 2^16):
 *   - a part's entry must be finite with |x| < 2^31 (FIXSUM_MAX_ABS); else fixsum_add_floats
 *     refuses it and names the entry. 2^16 such parts cannot overflow the 127 value bits.
 *   - an entry with |x| >= 2^-57 is represented exactly (a float has 24 significant bits, so
 *     it is a whole multiple of 2^(-57-23) = 2^-80); a smaller one is rounded to the nearest
 *     multiple of 2^-80, an absolute error of at most 2^-81 (about 4e-25) per part.
 *   - fixsum_to_floats rounds the exact sum to double, then to float: within one float ulp
 *     of the exact sum of the parts, whatever their number or order.
 * There is no per-step scale, so no collective is needed before the parts are converted.
 */
#ifndef TRICE_TRAIN_FIXSUM_H
#define TRICE_TRAIN_FIXSUM_H

#include <stddef.h>
#include <stdint.h>

#include "common/util/err.h"

#define FIXSUM_FRAC_BITS 80
#define FIXSUM_MAX_PARTS 65536
#define FIXSUM_MAX_ABS 2147483648.0   /* 2^31 */

/* One 128-bit two's-complement value in units of 2^-FIXSUM_FRAC_BITS: lo the low 64 bits. */
typedef struct fixsum {
    uint64_t lo, hi;
} fixsum;

/* acc[n] += x[n] exactly (as above). On a non-finite entry or one with |x| >= 2^31 nothing is
 * added and TR_EINVAL names the first such entry's index and value; the caller adds what the
 * vector is (the step, the group). */
int fixsum_add_floats(fixsum *acc, const float *x, size_t n, tr_error *err);
/* The same sum without the AVX2 path: the reference the tests and bench_fixsum compare it with. */
int fixsum_add_floats_portable(fixsum *acc, const float *x, size_t n, tr_error *err);
/* acc[n] += x[n] (integer addition modulo 2^128; exact within the range above). */
void fixsum_add(fixsum *acc, const fixsum *x, size_t n);
/* out[n] = acc[n] rounded to float. */
void fixsum_to_floats(const fixsum *acc, float *out, size_t n);
/* The same conversion without the AVX2 path (the reference for tests and bench_fixsum). */
void fixsum_to_floats_portable(const fixsum *acc, float *out, size_t n);
double fixsum_to_double(fixsum v);

#endif
