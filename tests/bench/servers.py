"""tests/bench/servers.py - the servers of tests/bench/run's `servers`
section: Apache httpd (event, worker and prefork MPMs, a static file, its
access log on stderr), PostgreSQL (pgbench -S), Redis (redis-benchmark
SET/GET) and HAProxy (`http-request return`, its httplog on stderr), each
started in a session of its own, loaded for a while by its usual client,
and measured by the CPU time of every process of that session.

Each runner takes (env, workdir, seconds, port) and returns
{"requests": N, "cpu_ns": T, "seconds": S} for the timed load, or raises Skip when the
server or its client is missing or does not start.
"""
import glob
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

TICK = os.sysconf("SC_CLK_TCK")
APACHE = "/usr/sbin/apache2"
APACHE_MODS = "/usr/lib/apache2/modules"
HAPROXY = "/usr/sbin/haproxy"


class Skip(Exception):
    pass


def _procs():
    """(pid, fields after the command name) of each process, from
    /proc/<pid>/stat."""
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                st = f.read()
        except OSError:
            continue
        # state ppid pgrp session ... utime(11) stime cutime cstime(14)
        yield int(d), st[st.rindex(")") + 2:].split()


def session_cpu_ns(sid):
    """CPU time so far of the processes of session `sid`: each live one's
    user and system time and what its reaped children used (clock ticks,
    in ns). A process that ended counts through whoever reaped it."""
    ticks = sum(sum(int(x) for x in rest[11:15]) for _pid, rest in _procs() if int(rest[3]) == sid)
    return ticks * 1000000000 // TICK


def _family(p):
    """How many processes server `p` runs: those of its session, and its
    children in sessions of their own (PostgreSQL's backends call setsid():
    their time counts once the postmaster has reaped them)."""
    return sum(1 for _pid, rest in _procs() if int(rest[3]) == p.pid or int(rest[1]) == p.pid)


def _settle(p, most, timeout=15):
    """Waits until server `p` runs at most `most` processes: the backends of
    an earlier client gone and reaped, so that their time is not counted in
    the next measurement."""
    deadline = time.monotonic() + timeout
    while _family(p) > most and time.monotonic() < deadline:
        time.sleep(0.05)


