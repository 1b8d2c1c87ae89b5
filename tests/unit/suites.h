/*
 * suites.h - every unit test suite, in one list, and the one way a test is
 * written: a module's tests live in tests/unit/test_<module>.c, which
 * defines `Suite *<module>_suite(void)`, sets UNIT_SUITE (and UNIT_TCASE,
 * the test case the following tests belong to) and writes each test once:
 *
 *     UNIT_TEST(name) { ... }
 *
 * The test's entry goes into the linker section "unit_tests"; unit_tcase()
 * collects a test case's entries from there, and main() fails the run if
 * any entry was not collected by a suite. So there is no second list a test
 * can be missing from: a test cannot be defined and not run.
 */
#ifndef AGENT_SUITES_H
#define AGENT_SUITES_H

#include <check.h>
#include <stdbool.h>

#define UNIT_SUITES(X) \
	X(config) \
	X(http) \
	X(proto) \
	X(relay) \
	X(id) \
	X(format) \
	X(fdmap) \
	X(chan) \
	X(epmap) \
	X(out) \
	X(real) \
	X(probe) \
	X(race) \
	X(handoff) \
	X(propagate) \
	X(outputs) \
	X(flow) \
	X(inherit) \
	X(dispatch) \
	X(timers) \
	X(mem)

/* Installs, for SIGSEGV and SIGBUS, what the agent's own handler does
 * first (agent/signals.c, not installed in the unit tests): a fault on
 * one of base/probe.h's loads makes the probe say no; any other fault
 * kills the test as it would. For a test that probes bad bytes. */
void unit_handle_faults(void);

#define UNIT_DECLARE(name) Suite *name##_suite(void);
UNIT_SUITES(UNIT_DECLARE)
#undef UNIT_DECLARE

struct unit_test {
	const char *suite, *tcase;
	const TTest *test;
	bool collected;
};

#define UNIT_STR_(x) #x
#define UNIT_STR(x) UNIT_STR_(x)

#define UNIT_TEST(name) \
	static void name##_fn(int _i); \
	static const TTest name##_ttest = { #name, name##_fn, __FILE__, __LINE__ }; \
	static struct unit_test name##_unit = \
		{ UNIT_STR(UNIT_SUITE), UNIT_STR(UNIT_TCASE), &name##_ttest, false }; \
	static struct unit_test *const name##_entry \
		__attribute__((used, section("unit_tests"))) = &name##_unit; \
	static void name##_fn(int _i __attribute__((unused)))

/* A new test case `tcase` holding every UNIT_TEST of `suite` written under
 * that UNIT_TCASE, in the order of their lines. */
TCase *unit_tcase(const char *suite, const char *tcase);

#endif
