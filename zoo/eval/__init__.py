"""Evaluation harness: sample-quality and likelihood estimates shared by every model of the zoo."""
