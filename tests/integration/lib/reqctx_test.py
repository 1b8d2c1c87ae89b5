"""Shared helpers for the integration tests (tests/integration/t_*).

The runner (tests/integration/run) gives every test REQCTX_ROOT, REQCTX_LIB
and REQCTX_TARGETS. The programs a test starts under the agent get a clean
environment: no REQCTX_* variable but the ones the test sets on purpose
(the agent warns about unknown ones), and LD_PRELOAD only for them, never
for the checker itself.

Exit status: 0 pass, 77 skip (reason on the last line), 1 fail.
Every test accepts --no-preload: run the programs without the agent, to
see that the checks do fail when nothing tags the lines. The bash tests
t_crash and t_debug honour it through lib/check.sh; t_wrapper and t_demo
skip (exit 77): the wrapper and the demo always preload the agent.
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
    # Under sanitizers REQCTX_LIB is "runtime:agent", both preloaded.
    return root, ":".join(os.path.abspath(p) for p in lib.split(":")), os.path.abspath(targets)


def no_sanitizer(lib, why):
    """Skips when a sanitizer runtime is preloaded with the agent (REQCTX_LIB
    is then "runtime:agent"): `why` says what cannot run under it."""
    if ":" in lib:
        skip("not under a sanitizer: %s" % why)


def require(path, what):
    for p in path.split(":"):
        if not os.path.exists(p):
            skip("%s not found: %s (run make)" % (what, p))
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


# ---- helpers for the hand-off tests (t_timers, t_workers, t_process, t_api,
# t_memcached); nothing above depends on them ------------------------------

def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago (for programs that
    cannot be told to pick their own, like memcached)."""
    import socket
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
    finally:
        s.close()


def read_port_file(path, proc, timeout=10):
    """Waits (bounded) for a target to write its port number to `path`."""
    def ready():
        try:
            with open(path) as f:
                v = f.read().strip()
            return v if v.isdigit() else None
        except OSError:
            return None
    return int(wait_for(ready, timeout, "the port file %s" % path, proc))


def http_read_response(sock, buf=b"", timeout=10):
    """Reads one HTTP/1.1 response with a Content-Length from sock.
    Returns (status line, body, leftover bytes); raises on timeout/EOF."""
    deadline = time.monotonic() + timeout
    while b"\r\n\r\n" not in buf:
        if time.monotonic() > deadline:
            raise RuntimeError("timeout reading response head")
        sock.settimeout(max(0.05, deadline - time.monotonic()))
        chunk = sock.recv(65536)
        if not chunk:
            raise RuntimeError("connection closed before response head")
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    clen = 0
    for h in lines[1:]:
        k, _, v = h.partition(b":")
        if k.strip().lower() == b"content-length":
            clen = int(v.strip())
    while len(rest) < clen:
        if time.monotonic() > deadline:
            raise RuntimeError("timeout reading response body")
        sock.settimeout(max(0.05, deadline - time.monotonic()))
        chunk = sock.recv(65536)
        if not chunk:
            raise RuntimeError("connection closed in response body")
        rest += chunk
    return lines[0], rest[:clen], rest[clen:]


def http_send(sock, path, req_id=None, close=False, extra_headers=()):
    """Sends one GET request; `req_id` goes in X-Request-Id."""
    req = "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n" % path
    if req_id is not None:
        req += "X-Request-Id: %s\r\n" % req_id
    for h in extra_headers:
        req += h + "\r\n"
    if close:
        req += "Connection: close\r\n"
    req += "\r\n"
    sock.sendall(req.encode())


def http_get(port, path, req_id=None, timeout=10, sock=None):
    """One request: on `sock` (kept open, keep-alive) or on a new connection
    (closed after). Returns (status line, body)."""
    import socket
    own = sock is None
    if own:
        sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        http_send(sock, path, req_id, close=own)
        status, body, _ = http_read_response(sock, b"", timeout)
        return status, body
    finally:
        if own:
            sock.close()


def log_lines(ck, out):
    """Splits a captured stderr into (lineno, prefix id or None, payload str);
    a missing final newline is a mismatch."""
    if out and not out.endswith(b"\n"):
        ck.fail("stderr does not end with a newline: last bytes %s" % show(out[-80:]))
    raw = out.split(b"\n")
    if raw and raw[-1] == b"":
        raw.pop()
    res = []
    for i, line in enumerate(raw, 1):
        pid, payload = split_prefix(line)
        res.append((i, pid, payload.decode("utf-8", "replace")))
    return res


class Tally:
    """right / wrong / unprefixed counts of one scenario."""

    def __init__(self, name):
        self.name = name
        self.right = self.wrong = self.unprefixed = 0

    def add(self, pid, want):
        """want: the expected ID, or None for 'no prefix'. Returns ok."""
        if pid == want:
            self.right += 1
            return True
        if pid is None:
            self.unprefixed += 1
        else:
            self.wrong += 1
        return False

    @property
    def total(self):
        return self.right + self.wrong + self.unprefixed

    def text(self):
        return "%s lines=%d right=%d wrong=%d unprefixed=%d" % (
            self.name, self.total, self.right, self.wrong, self.unprefixed)
