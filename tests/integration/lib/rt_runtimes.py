"""Shared driver for the runtime tests (tests/integration/t_rt_*): real
servers from Debian (gunicorn, uWSGI, OpenJDK, Ruby, Node, aiohttp) run a
small app under the agent, clients send concurrent requests to 127.0.0.1,
and every line the app writes is scored by the ID the line itself carries.

Every request is GET <path>?id=ID with X-Request-Id: ID, so the agent should
adopt ID. The apps (tests/integration/apps/) write every log line as

    site=<log-site> id=<ID> ...

and the server's own lines that show the path (access logs) carry "?id=ID"
too. A line's score: right (its "[prefix] " is the ID in its text), wrong
(another prefix: another request's ID, or one the agent generated), none
(no prefix). Lines with no id= at all (banners) are counted, not scored.

REQCTX_TEST_KEEP=1 keeps each server's captured stderr (the path is printed);
REQCTX_TEST_DEBUG=1 also keeps the agent's REQCTX_DEBUG file beside it.
The tests are not in plain `make check`: `make check-runtimes` runs them.
Each asserts wrong == 0 and, when REQCTX_TEST_MIN_RIGHT (percent) is set,
right / lines >= that per app.
"""
import http.client
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

import reqctx_test as rt

ID_RE = re.compile(r"(?<![A-Za-z0-9_])id=([A-Za-z0-9._-]+)")
SITE_RE = re.compile(r"(?<![A-Za-z0-9_])site=([A-Za-z0-9_]+)")
# a site written more than one way (apps/wsgi_app.py, APP_LOG_MIX): once each way
VIA_RE = re.compile(r"(?<![A-Za-z0-9_])via=([A-Za-z0-9_]+)")
DEBIAN_PYTHON = "/usr/bin/python3"


def here():
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def apps_dir():
    return os.path.join(here(), "apps")


def build_dir():
    """The build directory (where `make` put the agent): the parent of
    REQCTX_TARGETS."""
    _, _, targets = rt.paths()
    return os.path.dirname(targets)


def min_right():
    v = os.environ.get("REQCTX_TEST_MIN_RIGHT", "").strip()
    if not v:
        return 0.0
    try:
        return float(v)
    except ValueError:
        print("REQCTX_TEST_MIN_RIGHT=%r is not a number; using 0" % v)
        return 0.0


def which(prog):
    for d in os.environ.get("PATH", "").split(":") + ["/usr/bin", "/usr/sbin"]:
        p = os.path.join(d, prog)
        if os.path.isfile(p) and os.access(p, os.X_OK):
            return p
    return None


def python_has(mod):
    """Whether Debian's python3 can import `mod` (run without the agent)."""
    if not os.path.exists(DEBIAN_PYTHON):
        return False
    r = subprocess.run([DEBIAN_PYTHON, "-c", "import " + mod],
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, env={"PATH": "/usr/bin:/bin"})
    return r.returncode == 0


def make_ids(tag, n):
    """n distinct valid request IDs; the tag names the app and the run."""
    rnd = os.urandom(3).hex()
    return ["%s-%s-%04d" % (tag, rnd, i) for i in range(n)]


def listening(port):
    """Whether something listens on 127.0.0.1:port, from /proc/net/tcp: no
    probe connection, which the agent would give a context of its own."""
    want = ":%04X" % port
    # Java listens on an AF_INET6 socket even for 127.0.0.1: tcp6 too
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    parts = line.split()
                    if parts[1].endswith(want) and parts[3] == "0A":
                        return True
        except (OSError, StopIteration):
            pass
    return False


def wait_port(port, proc, timeout=30):
    rt.wait_for(lambda: listening(port), timeout,
                "port %d to accept connections" % port, proc, step=0.05)


