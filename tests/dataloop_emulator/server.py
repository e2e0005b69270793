"""A local emulator of the part of Dataloop's REST API (the gate) that dtlpy calls for our pipeline.

`DataloopEmulator().start()` serves `http://127.0.0.1:<port>/api/v1` from a thread; state lives in `self.store`.
Tokens are JWTs signed by the emulator; the gate checks the signature and expiry of every request, as the real
one does. Requests it does not know are answered 501 and recorded in `unknown_routes`, so a test fails loudly.

Access is per project, as on the real gate: a project with a `members` list answers 403 to anyone else, for the
project itself and for its datasets, items and models. Faults are injected with `fail_call(n, kind)`: the n-th
request from now gets an HTTP 500 before it is served (`"500"`), an HTTP 500 after it was served (`"500-after"`,
as a gateway timing out on a committed write), or a dropped connection before it is served (`"drop"`).
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import re
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import jwt

from tests.dataloop_emulator.store import Store

SIGNING_KEY = "dataloop-emulator-signing-key-0123456789"
API = "/api/v1"


FAULT_KINDS = ("500", "500-after", "drop")


class DropConnection(Exception):
    """Close the connection without an answer."""


class HttpError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


class DataloopEmulator:
    def __init__(self) -> None:
        self.store = Store()
        self.requests: list[tuple[str, str]] = []
        self.unknown_routes: list[str] = []
        self.m2m_users: dict[str, str] = {}
        self.faults: dict[int, str] = {}  # request number -> fault kind
        self._count = 0
        self._local = threading.local()
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._routes: list[tuple[str, re.Pattern, Callable]] = []
        self._register_routes()

    # -- lifecycle ---------------------------------------------------------------------------------------------
    def start(self) -> DataloopEmulator:
        emulator = self

        class Handler(_Handler):
            pass

        Handler.emulator = emulator
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.store.base_url = self.url
        threading.Thread(target=self._server.serve_forever, daemon=True, name="dataloop-emulator").start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()

    @property
    def gate_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def url(self) -> str:
        return self.gate_url + API

    def issue_token(self, email: str | None = None, lifetime_s: int = 24 * 3600) -> str:
        """A JWT the gate accepts (an API key is one too)."""
        claims = {"email": email or self.store.user_email, "sub": email or self.store.user_email,
                  "exp": int(time.time()) + lifetime_s, "iat": int(time.time())}
        return jwt.encode(claims, SIGNING_KEY, algorithm="HS256")

    def fail_call(self, index: int, kind: str) -> None:
        """Make the `index`-th request from now (0: the next one) fail with fault `kind` (see FAULT_KINDS)."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}")
        with self._lock:
            self.faults[self._count + index] = kind

    @property
    def user(self) -> str:
        """The email of the user whose request is being served (on this thread)."""
        return self._local.user

    def check_access(self, project_ids) -> None:
        """403 unless the current user may see every project in `project_ids` (projects without members: all)."""
        for project_id in project_ids or ():
            members = self.store.projects.get(project_id, {}).get("members")
            if members is not None and self.user not in members:
                raise HttpError(403, f"Forbidden: {self.user} has no access to project {project_id}")

    def calls(self, method: str, pattern: str) -> int:
        return sum(1 for m, path in self.requests if m == method and re.fullmatch(pattern, path))

    # -- routing -----------------------------------------------------------------------------------------------
    def route(self, method: str, pattern: str):
        def decorator(function):
            self._routes.append((method, re.compile(pattern), function))
            return function
        return decorator

    def dispatch(self, method: str, path: str, query: dict, headers, body: bytes) -> tuple[int, object, dict]:
        with self._lock:
            self.requests.append((method, path))
            fault = self.faults.pop(self._count, None)
            self._count += 1
        if fault == "500":
            raise HttpError(500, "Internal Server Error (injected)")
        if fault == "drop":
            raise DropConnection()
        answer = self._serve(method, path, query, headers, body)
        if fault == "500-after":
            raise HttpError(500, "Internal Server Error (injected, after serving)")
        return answer

    def _serve(self, method: str, path: str, query: dict, headers, body: bytes) -> tuple[int, object, dict]:
        if path == "/token":
            return 200, self._login(body), {}
        if not path.startswith(API):
            raise HttpError(404, f"no such path {path}")
        self._local.user = self._authenticate(headers.get("Authorization", ""))
        route_path = path[len(API):]
        for route_method, pattern, function in self._routes:
            match = pattern.fullmatch(route_path)
            if route_method == method and match:
                request = Request(query=query, headers=headers, body=body)
                return function(request, *match.groups())
        self.unknown_routes.append(f"{method} {route_path}")
        raise HttpError(501, f"emulator does not implement {method} {route_path}")

    def _login(self, body: bytes) -> dict:
        payload = json.loads(body or b"{}")
        if self.m2m_users.get(payload.get("username")) != payload.get("password"):
            raise HttpError(401, "Wrong email or password.")
        return {"id_token": self.issue_token(payload["username"]), "access_token": "unused"}

    def _authenticate(self, authorization: str) -> str:
        """The email of a valid token (401 otherwise)."""
        token = authorization.removeprefix("Bearer ").strip()
        try:
            claims = jwt.decode(token, SIGNING_KEY, algorithms=["HS256"], options={"verify_aud": False})
        except jwt.PyJWTError as error:
            raise HttpError(401, f"Unauthorized: {error}") from None
        return claims.get("email", "")

    def _register_routes(self) -> None:
        from tests.dataloop_emulator import routes
        routes.register(self)


class Request:
    def __init__(self, query: dict, headers, body: bytes):
        self.query, self.headers, self.body = query, headers, body

    def json(self):
        return json.loads(self.body or b"null")

    def form(self) -> dict[str, tuple[str | None, bytes]]:
        """multipart/form-data fields: name -> (filename, bytes)."""
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            f"Content-Type: {self.headers['Content-Type']}\r\n\r\n".encode() + self.body)
        fields = {}
        for part in message.iter_parts():
            fields[part.get_param("name", header="content-disposition")] = (
                part.get_filename(), part.get_payload(decode=True))
        return fields


class _Handler(BaseHTTPRequestHandler):
    emulator: DataloopEmulator
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:
        pass

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _handle(self, method: str) -> None:
        parts = urlsplit(self.path)
        body = self._body()
        try:
            status, payload, extra_headers = self.emulator.dispatch(
                method, parts.path.rstrip("/") or "/", parse_qs(parts.query), self.headers, body)
        except DropConnection:
            self.close_connection = True
            return
        except HttpError as error:
            status, payload, extra_headers = error.status, {"message": str(error), "error": str(error)}, {}
        except Exception as error:  # an emulator bug: report it as the gate would, with the reason
            status, payload, extra_headers = 500, {"message": f"emulator error: {error!r}"}, {}
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(status)
        headers = {"Content-Type": "application/json", **extra_headers}
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self._handle("GET")

    def do_POST(self):
        self._handle("POST")

    def do_PATCH(self):
        self._handle("PATCH")

    def do_PUT(self):
        self._handle("PUT")

    def do_DELETE(self):
        self._handle("DELETE")

