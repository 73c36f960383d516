/* fnv.c - FNV-1a 64 of a whole file (fnv.h). */
#include "common/util/fnv.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int fnv1a64_file(const char *path, uint64_t *bytes, uint64_t *sum, tr_error *err) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (errno == ENOENT) return TR_FAIL(err, TR_ENOTFOUND, "%s: missing", path);
        return TR_FAIL(err, TR_EIO, "cannot open %s: %s", path, strerror(errno));
    }
    enum { CHUNK = 1 << 20 };
    unsigned char *buf = malloc(CHUNK);
    if (!buf) { fclose(f); return TR_FAIL(err, TR_ENOMEM, "out of memory to checksum %s", path); }
    uint64_t h = FNV1A64_INIT, n = 0;
    size_t got;
    while ((got = fread(buf, 1, CHUNK, f)) > 0) {
        h = fnv1a64(h, buf, got);
        n += got;
    }
    int bad = ferror(f);
    free(buf);
    fclose(f);
    if (bad) return TR_FAIL(err, TR_EIO, "cannot read %s (I/O error)", path);
    *bytes = n;
    *sum = h;
    return 0;
}
