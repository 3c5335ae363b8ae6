"""A suite's report: ppl-ssl's mean ± s.e. over seeds beside the papers' numbers, with a mark that says at a glance
whether it matches (≈), beats (▲) or trails (▼) the paper, the budget actually used, and the ablations' figures."""
from __future__ import annotations

import dataclasses
import json
import math
from collections import Counter, defaultdict
from pathlib import Path

from ppl_ssl.figures import plt, save_figure
from ppl_ssl.reporting import markdown_table, mean_and_standard_error
from ppl_ssl.reproduction.budgets import Budget
from ppl_ssl.reproduction.paper import PaperValue, paper_tables, paper_value
from ppl_ssl.reproduction.runner import RunResult
from ppl_ssl.reproduction.suites import Suite

def is_feature_score(key: str) -> bool:
    """A score on the offline feature network (FID, inception score), stored under the network's name:
    fid_<dataset>_..., is_<dataset>_..., val_fid_<dataset>_..."""
    return key.removeprefix("val_").startswith(("fid_", "is_"))


def metric_value(metrics: dict, key: str, dataset: str) -> float | None:
    if is_feature_score(key):
        split = "val_" if key.startswith("val_") else ""
        prefix, rest = key.removeprefix(split).split("_", 1)
        key = f"{split}{prefix}_{dataset.replace('-', '_')}_{rest}"
    value = metrics.get(key)
    return None if value is None else float(value)


def verdict(mean: float, se: float, paper: PaperValue, lower_is_better: bool | None, percent: bool) -> str:
    """≈ within noise (2 combined s.e.) or a tolerance (1 point for %, 5% of the paper's value otherwise); else ▲/▼
    (better/worse), or ↑/↓ (above/below) where neither direction is better (lower_is_better=None)."""
    spread = 2 * math.sqrt((0 if math.isnan(se) else se) ** 2 + (paper.se or 0) ** 2)
    tolerance = max(spread, 1.0 if percent else 0.05 * abs(paper.mean))
    if abs(mean - paper.mean) <= tolerance:
        return "≈"
    if lower_is_better is None:
        return "↑" if mean > paper.mean else "↓"
    better = (paper.mean - mean) if lower_is_better else (mean - paper.mean)
    return "▲" if better > 0 else "▼"


def _cell(values: list[float], digits: int, spread: str = "se") -> str:
    """mean ± standard error (spread "se") or ± standard deviation ("sd") over seeds; the mean alone for one seed."""
    if not values:
        return "–"
    mean, se = mean_and_standard_error(values)
    if math.isnan(se):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {se * (math.sqrt(len(values)) if spread == 'sd' else 1):.{digits}f}"


def _paper_with_standard_error(paper: PaperValue, suite: Suite) -> PaperValue:
    """A paper value whose ± is a deviation over the paper's seeds, turned into the standard error the verdict needs."""
    if suite.spread != "sd" or paper.se is None:
        return paper
    return PaperValue(paper.mean, paper.se / math.sqrt(suite.seeds or 1), paper.text)


def _digits(key: str, scale: float) -> int:
    if key == "reconstruction_mse":
        return 4 if scale == 1 else 2
    return 3 if key in ("test_bpd", "style_r2_mean") else 2 if key in ("kl", "aggregate_kl", "mutual_information") else 1


def summarise(suite: Suite, results: list[RunResult], dataset: str) -> dict:
    """{row: {metric: {"values": [...], "mean", "se", "paper", "paper_table", "verdict"}}} (rows: model, or model + setting)."""
    rows: dict[str, dict] = defaultdict(dict)
    grouped: dict[tuple, list[RunResult]] = defaultdict(list)
    for result in results:
        grouped[(result.spec.model, result.spec.setting)].append(result)
    for (model, setting), runs in grouped.items():
        row = rows[f"{model} {setting}".strip()]
        for key, _, scale in suite.metrics:
            values = [scale * v for r in runs if (v := metric_value(r.metrics, key, dataset)) is not None]
            if not values:
                continue
            mean, se = mean_and_standard_error(values)
            entry = {"values": values, "mean": mean, "se": se, "seeds": [r.spec.seed for r in runs]}
            found = paper_value(suite.paper_name(key), model, dataset, suite.paper_tables or None) if suite.paper_tables and not setting else None
            if found is not None:
                paper, table = found
                entry.update(paper=paper.mean, paper_se=paper.se, paper_text=str(paper), paper_table=table)
                if not is_feature_score(key):  # an Inception-FID is not comparable with ours in absolute terms
                    direction = None if key in suite.neither_is_better else key in suite.lower_is_better
                    entry["verdict"] = verdict(mean, se, _paper_with_standard_error(paper, suite), direction, scale == 100)
            row[key] = entry
    return dict(rows)


