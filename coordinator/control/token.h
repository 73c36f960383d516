/* token.h - the shared secret that authorises mutating RPC calls.
 *
 * The token file holds 64 hex characters (32 bytes from /dev/urandom). The daemon creates
 * it with mode 0600 when absent; clients (the CLI) read it. Comparison is constant-time
 * so that response timing does not leak how many leading characters matched.
 */
#ifndef TRICE_CONTROL_TOKEN_H
#define TRICE_CONTROL_TOKEN_H

#include <stddef.h>

#include "common/util/err.h"

#define TOKEN_HEX_LEN 64
#define TOKEN_MAX 256        /* longest token a request may carry */

/* Read the token at path; create it (0600, O_EXCL) with fresh random bytes if absent. An
 * existing file must be a regular file owned by this user with no group/other access
 * (TR_EAUTH with the fix otherwise). */
int token_load_or_create(const char *path, char out[TOKEN_HEX_LEN + 1], tr_error *err);
/* Read an existing token file (clients). Surrounding whitespace is ignored. */
int token_read(const char *path, char *out, size_t cap, tr_error *err);
/* 1 when given (len bytes, any length) equals secret; time depends only on len and the secret's length. */
int token_equal(const char *secret, const char *given, size_t len);
/* Fill buf with n random bytes from /dev/urandom. */
int token_random_bytes(void *buf, size_t n, tr_error *err);

#endif
