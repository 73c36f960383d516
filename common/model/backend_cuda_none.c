/* backend_cuda_none.c - the CUDA entry points of a build without CUDA (meson -Dcuda=disabled,
 * or no nvcc and cuBLAS found): no device, and a reason that says how to get one. */
#include <stdio.h>

#include "common/model/backend.h"

const gpt_backend *gpt_backend_cuda(int device, char *why, size_t why_len)
{
    snprintf(why, why_len, "this build has no CUDA backend (configure with meson -Dcuda=enabled on a "
                           "machine with nvcc and cuBLAS; device %d was asked for)", device);
    return NULL;
}

int gpt_backend_cuda_count(void) { return 0; }

const char *gpt_backend_cuda_device_name(void) { return ""; }

double gpt_backend_cuda_peak_flops(void) { return 0.0; }

int gpt_backend_cuda_sync(void) { return -1; }
