/* fuzz_data.h - entry points of the common/data fuzz targets. Each takes arbitrary bytes,
 * must not crash, hang or leak, and returns 0. Built as libFuzzer targets (clang, -Dfuzz=true)
 * with TRICE_LIBFUZZER defined, and linked into fuzz_data_regress for gcc builds. */
#ifndef TRICE_TESTS_FUZZ_DATA_H
#define TRICE_TESTS_FUZZ_DATA_H

#include <stddef.h>
#include <stdint.h>

int fuzz_data_jsonl(const uint8_t *data, size_t size);   /* GSM8K and generic JSONL */
int fuzz_data_bbh(const uint8_t *data, size_t size);     /* BBH task JSON */
int fuzz_data_cot(const uint8_t *data, size_t size);     /* BBH CoT prompt files */
int fuzz_data_answer(const uint8_t *data, size_t size);  /* answer extraction / check */

#endif
