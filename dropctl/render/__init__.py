"""Renderers: typed results (inspect and check reports) -> text, JSON, SARIF, JUnit, annotations.

Only this package and ``dropctl.cli`` import Rich; nothing here computes a verdict.
"""
