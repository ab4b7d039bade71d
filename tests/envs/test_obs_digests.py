"""Every observation, mask, reward and info is bit-identical to the code before the speed work.

The stored digests (``data/obs_digests.json``) were made by :mod:`tests.envs.obs_digests` on the
builders as they were before they were made fast; see that module for what is hashed.
"""

from __future__ import annotations

import json

import pytest

from tests.envs.obs_digests import DATA, case_digest, case_id, cases

STORED: dict[str, str] = json.loads(DATA.read_text())


def test_every_case_is_stored() -> None:
    assert sorted(STORED) == sorted(case_id(c) for c in cases())


@pytest.mark.parametrize("case", cases(), ids=case_id)
def test_outputs_bit_identical(case: tuple[str, str, str, int]) -> None:
    assert case_digest(*case) == STORED[case_id(case)]
