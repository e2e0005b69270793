"""Dataloop credentials from Google Secret Manager (the Vertex AI way), read by the real client over REST from a
local server that plays the Secret Manager API.
"""

from __future__ import annotations

import json

import pytest

from movinet_pipeline.core.clients.dataloop import DataloopError, connect
from movinet_pipeline.core.clients.secrets import SecretError, read_secret, version_name
from tests.api_recorders import SecretManagerRecorder

SECRET = "projects/ml-platform/secrets/dataloop-credentials"


@pytest.fixture
def secret_manager(monkeypatch: pytest.MonkeyPatch):
    recorder = SecretManagerRecorder().start()
    monkeypatch.setenv("SECRET_MANAGER_ENDPOINT", recorder.host)
    yield recorder
    recorder.stop()


def test_a_reference_names_a_secret_version(monkeypatch):
    assert version_name(SECRET) == f"{SECRET}/versions/latest"
    assert version_name(f"{SECRET}/versions/7") == f"{SECRET}/versions/7"
    assert version_name("dataloop-credentials", project="p1") == \
        "projects/p1/secrets/dataloop-credentials/versions/latest"
    monkeypatch.setenv("CLOUD_ML_PROJECT_ID", "vertex-project")  # what a Vertex AI step sees
    assert version_name("dataloop-credentials") == \
        "projects/vertex-project/secrets/dataloop-credentials/versions/latest"
    with pytest.raises(SecretError, match="'projects/p/secret/x' is not a Secret Manager secret"):
        version_name("projects/p/secret/x")


def test_a_short_name_without_a_project_is_refused_with_the_fix(secret_manager, monkeypatch):
    for variable in ("GOOGLE_CLOUD_PROJECT", "CLOUD_ML_PROJECT_ID", "GCLOUD_PROJECT"):
        monkeypatch.delenv(variable, raising=False)
    with pytest.raises(SecretError, match="secret 'dataloop-credentials' has no project.*GOOGLE_CLOUD_PROJECT"):
        version_name("dataloop-credentials")


def test_read_secret_checks_the_payload_and_names_what_is_wrong(secret_manager):
    secret_manager.secrets[SECRET] = "key-123\n"
    assert read_secret(SECRET) == "key-123\n"
    assert secret_manager.requests[-1].path == f"/v1/{SECRET}/versions/latest:access"
    with pytest.raises(SecretError, match="has no projects/ml-platform/secrets/other/versions/latest"):
        read_secret("projects/ml-platform/secrets/other")
    secret_manager.forbidden.add(SECRET)
    with pytest.raises(SecretError, match="grant the step's service account roles/secretmanager.secretAccessor"):
        read_secret(SECRET)
    secret_manager.forbidden.clear()
    secret_manager.corrupt = True
    with pytest.raises(SecretError, match="does not match its CRC32C"):
        read_secret(SECRET)


def test_connect_logs_in_with_credentials_from_secret_manager(secret_manager, dataloop_emulator, monkeypatch, caplog):
    monkeypatch.setenv("DATALOOP_CREDENTIALS_SECRET", SECRET)
    key = dataloop_emulator.issue_token("vertex-step@example.com")
    secret_manager.secrets[SECRET] = json.dumps({"api-key": key, "env": dataloop_emulator.url})
    caplog.set_level("INFO")
    assert connect().info(with_token=False)["user_email"] == "vertex-step@example.com"
    assert f"credentials from secret {SECRET}" in caplog.text and key not in caplog.text

    dataloop_emulator.m2m_users["robot@example.com"] = "s3cret"
    secret_manager.secrets[SECRET] = json.dumps({"m2m-email": "robot@example.com", "m2m-password": "s3cret"})
    monkeypatch.setenv("DATALOOP_ENV", dataloop_emulator.url)
    assert connect().info(with_token=False)["user_email"] == "robot@example.com"

    secret_manager.secrets[SECRET] = key  # a bare API key
    assert connect().info(with_token=False)["user_email"] == "vertex-step@example.com"


def test_credentials_in_the_environment_win_and_the_secret_is_not_read(secret_manager, dataloop_env, monkeypatch):
    monkeypatch.setenv("DATALOOP_CREDENTIALS_SECRET", SECRET)
    connect()
    assert secret_manager.requests == []


def test_a_bad_credentials_secret_is_reported_by_name(secret_manager, dataloop_emulator, monkeypatch):
    monkeypatch.setenv("DATALOOP_ENV", dataloop_emulator.url)
    monkeypatch.setenv("DATALOOP_CREDENTIALS_SECRET", SECRET)
    with pytest.raises(DataloopError, match="no Dataloop credentials in the environment, and "
                                            "DATALOOP_CREDENTIALS_SECRET: Secret Manager has no"):
        connect()
    secret_manager.secrets[SECRET] = json.dumps({"apikey": "x"})
    with pytest.raises(DataloopError, match=r"unknown keys \['apikey'\]"):
        connect()
    secret_manager.secrets[SECRET] = "{not json"
    with pytest.raises(DataloopError, match="is not valid JSON"):
        connect()


def test_a_pipeline_step_reads_its_credentials_from_the_named_secret(secret_manager, dataloop_emulator,
                                                                      dataloop_dataset, monkeypatch, tmp_path):
    """The real component under kfp.local, with no credentials in its environment: as a Vertex AI step."""
    from kfp import local

    from movinet_pipeline.components.export_dataset.component import dataset_fingerprint

    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "ml-platform")
    secret_manager.secrets[SECRET] = json.dumps({"api-key": dataloop_emulator.issue_token(),
                                                 "env": dataloop_emulator.url})
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(tmp_path))
    task = dataset_fingerprint(source=f"dataloop://{dataloop_dataset['id']}", dataloop_secret="dataloop-credentials")
    assert len(task.output) == 64 and int(task.output, 16) >= 0
    assert [r.path for r in secret_manager.requests] == [f"/v1/{SECRET}/versions/latest:access"]
