"""Smoke checks of an *installed* cdpam-plugins (run by scripts/check_compat.sh in fresh venvs).

    python scripts/compat_smoke.py --golden tests/data/golden_public.json \
        --checks parity,demo,speechbrain,asteroid,metric,train

Run it from a directory outside the repository so that ``import metric`` finds the installed
package, not the checkout (the script refuses to run otherwise). Each check prints one line,
``PASS``/``FAIL name: details``; the last line is a JSON record of the versions it ran with.
Exit status 1 if any check failed.

* parity      the official sample clips (shipped in the wheel) against the published distances
* demo        ``cdpam score --demo`` from an empty directory prints the documented values
* speechbrain the README's HyperPyYAML ``loss: !new:cdpam_plugins.CDPAMLoss`` line on a zero-padded
              ``[B, T, 1]`` batch with relative lengths (each item as if alone), backward into a
              trainee, and ``MetricStats`` with ``CDPAMPerUtterance``
* asteroid    one training step of an Asteroid ``System`` whose loss is
              ``WeightedSum([SingleSrcMultiScaleSpectral, CDPAMLoss])``; the trainee's parameters move,
              the CDPAM network stays out of the ``System``'s ``state_dict`` and optimiser
* metric      ``CDPAMMetric`` update/compute over two batches equals the mean distance
* train       ``cdpam train`` stage (a) for two steps on a folder corpus, with its export
* evaluate    ``cdpam evaluate monotonicity`` on the sample clips with PESQ, STOI and CSIG, with plots
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import traceback
from importlib import metadata, resources
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

CHECKS = ("parity", "demo", "speechbrain", "asteroid", "metric", "train", "evaluate")
# The official package's documented ref-vs-2 and ref-vs-4 distances. The printed sixth decimal may round
# either way (the official ref-vs-4 is 0.2355725, and float rounding of 1e-7 moves it across), so the
# printed values are compared within 2e-6, well inside the 1e-4 parity tolerance.
DEMO_VALUES = (0.169629, 0.235573)
DEMO_TOLERANCE = 2e-6
VERSIONED = {"torch": "torch", "torchaudio": "torchaudio", "torchmetrics": "torchmetrics", "numpy": "numpy",
             "scipy": "scipy", "soundfile": "soundfile", "speechbrain": "speechbrain", "asteroid": "asteroid",
             "pytorch_lightning": "pytorch-lightning", "hydra": "hydra-core", "setuptools": "setuptools"}


def sample_clips() -> dict[str, np.ndarray]:
    folder = Path(str(resources.files("metric") / "assets" / "sample_audio"))
    clips = {name: sf.read(folder / f"{name}.wav", dtype="float32")[0] for name in ("ref", "2", "4")}
    clips["silence"] = np.zeros_like(clips["ref"])
    return clips


def check_parity(golden_path: Path) -> str:
    from metric import cdpam_distance

    clips = sample_clips()
    cases = json.loads(golden_path.read_text())["cases"]
    ref = torch.from_numpy(np.stack([clips[case["ref"]] for case in cases]))
    deg = torch.from_numpy(np.stack([clips[case["deg"]] for case in cases]))
    got = cdpam_distance(ref, deg, sample_rate=22050)
    expected = torch.tensor([case["dist"] for case in cases])
    error = float((got - expected).abs().max())
    assert error < 1e-4, f"max |distance - official| = {error:.2e} over {len(cases)} cases"
    return f"{len(cases)} official cases, max error {error:.1e}"


def check_demo() -> str:
    command = Path(sys.executable).with_name("cdpam")
    with tempfile.TemporaryDirectory() as empty:
        result = subprocess.run([str(command), "score", "--demo"], cwd=empty, capture_output=True, text=True,
                                timeout=900)
    assert result.returncode == 0, result.stderr[-2000:]
    printed = [float(line.split()[0]) for line in result.stdout.splitlines() if line[:1].isdigit()]
    assert len(printed) == len(DEMO_VALUES), f"expected {len(DEMO_VALUES)} distances in: {result.stdout}"
    worst = max(abs(got - want) for got, want in zip(printed, DEMO_VALUES))
    assert worst <= DEMO_TOLERANCE, f"demo distances {printed} differ from {DEMO_VALUES} by {worst:.1e}"
    return " / ".join(f"{value:.6f}" for value in printed)


def _noisy_clean(count: int, samples: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Excerpts of the official speech clips and noisy versions of them."""
    generator = torch.Generator().manual_seed(seed)
    speech = torch.from_numpy(np.concatenate([sample_clips()[name] for name in ("ref", "2", "4")]))
    starts = torch.randint(0, len(speech) - samples, (count,), generator=generator)
    clean = torch.stack([speech[int(s) : int(s) + samples] for s in starts])
    noisy = clean + 0.05 * torch.randn(clean.shape, generator=generator)
    return noisy, clean


