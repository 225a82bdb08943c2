"""TF_CONFIG: a malformed value is one clear error, before TensorFlow reads it."""
import pytest

from tfrobust import distribute
from tfrobust.errors import ConfigError


@pytest.mark.parametrize("value,message", [
    ("{not json", "the TF_CONFIG environment variable is not JSON"),
    ("[1, 2]", "must be a JSON object with a 'cluster' object and a 'task' object"),
    ('{"cluster": [], "task": {}}', "must be a JSON object"),
])
def test_a_malformed_tf_config_is_named(monkeypatch, value, message):
    monkeypatch.setenv("TF_CONFIG", value)
    with pytest.raises(ConfigError, match=message):
        distribute.make_strategy("multi_worker")


def test_a_well_formed_tf_config_names_the_chief(monkeypatch):
    monkeypatch.setenv("TF_CONFIG", '{"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 1}}')
    assert distribute.tf_config()["task"]["index"] == 1
