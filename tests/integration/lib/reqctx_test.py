"""Shared helpers for the integration tests (tests/integration/t_*).

The runner (tests/integration/run) gives every test REQCTX_ROOT, REQCTX_LIB
and REQCTX_TARGETS. The programs a test starts under the agent get a clean
environment: no REQCTX_* variable but the ones the test sets on purpose
(the agent warns about unknown ones), and LD_PRELOAD only for them, never
for the checker itself.

Exit status: 0 pass, 77 skip (reason on the last line), 1 fail.
Every test accepts --no-preload: run the programs without the agent, to
see that the checks do fail when nothing tags the lines.
"""
import atexit
import os
import re
import signal
import subprocess
import sys
import time

# "[<ID>] " at the start of a line: the default REQCTX_FORMAT.
PREFIX_RE = re.compile(rb"^\[([A-Za-z0-9\-._:/+=@]{1,128})\] ")
GEN_ID_RE = re.compile(r"^[0-9a-f]{16}$")
MAX_SHOWN = 20

_procs = []


def _cleanup():
    for p in _procs:
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except OSError:
                pass
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass


def _on_signal(signum, _frame):
    _cleanup()
    sys.stdout.write("killed by signal %d\n" % signum)
    sys.stdout.flush()
    os._exit(1)


atexit.register(_cleanup)
signal.signal(signal.SIGTERM, _on_signal)
signal.signal(signal.SIGINT, _on_signal)
signal.signal(signal.SIGHUP, _on_signal)


def skip(why):
    print(why)
    sys.stdout.flush()
    sys.exit(77)


def no_preload():
    return "--no-preload" in sys.argv[1:]


def paths():
    """(root, lib, targets), from the runner's variables or the repo."""
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.environ.get("REQCTX_ROOT") or os.path.abspath(os.path.join(here, "..", "..", ".."))
    lib = os.environ.get("REQCTX_LIB") or os.path.join(root, "build", "libreqctx.so")
    targets = os.environ.get("REQCTX_TARGETS") or os.path.join(root, "build", "targets")
    return root, os.path.abspath(lib), os.path.abspath(targets)


def require(path, what):
    if not os.path.exists(path):
        skip("%s not found: %s (run make)" % (what, path))
    return path


def target_env(lib, extra=None):
    """Environment for a program under test: every REQCTX_* variable removed
    (REQCTX_ROOT/LIB/TARGETS are for the tests, not the agent), LD_PRELOAD set
    to the agent alone (unless --no-preload), then `extra` applied."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("REQCTX_")}
    env.pop("LD_PRELOAD", None)
    if not no_preload():
        env["LD_PRELOAD"] = lib
    for k, v in (extra or {}).items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    return env


def start(args, **kw):
    """Popen in its own process group, killed when the test exits."""
    kw.setdefault("stdin", subprocess.DEVNULL)
    kw.setdefault("start_new_session", True)
    p = subprocess.Popen(args, **kw)
    _procs.append(p)
    return p


def stop(p, sig=signal.SIGTERM, timeout=10):
    """Sends `sig` to p, waits; SIGKILL after `timeout`. Returns the status."""
    if p.poll() is None:
        try:
            p.send_signal(sig)
        except OSError:
            pass
        try:
            p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait(timeout=5)
            return None
    return p.returncode


def wait_for(cond, timeout, what, proc=None, step=0.02):
    """Polls cond() until it returns something truthy; fails the test (exit 1)
    if the time runs out or proc exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = cond()
        if v:
            return v
        if proc is not None and proc.poll() is not None:
            v = cond()
            if v:
                return v
            print("FAIL: program exited with status %s while waiting for %s"
                  % (proc.returncode, what))
            sys.exit(1)
        time.sleep(step)
    print("FAIL: timed out after %ss waiting for %s" % (timeout, what))
    sys.exit(1)


def split_prefix(line):
    """(id or None, payload) of one output line (bytes, no newline)."""
    m = PREFIX_RE.match(line)
    if m is None:
        return None, line
    return m.group(1).decode("ascii"), line[m.end():]


def show(b, limit=100):
    """Printable form of some bytes, cut to `limit`."""
    if len(b) > limit:
        return repr(b[:limit])[:-1] + "...'(%d bytes)" % len(b)
    return repr(b)


def first_diff(got, want):
    """Describes where two byte strings first differ."""
    n = min(len(got), len(want))
    i = 0
    while i < n and got[i] == want[i]:
        i += 1
    if i == n and len(got) == len(want):
        return "equal"
    lo = max(0, i - 40)
    return ("first difference at byte %d (got %d bytes, expected %d): got %s, expected %s"
            % (i, len(got), len(want), show(got[lo:i + 60], 120), show(want[lo:i + 60], 120)))


class Checker:
    """Collects mismatches and figures; finish() prints them and exits."""

    def __init__(self, name):
        self.name = name
        self.errors = 0
        self.shown = 0
        self.part = name
        self.figures = []
        self.t0 = time.monotonic()
        if no_preload():
            print("%s: --no-preload: running WITHOUT the agent, expect failures" % name)

    def fail(self, msg):
        self.errors += 1
        if self.shown < MAX_SHOWN:
            self.shown += 1
            print("MISMATCH: " + msg)
        else:
            self.shown += 1
        sys.stdout.flush()

    def section(self, name):
        """Starts a new part of the test: up to MAX_SHOWN mismatches are shown
        for each part."""
        if self.shown > MAX_SHOWN:
            print("MISMATCH: ... (%s: %d further mismatches counted, not shown)"
                  % (self.part, self.shown - MAX_SHOWN))
        self.part = name
        self.shown = 0

    def check(self, ok, msg):
        if not ok:
            self.fail(msg)
        return ok

    def figure(self, text):
        self.figures.append(text)
        print("figure: " + text)
        sys.stdout.flush()

    def note(self, text):
        print(text)
        sys.stdout.flush()

    def finish(self):
        secs = time.monotonic() - self.t0
        if self.shown > MAX_SHOWN:
            print("MISMATCH: ... (%d further mismatches counted, not shown)" % (self.shown - MAX_SHOWN))
            self.shown = 0
        if self.errors:
            # the runner shows the last 40 lines of a failing test: end with
            # the figures again, so every part's counts are in view
            for f in self.figures:
                print("summary: " + f)
            print("FAIL %s: %d mismatches (%.1fs)" % (self.name, self.errors, secs))
            sys.stdout.flush()
            _cleanup()
            sys.exit(1)
        print("PASS %s (%.1fs)" % (self.name, secs))
        sys.stdout.flush()
        _cleanup()
        sys.exit(0)
