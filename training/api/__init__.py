"""The training app's REST API."""
