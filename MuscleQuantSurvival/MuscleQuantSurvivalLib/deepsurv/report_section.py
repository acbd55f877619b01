"""The cohort report's radiomics survival section (run when the configuration names a feature table)."""

from __future__ import annotations

from typing import Any

from .analysis import HCC_DEFINITIONS, DeepSurvRequest, read_features, run_deepsurv
from .training import DeepSurvSettings


def request_from_config(spec: dict[str, Any], seed: int, n_bootstrap: int, exclude_invalid: bool) -> DeepSurvRequest:
    return DeepSurvRequest(endpoint=spec.get("endpoint", "OS"), split_column=spec.get("split_column", "split"),
                           definitions=tuple(spec.get("definitions", HCC_DEFINITIONS)),
                           auc_months=tuple(spec.get("auc_months", (12.0, 24.0, 36.0))), n_bootstrap=n_bootstrap,
                           exclude_invalid=exclude_invalid,
                           settings=DeepSurvSettings(code_size=int(spec.get("code_size", 100)), seed=seed))


def add_deepsurv_section(builder, cohort, section_type, table_html, paragraph) -> None:
    """Fit and score the pipeline; metrics table, comparison sentence, KM per set, C-index and PCA figures."""
    from .modelfile import save_pipeline
    from .outputs import run_figures, summary

    spec = builder.config.deepsurv
    section = section_type("Radiomics deep survival: autoencoder + DeepSurv vs sarcopenia definitions")

    def work() -> None:
        request = request_from_config(spec, builder.config.seed, builder.config.n_bootstrap,
                                      builder.config.exclude_invalid)
        features = read_features(spec["features"], cohort.columns.id)
        result = run_deepsurv(cohort, features, request)
        section.body.append(paragraph(
            f"Features: {spec['features']} ({features.shape[1]} columns, {len(result.pipeline.scaler.columns)} used). "
            f"Scaler, autoencoder ({request.settings.code_size} variables) and DeepSurv were fitted on the training "
            "set only; high risk = DeepSurv risk above the training median."))
        for name, row in summary(result).items():
            verdict = "beats" if row["deepsurv_beats_every_definition"] else "does not beat"
            section.body.append(paragraph(
                f"{name}: DeepSurv C-index {row['deepsurv_c_index']:.3f} {verdict} the best definition "
                f"({row['best_definition'] or 'n/a'}, {row['best_definition_c_index']:.3f})."))
        shown = result.metrics.drop(columns=["definition", "kind"], errors="ignore")
        section.body.append(table_html(shown))
        builder.write_table("deepsurv_metrics", result.metrics)
        builder.write_table("deepsurv_risk", result.risk)
        for stem, figure in run_figures(cohort, features, result, request):
            builder.add_figure(section, f"deepsurv_{stem}", figure)
        save_pipeline(result.pipeline, builder.out / "deepsurv_model", overwrite=True)
        for note in result.notes:
            section.body.append(paragraph(note, "note"))
        builder.record_exclusions("DeepSurv", result.exclusions, section)

    builder.guarded(section, work)
    builder.sections.append(section)
