"""Music-streaming demo data in the spirit of the product's origin.

- tracks: audio features, a genre and a mood label, and an `artist_region` that the
  labelling process treats unequally (tracks from the "global-south" region are
  labelled "hit" less often at the same audio quality), so the fairness gap is real
  and measurable, and planted on purpose;
- listening events: users x tracks implicit feedback with per-user taste;
- service metrics: an hourly series with daily and weekly seasonality and injected
  anomalies at known positions.
Same seed, same bytes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

SEED = 20261126
GENRES = ("pop", "rock", "jazz", "electronic", "hiphop", "classical")
REGIONS = ("north-america", "europe", "global-south")
# The planted bias: the hit label is harder to get for this region.
DISADVANTAGED_REGION = "global-south"
REGION_PENALTY = 0.45


def tracks(n: int = 3000, seed: int = SEED) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    genre = rng.choice(GENRES, n, p=[0.25, 0.2, 0.1, 0.2, 0.15, 0.1])
    region = rng.choice(REGIONS, n, p=[0.4, 0.35, 0.25])
    base = {
        "pop": (0.70, 0.70, 0.60, 118),
        "rock": (0.50, 0.80, 0.45, 125),
        "jazz": (0.55, 0.40, 0.55, 100),
        "electronic": (0.75, 0.85, 0.50, 126),
        "hiphop": (0.80, 0.65, 0.50, 95),
        "classical": (0.25, 0.20, 0.35, 90),
    }
    dance = np.array([base[g][0] for g in genre]) + rng.normal(0, 0.12, n)
    energy = np.array([base[g][1] for g in genre]) + rng.normal(0, 0.12, n)
    valence = np.array([base[g][2] for g in genre]) + rng.normal(0, 0.15, n)
    tempo = np.array([base[g][3] for g in genre]) + rng.normal(0, 12, n)
    frame = pd.DataFrame(
        {
            "track_id": [f"trk-{i:05d}" for i in range(n)],
            "danceability": np.clip(dance, 0, 1).round(4),
            "energy": np.clip(energy, 0, 1).round(4),
            "valence": np.clip(valence, 0, 1).round(4),
            "tempo": tempo.round(2),
            "loudness": (-14 + 10 * energy + rng.normal(0, 1.5, n)).round(2),
            "acousticness": np.clip(1 - energy + rng.normal(0, 0.1, n), 0, 1).round(4),
            "instrumentalness": np.clip(
                np.where(np.isin(genre, ["classical", "jazz", "electronic"]), 0.6, 0.1)
                + rng.normal(0, 0.1, n),
                0,
                1,
            ).round(4),
            "speechiness": np.clip(
                np.where(genre == "hiphop", 0.3, 0.05) + rng.normal(0, 0.03, n), 0, 1
            ).round(4),
            "duration_ms": rng.normal(210_000, 40_000, n).clip(60_000, 600_000).astype(int),
            "genre": genre,
            "artist_region": region,
        }
    )
    mood = np.where(
        frame.valence > 0.6,
        "happy",
        np.where(frame.energy > 0.6, "energetic", np.where(frame.valence < 0.35, "sad", "calm")),
    )
    frame["mood"] = mood
    quality = 2.2 * frame.danceability + 1.5 * frame.energy + 1.0 * frame.valence
    quality += rng.normal(0, 0.35, n)
    quality -= np.where(frame.artist_region == DISADVANTAGED_REGION, REGION_PENALTY, 0.0)
    frame["is_hit"] = np.where(quality > np.quantile(quality, 0.6), "hit", "no-hit")
    return frame


def listening_events(
    track_frame: pd.DataFrame, users: int = 400, per_user: int = 25, seed: int = SEED + 1
) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    by_genre = {g: group.track_id.to_numpy() for g, group in track_frame.groupby("genre")}
    rows = []
    for user in range(users):
        favourite, second = rng.choice(GENRES, 2, replace=False)
        for _ in range(per_user):
            pick = (
                favourite
                if rng.random() < 0.7
                else second
                if rng.random() < 0.7
                else rng.choice(GENRES)
            )
            rows.append((f"user-{user:04d}", rng.choice(by_genre[pick])))
    events = pd.DataFrame(rows, columns=["user_id", "track_id"]).drop_duplicates()
    return events.merge(
        track_frame[["track_id", "genre", "energy", "danceability"]], on="track_id", how="left"
    ).reset_index(drop=True)


def service_metrics(
    hours: int = 24 * 60, anomalies: int = 12, seed: int = SEED + 2
) -> tuple[pd.DataFrame, list[int]]:
    """Hourly streams-per-second with seasonality; returns the frame and the anomaly rows."""
    rng = np.random.default_rng(seed)
    times = pd.date_range("2026-09-01", periods=hours, freq="h")
    hour = times.hour.to_numpy()
    weekday = times.dayofweek.to_numpy()
    streams = 1000 + 400 * np.sin(2 * np.pi * (hour - 6) / 24) + np.where(weekday >= 5, 150, 0)
    streams = streams + rng.normal(0, 25, hours)
    latency = 80 + 0.02 * streams + rng.normal(0, 3, hours)
    errors = rng.poisson(2, hours).astype(float)
    positions = sorted(rng.choice(np.arange(48, hours - 1), anomalies, replace=False).tolist())
    for position in positions:
        streams[position] *= rng.choice([0.3, 1.9])
        latency[position] *= 2.5
        errors[position] += 40
    frame = pd.DataFrame(
        {"ts": times, "streams": streams.round(2), "latency_ms": latency.round(2), "errors": errors}
    )
    frame["is_anomaly"] = 0
    frame.loc[positions, "is_anomaly"] = 1
    return frame, positions
