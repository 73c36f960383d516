/* A tiny front end for the engine's subcommands, for tests: `run_cli train ...`, `run_cli eval ...`.
 * (The user-facing binary is `trice`; this one links no RPC code.) */
#include <stdio.h>
#include <string.h>

#include "common/engine/engine_cli.h"

int main(int argc, char **argv) {
    if (argc >= 2 && strcmp(argv[1], "train") == 0) return engine_cli_train(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "eval") == 0) return engine_cli_eval(argc - 1, argv + 1);
    fprintf(stderr, "usage: run_cli train|eval ...\n");
    return 2;
}