def select_on_validation(suite: Suite, results: list[RunResult], summary: dict, dataset: str) -> dict:
    """Pythae's best configuration per model and task: for each (reported metric, choosing metric) of
    `suite.selection`, the setting whose mean over seeds of the choosing metric (on the validation split) is best,
    and that setting's entry of the reported metric. {model: {metric: entry + {"setting", "chosen_by"}}}."""
    by_setting: dict[str, dict[str, list[RunResult]]] = defaultdict(lambda: defaultdict(list))
    for result in results:
        by_setting[result.spec.model][result.spec.setting].append(result)
    selected: dict[str, dict] = {}
    for model, settings in by_setting.items():
        row = selected.setdefault(model, {})
        for key, chooser, lower_is_better in suite.selection:
            scored = []
            for setting, runs in settings.items():
                values = [v for r in runs if (v := metric_value(r.metrics, chooser, dataset)) is not None]
                entry = summary.get(f"{model} {setting}".strip(), {}).get(key)
                if values and entry is not None and all(math.isfinite(v) for v in values):
                    scored.append((sum(values) / len(values), setting, entry))
            if scored:
                value, setting, entry = (min if lower_is_better else max)(scored, key=lambda item: item[0])
                row[key] = {**entry, "setting": setting, "chosen_by": chooser, "chosen_value": value}
    return selected


def _paper_cell(entry: dict) -> str:
    """The paper's number with the paper's digits (reports written before they were kept: rebuilt from the value),
    and the verdict."""
    paper = entry.get("paper_text") or str(PaperValue(entry["paper"], entry["paper_se"]))
    return f"{paper} {entry.get('verdict', '')}".rstrip()


def markdown(suite: Suite, budget: Budget, dataset: str, results: list[RunResult], summary: dict,
             figures: list[tuple[str, str]]) -> str:
    """The suite's section of report.md; figures: (caption, path relative to the report)."""
    if suite.selection:
        summary = select_on_validation(suite, results, summary, dataset)
    metrics = [(k, label, scale) for k, label, scale in suite.metrics if any(k in row for row in summary.values())]
    with_paper = {k for k, _, _ in metrics if any("paper" in row.get(k, {}) for row in summary.values())}
    header = ["run"] + [col for k, label, _ in metrics for col in ([label, "paper"] if k in with_paper else [label])]
    table_rows = []
    for name, row in summary.items():
        cells = [name]
        for key, _, scale in metrics:
            entry = row.get(key)
            cell = _cell(entry["values"], _digits(key, scale), suite.spread) if entry else "–"
            cells.append(f"{cell} ({entry['setting']})" if entry and entry.get("setting") else cell)
            if key in with_paper:
                cells.append(_paper_cell(entry) if entry and "paper" in entry else "–")
        table_rows.append(cells)
    seconds = sum(r.metrics.get(key, 0) for r in results for key in ("train_seconds", "eval_seconds", "scoring_seconds"))
    precisions = sorted({r.metrics.get("precision", "fp32") for r in results})
    seeds = sorted({r.spec.seed for r in results})
    versions = Counter(r.metrics.get("code_version", "not recorded") for r in results)
    recorded = sum(r.recorded for r in results)
    tables = sorted({e["paper_table"] for row in summary.values() for e in row.values() if "paper_table" in e})
    lines = [f"## {suite.name}: {suite.summary}", "", markdown_table(header, table_rows), "",
             f"{dataset}; {budget.describe()} Seeds {', '.join(map(str, seeds))}; precision {', '.join(precisions)}; "
             f"{len(results)} runs, {seconds / 60:.1f} min of training, evaluation and the suite's scoring (sum over runs). "
             "Code version: "
             + ", ".join(f"{version} ({count} run{'s' if count > 1 else ''})" for version, count in sorted(versions.items()))
             + (f"; {recorded} of the runs taken from an earlier report (`--recorded`)." if recorded else ".")
             + (f" Every run of the suite also sets, over the budget's settings above where they overlap (its paper's "
                f"protocol, and its own epochs and data at this budget): {', '.join(f'`{a}`' for a in suite.shared)}."
                if suite.shared else ""),
             ("Cells: mean ± standard deviation over seeds, as the paper prints them; " if suite.spread == "sd" else
              "Cells: mean ± standard error over seeds; ") + "accuracies, NMI and ARI in %. Paper columns: "
             + (", ".join(tables) if tables else "none for this suite") + " (see ppl_ssl/reproduction/paper_results.toml); "
             "≈ within 2 combined standard errors or 1 point (5% for other units), ▲ better, ▼ worse than the paper "
             "(↑/↓: above/below, where neither is better)."]
    for key in suite.paper_tables:  # a paper table without this dataset: its rows, for the shape of the result
        table = paper_tables()[key]
        if dataset not in table.datasets:
            rows = "; ".join(f"{model}: " + ", ".join(f"{metric} {table.get(model, metric, d)}" for metric in table.metrics
                                                      for d in table.datasets if table.get(model, metric, d))
                             for model in table.models)
            lines.append(f"The paper's {key} reports {', '.join(table.datasets)}, not {dataset} ({table.source}): {rows}.")
    if any(is_feature_score(k) for k, _, _ in metrics):
        accuracy = next((r.metrics["fid_feature_accuracy"] for r in results if "fid_feature_accuracy" in r.metrics), float("nan"))
        floor = [v for r in results if (v := r.metrics.get(f"fid_{dataset.replace('-', '_')}_train_vs_test")) is not None]
        lines.append(f"FID here is fid_{dataset.replace('-', '_')}: the Fréchet distance on the 128 penultimate features of a "
                     f"classifier trained on the dataset's training split (test accuracy {100 * accuracy:.1f}%; "
                     "ppl_ssl/evaluation/fid.py), between the samples and as many test images; training images score "
                     f"{_cell(floor, 2)} (the floor at this sample size). Not Inception's: compare orderings with the paper's "
                     "FID, not values.")
        digests = sorted({r.metrics["fid_feature_digest"] for r in results if "fid_feature_digest" in r.metrics})
        if len(digests) > 1:
            lines.append(f"**Warning**: these runs were scored by {len(digests)} different feature networks "
                         f"({', '.join(digests)}): their FIDs are not comparable. Score them under one OUT/feature_nets.")
        elif digests:
            lines.append(f"Feature network {digests[0]} (sha1 of its weights) for the "
                         f"{sum('fid_feature_digest' in r.metrics for r in results)} runs that record it.")
    if suite.selection:
        lines.append("One row per model: each cell is the test value of the configuration (in brackets, where the model "
                     "has several) that did best on the validation split on that task, as Pythae chooses them: "
                     + "; ".join(f"{label} by `{chooser}`" for (key, chooser, _), label in
                                 ((sel, dict((k, l) for k, l, _ in suite.metrics).get(sel[0], sel[0])) for sel in suite.selection))
                     + ". k-means accuracy is on the training codes, as Pythae reports it. Every run's metrics.json "
                     "holds every configuration's values.")
    if suite.kind == "likelihood":
        lines.append(f"Estimates per image, in nats: {budget.likelihood.describe()}; AIS from the guide with HMC "
                     "(ppl_ssl/evaluation/ais.py: 2 leapfrog steps, step sizes from a pilot run toward acceptance 0.8), "
                     "1 chain per image. The BDMC gap is the upper minus the lower bound on simulated images (none for "
                     "a model with several observed sites). Each run's likelihood.json holds every K and T with its "
                     "seconds per image.")
    for caption, path in figures:
        lines += ["", f"{caption}:", "", f"![{caption}]({path})"]
    return "\n".join(lines) + "\n"


