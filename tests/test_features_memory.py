"""Memory-mapped features are streamed, never copied: anonymous memory stays far below the file size.

A fresh Python process memory-maps a 128 MB float32 ``.npy`` and runs KM-OR
(standardised, the default), CC-OR and the standardisation moments on it while
a thread samples ``RssAnon`` (anonymous resident memory: what a copy of the
matrix would add; the file's own pages are file-backed and do not count). A
full copy would add at least the file's size; the bound is half of it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

N, D = 50_000, 640  # 128 MB of float32

SCRIPT = r"""
import json, sys, threading, time
import numpy as np, torch
torch.set_num_threads(1)
from torch.utils.data import TensorDataset
from proxydata import ClassOutlierProxy, KMeansOutlierProxy
from proxydata.features import column_moments

def rss_anon():
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no RssAnon")

path, n = sys.argv[1], int(sys.argv[2])
labels = torch.arange(n) % 10
ds = TensorDataset(torch.zeros(n, 1), labels)
peak = [0]
stop = threading.Event()
def sample():
    while not stop.is_set():
        peak[0] = max(peak[0], rss_anon())
        time.sleep(0.002)
out = {}
for name, run in [
    ("moments", lambda: column_moments(np.load(path, mmap_mode="r"))),
    ("km-or", lambda: KMeansOutlierProxy(ds, 0.5, n_clusters=8, n_iter=3, features=path, progress=False)),
    ("cc-or", lambda: ClassOutlierProxy(ds, 0.5, features=path, progress=False)),
]:
    run()  # warm-up: one-off allocations of numpy/BLAS/scipy are not the matrix
    before = rss_anon()
    peak[0] = before
    stop.clear()
    t = threading.Thread(target=sample)
    t.start()
    result = run()
    stop.set()
    t.join()
    out[name] = {"growth": max(peak[0], rss_anon()) - before}
print("RESULT " + json.dumps(out))
"""


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc (RssAnon)")
def test_memory_mapped_features_are_never_copied(tmp_path: Path) -> None:
    import numpy as np

    path = tmp_path / "features.npy"
    mm = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(N, D))
    rng = np.random.default_rng(0)
    for start in range(0, N, 10_000):
        mm[start : start + 10_000] = rng.standard_normal((10_000, D), dtype=np.float32) * 3 + 1
    mm.flush()
    del mm
    size = path.stat().st_size
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(path), str(N)],
        capture_output=True,
        text=True,
        timeout=600,
        env={"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT "))
    growth = json.loads(line[len("RESULT ") :])
    for name, g in growth.items():
        assert g["growth"] < 0.5 * size, f"{name}: anonymous memory grew by {g['growth'] / 2**20:.0f} MB"
