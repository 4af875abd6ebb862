"""Tests of the GCP family."""
