"""`/api/3.0/mlflow/server-info`: what the client asks before artifact transfers and
workspace use. mlgov's tenants are its isolation (one schema each), not MLflow workspaces,
and its artifact proxy streams whole files (no multipart, no presigned URLs)."""

from __future__ import annotations


def server_info(request):
    return {
        "store_type": "SqlStore",
        "workspaces_enabled": False,
        "trace_archival_enabled": False,
        "multipart_uploads_enabled": False,
        "multipart_downloads_enabled": False,
        "presigned_upload_run_id_supported": False,
        "presigned_upload_model_id_supported": False,
        "features_enabled": {"gateway": False},
    }


ROUTES = [("GET", "3.0", "server-info", server_info, None)]
