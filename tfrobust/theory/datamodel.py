"""What every data model of the gap experiments provides (classification and regression families).

A data model owns its sampler, its natural test loss, its exact expected loss where it has a
closed form, and its Monte Carlo kernel; the driver calls only these.
"""
from __future__ import annotations

import abc


class DataModel(abc.ABC):
    kind = "data model"

    def expected_loss(self, n, eps):
        """Exact expected natural test loss of the eps-robust ERM, [E, N]; None without a closed form."""
        return None

    def standard_loss_infinite(self, n: int) -> bool:
        """Whether the standard model on ``n`` samples has an infinite expected test loss."""
        return False

    @abc.abstractmethod
    def chunk_cost(self, n_max: int, n_sizes: int, n_eps: int, solver: str) -> int:
        """Float64 numbers in one repetition's largest intermediate tensor of the kernel."""

    @abc.abstractmethod
    def monte_carlo_losses(self, seed, reps, n_max: int, n, eps, solver: str = "auto"):
        """Natural test losses of the standard and each eps-robust ERM: ``[R, N]``, ``[E, R, N]``."""
