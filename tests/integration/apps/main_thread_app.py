"""tests/integration/t_main_thread: a threaded http.server whose main
thread (its acceptor) does work for requests it does not serve: a
SIGUSR1 handler that drains the ids every request queued and then
signalled ("site=sig_flush id=<id>"), socketserver's service_actions
hook, run after each accept and poll ("site=svc_flush id=<id>"), and a
SIGALRM handler every 10 ms (setitimer, "site=alarm_flush id=<id>").
GET /<tag>/<id> logs "site=arrival id=<id>", queues <id> for the three,
signals, and answers. It also checks that signal.getsignal and
signal.signal give back the program's own handler (the bridge wraps it),
and logs "handler check failed" if not. Prints "listening <port>"."""
import collections
import os
import signal
import sys
from http.server import ThreadingHTTPServer

from threaded_app import Handler, log, serve

sig_q, svc_q, alarm_q = collections.deque(), collections.deque(), collections.deque()


def on_usr1(signum, frame):
    while sig_q:
        log("sig_flush", sig_q.popleft())


def on_alarm(signum, frame):
    while alarm_q:
        log("alarm_flush", alarm_q.popleft())


signal.signal(signal.SIGUSR1, on_usr1)
if signal.getsignal(signal.SIGUSR1) is not on_usr1 or \
        signal.signal(signal.SIGUSR1, on_usr1) is not on_usr1:
    sys.stderr.write("handler check failed\n")
signal.signal(signal.SIGALRM, on_alarm)
signal.setitimer(signal.ITIMER_REAL, 0.01, 0.01)


class H(Handler):
    def do_GET(self):
        rid = self.request_id()
        log("arrival", rid)
        sig_q.append(rid)
        svc_q.append(rid)
        alarm_q.append(rid)
        os.kill(os.getpid(), signal.SIGUSR1)
        self.answer_ok()


class Server(ThreadingHTTPServer):
    def service_actions(self):
        while svc_q:
            log("svc_flush", svc_q.popleft())


serve(H, Server, poll_interval=0.01)
