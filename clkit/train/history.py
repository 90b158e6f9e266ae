"""What a run measured, as plain data that round-trips through JSON."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from clkit.train.files import DamagedFile, atomic_write_text


@dataclass
class History:
    """What a run measured, as plain data.

    ``epochs`` holds one record per epoch (``epoch``, ``loss``, ``knn``, ``lr``, ``seconds``,
    ``images_per_s`` and the method's own logs such as ``contrastive_acc``); ``steps``
    the loss of every step. ``epoch 0`` is the untrained model's kNN accuracy.
    """

    epochs: list[dict[str, float]] = field(default_factory=list)
    steps: list[float] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    interrupted: bool = False

    def __getitem__(self, key: str) -> list[float]:
        """One column over epochs, e.g. ``history["knn"]`` (epochs without that entry are skipped)."""
        return [record[key] for record in self.epochs if key in record]

    def last(self, key: str) -> float | None:
        """The latest value of a column, or None if it was never recorded."""
        column = self[key]
        return column[-1] if column else None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> History:
        return cls(**d)

    def save(self, path: str | Path) -> None:
        atomic_write_text(path, json.dumps(self.to_dict(), indent=1))

    @classmethod
    def load(cls, path: str | Path) -> History:
        """The history saved at ``path``; a file that is not one (cut short, overwritten) raises :class:`DamagedFile`."""
        try:
            return cls.from_dict(json.loads(Path(path).read_text()))
        except (ValueError, TypeError) as error:  # not JSON, or JSON of something else
            reason = f"not valid JSON: {error}" if isinstance(error, ValueError) else "not a clkit history"
            raise DamagedFile(path, reason) from None

    def describe_last(self) -> str:
        """The last epoch, its loss and the latest kNN accuracy in words, e.g. ``"epoch 15: loss 3.210, kNN 0.612"``."""
        if not self.epochs:
            return "no epoch recorded"
        values = {"loss": self.last("loss"), "kNN": self.last("knn")}
        measured = ", ".join(f"{name} {value:.3f}" for name, value in values.items() if value is not None)
        return f"epoch {self.epochs[-1]['epoch']}: {measured}"
