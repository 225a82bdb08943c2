"""The one float type of the theory code (float64: exact and Monte Carlo curves agree to ~1e-12).

A module of its own so that the data models, the estimators and the Monte Carlo can all share it
without importing one another.
"""
import tensorflow as tf

DTYPE = tf.float64