class Load:
    """Sends GET path?id=ID with X-Request-Id: ID for every ID, from `conc`
    client threads at once; even-numbered threads keep their connection
    open (keep-alive; http.client reconnects when the server closes it),
    odd-numbered ones open a new connection for each request and send
    Connection: close."""

    def __init__(self, port, ids, conc=16, path="/job", timeout=15):
        self.port, self.ids, self.conc, self.path = port, ids, conc, path
        self.timeout = timeout
        self.errors = []
        self.ok = 0
        self.next = 0
        self.lock = threading.Lock()
        self.secs = 0.0

    def _take(self):
        with self.lock:
            if self.next >= len(self.ids):
                return None
            i = self.next
            self.next += 1
            return self.ids[i]

    def _client(self, k, deadline):
        keep = k % 2 == 0
        conn = None
        try:
            while time.monotonic() < deadline:
                rid = self._take()
                if rid is None:
                    break
                if conn is None or not keep:
                    if conn is not None:
                        conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
                headers = {"X-Request-Id": rid}
                if not keep:
                    headers["Connection"] = "close"
                try:
                    conn.request("GET", "%s?id=%s" % (self.path, rid), headers=headers)
                    r = conn.getresponse()
                    body = r.read()
                except (OSError, http.client.HTTPException) as e:
                    # one retry on a fresh connection: a keep-alive connection
                    # the server closed between requests
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
                    try:
                        conn.request("GET", "%s?id=%s" % (self.path, rid), headers=headers)
                        r = conn.getresponse()
                        body = r.read()
                    except (OSError, http.client.HTTPException) as e2:
                        with self.lock:
                            self.errors.append("%s: %s: %s (first try: %s)" % (rid, type(e2).__name__, e2, e))
                        conn.close()
                        conn = None
                        continue
                with self.lock:
                    if r.status == 200 and rid.encode() in body:
                        self.ok += 1
                    else:
                        self.errors.append("%s: status %d body %s" % (rid, r.status, rt.show(body, 80)))
                if r.will_close:
                    conn.close()
                    conn = None
        except Exception as e:  # noqa: BLE001 - any failure is reported
            with self.lock:
                self.errors.append("client %d: %s: %s" % (k, type(e).__name__, e))
        finally:
            if conn is not None:
                conn.close()

    def run(self, budget=60):
        t0 = time.monotonic()
        deadline = t0 + budget
        ths = [threading.Thread(target=self._client, args=(k, deadline), daemon=True)
               for k in range(self.conc)]
        for t in ths:
            t.start()
        for t in ths:
            t.join(timeout=max(1, deadline + self.timeout + 5 - time.monotonic()))
        self.secs = time.monotonic() - t0
        if any(t.is_alive() for t in ths):
            self.errors.append("client threads still running after %ds" % budget)
        if self.next < len(self.ids):
            self.errors.append("only %d of %d requests sent in %ds" % (self.next, len(self.ids), budget))
        return self


class Score:
    """right / wrong / none of one app, in total and per log-site."""

    def __init__(self):
        self.sites = {}      # site -> [lines, right, wrong, none, wrong_other]
        self.order = []

    def add(self, site, kind, other=False):
        if site not in self.sites:
            self.sites[site] = [0, 0, 0, 0, 0]
            self.order.append(site)
        s = self.sites[site]
        s[0] += 1
        s[{"right": 1, "wrong": 2, "none": 3}[kind]] += 1
        if other:
            s[4] += 1

    def total(self):
        t = [0, 0, 0, 0, 0]
        for s in self.sites.values():
            for i in range(5):
                t[i] += s[i]
        return t


def fmt(v):
    lines, right, wrong, none, other = v
    pct = 100.0 * right / lines if lines else 0.0
    return "lines=%d right=%d wrong=%d none=%d right%%=%.1f wrong_other_request=%d" % (
        lines, right, wrong, none, pct, other)


def score(ck, app, out, ids, sites, site_order=None):
    """Scores a captured stderr; `sites`: the log-sites every request must
    write exactly once. Prints the figures; mismatches go to ck."""
    ck.section(app)
    idset = set(ids)
    sc = Score()
    for s in (site_order or sites):
        sc.sites.setdefault(s, [0, 0, 0, 0, 0])
        sc.order.append(s)
    seen = {}
    unscored = 0
    unscored_prefixed = 0
    for i, pid, text in rt.log_lines(ck, out):
        m = ID_RE.search(text)
        if m is None:
            unscored += 1
            if pid is not None:
                unscored_prefixed += 1
            continue
        lid = m.group(1)
        sm = SITE_RE.search(text)
        site = sm.group(1) if sm else "server"
        if lid not in idset:
            ck.fail("%s line %d: id=%s is no ID this run sent: %s" % (app, i, lid, rt.show(text.encode(), 160)))
            continue
        if sm:
            via = VIA_RE.search(text)
            key = (lid, site, via.group(1) if via else None)
            seen[key] = seen.get(key, 0) + 1
        if pid == lid:
            sc.add(site, "right")
        elif pid is None:
            sc.add(site, "none")
        else:
            other = pid in idset
            sc.add(site, "wrong", other)
            ck.fail("%s line %d site=%s id=%s: prefix [%s] (%s)" % (
                app, i, site, lid, pid,
                "another request's ID" if other else "not an ID this run sent"))
    seen_sites = {k[:2] for k in seen}
    missing = [(r, s) for r in ids for s in sites if (r, s) not in seen_sites]
    dup = [k for k, c in seen.items() if c > 1]
    ck.check(not missing, "%s: %d expected lines missing, e.g. %s" % (app, len(missing), missing[:4]))
    ck.check(not dup, "%s: %d lines written more than once, e.g. %s" % (app, len(dup), dup[:4]))
    tot = sc.total()
    ck.figure("%s all %s" % (app, fmt(tot)))
    for s in sc.order:
        ck.figure("%s site=%s %s" % (app, s, fmt(sc.sites[s])))
    if unscored:
        ck.note("%s: %d lines without an id= (not scored; %d of them prefixed)" % (app, unscored, unscored_prefixed))
    want = min_right()
    if rt.no_preload() and want <= 0:
        ck.note("%s: --no-preload: every line is unprefixed, so wrong == 0 holds; set "
                "REQCTX_TEST_MIN_RIGHT (e.g. 1) to see the right-share check fail" % app)
    if want > 0 and tot[0]:
        pct = 100.0 * tot[1] / tot[0]
        ck.check(pct >= want, "%s: right %.1f%% < REQCTX_TEST_MIN_RIGHT=%g%%" % (app, pct, want))
    return sc


