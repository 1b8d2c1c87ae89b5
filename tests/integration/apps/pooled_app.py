"""tests/integration/t_pooled: a threaded http.server (no runtime bridge
involved: its threads serve requests natively) that calls a leaf service
through one shared keep-alive connection. GET /<tag>/<id> logs on arrival
("site=arrival"), calls GET /leaf/<id> on it and logs after
("site=called"). A thread the app starts with itself, outside any
request, calls GET /leaf/bg-<n> on the same connection every 20 ms and
logs before and after ("site=bg id=bg-<n>"): it serves no request, and the
connection it writes to was last used by one."""
import http.client
import http.server
import os
import sys

import leaf_caller
import threading
import time

lock = threading.Lock()
conn = http.client.HTTPConnection("127.0.0.1", int(os.environ["LEAF_PORT"]), timeout=10)


def call(path):
    with lock:
        conn.request("GET", path)
        conn.getresponse().read()


def background():
    n = 0
    while True:
        time.sleep(0.02)
        n += 1
        sys.stderr.write("site=bg id=bg-%d\n" % n)
        call("/leaf/bg-%d" % n)
        sys.stderr.write("site=bg id=bg-%d\n" % n)


H = leaf_caller.handler(call)


srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
threading.Thread(target=background, daemon=True).start()
sys.stdout.write("listening %d\n" % srv.server_address[1])
sys.stdout.flush()
srv.serve_forever()
