"""Speed and scale measurements; each prints ratios measured in one run."""
