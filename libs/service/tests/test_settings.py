"""Settings read from the environment as operators set them."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from omni_service.settings import ServiceSettings


class _WithSecret(ServiceSettings):
    channel_secret: SecretStr | None = None


def test_a_secret_mounted_from_a_file_loses_its_trailing_newline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHANNEL_SECRET", "0123456789abcdef\n")
    monkeypatch.setenv("OMNI_API_TOKEN", "  token-with-spaces ")
    settings = _WithSecret()
    assert settings.channel_secret is not None
    assert settings.channel_secret.get_secret_value() == "0123456789abcdef"
    assert settings.omni_api_token.get_secret_value() == "token-with-spaces"


def test_other_settings_are_left_as_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOG_LEVEL", "DEBUG")
    monkeypatch.delenv("CHANNEL_SECRET", raising=False)
    settings = _WithSecret()
    assert settings.log_level == "DEBUG"
    assert settings.channel_secret is None
