"""skelkit plugin for PCM3.

"Prompted Contrast with Masked Motion Modeling: Towards Versatile 3D Action Representation
Learning" (ACM MM 2023). The plugin registers through the ``skelkit`` entry-point group like
any third-party plugin. Its components (GRU encoder, the pcm3 method, agcn recipe, weight
import, detection) are not implemented yet; until then it provides nothing.
"""

from __future__ import annotations

PAPER = {
    "title": (
        "Prompted Contrast with Masked Motion Modeling: Towards Versatile 3D Action "
        "Representation Learning"
    ),
    "venue": "ACM MM 2023",
}
