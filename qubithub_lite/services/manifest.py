"""``qubithub.toml``, the circuit manifest (platform-notes §5).

Parsed with :mod:`tomllib` and validated with pydantic. Unknown keys inside the
tables below are errors (they are usually typos); free-form data goes in
``[extra]``. Errors name the TOML line (syntax) or the dotted key (schema).

Tier 1 — required, in ``[project]``
    ``name`` (the circuit name rules), ``title``, ``type = "circuit"``,
    ``framework`` (qiskit | pennylane | cirq | openqasm3), ``entry_point``
    (relative path, may be in a sub-folder, must exist in the version),
    ``qubits`` (≥ 1).

Tier 2 — optional
    top level ``schema_version`` ("1.x.y"); ``[project]``: ``framework_version``
    (string), ``depth``, ``gates``, ``category``, ``difficulty`` (beginner |
    intermediate | advanced), ``tags``, ``description``, ``is_public``;
    ``[execution]``: ``default_backend``, ``default_shots`` (1–100000),
    ``timeout_seconds`` (1–3600), ``entry_function`` (a Python identifier);
    ``[educational]``: ``level``, ``concepts``, ``prerequisites``,
    ``learning_outcomes``, ``estimated_time``, ``next_circuits``;
    ``[expected_output]``: ``dominant_states`` (bitstrings),
    ``probability_range`` (``[min, max]`` within 0–1).

Tier 3 — optional, defined by QubitHub Lite (see docs/manifest.md)
    ``[parameters.<name>]``: ``type`` (float | int | bool | string | angle),
    ``default``, ``min``, ``max``, ``choices``, ``unit``, ``description``.
    ``[hardware]``: ``min_qubits``, ``connectivity`` (all-to-all | linear |
    ring | grid | heavy-hex | custom), ``native_gates``, ``max_depth``,
    ``mid_circuit_measurement``, ``noise_tolerant``, ``recommended_backends``.
    ``[reproducibility]``: ``seed``, ``deterministic``, ``python_version``,
    ``dependencies`` (package → version spec), ``tolerance`` (0–1).
    ``[implementations.<framework>]``: ``entry_point`` (must exist),
    ``entry_function``, ``framework_version``.
    ``[[references]]``: ``title`` (required), ``url`` (http/https), ``doi``,
    ``arxiv``, ``authors``, ``year``.
    ``[extra]``: any table, kept as is.

A valid manifest updates the circuit's title, description, framework, qubits,
depth, gates, tags, category and difficulty -- each only when the key is present
(an absent key keeps the stored value; ``is_public`` is not applied: an upload
never changes visibility), and the platform writes ``metadata.json``
(:func:`generate_metadata`) into the same version.
"""

from __future__ import annotations

import json
import re
import tomllib
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ..errors import BadRequest
from ..schemas.bounded import FreeForm
from ..backends.frameworks import FRAMEWORKS
from ..schemas.circuits import Difficulty, Framework, check_gates, check_name, normalize_tags
from ..schemas.common import describe_validation
from ..storage.paths import is_safe_relative_path

MANIFEST_NAME = "qubithub.toml"
METADATA_NAME = "metadata.json"
MAX_MANIFEST_BYTES = 256 * 1024
IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,99}$")


#: Parts of one dotted key (``a.b.c`` has 3). tomllib's cost grows with the square of this
#: (a 60,000-part key takes ~80 s), and nothing a manifest defines is nested this deep.
MAX_KEY_PARTS = 16

# A lexer just good enough to blank out TOML strings and comments (left to right, so a
# quote inside a comment or a '#' inside a string is read as TOML reads it).
_TOML_NOISE = re.compile(
    r'"""(?:[^"\\]|\\[\s\S]|"(?!""))*"""'  # multi-line basic string
    r"|'''[\s\S]*?'''"  # multi-line literal string
    r'|"(?:[^"\\\n]|\\.)*"'  # basic string
    r"|'[^'\n]*'"  # literal string
    r"|#[^\n]*"  # comment
)
_AROUND_DOT = re.compile(r"[ \t]*\.[ \t]*")
_LONG_KEY = re.compile(r"(?<![A-Za-z0-9_.-])(?:[A-Za-z0-9_-]+\.){%d}" % MAX_KEY_PARTS)


def _check_key_depth(text: str) -> None:
    """Refuse dotted keys (``a.b.c = 1``, ``[a.b.c]``) of more than MAX_KEY_PARTS parts
    before tomllib sees them. Linear: strings become one bare character, then a chain of
    parts can only match from its first part."""
    bare = _AROUND_DOT.sub(".", _TOML_NOISE.sub(lambda m: "" if m.group().startswith("#") else "s", text))
    if _LONG_KEY.search(bare):
        raise BadRequest(f"{MANIFEST_NAME} is invalid: a dotted key has more than {MAX_KEY_PARTS} parts")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=False, allow_inf_nan=False)


