/* fuzz_control.h - entry points of the control-plane fuzz targets (fuzz_rpc.c, fuzz_spec.c),
 * shared by the libFuzzer builds and the regression driver (fuzz_rpc_regress.c). */
#ifndef TRICE_TESTS_FUZZ_CONTROL_H
#define TRICE_TESTS_FUZZ_CONTROL_H

#include <stddef.h>
#include <stdint.h>

int fuzz_rpc_one(const uint8_t *data, size_t size);
int fuzz_spec_one(const uint8_t *data, size_t size);

#endif
