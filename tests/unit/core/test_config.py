import json

import pytest

from movinet_pipeline.core.config import (
    ConfigError,
    PipelineConfig,
    from_mapping,
    read_config,
    resolve_config,
    write_config,
)


def test_defaults_are_the_seed_keys_users_know():
    config = PipelineConfig()
    assert (config.hub_version, config.model_id, config.model_mode, config.imgz, config.batch_size,
            config.num_epochs, config.n_frames, config.top_k, config.learning_rate) == (
        3, "a0", "base", 224, 2, 8, 13, 3, 0.001)


@pytest.mark.parametrize(
    "key, value, fragment",
    [
        ("model_id", "a9", "allowed: a0, a1, a2, a3, a4, a5"),
        ("model_mode", "live", "allowed: base, stream"),
        ("hub_version", 7, "allowed: 1, 2, 3"),
        ("imgz", 16, "imgz"),
        ("batch_size", 0, "must be >= 1"),
        ("learning_rate", -1.0, "learning_rate"),
        ("n_frames", "many", "expected a int"),
        ("jpeg_quality", 101, "jpeg_quality"),
        ("random_flip", "maybe", "expected true or false"),
        ("weights_filename", "../w.h5", "weights_filename"),
    ],
)
def test_bad_values_fail_naming_key_and_what_is_allowed(key, value, fragment):
    with pytest.raises(ConfigError) as error:
        from_mapping({key: value})
    assert key in str(error.value) and fragment in str(error.value)


def test_unknown_key_is_named():
    with pytest.raises(ConfigError, match="unknown configuration key.*modle_id"):
        from_mapping({"modle_id": "a1"})


def test_precedence_defaults_profile_file_flags(tmp_path):
    config_file = tmp_path / "run.yaml"
    config_file.write_text("imgz: 48\nnum_epochs: 3\n")
    config = resolve_config("cpu-sample", config_file, {"num_epochs": "5", "model_id": None})
    assert config.imgz == 48  # file over profile
    assert config.num_epochs == 5  # flag over file
    assert config.n_frames == 8  # profile over default
    assert config.model_id == "a0"  # unset flag keeps the default


def test_json_config_file_and_round_trip(tmp_path):
    (tmp_path / "c.json").write_text(json.dumps({"model_id": "a2", "learning_rate": 1}))
    config = resolve_config(None, tmp_path / "c.json")
    assert config.model_id == "a2" and config.learning_rate == 1.0
    write_config(config, tmp_path / "out.json")
    assert read_config(tmp_path / "out.json") == config


def test_bad_config_file_is_reported(tmp_path):
    (tmp_path / "bad.yaml").write_text("- a list\n")
    with pytest.raises(ConfigError, match="must hold a mapping"):
        resolve_config(None, tmp_path / "bad.yaml")
    with pytest.raises(ConfigError, match="cannot read config file"):
        resolve_config(None, tmp_path / "missing.yaml")


def test_derived_record_sizes_leave_room_to_augment():
    config = PipelineConfig()
    assert config.frames_per_record > config.n_frames
    assert config.short_side > config.imgz
    with pytest.raises(ConfigError, match="record_frames"):
        from_mapping({"n_frames": 8, "record_frames": 4})


def test_learning_rate_warms_up_then_decays_by_cosine_to_zero():
    from movinet_pipeline.core.model.training import learning_rate

    config = PipelineConfig(learning_rate=0.01, num_epochs=10, warmup_epochs=2)
    schedule = learning_rate(config, steps_per_epoch=5)
    rates = [float(schedule(step)) for step in range(51)]
    assert rates[0] == 0.0 and abs(rates[10] - 0.01) < 1e-9  # linear warm-up over 2 epochs to the peak
    assert all(a <= b for a, b in zip(rates[:10], rates[1:11]))
    assert all(a >= b for a, b in zip(rates[10:50], rates[11:51])) and rates[50] < 1e-6
    assert abs(rates[30] - 0.005) < 1e-4  # half-way through the decay: half the peak
    assert learning_rate(PipelineConfig(lr_schedule="constant"), 5) == PipelineConfig().learning_rate
    with pytest.raises(ConfigError, match="warmup_epochs"):
        PipelineConfig(num_epochs=3, warmup_epochs=3)


def test_a_key_that_does_nothing_under_the_others_fails_naming_both():
    with pytest.raises(ConfigError, match=r"invalid warmup_epochs=2.0: does nothing under lr_schedule=constant"):
        from_mapping({"lr_schedule": "constant", "warmup_epochs": 2})
    with pytest.raises(ConfigError, match=r"invalid eval_clips=3: more than 1 does nothing when record_frames"):
        from_mapping({"eval_clips": 3, "n_frames": 8, "record_frames": 8})
    from_mapping({"lr_schedule": "cosine", "warmup_epochs": 2})
    from_mapping({"eval_clips": 3, "n_frames": 8})  # record_frames 0: twice n_frames, windows differ
