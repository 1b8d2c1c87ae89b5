"""WSGI app for t_rt_gunicorn and t_rt_uwsgi. Every line it writes to stderr
is "site=<log-site> id=<the id in the query string> pid=<pid>":
  arrival   in the request handler, first thing
  pool_job  inside a job run by a module-level ThreadPoolExecutor
  thread    inside a threading.Thread the handler starts and joins, after
            it checked a resource out of a LIFO pool with a get that may
            wait
  lazy_worker  with APP_LAZY_WORKER=1: in a queue.Queue worker thread the
            first request starts (it must never carry that request into
            later jobs)
  after_call  with APP_UPSTREAM=<port>: after the handler called that
            service (another process) with urllib, on a connection of its
            own that it closes (GET /leaf/<id>); with APP_SESSION=1 through
            one requests.Session the whole process shares (urllib3's pool:
            keep-alive connections one request opened, checked with a poll
            that does not wait and reused by others); APP_SESSION=block:
            the same with a pool of 2 connections whose checkout waits
            (pool_block=True: urllib3's own LIFO queue, a blocking get)
  end       in the handler, before it answers
With APP_LOG_MIX=1 each site's line is also written 4 times with
sys.stderr.write (ending "via=write0".."via=write3") and 4 times with
print(..., file=sys.stderr, flush=True) ("via=print0".."via=print3"), with
no lock of the app's: nine lines a site.
"""
import concurrent.futures
import logging
import os
import queue
import sys
import threading
import time
import urllib.parse
import urllib.request

POOL = concurrent.futures.ThreadPoolExecutor(max_workers=4)
JOBS = queue.Queue()
LAZY = os.environ.get("APP_LAZY_WORKER") == "1"   # the lazy_worker site
UPSTREAM = os.environ.get("APP_UPSTREAM")           # the after_call site
SESSION = None
if os.environ.get("APP_SESSION") in ("1", "block"):
    import requests
    SESSION = requests.Session()
    if os.environ["APP_SESSION"] == "block":
        SESSION.mount("http://", requests.adapters.HTTPAdapter(pool_connections=1, pool_maxsize=2,
                                                               pool_block=True))
_LAZY = []
_LAZY_LOCK = threading.Lock()


def lazy_worker():
    while True:
        rid = JOBS.get()
        log("lazy_worker", rid)


# The logging module, as apps do: its handler lock makes each line one
# write by the thread that logs it. Bare sys.stderr.write and print(...,
# flush=True) from several threads (APP_LOG_MIX) are not: under uWSGI
# sys.stderr sits on one io.BufferedWriter, and one thread's flush writes
# lines other threads put there (the Python bridge reports who put each
# line in: agent/buffered.h).
MIX = os.environ.get("APP_LOG_MIX") == "1"
LOG = logging.getLogger("wsgi_app")
_handler = logging.StreamHandler(sys.stderr)
_handler.setFormatter(logging.Formatter("%(message)s"))
LOG.addHandler(_handler)
LOG.setLevel(logging.INFO)
LOG.propagate = False


def log(site, rid):
    LOG.info("site=%s id=%s pid=%d", site, rid, os.getpid())
    if MIX:
        for k in range(4):
            sys.stderr.write("site=%s id=%s pid=%d via=write%d\n" % (site, rid, os.getpid(), k))
            print("site=%s id=%s pid=%d via=print%d" % (site, rid, os.getpid(), k),
                  file=sys.stderr, flush=True)


def job(rid):
    time.sleep(0.001)
    log("pool_job", rid)
    return rid


def fan_out(rid):
    """A thread the handler starts and joins: it checks a resource out of
    a pool of its own first, as urllib3 does with pool_block=True (a LIFO
    queue, a get that may wait): work of the request that started it."""
    pool = queue.LifoQueue()
    pool.put("resource")
    pool.get(block=True)
    log("thread", rid)


def application(environ, start_response):
    q = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
    rid = q.get("id", ["-"])[0]
    log("arrival", rid)
    if LAZY:
        with _LAZY_LOCK:
            if not _LAZY:               # started inside the first request
                _LAZY.append(threading.Thread(target=lazy_worker, daemon=True))
                _LAZY[0].start()
        JOBS.put(rid)
    POOL.submit(job, rid).result()
    t = threading.Thread(target=fan_out, args=(rid,))
    t.start()
    t.join()
    if UPSTREAM:
        url = "http://127.0.0.1:%s/leaf/%s" % (UPSTREAM, rid)
        if SESSION is not None:
            SESSION.get(url, timeout=10).content
        else:
            with urllib.request.urlopen(url, timeout=10) as r:
                r.read()
        log("after_call", rid)
    log("end", rid)
    body = ("ok %s\n" % rid).encode()
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]
