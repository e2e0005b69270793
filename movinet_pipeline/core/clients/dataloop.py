"""The Dataloop connection: credentials from the environment or a mounted secret, never from parameters.

- `DATALOOP_API_KEY` (an API key or any JWT), or `DATALOOP_M2M_EMAIL` + `DATALOOP_M2M_PASSWORD`;
- `DATALOOP_API_KEY_FILE`: a file holding the key (a Kubernetes/Secret Manager secret mounted as a volume);
- `DATALOOP_ENV`: `prod` (default), another dtlpy environment alias, or a gate URL ending in `/api/v1`;
- `DATALOOP_CREDENTIALS_SECRET`: when the variables above hold no credentials, a Google Secret Manager secret (see
  `movinet_pipeline.core.clients.secrets`; how Vertex AI steps get them) holding the API key, or a JSON object
  with the keys of the
  Kubernetes secret (`api-key`, or `m2m-email` + `m2m-password`; optional `env`). Variables set win over the secret.

dtlpy keeps its state, the login token included, under `DATALOOP_PATH` (default `~/.dataloop`), which it reads once,
at import; so this module imports it lazily, and unless the user set `DATALOOP_PATH` points it at a private
temporary folder removed when the process exits: no token is left at rest.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import TypeVar

import tenacity

from movinet_pipeline.core.clients.secrets import SecretError, read_secret

log = logging.getLogger(__name__)
SCHEME = "dataloop://"
CUSTOM_ALIAS = "movinet-pipeline"
SECRET_VARIABLE = "DATALOOP_CREDENTIALS_SECRET"
# The keys of the credentials secret (Kubernetes or Secret Manager JSON) -> the variables they set.
CREDENTIAL_KEYS = {"api-key": "DATALOOP_API_KEY", "m2m-email": "DATALOOP_M2M_EMAIL",
                   "m2m-password": "DATALOOP_M2M_PASSWORD", "env": "DATALOOP_ENV"}


T = TypeVar("T")
RETRY_WAIT_S = 2.0  # first backoff between attempts at a transient Dataloop error; doubles, at most 30 s


class DataloopError(RuntimeError):
    """A Dataloop request cannot be served; the message names the entity or the setting to fix.

    `transient`: a retry may succeed (HTTP 5xx or 408, a dropped or refused connection, a timeout).
    """

    def __init__(self, message: str, transient: bool = False):
        super().__init__(message)
        self.transient = transient


def _status(error: BaseException) -> str:
    return str(getattr(error, "status_code", "") or "")


def _is_transient(error: BaseException) -> bool:
    import requests

    if isinstance(error, (requests.ConnectionError, requests.Timeout)):
        return True
    return _status(error).startswith("5") or _status(error) == "408"


def explain(error: BaseException, resource: str) -> str:
    """One line saying what went wrong with `resource` and what to do about it."""
    status = _status(error)
    detail = " ".join(str(getattr(error, "message", None) or error).split())[:200]
    if status in ("401", "600"):
        return f"Dataloop rejected the credentials on {resource} (HTTP 401): renew the API key or M2M login"
    if status == "403":
        return (f"{resource}: permission denied (HTTP 403); these credentials are not a member with access to it: "
                "ask the project owner for access, or use credentials that have it")
    if status == "404":
        return f"{resource} not found in Dataloop (or not visible to these credentials)"
    if _is_transient(error):
        cause = f"HTTP {status}" if status else type(error).__name__
        return f"Dataloop could not serve {resource} ({cause}: {detail}); a retry may succeed"
    return f"Dataloop refused {resource} (HTTP {status or '?'}: {detail})"


@contextlib.contextmanager
def about(resource: str) -> Iterator[None]:
    """Turn a dtlpy or HTTP error inside the block into a one-line `DataloopError` naming `resource`."""
    import requests
    from dtlpy import exceptions

    try:
        yield
    except (exceptions.ExceptionMain, exceptions.PlatformException, requests.RequestException) as error:
        raise DataloopError(explain(error, resource), transient=_is_transient(error)) from error


def retrying(call: Callable[[], T], attempts: int = 4, what: str = "Dataloop request") -> T:
    """`call()`, retried with exponential backoff while it fails with a transient `DataloopError`.

    Only for calls that are safe to repeat (reads, or writes that converge when repeated).
    """
    def log_retry(state: tenacity.RetryCallState) -> None:
        log.warning("%s failed (attempt %d of %d), retrying in %.0f s: %s", what, state.attempt_number, attempts,
                    state.next_action.sleep, state.outcome.exception())

    return tenacity.Retrying(
        stop=tenacity.stop_after_attempt(attempts), reraise=True, before_sleep=log_retry,
        wait=tenacity.wait_exponential(multiplier=RETRY_WAIT_S, max=30),
        retry=tenacity.retry_if_exception(lambda error: isinstance(error, DataloopError) and error.transient),
    )(call)


def is_dataloop_uri(value: str | None) -> bool:
    """Whether `value` is a `dataloop://` URI."""
    return bool(value) and str(value).startswith(SCHEME)


def entity_id(uri: str) -> str:
    """`dataloop://<id>` -> `<id>`."""
    value = uri[len(SCHEME):].strip("/") if is_dataloop_uri(uri) else uri
    if not value or "/" in value:
        raise DataloopError(f"{uri!r} is not of the form dataloop://<id>")
    return value


def use_credentials_secret(reference: str) -> None:
    """Let `connect` fall back to the Secret Manager secret `reference` (a step input; empty: no fallback).

    A variable the user set explicitly wins.
    """
    if reference:
        os.environ.setdefault(SECRET_VARIABLE, reference)


def _settings() -> tuple[dict[str, str], str]:
    """The Dataloop variables (see the module docstring) and where the credentials came from."""
    settings = {name: os.environ[name] for name in (*CREDENTIAL_KEYS.values(), "DATALOOP_API_KEY_FILE")
                if os.environ.get(name)}
    if "DATALOOP_API_KEY_FILE" in settings and "DATALOOP_API_KEY" not in settings:
        path = Path(settings["DATALOOP_API_KEY_FILE"])
        if not path.is_file():
            raise DataloopError(f"DATALOOP_API_KEY_FILE points at {path}, which is not a readable file")
        settings["DATALOOP_API_KEY"] = path.read_text().strip()
        return settings, "DATALOOP_API_KEY_FILE"
    if "DATALOOP_API_KEY" in settings or {"DATALOOP_M2M_EMAIL", "DATALOOP_M2M_PASSWORD"} <= settings.keys():
        return settings, "the environment"
    reference = os.environ.get(SECRET_VARIABLE)
    if not reference:
        raise DataloopError("no Dataloop credentials: set DATALOOP_API_KEY (or DATALOOP_API_KEY_FILE), or "
                            f"DATALOOP_M2M_EMAIL and DATALOOP_M2M_PASSWORD, or {SECRET_VARIABLE}")
    return {**_secret_settings(reference), **settings}, f"secret {reference}"


def _secret_settings(reference: str) -> dict[str, str]:
    """The variables held by the Secret Manager secret `reference`: an API key, or JSON of CREDENTIAL_KEYS."""
    try:
        payload = read_secret(reference).strip()
    except SecretError as error:
        raise DataloopError(f"no Dataloop credentials in the environment, and {SECRET_VARIABLE}: {error}") from None
    if not payload.startswith("{"):
        return {"DATALOOP_API_KEY": payload}
    try:
        values = json.loads(payload)
    except json.JSONDecodeError:
        raise DataloopError(f"secret {reference} starts with '{{' but is not valid JSON") from None
    unknown = sorted(set(values) - set(CREDENTIAL_KEYS))
    if unknown:
        raise DataloopError(f"secret {reference} has unknown keys {unknown}; "
                            f"expected some of {sorted(CREDENTIAL_KEYS)}")
    return {CREDENTIAL_KEYS[key]: str(value).strip() for key, value in values.items() if value}


def _login_failure(dl, api_key: str, environment: str, origin: str) -> DataloopError:
    """Why the API key login failed: asks the gate once more, to tell a rejected key from an outage."""
    import requests

    try:
        status = requests.get(f"{dl.client_api.environment}/users/me", timeout=30, verify=dl.client_api.verify,
                              headers={"Authorization": f"Bearer {api_key}"}).status_code
    except requests.RequestException as error:
        return DataloopError(explain(error, f"the login to {environment}"), transient=True)
    if status in (401, 403):
        return DataloopError(f"Dataloop ({environment}) rejected the API key from {origin}: is it valid and unexpired?")
    return DataloopError(f"the login to Dataloop ({environment}) failed (now HTTP {status}); a retry may succeed",
                         transient=True)


def _private_dtlpy_state() -> None:
    """Point dtlpy's state folder at a private temporary folder, removed at exit, unless the user chose one."""
    if os.environ.get("DATALOOP_PATH") or "dtlpy" in sys.modules:
        return
    folder = tempfile.mkdtemp(prefix="movinet-dtlpy-")  # mode 0700
    os.environ["DATALOOP_PATH"] = folder
    atexit.register(shutil.rmtree, folder, ignore_errors=True)