class TinyDenoiser(torch.nn.Module):
    """[B, T] -> [B, T]: a residual two-layer 1-D CNN, small enough for a smoke test."""

    def __init__(self):
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Conv1d(1, 4, 9, padding=4), torch.nn.Tanh(),
                                       torch.nn.Conv1d(4, 1, 9, padding=4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.net(x[:, None, :])[:, 0, :]


def check_speechbrain() -> str:
    from hyperpyyaml import load_hyperpyyaml
    from speechbrain.utils.metric_stats import MetricStats

    from cdpam_plugins import CDPAMLoss, CDPAMPerUtterance

    hparams = load_hyperpyyaml("loss: !new:cdpam_plugins.CDPAMLoss\n    sample_rate: 16000\n    weight: 0.1\n")
    loss_fn = hparams["loss"]
    assert isinstance(loss_fn, CDPAMLoss), type(loss_fn)
    noisy, clean = _noisy_clean(3, 8000, seed=1)
    relative = torch.tensor([1.0, 0.75, 0.5])
    valid = [int(round(float(r) * clean.shape[1])) for r in relative]
    for i, n in enumerate(valid):  # a zero-padded batch, as SpeechBrain's PaddedBatch makes it
        noisy[i, n:] = 0
        clean[i, n:] = 0
    model = TinyDenoiser()
    mask = (torch.arange(clean.shape[1])[None, :] < torch.tensor(valid)[:, None]).float()
    # SpeechBrain's [B, T, 1]; zero beyond each length, as the lengths= contract asks of a padded batch
    predictions = (model(noisy) * mask)[:, :, None]
    loss = loss_fn(predictions, clean[:, :, None], relative)
    loss.backward()
    gradient = model.net[0].weight.grad
    assert gradient is not None and torch.isfinite(gradient).all() and gradient.abs().sum() > 0, "no gradient"
    with torch.no_grad():
        alone = [float(loss_fn(predictions[i : i + 1, :n], clean[i : i + 1, :n, None])) for i, n in enumerate(valid)]
    assert abs(float(loss) - sum(alone) / 3) < 1e-5, (float(loss), alone)
    stats = MetricStats(metric=CDPAMPerUtterance(sample_rate=16000))
    stats.append(["a", "b", "c"], predictions.detach(), clean[:, :, None], relative)
    per_utterance = [s / 0.1 for s in alone]  # the loss carries weight 0.1
    scores = [float(score) for score in stats.scores]
    assert np.allclose(scores, per_utterance, atol=1e-5), (scores, per_utterance)
    return f"loss {float(loss):.5f} = mean of items alone; MetricStats average {stats.summarize('average'):.5f}"


def check_asteroid() -> str:
    from asteroid.engine import System
    from asteroid.losses import SingleSrcMultiScaleSpectral
    from pytorch_lightning import Trainer
    from pytorch_lightning.loggers import CSVLogger

    from cdpam_plugins import CDPAMLoss, WeightedSum

    noisy, clean = _noisy_clean(4, 8000, seed=2)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(noisy, clean), batch_size=4)
    model = TinyDenoiser()
    before = [p.detach().clone() for p in model.parameters()]
    loss_func = WeightedSum([(1.0, SingleSrcMultiScaleSpectral()), (0.1, CDPAMLoss(sample_rate=16000))])
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    system = System(model, optimizer, loss_func, train_loader=loader, val_loader=loader)
    with tempfile.TemporaryDirectory() as logs:
        trainer = Trainer(max_steps=1, logger=CSVLogger(logs), enable_checkpointing=False, enable_progress_bar=False,
                          enable_model_summary=False, accelerator="cpu", devices=1, limit_val_batches=1)
        trainer.fit(system)
    moved = sum(not torch.equal(a, b.detach()) for a, b in zip(before, model.parameters()))
    assert moved == len(before), f"{moved}/{len(before)} parameter tensors changed after one step"
    cdpam_entries = [key for key in system.state_dict() if key.startswith("loss_func.losses.1.")]
    assert not cdpam_entries, f"CDPAM entries in the System's state_dict: {cdpam_entries[:5]}"
    optimised = {id(p) for group in optimizer.param_groups for p in group["params"]}
    assert optimised == {id(p) for p in model.parameters()}, "the optimiser holds more than the trainee"
    return f"1 step, {moved} trainee tensors updated; CDPAM in neither state_dict nor optimiser"


