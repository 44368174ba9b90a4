"""Model-version endpoints: register (upload, run), lists, PATCH, card, stage, download."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import schema_context

from mlgov.audit.models import AuditEvent
from registry.models import ModelAlias, ModelVersion, ModelVersionTag, StageTransition
from tests.conftest import user_in
from tests.registry.model_world import (
    EVIL_PICKLE,
    log_file,
    make_experiment,
    make_model,
    make_run,
    make_version,
    sklearn_classifier,
    skops_bytes,
)


@pytest.fixture()
def churn(alpha):
    with schema_context(alpha.schema_name):
        return make_model(user_in(alpha, "alice"), "churn")


@pytest.fixture()
def model_file():
    return skops_bytes(sklearn_classifier()[0])


def _upload(api, model, payload: bytes, **fields):
    data = {"file": SimpleUploadedFile("model.skops", payload), **fields}
    return api.client.post(
        api.url(f"api/v1/models/{model.pk}/versions/"), data=data, **api._headers({})
    )


@pytest.fixture()
def registered(alpha, api_as, churn, model_file):
    """Version 1 of churn, uploaded by alice through the API."""
    response = _upload(
        api_as(alpha, "alice"),
        churn,
        model_file,
        metrics='{"auc": 0.9}',
        signature='{"inputs": []}',
        tags='{"a": "b"}',
    )
    assert response.status_code == 201, response.content
    return response.json()


# --- registration ------------------------------------------------------------------------


def test_upload_registers_a_verified_signed_version(registered):
    assert (registered["version"], registered["model_format"]) == (1, "skops")
    assert registered["verified"]
    assert registered["signed"]
    assert registered["metrics"] == {"auc": 0.9}
    assert registered["tags"] == {"a": "b"}
    assert len(registered["sha256"]) == 64
    assert registered["size_bytes"] > 0
    assert "signed_payload" not in registered
    assert "ed25519_signature" not in registered


def test_upload_of_an_unverified_pickle_is_stored_unverified(alpha, api_as, churn):
    data = {"file": SimpleUploadedFile("evil.pkl", EVIL_PICKLE)}
    api = api_as(alpha, "alice")
    response = api.client.post(
        api.url(f"api/v1/models/{churn.pk}/versions/"), data=data, **api._headers({})
    )
    assert response.status_code == 201
    body = response.json()
    assert (body["model_format"], body["verified"], body["signed"]) == ("pickle", False, False)
    assert "system" in body["verification_detail"]


def test_register_from_a_run_file(alpha, api_as, churn, model_file):
    with schema_context(alpha.schema_name):
        alice = user_in(alpha, "alice")
        run = make_run(make_experiment(alice), alice)
        log_file(run, "model/model.skops", model_file)
    api = api_as(alpha, "alice")
    path = f"api/v1/models/{churn.pk}/versions/"
    response = api.post(
        path, {"run": str(run.pk), "artifact_path": "model/model.skops", "idempotency_key": "job-1"}
    )
    assert response.status_code == 201, response.content
    assert response.json()["run"] == run.pk
    assert response.json()["verified"]
    # the same job again: the same version, 200
    again = api.post(
        path,
        {"run": run.uuid.hex, "artifact_path": "model/model.skops", "idempotency_key": "job-1"},
    )
    assert again.status_code == 200
    assert again.json()["id"] == response.json()["id"]
    # an unsafe path, a missing file, an unknown run: 400 with a stable code
    for body, code in (
        ({"run": str(run.pk), "artifact_path": "../x.skops"}, "unsafe_artifact_path"),
        ({"run": str(run.pk), "artifact_path": "nope.skops"}, "run_artifact_not_found"),
        ({"run": "999999", "artifact_path": "model/model.skops"}, "run_not_found"),
        ({"run": "zzz", "artifact_path": "model/model.skops"}, "run_not_found"),
    ):
        refused = api.post(path, body)
        assert refused.status_code == 400, body
        assert refused.json()["error"]["code"] == code


def test_register_from_a_run_needs_download_on_its_experiment(alpha, api_as, model_file):
    # given alice's run and a model mia created (she may change it)
    with schema_context(alpha.schema_name):
        alice = user_in(alpha, "alice")
        run = make_run(make_experiment(alice), alice)
        log_file(run, "m.skops", model_file)
        mine = make_model(user_in(alpha, "mia"), "mias")
    # when mia registers alice's run file / then she is refused like for an unknown run
    response = api_as(alpha, "mia").post(
        f"api/v1/models/{mine.pk}/versions/", {"run": str(run.pk), "artifact_path": "m.skops"}
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "run_not_found"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"model_format": "exe"}, "model_format"),
        ({"metrics": "not json"}, "metrics"),
        ({"metrics": "[1, 2]"}, "metrics"),
        ({"stage": "production"}, "stage"),
        ({"verified": "true"}, "verified"),
        ({"sha256": "0" * 64}, "sha256"),
    ],
)
def test_bad_registration_fields_are_400_naming_the_field(
    alpha, api_as, churn, model_file, fields, field
):
    response = _upload(api_as(alpha, "alice"), churn, model_file, **fields)
    assert response.status_code == 400
    assert field in response.json()["error"]["details"]["fields"]


def test_an_upload_over_the_limit_is_413_and_registers_nothing(
    alpha, api_as, churn, model_file, settings
):
    settings.MLGOV_MODEL_MAX_BYTES = len(model_file) - 1
    response = _upload(api_as(alpha, "alice"), churn, model_file)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "artifact_too_large"
    with schema_context(alpha.schema_name):
        assert not ModelVersion.objects.exists()


def test_registration_permissions(alpha, beta, api_as, churn, model_file):
    # mia may see alice's model but not add versions to it; viewers neither; bob not at all
    for username, expected in (("mia", 403), ("victor", 403), ("bob", 404)):
        assert _upload(api_as(alpha, username), churn, model_file).status_code == expected
    read = _upload(api_as(alpha, "alice", scope="read"), churn, model_file)
    assert read.json()["error"]["code"] == "insufficient_scope"
    assert _upload(api_as(alpha, None), churn, model_file).status_code == 401
    assert _upload(api_as(alpha, "carol", token_tenant=beta), churn, model_file).status_code == 401
    assert _upload(api_as(beta, "carol"), churn, model_file).status_code == 404
    with schema_context(alpha.schema_name):
        assert not ModelVersion.objects.exists()


# --- reading ------------------------------------------------------------------------------


def test_nested_and_flat_reads(alpha, beta, api_as, churn, registered):
    victor = api_as(alpha, "victor")
    nested = victor.get(f"api/v1/models/{churn.pk}/versions/").json()["results"]
    assert [row["id"] for row in nested] == [registered["id"]]
    assert victor.get(f"api/v1/models/{churn.pk}/versions/1/").json()["id"] == registered["id"]
    assert victor.get(f"api/v1/models/{churn.pk}/versions/2/").status_code == 404
    flat = victor.get(f"api/v1/model-versions/?model={churn.pk}").json()["results"]
    assert [row["id"] for row in flat] == [registered["id"]]
    assert victor.get("api/v1/model-versions/?model=abc").status_code == 400
    assert victor.get(f"api/v1/model-versions/{registered['id']}/").status_code == 200
    # bob, anonymous and other tenants
    assert api_as(alpha, "bob").get("api/v1/model-versions/").json()["results"] == []
    assert api_as(alpha, "bob").get(f"api/v1/model-versions/{registered['id']}/").status_code == 404
    assert api_as(alpha, None).get("api/v1/model-versions/").status_code == 401
    cross = api_as(alpha, "carol", token_tenant=beta)
    assert cross.get(f"api/v1/model-versions/{registered['id']}/").status_code == 401
    assert (
        api_as(beta, "carol").get(f"api/v1/model-versions/{registered['id']}/").status_code == 404
    )
    assert api_as(beta, "carol").get("api/v1/model-versions/").json()["results"] == []


def _count_queries(api, path: str) -> int:
    api.get(path)  # warm-up: per-process caches (content types, permissions) fill once
    with CaptureQueriesContext(connection) as captured:
        response = api.get(path)
    assert response.status_code == 200, response.content
    return len(captured.captured_queries)


@pytest.mark.parametrize("username", ["alice", "victor"])
def test_version_lists_query_count_does_not_grow(alpha, api_as, churn, username):
    def fill(first: int, count: int) -> None:
        with schema_context(alpha.schema_name):
            versions = ModelVersion.objects.bulk_create(
                ModelVersion(registered_model=churn, version=number, model_format="skops")
                for number in range(first + 1, first + count + 1)
            )
            ModelVersionTag.objects.bulk_create(
                ModelVersionTag(model_version=v, key="k", value="v") for v in versions
            )
            ModelAlias.objects.create(
                registered_model=churn, alias=f"a{first}", model_version=versions[0]
            )

    api = api_as(alpha, username)
    paths = (
        f"api/v1/models/{churn.pk}/versions/?page_size=100",
        "api/v1/model-versions/?page_size=100",
    )
    fill(0, 10)
    small = [_count_queries(api, path) for path in paths]
    fill(10, 990)
    assert [_count_queries(api, path) for path in paths] == small


def test_transition_history_query_count_does_not_grow(alpha, api_as, churn):
    with schema_context(alpha.schema_name):
        version = make_version(churn)
        actors = [user_in(alpha, name) for name in ("alice", "mia", "rita")]

    def fill(count: int) -> None:
        with schema_context(alpha.schema_name):
            StageTransition.objects.bulk_create(
                StageTransition(
                    model_version=version,
                    kind="stage",
                    from_value="none",
                    to_value="staging",
                    reason="r",
                    actor=actors[i % 3],
                )
                for i in range(count)
            )

    api = api_as(alpha, "victor")
    path = f"api/v1/model-versions/{version.pk}/transitions/?page_size=100"
    fill(10)
    small = _count_queries(api, path)
    fill(990)
    assert _count_queries(api, path) == small


# --- PATCH, card, stage, download ---------------------------------------------------------


def test_patch_accepts_only_the_description(alpha, api_as, registered):
    path = f"api/v1/model-versions/{registered['id']}/"
    alice = api_as(alpha, "alice")
    ok = alice.patch(path, {"description": "tuned"})
    assert ok.status_code == 200
    assert ok.json()["description"] == "tuned"
    for field, value in (
        ("stage", "production"),
        ("status", "ready"),
        ("sha256", "0" * 64),
        ("signature", {}),
        ("verified", True),
        ("run", 1),
        ("artifact", "x"),
        ("signed_payload", {}),
        ("version", 5),
    ):
        refused = alice.patch(path, {"description": "x", field: value})
        assert refused.status_code == 400, field
        error = refused.json()["error"]
        assert error["code"] == "validation_error"
        assert field in error["details"]["fields"]
    assert alice.put(path, {"description": "x"}).status_code in (403, 405)  # no PUT here
    assert api_as(alpha, "mia").patch(path, {"description": "x"}).status_code == 403
    assert api_as(alpha, "alice", scope="read").patch(path, {"description": "x"}).status_code == 403


def test_model_card_get_put(alpha, api_as, registered):
    path = f"api/v1/model-versions/{registered['id']}/card/"
    alice = api_as(alpha, "alice")
    empty = alice.get(path).json()
    assert empty["intended_use"] == ""
    assert empty["updated_by"] is None
    card = {
        "intended_use": "churn scoring",
        "out_of_scope_use": "credit",
        "owners": "growth",
        "training_data": "customers v3",
        "evaluation_data": "holdout",
        "limitations": "EU only",
        "ethical_considerations": "age is sensitive",
    }
    put = alice.put(path, card)
    assert put.status_code == 200
    assert put.json()["updated_by"] == "alice"
    assert {k: put.json()[k] for k in card} == card
    assert api_as(alpha, "victor").get(path).json()["limitations"] == "EU only"
    assert api_as(alpha, "mia").put(path, card).status_code == 403
    assert alice.put(path, {"intended_use": "x", "approved": True}).status_code == 400
    assert api_as(alpha, "bob").get(path).status_code == 404
    with schema_context(alpha.schema_name):
        event = AuditEvent.objects.filter(action="model_card.update").latest("sequence")
    assert event.before["intended_use"] == ""
    assert event.after["intended_use"] == "churn scoring"


def test_stage_command_and_history(alpha, api_as, churn, registered, model_file):
    alice = api_as(alpha, "alice")
    second = _upload(alice, churn, model_file).json()
    first_path = f"api/v1/model-versions/{registered['id']}/"
    moved = alice.post(f"{first_path}stage/", {"stage": "production", "reason": "go live"})
    assert moved.status_code == 200, moved.content
    assert moved.json()["version"]["stage"] == "production"
    promoted = alice.post(
        f"api/v1/model-versions/{second['id']}/stage/", {"stage": "production", "reason": "better"}
    )
    assert [t["to_value"] for t in promoted.json()["transitions"]] == ["production", "archived"]
    assert alice.get(first_path).json()["stage"] == "archived"
    history = alice.get(f"{first_path}transitions/").json()["results"]
    assert [(t["from_value"], t["to_value"], t["actor"]) for t in history] == [
        ("production", "archived", "alice"),
        ("none", "production", "alice"),
    ]
    # refusals: same stage, unknown stage, no reason, no permission, read token
    again = alice.post(
        f"api/v1/model-versions/{second['id']}/stage/", {"stage": "production", "reason": "x"}
    )
    assert again.json()["error"]["code"] == "invalid_transition"
    assert alice.post(f"{first_path}stage/", {"stage": "prod", "reason": "x"}).status_code == 400
    assert alice.post(f"{first_path}stage/", {"stage": "staging"}).status_code == 400
    assert (
        api_as(alpha, "mia")
        .post(f"{first_path}stage/", {"stage": "staging", "reason": "x"})
        .status_code
        == 403
    )
    assert (
        api_as(alpha, "alice", scope="read")
        .post(f"{first_path}stage/", {"stage": "staging", "reason": "x"})
        .status_code
        == 403
    )


def test_unverified_versions_cannot_be_staged(alpha, api_as, churn):
    with schema_context(alpha.schema_name):
        version = make_version(churn, verified=False)
    response = api_as(alpha, "alice").post(
        f"api/v1/model-versions/{version.pk}/stage/", {"stage": "staging", "reason": "x"}
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "version_not_verified"


def test_download_streams_the_file_to_holders_of_download(
    alpha, beta, api_as, registered, model_file
):
    path = f"api/v1/model-versions/{registered['id']}/download/"
    response = api_as(alpha, "alice").get(path)
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == model_file
    assert response["Content-Disposition"] == 'attachment; filename="churn-v1.skops"'
    with schema_context(alpha.schema_name):
        assert (
            AuditEvent.objects.filter(
                action="model_version.download", object_id=str(registered["id"])
            ).count()
            == 1
        )
    # viewers and reviewers see the version but may not download it
    for username in ("victor", "rita", "mia"):
        assert api_as(alpha, username).get(path).status_code == 403
    assert api_as(alpha, "bob").get(path).status_code == 404
    assert api_as(alpha, None).get(path).status_code == 401
    assert api_as(alpha, "carol", token_tenant=beta).get(path).status_code == 401
    assert api_as(beta, "carol").get(path).status_code == 404


def test_download_of_a_corrupted_file_is_refused_not_streamed(alpha, api_as, registered):
    from registry.artifact_store import _artifact_path

    with schema_context(alpha.schema_name):
        artifact_id = ModelVersion.objects.get(pk=registered["id"]).artifact_id
    path = _artifact_path(alpha.schema_name, artifact_id)
    data = bytearray(path.read_bytes())
    data[60] ^= 1
    path.write_bytes(bytes(data))
    response = api_as(alpha, "alice").get(f"api/v1/model-versions/{registered['id']}/download/")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "artifact_corrupted"
