"""Memory on a CPU and a GPU: the peak of a stretch of work, and a CPU training step's freed memory kept for the next.

:class:`PeakMemory`: on a GPU, the allocator's peak; on a Linux CPU, the process's peak resident set.

The GPU figure counts the tensors PyTorch allocated (``torch.cuda.max_memory_allocated``), reset when
the stretch begins. On a CPU, PyTorch's allocations do not pass through Python's tracemalloc, so the
measure is the operating system's: Linux keeps a process's peak resident set (``VmHWM`` in
``/proc/self/status``) and resets it to the current size when ``5`` is written to
``/proc/self/clear_refs``. Before the start is read, the C allocator hands its free pages back
(glibc's ``malloc_trim``): otherwise a block can be served from memory an earlier, freed one left resident,
and its allocation would not show in the resident set at all. The peak above the size at the start is what the work added: activations,
gradients, optimiser state, views (the data already loaded is not counted). Elsewhere the CPU figure
is unavailable (None).

:func:`reuse_freed_memory`: glibc's ``malloc`` serves a block above its mmap threshold (at most 32 MiB) with
pages fresh from the operating system and hands them back when the block is freed. A CPU training step allocates
and frees its largest activations and gradients every step, so each step would pay a page fault (the kernel
zeroing a 4 KiB page) for every page of them: on two cores the width-16 CNN's laptop run took 100 s with them,
64 s without (``bench/bench_train.py``).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
from collections.abc import Iterator
from pathlib import Path

import torch

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


@functools.cache
def _glibc():
    """The C library when it is glibc (``mallopt``, ``malloc_trim``), looked up once (finding it runs ``ldconfig``);
    None elsewhere (macOS, Windows, musl)."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        return libc if libc is not None and libc.gnu_get_libc_version and libc.mallopt and libc.malloc_trim else None
    except (OSError, AttributeError):
        return None


# mallopt's parameters (malloc.h) and the values put back: glibc's default number of mapped blocks, and the
# thresholds its own adjustment reaches once blocks of 32 MiB have been freed (as any training step's are).
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD, _M_MMAP_MAX = -1, -3, -4
_RESTORE = ((_M_MMAP_MAX, 65536), (_M_MMAP_THRESHOLD, 32 << 20), (_M_TRIM_THRESHOLD, 64 << 20))
_reusing = 0  # how many reuse_freed_memory blocks are open


@contextlib.contextmanager
def reuse_freed_memory() -> Iterator[bool]:
    """Within the block, the C heap keeps what is freed for the next allocation (glibc); afterwards it gives it back.

    Every allocation is served from the heap (none mapped apart), and freed memory stays there rather than going
    back to the operating system, so a training loop's second and later steps reuse the first step's pages without
    a page fault. At the end, glibc's settings are put back and the free pages returned (``malloc_trim``); blocks
    may nest. Yields whether it took effect: False without glibc (macOS, Windows, musl), where it does nothing.
    """
    global _reusing
    libc = _glibc()
    if libc is None:
        yield False
        return
    if _reusing == 0:
        libc.mallopt(_M_MMAP_MAX, 0)
        libc.mallopt(_M_TRIM_THRESHOLD, 2**31 - 1)  # mallopt takes a C int: the largest, 2 GiB
    _reusing += 1
    try:
        yield True
    finally:
        _reusing -= 1
        if _reusing == 0:
            for parameter, value in _RESTORE:
                libc.mallopt(parameter, value)
            _release_free_heap()


def _release_free_heap() -> None:
    """Return the C heap's free pages to the operating system (glibc's ``malloc_trim(0)``); elsewhere, nothing."""
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)


def _status_kib(field: str) -> int | None:
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])  # "VmHWM:   123456 kB"
    except OSError:
        pass
    return None


class PeakMemory:
    """Measure the peak memory of a ``with`` block on ``device``, in MiB, above its level at the start.

    >>> with PeakMemory("cpu") as peak:
    ...     x = torch.ones(64, 1024, 1024)  # 256 MiB
    >>> peak.mib is None or peak.mib > 200
    True

    Attributes:
        mib: the peak added during the block (None where it cannot be measured, e.g. a CPU outside Linux).
        kind: what was measured, ``"cuda allocated"`` or ``"cpu resident"``.
    """

    def __init__(self, device: str | torch.device = "cpu"):
        self.device = torch.device(device)
        self.kind = "cuda allocated" if self.device.type == "cuda" else "cpu resident"
        self.mib: float | None = None
        self._start: int | None = None

    def __enter__(self) -> PeakMemory:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self._start = torch.cuda.memory_allocated(self.device)
        elif self.device.type == "cpu":
            _release_free_heap()
            try:
                _CLEAR_REFS.write_text("5")  # the peak resident set starts again from the current one
                self._start = _status_kib("VmRSS")
            except OSError:
                self._start = None
        return self

    def __exit__(self, *exc: object) -> None:
        if self._start is None:
            return
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self.mib = (torch.cuda.max_memory_allocated(self.device) - self._start) / 2**20
        else:
            peak = _status_kib("VmHWM")
            self.mib = None if peak is None else max(0, peak - self._start) / 1024
