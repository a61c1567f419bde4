"""Loading YAML data files (manifest, mappings) with errors that name the file and the key."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

# Source checkout: <root>/manifest.yaml and <root>/mappings/. Installed package: the copies
# shipped in connector/crm/defaults/ (a test keeps them identical to the top-level files).
_PACKAGE_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = _PACKAGE_DIR.parent.parent
PACKAGED_DEFAULTS = _PACKAGE_DIR / "defaults"


class DataFileError(ValueError):
    """A manifest or mapping file is unreadable or invalid; one line per problem."""

    def __init__(self, path: str | Path, problems: list[str]):
        self.path = str(path)
        self.problems = problems
        lines = "\n".join(f"  {problem}" for problem in problems)
        super().__init__(f"{Path(path).name}: {len(problems)} problem(s)\n{lines}")


def flatten_messages(messages: Any, prefix: str = "") -> list[str]:
    """marshmallow's nested error dict as ``key.path: message`` lines."""
    if isinstance(messages, Mapping):
        lines: list[str] = []
        for key, value in messages.items():
            name = str(key) if key != "_schema" else ""
            path = f"{prefix}.{name}" if prefix and name else (prefix or name)
            lines.extend(flatten_messages(value, path))
        return lines
    if isinstance(messages, list | tuple):
        if all(isinstance(m, str) for m in messages):
            return [f"{prefix or '(top level)'}: {m}" for m in messages]
        lines = []
        for item in messages:
            lines.extend(flatten_messages(item, prefix))
        return lines
    return [f"{prefix or '(top level)'}: {messages}"]


def read_yaml(path: str | Path) -> Any:
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise DataFileError(file, [f"cannot read: {exc.strerror or exc}"]) from exc
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise DataFileError(file, [f"{where}not valid YAML ({exc})"]) from exc


def default_manifest_path() -> Path:
    top = PROJECT_ROOT / "manifest.yaml"
    return top if top.is_file() else PACKAGED_DEFAULTS / "manifest.yaml"


def default_mappings_dir() -> Path:
    top = PROJECT_ROOT / "mappings"
    return top if (top / "salesforce.yaml").is_file() else PACKAGED_DEFAULTS / "mappings"


def mappings_dir(config: Mapping[str, Any]) -> Path:
    configured = str(config.get("CX360_MAPPINGS_DIR") or "").strip()
    return Path(configured) if configured else default_mappings_dir()
