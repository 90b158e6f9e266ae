"""Short ablations behind the SimCSE lesson's defaults (notebook 19).

Every row trains the kit's text transformer (width 96, 2 blocks, dropout 0.1) with SimCSE on the lesson's corpus
(``clkit.data.make_sentences``: 6,000 training sentences, 200 held-out meanings × 3 paraphrases, 1,200 graded
pairs) at the laptop budget: 5 epochs, batch 64, AdamW at lr 1e-3, τ = 0.05, unless the row changes it. It records
the held-out Spearman correlation, paraphrase retrieval, alignment and uniformity (``clkit.evaluate.sentence_scores``)
and the training time. Rows of the group ``continue`` first train supervised SimCSE on the triples (3 epochs), then
go on with unsupervised SimCSE from that encoder (a new MLP), as the paper goes on from BERT. Rows are appended to
``bench/results/simcse_ablation.json`` as they finish (a rerun skips the rows already there).

    python bench/ablate_simcse.py                        # every row
    python bench/ablate_simcse.py --only scratch         # one group
    python bench/ablate_simcse.py --table                # print the stored table
"""

from __future__ import annotations

import argparse
import copy
import json
import time
from pathlib import Path

import torch

from clkit import data, evaluate, models, train
from clkit.methods import SimCSE

OUT = Path(__file__).parent / "results" / "simcse_ablation.json"
BASE = {"epochs": 5, "batch_size": 64, "lr": 1e-3, "temperature": 0.05, "dropout": 0.1, "noise": "dropout",
        "seed": 0, "supervised": False}

#: (group, what changes from BASE).
ROWS: list[tuple[str, dict]] = [
    # From scratch: the noise of the positive pair, over two seeds.
    *[("scratch", {"noise": noise, "seed": seed}) for seed in (0, 1) for noise in ("dropout", "none", "same_mask")],
    ("scratch", {"supervised": True, "epochs": 3}),
    ("scratch", {"supervised": True, "epochs": 3, "seed": 1}),
    # The paper's Table 2 sweeps the dropout rate; from scratch.
    *[("dropout_rate", {"dropout": p}) for p in (0.05, 0.2, 0.3)],
    ("temperature", {"temperature": 0.1}),
    ("temperature", {"temperature": 0.2}),
    ("steps", {"epochs": 12}),
    ("steps", {"batch_size": 256, "epochs": 12}),
    # Going on from an encoder that already knows paraphrases (supervised SimCSE, 3 epochs): does dropout keep them?
    *[("continue", {"noise": noise, "lr": lr, "epochs": 3, "seed": seed})
      for seed in (0, 1) for lr in (2e-4, 1e-3) for noise in ("dropout", "none")],
    *[("continue", {"noise": "same_mask", "lr": 2e-4, "epochs": 3, "seed": seed}) for seed in (0, 1)],
]


def corpus() -> data.SentenceCorpus:
    return data.make_sentences(n_train=6000, n_triples=6000, n_eval_meanings=200, paraphrases=3, pairs_per_score=200,
                               seed=0)


def simcse(vocab: int, settings: dict, seed: int) -> SimCSE:
    torch.manual_seed(seed)
    encoder = models.text_transformer(vocab, max_length=16, dropout=settings["dropout"])
    return SimCSE(encoder, temperature=settings["temperature"], supervised=settings["supervised"],
                  noise=settings["noise"])


def fit(method: SimCSE, records, settings: dict) -> float:
    started = time.perf_counter()
    train.fit(method, records, epochs=settings["epochs"], batch_size=settings["batch_size"], lr=settings["lr"],
              seed=settings["seed"], progress=False)
    return time.perf_counter() - started


_STARTS: dict[int, SimCSE] = {}


def supervised_start(c: data.SentenceCorpus, seed: int) -> SimCSE:
    """Supervised SimCSE, 3 epochs at the base settings: the stand-in for a pretrained encoder (once per seed)."""
    if seed not in _STARTS:
        settings = {**BASE, "supervised": True, "epochs": 3, "seed": seed}
        method = simcse(len(c.tokenizer), settings, seed)
        fit(method, c.triples, settings)
        _STARTS[seed] = method
    return _STARTS[seed]


def run(group: str, change: dict, c: data.SentenceCorpus) -> dict:
    settings = {**BASE, **change}
    seed = settings["seed"]
    if group == "continue":
        start = supervised_start(c, seed)
        torch.manual_seed(seed)  # a fresh MLP, as SimCSE puts a new one on BERT
        method = SimCSE(copy.deepcopy(start.backbone), temperature=settings["temperature"], noise=settings["noise"])
    else:
        method = simcse(len(c.tokenizer), settings, seed)
    seconds = fit(method, c.triples if settings["supervised"] else c.train, settings)
    scores = evaluate.sentence_scores(lambda t: evaluate.embed(method, t), c.sentences, c.pairs)
    return {"group": group, "change": change, **scores, "train_s": seconds, "threads": torch.get_num_threads(),
            "finished": time.strftime("%Y-%m-%d %H:%M:%S")}


def table(rows: list[dict]) -> str:
    lines = [f"{'group':<13} {'change':<58} {'spearman':>8} {'retr.':>6} {'align':>6} {'unif':>6} {'s':>5}"]
    for r in rows:
        lines.append(f"{r['group']:<13} {json.dumps(r['change']):<58} {r['spearman']:8.3f} {r['retrieval']:6.3f} "
                     f"{r['alignment']:6.3f} {r['uniformity']:6.2f} {r['train_s']:5.0f}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default="", help="comma-separated groups to run")
    parser.add_argument("--table", action="store_true", help="print the stored rows and stop")
    args = parser.parse_args()
    torch.set_num_threads(1)  # the timings are one core's, as the lesson's laptop runs are measured
    rows = json.loads(OUT.read_text()) if OUT.exists() else []
    if args.table:
        print(table(rows))
        return
    done = {(r["group"], json.dumps(r["change"], sort_keys=True)) for r in rows}
    groups = set(filter(None, args.only.split(",")))
    c = corpus()
    for group, change in ROWS:
        if (groups and group not in groups) or (group, json.dumps(change, sort_keys=True)) in done:
            continue
        rows.append(run(group, change, c))
        OUT.parent.mkdir(parents=True, exist_ok=True)
        OUT.write_text(json.dumps(rows, indent=1))
        print(table(rows[-1:]).splitlines()[-1], flush=True)


if __name__ == "__main__":
    main()
