/* msg.c - the byte layouts of msg.h. */
#include "common/comm/msg.h"

#include <stdlib.h>
#include <string.h>

static void put_u32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static uint32_t get_u32(const uint8_t *p) {
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) v |= (uint32_t)p[i] << (8 * i);
    return v;
}
static void put_u64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static uint64_t get_u64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}
/* doubles travel as their IEEE-754 bits: a coefficient arrives bit for bit */
static void put_f64(uint8_t *p, double d) {
    uint64_t v;
    memcpy(&v, &d, sizeof v);
    put_u64(p, v);
}
static double get_f64(const uint8_t *p) {
    uint64_t v = get_u64(p);
    double d;
    memcpy(&d, &v, sizeof d);
    return d;
}

void msg_header_encode(const msg_header *h, int64_t out[MSG_HEADER_WORDS]) {
    out[0] = h->op;
    out[1] = h->a;
    out[2] = h->b;
    out[3] = h->c;
}

int msg_header_decode(const int64_t in[MSG_HEADER_WORDS], msg_header *h, tr_error *err) {
    *h = (msg_header){in[0], in[1], in[2], in[3]};
    if (h->op < OP_MEMORY_INIT || h->op > OP_END)
        return TR_FAIL(err, TR_EINTERNAL, "unknown fleet op %lld (coordinator and worker versions differ?)", (long long)h->op);
    return 0;
}

void msg_propose_encode(uint8_t *out, int K, int32_t pos, uint8_t a, uint8_t mask, const uint8_t *correct) {
    put_u32(out, (uint32_t)pos);
    out[4] = a;
    out[5] = mask;
    if (correct) memcpy(out + 6, correct, (size_t)K);
    else memset(out + 6, 0, (size_t)K);
}

void msg_propose_decode(const uint8_t *in, int K, int32_t *pos, uint8_t *a, uint8_t *mask, uint8_t *correct) {
    *pos = (int32_t)get_u32(in);
    *a = in[4];
    *mask = in[5];
    if (correct) memcpy(correct, in + 6, (size_t)K);
}

void msg_term_encode(const est_coef *t, uint8_t out[MSG_TERM_BYTES]) {
    put_u32(out, (uint32_t)t->ex);
    put_u32(out + 4, (uint32_t)t->which);
    put_f64(out + 8, t->coef);
}

void msg_term_decode(const uint8_t in[MSG_TERM_BYTES], est_coef *t) {
    t->ex = (int32_t)get_u32(in);
    t->which = (int32_t)get_u32(in + 4);
    t->coef = get_f64(in + 8);
}

void msg_row_encode(uint8_t *out, int32_t term, int64_t id, const int32_t *tok, int32_t len) {
    put_u32(out, (uint32_t)term);
    put_u64(out + 4, (uint64_t)id);
    put_u32(out + 12, (uint32_t)len);
    for (int32_t i = 0; i < len; i++) put_u32(out + 16 + 4 * (size_t)i, (uint32_t)tok[i]);
}

int msg_row_decode(const uint8_t *in, size_t avail, int max_len, int32_t *term, int64_t *id, int32_t *tok,
                   int32_t *len, size_t *used, tr_error *err) {
    if (avail < msg_row_bytes(0))
        return TR_FAIL(err, TR_EFORMAT, "rationale record cut short: %zu bytes left, a record needs %zu", avail, msg_row_bytes(0));
    *term = (int32_t)get_u32(in);
    *id = (int64_t)get_u64(in + 4);
    *len = (int32_t)get_u32(in + 12);
    if (*len < 0 || *len > max_len || msg_row_bytes(*len) > avail)
        return TR_FAIL(err, TR_EFORMAT, "rationale record of term %d: %d tokens in %zu bytes (at most %d; protocol mismatch)",
                       *term, *len, avail, max_len);
    for (int32_t i = 0; i < *len; i++) tok[i] = (int32_t)get_u32(in + 16 + 4 * (size_t)i);
    *used = msg_row_bytes(*len);
    return 0;
}

void msg_counts_encode(const engine_counts *c, uint8_t out[MSG_COUNTS_BYTES]) {
    put_u64(out, (uint64_t)c->tokens_sampled);
    put_u64(out + 8, (uint64_t)c->tokens_trained);
    put_f64(out + 16, c->sample_s);
    put_f64(out + 24, c->check_s);
    put_f64(out + 32, c->grad_s);
    put_f64(out + 40, c->eval_s);
    put_u64(out + 48, c->sample_digest);
    put_u64(out + 56, (uint64_t)c->peer_bytes);
    put_f64(out + 64, c->peer_s);
    put_f64(out + 72, c->wait_s);
    put_f64(out + 80, c->update_s);
}

int msg_counts_decode(const uint8_t *in, size_t len, engine_counts *c, tr_error *err) {
    if (len != MSG_COUNTS_BYTES)
        return TR_FAIL(err, TR_EFORMAT, "counters of %zu bytes, expected %d (protocol mismatch)", len, MSG_COUNTS_BYTES);
    c->tokens_sampled = (int64_t)get_u64(in);
    c->tokens_trained = (int64_t)get_u64(in + 8);
    c->sample_s = get_f64(in + 16);
    c->check_s = get_f64(in + 24);
    c->grad_s = get_f64(in + 32);
    c->eval_s = get_f64(in + 40);
    c->sample_digest = get_u64(in + 48);
    c->peer_bytes = (int64_t)get_u64(in + 56);
    c->peer_s = get_f64(in + 64);
    c->wait_s = get_f64(in + 72);
    c->update_s = get_f64(in + 80);
    return 0;
}

