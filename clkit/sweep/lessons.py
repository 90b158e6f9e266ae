"""The stored sweeps the lessons show, defined once: the notebooks load them and ``bench/store_results.py``
makes them.

Each entry is one sweep run with the seeds of :data:`SEEDS`, stored per seed as
``notebooks/results/{stem}_seed{seed}_{scale}.json``. A lesson calls :func:`runs` and gets one result per
seed: loaded when the stored file matches the settings, trained (and stored) otherwise.

    runs = lessons.runs("batch_size")           # [seed 0, seed 1, seed 2]
    summary = sweep.aggregate(runs)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from clkit import scale
from clkit.sweep.run import stored_or_run
from clkit.sweep.settings import preset


@dataclass(frozen=True)
class LessonSweep:
    """One stored sweep: the swept setting, its values per scale (``ci``, ``laptop``, ``full``) and the fixed
    settings it changes from the sweep's defaults."""

    param: str
    values: dict[str, list[float]]
    fixed: dict[str, Any] = field(default_factory=dict)

    def values_now(self) -> list[float]:
        """The values at the active scale."""
        return self.values[scale.current()]


def _same(values: list[float]) -> dict[str, list[float]]:
    return {name: values for name in scale.SCALES}


#: The learned τ's own learning rate, as a multiple of the network's.
LEARNED_LR_SCALE = 50.0

# At ci the training subset holds 256 images, so the batch stays below it.
_BATCHES = {"ci": [16, 64], "laptop": [32, 64, 128, 256, 512], "full": [32, 64, 128, 256, 512]}

#: Every stored sweep, by file stem, in the order of the lessons.
SWEEPS: dict[str, LessonSweep] = {
    # At ci three values: the two ends and the middle, which notebook 05 compares with.
    "temperature_sweep": LessonSweep("temperature", {"ci": [0.05, 0.2, 1.0], "laptop": [0.05, 0.1, 0.2, 0.5, 1.0],
                                                     "full": [0.05, 0.1, 0.2, 0.5, 1.0]}),
    "temperature_learned": LessonSweep("temperature", _same([0.05, 1.0]), {"learn_temperature": True}),
    "temperature_learned_own_lr": LessonSweep("temperature", _same([0.05, 1.0]), {
        "learn_temperature": True, "temperature_lr_scale": LEARNED_LR_SCALE}),
    # crop_min 1 keeps the whole image; colour off is no jitter and no grayscale.
    "augment_colour_off": LessonSweep("crop_min", _same([1.0, 0.4]), {"jitter_strength": 0.0, "grayscale_p": 0.0}),
    "augment_colour_on": LessonSweep("crop_min", _same([1.0, 0.4])),
    "batch_size": LessonSweep("batch_size", _BATCHES),
    # The same batches at a fixed number of updates: 152 steps, 8 epochs of the 5,000-image subset at batch 256.
    "batch_size_fixed_steps": LessonSweep("batch_size", _BATCHES, {"steps": 152}),
}

#: The seeds every stored sweep is run with (one at the ``ci`` scale).
SEEDS = (0, 1, 2)


def seeds_now() -> list[int]:
    """The seeds at the active scale: one at ``ci``, :data:`SEEDS` otherwise."""
    return [SEEDS[0]] if scale.current() == "ci" else list(SEEDS)


def arguments(stem: str, seed: int) -> tuple[str, list[float], dict[str, Any]]:
    """``(param, values, settings)`` of one seed of a stored sweep at the active scale (the preset's sizes,
    less the swept setting, and the sweep's fixed settings)."""
    if stem not in SWEEPS:
        raise ValueError(f"no stored sweep {stem!r}; the stored sweeps are {', '.join(SWEEPS)}")
    entry = SWEEPS[stem]
    sizes = {k: v for k, v in preset().items() if k != entry.param}
    return entry.param, entry.values_now(), {**sizes, **entry.fixed, "seed": seed}


def runs(stem: str, *, rerun: bool = False, **kwargs: Any) -> list[dict[str, Any]]:
    """One result per seed of the stored sweep ``stem`` (see the module's docstring)."""
    results = []
    for seed in seeds_now():
        param, values, settings = arguments(stem, seed)
        results.append(stored_or_run(f"{stem}_seed{seed}", param, values, rerun=rerun, **settings, **kwargs))
    return results
