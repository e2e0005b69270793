"""Fill the emulator from a Dataloop download folder (items/ + json/), as if a user had uploaded it."""

from __future__ import annotations

import json
from pathlib import Path

from tests.dataloop_emulator.store import Store


def seed_dataset(store: Store, project_id: str, name: str, folder: Path) -> dict:
    """Create dataset `name` holding every item of `folder` with its annotations; return the dataset JSON."""
    records = [json.loads(path.read_text()) for path in sorted((folder / "json").rglob("*.json"))]
    labels = sorted({a["label"] for record in records for a in record.get("annotations", []) if a.get("label")})
    dataset = store.add_dataset(project_id, name, labels=labels)
    for record in records:
        data = (folder / "items" / record["filename"].lstrip("/")).read_bytes()
        system = {k: v for k, v in record.get("metadata", {}).get("system", {}).items() if k != "size"}
        item = store.add_item(dataset["id"], record["filename"], data, {"system": system})
        for annotation in record.get("annotations", []):
            store.add_annotation(item["id"], {k: v for k, v in annotation.items() if k not in ("id", "itemId")})
    return dataset


def upload_download_folder(dl, dataset, folder: Path) -> int:
    """Upload a download folder's videos and their `class` annotations through dtlpy, as a user would."""
    records = [json.loads(path.read_text()) for path in sorted((folder / "json").rglob("*.json"))]
    by_dir: dict[str, list[dict]] = {}
    for record in records:
        by_dir.setdefault(record["dir"], []).append(record)
    for directory, group in by_dir.items():
        paths = [str(folder / "items" / record["filename"].lstrip("/")) for record in group]
        list(dataset.items.upload(local_path=paths, remote_path=directory) or [])
    for record in records:
        item = dataset.items.get(filepath=record["filename"])
        builder = item.annotations.builder()
        for object_id, annotation in enumerate(record.get("annotations", []), start=1):
            frames = annotation["metadata"]["system"]
            builder.add(annotation_definition=dl.Classification(label=annotation["label"]), object_id=object_id,
                        frame_num=frames.get("frame", 0), end_frame_num=frames.get("endFrame"))
        item.annotations.upload(builder)
    return len(records)
