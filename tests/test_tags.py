"""Short TensorBoard tags: one per spec, whatever the order of its settings, readable, and unique
within one evaluation."""
import pytest

from tfrobust.attacks.registry import from_spec
from tfrobust.tags import short_name, short_names


@pytest.mark.parametrize("spec, tag", [
    ("pgd:step_size=0.05,steps=10", "pgd10"),
    ("pgd", "pgd40"),
    ("pgd:eps=0.1,norm=l2,steps=20", "pgd20_eps0.1_norml2"),
    ("pgd:steps=10,keep_best=false", "pgd10_nokeep_best"),
    ("pgd:steps=10,targeted=true", "pgd10_targeted"),
    ("autoattack:eps=0.03", "autoattack100_eps0.03"),
    ("autoattack:eps=0.03,steps=10,queries=500", "autoattack10_eps0.03_queries500"),
    ("fgsm:eps=0.1", "fgsm_eps0.1"),
    ("natural", "natural"),
    ("my attack/v2", "my-attack-v2"),
])
def test_tags_are_short_and_readable(spec, tag):
    assert short_name(spec) == tag


def test_a_tag_depends_on_the_spec_not_on_how_it_was_written():
    a, b = "pgd:eps=0.1,step_size=0.02,steps=10,restarts=2", "pgd:restarts=2,steps=10,step_size=0.02,eps=0.1"
    assert short_name(a) == short_name(b) == short_name(a) == "pgd10_eps0.1_restarts2"
    # the spec an evaluation records is the attack's label: the same tag as the spec it came from
    assert short_name(from_spec(a).label) == short_name(a)
    assert short_name(from_spec("pgd:steps=40").label) == short_name("pgd") == "pgd40"


def test_entries_that_differ_only_in_step_size_keep_it():
    specs = ["natural", "pgd:step_size=0.05,steps=10", "pgd:step_size=0.02,steps=10", "fgsm:eps=0.1"]
    assert short_names(specs) == {"natural": "natural", "pgd:step_size=0.05,steps=10": "pgd10_step_size0.05",
                                  "pgd:step_size=0.02,steps=10": "pgd10_step_size0.02", "fgsm:eps=0.1": "fgsm_eps0.1"}
    assert short_names(specs[:2] + specs[3:]) == {"natural": "natural", "pgd:step_size=0.05,steps=10": "pgd10",
                                                  "fgsm:eps=0.1": "fgsm_eps0.1"}


def test_settings_at_their_defaults_do_not_change_the_tag():
    assert short_name("pgd:eps=0.3,steps=40,step_size=0.01") == short_name("pgd") == "pgd40"
    assert short_name("fgsm:eps=0.3") == short_name("fgsm") == "fgsm"


def test_names_that_sanitize_alike_or_are_empty_still_get_distinct_tags():
    assert short_names(["a b", "a/b", "natural", ""]) == {"a b": "a-b", "a/b": "a-b_2", "natural": "natural",
                                                        "": "unnamed"}
