"""Helpers for notebooks/segmentation.ipynb: drawn scenes whose masks are known, and a DeepLabV3
whose head is trained on them in about a minute on a laptop CPU.

Nothing is downloaded. The scenes (sky, sun, grass, houses, trees) are drawn with PIL; each shape's class
is drawn at the same time into a mask, so every picture comes with its exact ground truth. The model is
torchvision's `deeplabv3_resnet101(weights=None)` with five classes: the ResNet-101 backbone keeps random
weights (its BatchNorm statistics are measured on the scenes) and the end of the DeepLabV3 head is trained
on features computed once (see `train`). Seeds are fixed.
"""
import time

import numpy as np
import torch
import torchvision
from PIL import Image, ImageDraw

CLASSES = ["sky", "sun", "house", "tree", "grass"]
SKY, SUN, HOUSE, TREE, GRASS = range(len(CLASSES))
PALETTE = np.array([(70, 130, 255), (255, 230, 0), (230, 40, 40), (0, 110, 0), (140, 230, 60)], np.uint8)

# ImageNet normalization, as torchvision's pretrained models expect; the Core ML model applies it itself
# (ImageType scale and bias), so PyTorch gets the same numbers from the same pixels.
MEAN = np.array([0.485, 0.456, 0.406], np.float32)
STD = np.array([0.229, 0.224, 0.225], np.float32)
IMAGE_SCALE = 1 / (0.226 * 255.0)
IMAGE_BIAS = [float(-m / s) for m, s in zip(MEAN, STD)]


def _jitter(rng, color, amount):
    return tuple(int(np.clip(c + rng.integers(-amount, amount + 1), 0, 255)) for c in color)


class _Canvas:
    """Draws the picture and its mask together: each shape paints its colour and its class."""

    def __init__(self, size):
        self.size = size
        self.img = Image.new("RGB", (size, size))
        self.mask = Image.new("L", (size, size), SKY)
        self.d = ImageDraw.Draw(self.img)
        self.m = ImageDraw.Draw(self.mask)

    def sky(self, top, bottom):
        for y in range(self.size):
            t = y / self.size
            self.d.line([(0, y), (self.size, y)], fill=tuple(int(a + (b - a) * t) for a, b in zip(top, bottom)))

    def shape(self, kind, xy, color, cls):
        getattr(self.d, kind)(xy, fill=color)
        getattr(self.m, kind)(xy, fill=cls)

    def finish(self, rng, noise=6):
        # a little texture, as a photo would have
        a = np.asarray(self.img).astype(np.int16) + rng.integers(-noise, noise + 1, (self.size, self.size, 3))
        return Image.fromarray(np.clip(a, 0, 255).astype(np.uint8)), np.asarray(self.mask).copy()


def _house(c, rng, x, base, w, h):
    """Walls, roof and door; all of it is class house."""
    c.shape("rectangle", [x, base - h, x + w, base], _jitter(rng, (200, 80, 60), 30), HOUSE)
    over = 0.08 * w
    c.shape("polygon", [(x - over, base - h), (x + w / 2, base - h - 0.55 * w), (x + w + over, base - h)],
            _jitter(rng, (120, 60, 40), 20), HOUSE)
    dw = 0.25 * w
    dx = x + rng.uniform(0.15, 0.6) * w
    c.shape("rectangle", [dx, base - 0.55 * h, dx + dw, base], _jitter(rng, (90, 50, 30), 15), HOUSE)


def _tree(c, rng, x, base, h):
    """A trunk and a round crown; both are class tree."""
    tw = 0.12 * h
    c.shape("rectangle", [x - tw / 2, base - 0.6 * h, x + tw / 2, base], _jitter(rng, (100, 70, 40), 15), TREE)
    r = rng.uniform(0.3, 0.45) * h
    cy = base - 0.6 * h - 0.5 * r
    c.shape("ellipse", [x - r, cy - r, x + r, cy + r], _jitter(rng, (40, 120, 50), 15), TREE)


