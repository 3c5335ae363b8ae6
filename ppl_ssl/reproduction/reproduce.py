"""One call for a reproduction: run the suites' grids, then write OUT/report.md and OUT/report.json."""
from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

from ppl_ssl.config import build_config
from ppl_ssl.errors import ConfigError
from ppl_ssl.reproduction.budgets import budget as find_budget
from ppl_ssl.reproduction.report import (ablation_figures, curve_figure, interpolation_figure, likelihood_figure,
                                         markdown, summarise)
from ppl_ssl.reproduction.runner import recorded_runs, run_suite, runs_folder
from ppl_ssl.reproduction.suites import suite as find_suites
from ppl_ssl.storage import atomic_write_bytes, atomic_write_json, atomic_write_text


def only_models(suites: list, models: list[str]) -> list:
    """The suites cut to the rows of `models`, and those with none of them left out; a name in no suite is an error."""
    rows = {model for suite in suites for model, *_ in suite.runs}
    unknown = [m for m in models if m not in rows]
    if unknown:
        raise ConfigError(f"--models: {', '.join(unknown)} is not a row of the suite(s) asked for; their rows are "
                          f"{', '.join(sorted(rows))}")
    cut = [dataclasses.replace(suite, runs=tuple(r for r in suite.runs if r[0] in models)) for suite in suites]
    return [suite for suite in cut if suite.runs]


def reproduce(suite_name: str, budget_name: str = "cpu", dataset: str = "fashion-mnist", seeds: int | None = None,
              first_seed: int = 1, out: str | Path = "runs/reproduce", device: str = "auto", precision: str | None = None,
              assignments: list[str] | None = None, progress: bool = False, models: list[str] | None = None,
              recorded: str | Path | list[str | Path] | None = None) -> dict:
    """Train and evaluate every run of the suite(s), with `seeds` seeds (default: the paper's number for the suite, or
    the budget's) (finished runs are reused, interrupted ones resumed) and write the
    report; returns report.json's content. `models`: only the rows of these models (the report shows the rows run).
    `recorded`: earlier reproductions' report.json files (one or several) whose runs of this budget stand in for runs
    not on disk here, where they were made with the same settings (figures that need a checkpoint draw on the runs on disk)."""
    out = Path(out)
    budget = find_budget(budget_name)
    suites = [suite.with_budget(budget.name) for suite in find_suites(suite_name)]  # a suite's own protocol at this budget
    if models:
        suites = only_models(suites, models)
    for suite in suites:  # every preset and override checked before hours of training start
        for model, _, _, suite_assignments in suite.runs:
            build_config(model, {"data.dataset": dataset, "train.device": device},
                         [*suite.shared, *suite_assignments, *(assignments or [])])
    earlier = recorded_runs(recorded, budget) if recorded else None
    report = {"sections": {}}
    started = time.perf_counter()
    for suite in suites:
        count = seeds or (suite.seeds if suite.seeds and budget.name != "smoke" else budget.seeds)
        seed_list = list(range(first_seed, first_seed + count))
        results = run_suite(suite, budget, dataset, seed_list, out, device, precision, assignments, progress, earlier)
        on_disk = [r for r in results if not r.recorded]  # what figures needing a checkpoint or history draw on
        summary = summarise(suite, results, dataset)
        figures = []
        if suite.curves and on_disk:
            figures.append((f"{suite.name}: {', '.join(label for _, label, _ in suite.curve_metrics)} on the validation "
                            "split against epochs",
                            curve_figure(suite, on_disk, out, dataset).relative_to(out).as_posix()))
        if suite.kind == "likelihood" and budget.figures and on_disk:
            figures.append(("likelihood: test NLL against seconds per image, IW and AIS on the same test images",
                            likelihood_figure(suite, on_disk, out).relative_to(out).as_posix()))
        if suite.selection and budget.figures and on_disk:
            figures.append(("interpolations of the configuration with the lowest validation FID of the GMM sampler, "
                            "as Pythae's Appendix B chooses them",
                            interpolation_figure(suite, results, summary, out, dataset, device).relative_to(out).as_posix()))
        if suite.kind == "ablation":
            figures += [(f"{suite.name}: mean ± s.e. over seeds", path.name) for path in ablation_figures(suite, summary, out)]
        elif suite.kind == "generation" and budget.figures:
            first = {r.spec.model: r.folder for r in reversed(on_disk)}
            prefix = f"{budget.name}-{dataset}"
            figures += [(f"{model}: samples from a Gaussian fitted to each class's codes",
                        _beside_report(out, first[model] / "figures" / "class_samples.png",
                                       f"{prefix}-{model}-class_samples.png")) for model in first]
            if "simvae" in first:
                figures.append(("simvae: each row one content y from the prior and views z^j | y decoded (only SimVAE's "
                                "model can draw this)", _beside_report(out, first["simvae"] / "figures" / "prior_samples.png",
                                                                      f"{prefix}-simvae-shared_content.png")))
        # a report holds every suite run into this folder; rerunning one replaces its section. Read again just before
        # writing: reproductions of other suites run side by side into one OUT keep each other's sections
        where = runs_folder(out, budget, dataset, list(assignments or [])).relative_to(out).as_posix()
        report = _load_report(out)
        report["sections"][f"{where}/{suite.name}"] = {
            "suite": suite.name, "budget": budget.describe(), "dataset": dataset, "seeds": seed_list,
            "markdown": markdown(suite, budget, dataset, results, summary, figures), "summary": summary,
            "runs": {str(r.folder.relative_to(out)): r.metrics for r in results},
            "wall_seconds": time.perf_counter() - started}
        _write_report(out, report)
    return report


def _beside_report(out: Path, figure: Path, name: str) -> str:
    """A copy of a run's figure in OUT/report_figures/, so the report and its figures move together (its path
    relative to the report)."""
    target = out / "report_figures" / name
    atomic_write_bytes(target, figure.read_bytes())
    return target.relative_to(out).as_posix()


def _load_report(out: Path) -> dict:
    path = out / "report.json"
    if path.exists():
        report = json.loads(path.read_text())
        if "sections" in report:
            return report
    return {"sections": {}}


def _write_report(out: Path, report: dict) -> None:
    atomic_write_json(out / "report.json", report)
    sections = [section["markdown"] for section in report["sections"].values()]
    atomic_write_text(out / "report.md", "# Reproduction report\n\n" + "\n".join(sections))
