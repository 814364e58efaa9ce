// SPDX-License-Identifier: Apache-2.0
/*
 * syscalls: a workload that spends most of its CPU time in the kernel, for
 * the end-to-end test of kernel stacks.
 *
 * syscall_loop() spins on cheap system calls: getppid(), a one-byte write
 * to /dev/null, and a one-byte write then read through a pipe. A sample
 * taken during any of them has a kernel part (the syscall entry path) on top
 * of the user part main -> syscall_loop.
 *
 * The system calls are issued with an inline "syscall" instruction rather
 * than through libc. Debian's libc is built without frame pointers, so a
 * frame-pointer unwinder that starts inside a libc wrapper reads the
 * wrapper's caller from %rbp and silently skips syscall_loop itself. With
 * the instruction inside syscall_loop, the user IP of every sample is in
 * syscall_loop and its frame chain is intact. Other architectures fall back
 * to syscall(2).
 *
 * Usage: syscalls [SECONDS]   (default 10)
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>

/* Not static either, so GCC cannot clone the profiled function under another name. */
#define EMBER_NOINLINE __attribute__((noinline))

#if defined(__x86_64__)
/* The x86-64 syscall ABI: number in rax, arguments in rdi/rsi/rdx; rcx and r11 are clobbered. */
#define EMBER_SYSCALL3(nr, a, b, c)                                                                \
	({                                                                                         \
		long ret_;                                                                         \
		__asm__ volatile("syscall"                                                         \
				 : "=a"(ret_)                                                      \
				 : "a"((long)(nr)), "D"((long)(a)), "S"((long)(b)), "d"((long)(c)) \
				 : "rcx", "r11", "memory");                                        \
		ret_;                                                                              \
	})
#else
#define EMBER_SYSCALL3(nr, a, b, c) syscall((nr), (a), (b), (c))
#endif

/* Results go here so that no call is optimised away. */
static volatile long sink;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Issue system calls until the deadline; checks the clock every 256 rounds. */
EMBER_NOINLINE long syscall_loop(double deadline, int devnull, int pipe_rd, int pipe_wr)
{
	char byte = 'x';
	long rounds = 0;

	do {
		for (int i = 0; i < 256; i++) {
			sink += EMBER_SYSCALL3(SYS_getppid, 0, 0, 0);
			sink += EMBER_SYSCALL3(SYS_write, devnull, &byte, 1);
			sink += EMBER_SYSCALL3(SYS_write, pipe_wr, &byte, 1);
			sink += EMBER_SYSCALL3(SYS_read, pipe_rd, &byte, 1);
		}
		rounds++;
	} while (now() < deadline);
	return rounds;
}

int main(int argc, char **argv)
{
	double seconds = 10;
	int devnull, fds[2];
	char *end;

	if (argc > 1) {
		seconds = strtod(argv[1], &end);
		if (*end || seconds <= 0) {
			fprintf(stderr, "usage: %s [SECONDS]\n", argv[0]);
			return 2;
		}
	}
	devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (devnull < 0 || pipe2(fds, O_CLOEXEC)) {
		perror("syscalls: setup");
		return 1;
	}
	sink += syscall_loop(now() + seconds, devnull, fds[0], fds[1]);
	return 0;
}
