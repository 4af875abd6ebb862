"""Loading broker.yaml: every problem at once, each with the line it is on.

The stages (YAML syntax, per-entry validation, cross-references) all run before anything is
reported, because an operator fixing one error per restart is an operator who gives up.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from cloud_broker.config.broker_config import BrokerConfig
from cloud_broker.config.cross_check import Entries, cross_check
from cloud_broker.config.environment import missing_secrets
from cloud_broker.config.family import composed_model
from cloud_broker.config.problems import Problem, from_validation_error
from cloud_broker.config.yaml_source import YamlDocument, YamlSyntaxError, duplicate_keys, parse_yaml
from cloud_broker.errors import ConfigError
from cloud_broker.plugins import Families

_SECTIONS_HINT = ("expected a mapping with the sections broker, approvers, notifications, teams, hosts, agents "
                  "and each cloud's own (aws_accounts and ceilings, gcp_projects and gcp_ceilings)")


def load_config(path: Path) -> BrokerConfig:
    """The validated configuration; raises ``ConfigError`` listing every problem with its location."""
    config, problems = _analyse(Path(path))
    if config is None:
        raise ConfigError(problems)
    return config


def check_config(path: Path, env: Mapping[str, str] | None = None) -> list[str]:
    """Every problem of the file as ``path:line:column: location: message``; empty when valid.

    With ``env``, the secrets the file names by environment variable must be set in it too.
    """
    config, problems = _analyse(Path(path))
    if config is None or env is None:
        return problems
    document = parse_yaml(Path(path).read_text(encoding="utf-8"))
    return _render(str(path), document, missing_secrets(config, env))


def parse_config(data: Any, source: str = "<config>", families: Families | None = None) -> BrokerConfig:
    """Like ``load_config`` for data already in memory (tests, generated configs); no line numbers.
    ``families``: the installed ones unless given."""
    config, problems = validate(data, families)
    if config is None:
        raise ConfigError([problem.render(source, None) for problem in problems])
    return config


def validate(data: Any, families: Families | None = None) -> tuple[BrokerConfig | None, list[Problem]]:
    """The configuration (None if there is any problem) and the problems, unrendered."""
    if data is None:
        return None, [Problem((), f"the file is empty: {_SECTIONS_HINT}")]
    if not isinstance(data, Mapping):
        return None, [Problem((), _SECTIONS_HINT)]
    model = composed_model(families)
    try:
        config: BrokerConfig | None = model.model_validate(data)
        problems: list[Problem] = []
    except ValidationError as exc:
        config, problems = None, from_validation_error(exc, model)
    entries = Entries.of(config) if config else Entries.salvage(data, model)
    problems += cross_check(data, entries, model)
    return (None if problems else config), problems


def _analyse(path: Path) -> tuple[BrokerConfig | None, list[str]]:
    try:
        document = parse_yaml(path.read_text(encoding="utf-8"))
    except OSError as exc:
        return None, [f"{path}: cannot read the configuration: {exc.strerror or exc}"]
    except UnicodeDecodeError as exc:
        return None, [f"{path}: not UTF-8 text (byte {exc.start})"]
    except YamlSyntaxError as exc:
        return None, [f"{path}:{exc.position.line}:{exc.position.column}: (syntax): {exc.message}"]
    config, problems = validate(document.data)
    problems += _duplicate_key_problems(document)
    return (None if problems else config), _render(str(path), document, problems)


def _duplicate_key_problems(document: YamlDocument) -> list[Problem]:
    return [Problem(loc, message, position=where) for loc, where, message in duplicate_keys(document.root)]


def _render(source: str, document: YamlDocument, problems: list[Problem]) -> list[str]:
    ordered = sorted(problems, key=lambda problem: problem.sort_key(document))
    return [problem.render(source, document) for problem in ordered]
