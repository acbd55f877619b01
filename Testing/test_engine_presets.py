"""Every preset trains (tiny profile, seconds), learns, saves, reloads and segments on the input grid.

Learning is proved on a held-out phantom: the trained model's Dice is clearly above the untrained
network's. The reloaded model must predict exactly what the in-memory network predicted.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
import torch

from MuscleQuantLib.fileio import write_json
from MuscleQuantLib.inference.segment import SegmentRequest, segment
from MuscleQuantLib.models.modelfile import load_model
from MuscleQuantLib.networks import build_network
from MuscleQuantLib.phantoms.registry import PhantomOptions, generate_case, write_case
from MuscleQuantLib.pipeline.predict import predict_labels
from MuscleQuantLib.presets import get_preset
from MuscleQuantLib.training.data import TrainingCase, prepare_case
from MuscleQuantLib.training.run import TrainRequest, train

PRESETS = ("l3", "c3", "temporalis", "thigh")
N_TRAIN = {"l3": 5, "c3": 5, "temporalis": 5, "thigh": 4}


@pytest.fixture(scope="module")
def phantom_sets(tmp_path_factory) -> dict[str, tuple[Path, list]]:
    """Per preset: a training folder and one held-out case (all in view, low resolution)."""
    sets = {}
    for name in PRESETS:
        preset = get_preset(name)
        folder = tmp_path_factory.mktemp(f"{name}_train")
        options = PhantomOptions(in_view=True, resolution="low")
        entries = [write_case(generate_case(preset.phantom_anatomy, 21, i, options), folder) for i in range(N_TRAIN[name])]
        write_json(folder / "dataset.json", {"cases": entries})
        held_dir = tmp_path_factory.mktemp(f"{name}_heldout")
        held = write_case(generate_case(preset.phantom_anatomy, 99, 0, options), held_dir)
        sets[name] = (folder, held_dir, held)
    return sets


def _dice(predicted: np.ndarray, reference: np.ndarray, preset) -> float:
    scores = []
    for label in preset.labels:
        ref = reference == label.value
        if ref.any():
            pred = predicted == label.value
            scores.append(2 * np.logical_and(ref, pred).sum() / (ref.sum() + pred.sum()))
    return float(np.mean(scores))


@pytest.mark.parametrize("name", PRESETS)
def test_preset_trains_learns_saves_reloads(name, phantom_sets, tmp_path):
    preset = get_preset(name)
    folder, held_dir, held = phantom_sets[name]
    run = tmp_path / "run"
    outcome = train(TrainRequest(preset=preset, data=folder, out=run, profile="tiny", seed=3), _quiet())
    assert (run / "model" / "model.json").exists() and (run / "metrics_fold0.json").exists()

    metadata = json.loads((held_dir / held["metadata"]).read_text(encoding="utf-8"))
    case = prepare_case(TrainingCase(held["case_id"], held_dir / held["image"], held_dir / held["labels"], metadata),
                        preset, preset.profile("tiny"))
    target = case.target
    profile = preset.profile("tiny")
    torch.manual_seed(0)
    untrained = build_network(profile.network, preset.network_args("tiny"))
    model = load_model(run / "model")
    device = torch.device("cpu")
    args = (profile.roi, device, preset.output_activation, preset.num_classes)
    untrained_dice = _dice(predict_labels(untrained, target.image, *args), target.labels, preset)
    trained = predict_labels(model, target.image, *args)
    trained_dice = _dice(trained, target.labels, preset)
    # 'Clearly above': at least 0.1 Dice better than the untrained network and at least twice as good.
    assert trained_dice > max(untrained_dice + 0.1, 2 * untrained_dice), (trained_dice, untrained_dice,
                                                                         outcome["mean_best_val_dice"])

    # Reloading gives exactly the predictions of the network that was saved (the best epoch's weights).
    card = json.loads((run / "model" / "model.json").read_text(encoding="utf-8"))
    rebuilt = build_network(card["network"]["name"], card["network"]["args"])
    from safetensors.torch import load_file

    rebuilt.load_state_dict(load_file(str(run / "model" / card["members"][0]["file"])))
    assert np.array_equal(predict_labels(rebuilt, target.image, *args), trained)


def test_thigh_single_slice_recipe_learns(phantom_sets, tmp_path):
    """The thigh CPU recipe — a 2.5D network trained on single slices with their neighbours — learns at
    smoke-test size, and its model segments whole volumes through the usual sliding window. The smoke run
    uses batch Dice alone: the recipe's cross-entropy term (which frees rare classes such as obturator
    externus) needs more than these 90 iterations (12 epochs gave Dice 0.04); the full recipe is measured by
    ``bench_segmentation.py --starters`` (thigh starter: held-out mean 0.913)."""
    import dataclasses

    preset = get_preset("thigh")
    cpu = preset.profile("cpu")
    assert cpu.network == "SliceUNet" and cpu.training.single_slices
    from monai.losses import DiceCELoss

    from MuscleQuantLib.training.trainer import make_loss

    loss = make_loss(preset, cpu)  # batch Dice + cross-entropy: Dice alone left a rare class on the air
    assert cpu.training.loss == "dice_batch_ce" and isinstance(loss, DiceCELoss) and loss.dice.batch
    small = dataclasses.replace(
        cpu, network_args={**cpu.network_args, "features": [8, 8, 16, 32, 64, 8]}, spacing=(10.0, 10.0, 12.0),
        roi=(8, 32, 48), training=dataclasses.replace(cpu.training, batch_size=8, max_epochs=6, loss="dice_batch",
                                                      iterations_per_epoch=15, patches_per_case=2))
    preset = dataclasses.replace(preset, profiles={**preset.profiles, "cpu_small": small})
    folder, held_dir, held = phantom_sets["thigh"]
    train(TrainRequest(preset=preset, data=folder, out=tmp_path / "run", profile="cpu_small", seed=3), _quiet())
    card = json.loads((tmp_path / "run" / "model" / "model.json").read_text(encoding="utf-8"))
    assert card["training"]["recipe"]["single_slices"] is True

    metadata = json.loads((held_dir / held["metadata"]).read_text(encoding="utf-8"))
    target = prepare_case(TrainingCase(held["case_id"], held_dir / held["image"], held_dir / held["labels"], metadata),
                          preset, small).target
    torch.manual_seed(0)
    untrained = build_network(small.network, preset.network_args("cpu_small"))
    args = (small.roi, torch.device("cpu"), preset.output_activation, preset.num_classes)
    untrained_dice = _dice(predict_labels(untrained, target.image, *args), target.labels, preset)
    trained_dice = _dice(predict_labels(load_model(tmp_path / "run" / "model"), target.image, *args), target.labels,
                         preset)
    assert trained_dice > max(untrained_dice + 0.1, 2 * untrained_dice), (trained_dice, untrained_dice)


@pytest.mark.parametrize("name", ["c3", "thigh"])
def test_segment_writes_labels_on_the_input_grid(name, phantom_sets, tmp_path):
    """Through the user's path (``segment``): output grid equals input grid, summary names the model."""
    preset = get_preset(name)
    folder, held_dir, held = phantom_sets[name]
    run = tmp_path / "run"
    train(TrainRequest(preset=preset, data=folder, out=run, profile="tiny", max_epochs=1, seed=1), _quiet())
    metadata = json.loads((held_dir / held["metadata"]).read_text(encoding="utf-8"))
    slice_index = None
    if preset.spatial_dims == 2:
        slice_index = int(round(metadata["landmarks"]["C3_reference"]["slice"]))
    result = segment(SegmentRequest(image=held_dir / held["image"], model=run / "model", out=tmp_path / "seg",
                                    slice_index=slice_index))
    image = sitk.ReadImage(str(held_dir / held["image"]))
    labels = sitk.ReadImage(result["files"]["labels"])
    assert labels.GetSize() == image.GetSize()
    assert np.allclose(labels.GetOrigin(), image.GetOrigin()) and np.allclose(labels.GetDirection(), image.GetDirection())
    summary = json.loads(Path(result["files"]["summary"]).read_text(encoding="utf-8"))
    assert summary["model"]["card_sha256"] == json.loads((run / "model" / "model.json").read_text(encoding="utf-8"))["card_sha256"]
    assert {entry["name"] for entry in summary["labels"]} == {o.name for o in preset.output_labels()}


