"""The whole models the suite converts from TorchScript, converted from torch.export too: each is exported
(torch.export.export, random weights, fixed seeds), converted as export() returns it and, for a
representative subset, after run_decompositions() (core ATen), predicted in our runtime and compared with
the PyTorch model itself in fp32 and fp16, with the tolerances (parity.TOL) and the fp16 regime check
(models_common.check_regime) of the TorchScript tests. The models are the TorchScript tests' own
definitions, imported: test_models.MODELS (full ImageNet size), test_cov_models (torchvision classifiers and
segmentation networks, our small GPT-2 / BERT / LSTM language models), test_recurrent.FORMS,
test_library_forms.MHA, the sentence-completion notebook's Hugging Face GPT-2 (notebooks/tiny_gpt2.py) and
the zoo sample (tests/zoo_models.py with frontend="export": transformers' decoders, a mixture of experts, an
audio model; timm).

Every one of them converts and matches (PT2COREML_EXPORT_MODELS=all runs them all: 173 cases, 13.5 min on
2 busy cores); by default each architecture family runs once (DEFAULT), to keep the suite fast. Stateful models
(test_stateful.py) are exported and converted with states= in test_export_state.py."""
import functools
import os
import sys

import numpy as np
import pytest
import torch

import pt2coreml as ct
from export_common import PREC, flat
from lower_common import CHECK_COREMLTOOLS
from models_common import check_regime, init_batch_norm
from parity import TOL, TORCH_MAJOR, compare, coremltools_check

if TORCH_MAJOR < 2:
    pytest.skip("torch.export needs torch >= 2", allow_module_level=True)

import test_cov_models as cov  # noqa: E402
import test_models  # noqa: E402
import test_zoo  # noqa: E402

NOTEBOOKS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "notebooks")


# ---- the subjects: name -> () -> (module, example inputs, check the fp16 regime) ----
def _vision(name):
    make, size, gain = cov.VISION_MODELS[name]
    torch.manual_seed(0)
    m = make().eval()
    if gain is not None:
        init_batch_norm(m, size, gain)
    return m, [torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(0))], True


def _full_size(name):
    torch.manual_seed(0)
    return test_models.MODELS[name]().eval(), [torch.rand(1, 3, 224, 224)], True


def _text(name):
    make, inputs = cov.TEXT_MODELS[name]
    torch.manual_seed(0)
    return make().eval(), inputs(torch.Generator().manual_seed(1)), False


def _recurrent(i):
    import test_recurrent
    from test_cov_seq import WithState
    cls, kw, with_state, _, _ = test_recurrent.FORMS[i]
    torch.manual_seed(i)
    m = WithState(cls(**kw).eval()).eval()
    layers = kw.get("num_layers", 1) * (2 if kw.get("bidirectional") else 1)
    g = torch.Generator().manual_seed(7)
    states = [torch.randn(layers, 2, kw["hidden_size"], generator=g) for _ in range(2 if cls is torch.nn.LSTM else 1)]
    return m, [test_recurrent._x(kw, 9), *(states if with_state else [])], False


def _mha():
    from test_library_forms import MHA
    torch.manual_seed(0)
    return MHA().eval(), [torch.randn(2, 5, 16)], False


def _hf_gpt2():
    """The sentence-completion notebook's model: transformers' GPT2LMHeadModel (small config, random weights)
    behind the notebook's NextTokenLogits (causal mask built from the length, use_cache=False)."""
    pytest.importorskip("transformers")
    sys.path.insert(0, NOTEBOOKS)
    import tiny_gpt2
    tok = tiny_gpt2.WordTokenizer(tiny_gpt2.CORPUS)
    torch.manual_seed(0)
    lm = tiny_gpt2.build_model(len(tok)).eval()
    return tiny_gpt2.NextTokenLogits(lm).eval(), [torch.tensor([tok.encode("The Manhattan Bridge is a")])], False


SUBJECTS = {
    **{f"{n}_224": functools.partial(_full_size, n) for n in test_models.MODELS},
    **{n: functools.partial(_vision, n) for n in cov.VISION_MODELS},
    **{n: functools.partial(_text, n) for n in cov.TEXT_MODELS},
    **{f"recurrent_{i}": functools.partial(_recurrent, i) for i in range(10)},
    "multihead_attention": _mha,
    "hf_gpt2_notebook": _hf_gpt2,
}

# One model per architecture family (the others are the same layers again): ResNet (and segmentation:
# deeplabv3 is the notebook's family), MobileNet (at full size; lraspp adds its head; EfficientNet is timm's below),
# squeeze / shuffle / dense concatenations, ConvNeXt, the two vision transformers, Inception, our text
# models, a bidirectional LSTM, RNN and GRU, nn.MultiheadAttention, transformers' GPT-2.
DEFAULT = ["mobilenet_v2_224", "deeplabv3_resnet50", "lraspp_mobilenet_v3_large", "shufflenet_v2_x1_0", "squeezenet1_1", "convnext_tiny", "vit_b_16", "swin_t", "googlenet", "gpt2_tiny",
           "bert_tiny", "lstm_lm", "recurrent_2", "recurrent_5", "recurrent_8", "multihead_attention",
           "hf_gpt2_notebook"]
