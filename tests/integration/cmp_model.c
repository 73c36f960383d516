/* cmp_model A.bin B.bin [REL_TOL]: compare two llm.c checkpoints of the same shape.
 * Prints the relative difference ||a - b|| / ||a|| and the largest absolute element
 * difference; exits 0 when the relative difference is <= REL_TOL (default 0 = identical
 * bits), 1 when it is larger, 2 on a read error. Used by the MPI integration tests. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/model/ckpt.h"

int main(int argc, char **argv) {
    if (argc < 3) { fprintf(stderr, "usage: cmp_model A.bin B.bin [REL_TOL]\n"); return 2; }
    double tol = argc > 3 ? atof(argv[3]) : 0.0;
    gpt a, b;
    tr_error err = {0};
    if (gpt_ckpt_open(&a, argv[1], 1, 0, &err)) { fprintf(stderr, "%s\n", err.msg); return 2; }
    if (gpt_ckpt_open(&b, argv[2], 1, 0, &err)) { fprintf(stderr, "%s\n", err.msg); gpt_free(&a); return 2; }
    if (a.num_params != b.num_params) { fprintf(stderr, "different sizes: %zu vs %zu\n", a.num_params, b.num_params); return 1; }
    double d2 = 0, a2 = 0, maxabs = 0;
    int identical = memcmp(a.params, b.params, a.num_params * sizeof(float)) == 0;
    for (size_t i = 0; i < a.num_params; i++) {
        double d = (double)a.params[i] - (double)b.params[i];
        d2 += d * d;
        a2 += (double)a.params[i] * a.params[i];
        if (fabs(d) > maxabs) maxabs = fabs(d);
    }
    double rel = a2 > 0 ? sqrt(d2 / a2) : sqrt(d2);
    printf("relative difference %.3e, max abs difference %.3e, bit-identical %s\n", rel, maxabs, identical ? "yes" : "no");
    gpt_free(&a);
    gpt_free(&b);
    if (tol == 0.0) return identical ? 0 : 1;
    return rel <= tol ? 0 : 1;
}