def ablation_figures(suite: Suite, summary: dict, folder: Path) -> list[Path]:
    """One figure per swept setting (crop, jitter, J, …): a panel per metric, a line per model, mean ± s.e."""
    sweeps: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for name, row in summary.items():
        model, setting = name.split(" ", 1)
        label, value = setting.split("=")
        sweeps[label][model].append((float(value), row))
    paths = []
    for label, models in sweeps.items():
        metrics = [(k, m, scale) for k, m, scale in suite.metrics]
        fig, axes = plt.subplots(1, len(metrics), figsize=(3.2 * len(metrics), 3), squeeze=False)
        for ax, (key, metric_label, scale) in zip(axes[0], metrics):
            for model, points in models.items():
                points = sorted((x, row[key]) for x, row in points if key in row)
                if points:
                    ax.errorbar([x for x, _ in points], [e["mean"] for _, e in points],
                                yerr=[0 if math.isnan(e["se"]) else e["se"] for _, e in points], marker="o", capsize=3, label=model)
            ax.set_title(metric_label + (" (%)" if scale == 100 else ""))
            ax.set_xlabel(suite.x_label if len(sweeps) == 1 else label)
            if suite.x_log:
                ax.set_xscale("log", base=2)
        axes[0][-1].legend(fontsize=7)
        fig.tight_layout()
        path = folder / f"{suite.name}-{label.lower()}.png"
        save_figure(fig, path)
        paths.append(path)
    return paths


