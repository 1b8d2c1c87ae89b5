#!/usr/bin/env python3
"""conn_seeds.py - writes the seed corpus of fuzz_conn (tests/fuzz/corpus/conn),
in the encoding tests/fuzz/fuzz_conn.c decodes (see its header comment).
Run from the top of the tree: tests/fuzz/conn_seeds.py"""
import os

C1 = 8          # op + C1: the op on connection 1
RAW, HTTP, FRAMED, READ, WRITE, CLOSE, TURN, READALL = range(8)
WHOLE = 0x80    # a read's `shown` byte: all of it shown

# HTTP template flags
ID, TP, CL, TE, EXPECT, CONN, TENANT, BODY = (1 << i for i in range(8))
# response table indexes
R200, RCLOSE, R100, R101, R103, R413, R204, R10, RCHUNK, RID, RFCGI, RREDIS = range(12)
SERVED = 4      # first byte: the thread has served before


def http(method=0, flags=ID, idk=0, clen=0, eol=0, c=0):
    return bytes([HTTP + c, method, flags, idk, clen, eol])


def read(k, shown=WHOLE, c=0):
    return bytes([READ + c, k, shown])


def write(r, cut=0, c=0):
    return bytes([WRITE + c, r, cut])


def raw(b, c=0):
    return bytes([RAW + c, len(b)]) + b


EXACT = 3 << 3  # eol byte: a body of exactly Content-Length bytes

seeds = {
    # the crash fixed in 0e19392: a head split after its Content-Length
    # line ("POST /a ... X-Request-Id: req-1 ... Content-Length: 5\r\n" is
    # 58 bytes), the blank line and the body in the next read
    "split_head_clen": bytes([0]) + http(1, ID | CL | BODY, 0, 5, EXACT) + read(58) + read(7),
    "keepalive": bytes([SERVED]) + http() + bytes([READALL]) + write(R200)
        + http(0, ID | TP) + bytes([READALL]) + write(R200, 0x80 | 9),
    "pipelined": bytes([0]) + http() + http(0, ID, 1) + bytes([READALL]) + write(R200)
        + bytes([READALL]),
    "byte_at_a_time": bytes([0]) + http() + http(0, ID, 2) + read(38) + read(1) * 12
        + write(R200) + bytes([READALL]),
    "expect_100": bytes([1]) + http(1, ID | CL | EXPECT | BODY, 3, 20, EXACT) + read(200, 0x20)
        + write(R100) + bytes([READALL]) + write(R200),
    "upgrade_101": bytes([2]) + http(0, ID | CONN | TENANT, 0, 0, 0) + bytes([READALL])
        + write(R101) + raw(b"\x81\x05hello") + bytes([READALL]) + write(RREDIS),
    "conn_close": bytes([0]) + http(0, ID | CONN, 0, 0, 2) + bytes([READALL]) + write(RCLOSE)
        + raw(b"GET /x HTTP/1.1\r\n\r\n") + bytes([READALL, CLOSE, CLOSE]) + http() + bytes([READALL]),
    "early_413": bytes([SERVED]) + http(1, ID | CL | BODY, 0, 40, EXACT) + read(70) + write(R413)
        + read(10) + bytes([READALL]) + http(0, ID, 1) + bytes([READALL]),
    "vector_read": bytes([0]) + http(2, ID | CL | BODY, 0, 30, EXACT) + http(0, ID, 0)
        + read(100, 0x10) + write(R200) + read(20, 0x00) + read(200, 0x08),
    "chunked_lf": bytes([3]) + http(1, ID | TP | TE | BODY, 0x13, 0, 1 | (2 << 3)) + bytes([READALL])
        + write(RCHUNK) + http(0, ID | CL | BODY, 0, 0x80 | 1, 1) + bytes([READALL]),
    "two_conns_one_turn": bytes([SERVED]) + bytes([CLOSE + C1]) + http() + http(0, ID, 1, c=C1)
        + bytes([READALL, READALL + C1]) + write(R200) + write(R200, c=C1)
        + bytes([TURN, TURN + C1]),
    "fcgi": bytes([0]) + bytes([FRAMED, 0x10, 0, 7]) + read(8) + read(100) + bytes([READALL])
        + write(RFCGI) + bytes([FRAMED, 0x00, 1, 40, READALL]),
    "uwsgi": bytes([0]) + bytes([FRAMED, 1, 0, 1]) + read(4) + bytes([READALL]) + write(R200)
        + bytes([FRAMED, 1, 2, 1, READALL]),
    "scgi": bytes([1]) + bytes([FRAMED, 2, 0, 2]) + read(10) + bytes([READALL]) + write(R200)
        + bytes([FRAMED, 2, 3, 0, READALL]),
    "long_ids": bytes([0]) + http(0, ID, 3) + bytes([READALL]) + write(R200) + http(0, ID, 4)
        + bytes([READALL]) + write(R200) + http(0, ID, 5) + bytes([READALL]) + write(R10),
}

out = "tests/fuzz/corpus/conn"
os.makedirs(out, exist_ok=True)
for name, data in seeds.items():
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)
