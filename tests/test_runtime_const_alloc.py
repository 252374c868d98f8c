"""Constants the runtime materializes at prepare time: a conv weight with batch norm folded in
(a scaled payload) in an fp16 program needs three buffers (fp32 values, fp16 copy, fp32 view);
the list they go to is sized by the one contract in rt_const_value (a capacity it checks), so
predict() on a freshly converted model gives PyTorch's numbers. An ASan build of the old code
reported a stack-buffer-overflow in rt_const_value on the first test here."""
import numpy as np
import pytest
import torch

import pt2coreml as ct
from parity import check_parity


def conv_bn(cin, cout, k, stride=1):
    torch.manual_seed(0)
    m = torch.nn.Sequential(torch.nn.Conv2d(cin, cout, k, stride=stride), torch.nn.BatchNorm2d(cout)).eval()
    with torch.no_grad():  # statistics that make the folded scale differ per channel
        m[1].running_mean.uniform_(-1, 1)
        m[1].running_var.uniform_(0.5, 2.0)
        m[1].weight.uniform_(0.5, 2.0)
        m[1].bias.uniform_(-0.5, 0.5)
    return m


@pytest.mark.parametrize("precision", ["fp16", "fp32"])
def test_conv_bn_small_weight(precision):
    # 8*3*3*3 = 216 weights: fp16 constants this small also get an fp32 copy
    check_parity(conv_bn(3, 8, 3), [torch.randn(1, 3, 16, 16)], precision=precision, check_coremltools=False)


@pytest.mark.parametrize("precision", ["fp16", "fp32"])
def test_conv_bn_resnet_stem(precision):
    # resnet18's first conv: 64*3*7*7 = 9408 weights, under the fp32-copy limit
    check_parity(conv_bn(3, 64, 7, stride=2), [torch.randn(1, 3, 32, 32)], precision=precision,
                 check_coremltools=False)


def test_conv_bn_large_weight_fp16():
    # 64*64*3*3 = 36864 weights: above the limit, no fp32 copy
    check_parity(conv_bn(64, 64, 3), [torch.randn(1, 64, 10, 10)], precision="fp16", check_coremltools=False)


def test_conv_bn_predict_repeatedly():
    # the prepared constants are held by the model and stay valid across predicts
    m = conv_bn(3, 8, 3)
    x = torch.randn(1, 3, 12, 12)
    ml = ct.convert(torch.jit.trace(m, x), inputs=[ct.TensorType(name="x", shape=x.shape)])
    with torch.no_grad():
        ref = m(x).numpy()
    for _ in range(3):
        out = list(ml.predict({"x": x.numpy()}).values())[0]
        np.testing.assert_allclose(out, ref, atol=1e-2 * np.abs(ref).max())


def test_op_with_more_outputs_than_the_runtime_holds():
    # a 100-way split: the runtime's per-op output array holds 64; the error path used to
    # release all 100 entries of that array (an ASan stack-buffer-overflow)
    class M(torch.nn.Module):
        def forward(self, x):
            return torch.stack([p * 2 for p in torch.split(x, 1, dim=1)], 0).sum(0)

    x = torch.randn(1, 100)
    ml = ct.convert(torch.jit.trace(M().eval(), x), inputs=[ct.TensorType(name="x", shape=x.shape)])
    with pytest.raises(RuntimeError, match=r"split.*100 outputs"):
        ml.predict({"x": x.numpy()})
