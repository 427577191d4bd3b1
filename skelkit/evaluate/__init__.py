"""Evaluation protocols: turn a pretrained checkpoint into the numbers papers report.

Protocols are components (kind ``protocols``): ``linear``, ``finetune``, ``semi``, ``knn``
and ``transfer`` are registered by :mod:`skelkit.evaluate.components`; ``skelkit evaluate``
runs them through :func:`skelkit.evaluate.run.evaluate` and writes a report
(:mod:`skelkit.evaluate.report`).
"""