int64_t msg_lr_encode(float lr) {
    uint32_t v;
    memcpy(&v, &lr, sizeof v);
    return (int64_t)v;
}

float msg_lr_decode(int64_t c) {
    uint32_t v = (uint32_t)c;
    float lr;
    memcpy(&lr, &v, sizeof lr);
    return lr;
}

static void put_floats(uint8_t *p, const float *x, size_t n) {
    for (size_t i = 0; i < n; i++) {
        uint32_t v;
        memcpy(&v, &x[i], sizeof v);
        put_u32(p + 4 * i, v);
    }
}

static void get_floats(const uint8_t *p, float *x, size_t n) {
    for (size_t i = 0; i < n; i++) {
        uint32_t v = get_u32(p + 4 * i);
        memcpy(&x[i], &v, sizeof v);
    }
}

void msg_state_encode(uint8_t *out, size_t n, const float *params, const float *m, const float *v, int64_t step) {
    put_u64(out, (uint64_t)n);
    put_u64(out + 8, (uint64_t)step);
    put_floats(out + 16, params, n);
    put_floats(out + 16 + 4 * n, m, n);
    put_floats(out + 16 + 8 * n, v, n);
}

int msg_state_decode(const uint8_t *in, size_t len, size_t n, float *params, float *m, float *v, int64_t *step,
                     tr_error *err) {
    if (len < 16 || get_u64(in) != (uint64_t)n || len != msg_state_bytes(n))
        return TR_FAIL(err, TR_EFORMAT, "a parameter and optimiser state of %zu bytes (%llu parameters), expected %zu "
                       "(%zu parameters; protocol mismatch)", len, len >= 16 ? (unsigned long long)get_u64(in) : 0ULL,
                       msg_state_bytes(n), n);
    *step = (int64_t)get_u64(in + 8);
    get_floats(in + 16, params, n);
    get_floats(in + 16 + 4 * n, m, n);
    get_floats(in + 16 + 8 * n, v, n);
    return 0;
}

void msg_ids_encode(const int64_t *ids, size_t n, uint8_t *out) {
    for (size_t i = 0; i < n; i++) put_u64(out + 8 * i, (uint64_t)ids[i]);
}

void msg_ids_decode(const uint8_t *in, size_t n, int64_t *ids) {
    for (size_t i = 0; i < n; i++) ids[i] = (int64_t)get_u64(in + 8 * i);
}

void msg_file_encode(const ckpt_file *f, uint8_t out[MSG_FILE_BYTES]) {
    memset(out, 0, CKPT_FILE_NAME_MAX);
    memcpy(out, f->name, strnlen(f->name, CKPT_FILE_NAME_MAX - 1));
    put_u64(out + CKPT_FILE_NAME_MAX, (uint64_t)f->begin);
    put_u64(out + CKPT_FILE_NAME_MAX + 8, (uint64_t)f->end);
    put_u64(out + CKPT_FILE_NAME_MAX + 16, f->bytes);
    put_u64(out + CKPT_FILE_NAME_MAX + 24, f->sum);
}

int msg_file_decode(const uint8_t in[MSG_FILE_BYTES], ckpt_file *f, tr_error *err) {
    memset(f, 0, sizeof *f);
    if (!memchr(in, 0, CKPT_FILE_NAME_MAX)) return TR_FAIL(err, TR_EFORMAT, "a checkpoint file record whose name has no end (protocol mismatch)");
    memcpy(f->name, in, CKPT_FILE_NAME_MAX);
    if (!ckpt_file_name_ok(f->name)) return TR_FAIL(err, TR_EFORMAT, "a checkpoint file record named '%s', not a plain file name", f->name);
    f->begin = (int64_t)get_u64(in + CKPT_FILE_NAME_MAX);
    f->end = (int64_t)get_u64(in + CKPT_FILE_NAME_MAX + 8);
    f->bytes = get_u64(in + CKPT_FILE_NAME_MAX + 16);
    f->sum = get_u64(in + CKPT_FILE_NAME_MAX + 24);
    return 0;
}

void msg_ckpt_encode(uint8_t *out, const char *dir, const ckpt_file *files, int n) {
    const size_t dl = strlen(dir);
    put_u32(out, (uint32_t)dl);
    memcpy(out + 4, dir, dl);
    for (int i = 0; i < n; i++) msg_file_encode(&files[i], out + 4 + dl + (size_t)i * MSG_FILE_BYTES);
}

int msg_ckpt_decode(const uint8_t *in, size_t len, char *dir, size_t cap, ckpt_file **files, int *n, tr_error *err) {
    *files = NULL;
    *n = 0;
    const size_t dl = len >= 4 ? get_u32(in) : 0;
    if (len < 4 || dl == 0 || dl >= cap || len < 4 + dl || (len - 4 - dl) % MSG_FILE_BYTES != 0 || memchr(in + 4, 0, dl))
        return TR_FAIL(err, TR_EFORMAT, "a checkpoint record of %zu bytes that does not parse (protocol mismatch)", len);
    memcpy(dir, in + 4, dl);
    dir[dl] = '\0';
    const size_t k = (len - 4 - dl) / MSG_FILE_BYTES;
    if (!(*files = tr_malloc((k ? k : 1) * sizeof **files, err))) return TR_ENOMEM;
    for (size_t i = 0; i < k; i++) {
        int rc = msg_file_decode(in + 4 + dl + i * MSG_FILE_BYTES, &(*files)[i], err);
        if (rc) { free(*files); *files = NULL; return rc; }
    }
    *n = (int)k;
    return 0;
}
