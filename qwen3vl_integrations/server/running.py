"""Running one request on an engine: submit, wait without blocking the event loop, drop the work of a
client that went away, and turn the first failed item into the request's error."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import Future

from starlette.requests import Request

from ..errors import ItemError, ModelOverloadedError, Qwen3VLError, RequestTimeoutError
from .errors import ApiError, from_library, overloaded

__all__ = ["ClientDisconnected", "run_engine", "first_error", "check_count", "check_blank", "BLANK_TEXT"]


class ClientDisconnected(Exception):
    """The client closed the connection before the answer was ready (its queued items were dropped)."""


async def _disconnected(request: Request) -> None:
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            return


def _awaitable(future: Future) -> asyncio.Future:
    """An asyncio future that gets ``future``'s outcome on this loop. Unlike ``asyncio.wrap_future``,
    the two do not reference each other (wrap_future chains them both ways, a cycle that holds the
    request's results until a full garbage collection)."""
    loop = asyncio.get_running_loop()
    waiter = loop.create_future()

    def transfer(done: Future) -> None:
        if waiter.done():
            return
        if done.cancelled():
            waiter.cancel()
        elif (error := done.exception()) is not None:
            waiter.set_exception(error)
        else:
            waiter.set_result(done.result())

    def on_done(done: Future) -> None:
        if not loop.is_closed():
            loop.call_soon_threadsafe(transfer, done)

    future.add_done_callback(on_done)
    return waiter


async def run_engine(request: Request, submit: Callable[[], Future]) -> list:
    """Call ``submit()`` (an engine's ``submit_embed``/``submit_score``) and wait for its results.

    Overload answers 429 at once; a bad argument answers with its status; a disconnect cancels the call.
    """
    try:
        future = submit()
    except ModelOverloadedError as exc:
        raise overloaded(exc) from None
    except Qwen3VLError as exc:
        raise from_library(exc) from None
    waiter = _awaitable(future)
    watcher = asyncio.ensure_future(_disconnected(request))
    try:
        done, _ = await asyncio.wait({waiter, watcher}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        watcher.cancel()
    if waiter not in done:
        future.cancel()
        waiter.cancel()
        raise ClientDisconnected()
    try:
        return waiter.result()
    except RequestTimeoutError as exc:
        raise from_library(exc) from None
    except Qwen3VLError as exc:  # e.g. the rerank query itself is bad (param "query")
        raise from_library(exc) from None


def first_error(results: list, field: str, params: list[str] | None = None) -> None:
    """Raise the error of the first failed item, named ``<field>[k]`` or ``params[k]`` (nothing is
    answered partially)."""
    for k, value in enumerate(results):
        if isinstance(value, ItemError):
            raise from_library(value.error, params[k] if params is not None else f"{field}[{k}]")


BLANK_TEXT = ('the text is empty; Weaviate sends "" for a text property set to "": leave the property unset (null) '
              'or give it a text (docs/weaviate.md, "Empty texts")')


def check_blank(texts: list[str], params: list[str]) -> None:
    """400 naming the first blank text (``""`` or whitespace only): there is nothing to embed."""
    for text, param in zip(texts, params):
        if not text.strip():
            raise ApiError(400, f"{param}: {BLANK_TEXT}", code="empty", param=param)


def check_count(count: int, limit: int, field: str, setting: str) -> None:
    """400 for no items, 422 for more items than the limit (TEI's wording)."""
    if count == 0:
        raise ApiError(400, f"{field} is empty: send at least one item", code="empty", param=field)
    if count > limit:
        raise ApiError(422, f"batch size {count} > maximum allowed batch size {limit} ({setting})",
                       code="validation", param=field)
