"""The demo data: reproducible, with the planted fairness gap and known anomalies."""

from training.demo import music_data


def test_same_seed_same_data():
    assert music_data.tracks().equals(music_data.tracks())
    first, positions = music_data.service_metrics()
    second, again = music_data.service_metrics()
    assert first.equals(second)
    assert positions == again


def test_hit_labels_treat_the_disadvantaged_region_unequally():
    frame = music_data.tracks()
    rate = frame.assign(hit=frame.is_hit == "hit").groupby("artist_region").hit.mean()
    others = rate.drop(music_data.DISADVANTAGED_REGION)
    # a real, measurable gap in selection rate (demographic parity difference > 0.15)
    assert others.min() - rate[music_data.DISADVANTAGED_REGION] > 0.15


def test_anomalies_sit_where_reported():
    frame, positions = music_data.service_metrics()
    assert frame.index[frame.is_anomaly == 1].tolist() == positions
    assert frame.loc[positions, "errors"].min() > frame.drop(positions).errors.max()


def test_listening_events_follow_user_taste():
    events = music_data.listening_events(music_data.tracks())
    top_share = events.groupby("user_id").genre.agg(
        lambda g: g.value_counts(normalize=True).iloc[0]
    )
    assert top_share.median() > 0.5
