"""Read a secret from Google Secret Manager: how Vertex AI steps (which have no Kubernetes secrets) get credentials.

A reference is a secret name in the default project (`dataloop-credentials`), `projects/<p>/secrets/<s>`, or a
version `projects/<p>/secrets/<s>/versions/<v>` (default version: `latest`). The step's service account needs
`roles/secretmanager.secretAccessor` on it. `SECRET_MANAGER_ENDPOINT` (e.g. `http://127.0.0.1:8080`) points the
client at a local emulator with anonymous credentials, as `STORAGE_EMULATOR_HOST` does for Cloud Storage.
"""

from __future__ import annotations

import logging
import os
import re

log = logging.getLogger(__name__)
ENDPOINT_VARIABLE = "SECRET_MANAGER_ENDPOINT"
_SHORT_NAME = re.compile(r"[A-Za-z0-9_-]{1,255}")
_RESOURCE = re.compile(r"projects/[^/]+/secrets/[A-Za-z0-9_-]+(/versions/[^/]+)?")
PROJECT_VARIABLES = ("GOOGLE_CLOUD_PROJECT", "CLOUD_ML_PROJECT_ID", "GCLOUD_PROJECT")  # Vertex sets CLOUD_ML_PROJECT_ID


class SecretError(RuntimeError):
    """A secret cannot be read; the message names the secret and what to check."""


def version_name(reference: str, project: str | None = None) -> str:
    """The full version resource name of `reference` (see the module docstring)."""
    reference = reference.strip()
    if _RESOURCE.fullmatch(reference):
        return reference if "/versions/" in reference else f"{reference}/versions/latest"
    if not _SHORT_NAME.fullmatch(reference):
        raise SecretError(f"{reference!r} is not a Secret Manager secret: give a name, projects/<p>/secrets/<s> "
                          "or projects/<p>/secrets/<s>/versions/<v>")
    project = project or _default_project()
    if not project:
        raise SecretError(f"secret {reference!r} has no project: give projects/<p>/secrets/{reference} or set "
                          "GOOGLE_CLOUD_PROJECT")
    return f"projects/{project}/secrets/{reference}/versions/latest"


def _default_project() -> str | None:
    for variable in PROJECT_VARIABLES:
        if os.environ.get(variable):
            return os.environ[variable]
    if os.environ.get(ENDPOINT_VARIABLE):
        return None  # an emulator has no metadata server to ask
    try:
        import google.auth

        return google.auth.default()[1]
    except Exception:  # no application default credentials: the caller reports the missing project
        return None


def _client():
    from google.cloud import secretmanager

    endpoint = os.environ.get(ENDPOINT_VARIABLE)
    if not endpoint:
        return secretmanager.SecretManagerServiceClient()
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials

    return secretmanager.SecretManagerServiceClient(
        credentials=AnonymousCredentials(), transport="rest", client_options=ClientOptions(api_endpoint=endpoint))


def read_secret(reference: str) -> str:
    """The payload of the secret version `reference` as text, checked against its CRC32C."""
    import google_crc32c
    from google.api_core import exceptions

    name = version_name(reference)
    try:
        response = _client().access_secret_version(name=name)
    except exceptions.NotFound:
        raise SecretError(f"Secret Manager has no {name}: create it or fix the secret reference") from None
    except (exceptions.PermissionDenied, exceptions.Forbidden):  # gRPC and REST name a 403 differently
        raise SecretError(f"no access to {name}: grant the step's service account "
                          "roles/secretmanager.secretAccessor on it") from None
    except exceptions.GoogleAPICallError as error:
        raise SecretError(f"reading {name} failed: {error.message}") from None
    data = response.payload.data
    if response.payload.data_crc32c and google_crc32c.value(data) != response.payload.data_crc32c:
        raise SecretError(f"{name}: the payload does not match its CRC32C (corrupted in transit); retry")
    log.info("read secret %s", response.name or name)  # the name, never the payload
    return data.decode()
