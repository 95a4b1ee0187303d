"""Test-wide settings, and the installed `ablate` script that subprocess tests run (import it as `conftest`)."""

import shutil
import sys
from pathlib import Path

import torch

_BIN = Path(sys.executable).parent / "ablate"
ABLATE = str(_BIN) if _BIN.exists() else shutil.which("ablate")

# The test budget's networks are tiny: one thread is faster than two, and it keeps the suite steady on a busy
# 2-core machine (torch's thread pool oversubscribes badly when other processes compete for the cores).
torch.set_num_threads(1)
