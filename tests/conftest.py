"""Test-wide settings."""

import torch

# The test budget's networks are tiny: one thread is faster than two, and it keeps the suite steady on a busy
# 2-core machine (torch's thread pool oversubscribes badly when other processes compete for the cores).
torch.set_num_threads(1)
