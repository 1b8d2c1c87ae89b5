"""t_node_child's server: app_serve.serve_threaded (a thread per
connection, keep-alive) whose handler for GET /<tag>/<id> runs a Node
script in a child (its stderr the server's) and answers once it exited. The script
logs "site=top id=<id>", runs child_process.execSync, logs
"site=exec_sync", runs spawnSync, logs "site=spawn_sync", then from a
setTimeout callback "site=timer" and from a promise's reaction
"site=promise". GET /helper/<id> hands <id> to one Node helper that the
first such request started (its stdin a pipe, kept open): the helper
logs "site=helper id=<id>" for each line it reads and answers "ok" on
stdout; GET /pyhelper/<id> and /shhelper/<id> the same with a Python
helper and a bash `while read` loop (whose echo writes through stdio);
/spawnhelper/<id> the same with a loop that runs `sh -c 'echo ... >&2'`
per job (the helper itself writes no line); GET
/ipchelper/<id> sends <id> to a Node helper over an IPC channel as
child_process.fork makes one (its stdin /dev/null), which runs
child_process.execSync, logs it and answers. /readvhelper/, /recvhelper/
(its stdin a socketpair end), /duphelper/, /devhelper/, /pathhelper/,
/stdiohelper/, /fopenhelper/ and /forkhelper/ feed a Python helper that
takes each job with readv, recv, recvmmsg (those two on a socketpair
stdin), read of os.dup(0), read of an open of /dev/stdin or of a
spelling of /proc/self/task/<tid>/fd/0 with "//", "." and "..", libc's fgets on stdin or on
fopen("/dev/stdin"), or in one of two workers it forked, each reading
its stdin. Prints "listening <port>"
on stdout."""
import json
import os
import socket
import subprocess
import sys
import threading

from app_serve import serve_threaded

JS = r"""
const cp = require('child_process');
const id = process.argv[1];
const log = (site) => process.stderr.write('site=' + site + ' id=' + id + '\n');
log('top');
cp.execSync('true');
log('exec_sync');
cp.spawnSync('true');
log('spawn_sync');
setTimeout(() => {
	log('timer');
	Promise.resolve().then(() => log('promise'));
}, 2);
"""

HELPER_JS = r"""
const rl = require('readline').createInterface({ input: process.stdin });
rl.on('line', (id) => {
	process.stderr.write('site=helper id=' + id + '\n');
	process.stdout.write('ok\n');
});
"""
PY_HELPER = r"""
import sys
for line in sys.stdin:
    sys.stderr.write('site=helper id=' + line)
    sys.stderr.flush()
    print('ok', flush=True)
"""
IPC_JS = r"""
const cp = require('child_process');
process.on('message', (id) => {
	cp.execSync('true');
	process.stderr.write('site=helper id=' + id + '\n');
	process.send('ok');
});
"""
SH_HELPER = 'while read -r id; do echo "site=helper id=$id" >&2; echo ok; done'
# A helper that writes nothing itself: a command per job writes the line.
SPAWN_HELPER = ('while read -r id; do /bin/sh -c \'echo "site=helper id=$1" >&2\' _ "$id"; '
                'echo ok; done')
