"""The public surface: what is exported, how it is called, what it promises."""

from __future__ import annotations

import importlib
import inspect
import typing
from importlib import metadata
from pathlib import Path

import pytest
import torch

import cdpam_plugins
import metric
from cdpam_plugins import CDPAMLoss, CDPAMMetric, CDPAMPerUtterance
from metric import CDPAM, cdpam_distance
from metric.resample import resample

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def speech(clips):
    """Reference and estimate ``[3, T]`` at 16 kHz, zero-padded to 0.3 s, with their lengths."""
    ref = resample(torch.from_numpy(clips["ref"]), 22050, 16000)
    est = resample(torch.from_numpy(clips["4"]), 22050, 16000)
    lengths = [4800, 3500, 2001]
    refs, ests = torch.zeros(3, 4800), torch.zeros(3, 4800)
    for i, n in enumerate(lengths):
        start = 5000 * i
        refs[i, :n], ests[i, :n] = ref[start : start + n], est[start : start + n]
    return refs, ests, lengths


# ---------------------------------------------------------------- embed once, compare many


def test_distances_from_embeddings_equal_the_direct_distances(speech):
    refs, ests, lengths = speech
    cdpam = CDPAM(sample_rate=16000)
    direct = cdpam(refs, ests, lengths)
    ref_embedding, est_embedding = cdpam.embed(refs, lengths), cdpam.embed(ests, lengths)
    assert ref_embedding.shape == (3, 512)
    assert torch.allclose(ref_embedding.norm(dim=-1), torch.ones(3), atol=1e-6)
    assert torch.allclose(cdpam.distance_from_embeddings(ref_embedding, est_embedding), direct, atol=1e-6, rtol=0)
    # relative lengths, and each item embedded alone, give the same embeddings
    relative = cdpam.embed(refs, torch.tensor(lengths) / 4800)
    alone = torch.cat([cdpam.embed(refs[i, :n]) for i, n in enumerate(lengths)])
    assert torch.allclose(relative, ref_embedding, atol=1e-6, rtol=0)
    assert torch.allclose(alone, ref_embedding, atol=1e-6, rtol=0)


def test_one_reference_embedding_against_many_estimates(speech):
    refs, ests, _ = speech
    cdpam = CDPAM(sample_rate=16000)
    reference = cdpam.embed(refs[0])  # [1, 512]
    many = cdpam.embed(ests)
    expected = cdpam(refs[:1].expand(3, -1), ests)
    for ref_side in (reference, reference[0]):
        assert torch.allclose(cdpam.distance_from_embeddings(ref_side, many), expected, atol=1e-6, rtol=0)
    assert torch.allclose(cdpam.distance_from_embeddings(many, reference), cdpam(ests, refs[:1].expand(3, -1)), atol=1e-6)


def test_gradients_flow_through_embed_as_through_the_distance(speech):
    refs, ests, lengths = speech
    cdpam = CDPAM(sample_rate=16000)
    direct_input = ests.clone().requires_grad_(True)
    cdpam(refs, direct_input, lengths).sum().backward()
    split_input = ests.clone().requires_grad_(True)
    reference = cdpam.embed(refs, lengths)  # built without a graph (inference mode), usable in one
    cdpam.distance_from_embeddings(reference, cdpam.embed(split_input, lengths)).sum().backward()
    assert float(split_input.grad.abs().sum()) > 0
    assert torch.allclose(split_input.grad, direct_input.grad, atol=1e-7 + 1e-5 * float(direct_input.grad.abs().max()))


def test_embeddings_of_the_wrong_shape_are_refused(speech):
    refs, ests, _ = speech
    cdpam = CDPAM(sample_rate=16000)
    embedding = cdpam.embed(refs)
    with pytest.raises(ValueError, match=r"\[B, 512\]"):
        cdpam.distance_from_embeddings(embedding[:, :256], embedding)
    with pytest.raises(ValueError, match="same number"):
        cdpam.distance_from_embeddings(embedding[:2], embedding)


def test_a_network_object_works_as_weights(speech):
    refs, ests, lengths = speech
    network = metric.load_network("official")
    by_object = CDPAM(sample_rate=16000, weights=network)
    assert torch.allclose(by_object(refs, ests, lengths), CDPAM(sample_rate=16000)(refs, ests, lengths), atol=1e-6)
    assert torch.allclose(cdpam_distance(refs, ests, 16000, lengths=lengths, weights=network), by_object(refs, ests, lengths))
    assert list(by_object.state_dict()) == [] and list(by_object.parameters()) == []


# ---------------------------------------------------------------- surface