def run_app(ck, app, argv, port, sites, n=240, conc=16, env=None, cwd=None,
            ready_timeout=30, stop_sig=None, site_order=None, path="/job"):
    """Starts argv (under the agent unless --no-preload) with stderr
    captured, waits for `port`, sends n requests with `conc` clients, waits
    for every request's lines, stops the server and scores its stderr."""
    import signal
    _, lib, _ = rt.paths()
    if ":" in lib:
        # Under a sanitizer its runtime is preloaded too: a JVM, node or
        # ruby under ASan says nothing about attribution.
        rt.skip("not under a sanitizer (the runtimes would run under it too)")
    tmp = tempfile.mkdtemp(prefix="t_rt_%s." % re.sub(r"[^A-Za-z0-9]", "_", app))
    errpath = os.path.join(tmp, "stderr")
    outpath = os.path.join(tmp, "stdout")
    tag = re.sub(r"[^A-Za-z0-9]", "", app)[:10]
    ids = make_ids(tag, n)
    if os.environ.get("REQCTX_TEST_DEBUG"):
        # The agent's own diagnostics, kept with the stderr (implies KEEP).
        env = dict(env or {}, REQCTX_DEBUG=os.path.join(tmp, "debug"), REQCTX_FORMAT="[%i] tid=%T ")
        os.environ["REQCTX_TEST_KEEP"] = "1"
    full_env = rt.target_env(lib, env)
    t0 = time.monotonic()
    # O_APPEND: servers that open /dev/stderr again (gunicorn's access log)
    # get a second file description; both must append, not overwrite
    with open(outpath, "ab") as outf, open(errpath, "ab") as errf:
        proc = rt.start(argv, env=full_env, cwd=cwd, stdout=outf, stderr=errf)
    try:
        wait_port(port, proc, ready_timeout)
    except SystemExit:
        with open(errpath, "rb") as f:
            tail = f.read()[-2000:]
        print("%s: server stderr (last bytes):\n%s" % (app, tail.decode("utf-8", "replace")))
        raise
    t_ready = time.monotonic() - t0
    load = Load(port, ids, conc=conc, path=path).run()
    for e in load.errors[:rt.MAX_SHOWN]:
        ck.fail("%s client: %s" % (app, e))

    want = {(r, s) for r in ids for s in sites}

    def all_logged():
        with open(errpath, "rb") as f:
            data = f.read().decode("utf-8", "replace")
        got = set()
        for line in data.split("\n"):
            m, sm = ID_RE.search(line), SITE_RE.search(line)
            if m and sm:
                got.add((m.group(1), sm.group(1)))
        return want <= got
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and proc.poll() is None and not all_logged():
        time.sleep(0.1)
    time.sleep(0.3)  # access-log lines written after the response
    alive = proc.poll() is None
    ck.check(alive, "%s: server exited early with status %s" % (app, proc.returncode))
    rt.stop(proc, stop_sig or signal.SIGTERM)
    with open(errpath, "rb") as f:
        out = f.read()
    if os.environ.get("REQCTX_TEST_KEEP"):
        ck.note("%s: the server's stderr is kept in %s" % (app, errpath))
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    ck.figure("%s requests=%d ok=%d clients=%d (half keep-alive) load %.1fs, server ready in %.1fs"
              % (app, n, load.ok, conc, load.secs, t_ready))
    return score(ck, app, out, ids, sites, site_order)
