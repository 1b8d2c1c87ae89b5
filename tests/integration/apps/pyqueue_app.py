"""tests/integration/t_pyqueue: a threaded http.server (a thread per
connection) whose handlers call a leaf service through a connection pool
kept the way urllib3 keeps one (so requests.Session): a queue.LifoQueue
filled with placeholders, checked out with get(block=False) and checked
in with put. GET /<tag>/<id> logs "site=arrival id=<id>", calls
GET /leaf/<id>, logs "site=called id=<id>". With POOL_BLOCK=1 the pool
holds 2 and a checkout waits for a free one (urllib3's block=True; a pool
whose checkout waits on a threading.Condition is the same to the
bridge). Prints "listening <port>"."""
import http.client
import http.server
import os
import queue
import socketserver

import leaf_caller

LEAF = int(os.environ["LEAF_PORT"])
BLOCK = os.environ.get("POOL_BLOCK") == "1"
SIZE = 2 if BLOCK else 4
pool = queue.LifoQueue(maxsize=SIZE)
for _ in range(SIZE):
    pool.put(None)


def call(path):
    try:
        conn = pool.get(block=BLOCK, timeout=10 if BLOCK else None)   # urllib3: _get_conn
    except queue.Empty:
        conn = None                         # more callers than the pool holds
    if conn is None:
        conn = http.client.HTTPConnection("127.0.0.1", LEAF, timeout=10)
    try:
        conn.request("GET", path)
        conn.getresponse().read()
    finally:
        try:
            pool.put(conn, block=False)     # urllib3: _put_conn
        except queue.Full:
            conn.close()


H = leaf_caller.handler(call)


class S(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


srv = S(("127.0.0.1", 0), H)
print("listening %d" % srv.server_address[1], flush=True)
srv.serve_forever()
