"""Robust flatness (Stutz et al., ICCV 2021): weight perturbations in layer-wise relative balls,
average- and worst-case (robust) flatness, Hessian-vector products and extreme eigenvalues, and
loss-landscape slices. Each module's docstring says where it departs from the reference code."""
from tfrobust.flatness.hessian import Eigenvalues, HessianOperator, extreme_eigenvalues, hessian_vector_product
from tfrobust.flatness.landscape import adversarial_direction, loss_slice_1d, loss_slice_2d, random_direction
from tfrobust.flatness.losses import batches, clean_loss, robust_loss
from tfrobust.flatness.measures import Flatness, average_flatness, worst_case_perturbation, worst_flatness
from tfrobust.flatness.perturbation import (Perturbable, layer_norms, normalize_gradient, perturbable, perturbed,
                                            project, random_in_ball, random_sphere, relative_norms)

__all__ = [
    "Eigenvalues", "Flatness", "HessianOperator", "Perturbable", "adversarial_direction", "average_flatness",
    "batches", "clean_loss", "extreme_eigenvalues", "hessian_vector_product", "layer_norms", "loss_slice_1d",
    "loss_slice_2d", "normalize_gradient", "perturbable", "perturbed", "project", "random_direction",
    "random_in_ball", "random_sphere", "relative_norms", "robust_loss", "worst_case_perturbation",
    "worst_flatness",
]
