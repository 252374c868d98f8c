"""Utilities on converted models, as coremltools' ct.utils."""


def op_histogram(mlmodel):
    """{MIL op type: count} over the model's program (nested blocks included), sorted by op type."""
    from .models import MLModel
    if not isinstance(mlmodel, MLModel):
        raise TypeError(f"op_histogram() takes a ct.models.MLModel, got {type(mlmodel).__name__}")
    return mlmodel.op_histogram()


def print_program(mlmodel, max_const=16):
    """Print the model's ML Program in pt2coreml's textual MIL form."""
    mlmodel.print_program(max_const=max_const)
