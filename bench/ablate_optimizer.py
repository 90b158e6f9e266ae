"""Which optimiser trains the laptop SimCLR recipe: AdamW (the kit's default), SGD and LARS, short runs, paired seeds.

    python bench/ablate_optimizer.py                    # every row, seeds 0 and 1 (about 8 minutes on 2 cores)
    python bench/ablate_optimizer.py --only "lars lr 1.0" --seeds 0 --append
    python bench/ablate_optimizer.py --only "adamw (default)" "sgd lr 0.06" --seeds 0 --n-train 10000 --epochs 20 --append

Each row is the laptop SimCLR recipe on 5,000 ``shapes`` for 10 epochs (batch 256, warm-up then cosine decay) with
only the optimiser, its learning rate and weight decay changed. LARS's rows start at SimCLR's rule, lr = 0.3 ×
batch / 256, and go up, since a short run has fewer steps to move in. Measured with the kit's one protocol: kNN
accuracy (k = 20) on h, the 5,000 training images as the bank, 2,000 test images as queries. Rows are written to
``bench/results/optimizer_ablation.json`` after every run and printed as a table.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from clkit import data, evaluate, recipes, train  # noqa: E402

OUT = Path(__file__).parent / "results" / "optimizer_ablation.json"
ROWS = {
    "adamw (default)": {},
    "sgd lr 0.06": {"optimizer": "sgd", "lr": 0.06, "weight_decay": 5e-4},
    "sgd lr 0.12": {"optimizer": "sgd", "lr": 0.12, "weight_decay": 5e-4},
    "lars lr 0.3": {"optimizer": "lars", "lr": 0.3, "weight_decay": 1e-6},
    "lars lr 1.0": {"optimizer": "lars", "lr": 1.0, "weight_decay": 1e-6},
    "lars lr 3.0": {"optimizer": "lars", "lr": 3.0, "weight_decay": 1e-6},
    "lars lr 10": {"optimizer": "lars", "lr": 10.0, "weight_decay": 1e-6},
}


def run(name: str, seed: int, train_set, test_set, epochs: int) -> dict:
    r = recipes.recipe("simclr", "shapes", "laptop", epochs=epochs)
    settings = {**r.fit_settings(), **ROWS[name]}
    train.seed_everything(seed)
    method = recipes.build(r, train_set.shape, len(train_set.classes))
    history = train.fit(method, train_set, **settings, device="cpu", seed=seed, progress=False)
    knn = evaluate.knn_monitor(train_set, test_set, k=20)(method)["knn"]  # on h, the training set as the bank
    return {"row": name, "seed": seed, "n_train": len(train_set), "knn": knn, "final_loss": history["loss"][-1],
            "train_s": sum(history["seconds"]), "settings": {k: settings[k] for k in ("optimizer", "lr", "weight_decay", "batch_size", "epochs")}}


def table(rows: list[dict]) -> str:
    lines = [f"{'row':<18} {'images × epochs':>16} {'kNN (mean ± sd)':>16}  seeds  final loss"]
    for name, n, epochs in sorted({(r["row"], r["n_train"], r["settings"]["epochs"]) for r in rows},
                                  key=lambda key: (key[1] * key[2], list(ROWS).index(key[0]))):
        mine = [row for row in rows if (row["row"], row["n_train"], row["settings"]["epochs"]) == (name, n, epochs)]
        if mine:
            knn = [100 * row["knn"] for row in mine]
            sd = statistics.stdev(knn) if len(knn) > 1 else 0.0
            lines.append(f"{name:<18} {f'{n:,} × {epochs}':>16} {statistics.mean(knn):9.1f} ± {sd:4.1f}  {len(knn):>5}  "
                         f"{statistics.mean(row['final_loss'] for row in mine):10.3f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", nargs="+", choices=list(ROWS), default=list(ROWS))
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--n-train", type=int, default=5000, help="training images (the laptop lessons use 10,000)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--append", action="store_true", help="add to the rows already in --out")
    p.add_argument("--out", default=str(OUT))
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    train_set = data.load("shapes", "train").take(args.n_train, seed=0)
    test_set = data.load("shapes", "test").take(2000, seed=0)
    rows = json.loads(Path(args.out).read_text())["rows"] if args.append and Path(args.out).exists() else []
    for seed in args.seeds:
        for name in args.only:
            rows.append(run(name, seed, train_set, test_set, args.epochs))
            print(json.dumps(rows[-1]), flush=True)
            Path(args.out).write_text(json.dumps({"rows": rows, "table": table(rows).splitlines()}, indent=1))
    print(table(rows))
    return rows


if __name__ == "__main__":
    main()
