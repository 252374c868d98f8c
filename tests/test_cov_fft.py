"""Op coverage, FFT and complex values: torch.fft (fft, ifft, rfft, irfft, hfft, ihfft, fftn, ifftn, rfftn,
irfftn and the 2-d forms), stft / istft, and what models do with complex results (abs, angle, real, imag,
view_as_real / view_as_complex, complex / polar, conj, arithmetic with complex, real and number operands).
Complex values only live inside the lowering (Core ML has no complex type): every case ends in a real
output. Each is traced (and scripted where torch can script it), converted, run in our runtime and
compared with PyTorch."""
import pytest
import torch

import pt2coreml as ct
from cov_common import Fn, r, run
from parity import need_torch2

F = torch.fft
VR = torch.view_as_real
A = torch.ops.aten


def C(x, y):
    return torch.complex(x, y)


FFT_CASES = {
    # fft / ifft: 1-D, 2-D, 3-D inputs, negative dims, crop / zero-pad, each norm, even and odd lengths
    "fft_1d": (lambda x: VR(F.fft(x)), [(16,)]),
    "fft_1d_odd": (lambda x: VR(F.fft(x)), [(15,)]),
    "fft_dim0": (lambda x: VR(F.fft(x, dim=0)), [(7, 5)]),
    "fft_3d_neg_dim": (lambda x: VR(F.fft(x, dim=-2)), [(2, 6, 5)]),
    "fft_n_crop": (lambda x: VR(F.fft(x, n=5)), [(3, 8)]),
    "fft_n_pad": (lambda x: VR(F.fft(x, n=13)), [(3, 8)]),
    "fft_ortho": (lambda x: VR(F.fft(x, norm="ortho")), [(3, 10)]),
    "fft_forward": (lambda x: VR(F.fft(x, norm="forward")), [(3, 10)]),
    "fft_backward": (lambda x: VR(F.fft(x, norm="backward")), [(3, 9)]),
    "fft_of_complex": (lambda x, y: VR(F.fft(C(x, y), dim=1)), [(3, 7), (3, 7)]),
    "ifft_of_real": (lambda x: VR(F.ifft(x).resolve_conj()), [(4, 9)]),
    "ifft_of_complex_n": (lambda x, y: VR(F.ifft(C(x, y), n=6, dim=0, norm="ortho")), [(5, 3), (5, 3)]),
    "ifft_forward": (lambda x, y: VR(F.ifft(C(x, y), norm="forward")), [(2, 8), (2, 8)]),
    "fft_ifft_roundtrip": (lambda x: F.ifft(F.fft(x)).real, [(2, 3, 9)]),
    "fft_abs": (lambda x: F.fft(x, n=12, norm="forward").abs(), [(3, 8)]),
    # rfft / irfft
    "rfft_even": (lambda x: VR(F.rfft(x)), [(3, 16)]),
    "rfft_odd": (lambda x: VR(F.rfft(x)), [(3, 15)]),
    "rfft_1d": (lambda x: VR(F.rfft(x, norm="ortho")), [(20,)]),
    "rfft_dim": (lambda x: VR(F.rfft(x, dim=-2, norm="forward")), [(2, 9, 4)]),
    "rfft_n_crop": (lambda x: VR(F.rfft(x, n=7)), [(3, 12)]),
    "rfft_n_pad": (lambda x: VR(F.rfft(x, n=20)), [(3, 12)]),
    "irfft_roundtrip_even": (lambda x: F.irfft(F.rfft(x)), [(3, 16)]),
    "irfft_roundtrip_odd": (lambda x: F.irfft(F.rfft(x), n=15), [(3, 15)]),
    "irfft_roundtrip_ortho": (lambda x: F.irfft(F.rfft(x, norm="ortho"), n=11, norm="ortho"), [(2, 11)]),
    "irfft_roundtrip_forward": (lambda x: F.irfft(F.rfft(x, dim=0, norm="forward"), n=6, dim=0, norm="forward"),
                                [(6, 3)]),
    "irfft_general": (lambda x, y: F.irfft(C(x, y)), [(3, 6), (3, 6)]),  # Hermitian parts ignored as torch does
    "irfft_n_pad": (lambda x, y: F.irfft(C(x, y), n=16), [(2, 5), (2, 5)]),
    "irfft_n_crop": (lambda x, y: F.irfft(C(x, y), n=5, dim=-2), [(2, 7, 3), (2, 7, 3)]),
    "irfft_of_real": (lambda x: F.irfft(x, n=8), [(3, 5)]),
    "hfft": (lambda x, y: F.hfft(C(x, y), n=9), [(2, 5), (2, 5)]),
    "hfft_default_ortho": (lambda x, y: F.hfft(C(x, y), norm="ortho"), [(2, 6), (2, 6)]),
    "ihfft": (lambda x: VR(F.ihfft(x).resolve_conj()), [(3, 10)]),
    "ihfft_odd_forward": (lambda x: VR(F.ihfft(x, norm="forward").resolve_conj()), [(3, 9)]),
    # n-d and 2-d
    "fftn_all": (lambda x: VR(F.fftn(x)), [(2, 3, 9)]),
    "fftn_s": (lambda x: VR(F.fftn(x, s=(4, 6))), [(2, 3, 9)]),
    "fftn_s_minus1": (lambda x: VR(F.fftn(x, s=(-1, 5), dim=(0, 2), norm="ortho")), [(2, 3, 9)]),
    "fftn_dim": (lambda x: VR(F.fftn(x, dim=(-1, 0), norm="forward")), [(4, 3, 5)]),
    "fftn_abs": (lambda x: F.fftn(x).abs(), [(2, 200)]),
    "ifftn": (lambda x, y: VR(F.ifftn(C(x, y), dim=(1, 2))), [(2, 4, 6), (2, 4, 6)]),
    "ifftn_roundtrip": (lambda x: F.ifftn(F.fftn(x, norm="ortho"), norm="ortho").real, [(3, 4, 5)]),
    "rfftn": (lambda x: VR(F.rfftn(x, dim=(0, 2))), [(4, 3, 9)]),
    "rfftn_s": (lambda x: VR(F.rfftn(x, s=(5, 8))), [(2, 4, 6)]),
    "irfftn": (lambda x: F.irfftn(F.rfftn(x), s=(4, 3, 9)), [(4, 3, 9)]),
    "irfftn_default": (lambda x, y: F.irfftn(C(x, y), dim=(-2, -1), norm="ortho"), [(2, 4, 5), (2, 4, 5)]),
    "fft2": (lambda x: VR(F.fft2(x)), [(2, 5, 6)]),
    "ifft2": (lambda x, y: VR(F.ifft2(C(x, y), s=(4, 4))), [(3, 5), (3, 5)]),
    "rfft2": (lambda x: VR(F.rfft2(x, norm="ortho")), [(2, 6, 7)]),
    "irfft2": (lambda x: F.irfft2(F.rfft2(x), s=(6, 7)), [(2, 6, 7)]),
    # shifts and sample frequencies
    "fftshift_all": (lambda x: F.fftshift(x), [(4, 7)]),
    "fftshift_dim": (lambda x: F.fftshift(x, dim=-1) + F.fftshift(x, dim=(0,)), [(5, 8)]),
    "ifftshift_all": (lambda x: F.ifftshift(x), [(5, 7)]),
    "ifftshift_dims": (lambda x: F.ifftshift(F.fftshift(x, dim=(0, 1)), dim=(1, 0)), [(3, 5, 2)]),
    "fftshift_complex": (lambda x: VR(F.fftshift(F.fft(x))), [(3, 9)]),
    "ifftshift_complex_dim": (lambda x: F.ifftshift(F.fft2(x), dim=-2).abs(), [(2, 5, 4)]),
    "fftfreq": (lambda x: x * F.fftfreq(8) + F.fftfreq(8, d=0.25), [(3, 8)]),
    "fftfreq_odd": (lambda x: x + F.fftfreq(7, 2.0), [(7,)]),
    "rfftfreq": (lambda x: x * F.rfftfreq(10, d=0.1), [(2, 6)]),
    "rfftfreq_odd": (lambda x: x * F.rfftfreq(9), [(2, 5)]),
}


