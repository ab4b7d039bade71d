"""Tests of cgfsim.envs."""
