"""Test beds of sitoken: real middleware started privately for tests and QA (not shipped)."""
