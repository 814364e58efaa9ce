/* SPDX-License-Identifier: Apache-2.0 */
#ifndef EMBER_SYMBOLIZE_CMD_H
#define EMBER_SYMBOLIZE_CMD_H

/* `emberprof symbolize ...`: @argv[0] is "symbolize". Returns the exit code. */
int symbolize_main(int argc, char **argv);

#endif
