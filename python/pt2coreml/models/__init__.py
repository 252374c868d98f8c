"""ct.models: the MLModel class."""
from .model import MLModel, MLState  # noqa: F401