def connect() -> ModuleType:
    """Import dtlpy, select the environment and log in; return the `dtlpy` module."""
    _private_dtlpy_state()
    import dtlpy as dl

    logging.getLogger("dtlpy").setLevel(logging.INFO)  # its DEBUG chatter (cookies, tokens) stays out of our logs
    settings, origin = _settings()
    environment = settings.get("DATALOOP_ENV", "prod")
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
    if settings.get("DATALOOP_API_KEY"):
        try:
            dl.login_api_key(settings["DATALOOP_API_KEY"])
        except (ValueError, dl.exceptions.ExceptionMain):  # dtlpy says ValueError for a 401 and a 500 alike
            raise _login_failure(dl, settings["DATALOOP_API_KEY"], environment, origin) from None
    else:
        email = settings["DATALOOP_M2M_EMAIL"]
        if not dl.login_m2m(email=email, password=settings["DATALOOP_M2M_PASSWORD"]):
            raise DataloopError(f"Dataloop ({environment}) rejected the M2M login of {email} from {origin}: "
                                "check the M2M email and password")
    log.info("connected to Dataloop %s as %s (credentials from %s)", environment,
             dl.info(with_token=False)["user_email"], origin)
    return dl


class ItemReader:
    """Reads items' binaries from Dataloop, for Beam workers: one login per process, transient errors retried.

    Picklable (the connection is not pickled); `secret` names the Secret Manager secret a worker reads when its
    environment has no credentials (as a step does, see `use_credentials_secret`).
    """

    def __init__(self, secret: str = "") -> None:
        self.secret = secret
        self._dl: ModuleType | None = None

    def __getstate__(self) -> dict:
        return {"secret": self.secret, "_dl": None}

    def read(self, item_id: str) -> bytes:
        """The item's bytes; DataloopError (one line) when it cannot be read."""
        if self._dl is None:
            use_credentials_secret(self.secret)
            self._dl = connect()

        def download() -> bytes:
            with about(f"item {item_id}"):
                return self._dl.items.get(item_id=item_id).download(save_locally=False).getvalue()

        return retrying(download, what=f"downloading item {item_id}")
