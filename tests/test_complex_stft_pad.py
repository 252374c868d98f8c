"""Complex tensors built from real inputs inside the model (torch.complex, view_as_complex) as inputs of
torch.stft (return_complex=True, two-sided) and F.pad (constant, reflect, replicate, circular), read back as
real outputs (view_as_real, .real / .imag, .abs()). Converted, run in our runtime and compared with PyTorch in
fp32 and fp16; every package is opened by coremltools' reader."""
import pytest
import torch
import torch.nn.functional as F

from cov_common import Fn, r, run

VR = torch.view_as_real


def C(x, y):
    return torch.complex(x, y)


def _hann(n):
    return torch.hann_window(n)


STFT = {
    "1d": (lambda a, b: VR(torch.stft(C(a, b), 16, hop_length=4, window=_hann(16), return_complex=True)), (64,)),
    "batched": (lambda a, b: VR(torch.stft(C(a, b), 32, hop_length=8, window=_hann(32), return_complex=True)),
                (2, 160)),
    "no_center": (lambda a, b: VR(torch.stft(C(a, b), 16, hop_length=5, window=_hann(16), center=False,
                                             return_complex=True)), (2, 83)),
    "center_constant": (lambda a, b: VR(torch.stft(C(a, b), 16, hop_length=4, window=_hann(16), pad_mode="constant",
                                                   return_complex=True)), (1, 70)),
    "no_window_normalized": (lambda a, b: VR(torch.stft(C(a, b), 12, hop_length=3, normalized=True,
                                                        return_complex=True)), (2, 60)),
    "win_length": (lambda a, b: VR(torch.stft(C(a, b), 16, hop_length=4, win_length=10,
                                              window=torch.hamming_window(10), return_complex=True)), (2, 64)),
    "onesided_false_explicit": (lambda a, b: torch.stft(C(a, b), 16, hop_length=4, window=_hann(16),
                                                        onesided=False, return_complex=True).abs(), (2, 64)),
    "real_imag": (lambda a, b: (lambda s: (s.real, s.imag))(torch.stft(C(a, b), 16, hop_length=8, window=_hann(16),
                                                                       return_complex=True)), (2, 96)),
    "view_as_complex": (lambda a, b: VR(torch.stft(torch.view_as_complex(torch.stack([a, b], -1)), 16, hop_length=4,
                                                   window=_hann(16), return_complex=True)), (2, 64)),
    "complex_times_real": (lambda a, b: VR(torch.stft(C(a, b) * 0.5 + a, 16, hop_length=4, window=_hann(16),
                                                      return_complex=True)), (1, 64)),
}


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
@pytest.mark.parametrize("name", sorted(STFT))
def test_stft_of_complex_signal(name, precision):
    fn, shape = STFT[name]
    run(Fn(fn), [r(*shape), r(*shape, seed=11)], precision=precision)


PAD = {
    "constant_1d": (lambda a, b: VR(F.pad(C(a, b), (2, 3))), (2, 3, 8)),
    "constant_value": (lambda a, b: VR(F.pad(C(a, b), (1, 2), value=2.5)), (2, 8)),
    "constant_nd_crop": (lambda a, b: VR(F.pad(C(a, b), (-1, 2, 1, 0))), (2, 4, 6)),
    "constant_2d": (lambda a, b: F.pad(C(a, b), (1, 1, 2, 0)).abs(), (1, 2, 5, 6)),
    "reflect_1d": (lambda a, b: VR(F.pad(C(a, b), (3, 2), mode="reflect")), (2, 3, 8)),
    "reflect_2d": (lambda a, b: VR(F.pad(C(a, b), (2, 1, 1, 2), mode="reflect")), (1, 2, 5, 6)),
    "replicate_1d": (lambda a, b: F.pad(C(a, b), (2, 4), mode="replicate").real, (2, 3, 7)),
    "replicate_2d": (lambda a, b: F.pad(C(a, b), (1, 2, 2, 1), mode="replicate").imag, (1, 2, 4, 5)),
    "circular_1d": (lambda a, b: VR(F.pad(C(a, b), (2, 1), mode="circular")), (2, 3, 6)),
    "then_stft": (lambda a, b: VR(torch.stft(F.pad(C(a, b), (8, 8), mode="reflect"), 16, hop_length=4,
                                             window=_hann(16), center=False, return_complex=True)), (2, 64)),
    "then_arith": (lambda a, b: (F.pad(C(a, b), (1, 1)) * 2 - 1).abs(), (3, 5)),
}


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
@pytest.mark.parametrize("name", sorted(PAD))
def test_pad_of_complex_tensor(name, precision):
    fn, shape = PAD[name]
    run(Fn(fn), [r(*shape), r(*shape, seed=11)], precision=precision)

