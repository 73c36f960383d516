#include "coordinator/control/progress.h"

#include <math.h>

double control_progress_step_seconds(const control_progress *p) {
    return p->sample_s + p->grad_s + p->reduce_s + p->optim_s;
}

int64_t control_progress_global_step(const control_progress *p) { return p->step_offset + p->step; }

double control_progress_eval_here(const control_progress *p) {
    return p->eval_step == p->step ? p->eval_acc : NAN;
}