@pytest.mark.parametrize("package", [metric, cdpam_plugins], ids=["metric", "cdpam_plugins"])
def test_all_lists_what_the_package_exports(package):
    assert package.__all__ and len(set(package.__all__)) == len(package.__all__)
    for name in package.__all__:
        assert getattr(package, name) is not None, name
    exported = {name for name in dir(package) if not name.startswith("_") and not inspect.ismodule(getattr(package, name))}
    assert exported <= set(package.__all__), exported - set(package.__all__)


def test_everything_imports_from_cdpam_plugins():
    for name in ("cdpam_distance", "CDPAM", "AudioInputError", "WeightsError"):
        assert getattr(cdpam_plugins, name) is getattr(metric, name)
        assert name in cdpam_plugins.__all__


@pytest.mark.parametrize("function", [cdpam_distance, CDPAM, CDPAMLoss, CDPAMMetric, CDPAMPerUtterance])
def test_everything_after_sample_rate_is_keyword_only_and_typed(function):
    parameters = list(inspect.signature(function).parameters.values())
    names = [p.name for p in parameters]
    after = parameters[names.index("sample_rate") + 1 :]
    assert after and all(p.kind in (p.KEYWORD_ONLY, p.VAR_KEYWORD) for p in after), [(p.name, p.kind) for p in after]
    assert "weights" in names  # one name for the checkpoint everywhere
    init = function.__init__ if inspect.isclass(function) else function
    hints = typing.get_type_hints(init)
    assert all(p.name in hints for p in parameters if p.kind is not p.VAR_KEYWORD), (hints, names)


@pytest.mark.parametrize(
    "method",
    [cdpam_distance, CDPAM.forward, CDPAM.embed, CDPAM.distance_from_embeddings, CDPAMLoss.forward, CDPAMLoss.distances,
     CDPAMMetric.update, CDPAMPerUtterance.__call__],
)
def test_public_methods_are_typed_and_say_lengths(method):
    hints = typing.get_type_hints(method)
    parameters = [name for name in inspect.signature(method).parameters if name != "self"]
    assert all(name in hints for name in parameters) and "return" in hints, (method, hints)
    if any("length" in name for name in parameters):
        assert "lengths" in parameters


def test_positional_weights_are_refused():
    with pytest.raises(TypeError):
        CDPAM(16000, "official")
    with pytest.raises(TypeError):
        CDPAMLoss(16000, 1.0)


def test_the_loss_takes_lengths_positionally_by_keyword_and_in_the_old_spelling(speech):
    refs, ests, lengths = speech
    loss = CDPAMLoss(sample_rate=16000, reduction="none")
    positional = loss(ests, refs, lengths)  # SpeechBrain: loss(predictions, targets, lens)
    assert torch.equal(loss(ests, refs, lengths=lengths), positional)
    assert torch.equal(loss(ests, refs, length=lengths), positional)
    assert torch.equal(loss.distances(ests, refs, length=lengths), positional)
    assert not torch.allclose(loss(ests, refs), positional)  # lengths are really used
    with pytest.raises(TypeError, match="once"):
        loss(ests, refs, lengths, length=lengths)
    per_utterance = CDPAMPerUtterance(sample_rate=16000)
    assert torch.allclose(per_utterance(ests, refs, length=lengths), positional, atol=1e-6)
    tracker = CDPAMMetric(sample_rate=16000)
    tracker.update(ests, refs, length=lengths)
    assert abs(float(tracker.compute()) - float(positional.mean())) < 1e-6


def test_is_differentiable_tells_the_truth(speech):
    refs, ests, lengths = speech
    estimate = ests.clone().requires_grad_(True)
    assert CDPAM.is_differentiable and CDPAM(sample_rate=16000)(refs, estimate, lengths).sum().requires_grad
    tracker = CDPAMMetric(sample_rate=16000)
    assert tracker.is_differentiable is False
    tracker.update(estimate, refs, lengths)
    value = tracker.compute()
    assert not value.requires_grad and value.grad_fn is None
    assert not tracker(estimate, refs, lengths).requires_grad  # forward() too: the state is detached


def test_type_markers_ship_in_both_packages():
    for package in ("metric", "cdpam_plugins"):
        assert (REPO / package / "py.typed").is_file()
    pyproject = (REPO / "pyproject.toml").read_text()
    assert 'metric = ["py.typed"' in pyproject and 'cdpam_plugins = ["py.typed"]' in pyproject


def test_version_comes_from_the_package_metadata(monkeypatch):
    assert metric.__version__ == cdpam_plugins.__version__ == metadata.version("cdpam-plugins")

    def not_installed(name):
        raise metadata.PackageNotFoundError(name)

    import metric._version as version_module

    monkeypatch.setattr(metadata, "version", not_installed)
    try:
        assert importlib.reload(version_module).__version__ == "0+unknown"
    finally:
        monkeypatch.undo()
        importlib.reload(version_module)
    assert version_module.__version__ == metric.__version__
