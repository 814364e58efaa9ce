// SPDX-License-Identifier: Apache-2.0
/*
 * Atomic file writes (temporary file, fsync, rename, directory fsync) and
 * whole-file reads; see file.h for why writes take this path.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/file.h"

int atomic_file__open(struct atomic_file *af, const char *path, mode_t mode)
{
	int fd, err;

	memset(af, 0, sizeof(*af));
	if (snprintf(af->tmp, sizeof(af->tmp), "%s.tmpXXXXXX", path) >= (int)sizeof(af->tmp))
		return -ENAMETOOLONG;
	fd = mkostemp(af->tmp, O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fchmod(fd, mode) || !(af->f = fdopen(fd, "w"))) {
		err = -errno;
		close(fd);
		unlink(af->tmp);
		return err;
	}
	af->path = path;
	return 0;
}

/* Makes the rename itself durable: fsync the directory that holds @path. */
static void sync_dir(const char *path)
{
	char dir[4096];
	int fd;

	snprintf(dir, sizeof(dir), "%s", path);
	fd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return; /* the file is in place; only its durability is not certain */
	fsync(fd);
	close(fd);
}

/* -errno for a stream write that failed just now: ENOSPC says more than EIO. */
static int write_error(void)
{
	return errno ? -errno : -EIO;
}

int atomic_file__commit(struct atomic_file *af)
{
	int err = 0;

	errno = 0;
	if (fflush(af->f))
		err = write_error();
	else if (ferror(af->f))
		err = -EIO; /* an earlier write failed; its errno is gone */
	if (!err && fsync(fileno(af->f)))
		err = -errno;
	if (fclose(af->f) && !err)
		err = -EIO;
	af->f = NULL;
	if (!err && rename(af->tmp, af->path))
		err = -errno;
	if (err)
		unlink(af->tmp);
	else
		sync_dir(af->path);
	return err;
}

void atomic_file__abort(struct atomic_file *af)
{
	if (af->f)
		fclose(af->f);
	af->f = NULL;
	unlink(af->tmp);
}

int atomic_file__write(const char *path, mode_t mode, const void *buf, size_t len)
{
	struct atomic_file af;
	int err = atomic_file__open(&af, path, mode);

	if (err)
		return err;
	errno = 0;
	if (len && fwrite(buf, 1, len, af.f) != len) {
		err = write_error();
		atomic_file__abort(&af);
		return err;
	}
	return atomic_file__commit(&af);
}

int file__read_all(const char *path, size_t max, uint8_t **out, size_t *len)
{
	struct stat st;
	uint8_t *buf = NULL;
	size_t n = 0, cap = 1 << 16;
	int fd, err = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0)
		cap = (size_t)st.st_size + 1;
	for (;;) {
		ssize_t r;

		if (!buf || n == cap) {
			uint8_t *p;

			if (buf)
				cap *= 2;
			if (cap > max + 1)
				cap = max + 1;
			if (n == cap) {
				err = -EFBIG;
				goto out;
			}
			p = realloc(buf, cap);
			if (!p) {
				err = -ENOMEM;
				goto out;
			}
			buf = p;
		}
		r = read(fd, buf + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			err = -errno;
			goto out;
		}
		if (r == 0)
			break;
		n += r;
	}
	*out = buf;
	*len = n;
	buf = NULL;
out:
	free(buf);
	close(fd);
	return err;
}
