"""Writes of the training app: jobs (submit, cancel, retry, state), their execution on a
worker, resource accounting and the watchdog. One module per topic."""
