"""A WSGI server (wsgiref) for t_child_data: each request (GET /<case>)
runs helpers the way a server does inside a request and answers with what
they gave it, as the repr of a tuple: the bytes it captured, the helpers'
exit status, and the bytes of the files they wrote. The helpers' stdout, stderr and files
are their data: the agent may change none of it.
  pipeline  a shell pipeline's stdout, captured (subprocess.run)
  files     files a shell writes with `>`, in a fresh directory
  crash     a helper that writes a line to its captured stderr and then
            dies of SIGSEGV
  inherit   a shell on the server's own stdout (not captured) that writes
            a file with `>` and then a line to that stdout
Prints "listening <port>" on stdout."""
import os
import subprocess
import sys
import tempfile
from wsgiref.simple_server import WSGIRequestHandler, make_server

CASES = {
    "pipeline": "seq 2; echo hi | cat; seq 1 | cat",
    "files": "echo data > f1; seq 3 > f2; printf 'a\\nb' > f3; echo err-line 2>/dev/null >&2",
    "crash": "",
    "inherit": "echo data > f1; echo after-inherit",
}


def run(case):
    d = tempfile.mkdtemp(prefix="child_data.")
    if case == "crash":
        argv = [sys.executable, "-c",
                "import sys, ctypes; sys.stderr.write('before\\n'); sys.stderr.flush(); ctypes.string_at(0)"]
    else:
        argv = ["sh", "-c", CASES[case]]
    sys.stdout.flush()
    r = subprocess.run(argv, capture_output=case != "inherit", cwd=d)
    files = tuple(open(os.path.join(d, f), "rb").read() for f in sorted(os.listdir(d)))
    return repr((r.stdout, r.stderr, r.returncode, files)).encode()


def app(environ, start_response):
    sys.stderr.write("req=%s running\n" % environ["PATH_INFO"])
    sys.stderr.flush()
    body = run(environ["PATH_INFO"].strip("/"))
    start_response("200 OK", [("Content-Length", str(len(body)))])
    return [body]


class Quiet(WSGIRequestHandler):
    def log_message(self, *a):
        pass


srv = make_server("127.0.0.1", 0, app, handler_class=Quiet)
print("listening %d" % srv.server_port, flush=True)
srv.serve_forever()
