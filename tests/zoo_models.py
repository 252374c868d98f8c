"""Models as the ecosystem ships them: every transformers architecture of a task family, built from a
small random config (a few layers, width 64), traced the plain way (default attention implementation and
cache settings; only a wrapper that returns the main tensor), converted, and compared with PyTorch.

Nothing is downloaded: configs are the library's defaults, shrunk. Used by tests/test_zoo.py (a sample)
and tools/zoo.py (the whole sweep, `make zoo`, which writes docs/models.md's table).
"""
import contextlib
import importlib
import signal
import time
import warnings

import numpy as np
import torch

# task family -> (transformers auto-mapping name, input kind)
FAMILIES = {
    "causal-lm": ("MODEL_FOR_CAUSAL_LM_MAPPING_NAMES", "text"),
    "masked-lm": ("MODEL_FOR_MASKED_LM_MAPPING_NAMES", "text"),
    "encoder": ("MODEL_FOR_TEXT_ENCODING_MAPPING_NAMES", "text"),
    "vision": ("MODEL_FOR_IMAGE_CLASSIFICATION_MAPPING_NAMES", "image"),
    "audio": ("MODEL_FOR_AUDIO_CLASSIFICATION_MAPPING_NAMES", "audio"),
    "audio-ctc": ("MODEL_FOR_CTC_MAPPING_NAMES", "audio"),
    "timm": (None, "timm"),  # one model per timm architecture family (tests/zoo_timm.py)
}

VOCAB = 512
SEQ = 8
WIDTH = 64

# Config attributes shrunk for every architecture (those a config has; attribute_map aliases such as
# n_embd -> hidden_size resolve through the config itself).
_SCALARS = {
    "hidden_size": WIDTH, "d_model": WIDTH, "n_embd": WIDTH, "embed_dim": WIDTH, "dim": WIDTH, "n_embed": WIDTH,
    "embedding_size": WIDTH, "word_embed_proj_dim": WIDTH, "projection_dim": WIDTH,
    "n_layers": 2, "encoder_layers": 2, "decoder_layers": 2,
    "num_attention_heads": 4, "n_head": 4, "n_heads": 4, "encoder_attention_heads": 4, "decoder_attention_heads": 4,
    "num_key_value_heads": 2, "head_dim": 16, "kv_channels": 16, "attention_head_dim": 16,
    "intermediate_size": 128, "ffn_dim": 128, "n_inner": 128, "d_ff": 128, "encoder_ffn_dim": 128,
    "decoder_ffn_dim": 128, "hidden_dim": 128, "moe_intermediate_size": 32, "shared_expert_intermediate_size": 32,
    "num_experts": 4, "num_local_experts": 4, "n_routed_experts": 4, "num_experts_per_tok": 2,
    "max_position_embeddings": 128, "n_positions": 128, "max_seq_len": 128, "seq_length": 128,
    "image_size": 32, "patch_size": 8, "num_channels": 3,
    "num_mel_bins": 16, "num_conv_pos_embeddings": 16, "conv_pos_kernel_size": 16,
    "rotary_dim": 8, "qk_nope_head_dim": 16, "qk_rope_head_dim": 8, "v_head_dim": 16, "qk_head_dim": 24,
    "kv_lora_rank": 32, "q_lora_rank": 32, "index_head_dim": 16, "index_n_heads": 4, "linear_key_head_dim": 16,
    "linear_value_head_dim": 16, "linear_num_key_heads": 2, "linear_num_value_heads": 4,
    "mamba_d_state": 16, "state_size": 16, "ssm_state_size": 16, "mamba_d_head": 16, "mamba_n_heads": 8,
    "mamba_expand": 2, "time_step_rank": 8, "conv_kernel": 4, "mamba_d_conv": 4, "n_groups": 1,
    "first_k_dense_replace": 1, "n_shared_experts": 1, "num_shared_experts": 1, "topk_group": 1, "n_group": 1,
    "sliding_window": 4, "attention_window": 4, "local_window_size": 4, "chunk_size": 4,
    "num_labels": 2, "hidden_size_per_head": 16,
}
_LISTS_WIDTH = ("hidden_sizes", "embed_dims", "embed_dim_list", "neck_hidden_sizes", "channels")
_LISTS_DEPTH = ("depths", "num_layers_list", "block_depths")


