"""Compression beyond masks: quantization (k-means with a fixed zero, uniform per channel),
factorization (W = B(A + I) + C), ATMC (Gui et al., seed 002), size accounting and TFLite export."""
