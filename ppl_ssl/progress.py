"""Bars for reading data files (shown on a terminal only, tqdm's `disable=None`) and the progress lines of long
library calls (a reproduction's or comparison's run finished), neither inside `silenced()`.

A command's `--quiet` enters `silenced()` around its work, so that the bars and lines of code deep in the library
obey it without a flag passed through every call; the training and evaluation lines have their own `progress`
arguments."""
from __future__ import annotations

import contextlib
import contextvars
from typing import Iterable, Iterator, TypeVar

Item = TypeVar("Item")
_silenced: contextvars.ContextVar[bool] = contextvars.ContextVar("ppl_ssl_progress_silenced", default=False)


@contextlib.contextmanager
def silenced(active: bool = True) -> Iterator[None]:
    """No reading bar inside this block (when `active`)."""
    token = _silenced.set(active or _silenced.get())
    try:
        yield
    finally:
        _silenced.reset(token)


def say(message: str) -> None:
    """A progress line on stdout, flushed at once (a long command's log is read while it runs), unless silenced."""
    if not _silenced.get():
        print(message, flush=True)


def reading_bar(items: Iterable[Item], description: str) -> Iterable[Item]:
    """`items` with a bar on a terminal; `items` as they are when piped or silenced."""
    return progress_bar(items, description)


def progress_bar(items: Iterable[Item], description: str) -> Iterable[Item]:
    """`items` with a bar on a terminal (reading files, the steps of a long estimate); as they are when piped or
    silenced."""
    if _silenced.get():
        return items
    from tqdm.auto import tqdm

    return tqdm(items, desc=description, leave=False, disable=None)
