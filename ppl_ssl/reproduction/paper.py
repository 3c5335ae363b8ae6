"""The papers' reported numbers (`paper_results.toml`, transcribed by hand, each table naming its source), for the
reproduction reports to set beside ppl-ssl's."""
from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

RESULTS_FILE = Path(__file__).with_name("paper_results.toml")


@dataclass(frozen=True)
class PaperValue:
    mean: float
    se: float | None  # None where the paper gives no spread
    text: str = field(default="", compare=False)  # the cell as the paper prints it ("79.0 ± 0.5")

    def __str__(self) -> str:  # as printed in the paper, with its digits
        return self.text or f"{self.mean:g}" + ("" if self.se is None else f" ± {self.se:g}")


@dataclass(frozen=True)
class PaperTable:
    key: str
    source: str
    metrics: tuple[str, ...]
    datasets: tuple[str, ...]
    values: dict[tuple[str, str, str], PaperValue]  # (model, metric, dataset) → value

    @property
    def models(self) -> list[str]:
        return list(dict.fromkeys(model for model, _, _ in self.values))

    def get(self, model: str, metric: str, dataset: str) -> PaperValue | None:
        return self.values.get((model, metric, dataset))


def _parse_cell(text: str, where: str) -> PaperValue | None:
    text = text.strip()
    if text in ("-", "—"):
        return None
    mean, _, se = text.partition("±")
    try:
        return PaperValue(float(mean), float(se) if se.strip() else None, " ± ".join(p.strip() for p in (mean, se) if p.strip()))
    except ValueError:
        raise ValueError(f"{RESULTS_FILE.name}: cell {text!r} of {where} is not 'mean ± se', a number or '-'") from None


@cache
def paper_tables() -> dict[str, PaperTable]:
    """Every transcribed table, by key (e.g. 'simvae-table1')."""
    raw = tomllib.loads(RESULTS_FILE.read_text(encoding="utf-8"))
    tables = {}
    for key, table in raw.items():
        metrics, datasets = tuple(table["metrics"]), tuple(table["datasets"])
        columns = [(metric, dataset) for metric in metrics for dataset in datasets]
        values = {}
        for model, cells in table["rows"].items():
            if len(cells) != len(columns):
                raise ValueError(f"{RESULTS_FILE.name}: [{key}] row '{model}' has {len(cells)} cells for {len(columns)} columns")
            for (metric, dataset), cell in zip(columns, cells):
                value = _parse_cell(cell, f"[{key}] {model}")
                if value is not None:
                    values[(model, metric, dataset)] = value
        tables[key] = PaperTable(key, table["source"], metrics, datasets, values)
    return tables


def paper_value(metric: str, model: str, dataset: str, tables: tuple[str, ...] | None = None) -> tuple[PaperValue, str] | None:
    """The paper's number for (metric, model, dataset) and the table it comes from, searching `tables` (default all)."""
    for key, table in paper_tables().items():
        if tables is not None and key not in tables:
            continue
        value = table.get(model, metric, dataset)
        if value is not None:
            return value, key
    return None
