/*
 * suites.h - every unit test suite, in one list. A module's tests live in
 * tests/unit/test_<module>.c and define `Suite *<module>_suite(void)`.
 */
#ifndef AGENT_SUITES_H
#define AGENT_SUITES_H

#include <check.h>

#define UNIT_SUITES(X) \
	X(config) \
	X(http) \
	X(id) \
	X(format) \
	X(fdmap) \
	X(epmap) \
	X(out) \
	X(race) \
	X(handoff)

#define UNIT_DECLARE(name) Suite *name##_suite(void);
UNIT_SUITES(UNIT_DECLARE)
#undef UNIT_DECLARE

#endif
