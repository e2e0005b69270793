"""The gate's endpoints that dtlpy uses for export, model registration, prediction and embeddings."""

from __future__ import annotations

import copy
import json
import re

from tests.dataloop_emulator import dql
from tests.dataloop_emulator.server import DataloopEmulator, HttpError, Request
from tests.dataloop_emulator.store import new_id, now

ID = r"([0-9a-zA-Z-]+)"


def _get(table: dict, entity_id: str, kind: str) -> dict:
    if entity_id not in table:
        raise HttpError(404, f"{kind} not found: {entity_id}")
    return table[entity_id]


def _projects_of(store, entity: dict) -> list[str]:
    """The projects an entity belongs to (whose members may see it)."""
    if "projects" in entity:  # a dataset
        return entity["projects"]
    if "datasetId" in entity:  # an item or an annotation
        return store.datasets.get(entity["datasetId"], {}).get("projects", [])
    if "projectIds" in entity:  # a recipe
        return entity["projectIds"]
    if entity.get("projectId"):  # a model or an app
        return [entity["projectId"]]
    if isinstance(entity.get("project"), str):  # a feature set or a feature vector
        return [entity["project"]]
    return [entity["id"]] if entity.get("id") in store.projects else []


def _visible(emulator: DataloopEmulator, entities: list[dict]) -> list[dict]:
    def allowed(entity: dict) -> bool:
        try:
            emulator.check_access(_projects_of(emulator.store, entity))
        except HttpError:
            return False
        return True
    return [entity for entity in entities if allowed(entity)]


def _ok(payload) -> tuple[int, object, dict]:
    return 200, payload, {}


def _deep_merge(target: dict, patch: dict) -> None:
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _deep_merge(target[key], value)
        else:
            target[key] = copy.deepcopy(value)


