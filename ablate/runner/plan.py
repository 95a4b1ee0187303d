"""The plan of `ablate run`: its request, and every (variant, game, seed) job with every input checked."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ablate.config import Config, parse_set_options, resolve_config
from ablate.errors import UsageError
from ablate.games import resolve_games
from ablate.jedi.device import resolve_device
from ablate.runner.jobs import Job, directory_name, make_jobs
from ablate.variants import get_variant, load_variants, resolve_variant


@dataclass
class RunRequest:
    """The options of `ablate run`, unvalidated."""

    variants: list[str]
    games: str
    seeds: int | None = None  # seeds 0..N-1 (default 1 seed); exclusive with seed_list
    seed_list: str | None = None  # "1,2,3"
    budget: str = "smoke"
    set_options: list[str] = field(default_factory=list)  # "key=value"
    jobs: int = 1
    device: str = "auto"
    experiment: str = "ablate"
    tracking_uri: str | None = None
    resume: bool = False
    save_checkpoints: bool = False
    variants_dir: Path | None = None
    out: Path = Path("runs")
    reps: int = 50_000  # bootstrap resamples for the parents' confidence intervals


@dataclass(frozen=True)
class VariantPlan:
    variant: str
    config: Config
    jobs: list[Job]
    description: str


@dataclass(frozen=True)
class RunPlan:
    games: list[str]
    seeds: list[int]
    variants: list[VariantPlan]


def parse_seeds(count: int | None, seed_list: str | None) -> list[int]:
    """`--seeds N` (seeds 0..N-1) or `--seed-list 1,2,3`; one seed, 0, when neither is given."""
    if count is not None and seed_list is not None:
        raise UsageError("give --seeds or --seed-list, not both")
    if seed_list is None:
        if count is not None and count < 1:
            raise UsageError(f"--seeds must be at least 1, got {count}")
        return list(range(count or 1))
    try:
        seeds = [int(item) for item in seed_list.split(",") if item.strip()]
    except ValueError:
        raise UsageError(f"--seed-list expects comma-separated integers such as 1,2,3, got '{seed_list}'") from None
    if not seeds or min(seeds) < 0:
        raise UsageError(f"--seed-list expects non-negative integers such as 1,2,3, got '{seed_list}'")
    return list(dict.fromkeys(seeds))


def plan_run(request: RunRequest) -> RunPlan:
    """Every job of the request, with every input checked: nothing is recorded before this passes."""
    if not request.variants:
        raise UsageError("name at least one variant; `ablate variants` lists them")
    if request.jobs < 1:
        raise UsageError(f"--jobs must be at least 1, got {request.jobs}")
    if not request.experiment.strip():
        raise UsageError("--experiment must not be empty")
    registry = load_variants(request.variants_dir)
    games = resolve_games(request.games)
    seeds = parse_seeds(request.seeds, request.seed_list)
    resolve_device(request.device)
    overrides = parse_set_options(request.set_options)
    resolve_config(request.budget, overrides)  # a bad budget or --set is reported as such, not per variant
    if request.out.exists() and not request.out.is_dir():
        raise UsageError(f"--out {request.out} is a file; give a directory (default: runs)")
    root = request.out.resolve() / directory_name(request.experiment)
    plans = []
    for name in dict.fromkeys(request.variants):
        variant = get_variant(name, registry)  # an unknown name gets its suggestions before any combination is tried
        try:
            config = resolve_variant(name, registry, request.budget, overrides)
        except UsageError as err:
            raise UsageError(f"variant '{name}' with budget '{request.budget}' and --set: {err}") from None
        jobs = make_jobs(name, config, games, seeds, request.budget, root)
        plans.append(VariantPlan(name, config, jobs, variant.description))
    return RunPlan(games, seeds, plans)
