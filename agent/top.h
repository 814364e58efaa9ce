/* SPDX-License-Identifier: Apache-2.0 */
#ifndef EMBER_TOP_H
#define EMBER_TOP_H

/*
 * `emberprof top`: a live view of the hottest functions (or processes, or
 * spans), refreshed each second, like perf top but with whole stacks and
 * trace links. ncurses on a terminal; plain periodic text otherwise.
 * @argv[0] is "top". Returns the exit code.
 */
int top_main(int argc, char **argv);

#endif
