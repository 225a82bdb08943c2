"""Matplotlib without a display, and figures written atomically."""
from __future__ import annotations

import os


def pyplot():
    """``matplotlib.pyplot`` on the non-interactive Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: str, dpi: int = 120, **kwargs) -> None:
    """Lays out ``fig``, writes it to ``path`` through a temporary file and a rename, and closes it."""
    fig.tight_layout()
    tmp = path + ".tmp" + os.path.splitext(path)[1]
    fig.savefig(tmp, dpi=dpi, **kwargs)
    pyplot().close(fig)
    os.replace(tmp, path)
