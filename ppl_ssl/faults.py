"""Fault injection for the fault-tolerance tests: `PPL_SSL_INJECT_FAULT=POINT:N` makes the process SIGKILL itself the
N-th time it passes the named point, exactly as a kill from outside would land there.

Points: `step` (after an optimiser step), `checkpoint-write` (a checkpoint or other file written to its
temporary name, not yet renamed into place), `evaluation` (training done, evaluation starting). Unset, each call
is one dictionary lookup.

`PPL_SSL_INJECT_DELAY=POINT:SECONDS` makes the process sleep there instead (a slow evaluation, say).
"""
from __future__ import annotations

import os
import signal
import time

_counts: dict[str, int] = {}


def point(name: str) -> None:
    delay = os.environ.get("PPL_SSL_INJECT_DELAY")
    if delay and delay.partition(":")[0] == name:
        time.sleep(float(delay.partition(":")[2]))
    spec = os.environ.get("PPL_SSL_INJECT_FAULT")
    if not spec:
        return
    target, _, nth = spec.partition(":")
    if target != name:
        return
    _counts[name] = _counts.get(name, 0) + 1
    if _counts[name] == int(nth or 1):
        os.kill(os.getpid(), signal.SIGKILL)
