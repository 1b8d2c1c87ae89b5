"""WSGI app for t_rt_wsgi (gunicorn, uWSGI). Every line it writes to stderr
is "site=<log-site> id=<the id in the query string> pid=<pid>":
  arrival   in the request handler, first thing
  pool_job  inside a job run by a module-level ThreadPoolExecutor
  thread    inside a threading.Thread the handler starts and joins
  end       in the handler, before it answers
"""
import concurrent.futures
import os
import sys
import threading
import time
import urllib.parse

POOL = concurrent.futures.ThreadPoolExecutor(max_workers=4)


def log(site, rid):
    # one write per line, as the logging module does
    sys.stderr.write("site=%s id=%s pid=%d\n" % (site, rid, os.getpid()))
    sys.stderr.flush()


def job(rid):
    time.sleep(0.001)
    log("pool_job", rid)
    return rid


def application(environ, start_response):
    q = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
    rid = q.get("id", ["-"])[0]
    log("arrival", rid)
    POOL.submit(job, rid).result()
    t = threading.Thread(target=log, args=("thread", rid))
    t.start()
    t.join()
    log("end", rid)
    body = ("ok %s\n" % rid).encode()
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]
