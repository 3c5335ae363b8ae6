"""Property-based tests (Hypothesis) of the input contract: whatever a user gives (a config value, a --set string, an
.npz file, a folder of images), the run either works and gives the right result, or stops with one line naming the bad
thing (exit status 2 through the commands), never a traceback and never a wrong result.

The config values are generated from the schema itself: each option's declared constraint (ppl_ssl.options) yields
values it must admit and values it must refuse, so an option added tomorrow is searched without a new test. The
budget: a fixed seed and `examples(n)` per property in `make test`, ten times more and random in `make test-all`."""
from __future__ import annotations

import contextlib
import dataclasses
import io
import math
import sys
import typing
from pathlib import Path

import numpy as np
import pytest
import tomli_w
from hypothesis import event, given, strategies as st

from ppl_ssl.cli import user_errors
from ppl_ssl.config import Component, Config, build_config, flat_values
from ppl_ssl.data.user import read_arrays, read_folder
from ppl_ssl.errors import ConfigError, DataFileError, DataNotFoundError
from ppl_ssl.options import Number, OneOf, PathOption, Sequence, constraint_of
from ppl_ssl.registry import Registry
from tests.conftest import TINY, examples

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "experiments"))


# ------------------------------------------------------------------------------------------- the schema's fields

@dataclasses.dataclass(frozen=True)
class SchemaField:
    key: str  # dotted, as --set names it
    type: typing.Any
    constraint: typing.Any  # a constraint from ppl_ssl.options, a registry, or None (a plain bool / str)
    choose: tuple[str, ...] = ()  # --set assignments that choose the component whose option this is

    def __str__(self) -> str:
        return self.key + (f" ({', '.join(self.choose)})" if self.choose else "")


def _fields(cls, prefix: str, choose: tuple[str, ...] = ()) -> list[SchemaField]:
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        key, tp = prefix + f.name, hints[f.name]
        if tp is Component:
            for kind in f.metadata["registry"].names():
                options = f.metadata["registry"][kind].options
                if options is not None:
                    out += _fields(options, key + ".", (*choose, f"{key}.kind={kind!r}"))
        elif dataclasses.is_dataclass(tp):
            out += _fields(tp, key + ".", choose)
        elif f.name != "name":
            out.append(SchemaField(key, tp, constraint_of(f) or f.metadata.get("registry"), choose))
    return out


FIELDS = _fields(Config, "")


def test_every_numeric_and_list_option_declares_its_range():
    undeclared = [str(f) for f in FIELDS if f.type is not bool and f.constraint is None]
    assert not undeclared, f"options without a declared constraint: {undeclared}"
    assert len(FIELDS) > 100  # the config's sections and every registered component's options


def _numbers(c: Number, integer: bool, valid: bool) -> st.SearchStrategy:
    if valid:
        if integer:
            low = None if c.low is None else math.floor(c.low) + 1 if c.low_open or c.low != math.floor(c.low) else int(c.low)
            high = None if c.high is None else math.ceil(c.high) - 1 if c.high_open or c.high != math.ceil(c.high) else int(c.high)
            inside = st.integers(min_value=low, max_value=high if high is not None else (low or 0) + 10**6)
        else:
            low = c.low if c.low is not None else -1e6
            high = c.high if c.high is not None else max(low, 0) + 1e6
            inside = st.floats(min_value=low, max_value=high, exclude_min=c.low_open and c.low is not None,
                               exclude_max=c.high_open and c.high is not None, allow_nan=False, allow_infinity=False)
        return st.one_of(inside, st.just(0)) if c.zero else inside
    outside = []
    if c.low is not None:
        outside.append(st.integers(max_value=math.ceil(c.low) - (0 if c.low_open else 1)) if integer else
                       st.floats(max_value=c.low, exclude_max=not c.low_open, allow_nan=False, allow_infinity=False))
    if c.high is not None:
        outside.append(st.integers(min_value=math.floor(c.high) + (0 if c.high_open else 1)) if integer else
                       st.floats(min_value=c.high, exclude_min=not c.high_open, allow_nan=False, allow_infinity=False))
    if not integer:
        outside.append(st.sampled_from([math.nan, math.inf, -math.inf]))
    outside.append(st.text(max_size=5))  # the wrong type
    outside.append(st.booleans())
    return st.one_of(*outside).filter(lambda v: not c.admits(v) or isinstance(v, (str, bool)))


