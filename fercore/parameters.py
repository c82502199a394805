"""The chapters and the parameters each runs with: chapter ids and their notebooks, the profiles
of ``profiles.yaml``, ``-p`` overrides checked against the types of a notebook's parameters cell,
and the profile and device the runner injects.
"""

import ast
import math
from pathlib import Path

import nbformat
import yaml

import fercore


CHAPTERS = {
    "data": "01_data",
    "em": "02_em",
    "stats": "03_stats",
    "handcrafted": "04_handcrafted",
    "dlp_dbm": "05_dlp_dbm",
    "domain_adaptation": "06_domain_adaptation",
    "sjmt": "07_sjmt",
    "semantic_ae": "08_semantic_ae",
    "real_photos": "09_real_photos",
}
"""Stable chapter ids and their notebook names, in book order."""


INJECTED = ("profile", "device")
"""Parameters the runner sets itself on every chapter."""


PROFILES_FILE = Path(fercore.__file__).with_name("profiles.yaml")


def load_profiles(path=None) -> dict:
    """All profiles from the YAML file, checked for the expected shape."""
    path = Path(path or PROFILES_FILE)
    try:
        profiles = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise ValueError(f"{path}: not valid YAML ({e})") from e
    if not isinstance(profiles, dict):
        raise ValueError(f"{path}: expected a mapping of profile names")
    for name, body in profiles.items():
        if not isinstance(body, dict) or not isinstance(body.get("chapters", {}), dict):
            raise ValueError(f"{path}: profile {name!r} needs a 'chapters' mapping")
    return profiles


def get_profile(name: str, profiles=None) -> dict:
    """One profile by name, with a clear error listing the known ones."""
    profiles = load_profiles() if profiles is None else profiles
    if name not in profiles:
        raise ValueError(f"unknown profile {name!r}; known: {', '.join(profiles)}")
    return profiles[name]


def notebook_path(chapter: str, repo=".") -> Path:
    """The source notebook of a chapter id."""
    if chapter not in CHAPTERS:
        raise ValueError(f"unknown chapter {chapter!r}; known: {', '.join(CHAPTERS)}")
    return Path(repo) / "notebooks" / f"{CHAPTERS[chapter]}.ipynb"


def read_notebook(path) -> nbformat.NotebookNode:
    """A source notebook; an unreadable one (truncated, not JSON) raises an error naming it."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: notebook not found")
    try:
        return nbformat.read(path, as_version=4)
    except Exception as e:  # nbformat raises several kinds: NotJSONError, ValidationError, ...
        raise ValueError(f"{path}: not a readable notebook ({type(e).__name__}: {str(e)[:200]})") from None


def parameters_cell(nb) -> nbformat.NotebookNode:
    """The single code cell tagged ``parameters``."""
    cells = [c for c in nb.cells if c.cell_type == "code" and "parameters" in c.metadata.get("tags", [])]
    if len(cells) != 1:
        raise ValueError(f"expected exactly one cell tagged 'parameters', found {len(cells)}")
    return cells[0]


def notebook_parameters(path) -> dict:
    """Default values of a notebook's parameters cell (simple ``name = literal`` lines)."""
    path = Path(path)
    nb = read_notebook(path)
    try:
        cell = parameters_cell(nb)
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from None
    defaults = {}
    for node in ast.parse(cell.source).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            try:
                defaults[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                raise ValueError(f"{path}: parameter {node.targets[0].id!r} (line {node.lineno}) is not a literal") from None
    return defaults


class RawValue(str):
    """A ``-p`` value as typed; :func:`chapter_parameters` converts it to the type of the
    notebook's default."""


def parse_overrides(pairs) -> dict:
    """``["key=value", ...]`` from the command line as ``{key: RawValue(text)}``; the text is
    converted (and checked) against each notebook default's type by :func:`chapter_parameters`."""
    out = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"-p {pair!r}: expected key=value")
        out[key.strip()] = RawValue(value.strip())
    return out


_TRUE, _FALSE = ("true", "yes", "on", "1"), ("false", "no", "off", "0")


def _type_name(kind) -> str:
    return {bool: "a boolean (true/false)", int: "an integer", float: "a number", str: "text",
            list: "a list like [1, 2]"}.get(kind, kind.__name__)


