"""t_child_files' server: inside each request it has helpers write to a
regular file or a pseudo-terminal it then reads back as data, and answers
with the repr of what it read (a dict: site -> bytes):
  ext      sh -c 'sh -c "echo ... >&2" 2>FILE'  (a command's 2>FILE)
  builtin  sh -c 'echo ... 2>FILE >&2'          (the shell's own write)
  exec     sh -c 'exec 2>FILE; ...'
  both     sh -c '{ echo ...; echo ... >&2; } >FILE 2>&1'
  fork     os.fork(), the child os.dup2()s FILE onto fd 2 and writes (no exec)
  pty      pty.fork(), the child writes to fd 2 (the terminal)
  script   script -qc 'echo ... >&2' /dev/null (where util-linux's script is)
(pty and script where the machine gives pseudo-terminals)
Its own lines ("req=<path> ...") go to stderr, one of them written in
pieces around a dup2 and a dup3 onto fd 2 that fail. Before it serves, it forks
a worker outside any request that points its fd 2 at a log file of its
own (argv[1]), as a server's worker reopens its error log, and serves
on a second port; its lines there must keep their requests' IDs. Prints
"listening <port> <worker port>"."""
import ctypes
import http.server
import os
import pty
import shutil
import subprocess
import sys
import tempfile

from app_serve import repr_handler

SCRIPT = shutil.which("script")


def read_file(run):
    fd, path = tempfile.mkstemp(prefix="child_files.")
    os.close(fd)
    try:
        run(path)
        with open(path, "rb") as f:
            return f.read()
    finally:
        os.unlink(path)


def sh(cmd):
    return lambda path: subprocess.run(["/bin/sh", "-c", cmd.replace("FILE", path)], check=True)


def fork_file(path):
    pid = os.fork()
    if pid == 0:
        os.dup2(os.open(path, os.O_WRONLY), 2)
        os.write(2, b"helper fork\n")
        os._exit(0)
    os.waitpid(pid, 0)


def capfd(path, fd1_from_fd2=False):
    """The server's own stdout and stderr captured in a file, as pytest's
    capfd does, inside the request: dup2 of the file onto fd 1, then fd
    2 (or onto fd 2, then fd 2 onto fd 1), a write to each, both
    restored. What fd 1 wrote there is data."""
    saved = os.dup(1), os.dup(2)
    cap = os.open(path, os.O_WRONLY | os.O_APPEND)
    if fd1_from_fd2:
        os.dup2(cap, 2)
        os.dup2(2, 1)
    else:
        os.dup2(cap, 1)
        os.dup2(cap, 2)
    os.write(1, b"captured stdout%s\n" % (b" 21" if fd1_from_fd2 else b""))
    os.write(2, b"captured stderr\n")
    os.dup2(saved[0], 1)
    os.dup2(saved[1], 2)
    for fd in saved + (cap,):
        os.close(fd)


def stdout_only(data):
    return b"".join(l for l in data.splitlines(True) if b"stdout" in l)


def read_pty(m):
    out = b""
    while True:
        try:
            d = os.read(m, 4096)
        except OSError:         # EIO: the child closed the terminal
            break
        if not d:
            break
        out += d
    return out


def pty_child():
    pid, m = pty.fork()
    if pid == 0:
        os.write(2, b"helper pty\n")
        os._exit(0)
    out = read_pty(m)
    os.waitpid(pid, 0)
    os.close(m)
    return out


def script():
    r = subprocess.run([SCRIPT, "-qc", "echo helper script >&2", "/dev/null"],
                       capture_output=True, check=True)
    return r.stdout


def have_pty():
    """Whether this machine gives pseudo-terminals (a container may not)."""
    try:
        m, t = os.openpty()
    except OSError:
        return False
    os.close(m)
    os.close(t)
    return True


SITES = {
    "ext": lambda: read_file(sh('sh -c "echo helper ext >&2" 2>FILE')),
    "builtin": lambda: read_file(sh("echo helper builtin 2>FILE >&2")),
    "exec": lambda: read_file(sh('exec 2>FILE; sh -c "echo helper exec >&2"')),
    "both": lambda: read_file(sh("{ echo helper both out; echo helper both err >&2; } >FILE 2>&1")),
    "fork": lambda: read_file(fork_file),
    "capfd": lambda: stdout_only(read_file(capfd)),
    "capfd21": lambda: stdout_only(read_file(lambda p: capfd(p, True))),
}
if have_pty():
    SITES["pty"] = pty_child
    if SCRIPT:
        SITES["script"] = script


def split_line(path):
    """One line of its own written in five pieces, between them a dup2
    and a dup3 onto fd 2 that fail (EBADF), a dup2 that restores a saved
    copy of fd 2 (the same file), and a close of fd 2 followed by such a
    restore: the line is one, with one prefix."""
    bad = os.open("/dev/null", os.O_RDONLY)
    os.close(bad)
    os.write(2, b"req=%s split a" % path.encode())
    for inheritable in (True, False):           # dup2, then dup3
        try:
            os.dup2(bad, 2, inheritable=inheritable)
        except OSError:
            pass
        os.write(2, b"b" if inheritable else b"c")
    saved = os.dup(2)
    os.dup2(saved, 2)
    os.write(2, b"d")
    os.close(2)                                 # closed, then the copy put back
    os.dup2(saved, 2)
    os.close(saved)
    os.write(2, b"e\n")


def sites(path):
    if path.startswith("/w"):
        os.write(1, b"req=%s stdout\n" % path.encode())   # the worker's, into its log
    if not path.startswith("/m"):
        return {}
    split_line(path)
    return {name: run() for name, run in SITES.items()}


H = repr_handler(sites, "done")


srv = http.server.HTTPServer(("127.0.0.1", 0), H)
wsrv = http.server.HTTPServer(("127.0.0.1", 0), H)
if os.fork() == 0:
    # The worker's own log, at its start: stdout freopen()ed onto the
    # file, then copied onto fd 2 (its stdout lines are log lines).
    libc = ctypes.CDLL(None)
    libc.freopen.restype = ctypes.c_void_p
    libc.freopen.argtypes = (ctypes.c_char_p, ctypes.c_char_p, ctypes.c_void_p)
    if not libc.freopen(sys.argv[1].encode(), b"a", ctypes.c_void_p.in_dll(libc, "stdout")):
        sys.exit("freopen failed")
    os.dup2(1, 2)
    srv.server_close()
    wsrv.serve_forever()
wsrv.server_close()
print("listening", srv.server_address[1], wsrv.server_address[1], flush=True)
srv.serve_forever()
