"""Bad input a new user meets, by family (docs/guide/errors.md): each either works correctly or stops with exit status 2
and one line naming the bad thing and the fix; nothing already written is lost, and no result is silently wrong."""
import errno
import os
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import ppl_ssl
from ppl_ssl.data import load_dataset
from ppl_ssl.errors import CheckpointError, ConfigError, DataFileError
from ppl_ssl.storage import run_lock
from tests.conftest import TINY, tiny_config

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "experiments"))
QUICK = [f"--set={s}" for s in TINY] + ["--quiet", "--no-figures"]


def _one_line(capsys, exit_info, status=2) -> str:
    assert exit_info.value.code == status
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    return lines[0]


def _fit(capsys, *args, status=2) -> str:
    import fit as fit_script

    with pytest.raises(SystemExit) as exit_info:
        fit_script.main([*args])
    return _one_line(capsys, exit_info, status)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A finished 1-epoch VAE run (tiny), copied by the tests that change it."""
    folder = tmp_path_factory.mktemp("trained") / "vae"
    import fit as fit_script

    fit_script.main(["--model", "vae", "--epochs", "1", *QUICK, "--out", str(folder)])
    return folder


def _copy(run: Path, to: Path) -> Path:
    import shutil

    shutil.copytree(run, to)
    return to


# ------------------------------------------------------------------------------------------- silent wrong results

def test_npz_labels_keep_every_integer_value_as_a_class(tmp_path):
    labels = np.array([-3, -1, 0, 7] * 15)  # negative values are classes, not "unlabelled"
    np.savez(tmp_path / "a.npz", images=np.random.default_rng(0).integers(0, 256, (60, 8, 8), dtype=np.uint8),
             labels=labels)
    data = load_dataset("arrays", str(tmp_path / "a.npz"), val_size=0)
    assert data.spec.class_names == ("-3", "-1", "0", "7")
    every = torch.cat([data.train_y, data.val_y, data.test_y])
    assert sorted(set(every.tolist())) == [0, 1, 2, 3] and every.bincount().tolist() == [15, 15, 15, 15]


@pytest.mark.parametrize("mode, suffix", [("I;16", "png"), ("I", "tif")])  # Pillow opens 16-bit PNGs as I;16
def test_sixteen_bit_grey_images_are_rescaled_not_clipped(tmp_path, mode, suffix):
    from PIL import Image

    levels = {"dark": 1000, "mid": 30000, "bright": 65535}
    for name, level in levels.items():
        (tmp_path / "pics" / name).mkdir(parents=True)
        for i in range(2):
            array = np.full((6, 6), level, dtype=np.uint16 if mode == "I;16" else np.int32)
            Image.fromarray(array).save(tmp_path / "pics" / name / f"{i}.{suffix}")
    data = load_dataset("folder", str(tmp_path / "pics"), val_size=1, image_size=6)
    every = torch.cat([data.train_x, data.val_x, data.test_x])
    labels = torch.cat([data.train_y, data.val_y, data.test_y])
    for index, name in enumerate(data.spec.class_names):
        expected = round(levels[name] / 65535 * 255)
        assert every[labels == index].unique().tolist() == [expected], name


def test_a_palette_image_reads_as_its_colours(tmp_path):
    from PIL import Image

    (tmp_path / "pics" / "red").mkdir(parents=True)
    image = Image.new("P", (5, 5))
    image.putpalette([200, 10, 30] + [0] * 765)
    for i in range(4):
        image.save(tmp_path / "pics" / "red" / f"{i}.png")
    data = load_dataset("folder", str(tmp_path / "pics"), val_size=1, image_size=5)
    assert data.train_x.shape[1] == 3 and data.train_x[0, :, 0, 0].tolist() == [200, 10, 30]


def test_evaluate_refuses_a_run_that_a_fit_is_still_training(trained, tmp_path, capsys):
    import evaluate

    run = _copy(trained, tmp_path / "run")
    before = (run / "metrics.json").read_bytes()
    pid = os.fork()
    if pid == 0:  # a child holds the run's lock, as a fit does while it trains
        with run_lock(run):
            os.write(1, b"")
            import time
            time.sleep(30)
        os._exit(0)
    try:
        import time
        deadline = time.time() + 10
        while time.time() < deadline and not (run / "run.lock").read_text().strip() == str(pid):
            time.sleep(0.05)
        with pytest.raises(SystemExit) as exit_info:
            evaluate.main([str(run), "--device", "cpu", "--no-figures"])
        line = _one_line(capsys, exit_info)
        assert f"is being written by process {pid}" in line
        assert (run / "metrics.json").read_bytes() == before
    finally:
        os.kill(pid, 9)
        os.waitpid(pid, 0)


def test_resume_refuses_to_shrink_the_epochs_and_leaves_config_toml_as_it_was(trained, tmp_path, capsys):
    run = _copy(trained, tmp_path / "run")
    import fit as fit_script

    fit_script.main(["--resume", "--epochs", "2", "--out", str(run), "--quiet", "--no-figures"])
    config = (run / "config.toml").read_bytes()
    line = _fit(capsys, "--resume", "--epochs", "1", "--out", str(run), "--quiet", "--no-figures")
    assert "has trained 2 epoch(s)" in line and "pass --epochs 2 or more" in line
    assert (run / "config.toml").read_bytes() == config


@pytest.mark.parametrize("edit, key", [("lr = 0.001", "train.lr"), ("latent_dim = 4", "model.latent_dim")])
def test_resume_refuses_a_config_toml_edited_since_the_checkpoint(trained, tmp_path, capsys, edit, key):
    run = _copy(trained, tmp_path / "run")
    text = (run / "config.toml").read_text()
    assert edit in text
    new_value = "0.0001" if key == "train.lr" else "6"
    (run / "config.toml").write_text(text.replace(edit, edit.split(" = ")[0] + " = " + new_value))
    line = _fit(capsys, "--resume", "--epochs", "2", "--out", str(run), "--quiet", "--no-figures")
    assert f"{key}: trained with" in line and "put the trained values back" in line
    assert torch.load(run / "checkpoint.pt", weights_only=True)["epoch"] == 1  # nothing trained, nothing lost
    with pytest.raises(CheckpointError, match=f"no longer describes the run its checkpoint holds: {key}"):
        ppl_ssl.load_run(run)


def test_evaluation_settings_may_change_after_training(trained, tmp_path):
    run = _copy(trained, tmp_path / "run")
    text = (run / "config.toml").read_text()
    (run / "config.toml").write_text(text.replace("probe_epochs = 3", "probe_epochs = 4"))
    assert ppl_ssl.load_run(run).config.eval.probe_epochs == 4


# ------------------------------------------------------------------------------------------- presets and values

@pytest.mark.parametrize("content, words", [
    (b'[preset]\nextends = "{self}"\n', ["makes a cycle", "cannot extend itself"]),
    (b"[preset]\nextends = 3\n", ["extends = 3 must be a preset name or a .toml path"]),
    (b"[train]\nepochs = 2 # \xff\xfe\n", ["is not UTF-8 text", "save it as UTF-8"]),
    (None, ["is a folder, not a .toml file"]),
])
def test_a_bad_preset_file_is_one_line(tmp_path, capsys, content, words):
    preset = tmp_path / "mine.toml"
    if content is None:
        preset.mkdir()
    else:
        preset.write_bytes(content.replace(b"{self}", str(preset).encode()))
    line = _fit(capsys, "--model", str(preset), "--out", str(tmp_path / "run"))
    assert all(w in line for w in words), line
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("args, words", [
    (["--seed", "-1"], ["train.seed = -1", "a seed in [0, 4294967295]"]),
    (["--seed", str(2**32)], ["train.seed = 4294967296"]),
    (["--set", "augment.crop_scale=[]"], ["augment.crop_scale = []", "[smallest, largest] area fractions"]),
    (["--set", "augment.crop_scale=[-0.5, 1.0]"], ["augment.crop_scale = [-0.5, 1.0]"]),
    (["--set", "augment.crop_scale=[0.9, 0.2]"], ["smallest ≤ largest"]),
    (["--lr", "nan"], ["train.lr = nan", "a finite number"]),
    (["--set", "data.split_seed=-2"], ["data.split_seed = -2"]),
])
def test_values_outside_their_declared_range_are_one_line(tmp_path, capsys, args, words):
    line = _fit(capsys, "--model", "vae", *args, *QUICK, "--out", str(tmp_path / "run"))
    assert all(w in line for w in words), line


# ------------------------------------------------------------------------------------------- the file system

def test_out_naming_a_file_is_one_line(tmp_path, capsys):
    (tmp_path / "file").write_text("mine")
    line = _fit(capsys, "--model", "vae", *QUICK, "--out", str(tmp_path / "file"))
    assert "is a file, not a folder; choose another --out" in line and (tmp_path / "file").read_text() == "mine"
    line = _fit(capsys, "--model", "vae", *QUICK, "--out", str(tmp_path / "file" / "run"))
    assert str(tmp_path / "file") in line


def test_a_folder_that_cannot_be_written_is_one_line(tmp_path, capsys, monkeypatch):
    real_open = os.open

    def read_only(path, *args, **kwargs):  # as on a read-only folder (root passes chmod, so the refusal is simulated)
        if str(path).endswith("run.lock"):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", read_only)
    line = _fit(capsys, "--model", "vae", *QUICK, "--out", str(tmp_path / "run"))
    assert f"permission denied: {tmp_path / 'run' / 'run.lock'}" in line and "choose another path" in line


def test_a_full_disk_is_one_line_and_the_last_checkpoint_stays_readable(trained, tmp_path, capsys, monkeypatch):
    run = _copy(trained, tmp_path / "run")
    good = torch.load(run / "checkpoint.pt", weights_only=True)
    import ppl_ssl.storage as storage
    real_fsync = os.fsync

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(storage.os, "fsync", full)
    line = _fit(capsys, "--resume", "--epochs", "2", "--out", str(run), "--quiet", "--no-figures")
    monkeypatch.setattr(storage.os, "fsync", real_fsync)
    assert "no space left on the device holding" in line and "still holds its last complete version" in line
    kept = torch.load(run / "checkpoint.pt", weights_only=True)
    assert kept["epoch"] == good["epoch"] == 1 and not list(run.glob(".*.tmp"))
    import fit as fit_script

    fit_script.main(["--resume", "--epochs", "2", "--out", str(run), "--quiet", "--no-figures"])  # space again: resumes
    assert torch.load(run / "checkpoint.pt", weights_only=True)["epoch"] == 2


def test_a_name_too_long_is_one_line(tmp_path, capsys):
    line = _fit(capsys, "--model", "vae", *QUICK, "--out", str(tmp_path / ("r" * 300)))
    assert "is too long for the file system; choose a shorter path" in line


def test_a_damaged_metrics_file_is_one_line(trained, tmp_path):
    run = _copy(trained, tmp_path / "run")
    (run / "metrics.json").write_text('{"knn_accuracy": 0.5')
    with pytest.raises(CheckpointError, match="metrics.json is not valid JSON"):
        ppl_ssl.load_run(run)


def test_evaluate_given_a_file_is_one_line(tmp_path, capsys):
    import evaluate

    (tmp_path / "metrics.json").write_text("{}")
    with pytest.raises(SystemExit) as exit_info:
        evaluate.main([str(tmp_path / "metrics.json")])
    assert "is a file; pass a run folder" in _one_line(capsys, exit_info)


# ------------------------------------------------------------------------------------------- data files

def test_an_empty_float_array_is_one_line(tmp_path):
    np.savez(tmp_path / "e.npz", images=np.zeros((0, 8, 8), np.float32))
    with pytest.raises(DataFileError, match="images holds no images"):
        load_dataset("arrays", str(tmp_path / "e.npz"), val_size=0)


@pytest.mark.parametrize("dtype", [np.float32, np.uint8])
def test_images_without_pixels_are_one_line(tmp_path, dtype):  # found by the property test's longer search
    np.savez(tmp_path / "e.npz", images=np.zeros((1, 0, 0), dtype))
    with pytest.raises(DataFileError, match="images of 0×0 pixels; each image needs at least one pixel"):
        load_dataset("arrays", str(tmp_path / "e.npz"), val_size=0)


def _folder(root: Path, per_class: int = 3, classes=("a", "b")) -> Path:
    from PIL import Image

    for name in classes:
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            Image.fromarray(np.full((6, 6), 40 * i, np.uint8)).save(root / name / f"{i}.png")
    return root


def test_a_corrupt_first_image_is_named(tmp_path):
    root = _folder(tmp_path / "pics")
    (root / "a" / "0.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    with pytest.raises(DataFileError, match=r"a/0.png is not a readable image"):
        load_dataset("folder", str(root), val_size=1, image_size=6)


def test_an_empty_test_folder_is_named(tmp_path):
    _folder(tmp_path / "pics" / "train")
    (tmp_path / "pics" / "test").mkdir()
    with pytest.raises(DataFileError, match="test holds no images"):
        load_dataset("folder", str(tmp_path / "pics"), val_size=1, image_size=6)


def test_fewer_training_images_than_classes_trains_and_says_the_gmm_was_skipped(tmp_path, capsys):
    import fit as fit_script

    root = _folder(tmp_path / "pics", per_class=1, classes=("a", "b", "c", "d", "e", "f"))
    metrics = fit_script.main(["--model", "vae", "--dataset", "folder", "--data-dir", str(root), "--epochs", "1",
                               *[f"--set={s}" for s in TINY if not s.startswith("data.")], "--set", "data.val_size=1",
                               "--set", "data.image_size=6", "--quiet", "--no-figures", "--out", str(tmp_path / "run")])
    assert "gmm_accuracy" not in metrics and "for 6 classes are too few" in metrics["gmm_skipped"]
    assert "knn_accuracy" in metrics and (tmp_path / "run" / "metrics.json").exists()


# ------------------------------------------------------------------------------------------- checkpoints

@pytest.mark.parametrize("damage, words", [
    (lambda p: p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2]), ["is truncated or damaged"]),
    (lambda p: torch.save({"weights": torch.zeros(2)}, p), ["is not a ppl-ssl checkpoint", "lacks system"]),
    (lambda p: p.write_bytes(b"hello"), ["is truncated or damaged"]),
])
def test_a_damaged_or_foreign_checkpoint_is_one_line(trained, tmp_path, capsys, damage, words):
    import evaluate

    run = _copy(trained, tmp_path / "run")
    damage(run / "checkpoint.pt")
    with pytest.raises(SystemExit) as exit_info:
        evaluate.main([str(run), "--device", "cpu", "--no-figures"])
    line = _one_line(capsys, exit_info)
    assert str(run / "checkpoint.pt") in line and all(w in line for w in words), line
    line = _fit(capsys, "--resume", "--epochs", "2", "--out", str(run), "--quiet", "--no-figures")
    assert all(w in line for w in words), line


def test_a_checkpoint_that_no_longer_fits_its_config_is_one_line(trained, tmp_path):
    run = _copy(trained, tmp_path / "run")
    state = torch.load(run / "checkpoint.pt", weights_only=True)
    del state["config"]  # as a checkpoint written before configs were saved in them
    torch.save(state, run / "checkpoint.pt")
    text = (run / "config.toml").read_text()
    (run / "config.toml").write_text(text.replace("latent_dim = 4", "latent_dim = 6"))
    with pytest.raises(CheckpointError, match="do not fit the model that .*config.toml describes .*size mismatch"):
        ppl_ssl.load_run(run)


def test_a_log_cut_short_by_a_kill_is_read_without_its_last_line(trained, tmp_path):
    from ppl_ssl.storage import read_log

    run = _copy(trained, tmp_path / "run")
    log = run / "train_log.jsonl"
    records = read_log(log)
    log.write_bytes(log.read_bytes() + b'{"step": 99, "loss"')
    assert read_log(log) == records
    lines = log.read_text().splitlines()
    log.write_text("\n".join([lines[0], "garbage", *lines[1:]]) + "\n")
    with pytest.raises(CheckpointError, match="line 2 is not a log record"):
        read_log(log)


# ------------------------------------------------------------------------------------------- the Python API

def test_encoding_an_empty_batch_gives_an_empty_result(trained):
    run = ppl_ssl.load_run(trained)
    assert run.encode(torch.zeros(0, 1, 8, 8)).shape == (0, 4)
    assert run.reconstruct(torch.zeros(0, 1, 8, 8, dtype=torch.uint8)).shape == (0, 1, 8, 8)


def test_build_config_refuses_before_training(tmp_path):
    with pytest.raises(ConfigError, match="train.seed = -1"):
        tiny_config("vae", "train.seed=-1")


def test_malformed_celeba_files_are_named_with_the_line(tmp_path):
    from tests.test_data import CELEBA_NAMES, CELEBA_ROWS, _celeba_folder

    folder = _celeba_folder(tmp_path, CELEBA_NAMES, CELEBA_ROWS)
    attributes = folder / "list_attr_celeba.txt"
    good = attributes.read_text()
    attributes.write_text(good.replace("000002.jpg -1 -1 1", "000002.jpg -1 x 1"))
    with pytest.raises(DataFileError, match="list_attr_celeba.txt: line 4 is not a file name and 7 values"):
        load_dataset("celeba", str(folder), val_size=2)
    attributes.write_text(good)
    (folder / "list_eval_partition.txt").write_text("000001.jpg 7\n")
    with pytest.raises(DataFileError, match="list_eval_partition.txt: line 1 is not a file name and a split"):
        load_dataset("celeba", str(folder), val_size=2)
    (folder / "list_eval_partition.txt").unlink()
    (folder / "img_align_celeba" / "000003.jpg").unlink()
    with pytest.raises(DataFileError, match="000003.jpg is listed in list_attr_celeba.txt but missing"):
        load_dataset("celeba", str(folder), val_size=2)
