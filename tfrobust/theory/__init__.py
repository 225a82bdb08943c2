"""Cross-generalization gap between adversarially robust and standard linear models.

Chen, Min, Zhang, Karbasi, "More Data Can Expand the Generalization Gap Between Adversarially
Robust and Standard Models" (ICML 2020). Modules:

* ``config``: ``GapConfig`` (every option, validated; no TensorFlow), the paper's grids, regimes.
* ``distributions``: Gaussian / Bernoulli classification, Gaussian / Poisson regression data,
  samplers and population natural losses.
* ``classification``: the robust ERM as a thresholded sign rule (derivation in its docstring),
  exact expected test losses.
* ``regression``: robust ERM solvers (exact piecewise-quadratic in d = 1, smoothed Newton in any d).
* ``montecarlo``: test-loss curves vectorised over repetitions, n and eps, with standard errors.
* ``shapes``: increasing vs increase-then-decrease, and the peak, of a gap curve.
* ``gengap``: ``run(config)``; ``results``: CSV/JSON tables, written atomically.

Importing this package loads no TensorFlow; the submodules that compute do.
"""
