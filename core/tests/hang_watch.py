"""A watchdog for tests that never finish: it prints where they are stuck, then ends the run.

A hung test costs a CI run its whole time budget and says nothing about why. This plugin
watches each test (setup, call and teardown together); when one runs longer than
``TEST_HANG_SECONDS`` (default 600, 0 turns the watch off) it prints every thread's stack and the
whole await chain of every unfinished asyncio task — the part ``faulthandler`` alone cannot show, since a
stuck event loop just sits in ``select`` — and exits with status 3, so the run fails at once
with the evidence instead of timing out.
"""

import asyncio
import faulthandler
import gc
import os
import sys
import threading
import time

import pytest


class HangWatch:
    def __init__(self, config, seconds: float):
        self.config = config
        self.seconds = seconds
        self.current: tuple[str, float] | None = None
        self.lock = threading.Lock()
        threading.Thread(target=self._watch, name="hang-watch", daemon=True).start()

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_protocol(self, item, nextitem):
        with self.lock:
            self.current = (item.nodeid, time.monotonic())
        yield
        with self.lock:
            self.current = None

    def _watch(self):
        while True:
            time.sleep(min(5.0, self.seconds))
            with self.lock:
                current = self.current
            if current and time.monotonic() - current[1] > self.seconds:
                self._report(current[0])
                os._exit(3)

    def _report(self, nodeid: str):
        capture = self.config.pluginmanager.getplugin("capturemanager")
        if capture is not None:  # give the terminal back: os._exit would drop captured output
            capture.suspend_global_capture(in_=True)
        out = sys.__stderr__
        print(f"\n\n== hang watch: {nodeid} has run for more than {self.seconds:g} s", file=out)
        print("== every thread's stack", file=out, flush=True)
        faulthandler.dump_traceback(file=out, all_threads=True)
        print("== unfinished asyncio tasks", file=out)
        for task in [obj for obj in gc.get_objects() if isinstance(obj, asyncio.Task)]:
            if task.done():
                continue
            print(f"-- {task!r}", file=out)
            try:
                _print_awaits(task.get_coro(), out)
            except Exception as error:  # a task changing under us must not stop the report
                print(f"   (stack unavailable: {error!r})", file=out)
        out.flush()


def _print_awaits(coro, out):
    """The whole chain of awaits of a task, down to the future it waits on — a task's own
    ``print_stack`` shows only its outermost coroutine."""
    depth = 0
    while coro is not None and depth < 100:
        frame = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None) or getattr(coro, "ag_frame", None)
        if frame is None:
            print(f"   waits on {coro!r}", file=out)
            return
        print(f"   {frame.f_code.co_filename}:{frame.f_lineno} in {frame.f_code.co_name}", file=out)
        coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None) or getattr(coro, "ag_await", None)
        depth += 1


def pytest_configure(config):
    seconds = float(os.environ.get("TEST_HANG_SECONDS", "600"))
    if seconds > 0:
        config.pluginmanager.register(HangWatch(config, seconds), "hang-watch")
