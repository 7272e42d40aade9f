"""Tooling for the documentation site (docs/): not part of the refnet package."""
