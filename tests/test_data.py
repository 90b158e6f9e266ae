"""Tests for clkit.data, checked against independent references.

The real datasets are tested on small files written here in their on-disk formats
(CIFAR-10 pickles, STL-10 binaries, Fashion-MNIST idx files) with a known pixel pattern,
so the tests need no download and check the whole path from bytes on disk to ImageSet.
"""

from __future__ import annotations

import gzip
import hashlib
import pickle
import struct
from pathlib import Path
from urllib.error import URLError

import numpy as np
import pytest
import torch

from clkit import data

LUMA = torch.tensor([0.299, 0.587, 0.114])


def luminance(images: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) uint8 → (N, H, W) float luminance 0..255."""
    return (images.float() * LUMA.view(1, 3, 1, 1)).sum(1)


def pattern(n: int, c: int, h: int, w: int) -> np.ndarray:
    """A known uint8 image stack where every (image, channel, row, column) has its own value."""
    i, ch, y, x = np.meshgrid(np.arange(n), np.arange(c), np.arange(h), np.arange(w), indexing="ij")
    return ((i * 37 + ch * 71 + y * 5 + x * 3) % 256).astype(np.uint8)


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


# ----------------------------------------------------------------------------- ImageSet


def small_set(n: int = 12, k: int = 3, captions: bool = True) -> data.ImageSet:
    images = torch.arange(n * 1 * 2 * 2, dtype=torch.int64).remainder(256).to(torch.uint8).view(n, 1, 2, 2)
    labels = torch.arange(n) % k
    caps = [f"image {i}" for i in range(n)] if captions else None
    return data.ImageSet(images, labels, [f"c{j}" for j in range(k)], "toy", caps)


def test_imageset_validates_its_fields():
    images = torch.zeros(4, 3, 8, 8, dtype=torch.uint8)
    labels = torch.tensor([0, 1, 0, 1])
    with pytest.raises(TypeError, match="uint8"):
        data.ImageSet(images.float(), labels, ["a", "b"], "x")
    with pytest.raises(ValueError, match="4-D"):
        data.ImageSet(images[0], labels, ["a", "b"], "x")
    with pytest.raises(TypeError, match="int64"):
        data.ImageSet(images, labels.int(), ["a", "b"], "x")
    with pytest.raises(ValueError, match="4 images but 3 labels"):
        data.ImageSet(images, labels[:3], ["a", "b"], "x")
    with pytest.raises(ValueError, match="0..1"):
        data.ImageSet(images, torch.tensor([0, 1, 2, 0]), ["a", "b"], "x")
    with pytest.raises(ValueError, match="captions"):
        data.ImageSet(images, labels, ["a", "b"], "x", captions=["one"])


def test_imageset_indexing_returns_aligned_subsets():
    s = small_set()
    for index in (slice(2, 7), torch.tensor([5, 0, 3]), [5, 0, 3], s.labels == 1, 4):
        sub = s[index]
        expect = torch.arange(len(s))[index].reshape(-1)
        assert isinstance(sub, data.ImageSet)
        assert torch.equal(sub.images, s.images[expect])
        assert torch.equal(sub.labels, s.labels[expect])
        assert sub.captions == [f"image {i}" for i in expect.tolist()]
        assert sub.classes == s.classes and sub.name == s.name
    with pytest.raises(IndexError):
        s[torch.tensor([len(s)])]


def test_take_is_class_balanced_and_deterministic():
    s = small_set(n=30, k=3)
    sub = s.take(9)
    assert torch.bincount(sub.labels).tolist() == [3, 3, 3]
    # seed=None takes the first images of each class, in dataset order.
    assert sub.captions == [f"image {i}" for i in range(9)]
    a, b, c = s.take(10, seed=1), s.take(10, seed=1), s.take(10, seed=2)
    assert torch.equal(a.images, b.images)
    assert sorted(torch.bincount(a.labels).tolist()) == [3, 3, 4]
    assert not torch.equal(a.images, c.images)
    with pytest.raises(ValueError, match="cannot take"):
        s.take(31)


def test_take_shares_out_what_a_small_class_lacks():
    labels = torch.tensor([0] * 2 + [1] * 10 + [2] * 10)
    images = torch.zeros(len(labels), 1, 1, 1, dtype=torch.uint8)
    s = data.ImageSet(images, labels, ["rare", "b", "c"], "toy")
    assert torch.bincount(s.take(12).labels).tolist() == [2, 5, 5]
    assert len(s.take(22)) == 22


def test_to_and_repr():
    s = small_set(captions=False)
    assert s.to("cpu").images.device.type == "cpu"
    assert repr(s) == "ImageSet('toy', N=12, 1×2×2, 3 classes)"
    assert "captions" in repr(small_set())
    if torch.cuda.is_available():
        moved = s.to("cuda")
        assert moved.images.is_cuda and moved.labels.is_cuda
        assert torch.equal(moved[torch.tensor([1, 2])].images.cpu(), s.images[1:3])


def test_an_imageset_moves_channels_last_and_its_subsets_stay_so(small_shapes):
    held = small_shapes.to("cpu", memory_format=torch.channels_last)
    assert held.images.is_contiguous(memory_format=torch.channels_last) and held.shape == small_shapes.shape
    assert torch.equal(held.images, small_shapes.images) and torch.equal(held.labels, small_shapes.labels)
    batch = held[torch.tensor([5, 0, 9])]  # what fit's step takes from the resident set
    assert batch.images.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(batch.images, small_shapes.images[[5, 0, 9]])


def test_fast_path_gives_what_the_checked_path_gives(small_shapes):
    # An int64 tensor on the images' device takes the fast path; a list of the same positions
    # takes the checked one. Negative positions and a 2-D index (flattened) behave alike on both.
    s = small_set()
    for positions in ([5, 0, 3], [11, -1, 0, 0], [[1, 2], [3, 4]], []):
        index = torch.tensor(positions, dtype=torch.int64)
        fast, checked = s[index], s[index.reshape(-1).tolist()]
        assert isinstance(fast, data.ImageSet)
        assert torch.equal(fast.images, checked.images) and torch.equal(fast.labels, checked.labels)
        assert fast.captions == checked.captions
        assert fast.classes == checked.classes and fast.name == checked.name
    assert s[torch.tensor(4)].captions == s[4].captions == ["image 4"]  # a 0-d index gives a set of one
    index = torch.randperm(len(small_shapes), generator=torch.Generator().manual_seed(0))[:64]
    fast, checked = small_shapes[index], small_shapes[index.tolist()]
    assert torch.equal(fast.images, checked.images) and torch.equal(fast.labels, checked.labels)
    assert fast.captions is None and repr(fast) == repr(checked)
    fast.classes.append("extra")  # the subset owns its class list, as a checked subset does
    assert len(small_shapes.classes) == 10


def test_fast_path_runs_no_checks_and_reads_nothing_back(monkeypatch):
    s, captioned = small_set(captions=False), small_set()
    index = torch.tensor([3, 1, 4])

    def forbidden(*args, **kwargs):
        raise AssertionError("the fast path must not validate or read values back to the host")

    monkeypatch.setattr(data.ImageSet, "__post_init__", forbidden)
    for name in ("min", "max", "item", "tolist", "__int__", "__bool__"):
        monkeypatch.setattr(torch.Tensor, name, forbidden)
    monkeypatch.setattr(torch, "arange", forbidden)
    sub = s[index]
    monkeypatch.undo()
    assert torch.equal(sub.images, s.images[index]) and torch.equal(sub.labels, s.labels[index])
    # The same patch proves itself: the checked path, and captions, do go through them.
    monkeypatch.setattr(data.ImageSet, "__post_init__", forbidden)
    with pytest.raises(AssertionError, match="fast path"):
        s[[3, 1, 4]]
    monkeypatch.undo()
    monkeypatch.setattr(torch.Tensor, "tolist", forbidden)
    with pytest.raises(AssertionError, match="fast path"):
        captioned[index]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_fast_path_does_not_synchronise_on_the_gpu():
    s = small_set(captions=False).to("cuda")
    index = torch.tensor([3, 1, 4], device="cuda")
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        sub = s[index]
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert sub.images.is_cuda and torch.equal(sub.labels.cpu(), torch.tensor([0, 1, 1]))
    assert torch.equal(sub.images.cpu(), small_set().images[[3, 1, 4]])


def test_records_share_one_protocol():
    images, labels = torch.zeros(4, 3, 2, 2, dtype=torch.uint8), torch.tensor([0, 1, 0, 1])
    records = [
        small_set(),
        small_text(),
        data.Batch(images, labels),
        data.Batch(tokens=torch.ones(4, 5, dtype=torch.int64), captions=list("abcd")),
    ]
    for r in records:
        assert isinstance(r, data.Records)
        sub = r[torch.tensor([2, 0])]
        assert type(sub) is type(r) and len(sub) == 2
        assert type(sub.to("cpu")) is type(r)
    image_set, text_set = records[:2]
    assert image_set.tokens is None and text_set.images is None


def test_batch_is_positional_light_and_movable():
    images, labels = torch.arange(24, dtype=torch.uint8).view(6, 1, 2, 2), torch.tensor([0, 1, 2, 0, 1, 2])
    b = data.Batch(images, labels)
    assert b.images is images and b.labels is labels and b.tokens is None and b.captions is None
    assert len(b) == 6 and len(data.Batch(tokens=torch.zeros(3, 4, dtype=torch.int64))) == 3
    assert len(data.Batch()) == 0
    sub = data.Batch(images, labels, captions=[f"c{i}" for i in range(6)])[torch.tensor([4, 1])]
    assert torch.equal(sub.images, images[[4, 1]]) and sub.labels.tolist() == [1, 1]
    assert sub.captions == ["c4", "c1"]
    masked = data.Batch(images, labels, captions=[f"c{i}" for i in range(6)])[labels == 2]
    assert masked.captions == ["c2", "c5"] and masked.labels.tolist() == [2, 2]
    # No validation: a hand-made batch may hold anything the caller hands it.
    assert len(data.Batch(images.float(), labels[:2])) == 6
    moved = b.to("cpu")
    assert torch.equal(moved.images, images) and moved.tokens is None
    if torch.cuda.is_available():
        moved = b.to("cuda")
        assert moved.images.is_cuda and moved.labels.is_cuda


# ----------------------------------------------------------------------------- TextSet


def small_text(n: int = 12, k: int = 3, captions: bool = True, length: int = 5) -> data.TextSet:
    tokens = torch.arange(1, n * length + 1).view(n, length)
    tokens[:, -1] = 0  # one column of padding
    labels = torch.arange(n) % k
    caps = [f"sentence {i}" for i in range(n)] if captions else None
    return data.TextSet(tokens, labels, [f"c{j}" for j in range(k)], "toy text", caps)


def test_textset_validates_its_fields():
    tokens = torch.ones(4, 6, dtype=torch.int64)
    labels = torch.tensor([0, 1, 0, 1])
    with pytest.raises(TypeError, match="tokens and labels must be torch tensors"):
        data.TextSet(tokens.tolist(), labels, ["a", "b"], "x")
    with pytest.raises(TypeError, match="int64 token ids.*tokens.long"):
        data.TextSet(tokens.int(), labels, ["a", "b"], "x")
    with pytest.raises(ValueError, match=r"2-D \(N, L\).*got shape \(4, 6, 1\)"):
        data.TextSet(tokens[..., None], labels, ["a", "b"], "x")
    with pytest.raises(ValueError, match=">= 0"):
        data.TextSet(tokens - 2, labels, ["a", "b"], "x")
    with pytest.raises(TypeError, match="labels must be int64"):
        data.TextSet(tokens, labels.int(), ["a", "b"], "x")
    with pytest.raises(ValueError, match="4 sentences but 3 labels"):
        data.TextSet(tokens, labels[:3], ["a", "b"], "x")
    with pytest.raises(ValueError, match="0..1 for 2 classes"):
        data.TextSet(tokens, torch.tensor([0, 1, 2, 0]), ["a", "b"], "x")
    with pytest.raises(ValueError, match="4 sentences but 1 captions"):
        data.TextSet(tokens, labels, ["a", "b"], "x", captions=["one"])
    empty = data.TextSet(torch.zeros(0, 6, dtype=torch.int64), torch.zeros(0, dtype=torch.int64), ["a"], "x")
    assert len(empty) == 0


def test_textset_indexing_both_paths():
    t = small_text()
    for index in (slice(2, 7), torch.tensor([5, 0, 3]), [5, 0, 3], t.labels == 1, 4):
        sub = t[index]
        expect = torch.arange(len(t))[index].reshape(-1)
        assert isinstance(sub, data.TextSet)
        assert torch.equal(sub.tokens, t.tokens[expect]) and torch.equal(sub.labels, t.labels[expect])
        assert sub.captions == [f"sentence {i}" for i in expect.tolist()]
        assert sub.classes == t.classes and sub.name == t.name
    with pytest.raises(IndexError):
        t[[len(t)]]


def test_textset_take_matches_imagesets():
    # One take for both kinds of set: the same labels give the same positions.
    images, texts = small_set(n=30, k=3), small_text(n=30, k=3)
    for n, seed in ((9, None), (10, 1), (10, 2)):
        picked = texts.take(n, seed=seed)
        assert picked.captions == [c.replace("image", "sentence") for c in images.take(n, seed=seed).captions]
    assert torch.bincount(texts.take(9).labels).tolist() == [3, 3, 3]
    with pytest.raises(ValueError, match="cannot take 31 sentences"):
        texts.take(31)


def test_textset_to_and_repr():
    t = small_text(captions=False)
    assert t.to("cpu").tokens.device.type == "cpu"
    assert repr(t) == "TextSet('toy text', N=12, L=5, 3 classes)"
    assert repr(small_text()) == "TextSet('toy text', N=12, L=5, 3 classes, captions)"
    if torch.cuda.is_available():
        moved = t.to("cuda")
        assert moved.tokens.is_cuda and moved.labels.is_cuda
        assert torch.equal(moved[torch.tensor([1, 2], device="cuda")].tokens.cpu(), t.tokens[1:3])


def test_default_root_is_the_kits_data_folder(monkeypatch, tmp_path):
    kit = Path(__file__).resolve().parents[1]
    monkeypatch.delenv("CLKIT_DATA", raising=False)
    assert Path(data.default_root()) == kit / "data"  # not the package folder clkit/data
    monkeypatch.setenv("CLKIT_DATA", str(tmp_path))
    assert data.default_root() == str(tmp_path)


# ----------------------------------------------------------------------------- shapes


@pytest.fixture(scope="module")
def shapes_train() -> data.ImageSet:
    return data.load("shapes", "train")


@pytest.fixture(scope="module")
def shapes_test() -> data.ImageSet:
    return data.load("shapes", "test")


def test_shapes_are_deterministic_per_seed():
    a, b = data.make_shapes(300, seed=7), data.make_shapes(300, seed=7)
    assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)
    assert not torch.equal(a.images, data.make_shapes(300, seed=8).images)


def test_shapes_splits(shapes_train, shapes_test):
    assert len(shapes_train) == 10_000 and len(shapes_test) == 2_000
    for s in (shapes_train, shapes_test):
        assert s.images.dtype == torch.uint8 and s.images.shape[1:] == (3, 32, 32)
        assert s.labels.dtype == torch.int64
        assert s.classes == ["circle", "ring", "square", "triangle", "plus", "star", "hexagon", "crescent",
                             "heart", "arrow"]  # fmt: skip
        assert torch.bincount(s.labels, minlength=10).tolist() == [len(s) // 10] * 10
    # Colours are random, so the pixel values span the whole range.
    assert int(shapes_train.images.min()) < 10 and int(shapes_train.images.max()) > 245
    # Train and test are drawn from different seeds: no test image appears in train.
    train_bytes = {bytes(x) for x in shapes_train.images.reshape(len(shapes_train), -1).numpy()}
    assert not any(bytes(x) in train_bytes for x in shapes_test.images.reshape(len(shapes_test), -1).numpy())


def test_make_shapes_other_sizes():
    s = data.make_shapes(25, seed=1, size=64)
    assert s.images.shape == (25, 3, 64, 64)
    assert sorted(torch.bincount(s.labels).tolist()) == [2] * 5 + [3] * 5
    assert len(data.make_shapes(0)) == 0


def test_every_shape_stands_out_from_its_background(shapes_test):
    # The shape covers between a few percent and about a third of the image, so the 1st and
    # 99th luminance percentiles are background and shape (in some order). The background's own
    # texture (gradient + noise) spans well under 0.15 × 255, the minimum contrast is 0.3 × 255.
    lum = luminance(shapes_test.images).reshape(len(shapes_test), -1)
    spread = lum.quantile(0.99, dim=1) - lum.quantile(0.01, dim=1)
    assert float(spread.min()) > 0.2 * 255


def shape_masks(images: torch.Tensor) -> torch.Tensor:
    """(N, H, W) bool: pixels whose colour is far from the image's border colour (the background)."""
    img = images.float()
    border = torch.cat([img[:, :, 0], img[:, :, -1], img[:, :, :, 0], img[:, :, :, -1]], dim=2)
    background = border.median(dim=2).values  # (N, 3)
    distance = (img - background[:, :, None, None]).norm(dim=1)
    return distance > 0.5 * distance.amax(dim=(1, 2), keepdim=True)


