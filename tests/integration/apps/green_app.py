"""WSGI app for t_rt_green: request handlers that are green threads
(gevent's, or eventlet's with APP_HUB=eventlet). Every line it writes to
stderr is "site=<log-site> id=<the id in the query string>":
  arrival      first thing in the handler
  after_sleep  after a green sleep of 1 to 20 ms: the hub ran other
               requests' handlers meanwhile, with no libc call between
               their lines that says whose they are
  spawned      in a greenlet the handler spawns (gevent.spawn,
               eventlet.spawn) and waits for
  lifo_worker  in a worker greenlet the first request spawns, taking every
               request's item from a LIFO queue (no ID: never the first
               request's)
  generator    in a long-lived greenlet every request resumes by a direct
               switch (a greenlet-based generator), then returns from
  pool_job     with APP_HUB=eventlet: in a job eventlet.tpool runs on its
               threads for the request (tpool wakes its hub through a
               TCP connection the process makes to itself)
  end          before it answers
Run as a program (python3 green_app.py PORT) it serves itself with
gevent.pywsgi on the loop GEVENT_BACKEND names (poll, select, epoll), or
eventlet.wsgi on the hub EVENTLET_HUB names; uWSGI --gevent loads it as a
module (its `application`).
"""
import os
import random
import sys
import urllib.parse

import greenlet

if os.environ.get("APP_HUB") == "eventlet":
    import eventlet
    import eventlet.tpool
    sleep = eventlet.sleep
else:
    import gevent
    sleep = gevent.sleep


def log(site, rid):
    sys.stderr.write("site=%s id=%s\n" % (site, rid))
    sys.stderr.flush()


def _generator(rid, caller):
    while True:
        log("generator", rid)
        rid, caller = caller.switch()


_GEN = []
_WORKER = []


def _lifo_worker(jobs):
    while True:
        rid, done = jobs.get()
        log("lifo_worker", rid)
        done.set()


def lifo_step(rid):
    """Hands the request's item to the worker the first request started."""
    if os.environ.get("APP_HUB") == "eventlet":
        import eventlet.event
        import eventlet.queue
        if not _WORKER:
            _WORKER.append(eventlet.queue.LifoQueue())
            eventlet.spawn(_lifo_worker, _WORKER[0])
        done = eventlet.event.Event()
        _WORKER[0].put((rid, type("Done", (), {"set": lambda self: done.send()})()))
        done.wait()
    else:
        import gevent.event
        import gevent.queue
        if not _WORKER:
            _WORKER.append(gevent.queue.LifoQueue())
            gevent.spawn(_lifo_worker, _WORKER[0])
        done = gevent.event.Event()
        _WORKER[0].put((rid, done))
        done.wait()


def generator_step(rid):
    """Resumes the one generator greenlet with this request's ID; it logs
    and switches straight back."""
    if not _GEN or _GEN[0].dead:
        _GEN[:] = [greenlet.greenlet(_generator)]
    _GEN[0].switch(rid, greenlet.getcurrent())


def application(environ, start_response):
    rid = urllib.parse.parse_qs(environ.get("QUERY_STRING", "")).get("id", ["-"])[0]
    log("arrival", rid)
    sleep(random.uniform(0.001, 0.02))
    log("after_sleep", rid)
    if os.environ.get("APP_HUB") == "eventlet":
        eventlet.spawn(log, "spawned", rid).wait()
    else:
        gevent.spawn(log, "spawned", rid).join()
    generator_step(rid)
    lifo_step(rid)
    if os.environ.get("APP_HUB") == "eventlet":
        eventlet.tpool.execute(log, "pool_job", rid)
    body = ("ok %s\n" % rid).encode()
    log("end", rid)
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


if __name__ == "__main__":
    if os.environ.get("APP_HUB") == "eventlet":
        from eventlet import wsgi

        wsgi.server(eventlet.listen(("127.0.0.1", int(sys.argv[1]))), application, log_output=False)
    else:
        from gevent.pywsgi import WSGIServer

        WSGIServer(("127.0.0.1", int(sys.argv[1])), application, log=None).serve_forever()
