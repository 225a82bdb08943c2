"""Pruning: magnitude pruning of masks, lottery-ticket resets, and tensorflow-model-optimization interop."""
from tfrobust.pruning.config import ORIG_SOURCES, RESETS, LotteryConfig
from tfrobust.pruning.lottery import LotterySearch, fresh_seed, round_record, run_lottery
from tfrobust.pruning.magnitude import layer_rates, prune_array, prune_masks

__all__ = ["ORIG_SOURCES", "RESETS", "LotteryConfig", "LotterySearch", "fresh_seed", "layer_rates",
           "prune_array", "prune_masks", "round_record", "run_lottery"]
