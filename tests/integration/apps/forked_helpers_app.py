"""tests/integration/t_forked_helpers: a threaded http.server whose first
request forks two helpers that serve every later request, and whose
every request forks a child that does that request's own work.
GET /<tag>/<id> logs "site=arrival id=<id>"; hands <id> to the helpers:
one reads ids from a pipe ("site=pipe_helper id=<id>"), one polls a
spool file after each time.sleep ("site=spool_helper id=<id>"); forks a
child that logs "site=fork_job id=<id>" and exits, waits for it, and
answers. The helpers end with the server (the pipe's end, the parent's
pid). Prints "listening <port>"."""
import os
import tempfile
import threading
import time
from threaded_app import Handler, serve

pipe_r, pipe_w = os.pipe()
spool = tempfile.NamedTemporaryFile(prefix="reqctx-spool-", delete=False)
spool.close()
started = []
lock = threading.Lock()
parent = os.getpid()


def log(site, rid):
    os.write(2, ("site=%s id=%s\n" % (site, rid)).encode())


def pipe_helper():
    os.close(pipe_w)
    buf = b""
    while True:
        got = os.read(pipe_r, 4096)
        if not got:
            os._exit(0)
        buf += got
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            log("pipe_helper", line.decode())


def spool_helper():
    os.close(pipe_w)
    at = 0
    while os.getppid() == parent:
        time.sleep(0.02)
        with open(spool.name, "rb") as f:
            f.seek(at)
            data = f.read()
        done = data.rfind(b"\n") + 1
        at += done
        for line in data[:done].splitlines():
            log("spool_helper", line.decode())
    os.unlink(spool.name)
    os._exit(0)


def fork(fn):
    if os.fork() == 0:
        try:
            fn()
        finally:
            os._exit(0)


class H(Handler):
    def do_GET(self):
        rid = self.request_id()
        log("arrival", rid)
        with lock:
            if not started:
                fork(pipe_helper)
                fork(spool_helper)
                started.append(True)
        os.write(pipe_w, (rid + "\n").encode())
        with open(spool.name, "ab") as f:
            f.write((rid + "\n").encode())
        pid = os.fork()
        if pid == 0:
            log("fork_job", rid)
            os._exit(0)
        os.waitpid(pid, 0)
        self.answer_ok()


serve(H)
