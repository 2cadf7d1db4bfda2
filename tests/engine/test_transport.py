"""distributed's internals that the transport relies on (dasksgd/engine/transport.py): these
fail when distributed changes one of them, before a fit would."""

import inspect

import distributed
import distributed.core
import pytest
from distributed.comm import CommClosedError

from dasksgd.engine import transport


def test_the_workers_actor_execute_handler_takes_the_message_we_send():
    params = inspect.signature(distributed.Worker.actor_execute).parameters
    assert {"actor", "function", "args", "kwargs"} <= set(params)
    assert inspect.iscoroutinefunction(distributed.Worker.actor_execute)
    # The worker registers it, and every server "identity" (the probe), as handlers by name.
    assert '"actor_execute": self.actor_execute' in inspect.getsource(distributed.Worker.__init__)
    assert '"identity": self.identity' in inspect.getsource(distributed.core.Server.__init__)


def test_the_schedulers_remove_worker_takes_our_arguments():
    params = inspect.signature(distributed.Scheduler.remove_worker).parameters
    assert {"address", "stimulus_id", "close"} <= set(params)


def test_the_clients_connection_pool_and_direct_flag_exist():
    src = inspect.getsource(distributed.Client.__init__)
    assert "self.rpc" in src and "direct_to_workers" in src


def test_a_lost_actor_is_told_by_the_text_distributed_uses():
    from distributed import actor, scheduler

    assert transport.LOST_ACTOR in inspect.getsource(actor)
    assert transport.LOST_ACTOR in inspect.getsource(scheduler)


@pytest.mark.parametrize(
    ("exc", "lost"),
    [
        (RuntimeError("Worker holding Actor was lost.  Status: lost"), True),
        (CommClosedError("in <TCP>: Stream is closed"), True),
        (ConnectionRefusedError(), True),
        (transport.Unresponsive(["tcp://a:1"], "step", 60.0), True),
        (TimeoutError(), False),  # an OSError, but slowness is not loss
        (RuntimeError("something else"), False),
        (ValueError("bad input"), False),
    ],
)
def test_is_lost(exc, lost):
    assert transport.is_lost(exc) is lost


def test_pack_round_trips():
    value = ("step", (1, 2.5, None), [])
    assert transport.unpack(transport.pack(value)) == value
