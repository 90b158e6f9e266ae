"""Records: the one shape in which data travels through the kit.

A *record* is a set of examples of one modality, held as whole tensors, never one example
at a time. Whatever it holds, it answers the same four attributes, so augmentations,
methods and evaluations read what they need and ignore the rest:

===========  ================================  =========================================
attribute    what it is                        ``None`` for
===========  ================================  =========================================
``images``   (N, C, H, W) uint8, 0..255        sentences
``tokens``   (N, L) int64 token ids, 0 = pad   images
``labels``   (N,) int64 class indices          a :class:`Batch` built without them
``captions`` list of N strings                 sets without text
===========  ================================  =========================================

Image-caption pairs are an :class:`ImageSet` with captions. A record also has ``len()``,
``record[index]`` (a smaller record of the same type; a training batch is simply a small
record) and ``record.to(device)``. :class:`Records` writes that down as a protocol;
:class:`ImageSet` and :class:`TextSet` are the validated datasets every loader returns,
:class:`Batch` the light record built by hand.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, Protocol, TypeVar, runtime_checkable

import torch
from torch import Tensor

__all__ = ["Batch", "ImageSet", "Records", "TextSet", "to_float"]


def to_float(images: Tensor) -> Tensor:
    """Images as floats in [0, 1].

    images: (..., C, H, W) uint8 in 0..255, or floating point in 0..1.
    Returns: uint8 input divided by 255 as float32; floating input unchanged (same object).
    """
    if images.dtype == torch.uint8:
        return images.to(torch.float32).div_(255)
    if not images.is_floating_point():
        raise TypeError(f"images must be uint8 (0..255) or floating point (0..1), got dtype {images.dtype}")
    return images


R = TypeVar("R", bound="Records")


@runtime_checkable
class Records(Protocol):
    """What every record offers, whatever its modality (images, image-caption pairs, sentences).

    Attributes (read-only here; ``None`` where the record's modality has none):
        images: (N, C, H, W) uint8, 0..255.
        tokens: (N, L) int64 token ids, 0 = padding.
        labels: (N,) int64 class indices.
        captions: N strings, the text that goes with each example.

    ``len(record)`` is N; ``record[index]`` with an int64 index tensor gives a record of the
    same type holding those examples, so a batch is just a small record and code that takes
    a dataset also takes a batch; ``record.to(device)`` moves its tensors. ``isinstance(x,
    Records)`` checks only that these names exist (a runtime protocol looks no further).
    """

    @property
    def images(self) -> Tensor | None: ...

    @property
    def tokens(self) -> Tensor | None: ...

    @property
    def labels(self) -> Tensor | None: ...

    @property
    def captions(self) -> list[str] | None: ...

    def __len__(self) -> int: ...

    def __getitem__(self: R, index: Tensor) -> R: ...

    def to(self: R, device: torch.device | str) -> R: ...


def _pick(captions: list[str] | None, index: Tensor) -> list[str] | None:
    """The captions at a 1-D index tensor (reads the index on the host, only when there are captions)."""
    return None if captions is None else [captions[i] for i in index.tolist()]


@dataclass(eq=False)
class Batch:
    """A record built by hand, usually one training step's examples: no checks, no copies.

    ``Batch(images)`` or ``Batch(images, labels)``; fields left out are ``None``.
    """

    images: Tensor | None = None
    labels: Tensor | None = None
    tokens: Tensor | None = None
    captions: list[str] | None = None

    def __len__(self) -> int:
        for x in (self.images, self.tokens, self.labels, self.captions):
            if x is not None:
                return len(x)
        return 0

    def __getitem__(self, index: Tensor) -> Batch:
        """The examples at an index tensor (int64 positions or a bool mask)."""
        if index.dtype == torch.bool:
            index = index.nonzero()
        index = index.reshape(-1)
        return self._map(lambda x: x[index], _pick(self.captions, index))

    def to(self, device: torch.device | str) -> Batch:
        """The same batch with its tensors on ``device`` (copied with ``non_blocking=True``)."""
        return self._map(lambda x: x.to(device, non_blocking=True), self.captions)

    def _map(self, f: Callable[[Tensor], Tensor], captions: list[str] | None) -> Batch:
        """A batch of ``f`` applied to each tensor present, with ``captions``."""
        tensors = (self.images, self.labels, self.tokens)
        images, labels, tokens = (None if x is None else f(x) for x in tensors)
        return Batch(images, labels, tokens, captions)


L = TypeVar("L", bound="_LabelledSet")


class _LabelledSet:
    """What :class:`ImageSet` and :class:`TextSet` share: labels, classes, captions, indexing, ``take``.

    A subclass is a dataclass with the fields ``<_ROWS>, labels, classes, name, captions``; it
    names its per-example tensor in ``_ROWS`` and what one row is in ``_NOUN`` (for messages),
    and checks that tensor in ``_check_rows``. ``__post_init__`` checks everything else.
    """

    _ROWS: ClassVar[str]
    _NOUN: ClassVar[str]
    labels: Tensor
    classes: list[str]
    name: str
    captions: list[str] | None

    @property
    def _rows(self) -> Tensor:
        return getattr(self, self._ROWS)

    def _check_rows(self) -> None:
        raise NotImplementedError

    def __post_init__(self) -> None:
        if not isinstance(self._rows, Tensor) or not isinstance(self.labels, Tensor):
            raise TypeError(
                f"{self._ROWS} and labels must be torch tensors, got {type(self._rows).__name__} and "
                f"{type(self.labels).__name__}"
            )
        self._check_rows()
        rows, noun = self._rows, self._NOUN
        if self.labels.dtype != torch.int64:
            raise TypeError(f"labels must be int64, got {self.labels.dtype}; use labels.long()")
        if self.labels.ndim != 1:
            raise ValueError(f"labels must be 1-D (N,), got shape {tuple(self.labels.shape)}")
        if len(rows) != len(self.labels):
            raise ValueError(f"{len(rows)} {noun} but {len(self.labels)} labels; they must match")
        self.classes = list(self.classes)
        if not all(isinstance(c, str) for c in self.classes):
            raise TypeError("classes must be a list of strings")
        if len(self.labels) and (int(self.labels.min()) < 0 or int(self.labels.max()) >= len(self.classes)):
            raise ValueError(
                f"labels must lie in 0..{len(self.classes) - 1} for {len(self.classes)} classes, "
                f"got values from {int(self.labels.min())} to {int(self.labels.max())}"
            )
        if self.labels.device != rows.device:
            raise ValueError(f"{self._ROWS} are on {rows.device} but labels on {self.labels.device}")
        if self.captions is not None:
            self.captions = list(self.captions)
            if len(self.captions) != len(rows):
                raise ValueError(f"{len(rows)} {noun} but {len(self.captions)} captions; they must match")

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self: L, index: int | slice | Tensor | list[int]) -> L:
        """The subset at ``index`` (slice, int64 index tensor or list, bool mask, or one int).

        An int64 tensor already on the data's device (what a training loop passes every step)
        takes a fast path: no bounds check and no validation, so nothing waits for the device
        (out-of-range positions fail as plain tensor indexing does). Every other index is
        normalised and bounds-checked on the host, and the subset is validated.
        """
        rows = self._rows
        if isinstance(index, Tensor) and index.dtype == torch.int64 and index.device == rows.device:
            index = index.reshape(-1)
            picked = {self._ROWS: rows[index], "labels": self.labels[index]}
            return self._trusted(**picked, captions=_pick(self.captions, index))
        if isinstance(index, int):
            index = [index]
        positions = torch.arange(len(self))[index]  # normalises every kind of index, with bounds checks
        positions = positions.reshape(-1)
        captions = _pick(self.captions, positions)
        on = positions.to(rows.device)
        return dataclasses.replace(self, **{self._ROWS: rows[on]}, labels=self.labels[on], captions=captions)

    def _trusted(self: L, **changes) -> L:
        """A copy with ``changes`` set as given, skipping ``__init__`` and so every check."""
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}  # type: ignore[arg-type]
        fields.update(changes, classes=list(self.classes))
        record = object.__new__(type(self))
        record.__dict__.update(fields)
        return record

    def take(self: L, n: int, seed: int | None = None) -> L:
        """A class-balanced subset of ``n`` examples, in dataset order.

        Each class present gets ``n // classes`` examples (classes with too few give all they
        have and the rest is shared among the others; the remainder goes to the lowest
        class indices). ``seed=None`` takes the first examples of each class; an integer seed
        picks them at random, the same way every time.
        """
        if not 0 <= n <= len(self):
            raise ValueError(f"cannot take {n} {self._NOUN} from a set of {len(self)}")
        labels = self.labels.cpu()
        present = torch.unique(labels)
        counts = [int((labels == c).sum()) for c in present]
        quota = [0] * len(present)
        left = n
        # Water-filling: small classes give everything they have, the rest is split evenly.
        while left > 0:
            open_ = [i for i in range(len(present)) if quota[i] < counts[i]]
            share, extra = divmod(left, len(open_))
            for rank, i in enumerate(open_):
                add = min(counts[i] - quota[i], share + (1 if rank < extra else 0))
                quota[i] += add
                left -= add
        g = None if seed is None else torch.Generator().manual_seed(seed)
        chosen = []
        for c, q in zip(present, quota):
            members = (labels == c).nonzero().squeeze(1)
            if g is not None:
                members = members[torch.randperm(len(members), generator=g)]
            chosen.append(members[:q])
        index = torch.cat(chosen).sort().values if chosen else torch.zeros(0, dtype=torch.int64)
        return self[index]

    def to(self: L, device: torch.device | str) -> L:
        """The same set with its tensors on ``device``."""
        return dataclasses.replace(self, **{self._ROWS: self._rows.to(device)}, labels=self.labels.to(device))

    def _repr_tail(self) -> str:
        extra = ", captions" if self.captions is not None else ""
        device = "" if self._rows.device.type == "cpu" else f", device={self._rows.device}"
        return f"{len(self.classes)} classes{extra}{device})"


@dataclass(eq=False, repr=False)
class ImageSet(_LabelledSet):
    """A labelled set of images, the one record every loader returns.

    Attributes:
        images: (N, C, H, W) uint8, 0..255.
        labels: (N,) int64, each in ``0 .. len(classes) - 1``.
        classes: class names; ``classes[labels[i]]`` names image i.
        name: where the images come from (``"shapes"``, ``"cifar10"``, ...).
        captions: optional list of N strings describing each image (for CLIP-style models).
        tokens: always ``None`` (images have no token ids; see :class:`Records`).

    Indexing with a slice, an index tensor/list or a boolean mask returns a smaller
    ImageSet (an integer gives a set of one image); ``take(n)`` draws a class-balanced subset.
    """

    _ROWS: ClassVar[str] = "images"
    _NOUN: ClassVar[str] = "images"

    images: Tensor
    labels: Tensor
    classes: list[str]
    name: str
    captions: list[str] | None = None

    def _check_rows(self) -> None:
        if self.images.dtype != torch.uint8:
            raise TypeError(
                f"images must be uint8 (0..255), got {self.images.dtype}; "
                "convert float images in [0, 1] with (x * 255).round().to(torch.uint8)"
            )
        if self.images.ndim != 4:
            raise ValueError(f"images must be 4-D (N, C, H, W), got shape {tuple(self.images.shape)}")

    @property
    def tokens(self) -> None:
        """Images carry no token ids: always ``None``."""
        return None

    def to(self, device: torch.device | str, memory_format: torch.memory_format = torch.preserve_format) -> ImageSet:
        """The same set with its tensors on ``device``; ``memory_format=torch.channels_last`` holds each image's
        pixels side by side in memory, (N, H, W, C) order (the shape stays (N, C, H, W)), as ``fit`` keeps
        them on a GPU."""
        return dataclasses.replace(self, images=self.images.to(device, memory_format=memory_format),
                                   labels=self.labels.to(device))

    @property
    def shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one image."""
        return tuple(self.images.shape[1:])  # type: ignore[return-value]

    def __repr__(self) -> str:
        n, c, h, w = self.images.shape
        return f"ImageSet({self.name!r}, N={n}, {c}×{h}×{w}, {self._repr_tail()}"


