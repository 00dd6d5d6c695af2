"""Step kinds, one module per family; importing this package registers all of them."""

from worker.steps import assertions, capture, data, interaction, navigation, waiting  # noqa: F401
from worker.steps.context import StepContext
from worker.steps.registry import implementation, registered_actions

__all__ = ["StepContext", "implementation", "registered_actions"]
