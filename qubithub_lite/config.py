"""Settings: flags > environment > TOML config file > defaults.

Every setting lives in a ``[section]`` of the TOML file and can be set from the
environment as ``QUBITHUB_LITE_<SECTION>_<KEY>`` (for example
``QUBITHUB_LITE_RATE_LIMITS_ENABLED=false``). Each section is a pydantic model,
so a typo in the config file is an error at start, not a silently ignored key.
"""

from __future__ import annotations

import json
import os
import sys
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator

from .sandbox.config import SandboxConfig

ENV_PREFIX = "QUBITHUB_LITE_"
MiB = 1024 * 1024
GiB = 1024 * MiB


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class ServerConfig(Section):
    host: str = Field("127.0.0.1", description="Interface to listen on. Use 0.0.0.0 to serve the LAN.")
    port: int = Field(8000, ge=1, le=65535, description="TCP port.")
    data_dir: Path = Field(
        Path("./qubithub-data"),
        description="Where the database, the blob store and the signing secret live.",
    )
    max_body_bytes: int = Field(
        1 * MiB, ge=1024, description="Largest JSON/form request body accepted (uploads have their own limit)."
    )
    access_log: bool = Field(False, description="Log one line per request (off by default: logs stay quiet).")
    shutdown_timeout: float = Field(10.0, ge=0, description="Seconds to let requests finish on SIGINT/SIGTERM.")
    gil_switch_interval_ms: float = Field(
        0.5, ge=0.05, le=100,
        description=(
            "Python's thread switch interval in the server process (default 5 ms). Every database "
            "statement runs on a SQLite connection thread and hands its result back to the event "
            "loop; a shorter interval lets it do so sooner (about +40% list requests/s on 2 cores)."
        ),
    )
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description=(
            "Reverse proxies whose X-Forwarded-For is believed: addresses or CIDR networks, e.g. "
            "[\"127.0.0.1\", \"10.0.0.0/24\"]. A request from one of them counts as coming from the "
            "right-most address of X-Forwarded-For that is not a trusted proxy (rate limits, login "
            "throttling, logs). Empty: forwarded headers are ignored (docs/scale-out.md)."
        ),
    )

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _proxy_list(cls, value: Any) -> Any:  # the environment may say "10.0.0.5, 10.0.1.0/24"
        return [part for part in value.split(",") if part.strip()] if isinstance(value, str) else value

    @field_validator("trusted_proxies")
    @classmethod
    def _proxy_networks(cls, value: list[str]) -> list[str]:
        import ipaddress

        networks = []
        for item in value:
            try:
                networks.append(str(ipaddress.ip_network(item.strip(), strict=False)))
            except ValueError:
                raise ValueError(f"not an IP address or CIDR network: {item!r}") from None
        return networks


class DatabaseConfig(Section):
    url: str = Field(
        "",
        description=(
            "Empty: SQLite file <data_dir>/qubithub.db. Or sqlite:///path/to.db, "
            "or postgresql://user:pass@host/db (pip install 'qubithub-lite[postgres]')."
        ),
    )
    pool_size: int = Field(
        32, ge=1, le=256,
        description="Connections in the pool. A request holds one from its first query until it ends.",
    )
    busy_timeout_ms: int = Field(10_000, ge=0, description="SQLite busy timeout in milliseconds.")
    read_concurrency: int = Field(
        4, ge=0, le=256,
        description=(
            "SQLite: most SELECTs executing at once across the pool (0: no limit). Each pooled "
            "connection reads on its own thread and Python's sqlite3 retakes the GIL for every row, "
            "so many at once mostly wait for each other (16 list queries at once: 0.7k/s "
            "ungated, 0.93-1.0k/s with 1-4 places, 0.7k/s with 8, on 2 cores)."
        ),
    )


class AuthConfig(Section):
    access_token_ttl_seconds: int = Field(900, ge=30, description="Lifetime of JWT access tokens (15 minutes).")
    refresh_token_ttl_days: int = Field(30, ge=1, description="Lifetime of refresh tokens.")
    bcrypt_rounds: int = Field(12, ge=4, le=16, description="bcrypt cost factor for password hashes.")
    open_registration: bool = Field(
        True, description="Let anyone register. Set false for a class: admins create accounts with the CLI."
    )
    secret_file: Path | None = Field(
        None, description="Signing-secret file; default <data_dir>/secret.key, generated on first start (mode 0600)."
    )


class RateLimitsConfig(Section):
    enabled: bool = Field(True, description="Set false to switch every rate limit off (trusted LAN).")
    requests_per_minute: int = Field(60, ge=1, description="Requests per minute for a signed-in user.")
    pro_requests_per_minute: int = Field(600, ge=1, description="Requests per minute for users flagged pro.")
    anonymous_requests_per_minute: int = Field(60, ge=1, description="Requests per minute per IP when anonymous.")
    star_per_minute: int = Field(30, ge=1, description="Star toggles per minute per user.")
    fork_per_minute: int = Field(5, ge=1, description="Forks per minute per user.")


