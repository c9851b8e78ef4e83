"""Each DEMUCS variant keeps the checkpoint with the best validation value of its own objective."""

import pytest
from hydra import compose, initialize_config_dir

from recipe_scripts import recipe_dir

CONF = recipe_dir("demucs") / "conf"
from demucs.selection import ValidationObjective, best_validation, read_validation_log  # noqa: E402

COLUMNS = "epoch,loss,step,train_cdpam,train_l1,train_mag,train_sc,val_cdpam,val_l1,val_loss,val_mag,val_sc"
# Validation values after 100, 200, 300 and 400 steps (Lightning logs the step index, one less),
# interleaved with training rows that have no validation values.
LOG = [
    (99, dict(l1=0.20, sc=0.50, mag=1.00, cdpam=0.40)),   # baseline .350  DEMUCS+CDPAM .470  Finetune .420
    (199, dict(l1=0.18, sc=0.45, mag=0.90, cdpam=0.45)),  # baseline .315* DEMUCS+CDPAM .450  Finetune .468
    (299, dict(l1=0.19, sc=0.46, mag=0.95, cdpam=0.05)),  # baseline .331  DEMUCS+CDPAM .346* Finetune .069*
    (399, dict(l1=0.185, sc=0.46, mag=0.93, cdpam=0.10)), # baseline .324  DEMUCS+CDPAM .354  Finetune .1185
]


def variant_objective(variant: str, data: str = "toy") -> ValidationObjective:
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("config", overrides=[f"data={data}", f"loss={variant}"])
    from omegaconf import OmegaConf

    return ValidationObjective.from_loss_terms(OmegaConf.to_container(cfg.loss.terms, resolve=True), cfg.loss.perceptual_every)


@pytest.fixture
def metrics_csv(tmp_path):
    lines = [COLUMNS]
    for step, values in LOG:
        lines.append(f"0,0.5,{step - 1},,0.2,1.0,0.5,,,,,")
        lines.append(f"0,,{step},,,,,{values['cdpam']},{values['l1']},,{values['mag']},{values['sc']}")
    path = tmp_path / "metrics.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_each_variant_selects_on_its_own_objective_in_a_crafted_log(metrics_csv):
    rows = read_validation_log(metrics_csv)
    assert [row["step"] for row in rows] == [100, 200, 300, 400]
    picks = {variant: best_validation(rows, variant_objective(variant)) for variant in ("baseline", "cdpam", "finetune")}
    assert picks["baseline"]["step"] == 200 and picks["baseline"]["objective"] == pytest.approx(0.315)
    assert picks["cdpam"]["step"] == 300 and picks["cdpam"]["objective"] == pytest.approx(0.346)
    assert picks["finetune"]["step"] == 300 and picks["finetune"]["objective"] == pytest.approx(0.069)


def test_variant_objectives_follow_their_training_objectives():
    assert variant_objective("baseline").weights == {"l1": 1.0, "sc": 0.1, "mag": 0.1}
    # Every "DEMUCS + w·P" variant selects on its training objective with its data's weight w (every step).
    cfg_weights = {"cdpam": 0.3, "pmsqe": 0.015, "stoi": 1.0, "pesq": 0.01}
    for name, weight in cfg_weights.items():
        assert variant_objective(name).weights == {"l1": 1.0, "sc": 0.1, "mag": 0.1, name: pytest.approx(weight)}
        assert variant_objective(name).needs_perceptual
    assert variant_objective("cdpam", "valentini").weights["cdpam"] == pytest.approx(0.3)
    assert variant_objective("pmsqe").describe() == "1·L1 + 0.1·SC + 0.1·LogMag + 0.015·PMSQE"
    assert variant_objective("finetune").weights == {"l1": 0.1, "cdpam": 1.0}
    assert variant_objective("finetune").describe() == "0.1·L1 + 1·CDPAM"
    assert not variant_objective("baseline").needs_perceptual and variant_objective("finetune").needs_perceptual
    # A perceptual term every n-th step weighs w / n in the objective, what training applies on average.
    assert ValidationObjective.from_loss_terms({"l1": 1.0, "perceptual": "stoi", "perceptual_weight": 1.0}, 4).weights == {
        "l1": 1.0, "stoi": 0.25}
    with pytest.raises(ValueError, match="unknown perceptual term 'pesk'"):
        ValidationObjective(perceptual="pesk", perceptual_weight=1.0)


def test_missing_values_are_reported():
    objective = variant_objective("finetune")
    with pytest.raises(KeyError, match="cdpam"):
        objective({"l1": 0.1, "sc": 0.2, "mag": 0.3})
    # A log validated without CDPAM cannot select a CDPAM variant.
    rows = [{"step": 10, "val_l1": 0.1, "val_sc": 0.2, "val_mag": 0.3}]
    with pytest.raises(ValueError, match="validated"):
        best_validation(rows, objective)
    assert best_validation(rows, variant_objective("baseline"))["step"] == 10