def check_metric() -> str:
    import torchmetrics

    from cdpam_plugins import CDPAMMetric
    from metric import cdpam_distance

    noisy, clean = _noisy_clean(4, 11025, seed=3)
    metric = CDPAMMetric(sample_rate=22050)
    metric.update(noisy[:2], clean[:2])
    metric.update(noisy[2:], clean[2:])
    value = float(metric.compute())
    expected = float(cdpam_distance(clean, noisy, sample_rate=22050).mean())
    assert abs(value - expected) < 1e-5, (value, expected)
    metric.reset()
    return f"torchmetrics {torchmetrics.__version__}: compute {value:.5f} = mean distance"


def check_train() -> str:
    with tempfile.TemporaryDirectory() as scratch:
        corpus = Path(scratch) / "corpus"
        clips = sample_clips()
        for speaker, name in enumerate(("ref", "2", "4")):  # three "speakers", two excerpts each
            (corpus / f"spk{speaker}").mkdir(parents=True)
            for part in range(2):
                sf.write(corpus / f"spk{speaker}" / f"{name}_{part}.wav", clips[name][part * 22050 : (part + 1) * 22050],
                         22050)
        output = Path(scratch) / "run"
        overrides = ["stage=contrastive", "data=corpus", f"data.root={corpus}", "data.val_fraction=0.34",
                     "data.num_workers=0", f"output_dir={output}", "preset=toy_fast", "data.segment_seconds=0.25",
                     "data.train_size=8", "data.val_size=4", "optim.batch_size=4", "trainer.max_steps=2",
                     "trainer.enable_progress_bar=false", "evaluation.monotonicity=false",
                     "stage.augment.silence_seconds=0.05"]
        command = Path(sys.executable).with_name("cdpam")
        result = subprocess.run([str(command), "train", *overrides], cwd=scratch, capture_output=True, text=True,
                                timeout=1800)
        assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
        exported = sorted(p.name for p in output.glob("*.pt"))
        assert exported, f"no exported checkpoint in {output}: {sorted(p.name for p in output.iterdir())}"
    return f"2 steps, exported {', '.join(exported)}"


def check_evaluate() -> str:
    command = Path(sys.executable).with_name("cdpam")
    with tempfile.TemporaryDirectory() as scratch:
        result = subprocess.run([str(command), "evaluate", "monotonicity", "--corpus", "sample",
                                 "--metrics", "pesq,stoi,csig", "--families", "white_noise,reverb",
                                 "--levels", "0.25,0.75", "--seconds", "1", "--out", "out", "--quiet"],
                                cwd=scratch, capture_output=True, text=True, timeout=1800)
        assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
        monotonicity = json.loads((Path(scratch) / "out" / "results.json").read_text())
        plots = sorted(p.name for p in (Path(scratch) / "out").glob("*.png"))
    assert len(plots) == 3, plots
    return f"{len(plots)} plots; results.json keys {sorted(monotonicity)[:4]}"


def versions() -> dict[str, str]:
    """Installed versions (from the distributions' metadata: also for a package that fails to import)."""
    found = {"python": platform.python_version()}
    for key, distribution in VERSIONED.items():
        try:
            found[key] = metadata.version(distribution)
        except metadata.PackageNotFoundError:
            found[key] = "-"
    return found


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--golden", type=Path, required=True, help="tests/data/golden_public.json")
    parser.add_argument("--checks", default=",".join(CHECKS), help=f"comma-separated subset of {', '.join(CHECKS)}")
    parser.add_argument("--label", default="", help="name of the environment, copied into the JSON record")
    args = parser.parse_args(argv)
    import metric

    repo = Path(__file__).resolve().parents[1]
    if Path(metric.__file__).resolve().is_relative_to(repo):
        print(f"metric was imported from the checkout ({metric.__file__}); run from outside the repository",
              file=sys.stderr)
        return 2
    torch.set_num_threads(1)
    checks = [name.strip() for name in args.checks.split(",") if name.strip()]
    unknown = sorted(set(checks) - set(CHECKS))
    if unknown:
        parser.error(f"unknown checks {unknown}; choose from {', '.join(CHECKS)}")
    results = {}
    for name in checks:
        try:
            detail = check_parity(args.golden) if name == "parity" else globals()[f"check_{name}"]()
            results[name] = "pass"
            print(f"PASS {name}: {detail}", flush=True)
        except Exception as error:  # noqa: BLE001 - report every check, then fail
            results[name] = "FAIL"
            print(f"FAIL {name}: {type(error).__name__}: {error}", flush=True)
            traceback.print_exc(limit=4)
    print(json.dumps({"label": args.label, "versions": versions(), "results": results}))
    return 0 if all(value == "pass" for value in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