def test_shape_position_varies(shapes_test):
    masks = shape_masks(shapes_test.images).float()
    area = masks.sum(dim=(1, 2))
    assert float(area.min()) > 10  # every image has a shape
    rows = torch.arange(32.0).view(1, 32, 1)
    cols = torch.arange(32.0).view(1, 1, 32)
    cy = (masks * rows).sum(dim=(1, 2)) / area
    cx = (masks * cols).sum(dim=(1, 2)) / area
    assert float(cx.std()) > 2.5 and float(cy.std()) > 2.5  # pixels
    assert float(cx.max() - cx.min()) > 12 and float(cy.max() - cy.min()) > 12
    # ... and so does its size (scale nuisance), within each class.
    circles = area[shapes_test.labels == 0]
    assert float(circles.max() / circles.min()) > 2


def test_raw_pixel_knn_is_weak_but_above_chance(shapes_train, shapes_test):
    # Reference: scikit-learn's kNN on raw pixels with cosine distance, train 10k -> 1k test images.
    # Measured 0.23-0.24 over four seed pairs (chance is 0.10).
    from sklearn.neighbors import KNeighborsClassifier

    test = shapes_test.take(1000)
    x_train = shapes_train.images.reshape(len(shapes_train), -1).float().numpy()
    x_test = test.images.reshape(len(test), -1).float().numpy()
    knn = KNeighborsClassifier(n_neighbors=20, metric="cosine").fit(x_train, shapes_train.labels.numpy())
    raw = float((knn.predict(x_test) == test.labels.numpy()).mean())
    assert 0.15 < raw < 0.35

    # The class is in the pixels: the same kNN on colour-free shape masks does far better
    # (measured ~0.73), which is the room a colour-invariant encoder has to win.
    def masks(s: data.ImageSet) -> np.ndarray:
        return shape_masks(s.images).reshape(len(s), -1).float().numpy()

    knn = KNeighborsClassifier(n_neighbors=20, metric="cosine").fit(masks(shapes_train), shapes_train.labels)
    colour_free = float((knn.predict(masks(test)) == test.labels.numpy()).mean())
    assert colour_free > raw + 0.3


