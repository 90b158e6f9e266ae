"""Short ablations behind lesson 20's defaults: the reward model's budget, and which JEPA learns on ``shapes``.

Two kinds of rows, each appended to ``bench/results/prefjepa_ablation.json`` as it finishes (a rerun skips
the rows already there):

- ``reward``: a :class:`clkit.methods.preference.RewardModel` on ``small_cnn`` trained on the lesson's
  preference pairs (:func:`clkit.data.preferences.make_preferences`) with the row's pool size, pairs per item,
  epochs and learning rate; measured on the held-out pairs among the test images: accuracy against the
  labels, the Bayes accuracy of those labels, and the correlation of the reward with the hidden utility;
- ``jepa``: :class:`clkit.methods.jepa.JEPA` at the zoo's laptop budget (5,000 ``shapes`` images, batch 256,
  ``clkit.sweep.zoo.ZooSettings``) for the row's epochs, with the row's encoder and settings; measured by the
  lessons' protocol (kNN, k = 20, on h, training images as the bank, 2,000 test images as queries) and by the
  collapse numbers of h on 512 test images.

Every row runs on one CPU thread (``torch.set_num_threads(1)``), so its seconds compare with the lessons'.

    python bench/ablate_prefjepa.py                  # every row
    python bench/ablate_prefjepa.py --only jepa      # one kind
    python bench/ablate_prefjepa.py --table          # print the stored table
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from clkit import augment, evaluate, models, train
from clkit.data.preferences import PREFERENCE_SPLITS, bayes_accuracy, load_preferences, make_preferences
from clkit.evaluate.preferences import preference_report
from clkit.methods.jepa import JEPA
from clkit.methods.preference import RewardModel
from clkit.sweep import zoo

OUT = Path(__file__).parent / "results" / "prefjepa_ablation.json"

#: (kind, settings). For ``reward``: items, rounds, epochs, lr, batch_size. For ``jepa``: encoder, epochs,
#: augment (the view both branches see: None, "crop" or "simclr"), context (None, or "colour": the kit's colour
#: distortion on the context alone), lr, and JEPA's own keyword arguments under "options".
ROWS: list[tuple[str, dict]] = [
    ("jepa", {"encoder": "small_cnn", "epochs": 30, "context": "colour"}),
    ("reward", {"items": 2000, "rounds": 2, "epochs": 10}),
    ("reward", {"items": 4000, "rounds": 2, "epochs": 10}),
    ("reward", {"items": 4000, "rounds": 4, "epochs": 5}),
    ("reward", {"items": 4000, "rounds": 2, "epochs": 20}),
    ("jepa", {"encoder": "small_cnn", "epochs": 10}),
    ("jepa", {"encoder": "small_cnn", "epochs": 10, "context": "colour"}),
    ("jepa", {"encoder": "small_cnn", "epochs": 10, "augment": "crop", "context": "colour"}),
    ("jepa", {"encoder": "small_vit", "epochs": 10, "context": "colour"}),
    ("jepa", {"encoder": "small_vit", "epochs": 10}),
    ("jepa", {"encoder": "small_cnn", "epochs": 10, "augment": "simclr"}),
]

REWARD_DEFAULTS = {"items": 4000, "rounds": 2, "epochs": 10, "lr": 2e-3, "batch_size": 128}
JEPA_DEFAULTS = {"encoder": "small_cnn", "epochs": 10, "augment": None, "context": None, "lr": 2e-3, "options": {}}


def key(kind: str, settings: dict) -> str:
    return json.dumps([kind, settings], sort_keys=True)


def run_reward(settings: dict) -> dict:
    s = {**REWARD_DEFAULTS, **settings}
    pairs = make_preferences(s["items"], rounds=s["rounds"], seed=PREFERENCE_SPLITS["train"]["seed"])
    heldout = load_preferences("test")
    train.seed_everything(0)
    model = RewardModel(models.encoder("small_cnn"))
    history = train.fit(model, pairs, epochs=s["epochs"], batch_size=s["batch_size"], lr=s["lr"], seed=0,
                        progress=False)
    report = preference_report(model, heldout)
    return {"kind": "reward", "settings": settings, **report, "bayes": bayes_accuracy(heldout),
            "train_pair_acc": history.last("pair_acc"), "train_s": sum(history["seconds"])}


def _view(name: str | None):
    return {None: None, "crop": augment.crop_only(32, scale=(0.4, 1.0)),
            "simclr": augment.simclr(32, scale=(0.4, 1.0), jitter_strength=0.5, grayscale_p=0.5, blur_p=0.0),
            "colour": context_colour()}[name]


def context_colour() -> augment.SimCLRAugment:
    """The kit's colour distortion for ``shapes`` (its recipe's strength 0.5, grayscale p = 0.5, no blur), with
    every pixel left in place: what JEPA's ``context_augment`` takes."""
    return augment.simclr(32, scale=(1.0, 1.0), ratio=(1.0, 1.0), flip_p=0.0, jitter_strength=0.5, grayscale_p=0.5,
                          blur_p=0.0)


