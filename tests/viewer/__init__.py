"""Tests of cgfsim.viewer: the HTML after-action review page, in a real Chromium."""
