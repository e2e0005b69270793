"""Item names are data: normalised to a relative path inside the folder, or refused with a reason."""

import pytest

from movinet_pipeline.core.item_paths import UnsafeItemName, item_relative_path


@pytest.mark.parametrize("name, expected", [
    ("/train/up_000.mp4", "train/up_000.mp4"),
    ("train//./up_000.mp4", "train/up_000.mp4"),
    ("/a b/ünïcode ✓.mp4", "a b/ünïcode ✓.mp4"),
    ("/..hidden/x..y.mp4", "..hidden/x..y.mp4"),
])
def test_safe_names_become_relative_paths(name, expected):
    assert str(item_relative_path(name)) == expected


@pytest.mark.parametrize("name", ["/../x.mp4", "a/../../x.mp4", "a\\b.mp4", "a\x00b.mp4", "a\nb.mp4", "",
                                  "/./", "D:/x.mp4", "a/" + "é" * 128 + ".mp4", "/" + "a/" * 600 + "x.mp4"])
def test_unsafe_names_are_refused(name):
    with pytest.raises(UnsafeItemName):
        item_relative_path(name)
