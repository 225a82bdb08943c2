"""Loss-landscape slices (tfrobust.flatness.landscape) -> PNG: loss against alpha (1-D), contours (2-D)."""
from __future__ import annotations

from typing import Mapping, Sequence, Tuple, Union

import numpy as np

from .figures import pyplot, save_figure
from tfrobust.errors import ConfigError

Curve = Tuple[Sequence[float], Sequence[float]]


def plot_slice_1d(curves: Union[Curve, Mapping[str, Curve]], path: str, title: str = "",
                  xlabel: str = "alpha (step along the layer-normalised direction)", ylabel: str = "loss") -> None:
    """One line per curve: ``curves`` is ``(alphas, losses)`` as :func:`~tfrobust.flatness.loss_slice_1d`
    returns, or a mapping ``label -> (alphas, losses)`` (e.g. random and adversarial directions, clean
    and robust loss). The unperturbed point (alpha = 0) is marked. Writes a PNG at ``path``."""
    named = dict(curves) if isinstance(curves, Mapping) else {"": curves}
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    for label, (alphas, losses) in named.items():
        alphas, losses = _curve(alphas, losses, label)
        ax.plot(alphas, losses, marker="o", markersize=3, label=label or None)
    ax.axvline(0.0, color="grey", linewidth=0.8, linestyle=":")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    if any(named):
        ax.legend(fontsize=8, loc="best")
    ax.set_title(title)
    save_figure(fig, path)


def plot_slice_2d(alphas: Sequence[float], betas: Sequence[float], losses, path: str, title: str = "",
                  levels: int = 20, xlabel: str = "alpha (first direction)",
                  ylabel: str = "beta (second direction)") -> None:
    """Filled contours of ``losses[i, j]`` at ``(alphas[i], betas[j])`` (what
    :func:`~tfrobust.flatness.loss_slice_2d` returns), with the unperturbed point marked; PNG."""
    alphas, betas = np.asarray(alphas, float), np.asarray(betas, float)
    losses = np.asarray(losses, float)
    if losses.shape != (alphas.size, betas.size):
        raise ConfigError(f"losses has shape {losses.shape}; losses must have shape (len(alphas), len(betas)) = "
                          f"{(alphas.size, betas.size)}")
    if alphas.size < 2 or betas.size < 2:
        raise ConfigError("alphas and betas must each hold at least 2 values for a contour plot")
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    grid_b, grid_a = np.meshgrid(betas, alphas)
    filled = ax.contourf(grid_a, grid_b, losses, levels=levels, cmap="viridis")
    ax.contour(grid_a, grid_b, losses, levels=levels, colors="k", linewidths=0.3)
    fig.colorbar(filled, ax=ax, label="loss")
    ax.plot([0.0], [0.0], marker="x", color="red")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    save_figure(fig, path)


def _curve(alphas, losses, label):
    alphas, losses = np.asarray(alphas, float), np.asarray(losses, float)
    if alphas.ndim != 1 or alphas.shape != losses.shape:
        raise ConfigError(f"curve {label!r}: alphas {alphas.shape} and losses {losses.shape} must be 1-D and "
                          "of the same length")
    return alphas, losses
