"""Tests of the cloud families."""