def _shrink_layers(cfg, d):
    """Keep two layers, or one of each kind when the config lists layer kinds (sliding / full attention,
    linear attention, mamba ...); every per-layer list follows the kept layers."""
    n = next((d[k] for k in ("num_hidden_layers", "n_layer", "num_layers") if isinstance(d.get(k), int)), None)
    if not n or n <= 2:
        return
    kinds = d.get("layer_types")
    if isinstance(kinds, list) and len(kinds) == n:
        keep = sorted({str(t): i for i, t in reversed(list(enumerate(kinds)))}.values())
        keep = keep if len(keep) >= 2 else [0, 1]
    else:
        keep = [0, 1]
    for k, v in d.items():
        if isinstance(v, list) and len(v) == n and k not in _LISTS_WIDTH + _LISTS_DEPTH:
            with contextlib.suppress(Exception):
                setattr(cfg, k, [v[i] for i in keep])
    for k in ("num_hidden_layers", "n_layer", "num_layers"):
        if isinstance(d.get(k), int):
            with contextlib.suppress(Exception):
                setattr(cfg, k, len(keep))
    d.update(cfg.to_dict())


def _shrink(cfg, depth=0):
    from transformers import PretrainedConfig
    for k in list(vars(cfg)):
        sub = getattr(cfg, k, None)
        if isinstance(sub, PretrainedConfig) and depth < 3:
            _shrink(sub, depth + 1)
    d = cfg.to_dict()
    _shrink_layers(cfg, d)
    for k, v in _SCALARS.items():
        if k in d and isinstance(d[k], int) and not isinstance(d[k], bool) and d[k] > v:
            with contextlib.suppress(Exception):
                setattr(cfg, k, v)
    for k in _LISTS_WIDTH:
        if isinstance(d.get(k), list) and d[k] and all(isinstance(x, int) for x in d[k]):
            setattr(cfg, k, [min(x, 16 * 2 ** i) for i, x in enumerate(d[k])])
    for k in _LISTS_DEPTH:
        if isinstance(d.get(k), list) and d[k] and all(isinstance(x, int) for x in d[k]):
            setattr(cfg, k, [1 for _ in d[k]])
    if "qk_rope_head_dim" in d and "head_dim" in d:  # multi-head latent attention: rope dims are the head_dim
        with contextlib.suppress(Exception):
            cfg.head_dim = cfg.qk_rope_head_dim
    for k in ("vocab_size",):
        if isinstance(d.get(k), int) and d[k] > VOCAB:
            setattr(cfg, k, VOCAB)
    for k in ("pad_token_id", "bos_token_id", "eos_token_id", "decoder_start_token_id", "sep_token_id",
              "cls_token_id", "mask_token_id", "unk_token_id"):
        v = d.get(k)
        if isinstance(v, int) and v >= VOCAB:
            setattr(cfg, k, 1)
        elif isinstance(v, list):
            setattr(cfg, k, [1 for _ in v])
    if hasattr(cfg, "torchscript"):
        cfg.torchscript = True
    return cfg


def _break_ties(model):
    """Random init leaves some weights constant (zero router gates: every expert ties, and which one
    topk picks is up to the implementation) or uninitialized (torch.empty): perturb the one, redraw the
    other, with a fixed seed."""
    g = torch.Generator().manual_seed(2)
    with torch.no_grad():
        for p in model.parameters():
            if not p.is_floating_point() or p.numel() < 2:
                continue
            if not torch.isfinite(p).all() or p.abs().max() > 1e4:
                p.copy_(torch.randn(p.shape, generator=g) * 0.02)
            elif bool((p == p.flatten()[0]).all()):
                p.add_(torch.randn(p.shape, generator=g) * 0.02)


def architectures(family):
    """(model_type, class name) pairs of a family, sorted (timm: (family, model name))."""
    if family == "timm":
        import zoo_timm
        return zoo_timm.architectures()
    from transformers.models.auto import modeling_auto
    names = getattr(modeling_auto, FAMILIES[family][0])
    return sorted((t, c if isinstance(c, str) else c[0]) for t, c in names.items())


def build(family, model_type, cls_name, use_cache=None):
    """A small random model of that architecture, in eval mode, and its example input (a tensor)."""
    if family == "timm":
        import zoo_timm
        return zoo_timm.build(cls_name)
    import transformers
    from transformers import AutoConfig
    torch.manual_seed(0)
    cfg = _shrink(AutoConfig.for_model(model_type))
    if use_cache is not None and hasattr(cfg, "use_cache"):
        cfg.use_cache = use_cache
    cls = getattr(transformers, cls_name)
    model = cls(cfg).eval()
    _break_ties(model)
    kind = FAMILIES[family][1]
    g = torch.Generator().manual_seed(1)
    if kind == "text":
        vocab = getattr(cfg, "vocab_size", VOCAB) or VOCAB
        x = torch.randint(2, min(vocab, VOCAB), (1, SEQ), generator=g)
    elif kind == "image":
        ch = getattr(cfg, "num_channels", 3)
        size = getattr(cfg, "image_size", 32)
        size = size if isinstance(size, int) else size[0]
        x = torch.randn(1, ch, size, size, generator=g)
    else:
        x = torch.randn(1, 4000, generator=g)
    return model, x


