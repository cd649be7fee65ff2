"""DataLoader plumbing: our loaders' base (aiodataloader's, with a cache it can be asked about)
and `peek`/`loaded`, which let a resolver stay synchronous when its value is already loaded.

The domain loaders live in `loaders/`, one module per domain."""

from __future__ import annotations

from asyncio import Future
from collections.abc import Awaitable
from typing import Any, Generic, TypeVar

from aiodataloader import DataLoader

K = TypeVar("K")
V = TypeVar("V")


class Loader(DataLoader[K, V], Generic[K, V]):
    """A DataLoader whose cache is a dict it owns (handed over as the constructor's public
    `cache_map`), so `peek` can tell a value already loaded without awaiting it."""

    def __init__(self) -> None:
        self.futures: dict[K, Future[V]] = {}
        super().__init__(cache_map=self.futures)


NOT_LOADED: Any = object()


def peek(loader: Loader[K, V], key: K) -> V:
    """The value if this request already loaded it (e.g. a parent prefetched it), else
    `NOT_LOADED`; never starts a load."""
    future = loader.futures.get(key)
    if future is not None and future.done() and not future.cancelled() \
            and future.exception() is None:
        return future.result()
    return NOT_LOADED


def loaded(loader: Loader[K, V], key: K) -> V | Awaitable[V]:
    """The value if this request already loaded it, else the awaitable load. Resolvers that
    return this stay synchronous on the hot path: an awaited resolver costs a coroutine and an
    event-loop round per object."""
    value = peek(loader, key)
    return loader.load(key) if value is NOT_LOADED else value
