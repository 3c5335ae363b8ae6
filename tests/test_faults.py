"""Faults and bad input: the divergence guard, mid-epoch checkpoints, the run lock, resuming with the same command,
half-written files, and a catalogue of bad inputs, each refused in one line that names the bad thing."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import ppl_ssl
from ppl_ssl.errors import ConfigError, TrainingDiverged
from ppl_ssl.storage import run_lock
from ppl_ssl.train.loop import fit
from tests.conftest import TINY, tiny_config

ROOT = Path(__file__).resolve().parents[1]


def _parameters(system):
    return {k: v.clone() for k, v in system.state_dict().items()}


def _same(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# ------------------------------------------------------------------------------------- mid-epoch checkpoints

@pytest.mark.parametrize("preset", ["vae", "mocov2"])
def test_a_run_killed_after_a_mid_epoch_checkpoint_resumes_to_the_uninterrupted_result(tmp_path, preset, monkeypatch):
    # 8 steps per epoch, terms read every 2 steps, a checkpoint at every read (checkpoint_minutes tiny)
    config = tiny_config(preset, "model.views=2", "train.log_every=2", "train.checkpoint_minutes=1e-9", epochs=2)
    reference, _ = fit(config, tmp_path / "straight", progress=False)

    import ppl_ssl.train.checkpoint as training
    writes = []
    real_save = training.atomic_torch_save

    def save_then_die(path, state):
        real_save(path, state)
        writes.append(state["step"])
        if len(writes) == 5:  # epoch 2, step 2: killed right after the checkpoint landed
            raise KeyboardInterrupt

    monkeypatch.setattr(training, "atomic_torch_save", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        fit(config, tmp_path / "killed", progress=False)
    monkeypatch.setattr(training, "atomic_torch_save", real_save)
    state = torch.load(tmp_path / "killed" / "checkpoint.pt", weights_only=True)
    assert (state["epoch"], state["step"]) == (1, 2) and writes == [2, 4, 6, 0, 2]
    resumed, _ = fit(config, tmp_path / "killed", resume=True, progress=False)
    assert _same(_parameters(reference), _parameters(resumed))
    log = lambda run: (tmp_path / run / "train_log.jsonl").read_text().splitlines()  # noqa: E731
    assert log("killed") == log("straight")  # every step logged once, with the same numbers
    history = lambda run: torch.load(tmp_path / run / "checkpoint.pt", weights_only=True)["history"]  # noqa: E731
    assert [{k: v for k, v in h.items() if k != "seconds"} for h in history("killed")] == \
           [{k: v for k, v in h.items() if k != "seconds"} for h in history("straight")]


def test_a_half_written_checkpoint_beside_a_good_one_is_never_loaded(tmp_path):
    config = tiny_config("vae", epochs=2)
    reference, _ = fit(config, tmp_path / "straight", progress=False)
    one = tiny_config("vae", epochs=1)
    fit(one, tmp_path / "run", progress=False)
    # a kill during the next checkpoint's write leaves its temporary file; the checkpoint itself is the old one
    (tmp_path / "run" / ".checkpoint.pt.x1y2.tmp").write_bytes(b"PK\x03\x04 half a zip")
    resumed, _ = fit(config, tmp_path / "run", resume=True, progress=False)
    assert _same(_parameters(reference), _parameters(resumed))


# ------------------------------------------------------------------------------------- divergence guard

def test_a_blow_up_stops_training_naming_the_term_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    fit(tiny_config("vae", epochs=1), tmp_path / "run", progress=False)
    good = (tmp_path / "run" / "checkpoint.pt").read_bytes()
    from ppl_ssl.system import GenerativeSystem
    real = GenerativeSystem.training_loss
    calls = []

    def blows_up(self, views, kl_weight=None):
        loss, terms = real(self, views, kl_weight)
        calls.append(1)
        if len(calls) == 3:  # the third step of epoch 2 produces inf
            terms = {**terms, "reconstruction": terms["reconstruction"] * float("inf")}
        return loss, terms

    monkeypatch.setattr(GenerativeSystem, "training_loss", blows_up)
    with pytest.raises(TrainingDiverged) as err:
        ppl_ssl.fit_and_evaluate(tiny_config("vae", "train.checkpoint_minutes=0", epochs=3), tmp_path / "run", resume=True,
                                 progress=False)
    message = str(err.value)
    assert "term 'reconstruction' became" in message and "at epoch 2 step 3" in message
    assert "the last good checkpoint (epoch 1) is kept" in message and "train.max_grad_norm" in message
    assert (tmp_path / "run" / "checkpoint.pt").read_bytes() == good
    assert not (tmp_path / "run" / "metrics.json").exists()


@pytest.mark.slow  # subprocesses: make test-all
def test_a_learning_rate_that_explodes_exits_3_with_one_line(tmp_path):
    result = subprocess.run([sys.executable, "experiments/fit.py", "--model", "vae", "--lr", "50", "--epochs", "3",
                             *[f"--set={s}" for s in TINY], "--set=train.log_every=2", "--out", str(tmp_path / "run"),
                             "--quiet"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 3
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: term '") and "try a lower --lr" in lines[0]
    assert not (tmp_path / "run" / "metrics.json").exists()


def test_gradients_are_clipped_and_their_norm_logged(tmp_path):
    fit(tiny_config("vae", "train.max_grad_norm=0.5"), tmp_path / "run", progress=False)
    import json
    lines = [json.loads(x) for x in (tmp_path / "run" / "train_log.jsonl").read_text().splitlines()]
    assert all(line["grad_norm"] > 0 for line in lines)  # the norm before clipping: what the step produced


# ------------------------------------------------------------------------------------- run lock

def test_a_second_writer_of_a_run_folder_is_refused_until_the_first_dies(tmp_path):
    folder = tmp_path / "run"
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from pathlib import Path; "
                               "from ppl_ssl.storage import run_lock\nwith run_lock(Path(sys.argv[1])):\n"
                               " print('held', flush=True); time.sleep(60)", str(folder)],
                              cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(ConfigError, match=rf"run folder {folder} is being written by process {holder.pid}; "):
            fit(tiny_config("vae"), folder, progress=False)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    fit(tiny_config("vae"), folder, progress=False)  # a killed holder leaves no stale lock
    with run_lock(folder), run_lock(folder):  # re-entrant in one process
        pass


# ------------------------------------------------------------------------------------- resume with the same command

def _fit_cli(*args):
    return subprocess.run([sys.executable, "experiments/fit.py", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)


@pytest.mark.slow  # subprocesses: make test-all
def test_resume_accepts_the_same_command_and_names_each_real_difference(tmp_path):
    command = ["--model", "vae", "--epochs", "1", "--seed", "3", *[f"--set={s}" for s in TINY], "--out",
               str(tmp_path / "run"), "--quiet", "--no-figures"]
    assert _fit_cli(*command).returncode == 0
    again = _fit_cli(*command[:2], "--epochs", "2", *command[4:], "--resume")
    assert again.returncode == 0, again.stderr
    assert torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)["epoch"] == 2
    short = _fit_cli("--resume", "--epochs", "3", "--out", str(tmp_path / "run"), "--quiet", "--no-figures")
    assert short.returncode == 0, short.stderr
    different = _fit_cli(*command[:4], "--seed", "4", "--lr", "0.01", *command[6:], "--resume")
    assert different.returncode == 2
    line, = different.stderr.strip().splitlines()
    assert "train.lr: saved 0.001, asked 0.01" in line and "train.seed: saved 3, asked 4" in line
    other_model = _fit_cli("--model", "simvae", "--resume", "--out", str(tmp_path / "run"))
    assert other_model.returncode == 2 and "--model: saved 'vae', asked 'simvae'" in other_model.stderr


# ------------------------------------------------------------------------------------- the bad-input catalogue

sys.path.insert(0, str(ROOT / "experiments"))


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("finished") / "vae"
    ppl_ssl.fit_and_evaluate(tiny_config("vae"), folder, progress=False, make_figures=False)
    return folder


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad")
    (root / "empty").mkdir()
    (root / "broken.toml").write_text("[model\nbeta = 2\n")
    (root / "unknown.toml").write_text("[model]\nbetta = 2.0\n")
    (root / "wrongtype.toml").write_text("[train]\nepochs = 'many'\n")
    return root


FIT_CASES = [  # (arguments, words the one line must contain)
    (["--model", "nope"], ["unknown model preset 'nope'"]),
    (["--set", "objective.beta=abc"], ["objective.beta expects a number"]),
    (["--set", "model.nokey=1"], ["unknown key 'model.nokey'"]),
    (["--set", "objective.beta"], ["is not KEY=VALUE"]),
    (["--epochs", "0"], ["train.epochs", "at least 1"]),
    (["--batch-size", "-3"], ["train.batch_size", "at least 1"]),
    (["--lr", "-1"], ["train.lr", "positive"]),
    (["--views", "0"], ["model.views", "at least 1"]),
    (["--train-subset", "-5"], ["data.train_subset"]),
    (["--dataset", "imagenet"], ["not a known dataset", "fashion-mnist"]),
    (["--device", "tpu"], ["train.device", "auto, cpu, cuda or cuda:N"]),
    (["--data-dir", "{bad}/nowhere", "--dataset", "fashion-mnist"], ["--data-dir", "nowhere does not exist"]),
    (["--data-dir", "{bad}/empty", "--dataset", "fashion-mnist"], ["empty holds no fashion-mnist files", "train-images-idx3-ubyte"]),
    (["--set", "train.checkpoint_minutes=-1"], ["train.checkpoint_minutes", "0 (off) or positive (minutes)"]),
    (["--set", "train.max_grad_norm=-1"], ["train.max_grad_norm", "0 (off) or positive"]),
    (["--set", "train.divergence_bound=0"], ["train.divergence_bound", "positive"]),
    (["--set", "model.likelihood.variance=0"], ["variance", "positive"]),
    (["--set", "model.prior.kind='vampire'"], ["model.prior.kind = 'vampire'", "vamp"]),
    (["--set", "augment.vflip=2"], ["augment.vflip", "a probability in [0, 1]"]),
    (["--set", "augment.hue=0.9"], ["augment.hue", "in [0, 0.5]"]),
    (["--set", "data.val_size=100000"], ["data.val_size=100000 leaves no training images"]),
    (["--model", "simclr", "--views", "1"], ["method 'simclr'", "--views 2"]),
    (["--model", "crvae-contrastive", "--set", "objective.kind='iwae'"], ["model.program = 'crvae_contrastive'", "objective.kind=elbo"]),
    (["--model", "infovae", "--set", "objective.kind='iwae'"], ["model.program = 'infovae'", "objective.kind=elbo"]),
    (["--model", "simclr", "--set", "objective.particles=4"], ["method 'simclr'", "objective.particles does not apply"]),
    (["--model", "mocov2", "--set", "method.momentum=1.0"], ["method.momentum = 1.0", "[0, 1)"]),
    (["--model", "{bad}/broken.toml"], ["broken.toml: not valid TOML"]),
    (["--model", "{bad}/unknown.toml"], ["unknown key 'model.betta'"]),
    (["--model", "{bad}/wrongtype.toml"], ["train.epochs expects an integer"]),
]


@pytest.mark.parametrize("args, words", FIT_CASES, ids=[" ".join(a)[:40] for a, _ in FIT_CASES])
def test_fit_refuses_bad_input_in_one_line_with_exit_status_2(args, words, bad_files, tmp_path, capsys, monkeypatch):
    import fit as fit_script

    monkeypatch.delenv("PPL_SSL_DATA", raising=False)
    argv = [a.replace("{bad}", str(bad_files)) for a in args]
    if "--dataset" not in argv and "--data-dir" not in argv and not any(a.endswith(".toml") for a in argv) \
            and "imagenet" not in argv:
        argv += ["--dataset", "digits"]
    with pytest.raises(SystemExit) as exit_:
        fit_script.main([*argv, "--out", str(tmp_path / "never"), "--quiet", "--no-figures"])
    assert exit_.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    for word in (w.replace("{bad}", str(bad_files)) for w in words):
        assert word in lines[0]
    assert not (tmp_path / "never" / "checkpoint.pt").exists()


TOOL_CASES = [  # (script, arguments after the run folder, words)
    ("evaluate", ["--nll", "--nll-samples", "0"], ["argument --nll-samples: 0 must be at least 1 (samples)"]),
    ("evaluate", ["--nll", "--nll-images", "-1"], ["argument --nll-images: -1 must be 0 (all) or positive"]),
    ("sample", ["--sampler", "nope"], ["nope", "gmm"]),
    ("sample", ["--n", "0"], ["argument --n: 0 must be at least 1 (images)"]),
    ("decode", ["--lr", "nan"], ["argument --lr: nan must be positive"]),
    ("decode", ["--lr", "inf"], ["argument --lr: inf must be positive"]),
    ("decode", ["--lr", "fast"], ["argument --lr: 'fast' is not a number"]),
    ("sample", ["--seed", "-1"], ["argument --seed: -1 must be a seed in [0, 4294967295]"]),
    ("sample", ["--mode", "telepathy"], ["telepathy"]),
]


@pytest.mark.parametrize("script, args, words", TOOL_CASES)
def test_tools_refuse_bad_arguments_in_one_line(script, args, words, finished_run, capsys):
    module = __import__(script)
    with pytest.raises(SystemExit) as exit_:
        module.main([str(finished_run), *args, "--device", "cpu"])
    assert exit_.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    for word in words:
        assert word in lines[0]


def test_a_missing_run_folder_is_named(tmp_path, capsys):
    import evaluate

    with pytest.raises(SystemExit) as exit_:
        evaluate.main([str(tmp_path / "nope")])
    assert exit_.value.code == 2 and f"no config file at {tmp_path / 'nope'}" in capsys.readouterr().err


ENCODE_CASES = [  # what a user might hand to load_run(...).encode, and the error that names it
    (lambda: torch.rand(1, 8, 8), ValueError, r"shape \(1, 8, 8\).*add a batch dimension with images\[None\]"),
    (lambda: torch.rand(4, 3, 8, 8), ValueError, r"shape \(4, 3, 8, 8\), this run's model takes \(N, 1, 8, 8\)"),
    (lambda: torch.rand(4, 1, 28, 28), ValueError, r"takes \(N, 1, 8, 8\) \(digits\)"),
    (lambda: torch.randint(0, 9, (4, 1, 8, 8)), ValueError, r"dtype torch.int64; pass floats in \[0, 1\] or uint8"),
    (lambda: torch.full((4, 1, 8, 8), float("nan")), ValueError, "NaN or infinite"),
    (lambda: torch.rand(4, 1, 8, 8) * 255, ValueError, r"range over \[.*\]; .*divide uint8 pixels by 255"),
    (lambda: [[0.0] * 8] * 8, TypeError, "must be a torch.Tensor of shape \\(N, 1, 8, 8\\), got list"),
]


@pytest.mark.parametrize("make, error, message", ENCODE_CASES)
def test_a_loaded_run_names_what_is_wrong_with_its_input(make, error, message, finished_run):
    run = ppl_ssl.load_run(finished_run)
    with pytest.raises(error, match=message):
        run.encode(make())
    assert run.encode(torch.randint(0, 256, (3, 1, 8, 8), dtype=torch.uint8)).shape == (3, 4)  # pixels are welcome


@pytest.mark.parametrize("n", [0, -2, 2.5])
def test_sampling_needs_a_positive_count(n, finished_run):
    with pytest.raises(ValueError, match="positive integer n"):
        ppl_ssl.load_run(finished_run).sample(n)


def test_reproduce_refuses_unknown_suites_budgets_and_seeds(capsys):
    import reproduce

    with pytest.raises(SystemExit) as exit_:
        reproduce.main(["--suite", "table1", "--seeds", "0"])
    assert exit_.value.code == 2
    line, = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("error: argument --seeds: 0 must be at least 1; see ")
    with pytest.raises(ConfigError, match="unknown budget 'fast'"):
        ppl_ssl.reproduce("table1", "fast")
    with pytest.raises(ConfigError, match="unknown suite 'table9'"):
        ppl_ssl.reproduce("table9")


# ------------------------------------------------------------------------------------- SIGKILL anywhere

# the first stays in make test (one kill-and-resume through the command line); the rest run in make test-all
KILL_POINTS = [("step", 3), *(pytest.param(where, nth, marks=pytest.mark.slow)
                              for where, nth in [("step", 19), ("checkpoint-write", 2), ("checkpoint-write", 6), ("evaluation", 1)])]


@pytest.fixture(scope="module")
def killable_command(tmp_path_factory):
    # vae with augmentation and sampling (random), 3 epochs of 8 steps, a checkpoint at every term read (2 steps)
    root = tmp_path_factory.mktemp("sigkill")
    settings = [f"--set={s}" for s in TINY] + ["--set=train.log_every=2", "--set=train.checkpoint_minutes=1e-9",
                                              "--set=eval.style_probe=false", "--no-figures", "--quiet"]
    command = [sys.executable, "experiments/fit.py", "--model", "vae", "--epochs", "3", *settings]
    reference = subprocess.run([*command, "--out", str(root / "straight")], cwd=ROOT, capture_output=True, text=True)
    assert reference.returncode == 0, reference.stderr
    return command, root


def _metrics_without_timing(folder):
    import json
    return {k: v for k, v in json.loads((folder / "metrics.json").read_text()).items() if "seconds" not in k}


@pytest.mark.parametrize("where, nth", KILL_POINTS)
def test_sigkill_anywhere_then_resume_ends_bit_identical(killable_command, where, nth):
    command, root = killable_command
    folder = root / f"{where}-{nth}"
    killed = subprocess.run([*command, "--out", str(folder)], cwd=ROOT, capture_output=True, text=True,
                            env={**os.environ, "PPL_SSL_INJECT_FAULT": f"{where}:{nth}"})
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert not (folder / "metrics.json").exists()
    resumed = subprocess.run([*command, "--out", str(folder), "--resume"], cwd=ROOT, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    straight = torch.load(root / "straight" / "checkpoint.pt", weights_only=True)["system"]
    again = torch.load(folder / "checkpoint.pt", weights_only=True)["system"]
    assert _same(straight, again)
    assert _metrics_without_timing(folder) == _metrics_without_timing(root / "straight")
    assert (folder / "train_log.jsonl").read_text() == (root / "straight" / "train_log.jsonl").read_text()
