/*
 * replay_main.c: run LLVMFuzzerTestOneInput() over corpus files without
 * libFuzzer, so make check replays tests/fuzz/corpus with any compiler.
 * Arguments are files or directories (not recursive).  Exit 0 when every
 * input ran (a failed property aborts), 1 when an input could not be read.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static int
run_file(const char *path, size_t *nrun)
{
	FILE		*fp;
	uint8_t		*buf = NULL;
	size_t		 cap = 0, len = 0, n;
	int		 rc = -1;

	if ((fp = fopen(path, "rb")) == NULL) {
		perror(path);
		return (-1);
	}
	for (;;) {
		if (len == cap) {
			uint8_t	*nb;

			cap = cap ? cap * 2 : 4096;
			if ((nb = realloc(buf, cap)) == NULL)
				goto fail;
			buf = nb;
		}
		if ((n = fread(buf + len, 1, cap - len, fp)) == 0)
			break;
		len += n;
	}
	if (ferror(fp)) {
		perror(path);
		goto fail;
	}
	LLVMFuzzerTestOneInput(buf, len);
	(*nrun)++;
	rc = 0;
 fail:
	free(buf);
	fclose(fp);
	return (rc);
}

static int
run_path(const char *path, size_t *nrun)
{
	struct stat	 st;
	struct dirent	*de;
	DIR		*d;
	char		 p[4096];
	int		 rc = 0;

	if (stat(path, &st) == -1) {
		perror(path);
		return (-1);
	}
	if (!S_ISDIR(st.st_mode))
		return (run_file(path, nrun));
	if ((d = opendir(path)) == NULL) {
		perror(path);
		return (-1);
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if ((size_t)snprintf(p, sizeof(p), "%s/%s", path, de->d_name) >=
		    sizeof(p))
			continue;
		if (stat(p, &st) == 0 && S_ISREG(st.st_mode) &&
		    run_file(p, nrun) == -1)
			rc = -1;
	}
	closedir(d);
	return (rc);
}

int
main(int argc, char *argv[])
{
	size_t	 nrun = 0;
	int	 i, rc = 0;

	for (i = 1; i < argc; i++)
		if (run_path(argv[i], &nrun) == -1)
			rc = 1;
	printf("replayed %zu inputs\n", nrun);
	return (rc);
}
