"""The `ppl-ssl` command as a user meets it: every option explained, --version, a closed pipe that ends quietly, and
help and messages that name `ppl-ssl COMMAND` (an installed library has no experiments/ folder)."""
import argparse
import importlib
import io
import os
import re
import sys
from pathlib import Path

import pytest

from ppl_ssl import commands

ROOT = Path(__file__).resolve().parents[1]


def _parser(name: str, monkeypatch) -> argparse.ArgumentParser:
    """The argparse parser a command builds (caught as it starts parsing)."""
    caught = {}

    def catch(self, args=None, namespace=None):
        caught["parser"] = self
        raise SystemExit(0)

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", catch)
    with pytest.raises(SystemExit):
        importlib.import_module(f"ppl_ssl.commands.{name}").main(["--help"])
    return caught["parser"]


@pytest.mark.parametrize("name", list(commands.COMMANDS))
def test_every_option_of_every_command_has_help_text(name, monkeypatch):
    parser = _parser(name, monkeypatch)
    bare = [a.option_strings or [a.dest] for a in parser._actions if not a.help and a.dest != "help"]
    assert not bare, f"ppl-ssl {name}: options without help: {bare}"


def test_version_and_the_command_list(capsys):
    commands.main(["--version"])
    assert re.fullmatch(r"ppl-ssl \d+\.\d+\.\d+\S*\n", capsys.readouterr().out)
    commands.main(["--help"])
    listed = capsys.readouterr().out
    assert all(f"  {name:<10} " in listed for name in commands.COMMANDS)


def test_a_closed_pipe_ends_quietly(monkeypatch, capfd):
    read_end, write_end = os.pipe()
    os.close(read_end)  # `ppl-ssl --help | head -1`: the reader has gone
    stdout = io.TextIOWrapper(os.fdopen(write_end, "wb"), write_through=True)
    monkeypatch.setattr(sys, "stdout", stdout)
    with pytest.raises(SystemExit) as ended:
        commands.main(["--help"])
    assert ended.value.code == 141


def test_messages_and_help_name_the_installed_command_not_a_checkout_script():
    script = re.compile(r"experiments/(fit|evaluate|sample|decode|compare|reproduce|render)\.py")
    offenders = [f"{p.relative_to(ROOT)}:{n}" for p in (ROOT / "ppl_ssl").rglob("*.py") if p.name != "distributed.py"
                 for n, line in enumerate(p.read_text().splitlines(), 1) if script.search(line)]
    assert not offenders, offenders


def test_evaluation_says_each_stage_with_its_time_and_quiet_silences_it(tmp_path, capsys):
    import json

    from tests.conftest import TINY

    sys.path.insert(0, str(ROOT / "experiments"))
    import evaluate
    import fit

    fit.main(["--model", "vae", "--epochs", "1", *[f"--set={s}" for s in TINY], "--no-figures", "--quiet",
              "--out", str(tmp_path / "run")])
    assert "evaluation:" not in capsys.readouterr().err
    evaluate.main([str(tmp_path / "run"), "--device", "cpu", "--no-figures"])
    said = [line for line in capsys.readouterr().err.splitlines() if line.startswith("evaluation: ")]
    stages = [line.split(": ", 1)[1].rsplit(" ", 2)[0] for line in said]
    assert stages[:5] == ["encode", "kNN", "linear probe", "mlp probe", "GMM"] and "reconstruction" in stages
    seconds = json.loads((tmp_path / "run" / "metrics.json").read_text())["eval_stage_seconds"]
    assert set(seconds) == set(stages) and all(v >= 0 for v in seconds.values())


PLUGIN = '''
from dataclasses import dataclass

import pyro.distributions as dist

from ppl_ssl.contracts import Prior
from ppl_ssl.options import option, positive
from ppl_ssl.registry import PRIORS


@dataclass
class LaplaceOptions:
    scale: float = option(1.0, positive())


@PRIORS.register("laplace_from_a_plugin", LaplaceOptions, summary="z^j ~ Laplace(0, scale)")
class LaplacePrior(Prior):
    def __init__(self, options, context):
        super().__init__()
        self.scale, self.latent_dim = options.scale, context.latent_dim

    def forward(self, views: int):
        return dist.Laplace(0.0, self.scale).expand((views, self.latent_dim)).to_event(2)
'''


def test_a_plugin_module_registers_a_component_the_command_line_can_name(tmp_path, capsys, monkeypatch):
    from ppl_ssl.registry import PRIORS
    from tests.conftest import TINY

    monkeypatch.setattr(PRIORS, "_entries", dict(PRIORS._entries))  # the plugin's prior is gone after the test

    sys.path.insert(0, str(ROOT / "experiments"))
    import fit

    (tmp_path / "my_priors.py").write_text(PLUGIN)
    metrics = fit.main(["--plugin", str(tmp_path / "my_priors.py"), "--model", "vae", "--epochs", "1",
                        *[f"--set={s}" for s in TINY], "--set", "model.prior.kind=laplace_from_a_plugin",
                        "--set", "model.prior.scale=0.5", "--quiet", "--no-figures", "--out", str(tmp_path / "run")])
    assert "elbo" in metrics
    assert 'kind = "laplace_from_a_plugin"' in (tmp_path / "run" / "config.toml").read_text()
    with pytest.raises(SystemExit) as refused:
        fit.main(["--plugin", str(tmp_path / "nope.py"), "--out", str(tmp_path / "never")])
    assert refused.value.code == 2
    line, = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("error: --plugin") and "nope.py" in line


def test_the_catalogue_that_help_shows_is_the_registries_own():
    from ppl_ssl.cli import catalogue, stored_catalogue

    assert stored_catalogue() == catalogue() + "\n", (
        "ppl_ssl/commands/catalogue.txt is out of date: python -c 'from ppl_ssl.cli import write_catalogue; write_catalogue()'")


def test_the_names_other_commands_offer_are_the_librarys_own():
    from ppl_ssl.cli import command_names, stored_names

    assert {kind: stored_names(kind) for kind in command_names()} == command_names(), (
        "ppl_ssl/commands/names.json is out of date: python -c 'from ppl_ssl.cli import write_catalogue; write_catalogue()'")


@pytest.mark.parametrize("name", list(commands.COMMANDS))
def test_help_and_argument_errors_answer_without_importing_torch(name):
    import subprocess

    probe = ("import sys\nfrom ppl_ssl.commands import main\n"
             f"try:\n    main([{name!r}, '--help'])\nexcept SystemExit:\n    pass\n"
             f"try:\n    main([{name!r}, '--no-such-option'])\nexcept SystemExit:\n    pass\n"
             "print('torch' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT)
    assert result.stdout.strip().endswith("False"), result.stdout[-500:] + result.stderr[-500:]
    assert "usage: ppl-ssl" in result.stdout and result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    if name == "fit":
        assert "model presets (--model)" in result.stdout


def test_progress_lines_of_the_library_are_silenced_by_a_commands_quiet(capsys):
    from ppl_ssl.progress import reading_bar, say, silenced

    say("vae -> runs/x: 3s wall")
    with silenced():
        say("never shown")
        assert list(reading_bar([1, 2], "reading")) == [1, 2]
        with silenced(False):  # an inner block cannot undo an outer --quiet
            say("never shown either")
    say("shown again")
    assert capsys.readouterr().out.splitlines() == ["vae -> runs/x: 3s wall", "shown again"]