# ----------------------------------------------------------------------------- digits and photos


def test_digits_is_sklearns_digits_split_stratified():
    from sklearn.datasets import load_digits

    train, test = data.load("digits", "train"), data.load("digits", "test")
    assert len(train) + len(test) == 1797
    assert train.images.shape[1:] == (1, 8, 8) and train.images.dtype == torch.uint8
    assert train.classes == [str(d) for d in range(10)]
    assert test.images.max() == 255 and test.images.min() == 0
    # Each class is split 80/20 to within one image.
    n_train, n_test = torch.bincount(train.labels), torch.bincount(test.labels)
    assert ((n_test - 0.2 * (n_train + n_test)).abs() <= 1).all()
    # Together the splits are exactly sklearn's images, scaled 0..16 -> 0..255.
    ref = load_digits()
    ref_rows = sorted(
        (int(y), tuple(np.round(x * 255 / 16).astype(int).ravel())) for x, y in zip(ref.images, ref.target)
    )
    ours = sorted(
        (int(y), tuple(x.ravel().tolist()))
        for s in (train, test)
        for x, y in zip(s.images.numpy(), s.labels.numpy())
    )
    assert ours == ref_rows
    assert torch.equal(data.load("digits", "test").images, test.images)  # deterministic


def test_photos_match_a_skimage_resize():
    import skimage.data
    from skimage.transform import resize

    photos = data.load("photos", "train")
    assert photos.images.shape == (8, 3, 128, 128) and photos.images.dtype == torch.uint8
    assert photos.labels.tolist() == list(range(8)) and len(set(photos.classes)) == 8
    assert photos.captions is not None and len(photos.captions) == 8
    assert torch.equal(data.load("photos", "test").images, photos.images)  # one set for both splits
    # Independent reference: skimage's own antialiased resize of the centre-cropped astronaut.
    astronaut = skimage.data.astronaut()  # 512 x 512, already square
    ref = resize(astronaut, (128, 128), anti_aliasing=True, preserve_range=True)
    ours = photos.images[photos.classes.index("astronaut")].permute(1, 2, 0).numpy().astype(float)
    assert np.abs(ours - ref).mean() < 4
    cat = skimage.data.chelsea()  # 300 x 451: the crop keeps the middle 300 columns
    ref = resize(cat[:, 75:375], (128, 128), anti_aliasing=True, preserve_range=True)
    ours = photos.images[photos.classes.index("cat")].permute(1, 2, 0).numpy().astype(float)
    assert np.abs(ours - ref).mean() < 4