def run_jepa(settings: dict) -> dict:
    s = {**JEPA_DEFAULTS, **settings}
    z = zoo.ZooSettings(epochs=s["epochs"])
    train_set, test_set = zoo.datasets(z)
    train.seed_everything(z.seed)
    model = JEPA(models.encoder(s["encoder"]), _view(s["augment"]), context_augment=_view(s["context"]), **s["options"])
    every = 5 if s["epochs"] > 10 else s["epochs"]  # a long run records its kNN curve every 5 epochs
    history = train.fit(model, train_set, epochs=s["epochs"], batch_size=z.batch_size, lr=s["lr"], seed=z.seed,
                        progress=False, monitor=(train_set, test_set), monitor_every=every, knn_k=z.knn_k)
    h_train, h_test = (evaluate.embed(model, x.images) for x in (train_set, test_set))
    probe = evaluate.embed(model, test_set.images[:512])
    return {"kind": "jepa", "settings": settings,
            "knn": evaluate.knn_accuracy(h_train, train_set.labels, h_test, test_set.labels, k=z.knn_k),
            "rankme_h": evaluate.effective_rank(probe),
            "std_h·√D": float(evaluate.per_dimension_std(probe).mean()) * probe.shape[1] ** 0.5,
            "loss": history.last("loss"), "target_std": history.last("target_std"),
            "knn_curve": {r["epoch"]: r["knn"] for r in history.epochs if "knn" in r},
            "train_s": sum(history["seconds"])}


def table(rows: list[dict]) -> str:
    lines = []
    for r in rows:
        s = json.dumps(r["settings"], sort_keys=True)
        if r["kind"] == "reward":
            lines.append(f"reward {s:<62} held-out acc {r['accuracy']:.3f} (Bayes {r['bayes']:.3f}), "
                         f"pearson {r['pearson']:.3f}, spearman {r['spearman']:.3f}, {r['train_s']:.0f} s")
        else:
            lines.append(f"jepa   {s:<62} kNN {r['knn']:.3f}, rankme_h {r['rankme_h']:.1f}, "
                         f"std_h·√D {r['std_h·√D']:.2f}, loss {r['loss']:.3f}, {r['train_s']:.0f} s")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", default="", help="reward or jepa")
    parser.add_argument("--table", action="store_true", help="print the stored table and stop")
    args = parser.parse_args()
    rows = json.loads(OUT.read_text()) if OUT.exists() else []
    if args.table:
        print(table(rows))
        return
    torch.set_num_threads(1)
    done = {key(r["kind"], r["settings"]) for r in rows}
    for kind, settings in ROWS:
        if (args.only and kind != args.only) or key(kind, settings) in done:
            continue
        started = time.perf_counter()
        row = run_reward(settings) if kind == "reward" else run_jepa(settings)
        row.update(threads=torch.get_num_threads(), finished=time.strftime("%Y-%m-%d %H:%M:%S"))
        rows.append(row)
        OUT.parent.mkdir(parents=True, exist_ok=True)
        OUT.write_text(json.dumps(rows, indent=1))
        print(table([row]), f"({time.perf_counter() - started:.0f} s with measurements)", flush=True)


if __name__ == "__main__":
    main()
