"""Sarcopenia definitions side by side (the HCC paper's Table 2): prevalence and HR (95 % CI, p) of
sarcopenic vs not sarcopenic, per definition and endpoint.

A definition whose measure the cohort lacks, or whose model cannot be fitted (everyone sarcopenic,
no events in a group), gets a row that says so instead of stopping the whole table.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from MuscleQuantLib.errors import InputError

from .analyses import CoxSpec, cox_analysis
from .groupings import SARCOPENIC, GroupingSpec, definition_names, lookup_definition, make_groups
from .km import logrank_p
from .tables import Cohort, Endpoint

TABLE_COLUMNS = ["definition", "name", "measure", "endpoint", "n_classified", "n_sarcopenic", "prevalence_pct",
                 "n_left_out", "events", "hr", "hr_ci_low", "hr_ci_high", "p", "logrank_p", "adjusted_for",
                 "note", "citation"]


def applicable_definitions(cohort: Cohort) -> list[str]:
    """Definitions whose measure column the cohort has (the default set for the comparison)."""
    keys = []
    for key in definition_names():
        if lookup_definition(key).measure in cohort.data.columns:
            keys.append(key)
    return keys


def _row(definition_key: str, endpoint: Endpoint, cohort: Cohort, adjust: Sequence[str],
         exclude_invalid: bool, n_bootstrap: int) -> dict:
    definition = lookup_definition(definition_key)
    row = dict.fromkeys(TABLE_COLUMNS, np.nan)
    row.update(definition=definition_key, name=getattr(definition, "name", definition_key),
               measure=definition.measure, endpoint=endpoint.name, adjusted_for=", ".join(adjust),
               citation=getattr(definition, "citation", ""), note="")
    if definition.measure not in cohort.data.columns:
        row["note"] = f"the cohort has no column {definition.measure}"
        return row
    spec = GroupingSpec("definition", definition=definition_key)
    groups = make_groups(cohort, spec, exclude_invalid=exclude_invalid)
    n_classified = len(groups.labels)
    n_sarcopenic = int((groups.labels == SARCOPENIC).sum())
    row.update(n_classified=n_classified, n_sarcopenic=n_sarcopenic,
               prevalence_pct=100.0 * n_sarcopenic / n_classified if n_classified else np.nan,
               n_left_out=len(groups.exclusions.left_out))
    if groups.exclusions.left_out:
        row["note"] = groups.exclusions.summary()
    if n_sarcopenic in (0, n_classified):
        row["note"] = (row["note"] + "; " if row["note"] else "") + "only one group: no hazard ratio"
        return row
    try:
        row["logrank_p"] = logrank_p(cohort, endpoint, groups, exclude_invalid)
        # the row shows HR, CI, p and the model's messages (PH note included), never the fitted C-index
        result = cox_analysis(cohort, CoxSpec(endpoint.name, tuple(adjust), spec), exclude_invalid, n_bootstrap=0,
                              concordance=False)
    except InputError as exc:
        row["note"] = (row["note"] + "; " if row["note"] else "") + str(exc)
        return row
    first = result.table.iloc[0]
    row.update(events=result.events, hr=first["hr"], hr_ci_low=first["hr_ci_low"], hr_ci_high=first["hr_ci_high"],
               p=first["p"])
    if result.messages:
        row["note"] = (row["note"] + "; " if row["note"] else "") + " | ".join(result.messages)
    return row


def definitions_table(cohort: Cohort, definitions: Sequence[str] | None = None,
                      endpoints: Sequence[str] | None = None, adjust: Sequence[str] = (),
                      exclude_invalid: bool = False, n_bootstrap: int = 0) -> pd.DataFrame:
    """One row per definition and endpoint: prevalence, HR (sarcopenic vs not) with CI and p."""
    cohort.require_valid(exclude_invalid)
    keys = list(definitions) if definitions else applicable_definitions(cohort)
    if not keys:
        raise InputError("no sarcopenia definition applies: the cohort has none of the measure columns "
                         "the definitions read (e.g. smi_cm2_m2, muscle_hu_mean, psoas_index_cm2_m2)")
    chosen = [e for e in cohort.endpoints if not endpoints or e.name.lower() in {n.lower() for n in endpoints}]
    if not chosen:
        raise InputError(f"none of the endpoints {', '.join(endpoints or [])} is in the cohort "
                         f"(it has {', '.join(e.name for e in cohort.endpoints)})")
    rows = [_row(key, endpoint, cohort, adjust, exclude_invalid, n_bootstrap) for key in keys for endpoint in chosen]
    return pd.DataFrame(rows, columns=TABLE_COLUMNS)
