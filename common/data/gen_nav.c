/* gen_nav.c - navigate: do the instructions bring you back to the starting point?
 *
 * Size unit: instructions, i.e. the sentences of the question ("Always face forward."
 * counts: the reader must process it). The target (difficulty 0) is written from the task
 * description and the three CoT exemplars, not from BBH's test items (held-out data): 3-8
 * moves in either style, the forward style's "Always face forward." line coming on top,
 * i.e. 3-8 instructions in the turn style and 4-9 in the forward style. Difficulty 1
 * (1-2 instructions) is strictly smaller than every target question, for a rationale
 * warm-up; 2-4 are steps of an answers-only curriculum (they may overlap the target):
 *   d0 3-9, d1 1-2, d2 3-4, d3 5-7, d4 8-10.
 * With two instructions one cannot walk and come back, so difficulty 1's Yes questions
 * only turn (elsewhere a program always walks, as the exemplars' programs do).
 *
 * Start at (0, 0) facing N (+y), as in the BBH exemplars. Rationale: the start state, then
 * per instruction a short echo of it and the full state after it (x,y and facing), then
 * the verdict; every step reads only the previous state and one instruction:
 *   Start 0,0 N. L 0,0 W. 7 -7,0 W. A -7,0 E. 7 0,0 E. At 0,0. So the answer is Yes.
 * Forward style echoes the direction ("F 0,0 N. 7b 0,-7 N."); the facing stays N.
 */
#include "common/data/gen_internal.h"

#include <stdlib.h>

#define NAV_MAX 24

enum { I_LEFT, I_RIGHT, I_AROUND, I_TAKE, I_FWD, I_BACK, I_SLEFT, I_SRIGHT, I_ALWAYS };

typedef struct instr { int kind, n; } instr;

/* instructions per difficulty and style (turn, forward; "Always face forward." included);
 * gen.c's size table holds the union of the two styles */
static const int instr_range[5][2][2] = {
    {{3, 8}, {4, 9}}, {{1, 2}, {1, 2}}, {{3, 4}, {3, 4}}, {{5, 7}, {5, 7}}, {{8, 10}, {8, 10}},
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

static const char *const dir_word[] = {[I_FWD] = "forward", [I_BACK] = "backward", [I_SLEFT] = "left", [I_SRIGHT] = "right"};

static void put_instr(sbuf *b, instr in) {
    switch (in.kind) {
    case I_LEFT: sbuf_puts(b, "Turn left."); break;
    case I_RIGHT: sbuf_puts(b, "Turn right."); break;
    case I_AROUND: sbuf_puts(b, "Turn around."); break;
    case I_ALWAYS: sbuf_puts(b, "Always face forward."); break;
    case I_TAKE: sbuf_printf(b, "Take %d step%s.", in.n, in.n == 1 ? "" : "s"); break;
    default: sbuf_printf(b, "Take %d step%s %s.", in.n, in.n == 1 ? "" : "s", dir_word[in.kind]); break;
    }
}

/* The rationale's echo of one instruction (what the step acts on): L R A (turn left,
 * right, around), F (always face forward), 7 (take 7 steps), 7f 7b 7l 7r (take 7 steps
 * forward, backward, left, right). Short, so that the target fits a 512-byte context. */
static void put_echo(sbuf *b, instr in) {
    switch (in.kind) {
    case I_LEFT: sbuf_putc(b, 'L'); break;
    case I_RIGHT: sbuf_putc(b, 'R'); break;
    case I_AROUND: sbuf_putc(b, 'A'); break;
    case I_ALWAYS: sbuf_putc(b, 'F'); break;
    case I_TAKE: sbuf_printf(b, "%d", in.n); break;
    default: sbuf_printf(b, "%d%c", in.n, dir_word[in.kind][0]); break;
    }
}

static instr rand_instr(rng *r, int forward_style, int walk_only, int turn_only) {
    instr in = {0, gen_range(r, 1, 10)};
    if (forward_style) in.kind = I_FWD + (int)rng_below(r, 4);
    else if (walk_only) in.kind = I_TAKE;
    else if (turn_only) in.kind = (int)rng_below(r, 3);   /* I_LEFT..I_AROUND */
    else in.kind = rng_below(r, 5) < 3 ? I_TAKE : (int)rng_below(r, 3);
    if (in.kind < I_TAKE) in.n = 0;
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
    int tiny = instr_range[difficulty][0][1] < 3;   /* no walk-and-return fits: Yes questions only turn */
    instr prog[NAV_MAX];
    int n = 0, ok = 0;
    for (int attempt = 0; attempt < 100000 && !ok; attempt++) {
        int forward_style = tiny && want_yes ? 0 : (int)rng_below(r, 2);
        int lo = instr_range[difficulty][forward_style][0], hi = instr_range[difficulty][forward_style][1];
        int flo = forward_style && lo < 2 ? 2 : lo;   /* "Always face forward." and a move */
        int total = gen_range(r, flo, hi);
        n = 0;
        if (forward_style) prog[n++] = (instr){I_ALWAYS, 0};
        if (tiny && want_yes) {
            for (int i = 0; i < total; i++) prog[n++] = rand_instr(r, 0, 0, 1);
            ok = 1;
            break;
        }
        int body = total - n;   /* moves */
        int prefix = want_yes ? body - gen_range(r, 1, forward_style ? 2 : 3) : body;
        if (prefix < 1) continue;
        int start = n;
        for (int i = 0; i < prefix; i++) prog[n++] = rand_instr(r, forward_style, 0, 0);
        navstate s = {0, 0, 0};
        for (int i = 0; i < n; i++) apply(&s, prog[i]);
        if (want_yes) {
            if (homing(r, s, forward_style, prog, &n) != 0) continue;
            if (n < flo || n > hi) continue;   /* homing may add fewer or more than drawn */
            if (forward_style) {   /* moves commute when facing never changes: hide the pattern */
                for (int i = n - 1; i > start; i--) {
                    int j = start + (int)rng_below(r, (uint64_t)(i - start + 1));
                    instr t = prog[i]; prog[i] = prog[j]; prog[j] = t;
                }
            }
        } else if (s.x == 0 && s.y == 0) {
            continue;
        }
        int walks = 0;   /* a turn-only program is a trivial Yes; the exemplars' programs walk */
        for (int i = 0; i < n; i++) walks += prog[i].kind >= I_TAKE && prog[i].kind <= I_SRIGHT;
        ok = walks > 0;
    }
    if (!ok) return 1;

    sbuf_puts(q, "If you follow these instructions, do you return to the starting point?");
    for (int i = 0; i < n; i++) { sbuf_putc(q, ' '); put_instr(q, prog[i]); }
    sbuf_puts(q, "\nOptions:\n- Yes\n- No");

    navstate s = {0, 0, 0};
    sbuf_puts(rat, "Start 0,0 N.");
    for (int i = 0; i < n; i++) {
        apply(&s, prog[i]);
        sbuf_putc(rat, ' ');
        put_echo(rat, prog[i]);
        sbuf_printf(rat, " %d,%d %c.", s.x, s.y, facing_ch[s.f]);
    }
    int home = s.x == 0 && s.y == 0;
    sbuf_printf(rat, " %s 0,0. So the answer is %s.", home ? "At" : "Not", home ? "Yes" : "No");
    sbuf_puts(ans, home ? "Yes" : "No");
    return home == want_yes ? 0 : 1;
}
