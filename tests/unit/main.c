/*
 * main.c - runs every suite listed in suites.h with Check. The suites test
 * the agent's core directly; nothing here is preloaded.
 */
#include <check.h>
#include <stdlib.h>

#include "suites.h"

int main(void)
{
	SRunner *sr = srunner_create(NULL);
	int failed;

#define ADD(name) srunner_add_suite(sr, name##_suite());
	UNIT_SUITES(ADD)
#undef ADD
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
