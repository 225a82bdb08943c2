"""Cross-generalization gap between adversarially robust and standard linear models.

Chen, Min, Zhang, Karbasi, "More Data Can Expand the Generalization Gap Between Adversarially
Robust and Standard Models" (ICML 2020). Modules:

* ``settings``: the registry ``SETTINGS`` (gaussian, bernoulli, gaussian_regression,
  poisson_regression): per setting its options, the paper's grids, its data models, its regimes.
* ``config``: ``GapConfig`` (every option with its help text, validated; no TensorFlow).
* ``distributions``: the data models (Gaussian / Bernoulli classification, Gaussian / Poisson
  regression): samplers, population natural losses, exact expected losses, Monte Carlo kernels.
* ``classification``: the robust ERM as a thresholded sign rule (derivation in its docstring),
  exact expected test losses, the classification models' kernel (``ClassificationModel``).
* ``regression``: robust ERM solvers (exact piecewise-quadratic in d = 1, smoothed Newton in any d),
  the regression models' kernel (``RegressionModel``).
* ``montecarlo``: seeds, chunks and merges a data model's kernel into test-loss curves with
  standard errors.
* ``shapes``: increasing vs increase-then-decrease, and the peak, of a gap curve.
* ``gengap``: ``run(config)``; ``results``: CSV/JSON tables, written atomically.
* ``dtype``: ``DTYPE`` (float64), shared by the modules that compute.

Importing this package loads no TensorFlow; the submodules that compute do.
"""
