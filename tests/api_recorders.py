"""Local HTTP servers that play the Kubeflow Pipelines v2beta1 REST API (for `kfp.Client`) and the Vertex AI
Pipelines REST API (for `aiplatform.PipelineJob`) and record every request (method, path, query, JSON body or
uploaded file), so tests assert on what the clients really sent.
"""

from __future__ import annotations

import email.parser
import email.policy
import itertools
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from tests import api_schemas

API = "/apis/v2beta1"


@dataclass
class Recorded:
    method: str
    path: str
    query: dict
    headers: dict
    json: object = None
    files: dict = field(default_factory=dict)


class RecordingServer:
    """Records each request and replies with `answer(request) -> (status, JSON)`."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self._server: ThreadingHTTPServer | None = None

    def answer(self, request: Recorded) -> tuple[int, dict]:
        raise NotImplementedError

    @property
    def host(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> RecordingServer:
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def _serve(self, method: str) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                parts = urlsplit(self.path)
                headers = {key.lower(): value for key, value in self.headers.items()}
                request = Recorded(method, parts.path, parse_qs(parts.query), headers)
                content_type = self.headers.get("Content-Type", "")
                if content_type.startswith("multipart/"):
                    request.files = _multipart(content_type, body)
                elif body:
                    request.json = json.loads(body)
                recorder.requests.append(request)
                status, payload = recorder.answer(request)
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                self._serve("GET")

            def do_POST(self):
                self._serve("POST")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()



class KfpApiRecorder(RecordingServer):
    def __init__(self, final_state: str = "SUCCEEDED", polls_before_final: int = 1) -> None:
        super().__init__()
        self.pipelines: dict[str, dict] = {}
        self.experiments: dict[str, dict] = {}
        self.versions: dict[str, dict] = {}
        self.final_state, self.polls_before_final = final_state, polls_before_final
        self._ids = itertools.count(1)
        self.answered: dict[str, list[str]] = {}  # kind -> ids this server handed out, in order
        self._polls: dict[str, int] = {}
        self.rejected: list[tuple[Recorded, list[str]]] = []

    def sent(self, method: str, path: str) -> list[Recorded]:
        return [r for r in self.requests if r.method == method and r.path == API + path]

    def _id(self, kind: str) -> str:
        new = f"{kind}-{next(self._ids)}"
        self.answered.setdefault(kind, []).append(new)
        return new

    def answer(self, request: Recorded) -> tuple[int, dict]:
        problems = self._invalid(request)
        if problems:  # as grpc-gateway answers a body that does not parse into the request message
            self.rejected.append((request, problems))
            return 400, {"error": "; ".join(problems), "code": 3, "message": "; ".join(problems)}
        return self._serve(request)

    def _invalid(self, request: Recorded) -> list[str]:
        path = request.path.removeprefix(API)
        bodies = {"/experiments": api_schemas.KFP_EXPERIMENT, "/runs": api_schemas.KFP_RUN,
                  "/recurringruns": api_schemas.KFP_RECURRING_RUN}
        if request.method == "POST" and path in bodies:
            return api_schemas.violations(request.json, bodies[path])
        uploads = {"/pipelines/upload": ("name",), "/pipelines/upload_version": ("name", "pipelineid")}
        if request.method == "POST" and path in uploads:
            return ([f"missing query parameter {name}" for name in uploads[path] if not request.query.get(name)]
                    + ([] if "uploadfile" in request.files else ["missing the uploadfile part"]))
        return []

    def _serve(self, request: Recorded) -> tuple[int, dict]:
        path = request.path.removeprefix(API)
        if path == "/healthz":
            return 200, {"multi_user": False}
        if request.method == "GET" and path == "/pipelines":
            name = _filter_value(request)
            found = [p for p in self.pipelines.values() if p["display_name"] == name]
            return 200, {"pipelines": found, "total_size": len(found)}
        if path == "/pipelines/upload":
            pipeline = {"pipeline_id": self._id("pipeline"), "display_name": request.query["name"][0]}
            self.pipelines[pipeline["pipeline_id"]] = pipeline
            return 200, pipeline
        if path == "/pipelines/upload_version":
            version = {"pipeline_id": request.query["pipelineid"][0], "pipeline_version_id": self._id("version"),
                       "display_name": request.query["name"][0]}
            self.versions[version["pipeline_version_id"]] = version
            return 200, version
        if request.method == "GET" and path.startswith("/pipelines/") and path.endswith("/versions"):
            name = _filter_value(request)
            found = [v for v in self.versions.values()
                     if v["pipeline_id"] == path.split("/")[2] and v["display_name"] == name]
            return 200, {"pipeline_versions": found, "total_size": len(found)}
        if request.method == "GET" and path == "/experiments":
            name = _filter_value(request)
            return 200, {"experiments": [e for e in self.experiments.values() if e["display_name"] == name]}
        if request.method == "POST" and path == "/experiments":
            experiment = {"experiment_id": self._id("experiment"), **request.json}
            self.experiments[experiment["experiment_id"]] = experiment
            return 200, experiment
        if request.method == "POST" and path == "/runs":
            return 200, {"run_id": self._id("run"), "state": "PENDING", **request.json}
        if request.method == "GET" and path.startswith("/runs/"):
            run_id = path.split("/")[-1]
            self._polls[run_id] = self._polls.get(run_id, 0) + 1
            state = self.final_state if self._polls[run_id] > self.polls_before_final else "RUNNING"
            return 200, {"run_id": run_id, "state": state}
        if request.method == "POST" and path == "/recurringruns":
            return 200, {"recurring_run_id": self._id("recurring"), "status": "ENABLED", **request.json}
        return 404, {"error": f"recorder does not know {request.method} {request.path}"}


def _filter_value(request: Recorded) -> str | None:
    """The value of a KFP list filter's single display_name predicate."""
    predicate = json.loads(request.query.get("filter", ["{}"])[0]).get("predicates", [{}])[0]
    return predicate.get("string_value") or predicate.get("stringValue")


