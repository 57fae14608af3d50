"""The named runs of the paper and the command line that trains one: what each run changes,
the schedule rules, and the refusals."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from benchmark import runs
from reference_model.presets import preset
from reference_model.training import TrainingConfig

pytestmark = pytest.mark.needs_torch


@pytest.mark.parametrize("dataset", ["synthetic", "cityscapes", "vistas", "idd"])
def test_every_named_run_changes_only_what_it_names(dataset: str) -> None:
    base = preset(runs.PRESET_OF[dataset])
    configs = {
        name: runs.build_config(name, dataset=dataset, data_root="/data") for name in runs.RUNS
    }
    assert {n: c.model.form for n, c in configs.items()} == {
        "independent": "independent",
        "combined": "combined",
        "combined-no-freeze-decay-bn": "combined",
        "ablation-fpn-semantic-head": "combined",
        "ablation-cross-entropy": "combined",
    }
    assert configs["independent"].model.config == base
    assert configs["combined"].model.config == base
    no_bn = configs["combined-no-freeze-decay-bn"].model.config
    assert (no_bn.norm_frozen, no_bn.weight_decay_norm) == (False, False)
    assert configs["ablation-fpn-semantic-head"].model.config.semantic.head == "fpn"
    assert configs["ablation-cross-entropy"].model.config.semantic.loss == "cross_entropy"
    for config in configs.values():
        assert config.data.dataset == dataset
        assert config.data.root == "/data"
        assert config.model.preset == runs.PRESET_OF[dataset]


def test_the_schedules_of_the_datasets() -> None:
    """docs/paper.md §6 (paper §5, §5.3): 48k iterations on Cityscapes and IDD, 192k on Vistas; the
    synthetic data has the CPU schedule."""
    city = runs.build_config("combined", dataset="cityscapes", data_root="x").training
    assert city == TrainingConfig()
    vistas = runs.build_config("combined", dataset="vistas", data_root="x").training
    assert (vistas.iterations, vistas.milestones) == (192_000, (144_000, 176_000))
    synthetic = runs.build_config("combined", dataset="synthetic", data_root="x")
    assert synthetic.training == runs.SYNTHETIC_TRAINING
    assert synthetic.data.augmentation == runs.SYNTHETIC_AUGMENTATION


def test_the_demo_runs_also_report_boundary_pq() -> None:
    """The synthetic (demo) runs evaluate Boundary PQ too, for the report's ablation table;
    the paper's datasets keep the paper's metrics."""
    synthetic = runs.build_config("independent", dataset="synthetic", data_root="x")
    assert synthetic.evaluation.boundary
    assert synthetic.evaluation.dilation_ratio == 0.02
    assert not runs.build_config(
        "combined", dataset="cityscapes", data_root="x"
    ).evaluation.boundary


def test_the_demo_curves_cover_the_whole_val_split() -> None:
    """The synthetic runs evaluate their curve on every val image (the plateau rule is read on
    the images the report compares); the real datasets on CurveConfig's fixed subset."""
    synthetic = runs.build_config("combined", dataset="synthetic", data_root="x").curve
    assert synthetic.images is None
    assert synthetic.every is None  # at the quarters of the schedule
    city = runs.build_config("combined", dataset="cityscapes", data_root="x").curve
    assert city.images == 16
    overridden = runs.build_config(
        "combined", dataset="synthetic", data_root="x", overrides={"curve.images": 8}
    )
    assert overridden.curve.images == 8


def test_batch_size_iterations_and_overrides() -> None:
    four = runs.build_config("combined", dataset="cityscapes", data_root="x", batch_size=4)
    assert four.training == TrainingConfig().with_batch_size(4)
    assert (four.training.lr, four.training.iterations) == (pytest.approx(0.005), 96_000)
    short = runs.build_config("combined", dataset="cityscapes", data_root="x", iterations=480)
    assert (short.training.iterations, short.training.milestones) == (480, (360, 440))
    assert short.training.warmup_iterations == 2
    tuned = runs.build_config(
        "combined",
        dataset="synthetic",
        data_root="x",
        overrides={"training.lr": 0.05, "model.config.semantic.loss": "cross_entropy"},
    )
    assert tuned.training.lr == 0.05
    assert tuned.model.config.semantic.loss == "cross_entropy"
    with pytest.raises(KeyError, match="unknown run 'combined-v2'"):
        runs.build_config("combined-v2", dataset="synthetic", data_root="x")
    with pytest.raises(ValueError, match="has no model preset: pass --preset"):
        runs.build_config("combined", dataset="coco", data_root="x")
    with pytest.raises(KeyError, match="unknown key 'lrr'"):
        runs.build_config(
            "combined", dataset="synthetic", data_root="x", overrides={"training.lrr": 1}
        )


def test_the_command_line_refuses_bad_settings_and_missing_data(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["combined", "--dataset", "synthetic", "--output", str(tmp_path)]
    assert runs.main([*args, "--data-root", str(tmp_path), "--set", "training.lr=fast"]) == 2
    assert "config training.lr: expected float, got 'fast'" in capsys.readouterr().err
    missing = tmp_path / "nowhere"
    assert runs.main([*args, "--data-root", str(missing), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert f"the data root {missing} does not exist" in err
    assert "python -m reference_model.synthetic" in err
    assert not (tmp_path / "combined").exists()


def test_seeds_and_the_curve_interval_on_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["combined", "--dataset", "synthetic", "--data-root", "x"]
    parsed, config = runs.parse_args([*args, "--eval-every", "50", "--seeds", "3"])
    assert (config.curve.every, parsed.seeds) == (50, 3)
    assert runs.parse_args(args)[1].curve.every is None  # the quarters of the schedule
    repeats = runs.seed_runs(config, tmp_path, 3)
    assert [(c.training.seed, d.name) for c, d in repeats] == [
        (0, "combined"),
        (1, "combined-seed1"),
        (2, "combined-seed2"),
    ]
    # only the seed differs between the repeats
    assert all(c.training == replace(config.training, seed=c.training.seed) for c, _ in repeats)
    assert all(replace(c, training=config.training) == config for c, _ in repeats)
    assert runs.main([*args, "--seeds", "0", "--output", str(tmp_path)]) == 2
    assert "--seeds must be >= 1, got 0" in capsys.readouterr().err
    assert runs.main([*args, "--eval-every", "-1", "--output", str(tmp_path)]) == 2
    assert "curve.every must be >= 0 or null, got -1" in capsys.readouterr().err
