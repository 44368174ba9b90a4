"""Reads of the training app, restricted to what the acting user may see."""
