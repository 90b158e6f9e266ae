"""Measure every stored result the lessons read, at one scale, over three seeds.

The lessons on temperature, augmentations, batch size, label efficiency, the method zoo, negatives, the
losses before NT-Xent and the clusters of SwAV and DINO show results stored in
``notebooks/results/`` (one JSON per seed, named ``{stem}_seed{seed}_{scale}.json``); a lesson loads a file
when its settings match and trains it otherwise. This script makes them all in one go, in the order of
the lessons (the sweeps are defined in ``clkit.sweep.lessons``, the zoo's families in ``clkit.sweep.zoo``;
``zoo_time`` needs ``zoo`` first), each file written as soon as it is finished (a rerun skips the finished ones):

    python bench/store_results.py                       # the active scale, into notebooks/results
    python bench/store_results.py --scale laptop --only augment,batch --out /tmp/results

``--archive F`` also packs the folder into the tar file F after every finished file, so a run cut off by a
time limit still hands back what it finished.
"""

from __future__ import annotations

import argparse
import os
import sys
import tarfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from clkit import scale, sweep  # noqa: E402
from clkit.sweep import labels, lessons, processes, zoo  # noqa: E402

GROUPS = {"zoo": ["zoo_epochs"], "zoo_time": ["zoo_time"], "negatives": ["negatives_epochs"],
          "losses": ["losses_epochs"], "clusters": ["clusters_epochs"],
          "augment": ["augment_colour_off", "augment_colour_on"], "batch": ["batch_size", "batch_size_fixed_steps"],
          "labels": ["label_efficiency"], "learned": ["temperature_learned_own_lr", "temperature_learned"],
          "temperature": ["temperature_sweep"], "processes": ["processes"]}


def pack(folder: Path, archive: Path) -> None:
    tmp = archive.with_suffix(".tmp")
    with tarfile.open(tmp, "w:gz") as tar:
        for f in sorted(folder.glob("*")):
            tar.add(f, arcname=f.name)
    os.replace(tmp, archive)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default=None, help="ci, laptop or full (default: the active CLKIT_SCALE)")
    parser.add_argument("--out", type=Path, default=None, help="folder for the results (default notebooks/results)")
    parser.add_argument("--only", default=",".join(GROUPS), help=f"groups to run, of {', '.join(GROUPS)}")
    parser.add_argument("--archive", type=Path, default=None, help="a .tar.gz refreshed after every finished file")
    args = parser.parse_args()
    if args.scale:
        os.environ[scale.ENV_VAR] = args.scale
    name = scale.current()
    out = args.out or sweep.results_dir()
    out.mkdir(parents=True, exist_ok=True)
    unknown = sorted(set(args.only.split(",")) - set(GROUPS))
    if unknown:
        parser.error(f"unknown group(s) {', '.join(unknown)}; valid groups are {', '.join(GROUPS)}")
    started = time.perf_counter()
    for group in args.only.split(","):
        for stem in GROUPS[group]:
            for seed in lessons.seeds_now():
                path = out / f"{stem}_seed{seed}_{name}.json"
                t = time.perf_counter()
                command = f"python bench/store_results.py --scale {name} --only {group}"
                if stem.split("_")[0] in zoo.FAMILIES:
                    family, budget = stem.rsplit("_", 1)
                    reference = None
                    if budget == "time":
                        reference = zoo.load(out / f"{family}_epochs_seed{seed}_{name}.json")
                    # At equal time, the self-supervised members that learned at equal epochs (zoo.EQUAL_TIME).
                    members = list(zoo.EQUAL_TIME) if budget == "time" else None
                    zoo.zoo(budget, members, family=family, out=path, reference=reference, progress=False,
                            scale_name=name, command=command, **{**zoo.preset(family=family), "seed": seed})
                elif stem == "label_efficiency":
                    if not path.exists():
                        labels.save(labels.label_efficiency(seed=seed, progress=False, **labels.preset()), path)
                elif stem == "processes":  # two CPU processes and one, whatever the device (lesson 21)
                    processes.stored_or_run(seed=seed, folder=out)
                else:
                    param, values, settings = lessons.arguments(stem, seed)
                    sweep.sweep(param, values, out=path, progress=False, **settings, command=command)
                print(f"{path.name}: {time.perf_counter() - t:.0f} s (total {time.perf_counter() - started:.0f} s)",
                      flush=True)
                if args.archive:
                    pack(out, args.archive)


if __name__ == "__main__":
    main()
