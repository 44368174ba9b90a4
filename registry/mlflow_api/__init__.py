"""The MLflow-compatible tracking and registry API under /t/<slug>/mlflow/ (issue 7).

The stock mlflow client, pointed at `http://<host>/t/<slug>/mlflow` with a token, logs,
registers and loads models in that tenant. Every endpoint maps onto mlgov's own models and
services (one source of truth): permissions, audit events, quotas and governance gates
apply exactly as through the REST API. urls.py lists the routes; one module per topic.
"""
