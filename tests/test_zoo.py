"""A sample of the model-zoo sweep (tools/zoo.py, `make zoo`, runs every architecture): transformers'
decoder language models traced the plain way, with and without the KV cache, a mixture-of-experts
decoder, an encoder, a vision and an audio model; and timm's small models of a few architecture families
(tests/zoo_timm.py) at their default input size. Each converts, opens in coremltools' reader and matches
PyTorch."""
import pytest

import zoo_models

TIMM = [("resnet", "test_resnet"), ("vision_transformer", "test_vit"), ("convnext", "test_convnext"),
        ("efficientnet", "test_efficientnet"), ("byobnet", "test_byobnet"), ("mobilenetv3", "mobilenetv3_small_050")]
TIMM_FP16 = [("vision_transformer", "test_vit"), ("efficientnet", "test_efficientnet")]

SAMPLE = [
    ("causal-lm", "gpt2", None), ("causal-lm", "gpt2", False),
    ("causal-lm", "llama", None), ("causal-lm", "llama", False),
    ("causal-lm", "qwen2", None), ("causal-lm", "qwen2", False),
    ("causal-lm", "mistral", None), ("causal-lm", "mistral", False),
    ("causal-lm", "opt", None), ("causal-lm", "opt", False),
    ("causal-lm", "mixtral", None),
    ("masked-lm", "bert", None),
    ("vision", "vit", None),
    ("audio", "wav2vec2", None),
]
FP16 = [("causal-lm", "gpt2", None), ("causal-lm", "llama", None)]


def _cls(family, model_type):
    pytest.importorskip("transformers")
    archs = dict(zoo_models.architectures(family))
    if model_type not in archs:
        pytest.skip(f"this transformers has no {family} {model_type}")
    return archs[model_type]


def check(family, model_type, use_cache, precision, **run_kw):
    """zoo_models.run of one transformers architecture (skipped when this transformers lacks it) reaches "ok";
    run_kw: reader_check=True (coremltools' reader), frontend="export" (test_export_models.py)."""
    r = zoo_models.run(family, model_type, _cls(family, model_type), precision=precision, use_cache=use_cache,
                       **run_kw)
    assert r["stage"] == "ok", f"{model_type}: failed at {r['stage']}: {r['error']}"


@pytest.mark.parametrize("family,model_type,use_cache", SAMPLE,
                         ids=[f"{m}-{'cache' if c is None else 'nocache'}" for _, m, c in SAMPLE])
def test_zoo_sample(family, model_type, use_cache):
    check(family, model_type, use_cache, "fp32", reader_check=True)


@pytest.mark.parametrize("family,model_type,use_cache", FP16, ids=[m for _, m, _ in FP16])
def test_zoo_sample_fp16(family, model_type, use_cache):
    check(family, model_type, use_cache, "fp16", reader_check=True)


def check_timm(family, name, precision, **run_kw):
    """zoo_models.run of one timm model (skipped when this timm lacks it) reaches "ok"; run_kw as check's."""
    timm = pytest.importorskip("timm")
    if name not in timm.list_models(module=family):
        pytest.skip(f"this timm has no {name} in {family}")
    r = zoo_models.run("timm", family, name, precision=precision, **run_kw)
    assert r["stage"] == "ok", f"{name}: failed at {r['stage']}: {r['error']}"


@pytest.mark.parametrize("family,name", TIMM, ids=[n for _, n in TIMM])
def test_zoo_timm_sample(family, name):
    check_timm(family, name, "fp32", reader_check=True)


@pytest.mark.parametrize("family,name", TIMM_FP16, ids=[n for _, n in TIMM_FP16])
def test_zoo_timm_sample_fp16(family, name):
    check_timm(family, name, "fp16", reader_check=True)