@pytest.mark.parametrize("name", sorted(FFT_CASES))
def test_fft(name):
    fn, shapes = FFT_CASES[name]
    run(Fn(fn), [r(*s, seed=i) for i, s in enumerate(shapes)])


def _hann(n):
    return torch.hann_window(n)


STFT_CASES = {
    "center_reflect_hann": (lambda x: VR(torch.stft(x, 64, hop_length=16, window=_hann(64), return_complex=True)),
                            (2, 400)),
    "center_constant": (lambda x: VR(torch.stft(x, 32, hop_length=8, window=_hann(32), pad_mode="constant",
                                                return_complex=True)), (2, 200)),
    "no_center": (lambda x: VR(torch.stft(x, 32, hop_length=10, window=_hann(32), center=False,
                                          return_complex=True)), (2, 203)),
    "no_window": (lambda x: torch.stft(x, 16, hop_length=4, return_complex=True).abs(), (3, 100)),
    "default_hop": (lambda x: torch.stft(x, 20, window=_hann(20), return_complex=True).abs(), (2, 90)),
    "win_length": (lambda x: VR(torch.stft(x, 32, hop_length=8, win_length=20, window=torch.hamming_window(20),
                                           return_complex=True)), (2, 160)),
    "win_length_no_window": (lambda x: VR(torch.stft(x, 16, hop_length=5, win_length=9, return_complex=True)),
                             (1, 80)),
    "two_sided": (lambda x: VR(torch.stft(x, 16, hop_length=4, window=_hann(16), onesided=False,
                                          return_complex=True)), (2, 64)),
    "normalized": (lambda x: VR(torch.stft(x, 24, hop_length=6, window=_hann(24), normalized=True,
                                           return_complex=True)), (2, 120)),
    "odd_n_fft": (lambda x: VR(torch.stft(x, 15, hop_length=4, window=_hann(15), return_complex=True)), (2, 77)),
    "unbatched": (lambda x: VR(torch.stft(x, 32, hop_length=8, window=_hann(32), return_complex=True)), (150,)),
    "abs": (lambda x: torch.stft(x, 64, hop_length=16, window=_hann(64), return_complex=True).abs(), (2, 400)),
    "angle": (lambda x: torch.stft(x, 16, hop_length=4, window=_hann(16), return_complex=True).angle(), (1, 64)),
    "real_imag": (lambda x: (lambda s: (s.real, s.imag))(torch.stft(x, 16, hop_length=8, window=_hann(16),
                                                                      return_complex=True)), (2, 96)),
    "center_op_reflect": (lambda x: VR(A.stft.center(x, 32, 8, 32, _hann(32), True, "reflect", False, None, True)),
                          (2, 160)),
    "center_op_constant": (lambda x: VR(A.stft.center(x, 16, 4, None, None, True, "constant", True, True, True)),
                           (2, 60)),
    "center_op_replicate": (lambda x: VR(A.stft.center(x, 16, 4, 16, _hann(16), True, "replicate", False, False,
                                                        True)), (1, 50)),
    "center_op_off": (lambda x: VR(A.stft.center(x, 16, 4, 16, _hann(16), False, "reflect", False, None, True)),
                      (1, 50)),
}


