/* rope.h - rotary position embedding (RoPE, Su et al. 2021) on a fused QKV buffer, for the
 * "coupled-rope" position kinds (gpt.h): each head's query and key channel pairs (2i, 2i+1)
 * turn by the angle id * 10000^(-2i/hs), so that the query-key product depends on the ids'
 * difference only. With coupled ids (couple.h), "the question token one id after mine" is
 * then the same pattern at every id, whether or not training reached it.
 * Host memory only (the CPU backend). */
#ifndef TRICE_MODEL_ROPE_H
#define TRICE_MODEL_ROPE_H

#include <stddef.h>

/* Fill table (max_len * hs floats): for each id < max_len and pair i < hs/2, the cos and sin
 * of its angle, computed once per model so that no forward, backward or decode step
 * recomputes them (and all three turn by the same floats). */
void rope_table_fill(float *table, int max_len, int hs);

/* qkv (N, 3C): rows of [q | k | v], NH heads of C/NH channels (even); ids (N) each row's
 * position id, < the table's max_len. Rotates q and k in place by +angle (forward) or, with
 * inverse != 0, by -angle: the transpose, which takes a gradient with respect to the
 * rotated q and k back to the unrotated ones. v is left alone. */
void rope_rotate(float *qkv, const int *ids, size_t N, int C, int NH, int inverse, const float *table);

#endif