def _quiet():
    from MuscleQuantLib.progress import Progress

    return Progress("none")


@pytest.fixture(scope="module")
def l3_model(phantom_sets, tmp_path_factory) -> Path:
    folder, _, _ = phantom_sets["l3"]
    run = tmp_path_factory.mktemp("l3_run")
    train(TrainRequest(preset=get_preset("l3"), data=folder, out=run, profile="tiny", max_epochs=1, seed=2), _quiet())
    return run / "model"


@pytest.mark.parametrize("variant", ["as_stored", "oblique_lps"])
def test_real_ct_segments_onto_its_exact_grid(l3_model, shared_data, tmp_path, variant):
    """The real abdominal CT (RAS-stored) and an oblique LPS copy: no crash, labels on the exact input grid."""
    source = shared_data / "example_ct.nii.gz"
    if variant == "oblique_lps":
        image = sitk.ReadImage(str(source))
        rotation = sitk.VersorTransform((0.2, 0.1, 0.97), np.deg2rad(10.0))
        image.SetDirection(tuple(np.array(rotation.GetMatrix()).ravel()))
        image.SetOrigin((-150.0, -120.0, 300.0))
        source = tmp_path / "oblique.nrrd"
        sitk.WriteImage(image, str(source))
    result = segment(SegmentRequest(image=source, model=l3_model, out=tmp_path / "seg", slice_index=55))
    image = sitk.ReadImage(str(source))
    labels = sitk.ReadImage(result["files"]["labels"])
    assert labels.GetSize() == image.GetSize()
    assert labels.GetOrigin() == pytest.approx(image.GetOrigin(), abs=1e-4)
    assert labels.GetDirection() == pytest.approx(image.GetDirection(), abs=1e-6)
    assert labels.GetSpacing() == pytest.approx(image.GetSpacing(), abs=1e-6)
    array = sitk.GetArrayFromImage(labels)
    assert not np.delete(array, 55, axis=0).any()  # a 2D preset writes only the measured slice
    summary = json.loads(Path(result["files"]["summary"]).read_text(encoding="utf-8"))
    assert summary["slice"]["index"] == 55 and summary["geometry"]["size"] == list(image.GetSize())
    hu = sitk.GetArrayFromImage(image)[55]
    assert np.all((hu[array[55] > 0] >= -29) & (hu[array[55] > 0] <= 150))  # Alberta window applied
