"""Shared driver for the runtime-bridge tests (t_bridge_*).

A server app (tests/integration/apps/) is started under the agent; it
writes "listening <port>" on stdout, then serves GET /<tag>/<id> and writes
one stderr line per log-site: "site=<name> id=<id>". Clients send
X-Request-Id: <id> with the same <id> in the path, some on keep-alive
connections, some one request per connection, all concurrently. Each line is
scored by comparing its prefix with the id in its own text:
right (same), wrong (another request's), none (no prefix). Apps that call
a leaf service in another process (start_leaf, score_leaf) have what the
agent propagated with each call scored the same way.
"""
import json
import os
import re
import socket
import tempfile
import threading
import time

import reqctx_test as rt

LINE_RE = re.compile(r"site=(\w+) id=(\S+)")


def run_server(ck, args, env_extra, clients, per_client, sites, tag, cwd=None,
               timeout=20):
    """Starts the app, drives the clients, stops the app. Returns
    {site: Tally}, the total Tally, and the number of requests that failed."""
    _root, lib, _t = rt.paths()
    tmp = tempfile.TemporaryDirectory(prefix="reqctx-bridge-")
    outp, errp = os.path.join(tmp.name, "out"), os.path.join(tmp.name, "err")
    with open(outp, "wb") as o, open(errp, "wb") as e:
        proc = rt.start(args, env=rt.target_env(lib, env_extra), stdout=o, stderr=e,
                        cwd=cwd)

    def port():
        try:
            with open(outp) as f:
                m = re.search(r"listening (\d+)", f.read())
            return int(m.group(1)) if m else None
        except OSError:
            return None
    p = rt.wait_for(port, 15, "the app's port", proc)

    failures = []
    deadline = time.monotonic() + timeout

    def client(j):
        keep = j % 2 == 0          # half keep-alive, half one request per connection
        sock = None
        try:
            for n in range(per_client):
                if time.monotonic() > deadline:
                    failures.append("time out")
                    return
                rid = "%s-c%d-r%d" % (tag, j, n)
                if keep:
                    if sock is None:
                        sock = socket.create_connection(("127.0.0.1", p), timeout=10)
                    rt.http_send(sock, "/%s/%s" % (tag, rid), rid)
                    status, body, left = rt.http_read_response(sock, b"", 10)
                else:
                    status, body = rt.http_get(p, "/%s/%s" % (tag, rid), rid)
                if b" 200 " not in status + b" ":
                    failures.append("%s: %r" % (rid, status))
        except Exception as ex:     # noqa: BLE001 - reported as a failure
            failures.append("client %d: %s" % (j, ex))
        finally:
            if sock is not None:
                sock.close()

    ths = [threading.Thread(target=client, args=(j,)) for j in range(clients)]
    t0 = time.monotonic()
    for t in ths:
        t.start()
    for t in ths:
        t.join()
    secs = time.monotonic() - t0
    time.sleep(0.3)                  # the last 'finish' lines
    died = proc.poll()               # before the test stops it: it ended by itself
    rt.stop(proc)
    with open(errp, "rb") as f:
        out = f.read()
    tmp.cleanup()
    if failures or died is not None:
        # what the app said besides its scored lines (an exception, a
        # sanitizer's report), for a failure seen once in CI
        if died is not None:
            ck.fail("%s: the app exited by itself, status %s" % (tag, died))
        said = [l for l in out.decode("utf-8", "replace").split("\n")
                if l.strip() and not LINE_RE.search(l)]
        for l in said[-30:]:
            print("     app: %s" % l[:300])

    tallies = {s: rt.Tally(s) for s in sites}
    total = rt.Tally("all")
    seen = 0
    for lineno, pid, text in rt.log_lines(ck, out):
        m = LINE_RE.search(text)
        if m is None:
            continue                 # start-up chatter, warnings: not scored
        site, rid = m.group(1), m.group(2)
        if rid.startswith("bg-"):
            # a background worker's line: it serves no request
            tallies.setdefault("bg", rt.Tally("background (right: no prefix)")).add(pid, None)
            continue
        if not rid.startswith(tag + "-"):
            continue
        seen += 1
        t = tallies.setdefault(site, rt.Tally(site))
        t.add(pid, rid)
        total.add(pid, rid)
    want = clients * per_client * len(sites)
    ck.check(seen == want, "%d scored lines, expected %d (%d requests x %d sites)"
             % (seen, want, clients * per_client, len(sites)))
    for f in failures[:5]:
        ck.fail("request failed: " + f)
    ck.note("%s: %d requests in %.2fs" % (tag, clients * per_client, secs))
    return tallies, total


def report(ck, label, tallies, total, strict):
    """Prints the figures; asserts wrong == 0 (with the bridge or without:
    a runtime whose bridge is off gets no prefix where the agent cannot
    vouch for it), and with strict also right >= 99%."""
    for t in list(tallies.values()) + [total]:
        ck.figure("%s %s" % (label, t.text()))
    ck.check(total.wrong == 0, "%s: %d lines carry another request's ID"
             % (label, total.wrong))
    if strict:
        ck.check(total.total and total.right >= 0.99 * total.total,
                 "%s: only %d of %d lines right" % (label, total.right, total.total))


def start_leaf(tmpdir, label):
    """A leaf service in another process, not under the agent
    (apps/trace_svc.py): it logs the headers each call arrived with.
    Returns (process, its stderr's path, its port)."""
    root, _lib, _t = rt.paths()
    err = os.path.join(tmpdir, "leaf.%s.err" % label)
    portfile = os.path.join(tmpdir, "leaf.%s.port" % label)
    with open(err, "wb") as e:
        proc = rt.start(["/usr/bin/python3", os.path.join(root, "tests", "integration", "apps",
                                                          "trace_svc.py"), "leaf", portfile],
                        stderr=e, env={k: v for k, v in os.environ.items()
                                       if k != "LD_PRELOAD" and not k.startswith("REQCTX_")})
    return proc, err, rt.read_port_file(portfile, proc)


def score_leaf(ck, label, leaf, want, strict):
    """Stops the leaf; scores the X-Request-Id each call to it arrived with
    against the ID in the call's path (/leaf/<id>): right, wrong (another
    request's: always a failure), none. `want` calls are expected; with
    `strict` at least 99% must be right. Calls for /leaf/bg-<n> serve no
    request (a background worker's): any ID they carry is wrong."""
    proc, path, _port = leaf
    rt.stop(proc)
    calls, bg = rt.Tally("calls"), rt.Tally("background calls (right: no ID)")
    with open(path, "rb") as f:
        for line in f.read().decode(errors="replace").splitlines():
            m = re.match(r"^leaf got /leaf/(\S+) (\{.*\})$", line)
            if m is None:
                continue
            got = json.loads(m.group(2)).get("X-Request-Id")
            if m.group(1).startswith("bg-"):
                if not bg.add(got, None):
                    ck.fail("%s: the background call %s carried %s" % (label, m.group(1), got))
            elif not calls.add(got, m.group(1)) and got is not None:
                ck.fail("%s: the call for %s carried %s" % (label, m.group(1), got))
    if bg.total:
        ck.figure("%s leaf %s" % (label, bg.text()))
    ck.figure("%s leaf %s" % (label, calls.text()))
    ck.check(calls.total == want, "%s: the leaf got %d calls, expected %d"
             % (label, calls.total, want))
    if strict:
        ck.check(calls.right >= 0.99 * calls.total, "%s: only %d of %d calls carried their ID"
                 % (label, calls.right, calls.total))
