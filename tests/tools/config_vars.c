/*
 * config_vars.c - prints the agent's variable table (agent/config.c), one
 * variable a line: "NAME<TAB>user|internal<TAB>default". The tests check
 * the wrapper's --help, docs/reqctx.1 and README.md against it, so a
 * variable added to the table and not documented fails `make check`.
 */
#include <stdio.h>

#include "agent/config.h"

int main(void)
{
	const struct config_var *v;

	for (size_t i = 0; (v = config_var(i)) != NULL; i++)
		printf("%s\t%s\t%s\n", v->name, v->internal ? "internal" : "user", v->used);
	return ferror(stdout) ? 1 : 0;
}
