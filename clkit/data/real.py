"""The real datasets, read through torchvision: ``cifar10``, ``stl10``, ``fashion_mnist``.

They live under ``root`` in torchvision's own layout and are downloaded only when asked
(``download=True``); when they are missing, :class:`DatasetNotFoundError` says where they
were looked for, how to get them, and which datasets work offline.
"""

from __future__ import annotations

import gzip
import os
import shutil
from urllib.error import URLError

import torch

from clkit.data.records import ImageSet

__all__ = ["STL10_CLASSES", "DatasetNotFoundError"]


class DatasetNotFoundError(FileNotFoundError):
    """A dataset's files are not under ``root`` (or failed their checks) and were not downloaded."""


# Facts used to find the files and to tell a person how to get them.
_REAL = {
    "cifar10": {"torchvision": "CIFAR10", "folder": "cifar-10-batches-py", "size": "about 170 MB"},
    "stl10": {
        "torchvision": "STL10",
        "folder": "stl10_binary",
        "size": "about 2.6 GB, most of it unlabelled images",
    },
    "fashion_mnist": {"torchvision": "FashionMNIST", "folder": "FashionMNIST/raw", "size": "about 30 MB"},
}
STL10_CLASSES = ["airplane", "bird", "car", "cat", "deer", "dog", "horse", "monkey", "ship", "truck"]


def _expected_files(name: str) -> list[str]:
    """File names torchvision needs for ``name``, relative to its folder (read from torchvision's class)."""
    import torchvision.datasets as tvd

    cls = getattr(tvd, _REAL[name]["torchvision"])
    if name == "cifar10":
        return [f for f, _ in cls.train_list + cls.test_list] + [cls.meta["filename"]]
    if name == "stl10":
        return [f for f, _ in cls.train_list + cls.test_list]
    # FashionMNIST: the unpacked idx files (torchvision also accepts the .gz files, which it unpacks).
    return [f.removesuffix(".gz") for f, _ in cls.resources]


def _files_present(name: str, root: str) -> bool:
    folder = os.path.join(root, _REAL[name]["folder"])
    for f in _expected_files(name):
        path = os.path.join(folder, f)
        if not (os.path.isfile(path) or (name == "fashion_mnist" and os.path.isfile(path + ".gz"))):
            return False
    return True


def _unpack_gz(folder: str, files: list[str]) -> None:
    """Unpack ``f.gz`` to ``f`` where only the archive is there (torchvision reads unpacked idx files)."""
    for f in files:
        path = os.path.join(folder, f)
        if not os.path.isfile(path) and os.path.isfile(path + ".gz"):
            with gzip.open(path + ".gz", "rb") as src, open(path, "wb") as dst:
                shutil.copyfileobj(src, dst)


def _not_found_message(name: str, split: str, root: str, download: bool, cause: BaseException | None) -> str:
    from clkit.data import OFFLINE, default_root  # the registry imports this module, so look it up late

    info = _REAL[name]
    folder = os.path.join(os.path.abspath(root), info["folder"])
    present = _files_present(name, root)
    if download:
        what = f"could not be downloaded into {os.path.abspath(root)} ({type(cause).__name__}: {cause})"
    elif present:
        what = (
            f"is in {folder} but torchvision refused the files ({type(cause).__name__}: {cause}); "
            "they may be incomplete or corrupted"
        )
    else:
        what = f"is not in {folder} (looked for {', '.join(_expected_files(name))})"
    offline = ", ".join(f'"{n}"' for n in OFFLINE)
    where = "" if root == default_root() else f', root="{root}"'
    call = f'clkit.data.load("{name}"{where}, download=True)'
    return (
        f'Dataset "{name}" ({split} split) {what}.\n'
        f"To get it: run {call} on a machine with internet "
        f"access ({info['size']}), or copy the files in torchvision's layout into {folder}.\n"
        f"Datasets that work offline now: {offline}."
    )


def _torchvision(name: str, split: str, root: str, download: bool) -> ImageSet:
    import torchvision.datasets as tvd

    train = split == "train"
    try:
        if name == "fashion_mnist":
            raw = os.path.join(root, _REAL[name]["folder"])
            _unpack_gz(raw, _expected_files(name))
        if name == "cifar10":
            ds = tvd.CIFAR10(root, train=train, download=download)
            images = torch.from_numpy(ds.data).permute(0, 3, 1, 2).contiguous()  # NHWC → NCHW
            labels = torch.as_tensor(ds.targets, dtype=torch.int64)
            classes = list(ds.classes)
        elif name == "stl10":
            ds = tvd.STL10(root, split=split, download=download)
            images = torch.from_numpy(ds.data).contiguous()  # already NCHW
            labels = torch.from_numpy(ds.labels.astype("int64"))
            classes = list(getattr(ds, "classes", STL10_CLASSES))
        else:
            ds = tvd.FashionMNIST(root, train=train, download=download)
            images = ds.data.unsqueeze(1).contiguous()  # N×28×28 → N×1×28×28
            labels = ds.targets.to(torch.int64)
            classes = list(ds.classes)
    except (URLError, OSError, RuntimeError) as e:
        raise DatasetNotFoundError(_not_found_message(name, split, root, download, e)) from e
    return ImageSet(images, labels, classes, name)

