"""Connectors: one package per outside system, plus the shared HTTP layer and the simulator."""
