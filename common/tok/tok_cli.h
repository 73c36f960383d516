/* tok_cli.h - `trice tokenize`: text to token ids and back, one line at a time (local). */
#ifndef TRICE_TOK_TOK_CLI_H
#define TRICE_TOK_TOK_CLI_H

/* argv[0] is the subcommand name. Returns the exit code: 0 ok, 1 bad input (an id that is
 * not a number or out of range; the message names the line), 2 usage. */
int tok_cli_main(int argc, char **argv);

#endif
