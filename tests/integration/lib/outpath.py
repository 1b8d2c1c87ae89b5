"""Running build/targets/outpath with and without the agent, for the output
path tests (t_sandbox, t_datafile, t_rotate, t_order, t_debugfd, t_exits)."""
import os
import subprocess

import reqctx_test as rt


def setup(name):
    """(checker, target path, env with the agent, env without)."""
    ck = rt.Checker(name)
    _, lib, targets = rt.paths()
    target = rt.require(os.path.join(targets, "outpath"), "target")
    if not rt.no_preload():
        rt.require(lib, "agent")
    return ck, target, rt.target_env(lib), rt.target_env(lib, {"LD_PRELOAD": None})


def run(args, env, timeout=20, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, cwd=None):
    """(exit status or None on timeout, stderr bytes)."""
    p = rt.start(args, env=env, stdout=stdout, stderr=stderr, cwd=cwd)
    try:
        _, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        rt.stop(p, timeout=2)
        return None, b""
    return p.returncode, err or b""


def strip(out, want_id):
    """out with "[want_id] " taken off each line start; the number of lines
    (the unfinished last one included) that did not carry it."""
    lines = out.split(b"\n")
    res, unprefixed = [], 0
    for i, line in enumerate(lines):
        if i == len(lines) - 1 and line == b"":
            res.append(line)
            break
        pid, payload = rt.split_prefix(line)
        if pid != want_id:
            unprefixed += 1
        res.append(payload)
    return b"\n".join(res), unprefixed
