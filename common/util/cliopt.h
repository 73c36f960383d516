/* cliopt.h - what every command-line parser of the project shares.
 *
 * All parsers use glibc getopt_long (trice and its subcommands, trice-coordinator,
 * trice-worker). These helpers give them one behaviour: getopt's own messages are off
 * (opterr = 0, optstring starting with ':'), and a mistake is reported once, as
 *   trice submit: unknown option '--tokn-file' (did you mean '--token-file'?); see 'trice submit --help'
 * Exit status for usage errors is CLIOPT_USAGE (2) everywhere.
 */
#ifndef TRICE_UTIL_CLIOPT_H
#define TRICE_UTIL_CLIOPT_H

#include <getopt.h>
#include <stdio.h>

enum { CLIOPT_USAGE = 2 };

/* Start a fresh getopt_long pass over a new argv (resets glibc's state). */
void cliopt_reset(void);

/* Print the message for getopt_long's return value c ('?' unknown option, ':' missing
 * value) to stderr, with a "did you mean" among longopts. prog names the command
 * ("trice submit"). Returns CLIOPT_USAGE. */
int cliopt_report(const char *prog, int c, char **argv, const struct option *longopts);

/* Parse a number from an option's value within [lo, hi]; on failure prints
 * "prog: --name 'v': want an integer in [lo, hi]" and returns CLIOPT_USAGE. */
int cliopt_long(const char *prog, const char *name, const char *v, long lo, long hi, long *out);
int cliopt_double(const char *prog, const char *name, const char *v, double lo, double hi, double *out);

#endif
