"""Scoring of lines grouped by request when the IDs are generated (a
datagram, a Redis connection): nothing says what a request's ID must be,
only that all of its lines carry the same one and that no other request's
lines carry it.

score(tally, lines): lines are (lineno, pid, key), key naming the request
the line is about (None: about none, which must have no prefix). A line is
right when its request's lines all carry its ID and no other request's line
does; wrong when its ID is also on another request's line, or its request's
lines carry several IDs (every line but those with the most common one),
or it is about no request and has a prefix; unprefixed otherwise.
With one_id=False a request may carry several IDs (a connection serving
several requests): only an ID on another request's line is wrong.
Returns a list of (lineno, why) for the lines that are not right."""
from collections import Counter, defaultdict


def score(tally, lines, one_id=True):
    ids = defaultdict(Counter)
    owners = defaultdict(set)
    for _, pid, key in lines:
        if pid is not None and key is not None:
            ids[key][pid] += 1
            owners[pid].add(key)
    bad = []
    for lineno, pid, key in lines:
        if key is None:
            if pid is None:
                tally.right += 1
            else:
                tally.wrong += 1
                bad.append((lineno, "a prefix [%s] on a line about no request" % pid))
            continue
        if pid is None:
            tally.unprefixed += 1
            bad.append((lineno, "no prefix (request %s)" % key))
            continue
        main = ids[key].most_common(1)[0][0]
        if len(owners[pid]) > 1:
            tally.wrong += 1
            bad.append((lineno, "[%s] is shared by requests %s" % (pid, sorted(owners[pid])[:4])))
        elif one_id and pid != main:
            tally.wrong += 1
            bad.append((lineno, "request %s has lines with [%s] and [%s]" % (key, main, pid)))
        else:
            tally.right += 1
    return bad
