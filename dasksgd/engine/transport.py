"""How the cluster backend's requests travel, and every use of distributed's internals.

A step's requests go from the client's event loop straight to the workers, as one pickle each
way (:func:`pack`). Distributed offers no public API for the fast path, so this module reaches
into it, and nothing else in dasksgd does; ``tests/engine/test_transport.py`` fails if one of
these internals changes shape:

- :func:`execute` sends the message of distributed's own actor call (the worker's
  ``actor_execute`` handler, ``distributed/actor.py``) over a direct connection, without the
  scheduler's relay. A public "call this actor on that worker" API (or a comm of our own to a
  worker plugin) would replace it.
- :func:`connect` opens those connections with the client's connection pool (``Client.rpc``)
  and probes them with the worker's ``identity`` handler.
- :func:`evict` removes a hung worker with ``Scheduler.remove_worker`` (what the scheduler's
  ``worker-ttl`` check does minutes later); ``Client.retire_workers`` would wait for the worker.
- :func:`is_lost` knows the errors distributed raises when an actor's worker is gone:
  ``CommClosedError`` and ``OSError`` from a connection, and a bare ``RuntimeError``
  ("Worker holding Actor was lost", ``distributed/actor.py``) that has no type of its own, so it
  is matched by its text.
"""

from __future__ import annotations

import pickle
import threading
import time
from typing import Any, Callable

__all__ = ["pack", "unpack", "execute", "connect", "evict", "is_lost", "bounded", "Unresponsive"]

#: What distributed says when an actor's worker is gone (``distributed/actor.py``).
LOST_ACTOR = "Worker holding Actor was lost"


def pack(value: Any) -> bytes:
    """Requests and results travel as one pickle: Dask's serializer walks a tuple element by
    element, several times slower for a step's arguments (the last line of
    ``benchmarks/step_overhead.py``)."""
    return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)


def unpack(data: bytes) -> Any:
    return pickle.loads(data)


async def execute(route: Any, key: str, method: str, *args: Any) -> Any:
    """``method(*args)`` of the actor ``key`` over ``route``, a direct connection to its worker
    (the message an actor's own call sends, minus the scheduler's relay)."""
    from distributed.protocol import to_serialize

    reply = await route.actor_execute(
        function=method, actor=key, args=[to_serialize(a) for a in args], kwargs={}
    )
    if reply["status"] != "OK":
        raise reply["exception"]
    return reply["result"]


def connect(client: Any, addresses: list[str], timeout: float) -> list | None:
    """Direct connections from the client to ``addresses``, probed; None if one cannot be made
    (or the client was made with ``direct_to_workers=False``: it cannot reach the workers'
    network): the actors' own calls, relayed by the scheduler, are used then."""
    if client.direct_to_workers is False:
        return None
    routes = [client.rpc(address) for address in addresses]

    async def probe() -> None:
        for route in routes:
            await route.identity()

    client.sync(probe, callback_timeout=timeout)
    return routes


async def _remove_workers(addresses: list[str], dask_scheduler: Any = None) -> list[str]:
    """On the scheduler: remove ``addresses``, so that their tasks and data are recomputed
    elsewhere."""
    removed = []
    for address in addresses:
        if address in dask_scheduler.workers:
            await dask_scheduler.remove_worker(
                address, stimulus_id=f"dasksgd-unresponsive-{time.time()}", close=True
            )
            removed.append(address)
    return removed


def evict(client: Any, addresses: list[str], timeout: float) -> list[str]:
    """Remove workers that stopped answering from the cluster (at most ``timeout`` seconds)."""
    return bounded(
        lambda: client.run_on_scheduler(_remove_workers, addresses), timeout, "remove_worker"
    )


class Unresponsive(Exception):
    """Workers that did not answer a ping while a request waited on them."""

    def __init__(self, workers: list[str], op: str, waited: float) -> None:
        super().__init__(
            f"worker(s) {', '.join(workers)} stopped answering during '{op}' "
            f"(no reply for {waited:.0f} s, and none to a ping)"
        )
        self.workers = workers


def is_lost(exc: BaseException) -> bool:
    """Whether ``exc`` says an actor's worker is gone or hung."""
    from distributed.comm import CommClosedError

    if isinstance(exc, TimeoutError):
        return False
    if isinstance(exc, (OSError, CommClosedError, Unresponsive)):
        return True
    return isinstance(exc, RuntimeError) and LOST_ACTOR in str(exc)


def bounded(fn: Callable[[], Any], timeout: float, what: str) -> Any:
    """``fn()``, or TimeoutError after ``timeout`` seconds (for client calls that take no
    timeout of their own; the call is left to finish, or not, in a daemon thread)."""
    box: dict = {}

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            box["error"] = exc

    thread = threading.Thread(target=target, daemon=True, name=f"dasksgd-{what}")
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise TimeoutError(f"{what} got no answer from the Dask cluster within {timeout:g} s")
    if "error" in box:
        raise box["error"]
    return box["value"]