def _listening(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        return True
    except OSError:
        return False


def _start(argv, env, workdir, port, **kw):
    log = open(os.path.join(workdir, "server.log"), "ab")
    p = subprocess.Popen(argv, stdout=log, stderr=log, env=env, cwd=workdir,
                         start_new_session=True, **kw)
    log.close()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if p.poll() is not None:
            break
        if _listening(port):
            return p
        time.sleep(0.05)
    _stop(p)
    with open(os.path.join(workdir, "server.log"), "rb") as f:
        raise Skip("%s did not start: %s" % (os.path.basename(argv[0]),
                                             f.read()[-300:].decode(errors="replace")))


def _stop(p, sig=signal.SIGTERM):
    try:
        os.killpg(p.pid, sig)
        p.wait(timeout=15)
    except (OSError, subprocess.TimeoutExpired):
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except OSError:
            pass
        p.wait()


def _wrk(url, seconds, conns, tool_env):
    base = ["wrk", "-t2", "-c%d" % conns, "-H", "X-Request-Id: bench-servers-0001"]
    subprocess.run(base + ["-d1s", url], capture_output=True, env=tool_env, timeout=60)
    return base + ["-d%ds" % seconds, url]


def _wrk_requests(out):
    m = re.search(r"(\d+) requests in", out)
    if not m:
        raise Skip("wrk printed no count: %s" % out[-300:])
    return int(m.group(1))


def _timed(p, argv, tool_env, seconds, count, settle=False):
    """Runs the client `argv` against server `p`: the session's CPU over it
    and the requests count(stdout) says were served. `settle`: the server
    makes a process per connection; its CPU is read once they are reaped
    (the time of a process that ends between the reading of its parent and
    its own would be missed)."""
    idle = _family(p)
    cpu0, t0 = session_cpu_ns(p.pid), time.monotonic()
    r = subprocess.run(argv, capture_output=True, text=True, env=tool_env, timeout=seconds + 120)
    t1 = time.monotonic()
    if settle:
        _settle(p, idle)
    cpu1 = session_cpu_ns(p.pid)
    if r.returncode != 0:
        raise Skip("%s failed: %s" % (argv[0], (r.stdout + r.stderr)[-300:]))
    return {"requests": count(r.stdout), "cpu_ns": cpu1 - cpu0, "seconds": t1 - t0}


def _under_wrk(argv, env, workdir, port, path, conns, seconds, tool_env, stop_sig):
    """Starts the HTTP server `argv`, loads `path` with wrk, stops it with
    `stop_sig`."""
    p = _start(argv, env, workdir, port)
    try:
        url = "http://127.0.0.1:%d%s" % (port, path)
        return _timed(p, _wrk(url, seconds, conns, tool_env), tool_env, seconds, _wrk_requests)
    finally:
        _stop(p, stop_sig)


APACHE_MPM = {
    "event": "LoadModule mpm_event_module {m}/mod_mpm_event.so\n"
             "StartServers 2\nServerLimit 2\nThreadsPerChild 25\nMaxRequestWorkers 50\n",
    "worker": "LoadModule mpm_worker_module {m}/mod_mpm_worker.so\n"
              "StartServers 2\nServerLimit 2\nThreadsPerChild 25\nMaxRequestWorkers 50\n",
    "prefork": "LoadModule mpm_prefork_module {m}/mod_mpm_prefork.so\n"
               "StartServers 40\nMinSpareServers 40\nMaxSpareServers 48\nServerLimit 48\n"
               "MaxRequestWorkers 48\n",
}


def apache(mpm):
    def run(env, workdir, seconds, port, tool_env):
        if not os.access(APACHE, os.X_OK) or not shutil.which("wrk"):
            raise Skip("apache2 or wrk not installed")
        root = tempfile.mkdtemp(prefix="apache-%s." % mpm, dir=workdir)
        for d in ("htdocs", "run"):
            os.makedirs(os.path.join(root, d))
        with open(os.path.join(root, "htdocs", "index.html"), "w") as f:
            f.write("<!doctype html><title>bench</title>\n" + "<p>reqctx benchmark page</p>\n" * 34)
        user = "User www-data\nGroup www-data\n" if os.getuid() == 0 else ""
        conf = os.path.join(root, "httpd.conf")
        with open(conf, "w") as f:
            f.write("ServerRoot {root}\nServerName 127.0.0.1\nListen 127.0.0.1:{port}\n"
                    "PidFile {root}/run/httpd.pid\nDefaultRuntimeDir {root}/run\n"
                    "Mutex file:{root}/run default\n{user}"
                    "LoadModule authz_core_module {m}/mod_authz_core.so\n"
                    "LoadModule mime_module {m}/mod_mime.so\n{mpm}"
                    "ErrorLog /dev/stderr\nLogLevel warn\n"
                    "LogFormat \"%h %{{X-Request-Id}}i \\\"%r\\\" %>s %b\" reqlog\n"
                    "CustomLog /dev/stderr reqlog\n"
                    "KeepAlive On\nMaxKeepAliveRequests 0\nDocumentRoot {root}/htdocs\n"
                    "TypesConfig /dev/null\n<Directory {root}>\n    Require all granted\n</Directory>\n"
                    .format(root=root, port=port, m=APACHE_MODS, user=user,
                            mpm=APACHE_MPM[mpm].format(m=APACHE_MODS)))
        os.chmod(root, 0o755)
        return _under_wrk([APACHE, "-f", conf, "-DFOREGROUND"], env, root, port, "/index.html",
                          32, seconds, tool_env, signal.SIGTERM)
    return run


def haproxy(env, workdir, seconds, port, tool_env):
    if not os.access(HAPROXY, os.X_OK) or not shutil.which("wrk"):
        raise Skip("haproxy or wrk not installed")
    d = tempfile.mkdtemp(prefix="haproxy.", dir=workdir)
    cfg = os.path.join(d, "haproxy.cfg")
    with open(cfg, "w") as f:
        f.write("global\n    nbthread 2\n    log stderr format raw local0 info\n"
                "defaults\n    mode http\n    log global\n    option httplog\n"
                "    timeout connect 1s\n    timeout client 10s\n    timeout server 10s\n"
                "frontend fe\n    bind 127.0.0.1:%d\n    capture request header X-Request-Id len 64\n"
                "    http-request return status 200 content-type text/plain string ok\n" % port)
    return _under_wrk([HAPROXY, "-f", cfg, "-db"], env, d, port, "/", 50, seconds, tool_env,
                      signal.SIGUSR1)      # soft stop


def redis(env, workdir, seconds, port, tool_env):
    srv, cli = shutil.which("redis-server"), shutil.which("redis-benchmark")
    if not srv or not cli:
        raise Skip("redis-server or redis-benchmark not installed")
    d = tempfile.mkdtemp(prefix="redis.", dir=workdir)
    p = _start([srv, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                "--logfile", "", "--dir", d], env, d, port)
    n = 15000 * seconds          # about `seconds` at this machine's rate, per test
    try:
        return _timed(p, [cli, "-h", "127.0.0.1", "-p", str(port), "-c", "50", "-n", str(n),
                          "-t", "set,get", "-q"], tool_env, seconds, lambda out: 2 * n)
    finally:
        _stop(p)


def _pg_bindir():
    for d in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if os.access(os.path.join(d, "postgres"), os.X_OK) and os.access(os.path.join(d, "initdb"), os.X_OK):
            return d
    return None


def postgresql(env, workdir, seconds, port, tool_env):
    bindir = _pg_bindir()
    if bindir is None or not shutil.which("pgbench"):
        raise Skip("PostgreSQL or pgbench not installed")
    # Not under workdir: the server's user must reach its directory.
    d = tempfile.mkdtemp(prefix="reqctx-bench-pg.")
    os.chmod(d, 0o755)
    try:
        return _postgresql(bindir, d, env, seconds, port, tool_env)
    finally:
        shutil.rmtree(d, ignore_errors=True)


def _postgresql(bindir, d, env, seconds, port, tool_env):
    as_user = {}
    if os.getuid() == 0:
        import pwd
        try:
            u = pwd.getpwnam("postgres")
        except KeyError:
            raise Skip("running as root and there is no postgres user")
        os.chown(d, u.pw_uid, u.pw_gid)
        as_user = dict(user=u.pw_uid, group=u.pw_gid, extra_groups=[])
    data = os.path.join(d, "data")
    plain = {k: v for k, v in tool_env.items() if not k.startswith("PG")}
    r = subprocess.run([os.path.join(bindir, "initdb"), "-D", data, "-A", "trust", "-U", "postgres",
                        "--no-sync", "-E", "UTF8", "--locale=C"], stdin=subprocess.DEVNULL,
                       capture_output=True, env=plain, cwd=d, timeout=120, **as_user)
    if r.returncode != 0:
        raise Skip("initdb failed")
    p = _start([os.path.join(bindir, "postgres"), "-D", data, "-c", "listen_addresses=127.0.0.1",
                "-c", "port=%d" % port, "-c", "unix_socket_directories=" + d, "-c", "fsync=off",
                "-c", "autovacuum=off", "-c", "log_destination=stderr", "-c", "logging_collector=off",
                "-c", "log_connections=on", "-c", "log_disconnections=on"],
               {k: v for k, v in env.items() if not k.startswith("PG")}, d, port, **as_user)
    try:
        pg = ["-h", "127.0.0.1", "-p", str(port), "-U", "postgres"]
        time.sleep(0.5)
        idle = _family(p)     # the postmaster and its helpers
        r = subprocess.run(["pgbench", "-i", "-s", "2", "-q"] + pg + ["postgres"], capture_output=True,
                           env=plain, timeout=120)
        if r.returncode != 0:
            raise Skip("pgbench -i failed: %s" % r.stderr[-300:])
        _settle(p, idle)

        def count(out):
            m = re.search(r"number of transactions actually processed: (\d+)", out)
            if not m:
                raise Skip("pgbench printed no count")
            return int(m.group(1))
        return _timed(p, ["pgbench", "-S", "-c", "8", "-j", "2", "-T", str(seconds)] + pg + ["postgres"],
                      plain, seconds, count, settle=True)
    finally:
        _stop(p, signal.SIGINT)       # fast shutdown


def _agent_env(runner, **extra):
    """`runner` with `extra` added to the environment (REQCTX_* variables:
    without the agent nothing reads them)."""
    def run(env, *args):
        return runner(dict(env, **extra), *args)
    return run


RUNNERS = [("apache event", apache("event")), ("apache worker", apache("worker")),
           ("apache prefork", apache("prefork")), ("postgresql", postgresql),
           ("redis", redis), ("haproxy", haproxy),
           ("haproxy, REQCTX_EPOLL=batch", _agent_env(haproxy, REQCTX_EPOLL="batch"))]

# Rows that explain another row and are no target: HAProxy's loop turn
# makes two system calls of its own (clock_gettime of the thread's CPU
# clock, around its poll), so one epoll event per call (the default) adds
# two per request; in batches its lines carry no ID (docs/performance.md).
DIAGNOSTIC = {"haproxy, REQCTX_EPOLL=batch"}