def _entry(v: str) -> str:
    if not is_safe_relative_path(v):
        raise ValueError("must be a relative path inside the circuit (no '..', no leading '/')")
    if not v.endswith((".py", ".qasm", ".qpy")):
        raise ValueError("must be a .py, .qasm or .qpy file")
    return v


def _short_list(values: list[str], max_items: int = 50, max_len: int = 300) -> list[str]:
    if len(values) > max_items:
        raise ValueError(f"at most {max_items} items")
    for item in values:
        if len(item) > max_len:
            raise ValueError(f"items must be at most {max_len} characters")
    return values


class Project(_Strict):
    # Tier 1
    name: str
    title: str = Field(min_length=1, max_length=500)
    type: Literal["circuit"]
    framework: Framework
    entry_point: str = Field(max_length=255)
    qubits: int = Field(ge=1, le=10_000)
    # Tier 2
    framework_version: str | None = Field(None, max_length=50)
    depth: int | None = Field(None, ge=0, le=10_000_000)
    gates: list[str] | None = None
    category: str | None = Field(None, max_length=100)
    difficulty: Difficulty | None = None
    tags: list[str] = Field(default_factory=list)
    description: str | None = Field(None, max_length=20_000)
    is_public: bool | None = None

    _name = field_validator("name")(classmethod(lambda cls, v: check_name(v)))
    _entry_point = field_validator("entry_point")(classmethod(lambda cls, v: _entry(v)))
    _tags = field_validator("tags")(classmethod(lambda cls, v: normalize_tags(v)))
    _gates = field_validator("gates")(classmethod(lambda cls, v: check_gates(v)))


class Execution(_Strict):
    default_backend: str | None = Field(None, max_length=100)
    default_shots: int | None = Field(None, ge=1, le=100_000)
    timeout_seconds: int | None = Field(None, ge=1, le=3600)
    entry_function: str | None = None

    @field_validator("entry_function")
    @classmethod
    def _ident(cls, v: str | None) -> str | None:
        if v is not None and not IDENT.match(v):
            raise ValueError("must be a Python identifier")
        return v


class Educational(_Strict):
    level: str | None = Field(None, max_length=50)
    concepts: list[str] = Field(default_factory=list)
    prerequisites: list[str] = Field(default_factory=list)
    learning_outcomes: list[str] = Field(default_factory=list)
    estimated_time: Annotated[str, Field(max_length=100)] | Annotated[int, Field(ge=0, le=1_000_000)] | None = None
    next_circuits: list[str] = Field(default_factory=list)

    _lists = field_validator("concepts", "prerequisites", "learning_outcomes", "next_circuits")(
        classmethod(lambda cls, v: _short_list(v))
    )


class ExpectedOutput(_Strict):
    dominant_states: list[str] = Field(default_factory=list)
    probability_range: tuple[float, float] | None = None

    @field_validator("dominant_states")
    @classmethod
    def _bits(cls, v: list[str]) -> list[str]:
        for state in v:
            if not re.fullmatch(r"[01]{1,64}", state):
                raise ValueError(f"{state[:70]!r} is not a bitstring")
        return _short_list(v, 256, 64)

    @field_validator("probability_range")
    @classmethod
    def _range(cls, v):
        if v is not None and not (0.0 <= v[0] <= v[1] <= 1.0):
            raise ValueError("must be [min, max] with 0 <= min <= max <= 1")
        return v


class Parameter(_Strict):
    type: Literal["float", "int", "bool", "string", "angle"] = "float"
    default: float | int | bool | str | None = None
    min: float | None = None
    max: float | None = None
    choices: list[float | int | str] | None = None
    unit: str | None = Field(None, max_length=30)
    description: str | None = Field(None, max_length=2000)

    @model_validator(mode="after")
    def _bounds(self):
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError("min must not exceed max")
        d = self.default
        if isinstance(d, (int, float)) and not isinstance(d, bool):
            if (self.min is not None and d < self.min) or (self.max is not None and d > self.max):
                raise ValueError("default lies outside [min, max]")
        if self.choices is not None and d is not None and d not in self.choices:
            raise ValueError("default is not one of choices")
        return self


class Hardware(_Strict):
    min_qubits: int | None = Field(None, ge=1, le=10_000)
    connectivity: Literal["all-to-all", "linear", "ring", "grid", "heavy-hex", "custom"] | None = None
    native_gates: list[str] | None = None
    max_depth: int | None = Field(None, ge=1, le=10_000_000)
    mid_circuit_measurement: bool | None = None
    noise_tolerant: bool | None = None
    recommended_backends: list[str] = Field(default_factory=list)

    _gates = field_validator("native_gates")(classmethod(lambda cls, v: check_gates(v)))