# also converted after run_decompositions() (core ATen: convolution, addmm, native_layer_norm, expand, ...)
DECOMPOSED = {"deeplabv3_resnet50", "swin_t", "vit_b_16", "gpt2_tiny", "bert_tiny", "lstm_lm",
              "recurrent_8", "multihead_attention", "hf_gpt2_notebook"}
ALL = os.environ.get("PT2COREML_EXPORT_MODELS") == "all"
SELECTED = list(SUBJECTS) if ALL else DEFAULT
CASES = [(n, form) for n in SELECTED for form in (["export", "core_aten"] if ALL or n in DECOMPOSED else ["export"])]


@functools.lru_cache(maxsize=1)  # a model's forms run one after the other (CASES is ordered by model)
def _subject(name):
    module, args, regime = SUBJECTS[name]()
    if regime:
        check_regime(module, args[0])  # a fair fp16 subject, as in the TorchScript tests
    with torch.no_grad():
        refs = module(*args)
        ep = torch.export.export(module, tuple(args))
    refs = [r.numpy() for r in flat(refs)]
    return module, args, refs, ep


@pytest.fixture(scope="module", params=CASES, ids=[f"{n}-{f}" for n, f in CASES])
def program(request):
    """(exported program in the case's form, example inputs, the PyTorch module's outputs), shared by fp32
    and fp16."""
    name, form = request.param
    _, args, refs, ep = _subject(name)
    if form == "core_aten":
        ep = ep.run_decompositions()
    return ep, args, refs


def _feed(x):
    x = x.numpy()
    return x.astype(np.int32) if x.dtype == np.int64 else x  # the program's int64 inputs are int32 in Core ML


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_export_model(program, precision):
    ep, args, refs = program
    ml = ct.convert(ep, compute_precision=PREC[precision])
    names = [f["name"] for f in ml._desc["inputs"]]
    out = ml.predict({n: _feed(a) for n, a in zip(names, args)})
    out_names = [f["name"] for f in ml._desc["outputs"]]
    assert len(out_names) == len(refs), f"{len(out_names)} outputs, torch has {len(refs)}"
    worst = max(compare(n, out[n], r, TOL[precision]) for n, r in zip(out_names, refs))
    print(f"{precision}: max error {worst:.2e} x scale")


def test_hf_gpt2_export_package_opens_in_coremltools(tmp_path):
    """The torch.export conversion of transformers' GPT-2 writes a package coremltools' reader rebuilds."""
    if not CHECK_COREMLTOOLS:
        pytest.skip("the package writer or coremltools is not available")
    ep = _subject("hf_gpt2_notebook")[3]
    ml = ct.convert(ep, compute_precision=ct.precision.FLOAT16)
    ml.save(str(tmp_path / "gpt2.mlpackage"))
    prog = coremltools_check(str(tmp_path / "gpt2.mlpackage"))
    if prog is not None:
        ops = [op.op_type for op in prog.functions["main"].operations]
        assert ops.count("linear") + ops.count("matmul") >= 8, ops  # 2 layers: qkv, proj, fc, fc2, attention


# ---- the zoo sample (tests/test_zoo.py) through torch.export ----
ZOO = [("causal-lm", "gpt2", None), ("causal-lm", "llama", None), ("causal-lm", "mixtral", None),
       ("masked-lm", "bert", None), ("audio", "wav2vec2", None)]
ZOO_FP16 = [("causal-lm", "llama", None)]
TIMM = [("efficientnet", "test_efficientnet"), ("byobnet", "test_byobnet")]
if ALL:
    ZOO, TIMM = test_zoo.SAMPLE, test_zoo.TIMM
    ZOO_FP16 = test_zoo.FP16


@pytest.mark.parametrize("family,model_type,use_cache", ZOO,
                         ids=[f"{m}-{'cache' if c is None else 'nocache'}" for _, m, c in ZOO])
def test_export_zoo(family, model_type, use_cache):
    test_zoo.check(family, model_type, use_cache, "fp32", frontend="export")


@pytest.mark.parametrize("family,model_type,use_cache", ZOO_FP16, ids=[m for _, m, _ in ZOO_FP16])
def test_export_zoo_fp16(family, model_type, use_cache):
    test_zoo.check(family, model_type, use_cache, "fp16", frontend="export")


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
@pytest.mark.parametrize("family,name", TIMM, ids=[n for _, n in TIMM])
def test_export_timm(family, name, precision):
    test_zoo.check_timm(family, name, precision, frontend="export")
