"""The serving and deploy settings come from lakeside.config, with no default model."""

import pytest

from lakeside.config import serving

SERVING_VARS = ["LAKESIDE_SERVE_MODEL", "LAKESIDE_SERVE_ALIAS", "LAKESIDE_SERVE_MODEL_TAG", "LAKESIDE_SERVE_WATCH_S",
                "LAKESIDE_SERVE_MAX_ROWS", "LAKESIDE_SERVE_MAX_BATCH_ROWS", "LAKESIDE_SERVE_MAX_BODY_MB",
                "LAKESIDE_SERVE_HOST", "LAKESIDE_SERVE_PORT", "LAKESIDE_DEPLOY_TARGET", "BENTOML_HOME",
                "LAKESIDE_SERVE_API_KEY", "LAKESIDE_SERVE_API_KEY_FILE"]


@pytest.fixture()
def clean(monkeypatch, lakeside_home):
    for name in SERVING_VARS:
        monkeypatch.delenv(name, raising=False)
    return lakeside_home


def test_defaults_name_no_model(clean):
    config = serving()

    assert config.model is None and config.model_tag is None
    assert (config.alias, config.watch_s, config.port, config.host) == ("champion", 15.0, 3000, "127.0.0.1")
    assert (config.max_rows, config.max_batch_rows, config.max_body_bytes) == (10_000, 1024, 32 * 1024 * 1024)
    assert config.deploy_target == "local"
    assert config.bentoml_home == clean / "bentoml"
    assert config.api_key is None and config.api_key_file is None


def test_the_environment_sets_them(clean, monkeypatch, tmp_path):
    monkeypatch.setenv("LAKESIDE_SERVE_MODEL", "sales")
    monkeypatch.setenv("LAKESIDE_SERVE_PORT", "3100")
    monkeypatch.setenv("LAKESIDE_SERVE_MAX_BODY_MB", "0.5")
    monkeypatch.setenv("LAKESIDE_DEPLOY_TARGET", "bento")
    monkeypatch.setenv("BENTOML_HOME", str(tmp_path / "store"))
    monkeypatch.setenv("LAKESIDE_SERVE_API_KEY_FILE", str(tmp_path / "key"))

    config = serving()

    assert (config.model, config.port, config.max_body_bytes) == ("sales", 3100, 512 * 1024)
    assert config.deploy_target == "bento"
    assert config.bentoml_home == tmp_path / "store"
    assert config.api_key_file == tmp_path / "key"


@pytest.mark.parametrize("name, value", [("LAKESIDE_DEPLOY_TARGET", "cloud"), ("LAKESIDE_SERVE_PORT", "many")])
def test_bad_values_are_named(clean, monkeypatch, name, value):
    monkeypatch.setenv(name, value)

    with pytest.raises(ValueError, match=name):
        serving()


def test_the_access_log_is_on_unless_switched_off_and_bentoml_s_own_is_always_off(clean, monkeypatch):
    from lakeside.serving.base import service_config

    assert serving().access_log is True
    assert service_config("lakeside")["logging"] == {"access": {"enabled": False}}
    monkeypatch.setenv("LAKESIDE_SERVE_ACCESS_LOG", "false")
    assert serving().access_log is False
    config = service_config("lakeside_image")
    assert config["logging"] == {"access": {"enabled": False}} and config["name"] == "lakeside_image"
