"""What bf16 autocast costs SimCLR on a CPU: the laptop recipe for 10 epochs, float32 against bf16, two seeds.

The pipelines benchmark times the kit's path in bf16 on a CPU too (the precision of its GPU path); this script
measures what that precision does to the result: kNN accuracy (k = 20, h, 5,000 training images as the bank,
2,000 test images as queries), the training time and the final loss, written to
``bench/results/bf16_cpu_accuracy.json``.

    python bench/bf16_cpu_accuracy.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from clkit import data, evaluate, recipes, train  # noqa: E402

OUT = Path(__file__).parent / "results" / "bf16_cpu_accuracy.json"


def main() -> list[dict]:
    torch.set_num_threads(2)
    train_set = data.load("shapes", "train").take(5000, seed=0)
    test_set = data.load("shapes", "test").take(2000, seed=0)
    rows = []
    for seed in (0, 1):
        for amp in (False, True):
            r = recipes.recipe("simclr", "shapes", "laptop", epochs=10)
            train.seed_everything(seed)
            method = recipes.build(r, train_set.shape, len(train_set.classes))
            history = train.fit(method, train_set, **r.fit_settings(), device="cpu", seed=seed, amp=amp,
                                progress=False)
            knn = evaluate.knn_accuracy(evaluate.embed(method, train_set.images), train_set.labels,
                                        evaluate.embed(method, test_set.images), test_set.labels, k=20)
            rows.append({"seed": seed, "amp_bf16": amp, "knn": knn, "train_s": sum(history["seconds"]),
                         "final_loss": history["loss"][-1]})
            print(rows[-1], flush=True)
    OUT.write_text(json.dumps(rows, indent=1))
    return rows


if __name__ == "__main__":
    main()
