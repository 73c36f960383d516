/* gen_nav.c - navigate: do the instructions bring you back to the starting point?
 *
 * Start at (0, 0) facing the positive y-axis (N), as in the BBH exemplars. Rationale: the
 * position and facing after each instruction, then the verdict:
 *   0,0 W | 0,0 E | 7,0 E. Not 0,0. So the answer is No.
 * ("Always face forward." counts as an instruction and keeps N; "left"/"right"/"backward"
 * steps move relative to the facing, which then never changes.)
 */
#include "common/data/gen_internal.h"

#include <stdlib.h>

#define NAV_MAX 24

enum { I_LEFT, I_RIGHT, I_AROUND, I_TAKE, I_FWD, I_BACK, I_SLEFT, I_SRIGHT, I_ALWAYS };

typedef struct instr { int kind, n; } instr;

/* moves per difficulty and style (turns, always-face-forward; the latter's first line is
 * not counted). Forward-style instructions are long ("Take 7 steps backward."), so the
 * easy settings give them fewer moves to keep prompt + rationale within 256 bytes. */
static const int moves_range[4][2][2] = {
    {{3, 8}, {3, 8}}, {{2, 3}, {2, 2}}, {{3, 5}, {2, 4}}, {{6, 9}, {5, 8}},
};
static const int dx[4] = {0, 1, 0, -1}, dy[4] = {1, 0, -1, 0};   /* N E S W */
static const char facing_ch[] = "NESW";

typedef struct navstate { int x, y, f; } navstate;

static void apply(navstate *s, instr in) {
    switch (in.kind) {
    case I_LEFT: s->f = (s->f + 3) % 4; break;
    case I_RIGHT: s->f = (s->f + 1) % 4; break;
    case I_AROUND: s->f = (s->f + 2) % 4; break;
    case I_ALWAYS: break;
    default: {
        int d = in.kind == I_BACK ? (s->f + 2) % 4 : in.kind == I_SLEFT ? (s->f + 3) % 4
              : in.kind == I_SRIGHT ? (s->f + 1) % 4 : s->f;
        s->x += dx[d] * in.n;
        s->y += dy[d] * in.n;
    }
    }
}

static void put_instr(sbuf *b, instr in) {
    static const char *const dir[] = {[I_FWD] = "forward", [I_BACK] = "backward", [I_SLEFT] = "left", [I_SRIGHT] = "right"};
    switch (in.kind) {
    case I_LEFT: sbuf_puts(b, "Turn left."); break;
    case I_RIGHT: sbuf_puts(b, "Turn right."); break;
    case I_AROUND: sbuf_puts(b, "Turn around."); break;
    case I_ALWAYS: sbuf_puts(b, "Always face forward."); break;
    case I_TAKE: sbuf_printf(b, "Take %d step%s.", in.n, in.n == 1 ? "" : "s"); break;
    default: sbuf_printf(b, "Take %d step%s %s.", in.n, in.n == 1 ? "" : "s", dir[in.kind]); break;
    }
}

static instr rand_instr(rng *r, int forward_style) {
    instr in = {0, gen_range(r, 1, 10)};
    if (forward_style) in.kind = I_FWD + (int)rng_below(r, 4);
    else in.kind = rng_below(r, 5) < 3 ? I_TAKE : (int)rng_below(r, 3);   /* I_LEFT..I_AROUND */
    return in;
}

/* Instructions that bring s back to the origin (appended at out[*n]); 0 or 1 if a leg is
 * longer than 10 steps. Forward style: one sideways/forward/backward move per axis. Turn
 * style: turn to face the way home along each axis, then walk. */
static int homing(rng *r, navstate s, int forward_style, instr *out, int *n) {
    int xfirst = (int)rng_below(r, 2);
    for (int leg = 0; leg < 2; leg++) {
        int axis_x = leg == 0 ? xfirst : !xfirst;
        int dist = axis_x ? s.x : s.y;
        if (dist == 0) continue;
        if (abs(dist) > 10) return 1;
        int target = axis_x ? (dist > 0 ? 3 : 1) : (dist > 0 ? 2 : 0);   /* facing toward 0 */
        if (forward_style) {
            static const int rel_kind[4] = {I_FWD, I_SRIGHT, I_BACK, I_SLEFT};
            out[(*n)++] = (instr){rel_kind[(target - s.f + 4) % 4], abs(dist)};
        } else {
            int turn = (target - s.f + 4) % 4;
            if (turn) out[(*n)++] = (instr){turn == 1 ? I_RIGHT : turn == 2 ? I_AROUND : I_LEFT, 0};
            s.f = target;
            out[(*n)++] = (instr){I_TAKE, abs(dist)};
        }
        if (axis_x) s.x = 0; else s.y = 0;
    }
    return 0;
}

int gen_nav(rng *r, int difficulty, sbuf *q, sbuf *rat, sbuf *ans) {
    int want_yes = (int)rng_below(r, 2);
    instr prog[NAV_MAX];
    int n = 0, ok = 0;
    for (int attempt = 0; attempt < 100000 && !ok; attempt++) {
        int forward_style = (int)rng_below(r, 2);
        int lo = moves_range[difficulty][forward_style][0], hi = moves_range[difficulty][forward_style][1];
        int total = gen_range(r, lo, hi);
        n = 0;
        if (forward_style) prog[n++] = (instr){I_ALWAYS, 0};
        int start = n;
        int prefix = want_yes ? total - gen_range(r, 1, forward_style ? 2 : 3) : total;
        if (prefix < 1) continue;
        for (int i = 0; i < prefix; i++) prog[n++] = rand_instr(r, forward_style);
        navstate s = {0, 0, 0};
        for (int i = 0; i < n; i++) apply(&s, prog[i]);
        if (want_yes) {
            if (homing(r, s, forward_style, prog, &n) != 0) continue;
            if (n - start < lo || n - start > hi) continue;
            if (forward_style) {   /* moves commute when facing never changes: hide the pattern */
                for (int i = n - 1; i > start; i--) {
                    int j = start + (int)rng_below(r, (uint64_t)(i - start + 1));
                    instr t = prog[i]; prog[i] = prog[j]; prog[j] = t;
                }
            }
            /* a turn-only program is a trivial Yes; BBH programs always walk */
            int walks = 0;
            for (int i = 0; i < n; i++) walks += prog[i].kind >= I_TAKE && prog[i].kind <= I_SRIGHT;
            if (!walks) continue;
            ok = 1;
        } else {
            ok = s.x != 0 || s.y != 0;
        }
    }
    if (!ok) return 1;

    sbuf_puts(q, "If you follow these instructions, do you return to the starting point?");
    for (int i = 0; i < n; i++) { sbuf_putc(q, ' '); put_instr(q, prog[i]); }
    sbuf_puts(q, "\nOptions:\n- Yes\n- No");

    navstate s = {0, 0, 0};
    for (int i = 0; i < n; i++) {
        apply(&s, prog[i]);
        if (i) sbuf_puts(rat, " | ");
        sbuf_printf(rat, "%d,%d %c", s.x, s.y, facing_ch[s.f]);
    }
    int home = s.x == 0 && s.y == 0;
    sbuf_printf(rat, ". %s 0,0. So the answer is %s.", home ? "At" : "Not", home ? "Yes" : "No");
    sbuf_puts(ans, home ? "Yes" : "No");
    return home == want_yes ? 0 : 1;
}
