"""Weight perturbations in layer-wise relative L2 balls, and a context that applies them in place.

The perturbed variables (:func:`perturbable`) are every trainable variable of the model except
those of normalisation layers (batch, layer, group normalisation, ...): what Stutz et al. perturb
(their ``no_normalization`` filter drops batch-norm and whitening parameters by name; here the layer
type decides). A masked kernel (any :class:`~tfrobust.layers.compressible.Prunable`) counts only on
its mask's support: every perturbation is zero where the mask is 0, and ``||w_l||`` is the norm of
``w_l * m_l``.

Each variable tensor ``w_l`` (a kernel, a bias) has its own ball ``||nu_l|| <= xi * ||w_l||``, as in
the reference (``LayerWiseL2...``: one ball per parameter tensor, not per filter). A variable that
is zero on its support (a bias initialised to zero) therefore is not perturbed at all.

Perturbations are lists of tensors aligned with ``perturbable(model)``. Random draws are stateless:
the same ``seed`` (an int, or a [2] seed tensor) gives the same draw.

    entries = perturbable(model)
    nu = random_sphere(entries, xi=0.5, seed=3)     # ||nu_l|| == 0.5 ||w_l|| for every l
    with perturbed(model, nu, entries):
        ...                                         # the model computes with w + nu
    # here every variable holds its original value again, bit for bit
"""
from __future__ import annotations

import contextlib
import dataclasses
import math
from typing import Iterator, List, Optional, Sequence

import numpy as np
import tensorflow as tf
import tf_keras as keras

from tfrobust.errors import ConfigError
from tfrobust.layers.compressible import prunable_variables

SEED_MAX = 2 ** 63 - 1
_TINY = 1e-30  # guards divisions by a zero norm; a zero norm gives a zero result


# ---- argument checks (shared by the whole package) ------------------------------------------

def _fail(name: str, value, allowed: str) -> ConfigError:
    return ConfigError(f"{name}={value!r} is not allowed; {name} must be {allowed}")


def check_xi(xi, name: str = "xi") -> float:
    """``xi`` as a float: a finite number >= 0, else ConfigError naming ``name``."""
    if isinstance(xi, bool) or not isinstance(xi, (int, float, np.integer, np.floating)) \
            or not math.isfinite(float(xi)) or xi < 0:
        raise _fail(name, xi, "a finite number >= 0 (a radius relative to each layer's norm)")
    return float(xi)


def check_positive(value, name: str) -> float:
    """A finite number > 0, else ConfigError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not math.isfinite(float(value)) or value <= 0:
        raise _fail(name, value, "a finite number > 0")
    return float(value)


def check_count(value, name: str, minimum: int = 1) -> int:
    """An integer >= ``minimum`` (at most 2**31-1), else ConfigError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) \
            or not minimum <= value <= 2 ** 31 - 1:
        raise _fail(name, value, f"an integer >= {minimum}")
    return int(value)