# Python helpers that take each job by another call or another fd on the
# same pipe: readv, recv (their stdin a socket), a copy of fd 0, an open
# of /dev/stdin, libc's fgets on stdin.
READ_HELPER = r"""
import ctypes, os, socket, sys, threading
how = sys.argv[1]
if how in ('stdio', 'fopen'):
    libc = ctypes.CDLL(None)
    if how == 'stdio':
        stdin = ctypes.c_void_p.in_dll(libc, 'stdin')
    else:
        libc.fopen.restype = ctypes.c_void_p
        stdin = ctypes.c_void_p(libc.fopen(b'/dev/stdin', b'r'))
    libc.fgets.restype = ctypes.c_char_p
    libc.fgets.argtypes = (ctypes.c_char_p, ctypes.c_int, ctypes.c_void_p)
    buf = ctypes.create_string_buffer(256)
    take = lambda: libc.fgets(buf, 256, stdin) or b''
elif how == 'readv':
    buf = bytearray(256)
    take = lambda: bytes(buf[:os.readv(0, [buf])])
elif how == 'recv':
    sock = socket.socket(fileno=0)
    take = lambda: sock.recv(256)
elif how == 'recvmmsg':             # one message of one buffer
    libc = ctypes.CDLL(None, use_errno=True)
    buf = ctypes.create_string_buffer(256)
    iov = (ctypes.c_void_p * 2)(ctypes.cast(buf, ctypes.c_void_p), 256)
    msg = (ctypes.c_ubyte * 64)()   # struct mmsghdr: a msghdr (56 bytes), msg_len
    ctypes.c_void_p.from_buffer(msg, 16).value = ctypes.addressof(iov)   # msg_iov
    ctypes.c_size_t.from_buffer(msg, 24).value = 1                       # msg_iovlen

    def take():
        n = libc.recvmmsg(0, msg, 1, 0, None)
        return buf.raw[:ctypes.c_uint.from_buffer(msg, 56).value] if n == 1 else b''
else:
    fd = {'dup': lambda: os.dup(0), 'dev': lambda: os.open('/dev/stdin', os.O_RDONLY),
          'path': lambda: os.open('//proc/self/task/%d/../%d/./fd/../fd/0'
                                  % ((threading.get_native_id(),) * 2), os.O_RDONLY),
          'fork': lambda: 0}[how]()
    take = lambda: os.read(fd, 256)
if how == 'fork':                   # two workers read the stdin; the helper waits
    for _ in range(2):
        if os.fork() == 0:
            break
    else:
        os.wait()
        os.wait()
        sys.exit(0)
while True:
    job = take()
    if not job:
        break
    os.write(2, b'site=helper id=' + job)
    os.write(1, b'ok\n')
"""
HELPERS = {"helper": ["node", "-e", HELPER_JS], "pyhelper": [sys.executable, "-c", PY_HELPER],
           "ipchelper": ["node", "-e", IPC_JS], "shhelper": ["/bin/bash", "-c", SH_HELPER],
           "spawnhelper": ["/bin/bash", "-c", SPAWN_HELPER]}
for how in ("readv", "recv", "recvmmsg", "dup", "dev", "stdio", "fopen", "path", "fork"):
    HELPERS[how + "helper"] = [sys.executable, "-c", READ_HELPER, how]
helpers = {}
helper_lock = threading.Lock()


class Ipc:
    """A Node child's IPC channel, as child_process.fork makes it (a
    socketpair end named by NODE_CHANNEL_FD; JSON lines), its stdin
    /dev/null."""

    def __init__(self, cmd):
        self.sock, theirs = socket.socketpair()
        env = dict(os.environ, NODE_CHANNEL_FD=str(theirs.fileno()))
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, pass_fds=[theirs.fileno()],
                                     env=env)
        theirs.close()
        self.rfile = self.sock.makefile("rb")

    def ask(self, rid):
        self.sock.sendall(json.dumps(rid).encode() + b"\n")
        self.rfile.readline()


def to_helper(kind, rid):
    with helper_lock:
        h = helpers.get(kind)
        if h is None and kind == "ipchelper":
            h = helpers[kind] = Ipc(HELPERS[kind])
        elif h is None and kind in ("recvhelper", "recvmmsghelper"):
            mine, theirs = socket.socketpair()
            h = helpers[kind] = subprocess.Popen(HELPERS[kind], stdin=theirs,
                                                 stdout=subprocess.PIPE)
            theirs.close()
            h.feed = mine
        elif h is None:
            h = helpers[kind] = subprocess.Popen(HELPERS[kind], stdin=subprocess.PIPE,
                                                 stdout=subprocess.PIPE)
        if kind == "ipchelper":
            h.ask(rid)
            return
        if kind in ("recvhelper", "recvmmsghelper"):
            h.feed.sendall(rid.encode() + b"\n")
        else:
            h.stdin.write(rid.encode() + b"\n")
            h.stdin.flush()
        h.stdout.readline()


def work(rid):
    kind = rid.split("-", 1)[0]        # the test's tag: /<tag>/<tag>-c<j>-r<n>
    if kind in HELPERS:
        to_helper(kind, rid)
    else:
        subprocess.run(["node", "-e", JS, rid], check=True)


serve_threaded(work)