class LoggingConfig(Section):
    level: Literal["debug", "info", "warning", "error"] = Field("info", description="Log level.")
    format: Literal["json", "text"] = Field("json", description="json: one JSON object per line; text: plain.")


class StorageConfig(Section):
    max_file_bytes: int = Field(100 * MiB, ge=1, description="Largest single uploaded file (413 above).")
    user_quota_bytes: int = Field(
        5 * GiB, ge=0, description="Storage quota per user (and per organization); 403 when exceeded."
    )


class RunsConfig(Section):
    workers: int = Field(2, ge=1, le=64, description="Warm simulator worker processes (each runs one simulation at a time).")
    per_user_concurrency: int = Field(
        2, ge=1, description="Most runs of one user executing at once; the rest wait (fair order across users)."
    )
    max_queued_per_user: int = Field(1000, ge=1, description="Most unfinished runs per user; more is 403 (usage limit).")
    default_timeout_seconds: float = Field(120, gt=0, description="Run time limit when the manifest sets none.")
    max_timeout_seconds: float = Field(600, gt=0, description="Cap on [execution].timeout_seconds of a manifest.")
    compile_timeout_seconds: float = Field(60, gt=0, description="Time limit for running circuit.py in the sandbox to export it.")
    max_idle_workers: int = Field(
        2, ge=0, le=64,
        description="Most simulator workers kept warm while idle (at most `workers`); the least recently used one beyond it exits.",
    )
    worker_idle_seconds: float = Field(
        600, ge=0, description="An idle simulator worker exits after this many seconds without a run (0: never); the next run starts one."
    )
    worker_memory_budget_mib: int = Field(
        384, ge=0,
        description="After a run, while the simulator workers' PSS exceeds this, the least recently used idle one exits (0: no budget).",
    )
    prestart_workers: bool = Field(True, description="Start (warm) the simulator workers at server start, not at the first run.")
    isolate_workers: bool = Field(
        True, description="Run the simulator workers in the sandbox (no network, no secrets, no data dir); false: plain child processes."
    )
    retry_interrupted: bool = Field(
        True, description="After a crash/restart, retry runs caught 'running' once (else they fail with a message)."
    )
    lease_seconds: float = Field(
        30, gt=0, le=3600, description="A running run's claim lasts this long unless its process renews it (heartbeats "
        "every third); another process takes over a run only after its lease expired (several API processes)."
    )
    executor: str = Field(
        "local",
        description=(
            'Where simulations run: "local" (the warm worker processes above) or "dask" (a Dask '
            "cluster at dask_scheduler; pip install 'qubithub-lite[dask]'), or another name from "
            "the qubithub_lite.executors entry-point group."
        ),
    )
    dask_scheduler: str = Field(
        "",
        description=(
            'With executor = "dask": the scheduler address, e.g. "tcp://10.0.0.5:8786" (tls:// for '
            "TLS). Anyone who can reach the scheduler can run code on its workers: keep it private."
        ),
    )

    @model_validator(mode="after")
    def _executor_is_known(self) -> RunsConfig:
        from .jobs.executor_plugins import executor_names

        known = executor_names()
        if self.executor not in known:
            raise ValueError(f"unknown executor {self.executor!r} (known: {', '.join(sorted(known))})")
        if self.executor == "dask":
            scheme, sep, rest = self.dask_scheduler.partition("://")
            if not sep or not rest or scheme not in ("tcp", "tls", "ws", "wss", "ucx", "inproc"):
                raise ValueError('executor = "dask" needs dask_scheduler = "tcp://host:port" (or tls://…)')
            import importlib.util

            if importlib.util.find_spec("distributed") is None:
                raise ValueError("executor = \"dask\" needs the dask extra: pip install 'qubithub-lite[dask]'")
        return self


class SpacesConfig(Section):
    max_concurrent_executions: int = Field(
        4, ge=1, le=256,
        description="Space execute/visualize calls running at once in this process's sandbox, all users together.",
    )
    max_concurrent_per_user: int = Field(
        2, ge=1, le=64,
        description="Space execute/visualize calls one user may have running (on PostgreSQL: in all processes together).",
    )
    queue_wait_seconds: float = Field(
        10, ge=0, le=300, description="How long an execute/visualize call over a limit waits for a slot before a 429."
    )
    max_files_per_space: int = Field(500, ge=1, description="Most files one space may hold.")
    max_run_bytes: int = Field(
        64 * MiB, ge=1, description="Largest total size of a space's files copied into the sandbox for one run."
    )
    inline_content_bytes: int = Field(
        256 * 1024, ge=0, description="GET /spaces/{id} includes a UTF-8 file's content when it is at most this big."
    )
    visualize_timeout_seconds: float = Field(60, gt=0, le=300, description="Time limit of one visualize call.")


