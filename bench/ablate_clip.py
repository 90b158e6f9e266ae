"""Which settings let CLIP learn the captioned shapes on a laptop: short measured runs, one change at a time.

    python bench/ablate_clip.py                         # every configuration
    python bench/ablate_clip.py --only base "lr 4e-3"   # some of them

Each configuration is :data:`BASE` with a few settings changed: CLIP (a width-16 small CNN, a two-block text
transformer of width 64, linear projections to 64 dimensions) trained by ``clkit.train.fit`` on the
``"train"`` split of :func:`clkit.data.make_captions`. It then measures, in the shared space:

- zero-shot accuracy over the 10 shapes (CLIP's prompt ensemble over :data:`clkit.data.captions.PROMPTS`) on
  1,000 images of the held-out (shape, colour) pairs, 1,000 new images of the training pairs and 500 cyan images
  (the novel colour); and the same with the 60 (colour, shape) pairs as classes, the shape read off the winning
  pair (``pair_zero_shot_*``; rows from before it was measured lack it);
- retrieval recall@1/5/10 both ways on those 1,000 test pairs (a caption is right for every image it describes);
- the logit scale the run ended at.

The ``supervised`` configurations train the same image encoder with the shape labels instead (the lesson's
baseline) and measure its own classifier's accuracy on the same two splits.

Results are appended to bench/results/clip_ablation.json (one record per run, with the wall time of training on
this machine and the threads it used) and printed as a table. Run it on one core
(``taskset -c 1 env OMP_NUM_THREADS=1 ...``), as the notebook's laptop run is measured.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch

from clkit import augment, data, evaluate, methods, models, train
from clkit.data.captions import CAPTION_LENGTH, PROMPTS, SEEN_COLOURS

RESULTS = Path(__file__).resolve().parent / "results" / "clip_ablation.json"

BASE = {"n_train": 5000, "epochs": 10, "batch_size": 256, "lr": 2e-3, "weight_decay": 1e-4, "augment": "none",
        "logit_scale_lr_scale": 1.0, "text_dim": 64, "projection_dim": 64, "cnn_width": 16}

AUGMENTS = {
    "none": lambda: None,
    "flip": lambda: augment.crop_only(32, scale=(1.0, 1.0), ratio=(1.0, 1.0)),  # a horizontal flip alone
    "crop 0.6": lambda: augment.crop_only(32, scale=(0.6, 1.0)),  # CLIP's random crop, and a flip
}

CONFIGS: dict[str, dict] = {
    "base": {},
    "lr 1e-3": {"lr": 1e-3},
    "lr 4e-3": {"lr": 4e-3},
    "flip": {"augment": "flip"},
    "crop 0.6": {"augment": "crop 0.6"},
    "scale lr ×10": {"logit_scale_lr_scale": 10.0},
    "scale lr ×30": {"logit_scale_lr_scale": 30.0},
    "batch 128": {"batch_size": 128},
    "batch 512": {"batch_size": 512},
    "text width 96": {"text_dim": 96},
    # The laptop budget: about three minutes of training on one core.
    "8,000 × 20": {"n_train": 8000, "epochs": 20},
    "8,000 × 20, scale lr ×10": {"n_train": 8000, "epochs": 20, "logit_scale_lr_scale": 10.0},
    "8,000 × 20, scale lr ×3": {"n_train": 8000, "epochs": 20, "logit_scale_lr_scale": 3.0},
    "8,000 × 20, scale lr ×10, batch 128": {"n_train": 8000, "epochs": 20, "logit_scale_lr_scale": 10.0,
                                            "batch_size": 128},
    "8,000 × 20, scale lr ×10, lr 3e-3": {"n_train": 8000, "epochs": 20, "logit_scale_lr_scale": 10.0, "lr": 3e-3},
    "8,000 × 20, scale lr ×10, crop 0.6": {"n_train": 8000, "epochs": 20, "logit_scale_lr_scale": 10.0,
                                           "augment": "crop 0.6"},
    # The supervised baseline: the same image encoder trained with the shape labels of the training pairs.
    "supervised, 8,000 × 8": {"method": "supervised", "n_train": 8000, "epochs": 8},
    "supervised, 8,000 × 4": {"method": "supervised", "n_train": 8000, "epochs": 4},
}


def build(settings: dict, tokenizer) -> methods.CLIP:
    """The lesson's CLIP with ``settings``' sizes (the initial weights follow torch's global seed)."""
    text = models.text_transformer(len(tokenizer), max_length=CAPTION_LENGTH, dim=settings["text_dim"], heads=2)
    return methods.CLIP(models.encoder("small_cnn", width=settings["cnn_width"]), text,
                        augment=AUGMENTS[settings["augment"]](), projection_dim=settings["projection_dim"],
                        logit_scale_lr_scale=settings["logit_scale_lr_scale"])


def measure(model: methods.CLIP, tokenizer, splits: dict[str, data.CaptionSet]) -> dict:
    """Zero-shot accuracy on every split given, with shape prompts and with (colour, shape) pair prompts (the shape
    read off the winning pair), and recall@1/5/10 on ``splits["test"]``."""
    shapes = data.SHAPE_CLASSES
    classes = evaluate.prompt_embeddings(model.text, tokenizer, shapes, PROMPTS)
    pairs = [(colour, shape) for colour in SEEN_COLOURS for shape in range(len(shapes))]
    pair_classes = evaluate.prompt_embeddings(model.text, tokenizer, [f"{c} {shapes[s]}" for c, s in pairs], PROMPTS)
    shape_of_pair = torch.tensor([s for _, s in pairs])
    out = {}
    for name, split in splits.items():
        z = evaluate.features(model, split, space="z")
        out[f"zero_shot_{name}"] = evaluate.zero_shot_accuracy(z, split.labels, classes)
        predicted = shape_of_pair[evaluate.zero_shot_predict(z, pair_classes)]
        out[f"pair_zero_shot_{name}"] = (predicted == split.labels).double().mean().item()
    test = splits["test"]
    recall = evaluate.retrieval_recall(evaluate.features(model, test, space="z"),
                                       evaluate.features(model.text, test, space="z"), matches=test.matches())
    out.update({f"{'i2t' if d.startswith('image') else 't2i'}_r{k}": r for d, ks in recall.items()
                for k, r in ks.items()})
    return out


def measure_supervised(model: methods.Supervised, splits: dict[str, data.CaptionSet]) -> dict:
    """The supervised baseline's accuracy (its own classifier) on every split given."""
    out = {}
    for name, split in splits.items():
        with torch.no_grad():
            logits = model.classifier(evaluate.features(model, split))
        out[f"accuracy_{name}"] = (logits.argmax(1) == split.labels).double().mean().item()
    return out


def run(name: str, seed: int) -> dict:
    settings = {**BASE, "method": "clip", **CONFIGS[name]}
    train_set = data.make_captions(settings["n_train"], "train", seed=0)
    splits = {split: data.make_captions(n, split, seed=s, tokenizer=train_set.tokenizer)
              for split, n, s in (("test", 1000, 1), ("held_out", 1000, 2), ("novel_colour", 500, 3))}
    train.seed_everything(seed)
    if settings["method"] == "supervised":
        model = methods.Supervised(models.encoder("small_cnn", width=settings["cnn_width"]),
                                   AUGMENTS[settings["augment"]]() or data.to_float, len(data.SHAPE_CLASSES))
    else:
        model = build(settings, train_set.tokenizer)
    started = time.perf_counter()
    history = train.fit(model, train_set, epochs=settings["epochs"], batch_size=settings["batch_size"],
                        lr=settings["lr"], weight_decay=settings["weight_decay"], seed=seed, progress=False)
    seconds = time.perf_counter() - started
    if settings["method"] == "supervised":
        measured = measure_supervised(model, splits)
    else:
        measured = {**measure(model, train_set.tokenizer, splits), "logit_scale": history.epochs[-1]["logit_scale"]}
    return {"config": name, "changes": CONFIGS[name], "seed": seed, **measured, "train_s": seconds,
            "threads": torch.get_num_threads(), "cpu": platform.machine(), "torch": str(torch.__version__),
            "relative_to": BASE}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="*", default=list(CONFIGS), help="configurations to run")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    unknown = [n for n in args.only if n not in CONFIGS]
    if unknown:
        parser.error(f"unknown configurations {unknown}; valid: {list(CONFIGS)}")
    torch.set_num_threads(1)
    rows = json.loads(RESULTS.read_text()) if RESULTS.exists() else []
    keys = ("zero_shot_held_out", "zero_shot_test", "pair_zero_shot_held_out", "pair_zero_shot_test", "i2t_r1",
            "t2i_r1", "logit_scale", "train_s")
    print(f"{'config':<36}" + "".join(f"{k:>24}" for k in keys))
    for name in args.only:
        row = run(name, args.seed)
        rows = [r for r in rows if (r["config"], r["seed"]) != (name, args.seed)] + [row]
        RESULTS.parent.mkdir(exist_ok=True)
        RESULTS.write_text(json.dumps(rows, indent=1) + "\n")
        print(f"{name:<36}" + "".join(f"{row.get(k, float('nan')):>24.3f}" for k in keys), flush=True)
        if "accuracy_held_out" in row:
            print(f"{'':<36}supervised accuracy: held-out pairs {row['accuracy_held_out']:.3f}, "
                  f"test {row['accuracy_test']:.3f}", flush=True)


if __name__ == "__main__":
    main()
