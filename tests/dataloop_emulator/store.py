"""In-memory state of the Dataloop emulator: projects, datasets, items (with bytes), annotations, models, apps,
feature sets and their vectors.
"""

from __future__ import annotations

import copy
import io
import itertools
import json
import mimetypes
import threading
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import PurePosixPath

_counter = itertools.count(1)


def new_id() -> str:
    """Mongo-like 24-hex ids that grow with creation order, so keyset paging by id works."""
    return f"{int(time.time()):08x}{next(_counter):016x}"


def now() -> str:
    """An ISO time with milliseconds, as Dataloop's."""
    seconds = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{int(seconds * 1000) % 1000:03d}Z"


@dataclass
class Store:
    base_url: str = ""
    user_email: str = "pipeline@example.com"
    projects: dict[str, dict] = field(default_factory=dict)
    datasets: dict[str, dict] = field(default_factory=dict)
    items: dict[str, dict] = field(default_factory=dict)
    blobs: dict[str, bytes] = field(default_factory=dict)
    annotations: dict[str, dict] = field(default_factory=dict)
    models: dict[str, dict] = field(default_factory=dict)
    apps: dict[str, dict] = field(default_factory=dict)
    dpks: dict[str, dict] = field(default_factory=dict)
    recipes: dict[str, dict] = field(default_factory=dict)
    ontologies: dict[str, dict] = field(default_factory=dict)
    commands: dict[str, dict] = field(default_factory=dict)
    metrics: list[dict] = field(default_factory=list)
    feature_sets: dict[str, dict] = field(default_factory=dict)
    features: dict[str, dict] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock)

    # -- seeding (what the tests call) --------------------------------------------------------------------------
    def add_project(self, name: str) -> dict:
        project = {"id": new_id(), "name": name, "createdAt": now(), "org": {"id": "org-1"}, "role": "owner"}
        self.projects[project["id"]] = project
        self.add_dataset(project["id"], "Binaries", hidden=True)
        return project

    def add_dataset(self, project_id: str, name: str, labels: list[str] = (), hidden: bool = False) -> dict:
        ontology = {"id": new_id(), "roots": [{"tag": label, "displayLabel": label, "color": "#00ff00",
                                               "attributes": [], "children": []} for label in labels],
                    "attributes": [], "metadata": {"system": {}}, "creator": self.user_email}
        recipe = {"id": new_id(), "title": f"{name} recipe", "projectIds": [project_id],
                  "ontologyIds": [ontology["id"]], "metadata": {"system": {"system": False}}}
        dataset = {"id": new_id(), "name": name, "projects": [project_id], "createdAt": now(), "creator":
                   self.user_email, "annotated": 0, "itemsCount": 0, "driver": "dataloop-driver",
                   "metadata": {"system": {"recipes": [recipe["id"]], "hidden": hidden}},
                   "readableType": "dataset", "accessLevel": "owner"}
        self.ontologies[ontology["id"]] = ontology
        self.recipes[recipe["id"]] = recipe
        self.datasets[dataset["id"]] = dataset
        return dataset

    def add_item(self, dataset_id: str, remote_path: str, data: bytes, metadata: dict | None = None,
                 mode: str = "skip") -> dict:
        path = PurePosixPath("/" + remote_path.lstrip("/"))
        with self.lock:
            for existing in self.items.values():
                if existing["datasetId"] == dataset_id and existing["filename"] == str(path):
                    if mode != "overwrite":
                        return existing
                    self.blobs[existing["id"]] = data
                    existing["metadata"]["system"]["size"] = len(data)
                    existing["updatedAt"] = now()
                    return existing
            self._ensure_dirs(dataset_id, str(path.parent))
            item_id = new_id()
            mimetype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            system = {"mimetype": mimetype, "size": len(data), "originalname": path.name}
            hidden = any(part.startswith(".") and part.strip(".") for part in path.parts)  # /.modelscores, not ".."
            item = {"id": item_id, "datasetId": dataset_id, "name": path.name, "filename": str(path),
                    "dir": str(path.parent), "type": "file", "hidden": hidden, "annotated": False,
                    "annotationsCount": 0, "createdAt": now(), "updatedAt": now(), "creator": self.user_email,
                    "metadata": {**copy.deepcopy(metadata or {}),
                                 "system": {**system, **(metadata or {}).get("system", {})}},
                    "stream": f"{self.base_url}/items/{item_id}/stream",
                    "url": f"{self.base_url}/items/{item_id}"}
            self.items[item_id] = item
            self.blobs[item_id] = data
            self.datasets[dataset_id]["itemsCount"] += 1
            return item

    def _ensure_dirs(self, dataset_id: str, directory: str) -> None:
        parts = PurePosixPath(directory).parts[1:]
        for depth in range(1, len(parts) + 1):
            path = "/" + "/".join(parts[:depth])
            if not any(i["datasetId"] == dataset_id and i["filename"] == path and i["type"] == "dir"
                       for i in self.items.values()):
                item_id = new_id()
                self.items[item_id] = {"id": item_id, "datasetId": dataset_id, "name": parts[depth - 1],
                                       "filename": path, "dir": str(PurePosixPath(path).parent), "type": "dir",
                                       "hidden": False, "metadata": {"system": {}}, "createdAt": now()}

    def add_annotation(self, item_id: str, annotation: dict) -> dict:
        with self.lock:
            item = self.items[item_id]
            stored = {**copy.deepcopy(annotation), "id": new_id(), "itemId": item_id,
                      "datasetId": item["datasetId"], "createdAt": now(), "updatedAt": now(),
                      "creator": self.user_email, "updatedBy": self.user_email}
            stored.setdefault("metadata", {}).setdefault("system", {})
            self.annotations[stored["id"]] = stored
            item["annotated"] = True
            item["annotationsCount"] = sum(a["itemId"] == item_id for a in self.annotations.values())
            return stored

    def delete_annotation(self, annotation_id: str) -> None:
        with self.lock:
            annotation = self.annotations.pop(annotation_id)
            item = self.items[annotation["itemId"]]
            item["annotationsCount"] = sum(a["itemId"] == item["id"] for a in self.annotations.values())
            item["annotated"] = item["annotationsCount"] > 0

    def publish_dpk(self, dpk_json: dict) -> dict:
        """The app registry's copy of a DPK (a name and version once)."""
        missing = [key for key in ("name", "version", "components", "codebase") if not dpk_json.get(key)]
        if missing:
            raise ValueError(f"dpk: missing required field(s) {missing}")
        if any(d["name"] == dpk_json["name"] and d["version"] == dpk_json["version"] for d in self.dpks.values()):
            raise FileExistsError(f"dpk {dpk_json['name']} {dpk_json['version']} is already published")
        dpk = {**copy.deepcopy(dpk_json), "id": new_id(), "baseId": new_id(), "createdAt": now(),
               "updatedAt": now(), "creator": self.user_email}
        self.dpks[dpk["id"]] = dpk
        return dpk

    def install_app(self, project_id: str, dpk: dict, name: str | None = None) -> dict:
        """An app of `dpk` in the project; as on the platform, the DPK's models are created in the project."""
        app = {"id": new_id(), "name": name or dpk["name"], "projectId": project_id, "dpkName": dpk["name"],
               "dpkVersion": dpk["version"], "dpkId": dpk["id"], "status": "ready", "createdAt": now(),
               "scope": "project", "integrations": [], "customInstallation": {}, "metadata": {},
               "dpk": copy.deepcopy(dpk)}  # the platform returns the app with its DPK (dtlpy's models.create reads it)
        self.apps[app["id"]] = app
        for component in dpk["components"].get("models", []):
            model = {**copy.deepcopy(component), "id": new_id(), "createdAt": now(), "updatedAt": now(),
                     "creator": self.user_email, "projectId": project_id, "artifacts": [], "tags": [],
                     "context": {"project": project_id}, "metadata": {"system": {}},
                     "app": {"id": app["id"], "componentName": component["name"], "dpkName": dpk["name"],
                             "dpkVersion": dpk["version"]}}
            self.models[model["id"]] = model
        return app

    def add_app(self, project_id: str, dpk_json: dict) -> dict:
        """Publish `dpk_json` and install it in the project (the app named as the DPK)."""
        return self.install_app(project_id, self.publish_dpk(dpk_json))

    # -- views -----------------------------------------------------------------------------------------------
    def item_with_annotations(self, item: dict) -> dict:
        annotations = [a for a in self.annotations.values() if a["itemId"] == item["id"]]
        return {**copy.deepcopy(item), "annotations": copy.deepcopy(annotations)}

    def export_zip(self, items: list[dict]) -> bytes:
        """Dataloop's JSON export: one `<dir>/<stem>.json` per item, holding the item with its annotations."""
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            for item in items:
                name = str(PurePosixPath(item["filename"]).with_suffix(".json")).lstrip("/")
                archive.writestr(name, json.dumps(self.item_with_annotations(item)))
        return buffer.getvalue()
