"""DEMUCS recipe, ``loss=cdpam_lite``: the CDPAM variant with the distilled student as its CDPAM term,
on the same budget as ``loss=cdpam`` for every data set."""

from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from cdpam_plugins import CDPAMLoss
from recipe_scripts import recipe_dir

RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "demucs"
recipe_dir("demucs")
from demucs.losses import EnhancementLoss  # noqa: E402


def _config(*overrides):
    with initialize_config_dir(config_dir=str(RECIPE / "conf"), version_base="1.3"):
        return compose("config", overrides=list(overrides))


@pytest.mark.parametrize("data", ["toy", "valentini", "dns"])
def test_cdpam_lite_variant_differs_from_cdpam_only_in_the_checkpoint(data):
    lite = _config("loss=cdpam_lite", f"data={data}")
    exact = _config("loss=cdpam", f"data={data}")
    assert OmegaConf.to_container(lite.trainer, resolve=True) == OmegaConf.to_container(exact.trainer, resolve=True)
    lite_terms = OmegaConf.to_container(lite.loss.terms, resolve=True)
    exact_terms = OmegaConf.to_container(exact.loss.terms, resolve=True)
    assert lite_terms.pop("perceptual") == "cdpam_lite" and exact_terms.pop("perceptual") == "cdpam"
    assert lite_terms == exact_terms
    assert lite.exp_dir != exact.exp_dir and lite.loss.perceptual_every == exact.loss.perceptual_every

def test_cdpam_lite_term_is_the_lite_distance(clips):
    terms = OmegaConf.to_container(_config("loss=cdpam_lite").loss.terms, resolve=True)
    loss = EnhancementLoss(**{**terms, "perceptual_segment_seconds": None}, sample_rate=22050)
    target = torch.from_numpy(clips["ref"][None, :22050])
    estimate = torch.from_numpy(clips["2"][None, :22050])
    loss(estimate, target)
    expected = CDPAMLoss(22050, weights="lite")(estimate, target)
    assert loss.last_terms["cdpam_lite"] == pytest.approx(float(expected), rel=1e-5)
    assert loss.last_terms["cdpam_lite"] != pytest.approx(float(CDPAMLoss(22050)(estimate, target)), rel=1e-3)