def _multipart(content_type: str, body: bytes) -> dict[str, bytes]:
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body)
    return {part.get_param("name", header="content-disposition"): part.get_payload(decode=True)
            for part in message.iter_parts()}


class VertexApiRecorder(RecordingServer):
    """Vertex AI over REST: pipeline jobs and custom jobs (created, then read back in their final state), schedules."""

    def __init__(self, final_state: str = "PIPELINE_STATE_SUCCEEDED",
                 custom_job_state: str = "JOB_STATE_SUCCEEDED") -> None:
        super().__init__()
        self.final_state, self.custom_job_state = final_state, custom_job_state
        self.rejected: list[tuple[Recorded, list[str]]] = []

    def sent(self, method: str, suffix: str) -> list[Recorded]:
        return [r for r in self.requests if r.method == method and r.path.endswith(suffix)]

    def answer(self, request: Recorded) -> tuple[int, dict]:
        problems = self._invalid(request)
        if problems:  # as Google's API front end answers an invalid request
            self.rejected.append((request, problems))
            return 400, {"error": {"code": 400, "message": "; ".join(problems), "status": "INVALID_ARGUMENT"}}
        return self._serve(request)

    @staticmethod
    def _invalid(request: Recorded) -> list[str]:
        if request.method != "POST":
            return []
        if request.path.endswith("/pipelineJobs"):
            job_id = request.query.get("pipelineJobId", [""])[0]
            return ([f"pipelineJobId: {error}"] if job_id and (error := api_schemas.VERTEX_JOB_ID(job_id)) else []
                    ) + api_schemas.violations(request.json, api_schemas.VERTEX_PIPELINE_JOB)
        if request.path.endswith("/schedules"):
            return api_schemas.violations(request.json, api_schemas.VERTEX_SCHEDULE)
        if request.path.endswith("/customJobs"):
            pools = (request.json.get("jobSpec") or {}).get("workerPoolSpecs") or []
            return api_schemas.violations(request.json, api_schemas.VERTEX_CUSTOM_JOB) + [
                problem for index, pool in enumerate(pools)
                for problem in api_schemas.violations(pool, api_schemas.VERTEX_WORKER_POOL,
                                                      f"workerPoolSpecs[{index}].")]
        return []

    def _serve(self, request: Recorded) -> tuple[int, dict]:
        if request.method == "POST" and request.path.endswith("/pipelineJobs"):
            job_id = request.query.get("pipelineJobId", ["job"])[0]
            return 200, {**request.json, "name": f"{request.path[len('/v1/'):]}/{job_id}",
                         "state": "PIPELINE_STATE_PENDING"}
        if request.method == "GET" and "/pipelineJobs/" in request.path:
            return 200, {"name": request.path[len("/v1/"):], "state": self.final_state}
        if request.method == "POST" and request.path.endswith("/customJobs"):
            return 200, {**request.json, "name": f"{request.path[len('/v1/'):]}/4242", "state": "JOB_STATE_PENDING"}
        if request.method == "GET" and "/customJobs/" in request.path:
            failed = self.custom_job_state == "JOB_STATE_FAILED"
            return 200, {"name": request.path[len("/v1/"):], "displayName": "job", "state": self.custom_job_state,
                         "jobSpec": {"workerPoolSpecs": []},
                         **({"error": {"code": 3, "message": "The replica workerpool1-0 exited with a non-zero "
                                                             "status of 1."}} if failed else {})}
        if request.method == "POST" and request.path.endswith("/schedules"):
            return 200, {**request.json, "name": f"{request.path[len('/v1/'):]}/schedule-1", "state": "ACTIVE"}
        return 404, {"error": {"code": 404, "message": f"recorder does not know {request.method} {request.path}"}}


class SecretManagerRecorder(RecordingServer):
    """Secret Manager over REST: `versions/<v>:access` of the secrets in `secrets` (name -> payload text); the
    secrets in `forbidden` answer 403, the rest 404. `corrupt` sends a wrong CRC32C.
    """

    def __init__(self) -> None:
        super().__init__()
        self.secrets: dict[str, str] = {}
        self.forbidden: set[str] = set()
        self.corrupt = False

    def answer(self, request: Recorded) -> tuple[int, dict]:
        import base64

        import google_crc32c

        name = request.path.removeprefix("/v1/").removesuffix(":access")
        secret, _, version = name.partition("/versions/")
        if request.method != "GET" or not request.path.endswith(":access") or not version:
            return 404, {"error": {"code": 404, "message": f"unknown {request.method} {request.path}",
                                   "status": "NOT_FOUND"}}
        if secret in self.forbidden:
            return 403, {"error": {"code": 403, "message": "Permission denied", "status": "PERMISSION_DENIED"}}
        if secret not in self.secrets:
            return 404, {"error": {"code": 404, "message": f"Secret [{secret}] not found", "status": "NOT_FOUND"}}
        data = self.secrets[secret].encode()
        checksum = google_crc32c.value(data) + (1 if self.corrupt else 0)
        return 200, {"name": f"{secret}/versions/1",
                     "payload": {"data": base64.b64encode(data).decode(), "dataCrc32c": str(checksum)}}
