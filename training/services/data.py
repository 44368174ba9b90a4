"""A dataset version as a DataFrame, for a job: decrypted into a private temporary folder
(mode 0700), read, and deleted before the training starts."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pandas as pd

from registry.artifact_store import artifact_to_file
from registry.models import DatasetVersion


def dataset_frame(version: DatasetVersion) -> pd.DataFrame:
    """The version's rows (CSV or Parquet); the plaintext file never outlives this call."""
    with tempfile.TemporaryDirectory(prefix="mlgov-train-") as folder:
        path: Path = artifact_to_file(version.artifact, Path(folder))
        if version.file_format == DatasetVersion.FileFormat.PARQUET:
            return pd.read_parquet(path)
        return pd.read_csv(path)