class DatasetsConfig(Section):
    max_file_bytes: int | None = Field(
        None, ge=1, description="Largest dataset file (413 above); empty: [storage] max_file_bytes."
    )
    preview_concurrency: int = Field(
        4, ge=1, le=64, description="Dataset previews parsed at once (worker threads); more wait their turn."
    )
    scan_concurrency: int = Field(
        2, ge=1, le=64,
        description="Uploaded dataset files validated and row-counted at once (a full pass for csv/json).",
    )


class ExamplesConfig(Section):
    install_on_first_start: bool = Field(
        False, description="On the first start of an empty hub, install the example circuits, datasets and spaces."
    )
    organization: str = Field(
        "examples", min_length=3, max_length=39, description="Organization the examples go into (created when missing)."
    )


class GitConfig(Section):
    max_push_bytes: int = Field(256 * MiB, ge=1024, description="Largest git push (request body and pack); bigger pushes are refused.")
    max_push_commits: int = Field(200, ge=1, le=100_000, description="Most commits (new versions) in one git push.")
    max_tree_entries: int = Field(2_000, ge=1, le=1_000_000, description="Most files (and folders) in one pushed commit's tree.")
    max_concurrent: int = Field(4, ge=1, le=64, description="git processes (clone, fetch, push) running at once; more wait.")
    timeout_seconds: float = Field(600, gt=0, description="Longest a git clone/fetch/push may run.")
    max_process_memory_bytes: int = Field(
        2 * GiB, ge=256 * MiB, description="Address-space cap of each git process (and a push's checking hook)."
    )


class Settings(Section):
    server: ServerConfig = Field(default_factory=ServerConfig)
    database: DatabaseConfig = Field(default_factory=DatabaseConfig)
    auth: AuthConfig = Field(default_factory=AuthConfig)
    rate_limits: RateLimitsConfig = Field(default_factory=RateLimitsConfig)
    logging: LoggingConfig = Field(default_factory=LoggingConfig)
    storage: StorageConfig = Field(default_factory=StorageConfig)
    datasets: DatasetsConfig = Field(default_factory=DatasetsConfig)
    sandbox: SandboxConfig = Field(default_factory=SandboxConfig)
    spaces: SpacesConfig = Field(default_factory=SpacesConfig)
    runs: RunsConfig = Field(default_factory=RunsConfig)
    examples: ExamplesConfig = Field(default_factory=ExamplesConfig)
    git: GitConfig = Field(default_factory=GitConfig)
    #: The TOML file these settings were read from (kept out of the sandbox).
    _config_file: Path | None = PrivateAttr(None)

    @property
    def config_file(self) -> Path | None:
        return self._config_file

    @property
    def data_dir(self) -> Path:
        return self.server.data_dir

    @property
    def secret_file(self) -> Path:
        return self.auth.secret_file or self.data_dir / "secret.key"

    @property
    def database_url(self) -> str:
        return self.database.url or f"sqlite:///{self.data_dir / 'qubithub.db'}"


class ConfigError(Exception):
    """The configuration file or environment holds an invalid setting."""


def _env_value(raw: str) -> Any:
    """Environment values are strings; lists and objects may be given as JSON."""
    text = raw.strip()
    if text[:1] in "[{":
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            return raw
    return raw


#: ``QUBITHUB_LITE_*`` variables that are not settings: the config file's path, and the test
#: suite's own switches (``QUBITHUB_LITE_TEST_DATABASE``, ``QUBITHUB_LITE_TEST_SERVER_CMD``).
#: Any other ``QUBITHUB_LITE_*`` variable must name a setting.
RESERVED_ENV = frozenset({"CONFIG"})
RESERVED_ENV_PREFIXES = ("TEST_",)


def _nearest(name: str, candidates: list[str]) -> str:
    """The candidate closest to ``name`` (a typo's likely meaning)."""
    import difflib

    close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.0)
    return close[0] if close else candidates[0]


def _setting_env_names() -> dict[str, tuple[str, str]]:
    """``QUBITHUB_LITE_<SECTION>_<KEY>`` -> (section, key), for every setting."""
    return {
        f"{ENV_PREFIX}{section.upper()}_{key.upper()}": (section, key)
        for section, info in Settings.model_fields.items()
        for key in info.annotation.model_fields  # type: ignore[union-attr]
    }