def check_seed(seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed <= SEED_MAX:
        raise _fail("seed", seed, "an integer in 0..2**63-1")
    return int(seed)


def derive_seed(seed, *path: int) -> tf.Tensor:
    """A [2] int64 stateless seed: ``seed`` (an int or a [2] tensor) folded with each of ``path``."""
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
        out = tf.constant([check_seed(seed), 0], tf.int64)
    else:
        out = tf.cast(tf.convert_to_tensor(seed), tf.int64)
    for p in path:
        out = tf.random.experimental.stateless_fold_in(out, p)
    return out


# ---- what is perturbed -----------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Perturbable:
    """One perturbed variable; ``mask`` (0/1, the variable's shape) where it is a masked kernel."""

    name: str
    variable: tf.Variable
    mask: Optional[tf.Variable] = None

    def restrict(self, t: tf.Tensor) -> tf.Tensor:
        """``t`` set to zero off the mask's support (``t`` itself without a mask)."""
        if self.mask is None:
            return t
        return t * tf.cast(self.mask, t.dtype)

    def weight(self) -> tf.Tensor:
        """The variable's current value on its support."""
        return self.restrict(tf.convert_to_tensor(self.variable))

    def support_size(self) -> int:
        if self.mask is None:
            return int(np.prod(self.variable.shape))
        return int(np.count_nonzero(self.mask.numpy()))


def is_normalization(layer) -> bool:
    """A normalisation layer: one whose class, or a base class, is named ``...Normalization``
    (BatchNormalization, SyncBatchNormalization, LayerNormalization, GroupNormalization, a user's
    ``MyNormalization``), except the preprocessing ``Normalization`` (no trainable weights) and the
    ``SpectralNormalization`` wrapper (its kernel is the wrapped layer's real weight)."""
    skip = {"Normalization", "SpectralNormalization"}
    return any(c.__name__.endswith("Normalization") and c.__name__ not in skip
               for c in type(layer).__mro__)


def perturbable(model: keras.layers.Layer) -> List[Perturbable]:
    """The variables that flatness perturbs, in ``model.trainable_variables`` order: every
    trainable variable except those of normalisation layers (:func:`is_normalization`), each with
    its mask where it is a prunable (masked) variable. ConfigError if there are none."""
    excluded = set()
    for layer in model._flatten_layers(include_self=True, recursive=True):
        if is_normalization(layer):
            excluded.update(id(v) for v in layer.weights)
    masks = {id(p.variable): p.mask for p in prunable_variables(model)}
    out, seen, names = [], set(), set()
    for v in model.trainable_variables:
        if id(v) in excluded or id(v) in seen:
            continue
        seen.add(id(v))
        name = v.name
        while name in names:
            name = name + "'"
        names.add(name)
        out.append(Perturbable(name, v, masks.get(id(v))))
    if not out:
        raise ConfigError(f"model {model.name!r} has no trainable variables outside normalisation layers to perturb")
    return out


def _entries(model_or_entries) -> List[Perturbable]:
    if isinstance(model_or_entries, (list, tuple)):
        return list(model_or_entries)
    return perturbable(model_or_entries)


# ---- layer-wise norms and perturbations --------------------------------------------------------

def _norm(t: tf.Tensor) -> tf.Tensor:
    return tf.sqrt(tf.reduce_sum(tf.square(t)))


def layer_norms(entries) -> List[tf.Tensor]:
    """``||w_l||`` on each variable's support (float32 scalars); ``entries`` or a model."""
    return [_norm(e.weight()) for e in _entries(entries)]


def _unit_directions(entries: Sequence[Perturbable], seed) -> List[tf.Tensor]:
    """Per variable, a direction uniform on the unit sphere of its support (normal, normalised)."""
    out = []
    for i, e in enumerate(entries):
        g = tf.random.stateless_normal(e.variable.shape, derive_seed(seed, i), dtype=e.variable.dtype)
        g = e.restrict(g)
        out.append(g / tf.maximum(_norm(g), _TINY))
    return out


def random_sphere(entries, xi: float, seed) -> List[tf.Tensor]:
    """``nu_l`` uniform on the sphere ``||nu_l|| = xi ||w_l||`` of each variable's support (zero
    off the support); independent across variables. The average-case perturbation of Stutz et al.
    (``LayerWiseL2UniformSphereInitialization``)."""
    xi = check_xi(xi)
    entries = _entries(entries)
    norms = layer_norms(entries)
    return [u * (xi * n) for u, n in zip(_unit_directions(entries, seed), norms)]


def random_in_ball(entries, xi: float, seed) -> List[tf.Tensor]:
    """``nu_l`` in the ball ``||nu_l|| <= xi ||w_l||``: a uniform direction and a radius uniform in
    ``[0, xi ||w_l||]``, drawn independently per variable. This is the reference's
    ``LayerWiseL2UniformNormInitialization`` (uniform in norm, not uniform in volume), the start of
    the worst-case attack."""
    xi = check_xi(xi)
    entries = _entries(entries)
    norms = layer_norms(entries)
    dirs = _unit_directions(entries, seed)
    radii = tf.random.stateless_uniform([len(entries)], derive_seed(seed, len(entries)))
    return [u * (xi * n * radii[i]) for i, (u, n) in enumerate(zip(dirs, norms))]


def project_deltas(entries: Sequence[Perturbable], deltas, radii: Sequence[tf.Tensor]) -> List[tf.Tensor]:
    """Each ``nu_l`` restricted to the support and scaled into the ball ``||nu_l|| <= radii[l]``
    (tensor maths only: usable inside ``tf.function``)."""
    out = []
    for e, d, r in zip(entries, deltas, radii):
        d = e.restrict(tf.convert_to_tensor(d, e.variable.dtype))
        n = _norm(d)
        out.append(d * tf.minimum(1.0, r / tf.maximum(n, _TINY)))
    return out


def project(entries, deltas, xi: float) -> List[tf.Tensor]:
    """The projection of ``deltas`` onto the layer-wise relative balls ``||nu_l|| <= xi ||w_l||``
    (and onto the masks' support), ``||w_l||`` read from the current variables."""
    xi = check_xi(xi)
    entries = _entries(entries)
    check_deltas(entries, deltas)
    return project_deltas(entries, deltas, [xi * n for n in layer_norms(entries)])


def normalize_gradient_tensors(entries: Sequence[Perturbable], grads, norms) -> List[tf.Tensor]:
    """``g_l`` on the support, scaled to ``||g_l|| = norms[l]``; a zero gradient stays zero
    (tensor maths only: usable inside ``tf.function``)."""
    out = []
    for e, g, n in zip(entries, grads, norms):
        g = e.restrict(tf.convert_to_tensor(g, e.variable.dtype))
        out.append(g * (n / tf.maximum(_norm(g), _TINY)))
    return out


def normalize_gradient(entries, grads) -> List[tf.Tensor]:
    """Per variable, the gradient on the support scaled to the norm of the weight: ``g_l / ||g_l||
    * ||w_l||`` (the reference's ``LayerWiseRelativeL2Normalization``); zero gradients stay zero."""
    entries = _entries(entries)
    check_deltas(entries, grads, "grads")
    return normalize_gradient_tensors(entries, grads, layer_norms(entries))


def relative_norms(entries, deltas) -> np.ndarray:
    """``||nu_l|| / ||w_l||`` per variable (NaN where ``||w_l||`` is 0)."""
    entries = _entries(entries)
    check_deltas(entries, deltas)
    out = []
    for e, d, n in zip(entries, deltas, layer_norms(entries)):
        n = float(n)
        out.append(float(_norm(tf.convert_to_tensor(d, e.variable.dtype))) / n if n > 0 else float("nan"))
    return np.asarray(out)


def check_deltas(entries, deltas, name: str = "deltas") -> None:
    if not isinstance(deltas, (list, tuple)) or len(deltas) != len(entries):
        got = len(deltas) if isinstance(deltas, (list, tuple)) else type(deltas).__name__
        raise ConfigError(f"{name} has {got} entries; {name} must be a list of {len(entries)} tensors, "
                          "one per perturbable variable")
    for e, d in zip(entries, deltas):
        if tuple(np.shape(d)) != tuple(e.variable.shape):
            raise ConfigError(f"{name} for {e.name} has shape {tuple(np.shape(d))}; {name} must match the "
                              f"variable's shape {tuple(e.variable.shape)}")


@contextlib.contextmanager
def perturbed(model, deltas, entries: Optional[Sequence[Perturbable]] = None) -> Iterator[List[Perturbable]]:
    """Adds ``deltas`` (restricted to the masks' support) to the perturbable variables of ``model``
    in place, yields the entries, and on exit, also on an exception, assigns every variable its
    original value again, bit for bit (copies taken on entry). Code inside may assign the variables
    freely (the worst-case attack does); the exit restores them all the same."""
    entries = perturbable(model) if entries is None else list(entries)
    check_deltas(entries, deltas)
    originals = [np.array(e.variable.numpy(), copy=True) for e in entries]
    try:
        for e, d in zip(entries, deltas):
            e.variable.assign_add(e.restrict(tf.convert_to_tensor(d, e.variable.dtype)))
        yield entries
    finally:
        for e, original in zip(entries, originals):
            e.variable.assign(original)
