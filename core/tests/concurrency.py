"""Running calls truly at once in tests (real threads, each on its own database connection)."""

import threading

from django.db import connection


def all_at_once(*calls, timeout=60):
    """Run each call in its own thread, all released together by a barrier. Returns their
    results in order; re-raises the first exception a call raised; fails if a thread hangs."""
    barrier = threading.Barrier(len(calls))
    results, errors = [None] * len(calls), []

    def worker(index, call):
        try:
            barrier.wait(timeout=timeout)
            results[index] = call()
        except Exception as error:  # reported to the caller below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout * 2)
    assert not any(thread.is_alive() for thread in threads), "a concurrent call hung"
    if errors:
        raise errors[0]
    return results
