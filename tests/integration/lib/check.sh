# check.sh - sourced by the bash integration tests (t_crash, t_debug).
#   check NAME EXPR   evaluates EXPR: "ok   NAME" or "FAIL NAME" (sets fail=1)
# --no-preload (the first argument), the promise of every test: `lib` is
# emptied, so the programs run WITHOUT the agent and the checks must fail.
# Set `lib` before sourcing this.
fail=0
check() { if eval "$2"; then echo "ok   $1"; else echo "FAIL $1"; fail=1; fi; }
if [ "${1:-}" = --no-preload ]; then
	echo "${0##*/}: --no-preload: running WITHOUT the agent, expect failures"
	lib=
fi
