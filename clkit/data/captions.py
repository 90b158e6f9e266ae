"""Image–caption pairs drawn from the procedural shapes: CLIP's kind of data, made offline from a seed.

Every image has five attributes, and its caption says them in words::

    shape     the 10 shapes of :mod:`clkit.data.shapes` (the class label)
    colour    red, orange, yellow, green, blue, purple (cyan only in the "novel_colour" split)
    size      small or large
    tone      a pale or a dark background
    pattern   a plain or a striped background

"a small red triangle on a pale striped background". Each attribute is rendered so that its word is true:
a colour is one fixed RGB value with a little jitter, the two sizes do not overlap, the two tones are far
apart. What the captions never mention (position, a rotation of up to ±17°, the stripes' angle and phase,
pixel noise) varies freely, as a photo's framing does under its caption.

Each image carries several **phrasings** of its caption, from :data:`TEMPLATES` with synonyms (small, little,
tiny; pale, light): the first phrasing always says all five attributes in their own words (the image's
``caption``), the others are drawn at random and may leave some out, as people's captions do. A training step
picks one phrasing per image at random.

**Splits.** Some (shape, colour) pairs, :data:`HELD_OUT` (one colour per shape), never appear in ``"train"``
or ``"test"``; ``"held_out"`` holds only them, so a zero-shot classifier that names a red circle has never
seen one. ``"novel_colour"`` holds every shape in cyan, a colour (and a word) that no other split has.
Shapes are class-balanced in every split (and each shape's colours balanced among those its split allows).

>>> train = make_captions(20, "train", seed=0)
>>> train.captions[0]
'a large red plus on a pale striped background'
>>> tuple(train.tokens.shape)  # 20 images × 4 phrasings × 12 token ids
(20, 4, 12)
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import torch
from torch import Tensor

from clkit.data.shapes import SHAPE_CLASSES, SHAPES_NOISE, SHAPES_ROTATION_DEG, shape_coverage
from clkit.data.tokens import Tokenizer

__all__ = ["ATTRIBUTES", "CAPTION_LENGTH", "CAPTION_SPLITS", "COLOURS", "CaptionSet", "HELD_OUT", "PROMPTS",
           "SEEN_COLOURS", "TEMPLATES", "make_captions"]

#: The named colours, each rendered as this RGB value (0..1) with ±:data:`COLOUR_JITTER` per channel.
COLOURS: dict[str, tuple[float, float, float]] = {
    "red": (0.85, 0.10, 0.10), "orange": (0.98, 0.55, 0.05), "yellow": (0.95, 0.88, 0.15),
    "green": (0.15, 0.68, 0.20), "blue": (0.15, 0.35, 0.95), "purple": (0.60, 0.20, 0.80),
    "cyan": (0.10, 0.80, 0.88),  # only in "novel_colour": its word is never in a training caption
}
SEEN_COLOURS: tuple[str, ...] = ("red", "orange", "yellow", "green", "blue", "purple")
NOVEL_COLOURS: tuple[str, ...] = ("cyan",)
COLOUR_JITTER = 0.05
#: Shape radius (a fraction of half the image) of each size word; the ranges are apart so the word is always true.
SIZES: dict[str, tuple[float, float]] = {"small": (0.38, 0.48), "large": (0.58, 0.70)}
#: Grey level of each background tone.
TONES: dict[str, tuple[float, float]] = {"pale": (0.78, 0.92), "dark": (0.08, 0.22)}
STRIPE_AMPLITUDE = 0.12  # striped backgrounds: ± this much around the tone, sinusoidal
STRIPE_CYCLES = (1.5, 2.5)  # stripes per half image width: 3 to 5 across the image

#: Each attribute's values, in the order of the indices in :attr:`CaptionSet.attributes`.
ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "shape": SHAPE_CLASSES, "colour": tuple(COLOURS), "size": tuple(SIZES), "tone": tuple(TONES),
    "pattern": ("plain", "striped"),
}
#: The (shape, colour) pairs of the "held_out" split, never drawn in "train" or "test": one colour per shape.
HELD_OUT: tuple[tuple[str, str], ...] = tuple(
    (shape, SEEN_COLOURS[i % len(SEEN_COLOURS)]) for i, shape in enumerate(SHAPE_CLASSES))
CAPTION_SPLITS: tuple[str, ...] = ("train", "test", "held_out", "novel_colour")

#: Caption templates. The first says every attribute and is every image's first phrasing; the rest leave some out.
TEMPLATES: tuple[str, ...] = (
    "a {size} {colour} {shape} on a {tone} {pattern} background",
    "a {colour} {shape} on a {pattern} {tone} background",
    "a {size} {shape} in {colour}",
    "there is a {colour} {shape} against a {tone} background",
    "a picture of a {size} {colour} {shape}",
    "{colour} {shape}, {size}, {tone} {pattern} background",
)
#: Zero-shot prompt templates in the captions' own words ("{}" takes a shape's name), averaged as CLIP does.
PROMPTS: tuple[str, ...] = ("a {}", "a picture of a {}", "there is a {}", "a {} on a background")
#: The words each attribute value may be written as (a phrasing picks one at random).
SYNONYMS: dict[str, tuple[str, ...]] = {"small": ("small", "little", "tiny"), "large": ("large", "big"),
                                        "pale": ("pale", "light")}
#: Token ids per phrasing (its longest, "there is a ..." and [EOS], takes 10): one length for every split.
CAPTION_LENGTH = 12


@dataclass(eq=False, repr=False)
class CaptionSet:
    """Images with captions, following :class:`clkit.data.Records`; ``labels`` are the shapes.

    Attributes:
        images: (N, C, H, W) uint8.
        tokens: (N, P, L) int64: P phrasings per image, each L token ids (0 = padding) from ``tokenizer``.
        labels: (N,) int64 shape index into ``classes``.
        classes: the shape names.
        name: ``"captions/<split>"``.
        captions: N strings, each image's full caption (its first phrasing).
        phrasings: N tuples of P strings.
        attributes: name → (N,) int64 index into :data:`ATTRIBUTES` [name], for every attribute but the shape.
        tokenizer: the :class:`~clkit.data.Tokenizer` that made ``tokens`` (fitted on the training split's text).
    """

    images: Tensor
    tokens: Tensor
    labels: Tensor
    classes: list[str]
    name: str
    captions: list[str]
    phrasings: list[tuple[str, ...]]
    attributes: dict[str, Tensor]
    tokenizer: Tokenizer

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int | slice | Tensor | list[int]) -> CaptionSet:
        """The pairs at ``index`` (slice, int64 index tensor or list, bool mask, or one int), as a CaptionSet."""
        if not (isinstance(index, Tensor) and index.dtype == torch.int64):
            index = torch.arange(len(self))[[index] if isinstance(index, int) else index]  # bounds-checked
        index = index.reshape(-1)
        at = index.to(self.labels.device)
        rows = index.tolist()  # the text lives on the host
        return dataclasses.replace(
            self, images=self.images[at], tokens=self.tokens[at], labels=self.labels[at],
            captions=[self.captions[i] for i in rows], phrasings=[self.phrasings[i] for i in rows],
            attributes={k: v[at] for k, v in self.attributes.items()})

    def to(self, device: torch.device | str) -> CaptionSet:
        """The same pairs with their tensors on ``device``."""
        return dataclasses.replace(self, images=self.images.to(device), tokens=self.tokens.to(device),
                                   labels=self.labels.to(device),
                                   attributes={k: v.to(device) for k, v in self.attributes.items()})

    def attribute(self, name: str) -> list[str]:
        """Each image's value of attribute ``name`` (``"shape"``, ``"colour"``, ...) as words."""
        if name not in ATTRIBUTES:
            raise ValueError(f"unknown attribute {name!r}; the attributes are {', '.join(ATTRIBUTES)}")
        index = self.labels if name == "shape" else self.attributes[name]
        return [ATTRIBUTES[name][i] for i in index.tolist()]

    def matches(self) -> Tensor:
        """(N, N) bool: whether image i and image j share every attribute, i.e. caption j describes image i
        truly (the right answers of a retrieval; a caption is never unique to its own image)."""
        code = self.labels.cpu()
        for name in ("colour", "size", "tone", "pattern"):
            code = code * len(ATTRIBUTES[name]) + self.attributes[name].cpu()
        return code[:, None] == code[None, :]

    @property
    def shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one image."""
        return tuple(self.images.shape[1:])  # type: ignore[return-value]

    def __repr__(self) -> str:
        n, p, length = self.tokens.shape
        return (f"CaptionSet({self.name!r}, N={n}, {'×'.join(map(str, self.images.shape[1:]))}, "
                f"{p} phrasings × {length} tokens, {len(self.tokenizer)} token ids)")


def combinations(split: str, held_out: tuple[tuple[str, str], ...] = HELD_OUT) -> list[tuple[int, int]]:
    """The (shape, colour) index pairs a split draws from, in shape order: see the module docstring."""
    if split not in CAPTION_SPLITS:
        raise ValueError(f"unknown split {split!r}; valid splits are {', '.join(CAPTION_SPLITS)}")
    colour_index = {c: i for i, c in enumerate(ATTRIBUTES["colour"])}
    unknown = sorted({f"{s}/{c}" for s, c in held_out if s not in SHAPE_CLASSES or c not in SEEN_COLOURS})
    if unknown:
        raise ValueError(f"held_out pairs must name a shape of {SHAPE_CLASSES} and a colour of {SEEN_COLOURS}, "
                         f"got {', '.join(unknown)}")
    if split == "novel_colour":
        return [(s, colour_index[c]) for s in range(len(SHAPE_CLASSES)) for c in NOVEL_COLOURS]
    held = {(SHAPE_CLASSES.index(s), colour_index[c]) for s, c in held_out}
    pairs = [(s, colour_index[c]) for s in range(len(SHAPE_CLASSES)) for c in SEEN_COLOURS]
    chosen = [p for p in pairs if (p in held) == (split == "held_out")]
    if sorted({s for s, _ in chosen}) != list(range(len(SHAPE_CLASSES))):
        raise ValueError(f"the {split!r} split must hold every shape in some colour: held_out leaves "
                         f"{sorted(set(SHAPE_CLASSES) - {SHAPE_CLASSES[s] for s, _ in chosen})} without one")
    return chosen


def make_captions(n: int, split: str = "train", seed: int = 0, tokenizer: Tokenizer | None = None,
                  phrasings: int = 4, size: int = 32, held_out: tuple[tuple[str, str], ...] = HELD_OUT) -> CaptionSet:
    """Draw ``n`` captioned images of one split; the same arguments give the same bytes and words.

    Args:
        n: number of images (shapes balanced: each gets n // 10, the first n % 10 shapes one more).
        split: ``"train"``, ``"test"`` (the training combinations, other images: pass another seed),
            ``"held_out"`` (only the ``held_out`` pairs) or ``"novel_colour"`` (every shape in cyan).
        seed: seed of the generator behind every random choice.
        tokenizer: the tokenizer to encode with; None fits one on this set's phrasings (do that for the
            training split and pass ``train.tokenizer`` to the others, so that they share its ids and a word
            the training text lacks becomes [UNK]).
        phrasings: P, phrasings per image (1 to ``len(TEMPLATES)``): the full caption and P − 1 others.
        size: height and width in pixels.
        held_out: the (shape, colour) pairs kept out of ``"train"`` and ``"test"``.
    Returns:
        :class:`CaptionSet` named ``"captions/<split>"``.
    """
    if n < 1 or size < 1:
        raise ValueError(f"need n >= 1 and size >= 1, got n={n}, size={size}")
    if not 1 <= phrasings <= len(TEMPLATES):
        raise ValueError(f"phrasings must be between 1 and {len(TEMPLATES)} (the templates), got {phrasings}")
    pairs = combinations(split, held_out)
    g = torch.Generator().manual_seed(seed)
    labels, colour = _balanced(n, pairs, g)
    size_, tone, pattern = (torch.randint(2, (n,), generator=g) for _ in range(3))
    attributes = {"colour": colour, "size": size_, "tone": tone, "pattern": pattern}
    images = _render(labels, attributes, size, g)
    texts = _phrase(labels, attributes, phrasings, g)
    tokenizer = tokenizer or Tokenizer.fit(t for rows in texts for t in rows)
    tokens = tokenizer.encode([t for rows in texts for t in rows], length=CAPTION_LENGTH).view(n, phrasings, -1)
    return CaptionSet(images=images, tokens=tokens, labels=labels, classes=list(SHAPE_CLASSES),
                      name=f"captions/{split}", captions=[rows[0] for rows in texts], phrasings=texts,
                      attributes=attributes, tokenizer=tokenizer)


def _balanced(n: int, pairs: list[tuple[int, int]], g: torch.Generator) -> tuple[Tensor, Tensor]:
    """(n,) shapes and colours: shapes in turn, each shape's allowed colours in turn, then shuffled."""
    shapes = sorted({s for s, _ in pairs})
    colours = {s: [c for t, c in pairs if t == s] for s in shapes}
    slot = torch.arange(n)
    labels = torch.tensor(shapes)[slot % len(shapes)]
    turn = (slot // len(shapes)).tolist()  # how many images of its shape came before this one
    colour = torch.tensor([colours[s][k % len(colours[s])] for s, k in zip(labels.tolist(), turn)])
    order = torch.randperm(n, generator=g)
    return labels[order], colour[order]


def _render(labels: Tensor, attributes: dict[str, Tensor], size: int, g: torch.Generator) -> Tensor:
    """(n, 3, size, size) uint8 images of the drawn attributes, with the nuisances no caption mentions."""
    n = len(labels)
    lower, upper = torch.tensor(list(SIZES.values())).unbind(1)  # (2,) each: the bounds of each size word
    lo, hi = lower[attributes["size"]], upper[attributes["size"]]
    scale = lo + (hi - lo) * torch.rand(n, generator=g)
    angle = math.radians(SHAPES_ROTATION_DEG) * (2 * torch.rand(n, generator=g) - 1)
    centre = (2 * torch.rand(n, 2, generator=g) - 1) * (1 - scale)[:, None]  # the shape stays whole
    palette = torch.tensor(list(COLOURS.values()))
    fg = (palette[attributes["colour"]] + COLOUR_JITTER * (2 * torch.rand(n, 3, generator=g) - 1)).clamp(0, 1)
    grey_lo, grey_hi = torch.tensor(list(TONES.values())).unbind(1)
    tone = attributes["tone"]
    grey = grey_lo[tone] + (grey_hi[tone] - grey_lo[tone]) * torch.rand(n, generator=g)
    stripe_angle = math.pi * torch.rand(n, generator=g)
    cycles = STRIPE_CYCLES[0] + (STRIPE_CYCLES[1] - STRIPE_CYCLES[0]) * torch.rand(n, generator=g)
    phase = 2 * math.pi * torch.rand(n, generator=g)

    p = (torch.arange(size, dtype=torch.float32) + 0.5) / size * 2 - 1  # pixel centres in [-1, 1]
    pu, pv = p.view(1, 1, size), -p.view(1, size, 1)  # u right, v up
    along = torch.cos(stripe_angle).view(-1, 1, 1) * pu + torch.sin(stripe_angle).view(-1, 1, 1) * pv
    stripes = torch.sin(math.pi * cycles.view(-1, 1, 1) * along + phase.view(-1, 1, 1))  # (n, size, size)
    back = grey.view(-1, 1, 1) + STRIPE_AMPLITUDE * attributes["pattern"].view(-1, 1, 1) * stripes
    cover = shape_coverage(labels, scale, angle, centre, size)  # (n, 1, size, size)
    img = back.unsqueeze(1) + (fg.view(n, 3, 1, 1) - back.unsqueeze(1)) * cover
    img = img + SHAPES_NOISE * torch.randn(n, 3, size, size, generator=g)
    return (img * 255).round_().clamp_(0, 255).to(torch.uint8)


def _phrase(labels: Tensor, attributes: dict[str, Tensor], phrasings: int, g: torch.Generator) -> list[tuple[str, ...]]:
    """Each image's P phrasings: the full template in the attributes' own words first, then P − 1 other
    templates drawn at random, each size and tone written as one of its :data:`SYNONYMS`."""
    n = len(labels)
    others = torch.rand(n, len(TEMPLATES) - 1, generator=g).argsort(dim=1)[:, : phrasings - 1] + 1  # (n, P − 1)
    picks = torch.rand(n, phrasings, 2, generator=g).tolist()  # which synonym of the size and of the tone
    words = {name: [ATTRIBUTES[name][i] for i in (labels if name == "shape" else attributes[name]).tolist()]
             for name in ATTRIBUTES}

    def synonym(word: str, draw: float) -> str:
        choices = SYNONYMS.get(word, (word,))
        return choices[int(draw * len(choices))]

    texts = []
    for i, rest in enumerate(others.tolist()):
        fields = {name: words[name][i] for name in ATTRIBUTES}
        rows = [TEMPLATES[0].format(**fields)]
        for k, template in enumerate(rest, start=1):
            size, tone = picks[i][k]
            fields.update(size=synonym(words["size"][i], size), tone=synonym(words["tone"][i], tone))
            rows.append(TEMPLATES[template].format(**fields))
        texts.append(tuple(rows))
    return texts
