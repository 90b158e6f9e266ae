"""Peak memory of a stretch of work: on a GPU, the allocator's peak; on a Linux CPU, the process's peak resident set.

The GPU figure counts the tensors PyTorch allocated (``torch.cuda.max_memory_allocated``), reset when
the stretch begins. On a CPU, PyTorch's allocations do not pass through Python's tracemalloc, so the
measure is the operating system's: Linux keeps a process's peak resident set (``VmHWM`` in
``/proc/self/status``) and resets it to the current size when ``5`` is written to
``/proc/self/clear_refs``. Before the start is read, the C allocator hands its free pages back
(glibc's ``malloc_trim``): otherwise a block can be served from memory an earlier, freed one left resident,
and its allocation would not show in the resident set at all. The peak above the size at the start is what the work added: activations,
gradients, optimiser state, views (the data already loaded is not counted). Elsewhere the CPU figure
is unavailable (None).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from pathlib import Path

import torch

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


@functools.cache
def _malloc_trim():
    """glibc's ``malloc_trim``, looked up once (finding the C library runs ``ldconfig``); None elsewhere."""
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):
        return None


def _release_free_heap() -> None:
    """Return the C heap's free pages to the operating system (glibc's ``malloc_trim(0)``); elsewhere, nothing."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


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
