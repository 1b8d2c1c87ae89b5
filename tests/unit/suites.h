/*
 * suites.h - every unit test suite, in one list. A module's tests live in
 * tests/unit/test_<module>.c and define `Suite *<module>_suite(void)`.
 */
#define UNIT_SUITES(X) \
	X(config) \
	X(http)