class Reproducibility(_Strict):
    seed: int | None = Field(None, ge=0, le=2**32 - 1)
    deterministic: bool | None = None
    python_version: str | None = Field(None, max_length=20)
    dependencies: dict[str, str] = Field(default_factory=dict)
    tolerance: float | None = Field(None, ge=0, le=1)


class Implementation(_Strict):
    entry_point: str = Field(max_length=255)
    entry_function: str | None = None
    framework_version: str | None = Field(None, max_length=50)

    _entry_point = field_validator("entry_point")(classmethod(lambda cls, v: _entry(v)))


class Reference(_Strict):
    title: str = Field(min_length=1, max_length=500)
    url: str | None = Field(None, max_length=2000, pattern=r"^https?://\S+$")
    doi: str | None = Field(None, max_length=200)
    arxiv: str | None = Field(None, max_length=50)
    authors: list[str] = Field(default_factory=list)
    year: int | None = Field(None, ge=1900, le=2200)


class Manifest(_Strict):
    schema_version: str = Field("1.0.0", pattern=r"^1\.\d+\.\d+$")
    project: Project
    execution: Execution | None = None
    educational: Educational | None = None
    expected_output: ExpectedOutput | None = None
    parameters: dict[str, Parameter] = Field(default_factory=dict)
    hardware: Hardware | None = None
    reproducibility: Reproducibility | None = None
    implementations: dict[str, Implementation] = Field(default_factory=dict)
    references: list[Reference] = Field(default_factory=list)
    extra: FreeForm = Field(default_factory=dict)

    @field_validator("parameters")
    @classmethod
    def _param_names(cls, v: dict[str, Parameter]) -> dict[str, Parameter]:
        for name in v:
            if not IDENT.match(name):
                raise ValueError(f"parameter name {name[:40]!r} must be an identifier")
        return v

    @field_validator("implementations")
    @classmethod
    def _impl_frameworks(cls, v: dict[str, Implementation]) -> dict[str, Implementation]:
        for name in v:
            if name not in FRAMEWORKS:
                raise ValueError(f"unknown framework {name[:40]!r} ({', '.join(FRAMEWORKS)})")
        return v

    def entry_points(self) -> list[str]:
        return [self.project.entry_point] + [i.entry_point for i in self.implementations.values()]

    def circuit_fields(self) -> dict[str, Any]:
        """The circuit columns this manifest sets: only keys present in ``[project]``
        overwrite; an absent key keeps the circuit's stored value."""
        p = self.project
        return {name: getattr(p, name) for name in CIRCUIT_FIELDS if name in p.model_fields_set}


#: ``[project]`` keys that are also circuit columns (``is_public`` is not applied: an upload
#: never changes visibility).
CIRCUIT_FIELDS = ("title", "framework", "qubits", "tags", "depth", "gates", "category", "difficulty", "description")


def parse_manifest(data: bytes, *, tree_paths: set[str] | None = None) -> Manifest:
    """Parse and validate a manifest; 400 naming the line or the key on error."""
    if len(data) > MAX_MANIFEST_BYTES:
        raise BadRequest(f"{MANIFEST_NAME} is larger than {MAX_MANIFEST_BYTES} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest(f"{MANIFEST_NAME} is not UTF-8 text (byte {exc.start})") from None
    _check_key_depth(text)
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise BadRequest(f"{MANIFEST_NAME} is not valid TOML: {exc}") from None
    except RecursionError:  # arrays or inline tables nested hundreds deep
        raise BadRequest(f"{MANIFEST_NAME} is invalid: arrays or inline tables are nested too deeply") from None
    except ValueError:  # e.g. an integer of more than 4300 digits
        raise BadRequest(f"{MANIFEST_NAME} is not valid TOML: a value is out of range") from None
    try:
        manifest = Manifest.model_validate(raw)
    except ValidationError as exc:
        problems = describe_validation(exc, unknown="unknown key", missing="required key is missing", empty="")
        raise BadRequest(f"{MANIFEST_NAME} is invalid: {problems}") from None
    if tree_paths is not None:
        check_entry_points(manifest, tree_paths)
    return manifest


def check_entry_points(manifest: Manifest, tree_paths: set[str]) -> None:
    """Every entry point must be a file of the version (400 otherwise)."""
    for entry in manifest.entry_points():
        if entry not in tree_paths:
            raise BadRequest(f"{MANIFEST_NAME} is invalid: entry_point '{entry}' is not a file of this version")


def generate_metadata(manifest: Manifest) -> bytes:
    """``metadata.json``: the manifest flattened for discovery tools (generated, never uploaded)."""
    data = manifest.model_dump(mode="json", exclude_none=True)
    project = data.pop("project")
    out: dict[str, Any] = {"schema_version": data.pop("schema_version")}
    out.update(project)
    for key, value in data.items():
        if value not in ({}, [], None):
            out[key] = value
    out["generated_from"] = MANIFEST_NAME
    return (json.dumps(out, indent=2, sort_keys=False, ensure_ascii=False) + "\n").encode()
