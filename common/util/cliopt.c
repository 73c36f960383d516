/* cliopt.c - shared getopt_long error reporting; see cliopt.h. */
#include "common/util/cliopt.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/util/suggest.h"

void cliopt_reset(void) {
    optind = 0;   /* glibc: 0 re-initialises the scanner, including its permutation state */
    opterr = 0;
}

int cliopt_report(const char *prog, int c, char **argv, const struct option *longopts) {
    int at = optind > 0 ? optind - 1 : 0;
    const char *arg = argv[at] ? argv[at] : "";
    char name[128];
    if (optopt && optopt < 256 && !(arg[0] == '-' && arg[1] == '-')) snprintf(name, sizeof name, "-%c", optopt);
    else {
        snprintf(name, sizeof name, "%s", arg);
        char *eq = strchr(name, '=');
        if (eq) *eq = '\0';
    }
    if (c == ':') {
        fprintf(stderr, "%s: option '%s' needs a value; see '%s --help'\n", prog, name, prog);
        return CLIOPT_USAGE;
    }
    const char *cands[64];
    char buf[64][40];
    int n = 0;
    for (int i = 0; longopts && longopts[i].name && n < 64; i++) {
        snprintf(buf[n], sizeof buf[n], "--%s", longopts[i].name);
        cands[n] = buf[n];
        n++;
    }
    int k = name[0] == '-' ? suggest_closest(name, cands, n) : -1;
    if (k >= 0)
        fprintf(stderr, "%s: unknown option '%s' (did you mean '%s'?); see '%s --help'\n", prog, name, cands[k], prog);
    else
        fprintf(stderr, "%s: unknown option '%s'; see '%s --help'\n", prog, name, prog);
    return CLIOPT_USAGE;
}

int cliopt_long(const char *prog, const char *name, const char *v, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || end == v || *end || x < lo || x > hi) {
        fprintf(stderr, "%s: --%s '%s': want an integer in [%ld, %ld]\n", prog, name, v, lo, hi);
        return CLIOPT_USAGE;
    }
    *out = x;
    return 0;
}

int cliopt_double(const char *prog, const char *name, const char *v, double lo, double hi, double *out) {
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (errno || end == v || *end || !(x >= lo && x <= hi)) {
        fprintf(stderr, "%s: --%s '%s': want a number in [%g, %g]\n", prog, name, v, lo, hi);
        return CLIOPT_USAGE;
    }
    *out = x;
    return 0;
}
