"""Typed, declarative run configuration.

A run is described by one `Config`: nested dataclasses whose fields are checked on load, plus *components*
(prior, likelihood, guide, nets) given as ``{kind = NAME, ...options}`` tables whose options are checked
against the typed options dataclass that the component registered. A config is built from layers
(built-in defaults < dataset defaults < preset files < command-line flags < ``--set key=value``); the fully
resolved config is written to the run folder as TOML and recreates the run on its own.
"""
from __future__ import annotations

import copy
import dataclasses
import math
import tomllib
import typing
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import tomli_w

from ppl_ssl import components  # noqa: F401  (fills the registries this schema checks names against)
from ppl_ssl.augment import AugmentConfig
from ppl_ssl.errors import ConfigError, file_system_error, one_line
from ppl_ssl.inference import DEFAULT_OBJECTIVE
from ppl_ssl.options import at_least, constraint_of, list_of, one_of, option, path, positive, random_seed
from ppl_ssl.precision import PRECISIONS
from ppl_ssl.optim import DEFAULT_OPTIMISER, DEFAULT_SCHEDULE
from ppl_ssl.registry import DATASETS, GUIDES, LIKELIHOODS, METHODS, MODELS, NETS, OBJECTIVES, OPTIMISERS, PRIORS, SCHEDULES, Registry
from ppl_ssl.storage import atomic_write_text


@dataclass
class Component:
    """A registered component chosen by `kind`, with that component's typed options."""

    kind: str
    options: Any = None

    def to_dict(self) -> dict:
        return {"kind": self.kind, **(dataclasses.asdict(self.options) if self.options is not None else {})}


def _component(registry: Registry, kind: str) -> Any:
    return field(default_factory=lambda: Component(kind), metadata={"registry": registry})


@dataclass
class ModelConfig:
    program: Component = _component(MODELS, "ssl")  # the Pyro model program (models/), with its own options
    latent_dim: int = option(10, at_least(1))
    views: int = option(10, at_least(1, 'J, views per image'))
    prior: Component = _component(PRIORS, "ssl_group")
    likelihood: Component = _component(LIKELIHOODS, "gaussian")


@dataclass
class DataConfig:
    dataset: str = field(default="fashion-mnist", metadata={"registry": DATASETS})
    data_dir: str = option("", path("file", "folder", empty="$PPL_SSL_DATA, then the dataset's usual system folders"))
    val_size: int = option(5000, positive(zero='a tenth of the training images'))
    train_subset: int = option(0, positive(zero='all'))
    split_seed: int = option(0, random_seed())
    image_size: int = option(32, at_least(4, "pixels"))  # --dataset folder: square size


