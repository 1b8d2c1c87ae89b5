"""A session protocol the agent does not parse, shaped like PostgreSQL's:
each message is a 4-byte big-endian length (itself included) and a
payload; the server answers every message and writes one line per round
trip: "site=session conn=<n> q=<k>". One thread per connection. Prints
its port on stdout."""
import socket
import struct
import sys
import threading

def serve(c, n):
    k = 0
    with c:
        while True:
            head = c.recv(4, socket.MSG_WAITALL)
            if len(head) < 4:
                return
            (ln,) = struct.unpack(">I", head)
            body = c.recv(ln - 4, socket.MSG_WAITALL) if ln > 4 else b""
            k += 1
            sys.stderr.write("site=session conn=%d q=%d len=%d\n" % (n, k, len(body)))
            sys.stderr.flush()
            c.sendall(b"Z\0\0\0\x05I")

def main():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(64)
    print(s.getsockname()[1], flush=True)
    n = 0
    while True:
        c, _ = s.accept()
        n += 1
        threading.Thread(target=serve, args=(c, n), daemon=True).start()

main()
