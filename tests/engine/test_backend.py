"""The backend contract: the named requests are the shard set's methods, and both backends
provide the protocol."""

import inspect

import numpy as np
import pytest

from dasksgd.engine.backend import REQUESTS, Backend, StepArgs
from dasksgd.engine.cluster import ClusterBackend
from dasksgd.engine.local import LocalBackend
from dasksgd.engine.shards import ShardSet, TargetSpec
from dasksgd.losses import get_loss


def test_the_requests_are_the_protocols_methods():
    protocol = {n for n in vars(Backend) if not n.startswith("_") and callable(getattr(Backend, n))}
    assert set(REQUESTS) == protocol - {"close", "call"}


@pytest.mark.parametrize("name", REQUESTS)
def test_every_request_is_a_shard_set_method_with_the_same_parameters(name):
    request = inspect.signature(getattr(Backend, name))
    handler = inspect.signature(getattr(ShardSet, name))
    assert list(request.parameters) == list(handler.parameters)
    for p, q in zip(request.parameters.values(), handler.parameters.values()):
        assert p.default == q.default, (name, p.name)


def test_step_args_name_the_step_requests_arguments():
    # The cluster's actor reads a step's rows by these names.
    assert list(StepArgs._fields) == list(inspect.signature(ShardSet.step).parameters)[1:]


@pytest.mark.parametrize("cls", [LocalBackend, ClusterBackend])
def test_both_backends_give_the_named_requests(cls):
    assert Backend in cls.__mro__  # they subclass it: the named requests are inherited
    assert all(callable(getattr(cls, n)) for n in [*REQUESTS, "close", "call"])
    assert isinstance(cls.step_overhead, property)


def test_a_named_request_is_the_same_call():
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((200, 3)), rng.standard_normal(200)
    backend = LocalBackend([(X, y, None)], TargetSpec(), get_loss("squared_error"))
    assert isinstance(backend, Backend)
    W, b = np.ones((3, 1)), np.zeros(1)
    named = backend.step(W, b, 0, 10, 60, 200)
    called = backend.call("step", W, b, 0, 10, 60, 200)
    assert named.count == called.count == 50
    np.testing.assert_array_equal(named.grad_coef, called.grad_coef)
    np.testing.assert_array_equal(backend.objective(W, b), backend.call("objective", W, b))
