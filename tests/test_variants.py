"""The variant registry: shipped variants, lookup order, inheritance, and every validation error."""

from __future__ import annotations

from pathlib import Path

import pytest

from ablate.cli.main import main
from ablate.config import FIELD_TYPES, apply_overrides, diff, resolve_config
from ablate.errors import UsageError
from ablate.variants import describe_variant, get_variant, load_variants, resolve_variant, variant_overrides

SHIPPED = [
    "jedi", "stopgrad-none", "stopgrad-both", "no-switch", "always-switch", "deterministic-switch", "no-clamp",
    "no-clamp-no-switch", "ema-target", "mse-predictor", "recon-decoder", "latent-8x4x4", "latent-32x16x16",
    "latent-4x8x8", "latent-64x8x8", "denoise-1", "denoise-5", "denoise-10", "pixel",
]  # fmt: skip


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No user variants from the environment, and a working directory without a variants/ of its own."""
    monkeypatch.delenv("ABLATE_VARIANTS_DIR", raising=False)
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.chdir(tmp_path)


def write(directory: Path, name: str, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.toml"
    path.write_text(text)
    return path


def test_every_shipped_variant_is_there_with_one_sentence() -> None:
    registry = load_variants()
    assert set(SHIPPED) <= set(registry)
    for name in SHIPPED:
        description = registry[name].description
        assert description.endswith(".") and ". " not in description, name
    assert registry["jedi"].extends is None and registry["jedi"].overrides == {}


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_variant_differs_from_jedi_exactly_where_its_file_says(name: str) -> None:
    registry = load_variants()
    overrides = variant_overrides(name, registry)
    changes = diff(resolve_variant(name, registry), resolve_variant("jedi", registry))
    assert set(changes) == set(overrides)
    expected = apply_overrides(resolve_config(), overrides).flat()
    assert all(changes[key][1] == expected[key] for key in changes)


def test_inheritance_merges_ancestors_first(tmp_path: Path) -> None:
    user = tmp_path / "mine"
    write(user, "base", 'description = "b."\n[overrides]\n"world_model.clamp" = false\n"sampler.num_steps" = 5\n')
    write(user, "child", 'description = "c."\nextends = "base"\n[overrides]\n"sampler.num_steps" = 7\n')
    registry = load_variants(user)
    assert registry["base"].extends == "jedi"  # the default parent
    assert variant_overrides("child", registry) == {"world_model.clamp": False, "sampler.num_steps": 7}
    config = resolve_variant("child", registry, "test", {"sampler.num_steps": "2"})  # --set wins over the variant
    assert (config.world_model.clamp, config.sampler.num_steps) == (False, 2)
    assert config.training.total_env_steps == resolve_config("test").training.total_env_steps


def test_no_clamp_no_switch_extends_no_clamp() -> None:
    registry = load_variants()
    assert registry["no-clamp-no-switch"].extends == "no-clamp"
    assert variant_overrides("no-clamp-no-switch", registry) == {
        "world_model.clamp": False,
        "world_model.switch_prob": 0.0,
    }


def test_search_order_user_dir_then_working_directory_then_shipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path / "variants", "local", 'description = "from the working directory."\n')
    write(tmp_path / "env", "no-clamp", 'description = "shadowed by the user."\n')
    write(tmp_path / "arg", "from-arg", 'description = "given on the command line."\n')
    monkeypatch.setenv("ABLATE_VARIANTS_DIR", str(tmp_path / "env"))
    registry = load_variants()
    assert registry["no-clamp"].description == "shadowed by the user."
    assert "local" in registry and "stopgrad-both" in registry
    with_arg = load_variants(tmp_path / "arg")  # --variants-dir replaces $ABLATE_VARIANTS_DIR
    assert "from-arg" in with_arg and with_arg["no-clamp"].description != "shadowed by the user."


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            'description = "x."\n[overrides]\n"world_model.stop_gradiant" = "both"\n',
            "unknown config key 'world_model.stop_gradiant' (did you mean 'world_model.stop_gradient'?)",
        ),
        (
            'description = "x."\n[overrides]\n"world_model.stop_gradient" = "sometimes"\n',
            "world_model.stop_gradient: 'sometimes' is not one of target, none, both",
        ),
        ('description = "x."\n[overrides]\n"world_model.latent_shape" = [16, 7, 7]\n', "cannot be produced"),
        ('description = "x."\n[overrides]\n"sampler.num_steps" = 0\n', "sampler.num_steps must be at least 1"),
        ('description = "x."\nextends = "no-clmap"\n', "extends unknown variant 'no-clmap' (did you mean 'no-clamp'?)"),
        ('description = "x."\ndescripton = "y"\n', "unknown field 'descripton' (did you mean 'description'?)"),
        ('[overrides]\n"world_model.clamp" = false\n', "'description' must be a non-empty string"),
        ('description = "x."\noverrides = 3\n', "'overrides' must be a table"),
        ('description = "x.\n', "broken.toml: malformed TOML"),
        (
            'description = "x."\n[overrides]\n"world_model.space" = "pixel"\n"world_model.clamp" = false\n',
            "world_model.clamp means nothing with world_model.space = pixel",
        ),
    ],
)
def test_invalid_variant_file_is_one_line_error(tmp_path: Path, text: str, message: str) -> None:
    write(tmp_path / "mine", "broken", text)
    with pytest.raises(UsageError) as err:
        load_variants(tmp_path / "mine")
    assert message in str(err.value) and "\n" not in str(err.value)


def test_cycle_in_extends(tmp_path: Path) -> None:
    write(tmp_path / "mine", "a", 'description = "a."\nextends = "b"\n')
    write(tmp_path / "mine", "b", 'description = "b."\nextends = "a"\n')
    with pytest.raises(UsageError, match=r"cycle in 'extends': (a -> b -> a|b -> a -> b)"):
        load_variants(tmp_path / "mine")


def test_unknown_variant_suggests_and_lists() -> None:
    registry = load_variants()
    with pytest.raises(
        UsageError,
        match=r"unknown variant 'stopgrad-bth' \(did you mean 'stopgrad-both'\?\); "
        r"available: .*denoise-1, .*stopgrad-none",
    ):
        get_variant("stopgrad-bth", registry)


def test_bad_variant_names_and_directories(tmp_path: Path) -> None:
    write(tmp_path / "mine", "has space", 'description = "x."\n')
    with pytest.raises(UsageError, match="a variant name may only hold"):
        load_variants(tmp_path / "mine")
    with pytest.raises(UsageError, match="variants directory '.*missing' does not exist"):
        load_variants(tmp_path / "missing")


def test_describe_variant_resolves_at_a_budget() -> None:
    details = describe_variant("latent-8x4x4", "test")
    assert details.config.world_model.latent_shape == (8, 4, 4)
    assert details.changes == {"world_model.latent_shape": ((16, 8, 8), (8, 4, 4))}
    assert len(details.config.flat()) == len(FIELD_TYPES)


def test_cli_lists_and_shows_variants(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["variants"]) == 0
    listing = capsys.readouterr().out
    assert all(name in listing for name in SHIPPED)
    assert "world_model.stop_gradient = both" in listing
    assert main(["variants", "show", "stopgrad-both", "--budget", "test"]) == 0
    shown = capsys.readouterr().out
    assert "1 difference(s) from jedi" in shown and "training.total_env_steps" in shown
    assert main(["variants", "show", "stopgrad-bth"]) == 2
    assert "error: unknown variant 'stopgrad-bth' (did you mean 'stopgrad-both'?)" in capsys.readouterr().err


@pytest.mark.parametrize(
    "key, value",
    [
        ("training.final_epochs", -3),
        ("training.world_model_steps", -1),
        ("training.eval_episodes", 0),
        ("training.first_epoch_actor_critic_steps", -5),
        ("training.total_env_steps", 0),
    ],
)
def test_schedule_counts_that_would_loop_or_fail_late_are_refused_up_front(key, value):
    with pytest.raises(UsageError, match=key.replace(".", r"\.")):
        resolve_config("test", {key: value})


def test_show_prints_the_parameters_per_component_beside_the_published_total(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["variants", "show", "pixel"]) == 0
    shown = " ".join(capsys.readouterr().out.split())
    assert (
        "parameters at atari100k (18 actions): denoiser 4.41M, reward_end 5.90M, actor_critic 3.24M; total 13.55M "
        "(DIAMOND's published total: 13.5M); at smoke: 0.7" in shown
    )
    assert "(12 difference(s) from jedi)" in shown and "world_model.space │ pixel │ latent" in shown
    assert main(["variants", "show", "jedi"]) == 0
    assert "(JEDI's published total: 13.5M)" in capsys.readouterr().out


def test_a_latent_only_switch_inherited_into_pixel_space_is_refused_when_resolved(tmp_path: Path) -> None:
    write(
        tmp_path / "mine",
        "pixel-no-clamp",
        'description = "x."\nextends = "pixel"\n[overrides]\n"world_model.clamp" = false\n',
    )
    registry = load_variants(tmp_path / "mine")  # the file alone is a valid latent-space override
    with pytest.raises(UsageError, match=r"^world_model\.clamp means nothing with world_model\.space = pixel"):
        resolve_variant("pixel-no-clamp", registry, "test")
