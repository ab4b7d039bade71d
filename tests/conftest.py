"""Shared pytest configuration.

Hypothesis profiles: ``default`` keeps the property tests quick and free of
wall-clock deadlines (CI machines vary); ``thorough`` runs many more examples.
Select one with ``HYPOTHESIS_PROFILE=thorough pytest tests/sim``.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "default", deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True
)
settings.register_profile(
    "thorough",
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    max_examples=1000,
    print_blob=True,
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
