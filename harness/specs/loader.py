"""Find, load and validate the YAML specs under `experiments/<kind>/<name>.yaml` into their typed schemas."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import ConfigKeyError, OmegaConfBaseException, ValidationError

from harness.paths import experiments_dir
from harness.specs.actions import ActionReprSpec, DecompositionSpec
from harness.specs.base import SpecError, SpecValueError
from harness.specs.data import DataSpec
from harness.specs.model import ModelSpec, is_remote_url, remote_spec
from harness.specs.probes import ProbeSetSpec
from harness.specs.recipe import RecipeSpec
from harness.specs.robot import RobotSpec, robot_config
from harness.specs.task import TaskSpec
from harness.specs.vqa import VQASuiteSpec

T = TypeVar("T")

# kind (= directory under experiments/) -> schema. Later issues register theirs here. A robot spec's schema is its
# kind's config class, chosen by its `backend` (`_schema`).
KINDS: dict[str, type] = {
    "models": ModelSpec,
    "actions": ActionReprSpec,
    "decomposition": DecompositionSpec,
    "recipes": RecipeSpec,
    "tasks": TaskSpec,
    "vqa": VQASuiteSpec,
    "robots": RobotSpec,
    "data": DataSpec,
    "probes": ProbeSetSpec,
}


@dataclass(frozen=True)
class SpecRef:
    kind: str
    name: str
    path: Path


def _root(root: Path | None) -> Path:
    return root if root is not None else experiments_dir()


def list_specs(kind: str | None = None, root: Path | None = None) -> list[SpecRef]:
    root = _root(root)
    kinds = [kind] if kind else list(KINDS)
    refs = []
    for k in kinds:
        if k not in KINDS:
            raise SpecError(f"unknown spec kind {k!r}; known kinds: {', '.join(KINDS)}")
        for path in sorted((root / k).glob("*.yaml")):
            refs.append(SpecRef(k, path.stem, path))
    return refs


def find(name: str, kind: str | None = None, root: Path | None = None) -> SpecRef:
    """Resolve `name`, `kind/name`, or a path to a YAML file."""
    if name.endswith((".yaml", ".yml")) and Path(name).is_file():
        path = Path(name).resolve()
        k = kind or path.parent.name
        if k not in KINDS:
            raise SpecError(f"{path}: cannot tell the spec kind from its directory {k!r}; put it under one of "
                            f"{', '.join(KINDS)} or pass the kind")
        return SpecRef(k, path.stem, path)
    if "/" in name:
        kind, name = name.split("/", 1)
    matches = [r for r in list_specs(kind, root) if r.name == name]
    if not matches:
        where = f"experiments/{kind}/" if kind else "experiments/"
        known = ", ".join(r.name for r in list_specs(kind, root)) or "none"
        raise SpecError(f"no spec named {name!r} under {where} (known: {known})")
    if len(matches) > 1:
        options = ", ".join(f"{r.kind}/{r.name}" for r in matches)
        raise SpecError(f"spec name {name!r} is ambiguous; write one of: {options}")
    return matches[0]


def _schema(kind: str, raw: dict[str, Any]) -> type:
    """The dataclass one file loads into: its kind's schema, or for a robot the config class of its `backend`."""
    if kind == "robots":
        return robot_config(raw.get("backend", RobotSpec.backend))
    return KINDS[kind]


def _merge(ref: SpecRef) -> DictConfig:
    try:
        raw = yaml.safe_load(ref.path.read_text())
    except yaml.YAMLError as e:
        raise SpecError(f"{ref.path}: not valid YAML: {e}") from e
    except OSError as e:
        raise SpecError(f"{ref.path}: cannot read: {e}") from e
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise SpecError(f"{ref.path}: the top level must be a mapping of keys, got {type(raw).__name__}")
    if raw.setdefault("name", ref.name) != ref.name:
        raise SpecError(f"{ref.path}: key 'name': value {raw['name']!r} must equal the file name {ref.name!r}")
    if ref.kind == "models" and raw.get("type") == "remote":  # a served model's checkpoint is the server's business
        raw.setdefault("base", str(raw.get("url")))
    try:
        schema = OmegaConf.structured(_schema(ref.kind, raw))
    except SpecValueError as e:
        raise SpecError(f"{ref.path}: {e}") from e
    try:
        return OmegaConf.merge(schema, OmegaConf.create(raw))
    except ConfigKeyError as e:
        allowed = ", ".join(OmegaConf.to_container(schema).keys()) if not e.full_key or "." not in e.full_key else ""
        hint = f"; allowed keys: {allowed}" if allowed else ""
        raise SpecError(f"{ref.path}: unknown key '{e.full_key or e.key}'{hint}") from e
    except ValidationError as e:
        raise SpecError(f"{ref.path}: key '{e.full_key}': value {e.value!r} is invalid: {str(e.msg).splitlines()[0]}") from e
    except OmegaConfBaseException as e:
        raise SpecError(f"{ref.path}: {e}") from e


