"""The local runner's parameters: paths become absolute (steps run in other folders), the rest is passed as given."""

from pathlib import Path

from movinet_pipeline.app.local_run import baseline_location


def test_a_baseline_folder_is_made_absolute_and_none_or_a_uri_is_passed_as_given(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert baseline_location("models/prod") == str(tmp_path / "models" / "prod")
    assert Path(baseline_location("models/prod")).is_absolute()
    assert baseline_location("none") == "none"  # turns the comparison off; not a folder named "none"
    assert baseline_location("") == ""
    assert baseline_location("dataloop://m1") == "dataloop://m1"
