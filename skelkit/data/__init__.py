"""Data: raw readers (NTU, PKU-MMD), dataset definitions, preprocessing recipes, the HDF5 store.

Module map:

* :mod:`skelkit.data.ntu_format` and :mod:`skelkit.data.pku_format` read and write the raw
  files exactly;
* :mod:`skelkit.data.datasets` describes each dataset (raw layout, classes, official splits);
* :mod:`skelkit.data.recipes` turns parsed raw records into stored sequences.
"""

from __future__ import annotations
