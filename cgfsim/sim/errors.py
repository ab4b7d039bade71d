"""Errors raised for bad user input (scenario files, configs, actions)."""

from __future__ import annotations


class CgfsimError(Exception):
    """Base class of every error that reports bad user input in one line."""


class ScenarioError(CgfsimError, ValueError):
    """A scenario file or scenario dictionary is invalid.

    The message always names the source (file or ``<dict>``), the field and
    what was expected, so the CLI can print it as is and exit non-zero.
    """