@dataclass
class TrainConfig:
    epochs: int = option(20, at_least(1))
    batch_size: int = option(128, at_least(1, 'images per step'))
    lr: float = option(1e-3, positive())
    seed: int = option(1234, random_seed())
    device: str = option("auto", one_of(("auto", "cpu", "cuda"), pattern="cuda:"))
    checkpoint_every: int = option(1, at_least(1, 'epochs'))
    # also a mid-epoch checkpoint when this many minutes have passed since the last one (0: epochs only), so a kill
    # loses minutes, not a long epoch; written at a term read (every log_every steps)
    checkpoint_minutes: float = option(5.0, positive('minutes', zero='off'))
    # the nets' arithmetic: fp32, bf16 (autocast; every log-density stays fp32) or auto (bf16 where the hardware
    # has it natively); see ppl_ssl.precision
    precision: str = option("auto", one_of(PRECISIONS))
    # capture the whole training step once as a CUDA graph and replay it (ppl_ssl.train.graph; one process on a GPU)
    cuda_graph: bool = False
    compile: bool = False  # torch.compile the nets (ppl_ssl.train.setup; measured in experiments/bench_precision.py)
    # the step's terms stay on the device and are read (one host sync) every this many steps and at epoch end
    log_every: int = option(25, at_least(1, 'steps'))
    # Pyro's and torch's argument checks inside the training step; each check waits for the device, so off by default
    validate: bool = False
    # glibc's malloc keeps freed host memory for reuse instead of page-faulting it back in every step (runtime.py)
    keep_freed_memory: bool = True
    # gradient clipping to this total norm (0: off); the norm is logged as `grad_norm` either way
    max_grad_norm: float = option(0.0, positive(zero='off'))
    # the gradient taken: of the batch's summed loss (Pyro's convention; Adam is all but indifferent to the scale),
    # or of its mean per image (the CR-VAE code's, for which its SGD learning rate of 1e-3 is set)
    loss_reduction: str = option("sum", one_of(("sum", "mean")))
    # the divergence guard stops training when a logged term (per view) is non-finite or exceeds this in size
    divergence_bound: float = option(1e10, positive())
    detect_anomaly: bool = False  # torch.autograd's anomaly mode: names the op that made a NaN (slow; for debugging)
    tensorboard: bool = False  # RUN/tensorboard/: terms per step, epoch means, metrics, figures (ppl_ssl.trackers)
    mlflow: bool = False  # RUN/mlruns/: an MLflow file store with the same, the config as params (ppl_ssl.trackers)
    # under torchrun: batch norms' statistics over the global batch (SyncBatchNorm, CUDA only; each forward waits for
    # the host once per batch-norm layer), and how long a collective may wait before the run fails
    sync_batch_norm: bool = False
    rank_timeout_minutes: float = option(30.0, positive('minutes'))
    # every this many epochs (and at the last): kNN and GMM accuracy on the validation split in the epoch's summary
    # (val_knn_accuracy, val_gmm_accuracy; ppl_ssl.train.tracking), for curves against epochs; 0: off
    track_every: int = option(0, positive('epochs', zero='off'))
    # the training loss on the validation split after every epoch (`validation_loss` in the history: the negative
    # ELBO per view, a discriminative method's own loss, or what a method watches instead: VAEGAN's is Pythae's sum of
    # its three parts' losses), with its own augmentation generator, so training's
    # random state is untouched; `keep_best` keeps the weights of the epoch where it was lowest (RUN/best.pt), which
    # evaluation and load_run then use; `early_stopping_patience` stops training after that many epochs without a
    # lower one (0: off)
    validation_loss: bool = True
    keep_best: bool = False
    early_stopping_patience: int = option(0, positive('epochs', zero='off'))


@dataclass
class EvalConfig:
    # k-NN on the representation: k chosen on the validation split in 1..knn_max_k (the SimVAE paper's), or fixed
    # (knn_k; the CR-VAE paper's 200 voters); Euclidean or cosine distance; each neighbour's vote 1 or 1/distance
    # (the CR-VAE paper's "distance-weighted cosine distance": knn_metric = "cosine", knn_weights = "distance")
    knn_max_k: int = option(15, at_least(1))
    knn_k: int = option(0, positive(zero="chosen on validation in 1..knn_max_k"))
    knn_metric: str = option("euclidean", one_of(("euclidean", "cosine")))
    knn_weights: str = option("uniform", one_of(("uniform", "distance")))
    # the linear and MLP probes: `adam`, the SimVAE paper's (Adam, probe_epochs at probe_lr, the epoch of best
    # validation accuracy; kept for reproduction), or `sklearn`, scikit-learn's logistic regression and MLP solved to
    # convergence with the L2 strength chosen on the validation split (which cannot underfit by stopping early)
    probe: str = option("adam", one_of(("adam", "sklearn")))
    # which probes to train: a suite that reports only one (Pythae's classification task: the linear probe) leaves
    # the other out, which with probe_runs = 20 saves 20 trainings per run
    probes: list[str] = option(["linear", "mlp"], list_of(one_of(("linear", "mlp")), min_length=0,
                                                          text="a list of the probes to train: linear, mlp (empty: none)"))
    probe_epochs: int = option(200, at_least(1))
    probe_lr: float = option(3e-4, positive())
    probe_batch_size: int = option(128, at_least(1))
    # the Adam probes this many times from consecutive seeds, their mean accuracy reported with its standard deviation
    # (`*_accuracy_sd`; Pythae's classification task: 20 runs)
    probe_runs: int = option(1, at_least(1))
    gmm_n_init: int = option(10, at_least(1))
    # Pythae's clustering task: this many k-means fits on the training representations, scored by majority label
    kmeans_runs: int = option(0, positive(zero='off'))
    # Pythae's interpolation task: figures/interpolations.png, decoded straight lines between this many pairs of codes
    interpolation_pairs: int = option(0, positive(zero='no figure'))
    tsne_points: int = option(2000, positive(zero='no t-SNE'))
    figures: bool = True
    # importance-weighted test NLL with this many samples per image (0: skipped; evaluate.py --nll sets it)
    nll_samples: int = option(0, positive(zero='skip'))
    nll_test_images: int = option(0, positive(zero='the whole test split'))
    # style retention: probes predicting augmentation parameters from the representation (evaluation/style.py)
    style_probe: bool = True
    # MLP probes of this many binary attributes (the most balanced ones) where the dataset has them (CelebA: the
    # paper's Figure 6 probes 20); 0: none
    attribute_probes: int = option(20, positive(zero='none'))
    # posterior diagnostics (KL, active units, mutual information) on this many test images (0: skipped)
    diagnostics_points: int = option(2000, positive(zero='skip'))


