"""ct.models: the MLModel class."""
from .model import MLModel  # noqa: F401
