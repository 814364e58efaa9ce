// SPDX-License-Identifier: Apache-2.0
/*
 * jit: generates machine code at run time and describes it in its own perf
 * map, /tmp/perf-PID.map, the way JIT runtimes do.
 *
 * The code is a counted loop (x86-64: mov ecx, N; dec ecx; jnz; ret) copied
 * into an anonymous PROT_EXEC mapping, so no file names it: only the perf map
 * line "ADDR SIZE jit_hot_loop" can. The map file is removed at exit.
 *
 * Usage: jit [SECONDS]   (default 10)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static char map_path[64];

static void remove_map(void)
{
	unlink(map_path);
}

int main(int argc, char **argv)
{
	/* mov ecx, 2000000 ; loop: dec ecx ; jnz loop ; ret */
	static const unsigned char code[] = {0xb9, 0x80, 0x84, 0x1e, 0x00,
					     0xff, 0xc9, 0x75, 0xfc, 0xc3};
	double secs = argc > 1 ? atof(argv[1]) : 10, end = now() + secs;
	unsigned char *mem;
	void (*fn)(void);
	FILE *f;

	mem = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		return 1;
	/* Not at the page start, as a real JIT's code rarely is. */
	memcpy(mem + 256, code, sizeof(code));
	if (mprotect(mem, 4096, PROT_READ | PROT_EXEC))
		return 1;
	snprintf(map_path, sizeof(map_path), "/tmp/perf-%d.map", (int)getpid());
	f = fopen(map_path, "w");
	if (!f)
		return 1;
	atexit(remove_map);
	fprintf(f, "%lx %zx jit_hot_loop\n", (unsigned long)(mem + 256), sizeof(code));
	fclose(f);
	fn = (void (*)(void))(mem + 256);
	while (now() < end)
		fn();
	return 0;
}
