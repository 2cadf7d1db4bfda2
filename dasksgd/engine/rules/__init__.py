"""The training loop's rules: one protocol (:class:`Rule`), one container (:class:`Rules`).

See :mod:`dasksgd.engine.rules.base` for the protocol and where a rule's state lives, and
``docs/architecture.md`` for a worked example of adding a rule.
"""

from .base import Callback, Diverged, EpochEvent, Rule, Rules, StepEvent
from .batch import BatchSizeRule, batch_policy
from .goodput import GoodputRule
from .step_size import ScheduleRule, TrustRatioRule, WarmupRule
from .stopping import DivergenceRule, StoppingRule
from .update import AveragingRule, UpdateRule, quasi_newton

__all__ = [
    "AveragingRule",
    "BatchSizeRule",
    "Callback",
    "Diverged",
    "DivergenceRule",
    "EpochEvent",
    "GoodputRule",
    "Rule",
    "Rules",
    "ScheduleRule",
    "StepEvent",
    "StoppingRule",
    "TrustRatioRule",
    "UpdateRule",
    "WarmupRule",
    "batch_policy",
    "quasi_newton",
]