def values(field: SchemaField, valid: bool) -> st.SearchStrategy:
    c, tp = field.constraint, field.type
    item_type = typing.get_args(tp)[0] if typing.get_origin(tp) is list else tp
    if tp is bool:
        return st.booleans() if valid else st.one_of(st.integers(), st.text(max_size=4))
    if isinstance(c, Number):
        return _numbers(c, tp is int, valid)
    if isinstance(c, OneOf):
        if valid:
            return st.one_of(st.sampled_from(c.choices), *([st.integers(0, 99).map(lambda n: f"{c.pattern}{n}")] if c.pattern else []))
        return st.one_of(st.text(max_size=8).filter(lambda v: not c.admits(v)), st.integers())
    if isinstance(c, Registry):  # a registry-named string (data.dataset)
        return st.sampled_from(c.names()) if valid else st.text(max_size=8).filter(lambda v: v not in c.names())
    if isinstance(c, PathOption):
        return st.text(max_size=20).filter(lambda v: "\0" not in v) if valid else st.integers()
    if isinstance(c, Sequence):
        item = c.item
        if isinstance(item, Number):
            good_item = _numbers(item, item_type is int, True)
            bad_item = _numbers(item, item_type is int, False).filter(lambda v: not isinstance(v, (str, bool)))
        else:
            good_item, bad_item = values(SchemaField("", str, item), True), st.text(max_size=6).filter(lambda v: not item.admits(v))
        size = dict(min_size=c.length, max_size=c.length) if c.length is not None else dict(min_size=c.min_length, max_size=4)
        if valid:
            good = st.lists(good_item, **size)
            return good.map(sorted) if c.ascending else good
        wrong_length = st.lists(good_item, max_size=6).filter(lambda v: not c.admits(v))
        with_bad_item = st.lists(good_item, **size).flatmap(
            lambda v: st.tuples(st.just(v), bad_item, st.integers(0, max(len(v), 1) - 1))).map(
            lambda t: [*t[0][: t[2]], t[1], *t[0][t[2] + 1:]] if t[0] else [t[1]])
        return st.one_of(wrong_length, with_bad_item, st.text(max_size=4)).filter(lambda v: not c.admits(v))
    raise AssertionError(f"{field}: no strategy for constraint {c!r}")


def _toml(value) -> str:
    return tomli_w.dumps({"v": value}).partition("=")[2].strip()


@pytest.mark.parametrize("field", FIELDS, ids=str)
@examples(4)
@given(data=st.data())
def test_a_value_the_schema_declares_valid_is_taken_as_given(field, data):
    value = data.draw(values(field, valid=True), label=field.key)
    config = build_config("vae", assignments=[*field.choose, f"{field.key}={_toml(value)}"])
    got = flat_values(config)[field.key]
    assert got == value or (isinstance(value, float) and math.isclose(got, value, rel_tol=0, abs_tol=0)), (got, value)


@pytest.mark.parametrize("field", FIELDS, ids=str)
@examples(4)
@given(data=st.data())
def test_a_value_the_schema_declares_invalid_is_refused_in_one_line_naming_the_key(field, data):
    value = data.draw(values(field, valid=False), label=field.key)
    assignment = f"{field.key}={_toml(value)}"
    with pytest.raises(ConfigError) as refused:
        build_config("vae", assignments=[*field.choose, assignment])
    message = str(refused.value)
    assert "\n" not in message and field.key in message, message


# ------------------------------------------------------------------------------------------- --set strings

KEYS = sorted({f.key for f in FIELDS} | {"model.prior.kind", "guide.kind", "method.kind", "objective.kind"})
_PIECES = st.one_of(st.sampled_from(KEYS), st.text(alphabet="abcdefghijklmnopqrstuvwxyz._[]= \"'", max_size=24))
_RAW = st.one_of(st.text(max_size=12), st.integers().map(str), st.floats().map(repr), st.sampled_from(
    ["[]", "[1, 2]", "{}", "{kind='mog'}", "'x'", "true", "nan", "-inf", "[0.5, 0.1]", "1e400", "[[1]]", '"cuda:0"']))


def _command_line(assignments: list[str]) -> tuple[int, list[str]]:
    """What a command says for these --set strings: (exit status, lines on stderr); 0 when the config resolved."""
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr):
        try:
            with user_errors():
                build_config("vae", assignments=assignments)
        except SystemExit as stopped:
            return stopped.code, stderr.getvalue().strip().splitlines()
    return 0, stderr.getvalue().strip().splitlines()


@examples(150)
@given(st.lists(st.one_of(st.tuples(_PIECES, _RAW).map(lambda kv: f"{kv[0]}={kv[1]}"), st.text(max_size=30)),
                min_size=1, max_size=3))
def test_any_set_strings_give_a_config_or_one_line_with_status_2(assignments):
    status, lines = _command_line(assignments)
    event("resolved" if status == 0 else "refused")
    assert status == 0 and not lines or status == 2 and len(lines) == 1 and lines[0].startswith("error: "), (status, lines)


