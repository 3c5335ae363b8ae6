"""What made a run's numbers, recorded in its metrics.json: the code's version and a digest of the settings that
decide them. A report that takes finished runs from an earlier report (`reproduce --recorded`) reuses a run only
when its digest is the one the same run would have now, and prints every code version its runs came from."""
from __future__ import annotations

import functools
import hashlib
import json
import subprocess
from pathlib import Path

from ppl_ssl.config import flat_values

# Settings that change where and how visibly a run trains, never its numbers (a run on the GPU and one on the CPU
# share a digest; their numbers differ by floating point alone). The precision is left out because `auto` becomes a
# machine's own (metrics.json records which): `same_settings` compares it where one was asked for.
_NOT_IN_DIGEST = ("name", "train.device", "train.precision", "train.checkpoint_every", "train.checkpoint_minutes",
                  "train.log_every", "train.validate", "train.detect_anomaly", "train.tensorboard",
                  "train.rank_timeout_minutes", "train.keep_freed_memory", "train.mlflow", "data.data_dir", "eval.figures")


# Settings added after runs were recorded, oldest first, each with the value that does what every run did before the
# setting existed. A run recorded before a setting was added has a digest without it: it still matches a config that
# holds that setting (and every one added after it) at its earlier value.
_ADDED_LATER = (("nets.encoder_scale", "softplus"),)


def config_digest(config, leave_out: tuple[str, ...] = ()) -> str:
    """sha1 (12 hex digits) of the config's settings, less those in `_NOT_IN_DIGEST` and `leave_out`."""
    settings = {k: v for k, v in flat_values(config).items() if k not in _NOT_IN_DIGEST and k not in leave_out}
    return hashlib.sha1(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:12]


def earlier_digests(config) -> list[str]:
    """The digests runs recorded before each of `_ADDED_LATER` existed would carry for these settings: leaving out
    the last 1, 2, … settings added, as long as each holds the value that does what runs did before it."""
    values, digests = flat_values(config), []
    for first in range(len(_ADDED_LATER) - 1, -1, -1):
        key, earlier = _ADDED_LATER[first]
        if key in values and values[key] != earlier:
            break
        digests.append(config_digest(config, tuple(k for k, _ in _ADDED_LATER[first:])))
    return digests


def same_settings(metrics: dict, config) -> bool:
    """Whether a finished run's metrics were made with `config`'s settings: the same digest (or, for a run recorded
    before a setting was added, the digest without it where the config holds it at its earlier value), and the same
    precision unless `config` leaves it to the machine (`auto`)."""
    precision = config.train.precision
    return (metrics.get("config_digest") in (config_digest(config), *earlier_digests(config))
            and (precision == "auto" or metrics.get("precision") == precision))


@functools.cache
def code_version() -> str:
    """The package's version and, in a git checkout, its commit ('0.1.0+g1a2b3c4d5e6f'), marked '.dirty' when the
    package, models/ or guides/ differ from that commit."""
    from ppl_ssl import __version__

    root = Path(__file__).resolve().parent.parent
    try:
        commit = _git(root, "rev-parse", "--short=12", "HEAD")
        changed = _git(root, "status", "--porcelain", "--untracked-files=no", "--", "ppl_ssl", "models", "guides")
    except (OSError, subprocess.SubprocessError):
        return __version__  # an installed copy, or no git: the version alone
    return f"{__version__}+g{commit}{'.dirty' if changed else ''}"


def _git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, check=True,
                          timeout=20).stdout.strip()


code_version()  # read when the code is loaded: a change to the checkout after that is not in this process's runs
