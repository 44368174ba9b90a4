from training.recipes import run_recipe
from training.spec import parse_spec


def _spec(frame, **overrides):
    raw = {
        "target": "label",
        "sensitive_attributes": ["region"],
        "trials": 4,
        "folds": 3,
        "seed": 3,
        **overrides,
    }
    return parse_spec(raw, columns=list(frame.columns), needs_target=True)


def test_well_above_chance_and_logs_every_trial(classification_frame):
    seen = []
    result = run_recipe(
        "classification", classification_frame, _spec(classification_frame), seen.append
    )
    assert result.metrics["roc_auc"] > 0.9
    assert result.metrics["f1"] > 0.8
    assert len(seen) == 4
    assert [t.number for t in seen] == [0, 1, 2, 3]
    assert "region" not in result.feature_columns  # sensitive: never a feature by default
    assert result.signature["inputs"][0]["name"] == "energy"
    assert result.reference_profile["features"]["energy"]["kind"] == "numeric"


def test_same_seed_same_metrics(classification_frame):
    first = run_recipe("classification", classification_frame, _spec(classification_frame))
    second = run_recipe("classification", classification_frame, _spec(classification_frame))
    assert first.metrics == second.metrics
    assert first.best_params == second.best_params


def test_sensitive_attribute_used_only_when_asked(classification_frame):
    spec = _spec(classification_frame, sensitive_as_features=True, trials=1)
    result = run_recipe("classification", classification_frame, spec)
    assert "region" in result.feature_columns
