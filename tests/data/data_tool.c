/* data_tool.c - a standalone `data` command for trying common/data without the trice CLI:
 *   data_tool show navigate --difficulty 1 --n 3
 */
#include "common/data/cli.h"

int main(int argc, char **argv) {
    char name[] = "data";
    argv[0] = name;
    return data_cli_main(argc, argv);
}