def classic_scene(size):
    """The notebook's picture: sky, sun, hills, a house and a tree. Returns (PIL image, mask)."""
    s = size / 448.0
    c = _Canvas(size)
    c.sky((90, 150, 235), (200, 230, 215))
    c.shape("ellipse", [330 * s, 40 * s, 400 * s, 110 * s], (255, 220, 90), SUN)
    c.shape("polygon", [(0, 300 * s), (120 * s, 230 * s), (260 * s, 290 * s), (448 * s, 220 * s), (448 * s, 448 * s),
                        (0, 448 * s)], (70, 150, 70), GRASS)
    c.shape("rectangle", [90 * s, 250 * s, 210 * s, 360 * s], (200, 80, 60), HOUSE)
    c.shape("polygon", [(80 * s, 252 * s), (150 * s, 190 * s), (220 * s, 252 * s)], (120, 60, 40), HOUSE)
    c.shape("rectangle", [135 * s, 300 * s, 165 * s, 360 * s], (90, 50, 30), HOUSE)
    c.shape("rectangle", [310 * s, 260 * s, 330 * s, 380 * s], (100, 70, 40), TREE)
    c.shape("ellipse", [270 * s, 180 * s, 370 * s, 290 * s], (40, 120, 50), TREE)
    return c.finish(np.random.default_rng(0))


def random_scene(size, seed):
    """A scene of the same kind with everything drawn at random (layout, sizes, colours, which objects are
    in front). Returns (PIL image, mask)."""
    rng = np.random.default_rng(seed)
    S = float(size)
    c = _Canvas(size)
    c.sky(_jitter(rng, (90, 150, 235), 25), _jitter(rng, (200, 230, 215), 25))
    if rng.random() < 0.85:
        r = rng.uniform(0.05, 0.1) * S
        x, y = rng.uniform(r, S - r), rng.uniform(r, 0.3 * S)
        c.shape("ellipse", [x - r, y - r, x + r, y + r], _jitter(rng, (255, 220, 90), 20), SUN)
    horizon = rng.uniform(0.45, 0.7) * S
    xs = np.sort(rng.uniform(0, S, rng.integers(1, 4)))
    hills = [(0, horizon + rng.uniform(-0.08, 0.08) * S)]
    hills += [(float(x), horizon + rng.uniform(-0.1, 0.1) * S) for x in xs]
    hills += [(S, horizon + rng.uniform(-0.08, 0.08) * S), (S, S), (0, S)]
    c.shape("polygon", hills, _jitter(rng, (70, 150, 70), 25), GRASS)
    things = ["house"] * int(rng.integers(1, 3)) + ["tree"] * int(rng.integers(1, 3))
    rng.shuffle(things)
    for t in things:
        base = rng.uniform(horizon + 0.05 * S, 0.95 * S)
        if t == "house":
            w = rng.uniform(0.18, 0.32) * S
            _house(c, rng, rng.uniform(0.02, 0.98) * S - w / 2, base, w, rng.uniform(0.6, 0.9) * w)
        else:
            _tree(c, rng, rng.uniform(0.05, 0.95) * S, base, rng.uniform(0.25, 0.45) * S)
    return c.finish(rng)


def to_tensor(images):
    """PIL images -> the normalized float tensor (n, 3, H, W) torchvision's models take."""
    a = np.stack([np.asarray(im, np.float32) for im in images]).transpose(0, 3, 1, 2)
    return torch.from_numpy(a * IMAGE_SCALE + np.array(IMAGE_BIAS, np.float32).reshape(1, 3, 1, 1))


class Segmenter(torch.nn.Module):
    """torchvision's DeepLabV3-ResNet101 (random initial weights, five classes) returning a tensor:
    Core ML outputs are tensors, torchvision's segmentation models return a dict."""

    def __init__(self):
        super().__init__()
        self.m = torchvision.models.segmentation.deeplabv3_resnet101(
            weights=None, weights_backbone=None, num_classes=len(CLASSES), aux_loss=False)

    def forward(self, x):
        return self.m(x)["out"]


