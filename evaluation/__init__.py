"""Evaluation: truth labels, matching predicted alert intervals to them, and the report (table, JSON, plot)."""