class MainTensor(torch.nn.Module):
    """Returns the model's first output tensor (logits, or the last hidden state)."""

    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, x):
        out = self.m(x)
        if isinstance(out, torch.Tensor):
            return out
        if isinstance(out, (tuple, list)):
            return out[0]
        return out[next(iter(out.keys()))]


class _Timeout(Exception):
    pass


@contextlib.contextmanager
def _deadline(seconds):
    def on_alarm(signum, frame):
        raise _Timeout(f"over {seconds} s")
    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def _first_line(e):
    lines = [ln.strip() for ln in str(e).strip().splitlines() if ln.strip() and not ln.startswith("Register a")]
    return f"{type(e).__name__}: {' | '.join(lines)}"[:400]


def run(family, model_type, cls_name, precision="fp32", use_cache=None, timeout=240, reader_check=False,
        frontend="trace"):
    """Try one architecture. Returns a dict: stage reached ('build', 'trace', 'convert', 'predict',
    'match', 'ok'), the error's first line, max relative error, seconds. frontend="export" takes the
    model through torch.export.export instead of torch.jit.trace (stage 'trace' is then the export)."""
    import pt2coreml as ct
    from parity import TOL
    res = {"family": family, "model_type": model_type, "class": cls_name, "precision": precision,
           "use_cache": use_cache, "stage": "build", "error": "", "rel_err": None}
    t0 = time.time()
    if family == "timm":
        import zoo_timm
        why = zoo_timm.too_large(model_type, cls_name)
        if why:
            res.update(stage="skipped", error=why, seconds=0.0)
            return res
    try:
        with _deadline(timeout), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model, x = build(family, model_type, cls_name, use_cache)
            res["stage"] = "trace"
            wrapped = MainTensor(model).eval()
            with torch.no_grad():
                if frontend == "export":
                    traced = torch.export.export(wrapped, (x,))
                    ref, again = traced.module()(x), traced.module()(x)
                else:
                    traced = torch.jit.trace(wrapped, (x,), check_trace=False, strict=False)
                    ref = traced(x)
                    again = traced(x)
            if isinstance(ref, torch.Tensor) and ref.is_floating_point() and not torch.allclose(
                    ref, again, rtol=1e-5, atol=0, equal_nan=True):
                # RWKV without cache rescales its own weights in place on every call: the traced module
                # has no one answer to match (torch.jit.trace's check_trace would reject it)
                raise RuntimeError("the traced module gives another output on a second call with the same "
                                   "input (it changes its own weights or state)")
            if not isinstance(ref, torch.Tensor) or not ref.is_floating_point():
                raise TypeError(f"main output is not a float tensor ({type(ref).__name__})")
            ref = ref.float().numpy()
            res["stage"] = "convert"
            dt = np.int32 if x.dtype == torch.int64 else np.float32
            prec = ct.precision.FLOAT32 if precision == "fp32" else ct.precision.FLOAT16
            ml = ct.convert(traced, inputs=[ct.TensorType(name="x", shape=tuple(x.shape), dtype=dt)],
                            compute_precision=prec)
            res["ops"] = sum(ml.op_histogram().values())
            if reader_check:  # Apple's reader (coremltools' MIL loader) opens the package
                import os
                import tempfile
                from parity import _SCRATCH, coremltools_check
                with tempfile.TemporaryDirectory(dir=_SCRATCH) as d:
                    path = os.path.join(d, "m.mlpackage")
                    ml.save(path)
                    coremltools_check(path)
            res["stage"] = "predict"
            got = list(ml.predict({"x": x.numpy().astype(dt)}).values())[0]
            res["stage"] = "match"
            if got.shape != ref.shape:
                raise AssertionError(f"shape {got.shape} != torch's {ref.shape}")
            scale = max(float(np.max(np.abs(ref))), 1e-3)
            err = float(np.max(np.abs(got.astype(np.float64) - ref))) / scale
            res["rel_err"] = err
            if not np.isfinite(err) or err > TOL[precision]:
                raise AssertionError(f"max relative error {err:.3g} > {TOL[precision]:g}")
            res["stage"] = "ok"
    except Exception as e:  # noqa: BLE001 - a sweep records every failure
        res["error"] = _first_line(e)
    res["seconds"] = round(time.time() - t0, 1)
    return res


def importable(name):
    try:
        importlib.import_module(name)
        return True
    except Exception:
        return False
