"""Tests of cgfsim.agents.export_onnx and the export CLI."""
