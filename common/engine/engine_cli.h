/* engine_cli.h - the `trice train` and `trice eval` subcommands (single process, no daemon). */
#ifndef TRICE_ENGINE_ENGINE_CLI_H
#define TRICE_ENGINE_ENGINE_CLI_H

/* argv[0] is the subcommand name. Return the process exit code (0 ok, 1 failed, 2 usage). */
int engine_cli_train(int argc, char **argv);
int engine_cli_eval(int argc, char **argv);

#endif