# ------------------------------------------------------------------------------------------- .npz files

_DTYPES = [np.uint8, np.float32, np.float64, np.int16, np.int64, np.bool_, np.float16]


@st.composite
def npz_contents(draw) -> dict:
    n = draw(st.integers(0, 14))
    channels = draw(st.sampled_from([None, 1, 2, 3, 4]))
    side = draw(st.integers(1, 6))
    shape = (n, side, side) if channels is None else (n, channels, side, side)
    if draw(st.booleans()):
        shape = draw(st.lists(st.integers(0, 4), min_size=1, max_size=5).map(tuple))  # any rank
    dtype = draw(st.sampled_from(_DTYPES))
    count = int(np.prod(shape))
    if np.issubdtype(dtype, np.floating):
        special = draw(st.sampled_from([None, None, math.nan, math.inf, -0.5, 1.5]))
        array = np.asarray(draw(st.lists(st.floats(0, 1, width=16), min_size=count, max_size=count)), dtype=dtype)
        if special is not None and count:
            array[draw(st.integers(0, count - 1))] = special
    else:
        array = np.asarray(draw(st.lists(st.integers(0, 255), min_size=count, max_size=count)), dtype=np.int64).astype(dtype)
    contents = {"images": array.reshape(shape)}
    if draw(st.booleans()):
        size = draw(st.sampled_from([n, n, n, max(n - 1, 0), n + 1]))
        contents["labels"] = np.asarray(draw(st.lists(st.integers(-2**40, 2**40) | st.integers(-3, 3),
                                                      min_size=size, max_size=size)), dtype=np.int64)
        if draw(st.booleans()):
            contents["labels"] = contents["labels"].astype(draw(st.sampled_from([np.int8, np.float32, np.uint16])))
    if draw(st.booleans()):
        contents["test_images"] = np.zeros((draw(st.integers(0, 3)), *shape[1:]), dtype=np.uint8)
    return contents


@examples(120)
@given(npz_contents())
def test_any_npz_reads_correctly_or_is_refused_in_one_line(tmp_path_factory, contents):
    path = tmp_path_factory.mktemp("npz") / "data.npz"
    np.savez(path, **contents)
    try:
        data = read_arrays(path, 32)
    except (DataFileError, DataNotFoundError) as refused:
        event(f"refused: {str(refused).split(';')[0].partition(': ')[2][:40]}")
        assert "\n" not in str(refused) and str(path) in str(refused)
        return
    event("read, labelled" if "labels" in contents else "read, unlabelled")
    images = contents["images"]
    assert data.train_x.dtype == np.uint8 and data.train_x.ndim == 4 and data.train_x.shape[1] in (1, 3)
    assert len(data.train_x) + (0 if "test_images" in contents else len(data.test_x)) == len(images)
    if images.dtype == np.uint8:  # pixels are kept exactly (held-out split or not, as a multiset)
        kept = np.concatenate([data.train_x, data.test_x]) if "test_images" not in contents else data.train_x
        assert sorted(kept.ravel().tolist()) == sorted(images.ravel().tolist())
    labels = contents.get("labels")
    if labels is None:
        assert (data.train_y == -1).all() and data.class_names == ()
        return
    given_values = sorted(set(labels.astype(np.int64).tolist()))
    assert data.class_names == tuple(str(v) for v in given_values)  # every given value a class, in order
    assert (data.train_y >= 0).all() and (data.train_y < len(given_values)).all()
    if "test_images" not in contents:
        everything = np.concatenate([data.train_y, data.test_y])
        assert sorted(int(given_values[c]) for c in everything) == sorted(labels.astype(np.int64).tolist())


# ------------------------------------------------------------------------------------------- image folders

# (mode, how to fill an image of it from a level in 0 … 255, suffixes that store it losslessly)
_MODES = {
    "L": (lambda v: np.full((5, 7), v, np.uint8), ("png", "bmp", "tif")),
    "1": (lambda v: np.full((5, 7), v >= 128), ("png", "bmp")),
    "LA": (lambda v: np.dstack([np.full((5, 7), v, np.uint8), np.full((5, 7), 255, np.uint8)]), ("png",)),
    "RGB": (lambda v: np.dstack([np.full((5, 7), (v * k) % 256, np.uint8) for k in (1, 3, 7)]), ("png", "bmp", "tif")),
    "RGBA": (lambda v: np.dstack([np.full((5, 7), (v * k) % 256, np.uint8) for k in (1, 3, 7, 0)]), ("png", "tif")),
    "I;16": (lambda v: np.full((5, 7), v * 257, np.uint16), ("png", "tif")),
    "I": (lambda v: np.full((5, 7), v * 257, np.int32), ("tif",)),
    "F": (lambda v: np.full((5, 7), v / 255, np.float32), ("tif",)),
    "P": (None, ("png", "gif")),
}


