"""Preference pairs over the ``shapes`` images: which of two images a simulated person prefers.

Preference learning (the reward model of RLHF) trains on pairs ``(a, b)`` labelled with the one a person
chose. Here the person is simulated, so that we know the truth a reward model should recover: every image
has a hidden **utility**, a simple function of two attributes the renderer drew for it (people here like
big, bright shapes)::

    u(x) = 12 · (size − 0.55) + 6 · (brightness − 0.65)

with ``size`` the shape's radius as a fraction of half the image (0.4–0.7) and ``brightness`` the luminance
of the shape's colour (0–1, see :func:`clkit.data.shape_attributes`). The choice is noisy, drawn by the
Bradley–Terry model (Bradley & Terry 1952)::

    P(a ≻ b) = σ(β (u(a) − u(b))),        σ(t) = 1 / (1 + e^{−t})

so two images of nearly equal utility are a coin flip, and even the truth ``u`` cannot predict every
label: its expected accuracy is the **Bayes accuracy** E[σ(β |u(a) − u(b)|)] (about 0.76 on these pairs,
:func:`bayes_accuracy`). A model that beats it on held-out pairs has fitted noise.

:func:`make_preferences` renders a pool of items and draws pairs among them; :func:`load_preferences`
gives the lesson's splits: training pairs among training images, held-out pairs among test images drawn
from another seed, so no held-out image is ever seen in training.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
from torch import Tensor

from clkit.data.records import ImageSet
from clkit.data.shapes import SHAPES_SEEDS, make_shapes, shape_attributes

__all__ = ["PREFERENCE_SPLITS", "UTILITY_CENTRE", "UTILITY_WEIGHTS", "PreferencePairs", "bayes_accuracy",
           "draw_pairs", "load_preferences", "make_preferences", "utility"]

#: The hidden utility's weight on each attribute of :func:`clkit.data.shape_attributes`.
UTILITY_WEIGHTS = {"size": 12.0, "shape brightness": 6.0}
#: The attribute values where the utility is 0 (the middle of each attribute's range).
UTILITY_CENTRE = {"size": 0.55, "shape brightness": 0.65}
#: The lesson's splits: items (class-balanced ``shapes`` images) and rounds of pairs (each item meets
#: ``rounds`` others). Training items come from the ``shapes`` train seed, held-out items from the test seed.
PREFERENCE_SPLITS = {"train": {"items": 4000, "rounds": 4, "seed": SHAPES_SEEDS["train"]},
                     "test": {"items": 2000, "rounds": 2, "seed": SHAPES_SEEDS["test"]}}


def utility(attributes: dict[str, Tensor]) -> Tensor:
    """The hidden utility u of each image from its attributes, (N,) float32 (see the module's docstring).

    Args:
        attributes: at least the keys of :data:`UTILITY_WEIGHTS`, each (N,), as
            :func:`clkit.data.shape_attributes` returns them.
    """
    missing = [k for k in UTILITY_WEIGHTS if k not in attributes]
    if missing:
        raise KeyError(f"the utility needs the attributes {', '.join(UTILITY_WEIGHTS)}; missing {', '.join(missing)}")
    return sum(w * (attributes[k].float() - UTILITY_CENTRE[k]) for k, w in UTILITY_WEIGHTS.items())


@dataclass(eq=False)
class PreferencePairs:
    """A record of labelled pairs: in pair i, ``items[chosen[i]]`` was preferred to ``items[rejected[i]]``.

    The images live once in ``items``; a pair holds two indices into it, so a batch is cheap to cut and the
    same image can appear in many pairs. Indexing (``pairs[index]``) gives the pairs at ``index`` over the
    same items, ``.to(device)`` moves everything, and ``len`` counts pairs, so :func:`clkit.train.fit` trains
    on it like any record.

    Attributes:
        items: the images, an :class:`ImageSet` (M images, class-balanced ``shapes``).
        utility: (M,) float32, each item's hidden utility (never shown to a model).
        chosen, rejected: (N,) int64 indices into ``items``, the winner and the loser of each pair.
        beta: the rationality β of the Bradley–Terry draw that labelled the pairs.
        name: for logs.
    """

    items: ImageSet
    utility: Tensor
    chosen: Tensor
    rejected: Tensor
    beta: float = 1.0
    name: str = "shape_preferences"

    def __post_init__(self) -> None:
        m = len(self.items)
        if self.utility.shape != (m,):
            raise ValueError(f"utility must be (M,) = ({m},), one value per item, got {tuple(self.utility.shape)}")
        if self.chosen.shape != self.rejected.shape or self.chosen.ndim != 1:
            raise ValueError(f"chosen and rejected must be 1-D and of one length, got {tuple(self.chosen.shape)} "
                             f"and {tuple(self.rejected.shape)}")
        if self.chosen.dtype != torch.int64 or self.rejected.dtype != torch.int64:
            raise TypeError("chosen and rejected must be int64 indices into items")

    # --- the record protocol (clkit.data.Records): pairs have no images, tokens, labels or captions of their own

    images = None
    tokens = None
    labels = None
    captions = None

    def __len__(self) -> int:
        return len(self.chosen)

    def __getitem__(self, index: Tensor | slice | list[int]) -> PreferencePairs:
        """The pairs at ``index`` (int64 positions, a bool mask, a list or a slice), over the same items."""
        if isinstance(index, Tensor):
            index = index.to(self.chosen.device)
        return dataclasses.replace(self, chosen=self.chosen[index].reshape(-1),
                                   rejected=self.rejected[index].reshape(-1))

    def to(self, device: torch.device | str) -> PreferencePairs:
        """The same pairs with the items and indices on ``device``."""
        return dataclasses.replace(self, items=self.items.to(device), utility=self.utility.to(device),
                                   chosen=self.chosen.to(device), rejected=self.rejected.to(device))

    @property
    def chosen_images(self) -> Tensor:
        """(N, C, H, W) uint8: the preferred image of each pair."""
        return self.items.images[self.chosen]

    @property
    def rejected_images(self) -> Tensor:
        """(N, C, H, W) uint8: the other image of each pair."""
        return self.items.images[self.rejected]

    def utility_gap(self) -> Tensor:
        """(N,) u(chosen) − u(rejected): positive where the label agrees with the hidden utility."""
        return self.utility[self.chosen] - self.utility[self.rejected]

    def __repr__(self) -> str:
        return f"PreferencePairs({self.name!r}, N={len(self)} pairs over {len(self.items)} items, β={self.beta:g})"


def draw_pairs(utilities: Tensor, rounds: int = 2, beta: float = 1.0,
               generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """Pairs among M items of known utility, each labelled by a Bradley–Terry draw.

    Each round shuffles the items and pairs them off, first with second, third with fourth, …, so every item
    appears in exactly ``rounds`` pairs (with an odd M, one item sits out each round, a different one each
    time at random). The first item of a pair wins with probability σ(β (u(a) − u(b))).

    Args:
        utilities: (M,) the items' utilities, M ≥ 2.
        rounds: pairs per item, ≥ 1.
        beta: rationality β ≥ 0: 0 labels at random, large β always prefers the higher utility.
        generator: the random source of the pairing and of the labels.
    Returns:
        ``(chosen, rejected)``, two (rounds · ⌊M / 2⌋,) int64 index tensors.
    """
    m = len(utilities)
    if m < 2:
        raise ValueError(f"n_items must be at least 2 (a pair needs two items), got {m}")
    if rounds < 1:
        raise ValueError(f"rounds must be at least 1, got {rounds}")
    if not beta >= 0:
        raise ValueError(f"beta must be ≥ 0 (0: random labels; larger: closer to the utility's ranking), got {beta}")
    half = m // 2
    order = torch.stack([torch.randperm(m, generator=generator)[: 2 * half] for _ in range(rounds)])  # (rounds, 2·half)
    a, b = order[:, 0::2].reshape(-1), order[:, 1::2].reshape(-1)  # (rounds · half,) each
    u = utilities.float()
    a_wins = torch.rand(len(a), generator=generator) < torch.sigmoid(beta * (u[a] - u[b]))
    return torch.where(a_wins, a, b), torch.where(a_wins, b, a)


def make_preferences(n_items: int, rounds: int = 2, seed: int = 0, beta: float = 1.0,
                     pair_seed: int | None = None) -> PreferencePairs:
    """Render ``n_items`` ``shapes`` images and draw ``rounds · ⌊n_items / 2⌋`` labelled pairs among them.

    The pairs are :func:`draw_pairs`'s: every item appears in exactly ``rounds`` pairs (as many as any other,
    so the pairs are as class-balanced as the items, which :func:`clkit.data.make_shapes` balances), and the
    winner of each pair is drawn by Bradley–Terry, P(a ≻ b) = σ(β (u(a) − u(b))).

    Args:
        n_items: images in the pool, ≥ 2.
        rounds: pairs per item, ≥ 1.
        seed: the seed of the images (as for :func:`clkit.data.make_shapes`).
        beta: rationality β ≥ 0.
        pair_seed: the seed of the pairing and of the labels (default: ``seed``).
    Returns:
        :class:`PreferencePairs`; the same arguments give the same pairs, bit for bit.
    """
    u = utility(shape_attributes(max(n_items, 0), seed=seed))
    g = torch.Generator().manual_seed(seed if pair_seed is None else pair_seed)
    chosen, rejected = draw_pairs(u, rounds, beta, g)  # checks the settings before anything is rendered
    return PreferencePairs(items=make_shapes(n_items, seed=seed), utility=u, chosen=chosen, rejected=rejected,
                           beta=beta)


def load_preferences(split: str = "train", n_items: int | None = None) -> PreferencePairs:
    """The lesson's pairs of a split (:data:`PREFERENCE_SPLITS`); ``n_items`` overrides its pool's size.

    Training items are drawn with the ``shapes`` train seed and held-out items with its test seed, so the two
    pools are different images (as the ``shapes`` splits are).
    """
    if split not in PREFERENCE_SPLITS:
        raise ValueError(f"unknown split {split!r}; valid splits are {', '.join(PREFERENCE_SPLITS)}")
    s = PREFERENCE_SPLITS[split]
    return make_preferences(n_items or s["items"], rounds=s["rounds"], seed=s["seed"])


def bayes_accuracy(pairs: PreferencePairs) -> float:
    """The expected accuracy, on these pairs' labels, of the best possible model: the hidden utility itself.

    For a pair whose utilities differ by Δ, the label agrees with the higher utility with probability
    σ(β |Δ|), so no model can expect more than the mean of σ(β |Δ|) over the pairs. (The realised
    accuracy of the utility on one draw of labels scatters around it by about √(a(1 − a)/N).)
    """
    gap = pairs.utility_gap().abs()
    return float(torch.sigmoid(pairs.beta * gap).mean())
