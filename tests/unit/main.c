/*
 * main.c - runs every suite listed in suites.h with Check. The suites test
 * the agent's core directly; nothing here is preloaded. A test that no
 * suite collected (its UNIT_SUITE or UNIT_TCASE names no test case that is
 * created) fails the run before anything else does.
 */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/probe.h"
#include "suites.h"

static void on_fault(int sig, siginfo_t *info, void *uc)
{
	(void)info;
	if (probe_fixup(uc))
		return;
	signal(sig, SIG_DFL);
	raise(sig);
}

void unit_handle_faults(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_fault;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	ck_assert_int_eq(sigaction(SIGSEGV, &sa, NULL), 0);
	ck_assert_int_eq(sigaction(SIGBUS, &sa, NULL), 0);
}

extern struct unit_test *const __start_unit_tests[];
extern struct unit_test *const __stop_unit_tests[];

TCase *unit_tcase(const char *suite, const char *tcase)
{
	TCase *t = tcase_create(tcase);

	for (;;) {
		struct unit_test *next = NULL;

		for (struct unit_test *const *e = __start_unit_tests; e < __stop_unit_tests; e++)
			if (!(*e)->collected && strcmp((*e)->suite, suite) == 0 &&
			    strcmp((*e)->tcase, tcase) == 0 &&
			    (next == NULL || (*e)->test->line < next->test->line))
				next = *e;
		if (next == NULL)
			return t;
		next->collected = true;
		tcase_add_test(t, next->test);
	}
}

int main(void)
{
	SRunner *sr = srunner_create(NULL);
	int failed, lost = 0;

#define ADD(name) srunner_add_suite(sr, name##_suite());
	UNIT_SUITES(ADD)
#undef ADD
	for (struct unit_test *const *e = __start_unit_tests; e < __stop_unit_tests; e++) {
		if (!(*e)->collected) {
			fprintf(stderr, "%s:%d: test %s (suite %s, case %s) is in no suite\n",
				(*e)->test->file, (*e)->test->line, (*e)->test->name,
				(*e)->suite, (*e)->tcase);
			lost++;
		}
	}
	if (lost) {
		srunner_free(sr);
		return EXIT_FAILURE;
	}
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