def check_token_ids(tokens: Tensor, shape_ok: bool, shape_rule: str) -> None:
    """Refuse token ids that are not int64, not of the shape a record needs (``shape_ok``, else ``shape_rule``
    is the message) or negative (0 is padding)."""
    if tokens.dtype != torch.int64:
        raise TypeError(f"tokens must be int64 token ids (0 = padding), got {tokens.dtype}; use tokens.long()")
    if not shape_ok:
        raise ValueError(f"{shape_rule}, got shape {tuple(tokens.shape)}")
    if tokens.numel() and int(tokens.min()) < 0:
        raise ValueError(f"token ids must be >= 0 (0 is padding), got {int(tokens.min())}")


@dataclass(eq=False, repr=False)
class TextSet(_LabelledSet):
    """A labelled set of sentences as token ids.

    Attributes:
        tokens: (N, L) int64 token ids, one sentence per row, right-padded with 0.
        labels: (N,) int64, each in ``0 .. len(classes) - 1``.
        classes: class names; ``classes[labels[i]]`` names sentence i.
        name: where the sentences come from.
        captions: optional list of N strings, the text of each sentence when it is kept.
        images: always ``None`` (see :class:`Records`).

    Indexing and ``take(n)`` work as for :class:`ImageSet`.
    """

    _ROWS: ClassVar[str] = "tokens"
    _NOUN: ClassVar[str] = "sentences"

    tokens: Tensor
    labels: Tensor
    classes: list[str]
    name: str
    captions: list[str] | None = None

    def _check_rows(self) -> None:
        check_token_ids(self.tokens, self.tokens.ndim == 2,
                        "tokens must be 2-D (N, L), one row of token ids per sentence")

    @property
    def images(self) -> None:
        """Sentences carry no images: always ``None``."""
        return None

    def __repr__(self) -> str:
        n, length = self.tokens.shape
        return f"TextSet({self.name!r}, N={n}, L={length}, {self._repr_tail()}"