@pytest.mark.parametrize("name", sorted(STFT_CASES))
def test_stft(name):
    fn, shape = STFT_CASES[name]
    run(Fn(fn), [r(*shape)])


def test_stft_return_real():
    need_torch2("stft's return_complex=False deprecation warning")
    """return_complex=False (deprecated in torch, still accepted): the (re, im) pairs directly."""
    fn = Fn(lambda x: torch.stft(x, 16, hop_length=4, window=_hann(16), return_complex=False) * 2)
    with pytest.warns(UserWarning):
        run(fn, [r(2, 64)])


ISTFT_CASES = {
    "roundtrip_hann": (lambda x: torch.istft(torch.stft(x, 32, hop_length=8, window=_hann(32), return_complex=True),
                                             32, hop_length=8, window=_hann(32)), (2, 160)),
    "roundtrip_length": (lambda x: torch.istft(torch.stft(x, 32, hop_length=8, window=_hann(32),
                                                          return_complex=True), 32, hop_length=8, window=_hann(32),
                                               length=150), (2, 150)),
    "length_longer": (lambda x: torch.istft(torch.stft(x, 16, hop_length=4, window=_hann(16), return_complex=True),
                                            16, hop_length=4, window=_hann(16), length=90), (1, 64)),
    "no_center": (lambda x: torch.istft(torch.stft(x, 16, hop_length=4, center=False, return_complex=True), 16,
                                        hop_length=4, center=False), (2, 64)),
    "normalized_unbatched": (lambda x: torch.istft(torch.stft(x, 24, hop_length=6, window=_hann(24), normalized=True,
                                                              return_complex=True), 24, hop_length=6,
                                                   window=_hann(24), normalized=True), (120,)),
    "no_window": (lambda x: torch.istft(torch.stft(x, 16, hop_length=4, return_complex=True), 16, hop_length=4),
                  (2, 64)),
    "two_sided_real": (lambda x: torch.istft(torch.stft(x, 16, hop_length=4, window=_hann(16), onesided=False,
                                                        return_complex=True), 16, hop_length=4, window=_hann(16),
                                             onesided=False), (2, 64)),
    "two_sided_complex": (lambda x: VR(torch.istft(torch.stft(x, 16, hop_length=4, window=_hann(16), onesided=False,
                                                              return_complex=True) * 2, 16, hop_length=4,
                                                   window=_hann(16), onesided=False, return_complex=True)), (2, 64)),
    "modified_spectrum": (lambda x, y: torch.istft(C(x, y), 16, hop_length=4, window=_hann(16)), None),
}