def register(emulator: DataloopEmulator) -> None:
    store = emulator.store
    route = emulator.route

    def get(table: dict, entity_id: str, kind: str) -> dict:
        """The entity, 404 if there is none, 403 if the current user is not a member of its project."""
        entity = _get(table, entity_id, kind)
        emulator.check_access(_projects_of(store, entity))
        return entity

    # -- GET by id -------------------------------------------------------------------------------------------------
    by_id = [("projects", store.projects, "project"), ("datasets", store.datasets, "dataset"),
             ("recipes", store.recipes, "recipe"), ("ontologies", store.ontologies, "ontology"),
             ("items", store.items, "item"), ("commands", store.commands, "command"),
             ("annotations", store.annotations, "annotation"), ("apps", store.apps, "app"),
             ("app-registry", store.dpks, "dpk"), ("ml/models", store.models, "model")]
    for collection, table, kind in by_id:
        route("GET", f"/{collection}/{ID}")(
            lambda request, entity_id, table=table, kind=kind: _ok(get(table, entity_id, kind)))

    # -- users / projects / datasets -----------------------------------------------------------------------------
    @route("GET", "/users/me")
    def me(request: Request):
        return _ok({"id": store.user_email, "email": store.user_email, "username": store.user_email})

    @route("POST", "/datasets/query")
    def query_datasets(request: Request):
        body = request.json()
        projects = set((body.get("context") or {}).get("projects") or [])
        emulator.check_access(projects)
        datasets = [d for d in _visible(emulator, list(store.datasets.values()))
                    if not projects or projects & set(d["projects"])]
        if not body.get("systemSpace"):
            datasets = [d for d in datasets if not d["metadata"]["system"].get("hidden")]
        return _ok(dql.run_query(datasets, body))

    # -- items -----------------------------------------------------------------------------------------------------
    @route("POST", f"/datasets/{ID}/query")
    def query_dataset(request: Request, dataset_id: str):
        get(store.datasets, dataset_id, "dataset")
        body = request.json()
        if body.get("resource") == "annotations":
            annotations = [a for a in store.annotations.values() if a["datasetId"] == dataset_id]
            if body.get("delete"):
                doomed = [a["id"] for a in annotations if dql.matches(a, body.get("filter"))]
                for annotation_id in doomed:
                    store.delete_annotation(annotation_id)
                return _ok({"deleted": len(doomed)})
            return _ok(dql.run_query(annotations, body))
        items = [i for i in store.items.values() if i["datasetId"] == dataset_id]
        return _ok(dql.run_query(items, body))

    @route("GET", f"/items/{ID}/stream")
    def stream_item(request: Request, item_id: str):
        get(store.items, item_id, "item")
        data = store.blobs[item_id]
        match = re.fullmatch(r"bytes=(\d+)-(\d*)", request.headers.get("Range") or "")
        if not match:
            return 200, data, {"Content-Type": "application/octet-stream"}
        start = int(match.group(1))
        end = int(match.group(2)) if match.group(2) else len(data) - 1
        return 206, data[start:end + 1], {"Content-Type": "application/octet-stream",
                                          "Content-Range": f"bytes {start}-{end}/{len(data)}"}

    @route("POST", f"/datasets/{ID}/items")
    def upload_item(request: Request, dataset_id: str):
        get(store.datasets, dataset_id, "dataset")
        form = request.form()
        path = form["path"][1].decode()
        metadata = json.loads(form["metadata"][1]) if "metadata" in form else None
        item = store.add_item(dataset_id, path, form["file"][1], metadata, mode=request.query.get("mode", ["skip"])[0])
        return _ok(item)

    @route("DELETE", f"/items/{ID}")
    def delete_item(request: Request, item_id: str):
        get(store.items, item_id, "item")
        store.items.pop(item_id)
        store.blobs.pop(item_id, None)
        return _ok({})

    # -- export (dataset.download with annotation_options) -----------------------------------------------------
    @route("POST", f"/datasets/{ID}/export")
    def export_dataset(request: Request, dataset_id: str):
        dataset = get(store.datasets, dataset_id, "dataset")
        body = request.json() or {}
        items = [i for i in store.items.values() if i["datasetId"] == dataset_id]
        query = (body.get("itemsQuery") or {}).get("filter")
        items = [i for i in items if i["type"] == "file" and dql.matches(i, query)]
        exports = next((d for d in store.datasets.values() if d["name"] == "Exports"
                        and d["projects"] == dataset["projects"]), None)
        exports = exports or store.add_dataset(dataset["projects"][0], "Exports", hidden=True)
        if body.get("exportType") == "json":  # the newer flow: one JSON list of items with their annotations
            content = json.dumps([store.item_with_annotations(item) for item in items]).encode()
            output = store.add_item(exports["id"], f"/exports/{new_id()}.json", content)
        else:  # dataset.download(annotation_options=[JSON]): a zip of <dir>/<stem>.json files
            output = store.add_item(exports["id"], f"/exports/{new_id()}.zip", store.export_zip(items))
        command = {"id": new_id(), "type": "ExportDatasetAsJson", "status": "success", "progress": 100,
                   "url": f"{store.base_url}/commands/placeholder", "createdAt": now(), "updatedAt": now(),
                   "spec": {"outputItemId": output["id"]}, "error": None}
        command["url"] = f"{store.base_url}/commands/{command['id']}"
        store.commands[command["id"]] = command
        return _ok(command)

    # -- annotations -------------------------------------------------------------------------------------------
    @route("GET", f"/items/{ID}/annotations")
    def list_item_annotations(request: Request, item_id: str):
        get(store.items, item_id, "item")
        return _ok([a for a in store.annotations.values() if a["itemId"] == item_id])

    @route("POST", f"/items/{ID}/annotations")
    def upload_annotations(request: Request, item_id: str):
        get(store.items, item_id, "item")
        body = request.json()
        return _ok([store.add_annotation(item_id, annotation) for annotation in body])

    # -- apps / dpks -------------------------------------------------------------------------------------------
    @route("POST", "/apps/query")
    def query_apps(request: Request):
        return _ok(dql.run_query(_visible(emulator, list(store.apps.values())), request.json()))

    @route("POST", "/app-registry")
    def publish_dpk(request: Request):
        payload = request.json()
        project_id = (payload.get("context") or {}).get("project")
        get(store.projects, project_id, "project")
        emulator.check_access([project_id])
        try:
            return _ok(store.publish_dpk(payload))
        except ValueError as error:
            raise HttpError(400, str(error)) from None
        except FileExistsError as error:
            raise HttpError(409, str(error)) from None

    @route("POST", "/apps")
    def install_app(request: Request):
        payload = request.json()
        get(store.projects, payload.get("projectId"), "project")
        emulator.check_access([payload["projectId"]])
        dpks = [d for d in store.dpks.values()
                if d["name"] == payload.get("dpkName") and d["version"] == payload.get("dpkVersion")]
        if not dpks:
            raise HttpError(404, f"dpk not found: {payload.get('dpkName')} {payload.get('dpkVersion')}")
        if any(a["name"] == payload.get("name") and a["projectId"] == payload["projectId"]
               for a in store.apps.values()):
            raise HttpError(409, f"app named {payload.get('name')!r} already exists in project")
        return _ok(store.install_app(payload["projectId"], dpks[0], payload.get("name")))

    # -- models ------------------------------------------------------------------------------------------------
    def _new_model(payload: dict, status: str = "created") -> dict:
        model = {"id": new_id(), "createdAt": now(), "updatedAt": now(), "creator": store.user_email,
                 "status": status, "artifacts": [], "labels": [], "configuration": {}, "tags": [],
                 "metadata": {"system": {}}, "scope": "project", "context": {}, **copy.deepcopy(payload)}
        model.setdefault("context", {})["project"] = payload.get("projectId")
        if any(m["name"] == model["name"] and m.get("projectId") == model.get("projectId")
               for m in store.models.values()):
            raise HttpError(409, f"model named {model['name']!r} already exists in project")
        store.models[model["id"]] = model
        return model

    @route("POST", "/ml/models")
    def create_model(request: Request):
        payload = request.json()
        get(store.projects, payload.get("projectId"), "project")
        return _ok(_new_model(payload, payload.get("status") or "created"))

    @route("PATCH", f"/ml/models/{ID}")
    def patch_model(request: Request, model_id: str):
        model = get(store.models, model_id, "model")
        patch = request.json()
        for key, value in patch.items():
            if key in ("labels", "configuration", "artifacts"):
                model[key] = copy.deepcopy(value)
            elif isinstance(value, dict) and isinstance(model.get(key), dict):
                _deep_merge(model[key], value)
            else:
                model[key] = copy.deepcopy(value)
        model["updatedAt"] = now()
        return _ok(model)

    @route("DELETE", f"/ml/models/{ID}")
    def delete_model(request: Request, model_id: str):
        get(store.models, model_id, "model")
        store.models.pop(model_id)
        return _ok({})

    @route("POST", "/ml/models/query")
    def query_models(request: Request):
        body = request.json()
        projects = (body.get("context") or {}).get("projects")
        emulator.check_access(projects)
        models = _visible(emulator, list(store.models.values()))
        if projects:
            models = [m for m in models if m.get("projectId") in projects]
        return _ok(dql.run_query(models, body))

    @route("POST", f"/ml/models/{ID}/clone")
    def clone_model(request: Request, model_id: str):
        source = get(store.models, model_id, "model")
        payload = request.json()
        clone = {key: copy.deepcopy(value) for key, value in source.items()
                 if key not in ("id", "createdAt", "updatedAt", "name", "status", "artifacts")}
        clone.update(copy.deepcopy(payload))
        clone["metadata"] = {**clone.get("metadata", {}), "system": {
            **clone.get("metadata", {}).get("system", {}), "clonedFrom": model_id}}
        return _ok(_new_model(clone, payload.get("status") or "created"))

    # -- metrics ---------------------------------------------------------------------------------------------------
    @route("POST", "/ml/metrics/publish")
    def publish_metrics(request: Request):
        samples = request.json()
        store.metrics.extend(samples if isinstance(samples, list) else [samples])
        return _ok(samples)

    @route("POST", "/ml/metrics/query")
    def query_metrics(request: Request):
        return _ok(dql.run_query(store.metrics, request.json()))

    # -- feature sets and vectors (embeddings) ---------------------------------------------------------------------
    @route("POST", "/features/sets")
    def create_feature_set(request: Request):
        payload = request.json()
        missing = [key for key in ("name", "size", "type", "project", "entityType") if not payload.get(key)]
        if missing:
            raise HttpError(400, f"feature set: missing required field(s) {missing}")
        if not isinstance(payload["size"], int) or payload["size"] < 1:
            raise HttpError(400, f"feature set size must be a positive integer, not {payload['size']!r}")
        get(store.projects, payload["project"], "project")
        if any(existing["name"] == payload["name"] and existing["project"] == payload["project"]
               for existing in store.feature_sets.values()):
            raise HttpError(409, f"feature set named {payload['name']!r} already exists in project")
        feature_set = {"id": new_id(), "createdAt": now(), "creator": store.user_email, "url": "", **payload}
        store.feature_sets[feature_set["id"]] = feature_set
        return _ok([feature_set])

    route("GET", f"/features/sets/{ID}")(
        lambda request, set_id: _ok(get(store.feature_sets, set_id, "feature set")))

    @route("POST", "/features/sets/query")
    def query_feature_sets(request: Request):
        return _ok(dql.run_query(_visible(emulator, list(store.feature_sets.values())), request.json()))

    @route("POST", "/features/vectors")
    def create_features(request: Request):
        created = []
        for vector in request.json():
            feature_set = get(store.feature_sets, vector.get("featureSetId"), "feature set")
            get(store.items, vector.get("entityId"), "item")
            value = vector.get("value")
            if not isinstance(value, list) or len(value) != feature_set["size"] or \
                    not all(isinstance(v, int | float) for v in value):
                raise HttpError(400, f"feature vector of item {vector['entityId']}: expected {feature_set['size']} "
                                     f"numbers for feature set {feature_set['name']!r}")
            feature = {"id": new_id(), "createdAt": now(), "creator": store.user_email, "url": "", **vector}
            store.features[feature["id"]] = feature
            created.append(feature)
        return _ok(created)

    @route("POST", "/features/vectors/query")
    def query_features(request: Request):
        return _ok(dql.run_query(_visible(emulator, list(store.features.values())), request.json()))
