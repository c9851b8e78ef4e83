"""Contrastive pairs, the JND proxy, triplets, collation and the online augmentation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from torch.utils.data import DataLoader

from metric.data.augment import SilenceAndGain
from metric.data.collate import collate_padded, pad_batch
from metric.data.contrastive import CONTRASTIVE_FAMILIES, ContrastivePairs, babble_pool, with_babble_sources
from metric.data.corpora import Utterance
from metric.data.proxy import JNDProxyPairs, proxy_label
from metric.data.triplets import TripletDataset, read_triplets
from metric.perturb import Chain, describe

RATE = 16000


def write(path: Path, x: np.ndarray, rate: int = RATE) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, x, rate, subtype="FLOAT")
    return path


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, clips):
    """Three speakers: two real-speech excerpts and one silent recording (1 s each, 16 kHz)."""
    from metric.resample import resample_array

    root = tmp_path_factory.mktemp("corpus")
    speech = resample_array(clips["ref"], 22050, RATE)
    other = resample_array(clips["4"], 22050, RATE)
    return [
        Utterance(write(root / "s1" / "u1.wav", speech[:RATE]), "s1", "u1"),
        Utterance(write(root / "s2" / "u2.wav", other[RATE : 2 * RATE]), "s2", "u2"),
        Utterance(write(root / "s3" / "u3.wav", np.zeros(RATE, dtype=np.float32)), "s3", "u3"),
    ]


def test_acoustic_pairs_share_parameters_but_not_content(corpus):
    silent = [corpus[2], Utterance(corpus[2].path, "s4", "u3-copy")]  # same parameters on silence = same noise
    dataset = ContrastivePairs(silent, sample_rate=RATE, kind="acoustic", size=6, families=["white_noise", "pink_noise", "babble"],
                               segment_seconds=0.5, level_range=(0.5, 1.0), family_options={"babble": {"sources": [corpus[0].path]}})
    for i in range(len(dataset)):
        item = dataset[i]
        assert item["kind"] == "acoustic" and item["kind_id"] == 0
        assert item["chain_a"] == item["chain_b"] and item["seed_a"] == item["seed_b"]
        assert item["utterance_a"] != item["utterance_b"]
        torch.testing.assert_close(item["a"], item["b"])  # identical perturbation draw
        assert item["a"].abs().max() > 0
    speech = ContrastivePairs(corpus, sample_rate=RATE, kind="acoustic", size=8, segment_seconds=0.5)
    for i in range(len(speech)):
        item = speech[i]
        assert item["speaker_a"] != item["speaker_b"]  # other speakers exist, so another speaker is picked
        assert item["a"].shape == item["b"].shape == (RATE // 2,)


def test_content_pairs_share_content_but_not_parameters(corpus):
    # gain-only chains: undoing each side's documented gain must give back the same excerpt
    dataset = ContrastivePairs(corpus[:2], sample_rate=RATE, kind="content", size=6, segment_seconds=0.5,
                               families=["gain"], max_links=1)
    for i in range(len(dataset)):
        item = dataset[i]
        assert item["kind"] == "content" and item["kind_id"] == 1 and item["utterance_a"] == item["utterance_b"]
        assert item["chain_a"] != item["chain_b"] and not torch.equal(item["a"], item["b"])
        scale = [10 ** (describe("gain", Chain.parse(item[k]).links[0].level, RATE)["gain_db"] / 20) for k in ("chain_a", "chain_b")]
        torch.testing.assert_close(item["a"] / scale[0], item["b"] / scale[1], atol=1e-7, rtol=1e-4)


def test_babble_comes_from_the_datasets_other_utterances(corpus):
    pool = babble_pool(corpus, seed=0)
    assert sorted(pool) == sorted(str(u.path) for u in corpus)  # small corpus: all of it
    chain = with_babble_sources(Chain([("babble", 0.5), ("mp3", 0.2)]), pool, exclude=[corpus[0]])
    assert chain.links[0].options["sources"] == [p for p in pool if p != str(corpus[0].path)]
    assert chain.links[1].options == {}
    explicit = Chain([("babble", 0.5, {"sources": ["x.wav"]})])
    assert with_babble_sources(explicit, pool, exclude=[]) is explicit
    dataset = ContrastivePairs(corpus, sample_rate=RATE, kind="content", size=2, families=["babble"], segment_seconds=0.25,
                               level_range=(1.0, 1.0), max_links=1)  # a single possible chain: the seeds differ
    item = dataset[0]
    assert item["chain_a"] == item["chain_b"] and item["seed_a"] != item["seed_b"]
    assert item["a"].abs().max() > 0.01 and not torch.equal(item["a"], item["b"])


def test_pairs_are_a_pure_function_of_seed_and_index(corpus):
    make = lambda seed: ContrastivePairs(corpus, sample_rate=RATE, size=4, segment_seconds=0.25, seed=seed,
                                         families=["white_noise", "eq", "mulaw", "dropout"])
    first, again, other = make(3), make(3), make(4)
    assert [first.kind_of(i) for i in range(4)] == ["acoustic", "content", "acoustic", "content"]
    for i in (3, 0):  # any order
        torch.testing.assert_close(first[i]["a"], again[i]["a"])
        assert first[i]["chain_b"] == again[i]["chain_b"]
    assert any(not torch.equal(first[i]["a"], other[i]["a"]) for i in range(4))
    with pytest.raises(IndexError):
        first[4]


def test_default_families_leave_out_the_invariances(corpus):
    assert "gain" not in CONTRASTIVE_FAMILIES and "time_shift" not in CONTRASTIVE_FAMILIES
    assert "noise_file" not in CONTRASTIVE_FAMILIES
    with pytest.raises(ValueError, match="need options"):
        ContrastivePairs(corpus, families=["noise_file"])
    with pytest.raises(ValueError, match="unknown perturbation families"):
        ContrastivePairs(corpus, families=["static"])


def test_contrastive_batches_through_a_dataloader(corpus):
    dataset = ContrastivePairs(corpus, sample_rate=RATE, size=4, segment_seconds=0.5, families=["white_noise", "reverb"])
    batch = next(iter(DataLoader(dataset, batch_size=4, collate_fn=collate_padded)))
    assert batch["a"].shape == batch["b"].shape == (4, RATE // 2)
    assert batch["lengths"].tolist() == [RATE // 2] * 4
    assert batch["kind_id"].tolist() == [0, 1, 0, 1] and batch["kind"][1] == "content"


def test_jnd_proxy_labels_follow_the_documented_rule(corpus):
    dataset = JNDProxyPairs(corpus, sample_rate=RATE, size=60, segment_seconds=0.25, families=["white_noise", "gain", "mulaw"])
    labels = []
    for i in range(len(dataset)):
        item = dataset[i]
        assert item["source"] == "jnd_proxy" and item["is_proxy"] is True
        assert item["label"] == proxy_label(item["level_a"], item["level_b"], 0.15)
        if item["level_gap"] == 0:
            torch.testing.assert_close(item["reference"], item["perturbed"])
        labels.append(item["label"])
    assert 0.3 < np.mean(labels) < 0.8  # both answers occur in useful proportions
    assert proxy_label(0.2, 0.3) == 0 and proxy_label(0.2, 0.5) == 1


def test_jnd_proxy_pairs_differ_only_in_level(corpus):
    dataset = JNDProxyPairs(corpus[2:], sample_rate=RATE, size=10, segment_seconds=0.25, families=["white_noise"], identical_fraction=0.0)
    for i in range(len(dataset)):
        item = dataset[i]  # on silence: same noise draw, RMS scaled by the two levels' noise RMS
        ratio = item["perturbed"].double().pow(2).mean().sqrt() / item["reference"].double().pow(2).mean().sqrt()
        expected = describe("white_noise", item["level_b"], RATE)["noise_rms"] / describe("white_noise", item["level_a"], RATE)["noise_rms"]
        assert float(ratio) == pytest.approx(expected, rel=1e-3)


def test_triplets_from_csv(tmp_path):
    for name, freq, seconds in (("ref", 300, 0.5), ("a", 300, 0.4), ("b", 900, 0.5)):
        t = np.arange(int(seconds * 22050)) / 22050
        write(tmp_path / "audio" / f"{name}.wav", 0.3 * np.sin(2 * np.pi * freq * t), 22050)
    csv_path = tmp_path / "triplets.csv"
    csv_path.write_text("reference,a,b,preference,annotators\naudio/ref.wav,audio/a.wav,audio/b.wav,0.9,10\n")
    dataset = TripletDataset(csv_path, sample_rate=16000)
    item = dataset[0]
    assert item["reference"].shape == item["a"].shape == item["b"].shape == (6400,)  # cropped to A's 0.4 s
    assert item["preference"] == pytest.approx(0.9)
    batch = collate_padded([item, item])
    assert batch["preference"].dtype == torch.float32 and batch["lengths"].tolist() == [6400, 6400]
    bad = tmp_path / "bad.csv"
    bad.write_text("reference,a,b,preference\naudio/ref.wav,audio/a.wav,audio/b.wav,1.7\n")
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        read_triplets(bad)
    bad.write_text("ref,a,b\nx,y,z\n")
    with pytest.raises(ValueError, match="missing reference, preference"):
        read_triplets(bad)
    bad.write_text("reference,a,b,preference\naudio/ref.wav,audio/gone.wav,audio/b.wav,0.5\n")
    with pytest.raises(FileNotFoundError, match="gone.wav"):
        TripletDataset(bad)


def test_collate_pads_and_reports_lengths():
    items = [{"x": np.ones(3, dtype=np.float32), "y": torch.ones(3), "id": "a", "n": 1},
             {"x": np.ones(5, dtype=np.float32), "y": torch.ones(4), "id": "b", "n": 2}]
    batch = collate_padded(items)
    assert batch["x"].tolist() == [[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]]
    assert batch["x_lengths"].tolist() == [3, 5] and batch["y_lengths"].tolist() == [3, 4]
    assert "lengths" not in batch  # x and y differ in length for item 2
    assert batch["id"] == ["a", "b"] and batch["n"].dtype == torch.long
    padded, lengths = pad_batch([torch.ones(2), np.zeros(4, dtype=np.float32)])
    assert padded.shape == (2, 4) and lengths.tolist() == [2, 4]
    with pytest.raises(ValueError, match="1-D"):
        pad_batch([torch.ones(2, 2)])


def test_silence_and_gain_augmentation():
    augment = SilenceAndGain(RATE, seed=0)
    x = np.full(1000, 0.5, dtype=np.float32)
    starts, gains = [], []
    for _ in range(40):
        y = augment(x)
        assert y.shape == (1000 + 4000,) and y.dtype == np.float32
        at_start = bool(np.all(y[:4000] == 0))
        assert at_start != bool(np.all(y[1000:] == 0))  # the silence is on exactly one side
        starts.append(at_start)
        gains.append(20 * np.log10(np.max(np.abs(y)) / 0.5))
    assert 0 < np.mean(starts) < 1
    assert min(gains) >= -20.0 - 1e-6 and max(gains) <= 1e-6 and max(gains) - min(gains) > 5
    tensor = augment(torch.ones(10))
    assert torch.is_tensor(tensor) and tensor.shape == (4010,)
    batch = torch.zeros(2, 6)
    batch[0, :6] = 1.0
    batch[1, :3] = 1.0
    out, lengths = SilenceAndGain(RATE, silence_seconds=0.0005, seed=1).batch(batch, torch.tensor([6, 3]))
    assert out.shape == (2, 14) and lengths.tolist() == [14, 11]
    assert int((out[1] != 0).sum()) == 3 and torch.all(out[1, 11:] == 0)  # padding stays at the end


def test_worker_processes_give_the_same_items(corpus):
    dataset = ContrastivePairs(corpus, sample_rate=RATE, size=4, segment_seconds=0.25, families=["white_noise", "eq", "dropout"])
    serial = next(iter(DataLoader(dataset, batch_size=4, collate_fn=collate_padded)))
    parallel = next(iter(DataLoader(dataset, batch_size=4, collate_fn=collate_padded, num_workers=2)))
    torch.testing.assert_close(serial["a"], parallel["a"])
    assert serial["chain_b"] == parallel["chain_b"]
