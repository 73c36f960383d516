/* llama2c_files - a random-weight llama2.c checkpoint and a byte tokenizer for llama2.c's run.c,
 * so that tests/bench/bench_llama2c.sh can time run.c on a model of the same size as bench_model's
 * "small" config. Prints one JSON object (dimensions, parameters, file sizes) on stdout.
 *
 * Usage: llama2c_files CHECKPOINT TOKENIZER [dim layers heads hidden seq_len seed]
 *   defaults: dim 384, 6 layers, 6 heads, hidden 1024, context 256, seed 1. With hidden = 8/3 dim
 *   a Llama layer (4 dim^2 attention + 3 dim hidden SwiGLU) has the 12 dim^2 weights of a GPT-2
 *   layer, so the default model has 10.72M parameters against bench_model small's 10.8M.
 *
 * CHECKPOINT is run.c's format (read_checkpoint, memory_map_weights at commit 350e04f): the 7-int
 * Config {dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len} (vocab_size > 0:
 * the classifier shares the token embedding), then float32 token_embedding (vocab, dim),
 * rms_att (L, dim), wq, wk, wv, wo (L, dim, dim each), rms_ffn (L, dim), w1 (L, hidden, dim),
 * w2 (L, dim, hidden), w3 (L, hidden, dim), rms_final (dim), and the two unused RoPE tables
 * (seq_len * head_size / 2 floats each; written as zeros). Matrices and the embedding are uniform
 * with standard deviation 0.02, the RMSNorm weights 1. n_kv_heads = n_heads.
 *
 * TOKENIZER is run.c's format (build_tokenizer): int max_token_length, then per token a float
 * score, an int length and the piece's bytes. The vocabulary is llama2.c's byte fallback with no
 * merges, 259 tokens: 0 <unk>, 1 <s> (BOS: run.c starts from it and stops when it samples it),
 * 2 </s>, and 3 + b for byte b. A byte's piece is the byte itself when it is printable and not
 * '\' or '<', else the four characters \xHH (not llama2.c's <0xHH>, which run.c turns back into
 * the raw byte and may then not print): every sampled token then prints something, so the
 * script can count from run.c's stdout how many tokens it generated. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng_state;

static double uniform01(void)   /* splitmix64 */
{
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (double)(z >> 11) / 9007199254740992.0;
}

static int put_floats(FILE *f, size_t n, int kind)   /* kind: 0 zeros, 1 ones, 2 random */
{
    float buf[4096];
    const double a = 0.02 * 1.7320508075688772;   /* uniform on [-a, a] has std 0.02 */
    while (n > 0) {
        size_t k = n < 4096 ? n : 4096;
        for (size_t i = 0; i < k; i++)
            buf[i] = kind == 0 ? 0.0f : kind == 1 ? 1.0f : (float)((2.0 * uniform01() - 1.0) * a);
        if (fwrite(buf, sizeof(float), k, f) != k) return -1;
        n -= k;
    }
    return 0;
}

static int arg(int argc, char **argv, int i, int def)
{
    if (argc <= i) return def;
    char *end;
    long v = strtol(argv[i], &end, 10);
    if (*end || v <= 0 || v > 1 << 20) {
        fprintf(stderr, "llama2c_files: argument %d ('%s') must be a positive integer\n", i, argv[i]);
        exit(2);
    }
    return (int)v;
}

int main(int argc, char **argv)
{
    if (argc < 3 || argc > 9) {
        fprintf(stderr, "usage: llama2c_files CHECKPOINT TOKENIZER [dim layers heads hidden seq_len seed]\n");
        return 2;
    }
    const int dim = arg(argc, argv, 3, 384), L = arg(argc, argv, 4, 6), nh = arg(argc, argv, 5, 6);
    const int hidden = arg(argc, argv, 6, 1024), T = arg(argc, argv, 7, 256), V = 3 + 256;
    rng_state = (uint64_t)arg(argc, argv, 8, 1);
    if (dim % nh != 0 || (dim / nh) % 2 != 0) {
        fprintf(stderr, "llama2c_files: dim %d must be a multiple of heads %d with an even head size\n", dim, nh);
        return 2;
    }
    const size_t D = (size_t)dim, H = (size_t)hidden, Ls = (size_t)L, hs = D / (size_t)nh;
    const size_t params = (size_t)V * D + 2 * Ls * D + 4 * Ls * D * D + 3 * Ls * D * H + D;

    FILE *f = fopen(argv[1], "wb");
    if (!f) { perror(argv[1]); return 1; }
    int32_t cfg[7] = {dim, hidden, L, nh, nh, V, T};
    int bad = fwrite(cfg, sizeof cfg, 1, f) != 1;
    bad |= put_floats(f, (size_t)V * D, 2);        /* token embedding, also the classifier */
    bad |= put_floats(f, Ls * D, 1);               /* rms_att */
    bad |= put_floats(f, 4 * Ls * D * D, 2);       /* wq, wk, wv, wo */
    bad |= put_floats(f, Ls * D, 1);               /* rms_ffn */
    bad |= put_floats(f, 3 * Ls * D * H, 2);       /* w1, w2, w3 */
    bad |= put_floats(f, D, 1);                    /* rms_final */
    bad |= put_floats(f, (size_t)T * hs, 0);       /* freq_cis_real and _imag, unused by run.c */
    long ckpt_bytes = ftell(f);
    if (fclose(f) != 0 || bad) { fprintf(stderr, "llama2c_files: writing %s failed\n", argv[1]); return 1; }

    FILE *t = fopen(argv[2], "wb");
    if (!t) { perror(argv[2]); return 1; }
    int32_t maxlen = 5;   /* "<unk>" */
    bad = fwrite(&maxlen, 4, 1, t) != 1;
    for (int i = 0; i < V; i++) {
        char piece[8];
        if (i == 0) strcpy(piece, "<unk>");
        else if (i == 1) strcpy(piece, "<s>");
        else if (i == 2) strcpy(piece, "</s>");
        else {
            int b = i - 3;
            if (b > 0x20 && b < 0x7f && b != '\\' && b != '<') { piece[0] = (char)b; piece[1] = 0; }
            else snprintf(piece, sizeof piece, "\\x%02x", b);
        }
        float score = 0.0f;
        int32_t len = (int32_t)strlen(piece);
        bad |= fwrite(&score, 4, 1, t) != 1 || fwrite(&len, 4, 1, t) != 1 || fwrite(piece, 1, (size_t)len, t) != (size_t)len;
    }
    long tok_bytes = ftell(t);
    if (fclose(t) != 0 || bad) { fprintf(stderr, "llama2c_files: writing %s failed\n", argv[2]); return 1; }

    printf("{\"dim\": %d, \"hidden_dim\": %d, \"n_layers\": %d, \"n_heads\": %d, \"n_kv_heads\": %d, "
           "\"vocab_size\": %d, \"seq_len\": %d, \"shared_classifier\": true, \"params\": %zu, "
           "\"checkpoint_bytes\": %ld, \"tokenizer_bytes\": %ld}\n",
           dim, hidden, L, nh, nh, V, T, params, ckpt_bytes, tok_bytes);
    return 0;
}
