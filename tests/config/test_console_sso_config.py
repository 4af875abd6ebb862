"""broker.yaml's single sign-on for the console: what is accepted, what is refused and where,
how an ID token's claim finds an approver, and the client secret taken only from the environment."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from cloud_broker.config import BrokerConfig, check_config, parse_config
from cloud_broker.errors import ConfigError

from .conftest import WriteConfig
from .samples import VALID_YAML, line_of

SECRET_ENV = "CONSOLE_SSO_CLIENT_SECRET"
SSO = {"issuer": "https://login.example.com/realms/ops", "client_id": "cloud-broker-console",
       "client_secret_env": SECRET_ENV}


def _data(**sso: Any) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(VALID_YAML)
    data["broker"] = {"public_url": "https://broker.example.com", "console_sso": {**SSO, **sso}}
    data["approvers"] = [{"name": "alice", "sso_id": "alice@example.com"}, {"name": "bob"},
                         {"name": "carol@example.com"}]
    return data


def _problems(data: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as raised:
        parse_config(data)
    return "\n".join(raised.value.problems)


def test_an_approver_is_found_by_the_sso_id_the_claim_carries() -> None:
    config = parse_config(_data())
    sso = config.broker.console_sso
    assert sso is not None and (sso.approver_claim, sso.maps_to) == ("email", "sso_id")
    found = config.approver_by_sso("alice@example.com")
    assert found is not None and found.name == "alice"
    assert config.approver_by_sso("ALICE@example.com") is None  # exact: the provider's spelling is the identity
    assert config.approver_by_sso("alice") is None and config.approver_by_sso("") is None
    assert config.approver_by_sso("carol@example.com") is None  # a name, but maps_to is sso_id


def test_maps_to_name_compares_the_claim_with_approver_names() -> None:
    config = parse_config(_data(approver_claim="preferred_username", maps_to="name"))
    found = config.approver_by_sso("carol@example.com")
    assert found is not None and found.name == "carol@example.com"
    assert config.approver_by_sso("alice@example.com") is None
    assert config.approver_by_sso("mallory") is None


def test_without_single_sign_on_no_claim_names_an_approver() -> None:
    data = _data()
    del data["broker"]["console_sso"]
    config = parse_config(data)
    assert config.approver_by_sso("alice@example.com") is None
    assert not config.may_sign_in("alice")  # no password and no single sign-on: no way in
    assert SECRET_ENV not in config.secret_env_names()


def test_who_may_sign_in_follows_passwords_and_sso_ids() -> None:
    config = parse_config(_data())
    assert config.may_sign_in("alice")  # by her sso_id
    assert not config.may_sign_in("bob") and not config.may_sign_in("nobody")
    by_name = parse_config(_data(maps_to="name"))
    assert by_name.may_sign_in("bob")  # every declared name can arrive through the provider


def test_the_client_secret_is_named_by_environment_variable_and_listed_as_a_secret() -> None:
    config: BrokerConfig = parse_config(_data())
    assert SECRET_ENV in config.secret_env_names()


@pytest.mark.parametrize(("edit", "expected"), [
    (lambda d: d["broker"].pop("public_url"), "broker: console_sso needs public_url"),
    (lambda d: d["broker"].update(public_url="http://broker.example.com"), "must be an https URL"),
    (lambda d: d["broker"]["console_sso"].update(issuer="http://login.example.com"),
     "broker.console_sso.issuer: 'http://login.example.com' must be an https URL"),
    (lambda d: d["broker"]["console_sso"].update(issuer="https://login.example.com/?tenant=a"),
     "an issuer URL has no query or fragment"),
    (lambda d: d["broker"]["console_sso"].update(issuer="file:///etc/passwd"), "is not an http(s) URL"),
    (lambda d: d["broker"]["console_sso"].update(client_secret="inline-value"),
     "broker.console_sso.client_secret: unknown key 'client_secret': did you mean 'client_secret_env'?"),
    (lambda d: d["broker"]["console_sso"].pop("client_secret_env"), "broker.console_sso.client_secret_env"),
    (lambda d: d["broker"]["console_sso"].update(client_secret_env="lower-case"), "environment variable name"),
    (lambda d: d["broker"]["console_sso"].update(client_id=""), "broker.console_sso.client_id"),
    (lambda d: d["broker"]["console_sso"].update(approver_claim="e mail"), "not a claim name"),
    (lambda d: d["broker"]["console_sso"].update(maps_to="subject"), "broker.console_sso.maps_to"),
    (lambda d: d["approvers"][1].update(sso_id="alice@example.com"), "approvers.1.sso_id: duplicate sso_id"),
    (lambda d: d["approvers"][1].update(sso_id=""), "approvers.1.sso_id"),
])
def test_a_wrong_sso_setting_is_refused_where_it_is(edit: Any, expected: str) -> None:
    data = _data()
    edit(data)
    assert expected in _problems(data)


def test_loopback_http_is_accepted_for_a_provider_and_console_on_this_machine() -> None:
    data = _data(issuer="http://127.0.0.1:9400")
    data["broker"]["public_url"] = "http://localhost:8000"
    config = parse_config(data)
    assert config.broker.console_sso is not None and config.broker.console_sso.issuer == "http://127.0.0.1:9400"


def _sso_yaml() -> str:
    return VALID_YAML.replace("approvers:\n  - name: alice\n", (
        "broker:\n  public_url: https://broker.example.com\n  console_sso:\n"
        "    issuer: https://login.example.com\n    client_id: cloud-broker-console\n"
        f"    client_secret_env: {SECRET_ENV}\n"
        "approvers:\n  - name: alice\n    sso_id: alice@example.com\n"), 1)


def test_config_check_reports_the_unset_client_secret_on_its_line(write_config: WriteConfig) -> None:
    text = _sso_yaml()
    path = write_config(text)
    assert check_config(path) == []
    assert check_config(path, env={SECRET_ENV: "set"}) == []
    where = f"{path}:{line_of(text, 'client_secret_env')}:24: broker.console_sso.client_secret_env"
    assert check_config(path, env={}) == [
        f"{where}: environment variable {SECRET_ENV} is not set: the broker will not start without it"
    ]


def test_serve_refuses_to_start_without_the_client_secret(write_config: WriteConfig, tmp_path: Path) -> None:
    path = write_config(_sso_yaml())
    env = {k: v for k, v in os.environ.items() if k != SECRET_ENV}
    done = subprocess.run([sys.executable, "-m", "cloud_broker", "serve", "--config", str(path), "--state-dir",
                           str(tmp_path / "state"), "--port", "0"], capture_output=True, text=True, timeout=120,
                          check=False, env=env)
    assert done.returncode == 1
    assert f"broker.console_sso.client_secret_env: environment variable {SECRET_ENV} is not set" in done.stderr
    assert not (tmp_path / "state" / "broker.db").exists()


def test_the_readme_example_is_valid_and_means_what_it_says() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Single sign-on", 1)[1]
    block = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    data: dict[str, Any] = {**yaml.safe_load(VALID_YAML), **yaml.safe_load(block)}
    config = parse_config(data)
    sso = config.broker.console_sso
    assert sso is not None and sso.client_secret_env == SECRET_ENV
    found = config.approver_by_sso("alice@example.com")
    assert found is not None and found.name == "alice"
    assert config.may_sign_in("alice") and not config.may_sign_in("bob")
