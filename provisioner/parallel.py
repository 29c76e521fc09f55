"""The one way tunnelctl does several things at once: threads (the work is waiting on engines and sockets), a
bounded number at a time, results in order or as they finish."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import TypeVar

from .constants import DEFAULT_PARALLELISM

Item = TypeVar("Item")
Result = TypeVar("Result")
Other = TypeVar("Other")


def map_parallel(work: Callable[[Item], Result], items: Iterable[Item],
                 limit: int = DEFAULT_PARALLELISM) -> list[Result]:
    """`work` on every item, at most `limit` at once; the results in the items' order. The first exception raised
    by `work` is raised here, after every item has run."""
    items = list(items)
    if len(items) <= 1:
        return [work(item) for item in items]
    with ThreadPoolExecutor(max_workers=max(1, min(limit, len(items)))) as pool:
        return list(pool.map(work, items))


def both(first: Callable[[], Result], second: Callable[[], Other]) -> tuple[Result, Other]:
    """`first` in a thread of its own while `second` runs in this one; both results, or what either raised, once
    both have ended."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        started = pool.submit(first)
        second_result = second()
        return started.result(), second_result


def as_finished(work: Callable[[Item], Result], items: Iterable[Item],
                limit: int = DEFAULT_PARALLELISM) -> Iterator[tuple[Item, Callable[[], Result]]]:
    """`work` on every item, at most `limit` at once, yielding (item, result) as each ends; calling result()
    returns what `work` returned or raises what it raised, so that one failure does not hide the others."""
    items = list(items)
    if not items:
        return
    with ThreadPoolExecutor(max_workers=max(1, min(limit, len(items)))) as pool:
        futures = {pool.submit(work, item): item for item in items}
        for future in as_completed(futures):
            yield futures[future], future.result