def load(name: str, kind: str | None = None, root: Path | None = None) -> Any:
    """Load a spec into its dataclass, validated. `kind` narrows the search (e.g. 'models')."""
    ref = find(name, kind, root)
    cfg = _merge(ref)
    try:
        return OmegaConf.to_object(cfg)
    except SpecValueError as e:
        raise SpecError(f"{ref.path}: {e}") from e
    except OmegaConfBaseException as e:
        raise SpecError(f"{ref.path}: {e}") from e


def resolved_yaml(name: str, kind: str | None = None, root: Path | None = None) -> str:
    """The spec with every default filled in, as YAML (what `vlm2vla specs show` prints)."""
    load(name, kind, root)  # validate first
    return OmegaConf.to_yaml(_merge(find(name, kind, root)))


def load_model(name: str, root: Path | None = None) -> ModelSpec:
    """A spec under experiments/models/, or for a `ws://` / `http://` URL the served policy there (`remote_spec`):
    wherever a model name is accepted, a served policy's URL is too."""
    if is_remote_url(name):
        return remote_spec(name)
    return load(name, "models", root)


def load_task(name: str, root: Path | None = None) -> TaskSpec:
    return load(name, "tasks", root)


def load_recipe(name: str, root: Path | None = None) -> RecipeSpec:
    return load(name, "recipes", root)


def load_actions(name: str, root: Path | None = None) -> ActionReprSpec:
    return load(name, "actions", root)


def load_decomposition(name: str = "bridge", root: Path | None = None) -> DecompositionSpec:
    return load(name, "decomposition", root)


def load_vqa_suite(name: str, root: Path | None = None) -> VQASuiteSpec:
    return load(name, "vqa", root)


def load_robot(name: str, root: Path | None = None) -> RobotSpec:
    return load(name, "robots", root)


def load_data(name: str = "bridge", root: Path | None = None) -> DataSpec:
    return load(name, "data", root)


def _cross_references(refs: list[SpecRef], specs: dict[tuple[str, str], Any]) -> list[str]:
    """Names one spec uses for another must exist (a model's action representation, its training recipe)."""
    have = {(r.kind, r.name) for r in refs}
    errors = []
    for (kind, _), spec in specs.items():
        if kind != "models":
            continue
        path = next(r.path for r in refs if (r.kind, r.name) == ("models", spec.name))
        if ("actions", spec.action_repr) not in have:
            known = ", ".join(n for k, n in have if k == "actions")
            errors.append(f"{path}: key 'action_repr': value {spec.action_repr!r} names no spec under "
                          f"experiments/actions/ (known: {known})")
        if spec.recipe is not None and ("recipes", spec.recipe) not in have:
            known = ", ".join(n for k, n in have if k == "recipes")
            errors.append(f"{path}: key 'recipe': value {spec.recipe!r} names no spec under experiments/recipes/ "
                          f"(known: {known})")
    return errors


def validate_all(root: Path | None = None) -> tuple[list[SpecRef], list[str]]:
    """Load every spec; return (all refs, error messages). Nothing is skipped silently."""
    refs = list_specs(root=root)
    errors, specs = [], {}
    for ref in refs:
        try:
            specs[(ref.kind, ref.name)] = load(str(ref.path), ref.kind, root)
        except SpecError as e:
            errors.append(str(e))
    errors += _cross_references(refs, specs)
    return refs, errors
