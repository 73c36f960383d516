/* cmp_optim A_DIR B_DIR: compare the optimiser state of two sharded checkpoint folders
 * (ckptdir.h), whatever W each was written with: every shard their manifests name is
 * verified and reassembled, then m, v and the step are compared bit for bit. Exits 0 when
 * identical, 1 when not, 2 on a read error. Used by the MPI integration tests (a W = 2 run
 * against one resumed with W = 3). */
#include <stdio.h>
#include <string.h>

#include "common/engine/ckptdir.h"

static int load(const char *dir, optim_state *opt, tr_error *err) {
    ckptdir_manifest m;
    TR_TRY(ckptdir_manifest_read(dir, &m, err));
    int rc = optim_init(opt, (size_t)m.n_tunable, err);
    if (!rc) rc = ckptshard_read_all(dir, m.files, m.n_files, opt, err);
    ckptdir_manifest_free(&m);
    return rc;
}

int main(int argc, char **argv) {
    if (argc != 3) { fprintf(stderr, "usage: cmp_optim A_DIR B_DIR\n"); return 2; }
    optim_state a = {0}, b = {0};
    tr_error err = {0};
    if (load(argv[1], &a, &err) || load(argv[2], &b, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        optim_free(&a);
        optim_free(&b);
        return 2;
    }
    int same = a.n == b.n && a.step == b.step && memcmp(a.m, b.m, a.n * sizeof *a.m) == 0 &&
               memcmp(a.v, b.v, a.n * sizeof *a.v) == 0;
    printf("optimiser state: %zu and %zu moments, steps %lld and %lld, bit-identical %s\n", a.n, b.n, (long long)a.step,
           (long long)b.step, same ? "yes" : "no");
    optim_free(&a);
    optim_free(&b);
    return same ? 0 : 1;
}
