"""LICENSE and CITATION.cff: present, valid, and in step with pyproject.toml.

CITATION.cff is validated the way cffconvert 2.0 validates a CFF 1.2.0 file: YAML read safely
with dates kept as strings, then checked with jsonschema (draft 7, with format checks) against
the CFF 1.2.0 schema. The schema is vendored in ``tests/data/cff-1.2.0.schema.json`` (the file
cffconvert 2.0.0 ships, from citation-file-format/citation-file-format, CC-BY-4.0), because
cffconvert itself cannot be installed beside xemu: cffconvert 2.0.0 (the latest release) requires
jsonschema < 4 and xemu jsonschema >= 4.18. Where a ``cffconvert`` command is on the PATH (e.g.
installed with pipx), it is run too.
"""

import hashlib
import json
import shutil
import subprocess
import tomllib
from pathlib import Path

import jsonschema
import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
CITATION = REPO / "CITATION.cff"
SCHEMA = Path(__file__).resolve().parent / "data" / "cff-1.2.0.schema.json"
#: sha256 of the Apache License 2.0 as published at https://www.apache.org/licenses/LICENSE-2.0.txt
APACHE_2_SHA256 = "cfc7749b96f63bd31c3c42b5c471bf756814053e847c10f3eb003417bc523d30"


class _CffLoader(yaml.SafeLoader):
    """Safe YAML with timestamps read as strings (CFF dates are strings), as cffconvert does."""


_CffLoader.add_constructor("tag:yaml.org,2002:timestamp", _CffLoader.construct_yaml_str)


def validate_cff(path: Path) -> dict:
    """Raise :class:`jsonschema.ValidationError` unless ``path`` is a valid CFF 1.2.0 file; return it."""
    cff = yaml.load(path.read_text(encoding="utf-8"), Loader=_CffLoader)
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    jsonschema.Draft7Validator(schema, format_checker=jsonschema.FormatChecker()).validate(cff)
    return cff


def _cffconvert(path: Path) -> subprocess.CompletedProcess | None:
    exe = shutil.which("cffconvert")
    if exe is None:
        return None
    return subprocess.run([exe, "--validate", "-i", str(path)], capture_output=True, text=True, timeout=120)


def _pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def test_citation_is_valid_cff():
    cff = validate_cff(CITATION)
    assert cff["cff-version"] == "1.2.0" and cff["type"] == "software"
    assert cff["title"] == "xemu: xarray-native emulation of climate models"
    assert cff["authors"] == [{"name": "The xemu developers"}]
    done = _cffconvert(CITATION)
    if done is not None:
        assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("change", ["type: software -> type: program", "drop the title", "drop the authors",
                                    "license: Apache-2.0 -> license: Apache 2"])
def test_a_broken_citation_is_rejected(tmp_path, change):
    text = CITATION.read_text(encoding="utf-8")
    if change == "drop the title":
        broken = "".join(line for line in text.splitlines(True) if not line.startswith("title:"))
    elif change == "drop the authors":
        broken = text.replace('authors:\n  - name: "The xemu developers"\n', "")
    else:
        old, new = change.split(" -> ")
        broken = text.replace(old, new)
    assert broken != text
    path = tmp_path / "CITATION.cff"
    path.write_text(broken, encoding="utf-8")
    with pytest.raises(jsonschema.ValidationError):
        validate_cff(path)
    done = _cffconvert(path)
    if done is not None:
        assert done.returncode != 0


def test_citation_matches_pyproject():
    cff, project = validate_cff(CITATION), _pyproject()
    assert str(cff["version"]) == project["version"]
    assert cff["license"] == project["license"] == "Apache-2.0"


def test_license_is_the_apache_2_text():
    text = (REPO / "LICENSE").read_bytes()
    assert hashlib.sha256(text).hexdigest() == APACHE_2_SHA256
    assert b"Apache License\n                           Version 2.0, January 2004" in text
