"""The AWS profile the resolver writes: quoted for botocore's split, replaced in place, nothing else touched."""

from __future__ import annotations

import shlex
from pathlib import Path

from cloud_broker.cli.aws_profile import credential_process_line, profile_section, replace_section, write_profile

REF = "secret_ref://aws/runs/11111111-1111-4111-8111-111111111111/22222222-2222-4222-8222-222222222222"


def test_the_command_line_splits_back_into_its_words_even_with_spaces_in_the_path() -> None:
    command = ["/opt/my tools/cloud-broker"]
    line = credential_process_line(REF, command)
    assert shlex.split(line) == ["/opt/my tools/cloud-broker", "credential-process", REF]


def test_a_section_of_the_same_name_is_replaced_and_the_rest_kept(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.write_text("# mine\n[default]\nregion = eu-west-1\n\n[profile task]\nregion = old\n"
                      "credential_process = /old\n[profile other]\nregion = us-east-1\n")
    section = profile_section("task", REF, "us-east-1", ["/usr/bin/cloud-broker"])
    write_profile(config, "task", section)
    first = config.read_text()
    write_profile(config, "task", section)
    assert config.read_text() == first
    assert first.count("[profile task]") == 1 and "/old" not in first and "region = old" not in first
    assert "# mine\n[default]\nregion = eu-west-1" in first and "[profile other]\nregion = us-east-1" in first
    assert first.endswith(section)


def test_default_is_written_as_default() -> None:
    section = profile_section("default", REF, command=["/x/cloud-broker"])
    assert section.startswith("[default]\n")
    assert replace_section("[default]\nregion = a\n", "default", section) == section


def test_a_new_file_is_private(tmp_path: Path) -> None:
    config = tmp_path / ".aws" / "config"
    write_profile(config, "task", profile_section("task", REF, command=["/x/cloud-broker"]))
    assert config.stat().st_mode & 0o777 == 0o600