class RecordingDistance:
    """Stands in for CDPAM: records what it is asked to score and returns a known distance."""

    def __init__(self):
        self.calls = []

    def __call__(self, estimate, clean):
        self.calls.append((estimate.detach().clone(), clean.detach().clone()))
        return (estimate - clean).abs().mean()


def test_validation_scores_cdpam_on_a_fixed_bounded_subset(tmp_path):
    import pytorch_lightning as pl
    from pytorch_lightning.loggers import CSVLogger
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    from demucs.losses import EnhancementLoss
    from demucs.model import CausalDemucs
    from demucs.system import EnhancementSystem

    torch.manual_seed(0)
    clean = 0.1 * torch.randn(5, 3000)
    noisy = clean + 0.05 * torch.randn(5, 3000)
    loader = DataLoader(TensorDataset(noisy, clean), batch_size=2, shuffle=False)
    model = CausalDemucs(hidden=2, depth=2)
    distance = RecordingDistance()
    objective = ValidationObjective(l1=1.0, sc=0.1, mag=0.1, perceptual="cdpam", perceptual_weight=0.5)
    system = EnhancementSystem(
        model, torch.optim.Adam(model.parameters()), EnhancementLoss(), loader, loader,
        validation_objective=objective, validation_loss=EnhancementLoss(l1=1.0, sc_factor=1.0, mag_factor=1.0),
        validation_perceptual=distance, perceptual_items=3, perceptual_seconds=0.01, sample_rate=16000,
    )
    # A CSV logger as train.py has: the system logs its validation measures for the logger.
    trainer = pl.Trainer(logger=CSVLogger(tmp_path), enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False)
    for _ in range(2):  # the same subset at every validation
        distance.calls.clear()
        metrics = trainer.validate(system, dataloaders=loader, verbose=False)[0]
        # Only the first 3 of 5 items, their centred 160 samples (0.01 s at 16 kHz).
        scored_clean = torch.cat([c for _, c in distance.calls])
        assert torch.equal(scored_clean, clean[:3, 1420:1580])
        assert [c.shape[0] for _, c in distance.calls] == [2, 1]
    with torch.no_grad():
        estimates = model(noisy)[:, 0]
    expected_cdpam = float((estimates[:3, 1420:1580] - clean[:3, 1420:1580]).abs().mean())
    assert metrics["val_cdpam"] == pytest.approx(expected_cdpam, rel=1e-4)
    values = {name: metrics[f"val_{name}"] for name in ("l1", "sc", "mag", "cdpam")}
    assert values["l1"] == pytest.approx(float((estimates - clean).abs().mean()), rel=1e-4)  # all 5 items
    assert metrics["val_loss"] == pytest.approx(objective(values), rel=1e-5)


def test_real_corpora_default_to_the_released_recipes():
    # run.sh's defaults: model=released for Valentini (launch_valentini.sh), released_dns for DNS (launch_dns.sh).
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        valentini = compose("config", overrides=["data=valentini", "model=released", "loss=baseline"])
        dns = compose("config", overrides=["data=dns", "model=released_dns", "loss=baseline"])
    for cfg, hidden in [(valentini, 48), (dns, 64)]:
        model = cfg.model
        assert (model.hidden, model.depth, model.kernel_size, model.stride, model.resample) == (hidden, 5, 8, 4, 4)
        assert (model.layout, model.resampler, model.normalize, model.rescale, model.lstm_layers) == ("released", "sinc", True, 0.1, 2)
        assert cfg.optim.lr == 3e-4 and list(cfg.optim.betas) == [0.9, 0.999] and cfg.optim.grad_clip is None
        assert (cfg.loss.terms.l1, cfg.loss.terms.sc_factor, cfg.loss.terms.mag_factor) == (1.0, 0.1, 0.1)
        assert cfg.trainer.max_steps is None
    data = valentini.data
    assert (data.batch_size, data.segment_seconds, data.stride_seconds, data.shift, data.shift_same) == (64, 4.5, 0.5, 8000, True)
    assert (data.remix, data.bandmask, data.revecho, valentini.trainer.max_epochs) == (True, 0.2, 0, 500)
    assert data.valid_segment_seconds is None  # whole validation files, batch 1
    data = dns.data
    assert (data.batch_size, data.segment_seconds, data.stride_seconds, data.shift, data.shift_same) == (128, 10.0, 2.0, 16000, True)
    assert (data.remix, data.bandmask, data.revecho, dns.trainer.max_epochs) == (False, 0.0, 1.0, 250)
