"""timm's architecture families for the model zoo: one model per family (a module of `timm.models`,
`timm.list_modules()`), the one with the fewest parameters, built with `pretrained=False` (nothing is
downloaded) and a fixed seed, at its default input size (`pretrained_cfg['input_size']`).

Counting the parameters of all of timm's 1300-odd models costs half an hour even on the meta device,
so each family's names are ranked by the size words and numbers in them (test < atto < femto < pico <
nano < tiny < small < base < large ..., then the first number: resnet18 before resnet50, regnetx_002
before regnetx_320) and the first SHORTLIST are built on the meta device and counted; the smallest of
those is the family's model. The picks are cached per timm version in build/zoo/.

Families whose smallest model is too large are recorded as skipped: more than PARAM_CAP parameters, or
more than WORK_CAP parameters scaled by its input's pixels over 224x224 (a 167 M-parameter ViT at 768x768
has 2304 tokens: about 800 GFLOPs, an hour of a shared core for the reference and the runtime).
"""
import json
import os
import re
import warnings

import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # pretrained=False downloads nothing; make sure nothing tries

SHORTLIST = 6
PARAM_CAP = 200_000_000
WORK_CAP = 500_000_000

_SIZE_WORDS = {
    "test": 0, "yocto": 1, "zepto": 1, "atto": 1, "femto": 2, "pico": 3, "nano": 4, "micro": 5, "xxxs": 5,
    "xxs": 5, "xs": 6, "mini": 6, "tiny": 7, "t": 7, "lite": 7, "s": 8, "small": 8, "m": 10, "medium": 10,
    "b": 12, "base": 12, "betwixt": 11, "l": 14, "large": 14, "xl": 16, "xlarge": 16, "huge": 16, "h": 16,
    "giant": 17, "g": 17, "enormous": 18, "gigantic": 18, "xxlarge": 18,
}


def _size_key(name):
    tokens = re.split(r"[_\-.]", name.lower())
    words = [_SIZE_WORDS[t] for t in tokens if t in _SIZE_WORDS]
    words += [18 for t in tokens if re.fullmatch(r"\d+b", t)]  # 1b, 7b: billions of parameters
    nums = [int(x) for x in re.findall(r"\d+", name)]
    return (min(words) if words else 9, nums[0] if nums else 0, len(name), name)


def _cache_path():
    import timm
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return os.path.join(here, "build", "zoo", f"timm-{timm.__version__}-picks.json")


def _count(name):
    import timm
    with torch.device("meta"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = timm.create_model(name, pretrained=False)
    return sum(p.numel() for p in m.parameters())


def picks():
    """{family: [model name, parameters]} for every family of timm.models, cached."""
    import timm
    path = _cache_path()
    if os.path.exists(path):
        with open(path) as f:
            return json.load(f)
    out = {}
    for fam in timm.list_modules():
        names = sorted(timm.list_models(module=fam), key=_size_key)[:SHORTLIST]
        counted = []
        for n in names:
            try:
                counted.append((_count(n), n))
            except Exception:  # noqa: BLE001 - a name that does not build on meta is counted when run
                continue
        if counted:
            p, n = min(counted)
            out[fam] = [n, p]
        elif names:
            out[fam] = [names[0], None]
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + ".tmp", "w") as f:
        json.dump(out, f, indent=0, sort_keys=True)
    os.replace(path + ".tmp", path)
    return out


def architectures():
    """(family, model name) pairs, sorted by family."""
    return sorted((fam, v[0]) for fam, v in picks().items())


def too_large(family, name):
    """Why the family's pick is skipped, or None. Its parameter count comes from the cache (none before
    picks() made it: the suite's sample names its models and never counts them all)."""
    import timm
    path = _cache_path()
    if not os.path.exists(path):
        return None
    with open(path) as f:
        n = json.load(f).get(family, [None, None])[1]
    size = timm.models.get_pretrained_cfg(name).input_size or (3, 224, 224)
    if n is None:
        return None
    if n > PARAM_CAP or n * size[1] * size[2] / 224 ** 2 > WORK_CAP:
        return f"too large ({n / 1e6:.0f} M params at {size[1]}x{size[2]})"
    return None


def build(name):
    """The model (eval mode, random weights from seed 0, constant parameters perturbed as for the
    transformers zoo) and an example image batch of its default input size."""
    import timm
    from zoo_models import _break_ties
    torch.manual_seed(0)
    model = timm.create_model(name, pretrained=False).eval()
    _break_ties(model)
    size = tuple(model.pretrained_cfg.get("input_size") or (3, 224, 224))
    g = torch.Generator().manual_seed(1)
    return model, torch.randn((1,) + size, generator=g)