@pytest.mark.parametrize("name", sorted(ISTFT_CASES))
def test_istft(name):
    fn, shape = ISTFT_CASES[name]
    inputs = [r(2, 9, 12), r(2, 9, 12, seed=5)] if shape is None else [r(*shape)]
    run(Fn(fn), inputs)


class Spectrogram(torch.nn.Module):
    """stft -> |.|^2 -> mel filterbank (matmul) -> log: a log-mel front end."""

    def __init__(self, n_fft=64, hop=16, n_mels=8):
        super().__init__()
        self.n_fft, self.hop = n_fft, hop
        self.register_buffer("window", torch.hann_window(n_fft))
        g = torch.Generator().manual_seed(3)
        self.register_buffer("mel", torch.rand(n_mels, n_fft // 2 + 1, generator=g))

    def forward(self, x):
        s = torch.stft(x, self.n_fft, hop_length=self.hop, window=self.window, return_complex=True)
        p = s.abs().pow(2)
        return torch.log(torch.matmul(self.mel, p) + 1e-6)


@pytest.mark.parametrize("script", [False, True])
def test_spectrogram(script):
    run(Spectrogram(), [r(2, 400, scale=0.5)], script=script)


def test_spectrogram_fp16():
    run(Spectrogram(), [r(2, 400, scale=0.5)], precision="fp16")


FP16_CASES = {
    "rfft": (lambda x: VR(F.rfft(x, norm="ortho")), [(3, 32)]),
    "fftn_abs": (lambda x: F.fftn(x, norm="ortho").abs(), [(2, 4, 8)]),
    "irfft_roundtrip": (lambda x: F.irfft(F.rfft(x)), [(2, 24)]),
    "stft_abs": (lambda x: torch.stft(x, 32, hop_length=8, window=_hann(32), return_complex=True).abs(), [(2, 160)]),
    "istft_roundtrip": (lambda x: torch.istft(torch.stft(x, 32, hop_length=8, window=_hann(32), return_complex=True),
                                              32, hop_length=8, window=_hann(32)), [(2, 160)]),
    "complex_mul_angle": (lambda x, y: (VR(C(x, y) * C(y, x)), C(x, y).angle()), [(3, 5), (3, 5)]),
}


@pytest.mark.parametrize("name", sorted(FP16_CASES))
def test_fp16(name):
    fn, shapes = FP16_CASES[name]
    run(Fn(fn), [r(*s, seed=i) for i, s in enumerate(shapes)], precision="fp16")


COMPLEX_CASES = {
    "complex_real_imag": (lambda x, y: (C(x, y).real * 2, C(x, y).imag + 1), [(3, 5), (3, 5)]),
    "complex_broadcast": (lambda x, y: VR(C(x, y)), [(3, 5), (5,)]),
    "polar": (lambda x, y: VR(torch.polar(x.abs(), y)), [(3, 5), (3, 5)]),
    "view_as_complex": (lambda x: VR(torch.view_as_complex(x) * 3), [(3, 4, 2)]),
    "view_as_complex_abs": (lambda x: torch.view_as_complex(x).abs(), [(6, 2)]),
    "angle_complex": (lambda x, y: torch.angle(C(x, y)), [(4, 6), (4, 6)]),
    "angle_real": (lambda x: torch.angle(x), [(4, 6)]),
    "real_of_real": (lambda x: torch.real(x) + 1, [(4, 6)]),
    "conj": (lambda x, y: VR(C(x, y).conj() * C(y, x)), [(3, 5), (3, 5)]),
    "conj_physical": (lambda x, y: VR(torch.conj_physical(C(x, y))), [(3, 5), (3, 5)]),
    "resolve_conj": (lambda x, y: VR(torch.resolve_conj(C(x, y).conj())), [(3, 5), (3, 5)]),
    "resolve_neg": (lambda x, y: VR(torch.resolve_neg(-C(x, y))), [(3, 5), (3, 5)]),
    "conj_real": (lambda x: torch.resolve_conj(torch.conj_physical(x)) * 2, [(3, 5)]),
    "abs": (lambda x, y: C(x, y).abs(), [(3, 5), (3, 5)]),
    "abs_pow": (lambda x, y: C(x, y).abs().pow(2) + torch.abs(C(y, x)) ** 0.5, [(3, 5), (3, 5)]),
    "neg": (lambda x, y: VR(-C(x, y)), [(3, 5), (3, 5)]),
    "mul_cc": (lambda x, y: VR(C(x, y) * C(y, x)), [(3, 5), (3, 5)]),
    "mul_broadcast": (lambda x, y: VR(C(x, y) * C(y[:1], x[:1])), [(3, 5), (3, 5)]),
    "mul_real_tensor": (lambda x, y: VR(C(x, y) * x), [(3, 5), (3, 5)]),
    "mul_real_bigger": (lambda x, y: VR(x[0] * C(x, y)[0] * y), [(3, 5), (3, 5)]),
    "mul_scalar": (lambda x, y: VR(C(x, y) * 2.5), [(3, 5), (3, 5)]),
    "add_cc_alpha": (lambda x, y: VR(torch.add(C(x, y), C(y, x), alpha=2)), [(3, 5), (3, 5)]),
    "add_real": (lambda x, y: VR(C(x, y) + y), [(3, 5), (3, 5)]),
    "add_scalar_left": (lambda x, y: VR(1.5 + C(x, y)), [(3, 5), (3, 5)]),
    "sub_cc": (lambda x, y: VR(C(x, y) - C(y, x)), [(3, 5), (3, 5)]),
    "sub_real_alpha": (lambda x, y: VR(torch.sub(C(x, y), y, alpha=3)), [(3, 5), (3, 5)]),
    "rsub_scalar": (lambda x, y: VR(2 - C(x, y)), [(3, 5), (3, 5)]),
    "rsub_real_tensor": (lambda x, y: VR(x - C(x, y)), [(3, 5), (3, 5)]),
    "div_cc": (lambda x, y: VR(C(x, y) / C(y + 3, x)), [(3, 5), (3, 5)]),
    "div_real": (lambda x, y: VR(C(x, y) / (y.abs() + 1)), [(3, 5), (3, 5)]),
    "div_scalar": (lambda x, y: VR(C(x, y) / 4), [(3, 5), (3, 5)]),
    "real_div_complex": (lambda x, y: VR(x / C(y + 3, x)), [(3, 5), (3, 5)]),
    "scalar_div_complex": (lambda x, y: VR(1.0 / C(y + 3, x)), [(3, 5), (3, 5)]),
    "inplace_add_mul": (lambda x, y: VR(C(x, y).add_(C(y, x)).mul_(C(x, x))), [(3, 5), (3, 5)]),
    "inplace_div_sub": (lambda x, y: VR(C(x, y).div_(2.0).sub_(y)), [(3, 5), (3, 5)]),
    "size_of_complex": (lambda x, y: x * F.fft(x).size(-1) + F.rfft(y).shape[1], [(3, 8), (3, 8)]),
    "tuple_of_complex": (lambda x, y: (lambda t: VR(t[0] * t[1]))((C(x, y), C(y, x))), [(3, 5), (3, 5)]),
    "detach_clone": (lambda x, y: VR(C(x, y).detach().clone().contiguous()), [(3, 5), (3, 5)]),
    "to_device_and_complex": (lambda x, y: VR(C(x, y).to(x.device).to(torch.complex64) * C(y, x).to(C(x, x))),
                              [(3, 5), (3, 5)]),
    "to_real_dtype": (lambda x, y: C(x, y).to(torch.float32) * 2 + C(y, x).to(torch.int32), [(3, 5), (3, 5)]),
    # layout ops on complex tensors
    "select": (lambda x, y: VR(C(x, y)[1] * C(x, y)[:, -1:].select(1, 0)[2]), [(3, 5), (3, 5)]),
    "slice_step": (lambda x, y: VR(C(x, y)[:, 1::2]), [(3, 5), (3, 5)]),
    "narrow": (lambda x, y: VR(C(x, y).narrow(-1, 1, 3)), [(3, 5), (3, 5)]),
    "transpose": (lambda x, y: VR(C(x, y).transpose(-1, 0)), [(3, 5), (3, 5)]),
    "permute": (lambda x, y: VR(C(x, y).permute(2, 0, 1)), [(2, 3, 4), (2, 3, 4)]),
    "movedim": (lambda x, y: VR(torch.movedim(C(x, y), 0, -1)), [(2, 3, 4), (2, 3, 4)]),
    "reshape_view": (lambda x, y: VR(C(x, y).reshape(5, -1).view(15)), [(3, 5), (3, 5)]),
    "flatten": (lambda x, y: VR(C(x, y).flatten(1)), [(2, 3, 4), (2, 3, 4)]),
    "unsqueeze_squeeze": (lambda x, y: VR(C(x, y).unsqueeze(-1).unsqueeze(0).squeeze(-1).squeeze()),
                          [(3, 5), (3, 5)]),
    "cat": (lambda x, y: VR(torch.cat([C(x, y), C(y, x), y], dim=-1)), [(3, 5), (3, 5)]),
    "stack": (lambda x, y: VR(torch.stack([C(x, y), C(y, x)], dim=-1)), [(3, 5), (3, 5)]),
    "unbind": (lambda x, y: VR(C(x, y).unbind(1)[2] * 2), [(3, 5), (3, 5)]),
    "spectrum_crop": (lambda x: F.rfft(x)[..., 1:5].abs() + F.rfft(x).transpose(0, 1)[:4].angle().t(), [(3, 16)]),
}


@pytest.mark.parametrize("name", sorted(COMPLEX_CASES))
def test_complex(name):
    fn, shapes = COMPLEX_CASES[name]
    run(Fn(fn), [r(*s, seed=i) for i, s in enumerate(shapes)])


# ---- scripted ----

@torch.jit.script
def _s_fft(x: torch.Tensor, y: torch.Tensor):
    a = torch.view_as_real(torch.fft.fft(x, n=10, dim=-1, norm="ortho"))
    b = torch.fft.irfft(torch.fft.rfft(x), n=x.shape[-1])
    c = torch.view_as_real(torch.fft.fftn(x, dim=[0, 1]))
    d = torch.fft.irfftn(torch.fft.rfftn(x), s=[3, 8])
    e = torch.view_as_real(torch.fft.ifft(torch.complex(x, y)))
    return a, b, c, d, e


@torch.jit.script
def _s_fft2(x: torch.Tensor, y: torch.Tensor):
    z = torch.complex(x, y)
    a = torch.view_as_real(torch.fft.fft2(x))
    b = torch.view_as_real(torch.fft.ifft2(z))
    c = torch.view_as_real(torch.fft.rfft2(x, norm="forward"))
    d = torch.fft.irfft2(z)
    e = torch.fft.hfft(z, n=8) + torch.view_as_real(torch.fft.ihfft(y).resolve_conj()).sum()
    f = torch.view_as_real(torch.fft.ifftn(z, s=[4, 8]))
    g = x * torch.fft.fftfreq(8, d=0.5) + torch.fft.rfftfreq(14, 2.0, dtype=torch.float32)
    return a, b, c, d, e, f, g


@torch.jit.script
def _s_complex(x: torch.Tensor, y: torch.Tensor):
    z = torch.complex(x, y)
    w = torch.polar(y.abs() + 1, x)
    a = torch.view_as_real(z.conj() * w - 2 * z + x / w)
    b = torch.angle(z) + torch.angle(x)
    c = z.real + z.imag + torch.abs(w)
    d = torch.view_as_real(torch.view_as_complex(torch.stack([x, y], -1)).conj_physical())
    e = torch.view_as_real(torch.resolve_neg(torch.resolve_conj(z.conj())))
    return a, b, c, d, e


class _SStft(torch.nn.Module):
    """Scripted stft / istft (a module: freezing folds its window buffer into a constant)."""

    def __init__(self):
        super().__init__()
        self.register_buffer("w", torch.hann_window(32))

    def forward(self, x):
        s = torch.stft(x, 32, hop_length=8, window=self.w, return_complex=True)
        y = torch.istft(s, 32, hop_length=8, window=self.w, length=x.shape[-1])
        t = torch.stft(x, 16, hop_length=4, center=False, return_complex=True)
        u = torch.stft(x, 16, hop_length=4, pad_mode="constant", normalized=True, onesided=False, return_complex=True)
        v = torch.istft(u * 0.5, 16, hop_length=4, normalized=True, onesided=False, return_complex=True)
        return s.abs(), y, torch.view_as_real(t), u.angle(), torch.view_as_real(v)


@pytest.mark.parametrize("fn,shapes", [(_s_fft, [(3, 8), (3, 8)]), (_s_fft2, [(3, 8), (3, 8)]),
                                       (_s_complex, [(3, 8), (3, 8)])], ids=["fft", "fft2", "complex"])
def test_scripted(fn, shapes):
    run(fn, [r(*s, seed=i) for i, s in enumerate(shapes)])


def test_scripted_stft():
    run(_SStft(), [r(2, 160)], script=True)


# ---- clear errors ----

def _convert(fn, shapes, types=None):
    xs = [r(*s) for s in shapes]
    sm = torch.jit.trace(Fn(fn).eval(), tuple(xs), check_trace=False)
    return ct.convert(sm, inputs=types or [ct.TensorType(shape=s) for s in shapes])


@pytest.mark.parametrize("fn,shapes,msg", [
    (lambda x: F.fft(x), [(3, 8)], r"output 0 .* is a complex tensor; Core ML has no complex type"),
    (lambda x: (x + 1, F.rfft(x)), [(3, 8)], r"output 1 .* is a complex tensor"),
    (lambda x: torch.exp(F.fft(x)).real, [(3, 8)], r"aten::exp .*input 0 .* is a complex tensor, which this op"),
    (lambda x: torch.sum(F.fft(x)).real, [(3, 8)], r"aten::sum .* is a complex tensor"),
    (lambda x, w: torch.stft(x, 16, hop_length=4, window=w, return_complex=True).abs(), [(2, 64), (16,)],
     r"aten::stft.*window must be known at conversion time"),
])
def test_errors(fn, shapes, msg):
    with pytest.raises(Exception, match=msg):
        _convert(fn, shapes)


GRAPH = """graph(%x : Tensor):
  %none : NoneType = prim::Constant()
  %d : int = prim::Constant[value=-1]()
  %norm : str = prim::Constant[value="{norm}"]()
  %c : Tensor = aten::fft_{first}(%x, %none, %d, %none)
  %y : Tensor = aten::fft_{second}(%c, %none, %d, %norm)
  %z : Tensor = aten::view_as_real(%y)
  return (%z)"""


@pytest.mark.parametrize("first,second,norm,msg", [
    ("fft", "rfft", "ortho", r"aten::fft_rfft.*expects a real input, got a complex tensor"),
    ("fft", "fft", "sideways", r"aten::fft_fft.*norm 'sideways' is not one of"),
])
def test_graph_errors(first, second, norm, msg):
    """What torch refuses while tracing, written as a graph: our own checks name the node."""
    g = torch._C.parse_ir(GRAPH.format(first=first, second=second, norm=norm))
    fn = torch._C._create_function_from_graph("f", g)
    with pytest.raises(Exception, match=msg):
        ct.convert(fn, inputs=[ct.TensorType(shape=(3, 8))])


def test_dynamic_length_is_a_clear_error():
    sm = torch.jit.trace(Fn(lambda x: F.rfft(x).abs()).eval(), (r(3, 8),))
    with pytest.raises(Exception, match=r"aten::fft_rfft.*known at conversion time"):
        ct.convert(sm, inputs=[ct.TensorType(shape=(3, ct.RangeDim(2, 16)))])


def test_dynamic_batch_is_a_clear_error():
    sm = torch.jit.trace(Fn(lambda x: torch.stft(x, 16, hop_length=4, return_complex=True).abs()).eval(), (r(2, 64),))
    with pytest.raises(Exception, match=r"known at conversion time|static"):
        ct.convert(sm, inputs=[ct.TensorType(shape=(ct.RangeDim(1, 4), 64))])


def test_stft_align_to_window_is_a_clear_error():
    need_torch2("stft's align_to_window argument")
    fn = Fn(lambda x: VR(A.stft(x, 16, 4, 16, None, False, None, True, True)))
    sm = torch.jit.trace(fn.eval(), (r(2, 64),), check_trace=False)
    with pytest.raises(Exception, match=r"aten::stft.*align_to_window"):
        ct.convert(sm, inputs=[ct.TensorType(shape=(2, 64))])


def test_complex_into_python_converter_is_a_clear_error():
    from pt2coreml import _registry
    saved = dict(_registry._REGISTRY)
    try:
        @ct.register_torch_op(override=True)
        def exp(context, node):  # never reached: the complex input is refused first
            raise AssertionError("called with a complex input")

        with pytest.raises(Exception, match=r"aten::exp.*complex tensor cannot be passed to a Python converter"):
            _convert(lambda x: torch.exp(F.fft(x)).real, [(3, 8)])
    finally:
        _registry._REGISTRY.clear()
        _registry._REGISTRY.update(saved)
