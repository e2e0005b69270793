"""The Dataloop connection: credentials from the environment or a mounted secret, never from parameters.

- `DATALOOP_API_KEY` (an API key or any JWT), or `DATALOOP_M2M_EMAIL` + `DATALOOP_M2M_PASSWORD`;
- `DATALOOP_API_KEY_FILE`: a file holding the key (a Kubernetes/Secret Manager secret mounted as a volume);
- `DATALOOP_ENV`: `prod` (default), another dtlpy environment alias, or a gate URL ending in `/api/v1`.

dtlpy reads `DATALOOP_PATH` once, at import, so this module imports it lazily.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from types import ModuleType

log = logging.getLogger(__name__)
SCHEME = "dataloop://"
CUSTOM_ALIAS = "movinet-pipeline"


class DataloopError(RuntimeError):
    """A Dataloop request cannot be served; the message names the entity or the setting to fix."""


def is_dataloop_uri(value: str | None) -> bool:
    return bool(value) and str(value).startswith(SCHEME)


def entity_id(uri: str) -> str:
    """`dataloop://<id>` -> `<id>`."""
    value = uri[len(SCHEME):].strip("/") if is_dataloop_uri(uri) else uri
    if not value or "/" in value:
        raise DataloopError(f"{uri!r} is not of the form dataloop://<id>")
    return value


def _api_key() -> str | None:
    key = os.environ.get("DATALOOP_API_KEY")
    if key:
        return key.strip()
    key_file = os.environ.get("DATALOOP_API_KEY_FILE")
    if key_file:
        path = Path(key_file)
        if not path.is_file():
            raise DataloopError(f"DATALOOP_API_KEY_FILE points at {key_file}, which is not a readable file")
        return path.read_text().strip()
    return None


def connect() -> ModuleType:
    """Import dtlpy, select the environment and log in; return the `dtlpy` module."""
    import dtlpy as dl

    logging.getLogger("dtlpy").setLevel(logging.INFO)  # its DEBUG chatter (cookies, tokens) stays out of our logs
    environment = os.environ.get("DATALOOP_ENV", "prod")
    if environment.startswith("http"):
        url = environment.rstrip("/")
        if not url.endswith("/api/v1"):
            raise DataloopError(f"DATALOOP_ENV={environment!r}: a gate URL must end in /api/v1")
        if dl.client_api.environments.get(url, {}).get("alias") != CUSTOM_ALIAS:
            dl.add_environment(environment=url, gate_url=url.removesuffix("/api/v1"), alias=CUSTOM_ALIAS,
                               verify_ssl=url.startswith("https"))
        environment = CUSTOM_ALIAS
    dl.verbose.disable_progress_bar = False
    dl.setenv(environment)
    api_key = _api_key()
    email, password = os.environ.get("DATALOOP_M2M_EMAIL"), os.environ.get("DATALOOP_M2M_PASSWORD")
    if api_key:
        try:
            dl.login_api_key(api_key)
        except (ValueError, dl.exceptions.ExceptionMain):  # a 401 surfaces as TokenExpired or Unauthorized
            raise DataloopError(f"Dataloop ({environment}) rejected the API key in DATALOOP_API_KEY"
                                f"{'_FILE' if not os.environ.get('DATALOOP_API_KEY') else ''}: "
                                "is it valid and unexpired?") from None
    elif email and password:
        if not dl.login_m2m(email=email, password=password):
            raise DataloopError(f"Dataloop ({environment}) rejected the M2M login of {email}: "
                                "check DATALOOP_M2M_EMAIL / DATALOOP_M2M_PASSWORD")
    else:
        raise DataloopError("no Dataloop credentials: set DATALOOP_API_KEY (or DATALOOP_API_KEY_FILE), or "
                            "DATALOOP_M2M_EMAIL and DATALOOP_M2M_PASSWORD")
    log.info("connected to Dataloop %s as %s", environment, dl.info(with_token=False)["user_email"])
    return dl