# ----------------------------------------------------------------------------- names and splits


def test_bad_name_lists_valid_names_and_offline_ones():
    with pytest.raises(ValueError) as info:
        data.load("mnist")
    message = str(info.value)
    for name in data.DATASETS:
        assert name in message
    assert "offline" in message


def test_bad_split_lists_valid_splits():
    with pytest.raises(ValueError, match="train, test"):
        data.load("shapes", split="validation")


def test_names_and_availability(tmp_path):
    assert set(data.OFFLINE) == {"shapes", "shapes_polarity", "digits", "photos"}
    assert set(data.DATASETS) == set(data.OFFLINE) | {"cifar10", "stl10", "fashion_mnist"}
    for name in data.OFFLINE:
        assert data.available(name, root=tmp_path)
    for name in ("cifar10", "stl10", "fashion_mnist"):
        assert not data.available(name, root=tmp_path)
    assert not data.available("Fashion-MNIST", root=tmp_path)  # names are case- and dash-insensitive


# ----------------------------------------------------------------------------- torchvision datasets

CIFAR_CLASSES = ["plane", "car", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def write_cifar10(root: Path, per_batch: int = 4) -> dict[str, np.ndarray]:
    """The CIFAR-10 python layout: 5 train pickles, a test pickle and batches.meta (rows are CHW-flat)."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    images = {}
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for b, name in enumerate(names):
        chw = pattern(per_batch, 3, 32, 32) ^ np.uint8(b)  # each batch distinct
        labels = [(b + i) % 10 for i in range(per_batch)]
        with open(folder / name, "wb") as f:
            pickle.dump({"data": chw.reshape(per_batch, -1), "labels": labels}, f)
        images[name] = (chw, np.array(labels))
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": CIFAR_CLASSES}, f)
    return images


def accept_written_files(monkeypatch, cls, folder: Path, attrs: tuple[str, ...]) -> None:
    """torchvision checks each file's md5 against the real dataset's; point the checks at our files.

    The lists are class attributes of the torchvision dataset, so monkeypatch replaces them on
    the class for this test only (the integrity check itself still runs on our files).
    """
    for attr in attrs:
        value = getattr(cls, attr)
        if isinstance(value, dict):  # CIFAR's meta entry
            new = {**value, "md5": md5(folder / value["filename"])}
        else:
            new = [[name, md5(folder / name)] for name, _ in value]
        monkeypatch.setattr(cls, attr, new)


def test_cifar10_from_files(tmp_path, monkeypatch):
    import torchvision.datasets as tvd

    written = write_cifar10(tmp_path)
    accept_written_files(
        monkeypatch, tvd.CIFAR10, tmp_path / "cifar-10-batches-py", ("train_list", "test_list", "meta")
    )
    assert data.available("cifar10", root=tmp_path)
    train = data.load("cifar10", "train", root=tmp_path)
    test = data.load("cifar10", "test", root=tmp_path)
    assert len(train) == 20 and len(test) == 4
    assert train.classes == CIFAR_CLASSES and train.name == "cifar10"
    expect = np.concatenate([written[f"data_batch_{i}"][0] for i in range(1, 6)])
    assert train.images.shape == (20, 3, 32, 32) and train.images.is_contiguous()
    assert np.array_equal(train.images.numpy(), expect)
    assert np.array_equal(test.images.numpy(), written["test_batch"][0])
    assert test.labels.tolist() == written["test_batch"][1].tolist()


def test_cifar10_with_files_that_fail_the_checksum(tmp_path):
    write_cifar10(tmp_path)  # the real md5s do not match these files
    with pytest.raises(data.DatasetNotFoundError, match="corrupted") as info:
        data.load("cifar10", root=tmp_path)
    assert "download=True" in str(info.value)


def write_stl10(root: Path, n_train: int = 3, n_test: int = 2) -> dict[str, np.ndarray]:
    """STL-10 binaries: each image stored channel by channel, each channel column-major; labels 1..10."""
    folder = root / "stl10_binary"
    folder.mkdir(parents=True)
    out = {}
    for split, n in (("train", n_train), ("test", n_test)):
        images = pattern(n, 3, 96, 96) ^ np.uint8(len(split))
        labels = np.arange(n) % 10
        (folder / f"{split}_X.bin").write_bytes(images.transpose(0, 1, 3, 2).tobytes())
        (folder / f"{split}_y.bin").write_bytes((labels + 1).astype(np.uint8).tobytes())
        out[split] = (images, labels)
    # torchvision's integrity check also wants the unlabelled images; one will do.
    (folder / "unlabeled_X.bin").write_bytes(pattern(1, 3, 96, 96).tobytes())
    (folder / "class_names.txt").write_text("\n".join(data.STL10_CLASSES) + "\n")
    return out


def test_stl10_from_files(tmp_path, monkeypatch):
    import torchvision.datasets as tvd

    written = write_stl10(tmp_path)
    accept_written_files(monkeypatch, tvd.STL10, tmp_path / "stl10_binary", ("train_list", "test_list"))
    assert data.available("stl10", root=tmp_path)
    for split in ("train", "test"):
        s = data.load("stl10", split, root=tmp_path)
        images, labels = written[split]
        assert s.images.shape == (len(labels), 3, 96, 96)
        assert np.array_equal(s.images.numpy(), images)  # row-major NCHW after the loader
        assert s.labels.tolist() == labels.tolist()
        assert s.classes == data.STL10_CLASSES


def write_idx(path: Path, array: np.ndarray, compress: bool) -> None:
    """An idx file (big-endian header: 0, 0, type 0x08 = ubyte, ndim; then each dimension)."""
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    payload = header + array.astype(np.uint8).tobytes()
    if compress:
        path = path.with_name(path.name + ".gz")
        payload = gzip.compress(payload)
    path.write_bytes(payload)


def test_fashion_mnist_from_files(tmp_path):
    raw = tmp_path / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    train_images, test_images = pattern(5, 1, 28, 28)[:, 0], pattern(3, 1, 28, 28)[:, 0] ^ np.uint8(9)
    train_labels, test_labels = np.array([9, 0, 1, 2, 3]), np.array([4, 5, 6])
    # Train as the .gz files the dataset is distributed as, test unpacked: both must load.
    write_idx(raw / "train-images-idx3-ubyte", train_images, compress=True)
    write_idx(raw / "train-labels-idx1-ubyte", train_labels, compress=True)
    write_idx(raw / "t10k-images-idx3-ubyte", test_images, compress=False)
    write_idx(raw / "t10k-labels-idx1-ubyte", test_labels, compress=False)
    assert data.available("fashion_mnist", root=tmp_path)
    train = data.load("fashion_mnist", "train", root=tmp_path)
    test = data.load("fashion_mnist", "test", root=tmp_path)
    assert train.images.shape == (5, 1, 28, 28) and test.images.shape == (3, 1, 28, 28)
    assert np.array_equal(train.images[:, 0].numpy(), train_images)
    assert np.array_equal(test.images[:, 0].numpy(), test_images)
    assert train.labels.tolist() == train_labels.tolist() and test.labels.tolist() == test_labels.tolist()
    assert train.classes[0] == "T-shirt/top" and len(train.classes) == 10


def assert_actionable(message: str, name: str, root: Path) -> None:
    assert f'"{name}"' in message
    assert str(root) in message
    assert "download=True" in message
    assert "torchvision's layout" in message
    for offline in ("shapes", "digits", "photos"):
        assert f'"{offline}"' in message


@pytest.mark.parametrize("name", ["cifar10", "stl10", "fashion_mnist"])
def test_missing_files_say_how_to_get_them(tmp_path, name):
    with pytest.raises(FileNotFoundError) as info:
        data.load(name, "test", root=tmp_path)
    assert isinstance(info.value, data.DatasetNotFoundError)
    assert_actionable(str(info.value), name, tmp_path)


@pytest.mark.parametrize(
    "name, module", [("cifar10", "cifar"), ("stl10", "stl10"), ("fashion_mnist", "mnist")]
)
def test_failed_download_offline_says_how_to_get_them(tmp_path, monkeypatch, name, module):
    import importlib

    calls = []

    def offline(url, *args, **kwargs):
        calls.append(url)
        raise URLError("[Errno -3] Temporary failure in name resolution")

    # Each torchvision dataset module imports download_and_extract_archive by name.
    monkeypatch.setattr(
        importlib.import_module(f"torchvision.datasets.{module}"), "download_and_extract_archive", offline
    )
    with pytest.raises(data.DatasetNotFoundError) as info:
        data.load(name, root=tmp_path, download=True)
    assert calls, "the download was not attempted"
    message = str(info.value)
    assert "could not be downloaded" in message
    assert_actionable(message, name, tmp_path)


def test_shape_polarity_follows_the_drawn_contrast():
    light_on_dark = torch.zeros(1, 3, 16, 16, dtype=torch.uint8)
    light_on_dark[:, :, 5:10, 5:10] = 200
    dark_on_light = 255 - light_on_dark
    assert data.shape_polarity(torch.cat([light_on_dark, dark_on_light])).tolist() == [True, False]
    shapes = data.make_shapes(320, seed=0, polarity="random")  # both polarities, as drawn
    polarity = data.shape_polarity(shapes.images)
    inverted = data.shape_polarity(255 - shapes.images)
    assert (polarity != inverted).float().mean() > 0.99
    assert 0.3 < polarity.float().mean() < 0.7


def test_a_fixed_polarity_swaps_the_two_colours_and_nothing_else():
    drawn = data.make_shapes(200, seed=5, polarity="random")
    light = data.make_shapes(200, seed=5, polarity="light")
    dark = data.make_shapes(200, seed=5, polarity="dark")
    assert torch.equal(drawn.labels, light.labels) and torch.equal(drawn.labels, dark.labels)
    assert data.shape_polarity(light.images).float().mean() > 0.97  # the polarity test itself is a heuristic
    assert data.shape_polarity(dark.images).float().mean() < 0.03
    kept = data.shape_polarity(drawn.images)
    assert torch.equal(light.images[kept], drawn.images[kept])  # already light: untouched (the same draws)
    with pytest.raises(ValueError, match="polarity must be one of"):
        data.make_shapes(4, polarity="inverted")


def test_the_default_shapes_are_light_and_the_polarity_set_keeps_both(small_shapes):
    assert small_shapes.name == "shapes" and data.shape_polarity(small_shapes.images).float().mean() > 0.97
    mixed = data.make_shapes(320, seed=0, polarity="random")
    assert mixed.name == "shapes_polarity"
    assert 0.3 < data.shape_polarity(mixed.images).float().mean() < 0.7  # about half light, half dark
    assert "shapes_polarity" in data.OFFLINE and data.available("shapes_polarity")


def test_shape_attributes_are_the_nuisances_the_images_were_drawn_with():
    from clkit import data

    images = data.make_shapes(200, seed=3, polarity="random").images
    attrs = data.shape_attributes(200, seed=3, polarity="random")
    assert set(attrs) == {"size", "rotation", "x", "y", "shape brightness", "background brightness"}
    assert all(v.shape == (200,) for v in attrs.values())
    # The polarity read off the pixels agrees with the two drawn colours.
    lighter = attrs["shape brightness"] > attrs["background brightness"]
    assert (data.shape_polarity(images) == lighter).float().mean() > 0.95
    # The corner pixel is background: its brightness follows the drawn background colour.
    corner = images[:, :, 0, 0].float() @ torch.tensor([0.299, 0.587, 0.114]) / 255
    assert torch.corrcoef(torch.stack([corner, attrs["background brightness"]]))[0, 1] > 0.9
    light = data.shape_attributes(200, seed=3)
    assert (light["shape brightness"] > light["background brightness"]).all()
    assert data.attributes("shapes", "test")["size"].shape == (len(data.load("shapes", "test")),)
    with pytest.raises(ValueError, match="only the procedural sets"):
        data.attributes("digits", "test")
