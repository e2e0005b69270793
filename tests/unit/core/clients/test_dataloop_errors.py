"""Dataloop errors in one line naming the resource; transient ones marked for a retry, others not."""

from __future__ import annotations

import pytest
import requests
from dtlpy import exceptions

from movinet_pipeline.core.clients import dataloop as dataloop_client
from movinet_pipeline.core.clients.dataloop import DataloopError, about, retrying


@pytest.mark.parametrize("error, expected, transient", [
    (exceptions.Unauthorized("401", "jwt expired"),
     "Dataloop rejected the credentials on dataset 'd1' (HTTP 401): renew the API key or M2M login", False),
    (exceptions.Forbidden("403", "Forbidden"), "dataset 'd1': permission denied (HTTP 403)", False),
    (exceptions.NotFound("404", "Dataset not found"),
     "dataset 'd1' not found in Dataloop (or not visible to these credentials)", False),
    (exceptions.InternalServerError("500", "Internal\nServer   Error"),
     "Dataloop could not serve dataset 'd1' (HTTP 500: Internal Server Error); a retry may succeed", True),
    (exceptions.UnknownException("503", "unavailable"), "(HTTP 503: unavailable); a retry may succeed", True),
    (requests.ReadTimeout("read timed out (120 s)"),
     "Dataloop could not serve dataset 'd1' (ReadTimeout: read timed out (120 s)); a retry may succeed", True),
    (requests.ConnectionError("connection reset by peer"), "(ConnectionError: connection reset by peer)", True),
    (exceptions.BadRequest("400", "bad filter"), "Dataloop refused dataset 'd1' (HTTP 400: bad filter)", False),
])
def test_each_kind_of_failure_is_one_line_naming_the_resource(error, expected, transient):
    with pytest.raises(DataloopError) as raised, about("dataset 'd1'"):
        raise error
    assert expected in str(raised.value) and "\n" not in str(raised.value)
    assert raised.value.transient is transient and raised.value.__cause__ is error


def test_only_transient_errors_are_retried(monkeypatch):
    monkeypatch.setattr(dataloop_client, "RETRY_WAIT_S", 0.001)
    calls = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise DataloopError("gate busy", transient=True)
        return "done"

    assert retrying(flaky, attempts=4) == "done" and len(calls) == 3
    calls.clear()

    def forbidden() -> None:
        calls.append(1)
        raise DataloopError("permission denied")

    with pytest.raises(DataloopError, match="permission denied"):
        retrying(forbidden, attempts=4)
    assert len(calls) == 1
    with pytest.raises(DataloopError, match="gate busy"):
        retrying(lambda: (_ for _ in ()).throw(DataloopError("gate busy", transient=True)), attempts=2)
