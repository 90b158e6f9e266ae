"""How fast the offline datasets load, and how weak a raw-pixel baseline is on ``shapes``.

Run: ``python bench/bench_data.py [--threads N]``. Prints figures; asserts nothing.

The raw-pixel kNN (scikit-learn, cosine distance) is the floor a learned representation
has to beat: on ``shapes`` it should be weak (~0.2-0.3 with 10 classes), because colour,
position and scale dominate pixel distances.
"""

from __future__ import annotations

import argparse
import time

import torch

from clkit import data


def best_of(fn, repeats: int = 3) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return min(times), out


def knn_accuracy(train: data.ImageSet, test: data.ImageSet, k: int) -> float:
    from sklearn.neighbors import KNeighborsClassifier

    x_train = train.images.reshape(len(train), -1).float().numpy()
    x_test = test.images.reshape(len(test), -1).float().numpy()
    knn = KNeighborsClassifier(n_neighbors=k, metric="cosine").fit(x_train, train.labels.numpy())
    return float((knn.predict(x_test) == test.labels.numpy()).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)"
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads")

    seconds, train = best_of(lambda: data.load("shapes", "train"))
    print(
        f"shapes train, {len(train):,} images 32×32: {seconds:.3f} s ({len(train) / seconds:,.0f} images/s)"
    )
    seconds, test = best_of(lambda: data.load("shapes", "test"))
    print(f"shapes test,  {len(test):,} images 32×32: {seconds:.3f} s")
    seconds, _ = best_of(lambda: data.make_shapes(1_000, seed=0, size=96), repeats=1)
    print(f"make_shapes(1,000, size=96): {seconds:.3f} s")
    for name in ("digits", "photos"):
        seconds, s = best_of(lambda name=name: data.load(name), repeats=1)
        print(f"{name}: {seconds:.3f} s  {s}")

    try:
        import sklearn  # noqa: F401
    except ImportError:
        print("scikit-learn is not installed: skipping the kNN baseline")
        return
    print(f"raw-pixel kNN on shapes (cosine, train {len(train):,} -> test {len(test):,}; chance 0.10):")
    for k in (1, 20):
        start = time.perf_counter()
        acc = knn_accuracy(train, test, k)
        print(f"  k={k:<2d}  accuracy {acc:.3f}   ({time.perf_counter() - start:.1f} s)")
    small = knn_accuracy(train.take(2_000, seed=0), test.take(1_000, seed=0), 20)
    print(f"  k=20  accuracy {small:.3f}   with train 2,000 -> test 1,000")


if __name__ == "__main__":
    main()
