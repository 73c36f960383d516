/* kv_cpu.h - the CPU backend's KV-cache attention (backend.h's kv_attention), in its own file
 * because of its cache layout and its AVX-512 clone (kv_cpu.c says why). Internal to the
 * model library: only backend_cpu.c calls it. */
#ifndef TRICE_MODEL_KV_CPU_H
#define TRICE_MODEL_KV_CPU_H

/* backend.h's kv_attention contract; in each slot's region the keys are stored in transposed
 * tiles of 16 positions and the values as rows, (max_len, C) (kv_cpu.c). scores: NH * max_len
 * floats of scratch. */
void kv_cpu_attention(float *out, float *scores, float *kcache, float *vcache, const float *qkv,
                      const int *slots, const int *start, int n, int Tc, int C, int NH, int max_len,
                      int alibi);

#endif