def curve_figure(suite: Suite, results: list[RunResult], folder: Path, dataset: str) -> Path:
    """The suite's curve metrics (tracked on the validation split during training, `train.track_every`) against
    epochs: a panel per metric, a line per row (model, or model and setting) with the mean over seeds and a band of
    ± one standard deviation, the paper's test number of the row as a dotted line of its colour where it has one."""
    import numpy as np

    grouped: dict[str, list[RunResult]] = defaultdict(list)
    for result in results:
        grouped[f"{result.spec.model} {result.spec.setting}".strip()].append(result)
    panels = suite.curve_metrics
    fig, axes = plt.subplots(1, len(panels), figsize=(4.5 * len(panels), 3.4), squeeze=False)
    for (key, label, scale), ax in zip(panels, axes[0]):
        for row, runs in grouped.items():
            curves = []
            for result in runs:
                history = json.loads((result.folder / "history.json").read_text())
                curves.append({h["epoch"]: scale * h[key] for h in history if h.get(key) is not None})
            epochs = sorted(set.intersection(*(set(c) for c in curves))) if curves else []
            if not epochs:
                continue
            values = np.array([[c[e] for e in epochs] for c in curves])
            mean = values.mean(0)
            line, = ax.plot(epochs, mean, marker="o", markersize=2.5, linewidth=1.2,
                            label=f"{row} ({len(runs)} seed{'s' if len(runs) > 1 else ''})")
            if len(runs) > 1:
                deviation = values.std(0, ddof=1)
                ax.fill_between(epochs, mean - deviation, mean + deviation, color=line.get_color(), alpha=0.15)
            paper = paper_value(suite.paper_name(key.removeprefix("val_")), runs[0].spec.model, dataset,
                                suite.paper_tables or None) if suite.paper_tables and not runs[0].spec.setting else None
            if paper is not None:
                ax.axhline(paper[0].mean, color=line.get_color(), linestyle=":", linewidth=1)
        ax.set_title(f"{label}, validation split" + (" (dotted: the paper's, test split)" if suite.paper_tables else ""),
                     fontsize=8)
        ax.set_xlabel("epoch")
    axes[0][0].legend(fontsize=6)
    fig.tight_layout()
    path = folder / f"{suite.name}-curves.png"
    save_figure(fig, path)
    return path


def likelihood_figure(suite: Suite, results: list[RunResult], folder: Path) -> Path:
    """Test NLL against compute (seconds per image, log scale) of the IW and AIS estimates, a panel per model (its
    first seed), all on the same first test images (the long AIS run's), from each run's likelihood.json."""
    first: dict[str, Path] = {}
    for r in sorted(results, key=lambda r: r.spec.seed):  # the suite's row order, each row's first seed
        first.setdefault(r.spec.model, r.folder)
    fig, axes = plt.subplots(1, len(first), figsize=(3.4 * len(first), 3.2), squeeze=False)
    for (model, run_folder), ax in zip(first.items(), axes[0]):
        rows = json.loads((run_folder / "likelihood.json").read_text())["curve"]
        for estimator, marker in (("IW", "o"), ("AIS", "s")):
            points = sorted((r["seconds_per_image"], r["nll_first_long_images"], r["size"]) for r in rows
                            if r["estimator"] == estimator)
            ax.plot([p[0] for p in points], [p[1] for p in points], marker=marker, markersize=3, linewidth=1.2,
                    label=f"{estimator} ({'K' if estimator == 'IW' else 'T'} = {', '.join(str(p[2]) for p in points)})")
        ax.set_xscale("log")
        ax.set_title(model, fontsize=9)
        ax.set_xlabel("seconds per image")
        ax.legend(fontsize=6)
    images = json.loads((next(iter(first.values())) / "metrics.json").read_text()).get("likelihood_long_images")
    axes[0][0].set_ylabel(f"test NLL (nats), first {images} test images")
    fig.tight_layout()
    path = folder / f"{suite.name}-nll-compute.png"
    save_figure(fig, path)
    return path


def interpolation_figure(suite: Suite, results: list[RunResult], summary: dict, folder: Path, dataset: str,
                         device: str = "auto") -> Path:
    """OUT/<suite>-interpolations.png: a row per model, its configuration with the lowest validation FID of the GMM
    sampler (its first seed with a run on disk; a model whose chosen runs are all recorded ones is left out), all
    between the same two test images."""
    from ppl_ssl.figures import interpolations_by_model
    from ppl_ssl.runs import load_run
    from ppl_ssl.train.setup import load_data_for

    chosen = select_on_validation(dataclasses.replace(suite, selection=(("fid_sampler_gmm", "val_fid_sampler_gmm", True),)),
                                  results, summary, dataset)
    systems, data = {}, None
    for model, row in chosen.items():
        if "fid_sampler_gmm" not in row:
            continue
        setting = row["fid_sampler_gmm"]["setting"]
        on_disk = [r for r in results if r.spec.model == model and r.spec.setting == setting and not r.recorded]
        if not on_disk:
            continue
        result = min(on_disk, key=lambda r: r.spec.seed)
        run = load_run(result.folder, device=device)
        data = data or load_data_for(run.config, run.device)
        systems[f"{model} {setting}".strip()] = run.system.eval()
    path = folder / f"{suite.name}-interpolations.png"
    interpolations_by_model(systems, data, path)
    return path
