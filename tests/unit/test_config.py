"""Settings precedence: defaults < TOML < environment < command line."""

from pathlib import Path

import pytest

from kikoto.config import load_settings


def test_precedence(tmp_path):
    config = tmp_path / "kikoto.toml"
    config.write_text('listen = "127.0.0.1:6000"\ndata-dir = "/srv/a"\nworkers = 3\npublic_host = "reg.example"\n')
    settings = load_settings(config, {"workers": None}, environ={"KIKOTO_DATA_DIR": "/srv/b"})
    assert settings.listen == "127.0.0.1:6000"
    assert settings.data_dir == Path("/srv/b")
    assert settings.workers == 3
    assert settings.public_host == "reg.example"
    settings = load_settings(config, {"workers": 1, "listen": "0.0.0.0:7000"}, environ={"KIKOTO_WORKERS": "2"})
    assert settings.workers == 1 and settings.port == 7000
    assert load_settings(None, {}, environ={}).database.startswith("sqlite:///")


def test_bad_settings_are_refused(tmp_path):
    config = tmp_path / "kikoto.toml"
    config.write_text('colour = "blue"\n')
    with pytest.raises(ValueError, match="unknown setting"):
        load_settings(config, {}, environ={})
    with pytest.raises(ValueError):
        load_settings(None, {"listen": "nowhere"}, environ={})
    with pytest.raises(ValueError):
        load_settings(None, {"tls_cert": "/x"}, environ={})


def test_the_scheme_of_returned_urls_follows_where_tls_ends():
    """TLS at a balancer in front: the replica serves HTTP, but the URLs it gives are https."""
    plain = load_settings(None, {}, environ={})
    assert plain.scheme == plain.serving_scheme == "http"
    behind = load_settings(None, {}, environ={"KIKOTO_PUBLIC_SCHEME": "https"})
    assert behind.scheme == "https" and behind.serving_scheme == "http"
    with pytest.raises(ValueError, match="public_scheme must be http or https"):
        load_settings(None, {}, environ={"KIKOTO_PUBLIC_SCHEME": "ftp"})
