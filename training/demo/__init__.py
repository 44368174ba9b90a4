"""The demo tenant's data, generated from a fixed seed (nothing is downloaded)."""