def iou(pred, truth, n=len(CLASSES)):
    """Per-class intersection over union (nan for a class absent from both)."""
    out = []
    for k in range(n):
        inter = np.logical_and(pred == k, truth == k).sum()
        union = np.logical_or(pred == k, truth == k).sum()
        out.append(inter / union if union else float("nan"))
    return np.array(out)


def _bn_momentum(module, momentum):
    for m in module.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.momentum = momentum


def train(size=128, scenes=48, steps=200, batch=8, seed=0, lr=3e-3, residual_scale=0.2, calibration=16, log=print):
    """Build the Segmenter and train the end of its head on `scenes` random scenes of size x size.

    The backbone keeps random weights, started the way torchvision's `zero_init_residual` option starts a
    ResNet: the last BatchNorm of each residual block scales its branch down (here to `residual_scale`
    rather than 0), so what the first layers see reaches the head. Its BatchNorm statistics are measured
    on the first `calibration` scenes. Then the ASPP branches run once over every scene, and the ASPP
    projection and the layers after it (conv 3x3, BatchNorm, ReLU, conv 1x1 to the classes) are trained
    with Adam on those features, `steps` steps of `batch` scenes.
    Returns (model in eval mode, list of (step, loss))."""
    torch.manual_seed(seed)
    t0 = time.perf_counter()
    model = Segmenter()
    net = model.m
    for m in net.backbone.modules():
        if isinstance(m, torchvision.models.resnet.Bottleneck):
            torch.nn.init.constant_(m.bn3.weight, residual_scale)
    pics = [random_scene(size, 1000 + i) for i in range(scenes)]
    x = to_tensor([p for p, _ in pics])
    y = torch.from_numpy(np.stack([m for _, m in pics])).long()
    aspp = net.classifier[0]

    # BatchNorm statistics measured on the scenes: a plain average over the batches
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.reset_running_stats()
    _bn_momentum(net, None)
    net.train()
    with torch.no_grad():
        for i in range(0, min(calibration, scenes), 8):
            aspp(net.backbone(x[i:i + 8])["out"])
    net.eval()

    # the five ASPP branches (1x1, three dilated 3x3, image pooling), computed once
    with torch.no_grad():
        feats = torch.cat([torch.cat([branch(f) for branch in aspp.convs], 1)
                           for f in (net.backbone(x[i:i + 8])["out"] for i in range(0, scenes, 8))])
    t_feats = time.perf_counter() - t0

    trained = torch.nn.Sequential(aspp.project, *list(net.classifier)[1:])
    _bn_momentum(trained, 0.1)
    trained.train()
    opt = torch.optim.Adam(trained.parameters(), lr=lr)
    g = torch.Generator().manual_seed(seed)
    hist = []
    for step in range(steps):
        idx = torch.randint(0, scenes, (batch,), generator=g)
        logits = torch.nn.functional.interpolate(trained(feats[idx]), size=(size, size), mode="bilinear",
                                                 align_corners=False)
        loss = torch.nn.functional.cross_entropy(logits, y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 50 == 0 or step == steps - 1:
            hist.append((step, round(loss.item(), 4)))
    model.eval()
    t_train = time.perf_counter() - t0 - t_feats
    log(f"{scenes} scenes of {size}x{size}: features {t_feats:.1f} s, training {t_train:.1f} s ({steps} steps), "
        f"loss {hist[0][1]} -> {hist[-1][1]}")
    return model, hist


def colorize(mask):
    """A class mask (H, W) -> an RGB picture in PALETTE's colours."""
    return PALETTE[mask]


def overlay(image, mask, alpha=0.5):
    """The mask's colours laid over the picture, and the class borders drawn in black: (H, W, 3) uint8."""
    a = (1 - alpha) * np.asarray(image, np.float32) + alpha * PALETTE[mask].astype(np.float32)
    edge = np.zeros(mask.shape, bool)
    edge[1:, :] |= mask[1:, :] != mask[:-1, :]
    edge[:, 1:] |= mask[:, 1:] != mask[:, :-1]
    a[edge] = 0
    return a.astype(np.uint8)
