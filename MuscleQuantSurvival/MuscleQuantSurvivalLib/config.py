"""The saved configuration of a cohort run: tables, columns and every analysis, as JSON.

``musclequant cohort report`` writes the configuration it ran as ``run.json`` (absolute paths) so the
same report can be reproduced with ``musclequant cohort report --config run.json``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from MuscleQuantLib.errors import InputError

from .analyses import CoxSpec
from .groupings import GroupingSpec
from .tables import CohortColumns, Endpoint

CONFIG_VERSION = 1


@dataclass
class RunConfig:
    """Everything a report run needs; relative paths are relative to the configuration file."""

    clinical: str
    measurements: str | None = None
    sheet: str | None = None
    title: str = "MuscleQuant cohort report"
    columns: dict[str, Any] = field(default_factory=dict)  # CohortColumns fields, endpoints as dicts
    exclude_invalid: bool = False
    groupings: list[dict[str, Any]] = field(default_factory=list)  # KM (and log-rank) for each x endpoint
    cox: list[dict[str, Any]] = field(default_factory=list)
    univariate: bool = True
    definitions: list[str] | None = None  # None: every definition whose measure the cohort has; []: none
    definitions_adjust: list[str] = field(default_factory=list)
    correlations: list[dict[str, Any]] = field(default_factory=list)  # {x, y, method}
    t_tests: list[dict[str, Any]] = field(default_factory=list)  # {value, by}
    agreement: list[dict[str, Any]] = field(default_factory=list)  # {automated, manual}
    deepsurv: dict[str, Any] | None = None  # {features, split_column, endpoint, definitions, code_size}
    n_bootstrap: int = 200
    seed: int = 0
    version: int = CONFIG_VERSION
    inputs: dict[str, str] = field(default_factory=dict)  # table role -> SHA-256 of the file the report read

    def input_paths(self) -> dict[str, str]:
        """The files a report reads, by role (clinical, measurements, features)."""
        paths = {"clinical": self.clinical}
        if self.measurements:
            paths["measurements"] = self.measurements
        if self.deepsurv and self.deepsurv.get("features"):
            paths["features"] = str(self.deepsurv["features"])
        return paths

    def current_digests(self) -> dict[str, str]:
        """SHA-256 of each input as it is now ('missing' for a file that is not there)."""
        return {role: sha256_of(path) for role, path in self.input_paths().items()}

    def check_inputs(self, allow_changed: bool = False) -> list[str]:
        """Compare the inputs with the SHA-256s recorded when the report was made.

        A changed or missing table is refused (the report would not reproduce what it claims to), unless
        ``allow_changed``; then, like a configuration that records no checksums, it becomes a note."""
        if not self.inputs:
            return ["run.json records no SHA-256 of its input tables (written by an older version): the "
                    "reproduced report cannot confirm that the tables are unchanged"]
        now = self.current_digests()
        changed = [f"{role} {self.input_paths()[role]} (recorded {self.inputs.get(role, 'none')[:12]}, "
                   f"now {digest[:12]})" for role, digest in now.items() if self.inputs.get(role) != digest]
        if not changed:
            return []
        message = (f"changed since run.json was written: {'; '.join(changed)}; the report would not reproduce the "
                   "recorded one")
        if not allow_changed:
            raise InputError(message + " (pass --allow-changed-inputs to run the configuration on the tables as "
                             "they are now)", field="--config")
        return [message]

    def cohort_columns(self) -> CohortColumns:
        values = dict(self.columns)
        values["endpoints"] = tuple(Endpoint(**e) for e in values.get("endpoints", ()))
        for key in ("numeric", "required"):
            values[key] = tuple(values.get(key, ()))
        unknown = set(values) - set(CohortColumns.__dataclass_fields__)
        if unknown:
            raise InputError(f"configuration 'columns': unknown field(s) {', '.join(sorted(unknown))}")
        return CohortColumns(**values)

    def grouping_specs(self) -> list[GroupingSpec]:
        return [GroupingSpec.from_dict(g) for g in self.groupings]

    def cox_specs(self) -> list[CoxSpec]:
        return [CoxSpec.from_dict(c) for c in self.cox]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], base: Path | None = None) -> RunConfig:
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise InputError(f"configuration: unknown field(s) {', '.join(sorted(unknown))}")
        if "clinical" not in data:
            raise InputError("configuration: 'clinical' (the clinical table) is required")
        config = cls(**data)
        for name in ("n_bootstrap", "seed"):
            value = getattr(config, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise InputError(f"configuration '{name}' must be a whole number >= 0, got {value!r}")
        if not isinstance(config.inputs, dict):
            raise InputError("configuration 'inputs' must map table roles to SHA-256 checksums")
        if config.version != CONFIG_VERSION:
            raise InputError(f"configuration version {config.version} is not supported (expected {CONFIG_VERSION})")
        if base is not None:
            config.clinical = str((base / config.clinical).resolve())
            if config.measurements:
                config.measurements = str((base / config.measurements).resolve())
            if config.deepsurv and config.deepsurv.get("features"):
                config.deepsurv["features"] = str((base / config.deepsurv["features"]).resolve())
        if config.deepsurv is not None and not (isinstance(config.deepsurv, dict) and config.deepsurv.get("features")):
            raise InputError("configuration 'deepsurv' needs 'features' (the radiomics feature table)")
        config.grouping_specs()  # validate early, with the field named
        config.cox_specs()
        config.cohort_columns()
        return config

    @classmethod
    def load(cls, path: str | Path) -> RunConfig:
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise InputError("configuration file not found", path=path) from exc
        except json.JSONDecodeError as exc:
            raise InputError(f"not valid JSON (line {exc.lineno}: {exc.msg})", path=path) from exc
        if not isinstance(data, dict):
            raise InputError("the configuration must be a JSON object", path=path)
        return cls.from_dict(data, base=path.parent)


def sha256_of(path: str | Path) -> str:
    """SHA-256 of a file, or 'missing' when it is not there."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except FileNotFoundError:
        return "missing"
    return digest.hexdigest()


def default_config(clinical: str, measurements: str | None, measure: str | None, has: set[str],
                   endpoint_names: list[str], sex_column: str = "sex", age_column: str = "age",
                   **overrides: Any) -> RunConfig:
    """The analyses SPEC 5 asks for, for one measure: continuous first (HR per SD), published
    sex-specific definitions, median split (within sex), then adjusted models and correlations."""
    config = RunConfig(clinical=clinical, measurements=measurements, **overrides)
    if measure is None:
        return config
    adjust = [c for c in (age_column, sex_column) if c in has]
    config.groupings = [{"kind": "median", "variable": measure},
                        {"kind": "median", "variable": measure, "within": sex_column} if sex_column in has
                        else {"kind": "tertiles", "variable": measure}]
    for name in endpoint_names:
        config.cox.append({"endpoint": name, "covariates": [measure, *adjust], "per_sd": [measure]})
        config.cox.append({"endpoint": name, "covariates": adjust, "grouping": {"kind": "median", "variable": measure}})
    if age_column in has:
        config.correlations.append({"x": measure, "y": age_column, "method": "pearson"})
    if sex_column in has:
        config.t_tests.append({"value": measure, "by": sex_column})
    return config