@dataclass
class Config:
    name: str = "custom"
    # how the encoder is trained: "svi" fits model + guide (below) by SVI; the discriminative baselines
    # (simclr, vicreg, mocov2) train the same encoder with their own losses and ignore model.prior/likelihood/guide
    method: Component = _component(METHODS, "svi")
    model: ModelConfig = field(default_factory=ModelConfig)
    guide: Component = _component(GUIDES, "mean_field")
    # what SVI maximises, with its own settings (particles, β, KL warm-up); methods with their own loss leave it be
    objective: Component = _component(OBJECTIVES, DEFAULT_OBJECTIVE)
    # the optimiser's own settings (the base rate is train.lr) and how the rate moves with training
    optim: Component = _component(OPTIMISERS, DEFAULT_OPTIMISER)
    schedule: Component = _component(SCHEDULES, DEFAULT_SCHEDULE)
    nets: Component = _component(NETS, "mlp")
    data: DataConfig = field(default_factory=DataConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    def to_dict(self) -> dict:
        return _to_dict(self)

    def save(self, path: str | Path) -> None:
        atomic_write_text(Path(path), tomli_w.dumps(self.to_dict()))


# ----------------------------------------------------------------------------------------------- layers


class Layers:
    """Dicts merged in order, remembering which source set each dotted key (for error messages)."""

    def __init__(self) -> None:
        self.merged: dict = {}
        self.sources: dict[str, str] = {}

    def add(self, values: dict, source: str) -> None:
        _merge(self.merged, migrate(values), source, self.sources, prefix="")

    def source(self, key: str) -> str:
        while key and key not in self.sources:
            key = key.rpartition(".")[0]
        return self.sources.get(key, "the built-in defaults")


def _merge(base: dict, new: dict, source: str, sources: dict, prefix: str) -> None:
    for key, value in new.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and "kind" not in value and isinstance(base.get(key), str):
            base[key] = {"kind": base[key]}  # options added to a component given in shorthand (`program = "crvae"`)
        if isinstance(value, str) and isinstance(base.get(key), dict) and "kind" in base[key]:
            value = {"kind": value}  # a component kind given in shorthand replaces the old component
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            if "kind" in value and value["kind"] != base[key].get("kind"):
                base[key] = {}  # a new component kind: the old kind's options no longer apply
                for stale in [k for k in sources if k.startswith(dotted + ".")]:
                    del sources[stale]
            _merge(base[key], value, source, sources, dotted + ".")
        else:
            base[key] = copy.deepcopy(value)
            sources[dotted] = source
            if isinstance(value, dict):
                for sub in value:
                    sources[f"{dotted}.{sub}"] = source


# Keys of the configs written before the objective became a component -> where they live now.
MOVED_TO_OBJECTIVE = {("model", "beta"): "beta", ("train", "objective"): "kind", ("train", "particles"): "particles",
                      ("train", "kl_warmup_epochs"): "kl_warmup_epochs"}
NEUTRAL_OBJECTIVE_VALUES = {"beta": 1.0, "kl_warmup_epochs": 0.0}  # what "no KL weighting" was written as


def migrate(values: dict) -> dict:
    """A config layer in today's spelling: `model.beta`, `train.objective`, `train.particles` and
    `train.kl_warmup_epochs` (the spelling of earlier run folders, presets and --set) move to the [objective]
    section, `train.adam_eps` to `optim.eps`. A neutral β = 1 or warm-up 0 that the chosen objective does not take
    (IWAE) is dropped, as it meant nothing there; any other value stays, so the objective refuses it by name."""
    if isinstance(values.get("train"), dict) and "adam_eps" in values["train"]:
        values = copy.deepcopy(values)
        eps = values["train"].pop("adam_eps")
        optim = values.setdefault("optim", {})
        if isinstance(optim, dict):
            optim.setdefault("eps", eps)
    moved = {new: values[section][old] for (section, old), new in MOVED_TO_OBJECTIVE.items()
             if isinstance(values.get(section), dict) and old in values[section]}
    if not moved:
        return values
    values = copy.deepcopy(values)
    for section, old in MOVED_TO_OBJECTIVE:
        if isinstance(values.get(section), dict):
            values[section].pop(old, None)
    objective = values.setdefault("objective", {})
    if isinstance(objective, str):
        objective = values["objective"] = {"kind": objective}
    kind = moved.get("kind", objective.get("kind"))
    options = OBJECTIVES[kind].options if isinstance(kind, str) and kind in OBJECTIVES else None
    takes = {f.name for f in dataclasses.fields(options)} if options is not None else set()
    for key, value in moved.items():
        if key != "kind" and kind is not None and key not in takes and NEUTRAL_OBJECTIVE_VALUES.get(key) == value:
            continue
        objective.setdefault(key, value)
    return values


def parse_assignment(text: str) -> dict:
    """'model.prior.kind=mog' -> {'model': {'prior': {'kind': 'mog'}}}; values are read as TOML, else as strings."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError(f"--set '{one_line(text)}' is not KEY=VALUE; write e.g. --set objective.beta=0.5")
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    return _nest(key, value)


# ----------------------------------------------------------------------------------------------- presets

PRESET_PACKAGE = "ppl_ssl.presets"


def preset_names() -> list[str]:
    return sorted(p.name[:-5] for p in resources.files(PRESET_PACKAGE).iterdir() if p.name.endswith(".toml"))


AMBIGUOUS_PRESETS = {
    "crvae": "'crvae' names two methods: use crvae-consistency (Sinha & Dieng's consistency-regularised VAE, the SimVAE "
             "papers' CR-VAE) or crvae-contrastive (Lygerakis & Rueckert's contrastive CR-VAE)"}


def read_preset(name_or_path: str, _chain: tuple[str, ...] = ()) -> list[tuple[dict, str]]:
    """The preset's layers, base first (a preset may say `[preset] extends = "other"`)."""
    path = Path(name_or_path)
    if path.suffix == ".toml" and path.exists():
        if not path.is_file():
            raise ConfigError(f"preset {path} is a folder, not a .toml file; name the file inside it")
        text, source = _read_text(path, "preset"), str(path)
    elif name_or_path in preset_names():
        resource = resources.files(PRESET_PACKAGE) / f"{name_or_path}.toml"
        text, source = resource.read_text(), f"preset {name_or_path} ({resource})"
    elif name_or_path in AMBIGUOUS_PRESETS:
        raise ConfigError(AMBIGUOUS_PRESETS[name_or_path])
    else:
        raise ConfigError(f"unknown model preset '{name_or_path}'; choose one of: {', '.join(preset_names())} (or a .toml path)")
    try:
        values = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{source}: not valid TOML ({err})") from None
    meta = values.pop("preset", {})
    if not isinstance(meta, dict):
        raise ConfigError(f"{source}: 'preset' must be a table ([preset] with extends / description), got {meta!r}")
    if "extends" not in meta:
        return [(values, source)]
    base = meta["extends"]
    if not isinstance(base, str) or not base:
        raise ConfigError(f"{source}: [preset] extends = {base!r} must be a preset name or a .toml path (a string)")
    here = str(path.resolve()) if path.suffix == ".toml" else name_or_path
    base_key = str(Path(base).resolve()) if base.endswith(".toml") else base
    if base_key in (*_chain, here):
        cycle = " -> ".join([*_chain, here, base_key])
        raise ConfigError(f"{source}: [preset] extends = {base!r} makes a cycle ({cycle}); a preset cannot extend itself, directly or through others")
    return [*read_preset(base, (*_chain, here)), (values, source)]


def _read_text(path: Path, what: str) -> str:
    """A UTF-8 text file, every failure one line naming it."""
    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as err:
        raise ConfigError(f"{what} {path} is not UTF-8 text (byte {err.start}: {err.reason}); save it as UTF-8") from None
    except OSError as err:
        raise file_system_error(err, path, reading=True) from None


# ----------------------------------------------------------------------------------------------- resolve


def resolve(layers: Layers, name: str = "custom") -> Config:
    """Build and check a Config from merged layers, with the dataset's defaults beneath them."""
    dataset = layers.merged.get("data", {}).get("dataset", DataConfig.dataset)
    if not isinstance(dataset, str) or dataset not in DATASETS:
        raise ConfigError(f"data.dataset = {dataset!r} (from {layers.source('data.dataset')}) is not a known dataset; "
                          f"choose one of: {', '.join(DATASETS.names())}")
    spec = DATASETS[dataset].component
    full = Layers()
    full.add({"name": name}, "the preset name")
    full.add(spec.config_defaults(), f"the defaults of dataset {dataset}")
    full.add(layers.merged, "")
    full.sources.update({k: v for k, v in layers.sources.items()})
    return _from_dict(Config, full.merged, "", full)


def load_config(path: str | Path) -> Config:
    """Read a resolved config file (e.g. a run's config.toml)."""
    path = Path(path)
    if path.parent.exists() and not path.parent.is_dir():
        raise ConfigError(f"{path.parent} is a file; pass a run folder (written by ppl-ssl fit)")
    if not path.is_file():
        raise ConfigError(f"no config file at {path}; a run folder holds config.toml")
    try:
        values = tomllib.loads(_read_text(path, "config file"))
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: not valid TOML ({err})") from None
    layers = Layers()
    layers.add(values, str(path))
    return resolve(layers, values.get("name", "custom"))


def _type_name(tp: Any) -> str:
    return {int: "an integer", float: "a number", bool: "true or false", str: "a string"}.get(tp, str(tp))


def _coerce(value: Any, tp: Any, key: str, layers: Layers) -> Any:
    origin = typing.get_origin(tp)
    bad = ConfigError(f"{key} expects {_type_name(tp) if origin is None else 'a list'}, got {value!r} (from {layers.source(key)})")
    if origin is list:
        (item,) = typing.get_args(tp)
        if not isinstance(value, (list, tuple)):
            raise bad
        return [_coerce(v, item, key, layers) for v in value]
    if tp is bool:
        if not isinstance(value, bool):
            raise bad
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise bad
        return value
    raise TypeError(f"unsupported config field type {tp}")


def _from_dict(cls: type, values: Any, prefix: str, layers: Layers) -> Any:
    where = prefix.rstrip(".") or "the config"
    if not isinstance(values, dict):
        raise ConfigError(f"{where} must be a table of keys, got {values!r} (from {layers.source(where)})")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in values:
        if key not in fields:
            raise ConfigError(
                f"unknown key '{prefix}{key}' (from {layers.source(prefix + key)}); allowed keys in {where}: {', '.join(fields)}"
            )
    kwargs = {}
    for name, f in fields.items():
        key = prefix + name
        registry = f.metadata.get("registry")
        if hints[name] is Component:
            given = values.get(name, {})
            default_kind = f.default_factory().kind
            kwargs[name] = _component_from_dict(registry, given, default_kind, key, layers)
            continue
        if dataclasses.is_dataclass(hints[name]):
            kwargs[name] = _from_dict(hints[name], values.get(name, {}), key + ".", layers)
            continue
        if name not in values:
            continue
        value = _coerce(values[name], hints[name], key, layers)
        if registry is not None and value not in registry:
            raise ConfigError(
                f"{key} = {value!r} (from {layers.source(key)}) is not a known {registry.kind}; choose one of: {', '.join(registry.names())}"
            )
        constraint = constraint_of(f)
        if constraint is not None and not constraint.admits(value):
            finite = "a finite number, " if isinstance(value, float) and not math.isfinite(value) else ""
            raise ConfigError(f"{key} = {value!r} (from {layers.source(key)}) must be {finite}{constraint.requirement}")
        kwargs[name] = value
    return cls(**kwargs)


def _component_from_dict(registry: Registry, given: Any, default_kind: str, key: str, layers: Layers) -> Component:
    if isinstance(given, str):
        given = {"kind": given}  # shorthand: `guide = "mean_field"` means `guide = { kind = "mean_field" }`
    if not isinstance(given, dict):
        raise ConfigError(f"{key} must be a table with a 'kind' key, got {given!r} (from {layers.source(key)})")
    kind = given.get("kind", default_kind)
    if not isinstance(kind, str) or kind not in registry:
        raise ConfigError(
            f"{key}.kind = {kind!r} (from {layers.source(key + '.kind')}) is not a known {registry.kind}; choose one of: {', '.join(registry.names())}"
        )
    options_cls = registry[kind].options
    rest = {k: v for k, v in given.items() if k != "kind"}
    if options_cls is None:
        if rest:
            name = next(iter(rest))
            raise ConfigError(f"unknown key '{key}.{name}' (from {layers.source(key + '.' + name)}); {registry.kind} '{kind}' takes no options")
        return Component(kind)
    return Component(kind, _from_dict(options_cls, rest, key + ".", layers))


def _to_dict(obj: Any) -> Any:
    if isinstance(obj, Component):
        return obj.to_dict()
    if dataclasses.is_dataclass(obj):
        return {f.name: _to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    return obj


def flat_values(config: Config | dict) -> dict[str, Any]:
    """Every resolved value of a config (or of its dict) by dotted key ('model.prior.sigma2': 0.15, ...)."""
    out: dict[str, Any] = {}

    def walk(node: Any, prefix: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, f"{prefix}{key}.")
        else:
            out[prefix[:-1]] = node

    walk(_to_dict(config) if not isinstance(config, dict) else config, "")
    return out


# What may change between a checkpoint and the config a run resumes or is evaluated with: how long it trains, how
# often it logs, checkpoints and tracks, where it runs, and everything evaluation does. Any other key changes what
# the weights mean or how they go on training, so a run folder whose config.toml changed it no longer describes them.
FREE_AFTER_TRAINING = ("name", "train.epochs", "train.device", "train.checkpoint_every", "train.checkpoint_minutes",
                       "train.log_every", "train.validate", "train.detect_anomaly", "train.tensorboard",
                       "train.rank_timeout_minutes", "train.track_every", "train.keep_freed_memory", "train.mlflow", "data.data_dir",
                       "train.validation_loss", "train.early_stopping_patience", "eval.")


def trained_differences(trained: dict, config: Config) -> list[tuple[str, Any, Any]]:
    """(key, value trained with, value in `config`) for each setting that would change what a checkpoint trained
    with `trained` (its config's dict) means; `auto` precision matches what it became."""
    return config_differences(trained, config, ignore=FREE_AFTER_TRAINING)


_NO_DEFAULT = object()


def _field_default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    return f.default_factory() if f.default_factory is not dataclasses.MISSING else _NO_DEFAULT


def flat_defaults(config: Config) -> dict[str, Any]:
    """The default of every option of a config's components and sections, by dotted key (as `flat_values`)."""
    out: dict[str, Any] = {}

    def walk(node: Any, prefix: str) -> None:
        options = node.options if isinstance(node, Component) else node
        if options is None or not dataclasses.is_dataclass(options):
            return
        for f in dataclasses.fields(options):
            value = getattr(options, f.name)
            if isinstance(value, Component) or dataclasses.is_dataclass(value):
                walk(value, f"{prefix}{f.name}.")
            else:
                out[f"{prefix}{f.name}"] = _field_default(f)

    walk(config, "")
    return out


def config_differences(saved: Config | dict, requested: Config, ignore: tuple[str, ...] = ()) -> list[tuple[str, Any, Any]]:
    """(key, saved value, requested value) for every resolved value that differs, but the keys in `ignore` (a key
    ending in "." ignores its whole section); a requested `auto` precision matches whatever `auto` became in the
    saved run; an option the saved config lacks (it came later) at its default is what the saved run did."""
    old, new = flat_values(saved), flat_values(requested)
    defaults = flat_defaults(requested)
    differences = []
    for key in sorted(set(old) | set(new)):
        if any(key == free or (free.endswith(".") and key.startswith(free)) for free in ignore):
            continue
        if key == "train.precision" and new.get(key) == "auto":
            continue
        if key not in old and new.get(key) == defaults.get(key, _NO_DEFAULT):
            continue
        if old.get(key, "(absent)") != new.get(key, "(absent)"):
            differences.append((key, old.get(key, "(absent)"), new.get(key, "(absent)")))
    return differences


def listed_differences(differences: list[tuple[str, Any, Any]], before: str, after: str) -> str:
    """'key: BEFORE old, AFTER new; ...': config differences as a refusal names them."""
    return "; ".join(f"{key}: {before} {old!r}, {after} {new!r}" for key, old, new in differences)


def build_config(preset: str, cli: dict | None = None, assignments: list[str] | None = None) -> Config:
    """The resolved config for a preset, command-line flags ({dotted.key: value}) and --set assignments."""
    layers = Layers()
    for values, source in read_preset(preset):
        layers.add(values, source)
    for dotted, value in (cli or {}).items():
        flag = "--" + dotted.rpartition(".")[2].replace("_", "-")
        layers.add(_nest(dotted, value), f"the command line ({flag})")
    merged_sets: dict = {}
    for text in assignments or []:
        chosen = copy.deepcopy(layers.merged)  # the components as chosen so far, earlier --set included
        _merge(chosen, merged_sets, "", {}, "")
        _merge(merged_sets, _route_to_component(parse_assignment(text), chosen, text), "", {}, "")
    if merged_sets:
        layers.add(merged_sets, "--set " + " ".join(one_line(a) for a in assignments or []))
    name = Path(preset).stem if preset.endswith(".toml") else preset
    return resolve(layers, name)


def _route_to_component(assignment: dict, chosen: dict, text: str) -> dict:
    """`--set model.levels=3` means model.program.levels when `levels` is no key of `model` but an option of exactly
    one of its components (as chosen so far); an option two components share must be named in full."""
    (section, inner), = assignment.items()
    if not isinstance(inner, dict) or len(inner) != 1:
        return assignment
    (name, value), = inner.items()
    section_cls = typing.get_type_hints(Config).get(section)
    if not dataclasses.is_dataclass(section_cls) or name in {f.name for f in dataclasses.fields(section_cls)}:
        return assignment
    owners = []
    hints = typing.get_type_hints(section_cls)
    for f in dataclasses.fields(section_cls):
        if hints[f.name] is not Component:
            continue
        given = chosen.get(section, {}).get(f.name, f.default_factory().kind)
        kind = given if isinstance(given, str) else given.get("kind", f.default_factory().kind)
        options = f.metadata["registry"][kind].options if kind in f.metadata["registry"] else None
        if options is not None and name in {o.name for o in dataclasses.fields(options)}:
            owners.append(f.name)
    if len(owners) > 1:
        raise ConfigError(f"--set {text}: '{name}' is an option of {' and '.join(f'{section}.{o}' for o in owners)}; "
                          f"write {' or '.join(f'{section}.{o}.{name}' for o in owners)}")
    return {section: {owners[0]: {name: value}}} if owners else assignment


def _nest(dotted: str, value: Any) -> dict:
    out: dict = {}
    node = out
    *parents, leaf = dotted.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    node[leaf] = value
    return out
