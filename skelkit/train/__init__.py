"""The training engine: settings, schedules, optimizers, checkpoints, seeding, the loop.

Only :mod:`skelkit.train.settings` and :mod:`skelkit.train.distenv` are light (no torch);
the other modules import torch and are loaded by the commands that train.
"""

from __future__ import annotations
