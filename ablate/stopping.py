"""How `ablate`'s processes stop: SIGTERM as Ctrl-C, steps that must not be cut, children that die with their parent.

`timeout`, systemd, docker and Slurm stop a process with SIGTERM; a user presses Ctrl-C (SIGINT). Both end
in a KeyboardInterrupt, which is the one path that ends runs KILLED. A job or worker process is spawned
with both ignored while its parent stops it, and stops itself when its parent dies (even by SIGKILL), so
that no job trains on orphaned beside a `--resume` of it.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import multiprocessing.process
import os
import signal
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from types import FrameType

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _interrupt_once(signum: int, frame: FrameType | None) -> None:
    # A second SIGTERM (systemd and Slurm repeat it, a process group gets it twice) must not cut the stop short.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise KeyboardInterrupt


def sigterm_as_ctrl_c() -> None:
    """From now on SIGTERM raises KeyboardInterrupt in the main thread, as Ctrl-C does; once."""
    signal.signal(signal.SIGTERM, _interrupt_once)


@contextmanager
def stop_signals_ignored() -> Iterator[None]:
    """Ignore Ctrl-C and SIGTERM for a step that must finish (stopping the jobs) or that starts a process.

    Processes started meanwhile inherit the ignored signals, so Ctrl-C reaches only this process, which stops
    each child once rather than children dying mid-bookkeeping on a signal of their own.
    """
    previous = {signum: signal.signal(signum, signal.SIG_IGN) for signum in STOP_SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


@contextmanager
def stop_signals_deferred() -> Iterator[None]:
    """Hold Ctrl-C and SIGTERM back during a step that must not be cut in half (a run opened and a process
    started for it), then raise KeyboardInterrupt: a signal meanwhile stops once the step is done, not lost."""
    received: list[int] = []

    def hold(signum: int, frame: FrameType | None) -> None:
        received.append(signum)

    previous = {signum: signal.signal(signum, hold) for signum in STOP_SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if received:
        raise KeyboardInterrupt


def stop_with_parent() -> None:
    """In a spawned child: SIGTERM this process when its parent dies, however it died.

    The parent's end of the pipe it spawned the child through closes with it, which wakes a watcher thread.
    """
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        multiprocessing.connection.wait([parent.sentinel])
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="stop-with-parent", daemon=True).start()


def child_stops_on_sigterm() -> None:
    """What a spawned job or worker process does first: SIGTERM (its parent's, or its own on the parent's death)
    is its Ctrl-C; the terminal's Ctrl-C is its parent's to handle and stays ignored."""
    sigterm_as_ctrl_c()
    stop_with_parent()


def terminate(processes: Sequence[multiprocessing.process.BaseProcess]) -> None:
    """SIGTERM each live process. Stopping calls this until they have ended: a child still starting up ignores
    the signal (it inherited that), and one that has begun stopping ignores any after the first."""
    for process in processes:
        if process.is_alive() and process.pid is not None:
            with suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGTERM)
