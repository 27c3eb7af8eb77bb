"""A WorkloadPlacement may be named with up to 253 characters; the label its bindings carry holds at most 63."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from tmc.api import placement_label
from tmc.api._base import DNS_SUBDOMAIN_MAX, DNS_SUBDOMAIN_PATTERN, LABEL_VALUE_MAX, LABEL_VALUE_PATTERN
from tmc.api.constants import PLACEMENT_LABEL
from tmc.controllers.workloadplacement.bindings import DesiredBinding, claimed_elsewhere, placement_of

_LABELS = st.from_regex(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?", fullmatch=True)
NAMES = _LABELS.filter(lambda n: len(n) <= DNS_SUBDOMAIN_MAX and re.fullmatch(DNS_SUBDOMAIN_PATTERN, n) is not None)


def _binding(placement: str) -> dict[str, object]:
    workload = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "default"}}
    item = DesiredBinding(workload, (("a", 1),), None)
    return {
        "metadata": {"name": item.name, "labels": {PLACEMENT_LABEL: placement_label(placement)}},
        "spec": item.spec(placement),
    }


@given(NAMES)
def test_every_valid_placement_name_gives_a_valid_label_value_that_leads_back_to_it(name: str) -> None:
    label = placement_label(name)
    assert len(label) <= LABEL_VALUE_MAX
    assert re.fullmatch(LABEL_VALUE_PATTERN, label)
    assert label == name or len(name) > LABEL_VALUE_MAX
    binding = _binding(name)
    assert placement_of(binding) == name
    assert claimed_elsewhere(binding, name) is None


@given(NAMES, NAMES)
def test_two_placements_never_share_a_label_or_each_others_bindings(first: str, second: str) -> None:
    if first == second:
        return
    assert placement_label(first) != placement_label(second)
    assert claimed_elsewhere(_binding(first), second) == first


def test_a_long_name_keeps_its_readable_start() -> None:
    name = "spread-" + "x" * 246
    assert placement_label(name).startswith("spread-xxx")
    assert len(placement_label(name)) == LABEL_VALUE_MAX