def _unquote(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return text


def _scalar(text: str, kind):
    """``text`` as ``kind`` (bool, int, float or str), or ValueError. ``010`` is ten, ``1e6`` a
    number (an integer where one is expected and it is whole), ``1:30`` text, never 90."""
    text = _unquote(text)
    if kind is str:
        return text
    if kind is bool:
        if text.lower() in _TRUE:
            return True
        if text.lower() in _FALSE:
            return False
        raise ValueError
    number = float(text.replace("_", ""))  # ValueError for "1:30", "abc"
    if not math.isfinite(number):
        raise ValueError
    if kind is int:
        if not number.is_integer():
            raise ValueError
        return int(number)
    return number


def _check_scalar(value, kind):
    """A Python value given for a parameter of type ``kind`` (an int is a valid float)."""
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, kind) and not (kind is int and isinstance(value, bool)):
        return value
    raise ValueError


def _element_kind(name: str, default: list, profiles: dict):
    """The element type of a list parameter: from the notebook default, else from the values the
    profiles give it, else any scalar."""
    examples = list(default)
    for body in profiles.values():
        for block in [body.get("common") or {}, *(body.get("chapters") or {}).values()]:
            if isinstance(block, dict) and isinstance(block.get(name), list):
                examples += block[name]
    kinds = {type(v) for v in examples}
    if kinds == {int, float}:
        return float
    return kinds.pop() if len(kinds) == 1 and kinds <= {bool, int, float, str} else None


def convert_parameter(name: str, value, default, where: str, profiles=None):
    """``value`` (a :class:`RawValue` typed with ``-p`` or a Python value) checked against the
    type of the notebook's ``default``; the error names the parameter, the expected type and the
    value given."""
    profiles = profiles or {}
    kind = type(default)
    shown = f"-p {name}={value}" if isinstance(value, RawValue) else f"{name}={value!r}"
    if default is None:
        return yaml.safe_load(value) if isinstance(value, RawValue) else value
    try:
        if kind is list:
            element = _element_kind(name, default, profiles)
            if isinstance(value, RawValue):
                text = value.strip()
                if text.startswith("[") and text.endswith("]"):
                    text = text[1:-1]
                if "[" in text or "]" in text:
                    raise ValueError
                items = [t for t in (part.strip() for part in text.split(",")) if t]
                if element is None:
                    return [yaml.safe_load(_unquote(t)) if _unquote(t) == t else _unquote(t) for t in items]
                return [_scalar(t, element) for t in items]
            if not isinstance(value, (list, tuple)):
                raise ValueError
            return [v if element is None else _check_scalar(v, element) for v in value]
        if isinstance(value, RawValue):
            return _scalar(value, kind)
        return _check_scalar(value, kind)
    except ValueError:
        expected = _type_name(kind)
        if kind is list:
            element = _element_kind(name, default, profiles)
            expected += f" of {_type_name(element)} values" if element else ""
        raise ValueError(f"{where}: parameter {name!r} expects {expected} (notebook default {default!r}); "
                         f"got {shown}") from None


def device_name(device: str) -> str:
    """The ``--device`` option as the name of the device the chapters run on
    (:func:`fercore.devices.resolve_device`): ``auto`` becomes ``cuda`` when a GPU is visible, else
    ``cpu``; ``cuda`` without a GPU is an error."""
    from fercore.devices import resolve_device

    return str(resolve_device(device, setting="--device"))


def chapter_parameters(chapter: str, profile: str, overrides=None, device="cpu", repo=".", profiles=None) -> dict:
    """The parameters a chapter runs with: profile common + chapter block + overrides + injected."""
    profiles = load_profiles() if profiles is None else profiles
    body = get_profile(profile, profiles)
    path = notebook_path(chapter, repo)
    defaults = notebook_parameters(path)
    injected = sorted(set(overrides or {}) & set(INJECTED))
    if injected:
        raise ValueError(f"-p {injected[0]}: set by the runner; use --{injected[0]} instead")
    from_profile = {**(body.get("common") or {}), **(body["chapters"].get(chapter) or {})}
    params = {**from_profile, **(overrides or {})}
    unknown = sorted(set(params) - set(defaults))
    if unknown:
        raise ValueError(
            f"chapter {chapter!r}: parameter(s) {', '.join(unknown)} are not in the parameters cell of "
            f"{path}"
        )
    for name in list(params):
        where = f"chapter {chapter!r}" + ("" if name in (overrides or {}) else f" (profile {profile!r} in {PROFILES_FILE})")
        params[name] = convert_parameter(name, params[name], defaults[name], where, profiles)
    params.update(profile=profile, device=device)
    return params
