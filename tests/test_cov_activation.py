"""Op coverage, activations: every variant converted (traced; nn modules also scripted), run in
our runtime and compared with PyTorch (fp32, and an fp16 subset)."""
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from cov_common import Fn, r, run

X = r(2, 5, 6, scale=4.0)

MODULES = {
    "relu": nn.ReLU(), "relu_inplace": nn.ReLU(inplace=True), "relu6": nn.ReLU6(),
    "leaky_relu": nn.LeakyReLU(0.2), "leaky_relu_default": nn.LeakyReLU(),
    "elu": nn.ELU(0.7), "selu": nn.SELU(), "celu": nn.CELU(1.5), "celu1": nn.CELU(),
    "gelu": nn.GELU(), "gelu_tanh": nn.GELU(approximate="tanh"), "silu": nn.SiLU(), "mish": nn.Mish(),
    "hardswish": nn.Hardswish(), "hardsigmoid": nn.Hardsigmoid(), "hardtanh": nn.Hardtanh(),
    "hardtanh_range": nn.Hardtanh(-2.0, 3.0), "sigmoid": nn.Sigmoid(), "tanh": nn.Tanh(),
    "softplus": nn.Softplus(), "softplus_beta": nn.Softplus(beta=2.0), "softplus_threshold": nn.Softplus(0.5, 1.0),
    "softsign": nn.Softsign(), "prelu1": nn.PReLU(), "prelu_channels": nn.PReLU(5, 0.1),
    "glu": nn.GLU(dim=-1), "glu_dim1": nn.GLU(dim=2), "log_sigmoid": nn.LogSigmoid(),
    "threshold": nn.Threshold(0.5, -2.0), "softmax": nn.Softmax(dim=1), "softmax_neg": nn.Softmax(dim=-1),
    "rrelu": nn.RReLU(0.1, 0.3), "hardshrink": nn.Hardshrink(0.7), "softshrink": nn.Softshrink(0.6),
    "tanhshrink": nn.Tanhshrink(),
    "log_softmax": nn.LogSoftmax(dim=-1), "log_softmax0": nn.LogSoftmax(dim=0), "softmin": nn.Softmin(dim=1),
}
with torch.no_grad():
    MODULES["prelu_channels"].weight.copy_(torch.linspace(-0.5, 0.5, 5))


@pytest.mark.parametrize("script", [False, True], ids=["trace", "script"])
@pytest.mark.parametrize("name", sorted(MODULES))
def test_module(name, script):
    run(MODULES[name], [X], script=script)


FUNCTIONAL = {
    "relu6_f": lambda x: F.relu6(x),
    "elu_inplace": lambda x: F.elu(x.clone(), 0.5, inplace=True),
    "elu_scaled": lambda x: torch.ops.aten.elu(x, 0.8, 1.5, 2.0),
    "leaky_inplace": lambda x: F.leaky_relu(x.clone(), 0.3, inplace=True),
    "selu_inplace": lambda x: F.selu(x.clone(), inplace=True),
    "celu_inplace": lambda x: F.celu(x.clone(), 2.0, inplace=True),
    "hardswish_inplace": lambda x: F.hardswish(x.clone(), inplace=True),
    "hardsigmoid_inplace": lambda x: F.hardsigmoid(x.clone(), inplace=True),
    "mish_inplace": lambda x: F.mish(x.clone(), inplace=True),
    "hardtanh_inplace": lambda x: F.hardtanh(x.clone(), -1.0, 0.5, inplace=True),
    "threshold_inplace": lambda x: F.threshold(x.clone(), 0.1, 20.0, inplace=True),
    "sigmoid_inplace": lambda x: x.clone().sigmoid_(),
    "tanh_inplace": lambda x: x.clone().tanh_(),
    "silu_inplace": lambda x: F.silu(x.clone(), inplace=True),
    "relu6_inplace": lambda x: F.relu6(x.clone(), inplace=True),
    "softmax_dtype": lambda x: F.softmax(x, dim=2, dtype=torch.float64).float(),
    "log_softmax_dtype": lambda x: F.log_softmax(x, 1, dtype=torch.float32),
    "softmin_dtype": lambda x: F.softmin(x, dim=-1, dtype=torch.float32),
    "softmax_int_input": lambda x: torch.softmax(x.int(), dim=-1, dtype=torch.float32),
    "gelu_functional": lambda x: F.gelu(x, approximate="tanh") + F.gelu(x),
    "relu_int": lambda x: torch.relu(x.int()) * 3 + F.relu6(x.int()),
    "prelu_functional": lambda x: F.prelu(x, torch.tensor([0.25])),
    "glu_dim0": lambda x: F.glu(x, 0),
    "sigmoid_tanh_chain": lambda x: torch.sigmoid(x) * torch.tanh(x),
}


@pytest.mark.parametrize("name", sorted(FUNCTIONAL))
def test_functional(name):
    if name == "relu_int":  # int stays int: maximum/minimum, no float relu
        run(Fn(FUNCTIONAL[name]), [X], ops=["maximum", "minimum"], absent=["relu", "relu6"])
        return
    run(Fn(FUNCTIONAL[name]), [X])


def test_prelu_rank2_and_4d():
    p = nn.PReLU(3, 0.2)
    with torch.no_grad():
        p.weight.copy_(torch.tensor([0.1, -0.3, 0.5]))
    run(p, [r(4, 3, scale=3.0)])
    run(p, [r(2, 3, 4, 5, scale=3.0)], script=True)


FP16 = ["relu", "gelu", "gelu_tanh", "silu", "mish", "hardswish", "hardsigmoid", "elu", "selu", "softplus_beta",
        "prelu_channels", "glu", "log_sigmoid", "softmax", "log_softmax", "leaky_relu", "sigmoid", "tanh"]


@pytest.mark.parametrize("name", FP16)
def test_fp16(name):
    run(MODULES[name], [X], precision="fp16")
