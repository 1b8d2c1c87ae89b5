"""t_print_pieces's server: app_serve.serve_threaded (a thread per
connection) whose work for GET /<tag>/<id> prints five lines to stderr,
each with print()'s several arguments ("site=p<i>", "id=<id>", "step",
<i>), which CPython writes one by one, releasing its GIL around each
write: another thread may run between two pieces of one line."""
import sys

from app_serve import serve_threaded


def work(rid):
    for i in range(5):
        print("site=p%d" % i, "id=" + rid, "step", i, file=sys.stderr)


serve_threaded(work)
