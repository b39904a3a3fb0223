"""Which judge is compared with which column of human labels, at which threshold.

From the config's ``human_label`` or the ``--judge J --human COL`` flags
(``pair_judges``); then each pairing takes the threshold its judge was scored
with when the file records it (``as_scored``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from judgekit.config import Config
from judgekit.config_judges import JudgeConfig
from judgekit.errors import ConfigError, UsageError

DEFAULT_THRESHOLD: float = JudgeConfig.model_fields["threshold"].default

ThresholdSource = Literal["file", "config", "default"]
"""Where a judge's threshold comes from: the scored file's metadata, the config, or 0.7."""


@dataclass(frozen=True, slots=True)
class Pairing:
    """One judge compared with one column of human labels."""

    judge: str
    human_column: str
    threshold: float
    source: ThresholdSource = "config"
    config_threshold: float | None = None
    """The config's threshold when it differs from the one the file was scored with."""


def pair_judges(
    config: Config | None, judges: Sequence[str], humans: Sequence[str]
) -> tuple[Pairing, ...]:
    """Which judge to compare with which human column, from config and flags."""
    if humans and len(judges) != len(humans):
        raise UsageError("--judge and --human must be given the same number of times")
    if config is None:
        if not judges:
            raise UsageError("nothing to compare: give --config, or --judge J --human COL")
        if not humans:
            raise UsageError("without --config, give each --judge a --human COL")
        return tuple(
            Pairing(j, h, DEFAULT_THRESHOLD, "default") for j, h in zip(judges, humans, strict=True)
        )
    if humans:
        return tuple(
            Pairing(j, h, _configured(config, j).threshold)
            for j, h in zip(judges, humans, strict=True)
        )
    chosen = [_configured(config, name) for name in judges] or [
        judge for judge in config.judges if judge.human_label is not None
    ]
    if not chosen:
        raise ConfigError(
            "no judge in the config has a human_label; set one, or give --judge J --human COL"
        )
    for judge in chosen:
        if judge.human_label is None:
            raise ConfigError(f"judge '{judge.name}' has no human_label; give --human COL too")
    return tuple(Pairing(j.name, j.human_label or "", j.threshold) for j in chosen)


def as_scored(pairings: Sequence[Pairing], recorded: Mapping[str, float]) -> list[Pairing]:
    """Each pairing with the threshold its judge was scored with, when the file records it;
    the config's own threshold is kept as ``config_threshold`` when it differs."""
    resolved = []
    for pairing in pairings:
        scored = recorded.get(pairing.judge)
        if scored is None:
            resolved.append(pairing)
            continue
        differs = pairing.source == "config" and pairing.threshold != scored
        resolved.append(
            Pairing(
                pairing.judge,
                pairing.human_column,
                scored,
                "file",
                pairing.threshold if differs else None,
            )
        )
    return resolved


def _configured(config: Config, name: str) -> JudgeConfig:
    try:
        return config.judge(name)
    except KeyError:
        known = ", ".join(judge.name for judge in config.judges)
        raise ConfigError(f"no judge '{name}' in the config (judges: {known})") from None
