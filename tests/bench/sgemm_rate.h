/* sgemm_rate.h - the OpenBLAS sgemm rate of one product shape, and the sampling rate of a
 * model, shared by bench_model, bench_roofline and tests/gpu/bench_cuda (benchmarks only). */
#ifndef TRICE_BENCH_SGEMM_RATE_H
#define TRICE_BENCH_SGEMM_RATE_H

/* Monotonic seconds. */
double bench_now(void);

/* FLOP/s (2 M N K per product) of cblas_sgemm, row-major, C (M,N) = op(A) op(B), with
 * op(A) (M,K) and op(B) (K,N); trans_a / trans_b != 0 store A as (K,M) / B as (N,K). The best
 * of 5 batches of reps products after one warm-up product: on a shared machine a single batch
 * often measures other people's load, and the rate that the model is compared with should be
 * what OpenBLAS can reach. */
double bench_sgemm_flops(int trans_a, int trans_b, int M, int N, int K, int reps);

struct gpt;
struct gpt_sampler;
/* Tokens/s of gpt_sample over iters rounds: n sequences of 1-token prompts, new_tokens each at
 * temperature 1, no end-of-text (the sampler must hold n sequences). warmup extra rounds run
 * first, untimed. -1 after an error. */
double bench_sample_rate(struct gpt_sampler *sp, const struct gpt *g, int n, int new_tokens, int iters, int warmup);
/* The same with bf16 decoding (gpt_sample_opts.bf16) when bf16 != 0. */
double bench_sample_rate_bf16(struct gpt_sampler *sp, const struct gpt *g, int n, int new_tokens, int iters, int warmup,
                              int bf16);

#endif
