/*
 * bigenv_exec - execs /bin/true with an environment of its own of BYTES
 * bytes of strings (none of them LD_PRELOAD or REQCTX_*), as a program
 * that rebuilds its child's environment does (tests/integration/
 * t_bigenv_exec). Exit status: /bin/true's 0, or 1 with "execve: <error>"
 * on stdout when the exec failed.
 *
 *   bigenv_exec BYTES
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PIECE 100000

int main(int argc, char **argv)
{
	long left = argc == 2 ? atol(argv[1]) : -1;
	int n, i;
	char **env;
	char *argv_true[] = { "/bin/true", NULL };

	if (left < 4)
		return 2;
	n = (int)(left / PIECE) + 1;
	env = calloc((size_t)n + 1, sizeof *env);
	if (env == NULL)
		return 2;
	for (i = 0; i < n && left >= 4; i++) {
		long size = left > PIECE ? PIECE : left;   /* with its NUL */

		env[i] = malloc((size_t)size);
		if (env[i] == NULL)
			return 2;
		memset(env[i], 'v', (size_t)size - 1);
		env[i][0] = (char)('A' + i % 26);
		env[i][1] = (char)('a' + i / 26 % 26);
		env[i][2] = '=';
		env[i][size - 1] = '\0';
		left -= size;
	}
	execve(argv_true[0], argv_true, env);
	printf("execve: %s\n", strerror(errno));
	return 1;
}