def _save(path: Path, mode: str, level: int) -> None:
    from PIL import Image

    make, _ = _MODES[mode]
    if mode == "P":
        image = Image.new("P", (7, 5), 0)
        image.putpalette([level, level, level] * 256)  # a grey palette
    elif mode == "1":
        image = Image.fromarray(make(level))
    else:
        image = Image.fromarray(make(level))
    image.save(path)


def _expected(mode: str, level: int, grey: bool) -> list[int]:
    """What ppl-ssl must read from an image of this mode filled from `level`: wide grey rescaled, never clipped."""
    if mode in ("I;16", "I", "F", "L", "LA", "P"):
        value = level
    elif mode == "1":
        value = 255 if level >= 128 else 0
    else:
        rgb = [(level * k) % 256 for k in (1, 3, 7)]
        return [round(0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2])] if grey else rgb
    return [value] if grey else [value] * 3


@st.composite
def image_folders(draw):
    classes = draw(st.integers(1, 3))
    files = []
    for c in range(classes):
        for i in range(draw(st.integers(1, 3))):
            mode = draw(st.sampled_from(sorted(_MODES)))
            suffix = draw(st.sampled_from(_MODES[mode][1]))
            corrupt = draw(st.sampled_from([None] * 8 + ["garbage", "truncated", "empty"]))
            files.append((f"class{c}", f"{i}.{suffix}", mode, draw(st.integers(0, 255)), corrupt))
    return files


@examples(60)
@given(image_folders())
def test_any_image_folder_reads_correctly_or_is_refused_in_one_line(tmp_path_factory, files):
    root = tmp_path_factory.mktemp("folder")
    for folder, name, mode, level, corrupt in files:
        (root / folder).mkdir(exist_ok=True)
        path = root / folder / name
        _save(path, mode, level)
        if corrupt == "garbage":
            path.write_bytes(b"\x00garbage" * 3)
        elif corrupt == "truncated":
            path.write_bytes(path.read_bytes()[:20])
        elif corrupt == "empty":
            path.write_bytes(b"")
    try:
        data = read_folder(root, 6)
    except (DataFileError, DataNotFoundError) as refused:
        event("refused")
        assert "\n" not in str(refused) and str(root) in str(refused)
        assert any(corrupt for *_, corrupt in files), f"refused intact images: {refused}"
        return
    event(f"read, {'grey' if data.train_x.shape[1] == 1 else 'colour'}")
    order = sorted(files, key=lambda f: (f[0], f[1]))  # the reader's order: class folders, then names
    grey = data.train_x.shape[1] == 1
    every = np.concatenate([data.train_x, data.test_x])
    labels = np.concatenate([data.train_y, data.test_y])
    assert every.shape[1:] == ((1 if grey else 3), 6, 6) and every.dtype == np.uint8
    assert sorted(labels.tolist()) == sorted(int(f[0][5:]) for f in order)
    read_levels = sorted(tuple(int(v) for v in image[:, 0, 0]) for image in every)
    wanted = sorted(tuple(_expected(mode, level, grey)) for _, _, mode, level, corrupt in order)
    assert all(abs(a - b) <= 1 for got, want in zip(read_levels, wanted) for a, b in zip(got, want)), (read_levels, wanted)


# ------------------------------------------------------------------------------------------- end to end

@examples(3)
@given(npz_contents().filter(lambda c: c["images"].ndim in (3, 4) and len(c["images"]) >= 2))
def test_a_fit_on_any_npz_works_or_stops_with_one_line_and_status_2(tmp_path_factory, contents):
    import fit as fit_script

    root = tmp_path_factory.mktemp("e2e")
    np.savez(root / "data.npz", **contents)
    settings = [s for s in TINY if not s.startswith(("data.dataset", "data.val_size", "data.train_subset"))]
    argv = ["--model", "vae", "--dataset", "arrays", "--data-dir", str(root / "data.npz"), "--epochs", "1",
            *[f"--set={s}" for s in settings], "--set=data.val_size=1", "--quiet", "--no-figures",
            "--out", str(root / "run")]
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
        try:
            metrics = fit_script.main(argv)
        except SystemExit as stopped:
            lines = stderr.getvalue().strip().splitlines()
            assert stopped.code == 2 and len(lines) == 1 and lines[0].startswith("error: "), (stopped.code, lines)
            assert not (root / "run" / "metrics.json").exists()
            event("refused")
            return
    event("trained and evaluated")
    assert (root / "run" / "metrics.json").exists() and metrics["dataset"] == "arrays"