def _check_env_names(environ: dict[str, str]) -> None:
    """Every ``QUBITHUB_LITE_*`` variable names a setting (or is reserved): a typo is an
    error, not a silently ignored variable."""
    names = _setting_env_names()
    for name in sorted(environ):
        if not name.startswith(ENV_PREFIX) or name in names:
            continue
        rest = name[len(ENV_PREFIX):]
        if rest in RESERVED_ENV or rest.startswith(RESERVED_ENV_PREFIXES):
            continue
        raise ConfigError(
            f"unknown environment variable {name}: it names no setting "
            f"(did you mean {_nearest(name.upper(), sorted(names))}?)"
        )


def _check_toml_keys(data: dict[str, Any], origin: str) -> None:
    """Every [section] and key of the file is a setting; the error names the nearest one."""
    sections = Settings.model_fields
    for section, values in data.items():
        if section not in sections:
            raise ConfigError(f"{origin}: unknown section [{section}] (did you mean [{_nearest(section, list(sections))}]?)")
        keys = list(sections[section].annotation.model_fields)  # type: ignore[union-attr]
        for key in values:
            if key not in keys:
                raise ConfigError(
                    f"{origin}: unknown key {key!r} in [{section}] (did you mean [{section}] {_nearest(key, keys)}?)"
                )


def _env_layer(environ: dict[str, str]) -> dict[str, dict[str, Any]]:
    _check_env_names(environ)
    layer: dict[str, dict[str, Any]] = {}
    sections = Settings.model_fields
    # Longest section names first so that e.g. RATE_LIMITS_ wins over a shorter prefix.
    for section in sorted(sections, key=len, reverse=True):
        prefix = f"{ENV_PREFIX}{section.upper()}_"
        model = sections[section].annotation
        for name, raw in environ.items():
            if not name.startswith(prefix):
                continue
            key = name[len(prefix):].lower()
            if key in model.model_fields:  # type: ignore[union-attr]
                layer.setdefault(section, {})[key] = _env_value(raw)
    return layer


def _merge(base: dict[str, dict[str, Any]], top: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    merged = {k: dict(v) for k, v in base.items()}
    for section, values in top.items():
        merged.setdefault(section, {}).update(values)
    return merged


def read_toml(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None


def load_settings(
    config_file: Path | str | None = None,
    overrides: dict[str, dict[str, Any]] | None = None,
    environ: dict[str, str] | None = None,
) -> Settings:
    """Build the settings from defaults, a TOML file, the environment and flag overrides."""
    environ = dict(os.environ if environ is None else environ)
    if config_file is None and environ.get(f"{ENV_PREFIX}CONFIG"):
        config_file = environ[f"{ENV_PREFIX}CONFIG"]
    layers: dict[str, dict[str, Any]] = {}
    if config_file is not None:
        data = read_toml(Path(config_file))
        for section, values in data.items():
            if not isinstance(values, dict):
                raise ConfigError(f"{config_file}: top-level key {section!r} must be a [section]")
        _check_toml_keys(data, str(config_file))
        layers = data
    layers = _merge(layers, _env_layer(environ))
    layers = _merge(layers, {s: {k: v for k, v in vals.items() if v is not None} for s, vals in (overrides or {}).items()})
    try:
        settings = Settings.model_validate(layers)
    except ValidationError as exc:
        problems = "; ".join(
            f"[{err['loc'][0]}] {'.'.join(str(p) for p in err['loc'][1:])}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"invalid settings: {problems}") from None
    settings._config_file = Path(config_file).resolve() if config_file is not None else None
    return settings


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value) if not isinstance(value, int) or abs(value) < 10_000 else f"{value:_}"
    if isinstance(value, Path):
        return json.dumps(str(value))
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(value)


def render_example() -> str:
    """config.example.toml, generated from the models so it can't drift."""
    lines = [
        "# QubitHub Lite configuration. Every key is optional; shown values are the defaults.",
        "# Precedence: command-line flags > environment > this file > defaults.",
        "# Any key can be set from the environment as QUBITHUB_LITE_<SECTION>_<KEY>,",
        "# e.g. [rate_limits] enabled  <-  QUBITHUB_LITE_RATE_LIMITS_ENABLED=false",
        "# Use it with: qubithub-lite --config FILE serve   (or QUBITHUB_LITE_CONFIG=FILE)",
    ]
    for section, info in Settings.model_fields.items():
        model = info.annotation
        lines += ["", f"[{section}]"]
        for key, field in model.model_fields.items():  # type: ignore[union-attr]
            if field.description:
                lines.append(f"# {field.description}")
            default = field.get_default(call_default_factory=True)
            if default is None or (isinstance(default, str) and default == sys.executable):
                # None, or machine-specific (the server's own interpreter): leave it commented.
                lines.append(f"# {key} = ")
            else:
                lines.append(f"{key} = {_toml_value(default)}")
    return "\n".join(lines) + "\n"
