"""Distillation: the teacher cache (computed once, resumable, refused when settings differ), the
``distill`` training stage end to end, the student's architecture options and its FLOP count."""

from __future__ import annotations

import json

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from metric import CDPAM, CDPAMNetwork, fftconv, load_network, save_network
from metric.data import toy
from metric.data.distill import PerturbedGroups
from metric.model import network_from_config
from metric.train.teacher_cache import TeacherCache, TeacherCacheError, build_teacher_cache, from_pcm16

# A cheap stand-in teacher with the released embedding width (its 512-d acoustic half feeds a 512-input loss-net).
TEACHER = dict(encoder_layers=4, encoder_base_channels=4, encoder_head_channels=1024)
STUDENT = dict(encoder_layers=4, encoder_base_channels=4, encoder_head_channels=1024, encoder_front_stride=2,
               encoder_front_kernel=7)


@pytest.fixture(scope="module")
def teacher_path(tmp_path_factory):
    torch.manual_seed(1)
    return save_network(CDPAMNetwork(**TEACHER), tmp_path_factory.mktemp("teacher") / "teacher.pt")


def _groups(size: int, seed: int = 0) -> PerturbedGroups:
    return PerturbedGroups(toy.utterances("valid", 22050), size=size, group_size=4, families_per_group=1,
                           pairs_per_family=2, segment_seconds=0.2, seed=seed)


def test_teacher_cache_holds_the_teachers_embeddings_and_resumes_shard_by_shard(tmp_path, teacher_path):
    folder = tmp_path / "cache"
    build_teacher_cache(_groups(2), folder, teacher=str(teacher_path), shard_size=1, progress=False)
    first = folder / "shard_00000.pt"
    stamp = first.stat().st_mtime_ns
    manifest = build_teacher_cache(_groups(3), folder, teacher=str(teacher_path), shard_size=1, progress=False)
    assert first.stat().st_mtime_ns == stamp, "a finished shard was recomputed"
    assert sorted(manifest["shards"]) == ["0", "1", "2"] and manifest["audio_seconds"] > 0

    cache = TeacherCache(folder)
    assert len(cache) == 3
    item = cache[2]
    # The cache is the training data: the 16-bit audio it stores is what the teacher embedded.
    expected = CDPAM(22050, weights=str(teacher_path)).embed(item["audio"])
    torch.testing.assert_close(item["teacher"], expected, atol=1e-5, rtol=1e-4)
    generated = _groups(3)[2]["audio"]
    assert float((item["audio"] - generated).abs().max()) < 1.0 / 32767 + 1e-6

    with pytest.raises(TeacherCacheError, match="other settings"):
        build_teacher_cache(_groups(3, seed=1), folder, teacher=str(teacher_path), shard_size=1, progress=False)
    with pytest.raises(TeacherCacheError, match="holds 3 groups"):
        TeacherCache(folder, size=5)


def test_perturbed_groups_share_noise_within_a_family_and_use_only_grid_levels():
    groups = _groups(4)
    for index in range(4):
        item = groups[index]
        assert item["audio"].shape == (4, int(0.2 * 22050)) and item["chains"][0] == ""
        family_rows = [spec for spec in item["chains"][1:3]]
        assert {spec.split(":")[0] for spec in family_rows} == {family_rows[0].split(":")[0]}
        levels = [float(link.split(":")[1]) for spec in item["chains"][1:] for link in spec.split("+")]
        assert set(levels) <= set(groups.levels)
    torch.testing.assert_close(groups[1]["audio"], _groups(9)[1]["audio"])  # items do not depend on size


def test_family_weights_over_sample_the_named_families_and_leave_unweighted_groups_unchanged():
    families = ("white_noise", "mp3", "eq", "mulaw")
    plain = PerturbedGroups(toy.utterances("valid", 22050), size=60, families=families, group_size=4, families_per_group=1,
                            pairs_per_family=2, segment_seconds=0.05, seed=3)
    weighted = PerturbedGroups(toy.utterances("valid", 22050), size=60, families=families, group_size=4, families_per_group=1,
                               pairs_per_family=2, segment_seconds=0.05, seed=3, family_weights={"mp3": 6, "mulaw": 0})

    def drawn(groups):  # every family of every row, single rows and chain links alike
        return [link.split(":")[0] for i in range(len(groups)) for spec in groups[i]["chains"][1:] for link in spec.split("+")]

    counts = {f: drawn(weighted).count(f) for f in families}
    assert counts["mulaw"] == 0 and counts["mp3"] > 2 * max(counts["white_noise"], counts["eq"])
    plain_counts = {f: drawn(plain).count(f) for f in families}
    assert plain_counts["mulaw"] > 0 and plain_counts["mp3"] < 2 * min(plain_counts.values())
    # Without weights, the items and the cache fingerprint are those of datasets made before weights existed.
    assert "family_weights" not in plain.config() and weighted.config()["family_weights"] == {"mp3": 6.0, "mulaw": 0.0}
    with pytest.raises(ValueError, match="not among the families"):
        PerturbedGroups(toy.utterances("valid", 22050), families=families, family_weights={"opus": 2})


def _distill_overrides(folder, teacher_path, *extra):
    return [f"output_dir={folder}", "stage=distill", f"stage.teacher={teacher_path}", f"stage.cache_dir={folder}/cache",
            *(f"model.{key}={value}" for key, value in STUDENT.items()), "data.segment_seconds=0.2", "data.train_size=4",
            "data.val_size=2", "stage.group_size=4", "stage.families_per_group=1", "stage.cache_shard_size=2",
            "optim.batch_size=2", "trainer.enable_progress_bar=false", "trainer.log_every_n_steps=1", "threads=1", "checkpoint.every_n_steps=1", *extra]


def test_distill_stage_trains_the_student_exports_it_and_resumes(tmp_path, teacher_path):
    from metric.train.runner import compose_config, run

    folder = tmp_path / "run"
    summary = run(compose_config(_distill_overrides(folder, teacher_path, "trainer.max_epochs=1")))
    assert summary["global_step"] == 2
    student = load_network(summary["export"])
    assert student.architecture == STUDENT
    teacher = load_network(teacher_path)
    for name in ("lossnet", "judgment"):  # reused from the teacher, frozen
        for key, value in getattr(teacher, name).state_dict().items():
            torch.testing.assert_close(getattr(student, name).state_dict()[key], value)
    from metric.weights import read_state_dict

    assert all(key.startswith("encoder.") for key in read_state_dict(folder / "last.ckpt"))  # frozen parts stay out
    started = json.loads((folder / "run.json").read_text())["starts"][0]
    assert started["teacher_cache"]["train"]["groups"] == 4 and started["teacher_cache"]["train"]["cpu_seconds"] >= 0

    stamp = (folder / "cache" / "train" / "shard_00000.pt").stat().st_mtime_ns
    resumed = run(compose_config(_distill_overrides(folder, teacher_path, "trainer.max_epochs=2", "resume=true")))
    assert resumed["global_step"] == 4
    assert (folder / "cache" / "train" / "shard_00000.pt").stat().st_mtime_ns == stamp  # the teacher ran once
    distances = CDPAM(22050, weights=resumed["export"])(torch.randn(2, 4410) * 0.1, torch.randn(2, 4410) * 0.1)
    assert distances.shape == (2,) and bool(torch.isfinite(distances).all())


def test_student_options_round_trip_through_a_checkpoint(tmp_path):
    torch.manual_seed(0)
    network = CDPAMNetwork(encoder_layers=8, encoder_base_channels=4, encoder_head_channels=1024, encoder_front_stride=2,
                           encoder_front_kernel=9).eval()
    loaded = load_network(save_network(network, tmp_path / "student.pt"))
    assert loaded.architecture == network.architecture
    x = torch.randn(2, 1, 3000) * 3000
    torch.testing.assert_close(loaded.acoustic_embedding(x), network.acoustic_embedding(x))
    # Chunked scoring of a long input stays exact with a strided first layer.
    long = torch.randn(1, 1, 20000) * 3000
    with torch.no_grad():
        torch.testing.assert_close(loaded.encoder(long, chunk_samples=4096), loaded.encoder(long), atol=1e-4, rtol=1e-4)


def _counted_flops(encoder, samples: int) -> int:
    x = torch.randn(1, 1, samples)
    # The counter sees only aten convolutions: count the direct computation (the FFT path does fewer operations).
    with FlopCounterMode(display=False) as counter, torch.no_grad(), fftconv.path("direct"):
        encoder(x, acoustic_only=True)
    return sum(v for op, v in counter.get_flop_counts()["Global"].items() if "convolution" in str(op))


@pytest.mark.parametrize("model", ["full", "lite"])
def test_analytic_flop_count_matches_pytorchs_counter(model):
    from metric.train.runner import compose_config

    encoder = network_from_config(compose_config([f"model={model}"]).model).encoder.eval()
    assert encoder.flops(22050) == _counted_flops(encoder, 22050)


def test_lite_student_costs_at_least_ten_times_fewer_flops_per_second_of_audio():
    from metric.train.runner import compose_config

    released = CDPAMNetwork().encoder
    lite = network_from_config(compose_config(["stage=distill"]).model).encoder
    assert released.flops(22050) / lite.flops(22050) >= 10


def test_distill_stage_warm_starts_the_student_and_decays_the_learning_rate(tmp_path, teacher_path):
    from metric.train.runner import compose_config, run
    from metric.weights import read_state_dict

    torch.manual_seed(3)
    start = save_network(network_from_config(STUDENT), tmp_path / "start.pt")
    folder = tmp_path / "run"
    summary = run(compose_config(_distill_overrides(folder, teacher_path, "trainer.max_steps=3", f"stage.init_from={start}",
                                                    "stage.order_weight=1.0", "stage.lr_schedule=cosine", "stage.warmup_steps=1",
                                                    "stage.lr=1e-3", "stage.lr_final_fraction=0.1")))
    assert summary["global_step"] == 3
    state = torch.load(folder / "last.ckpt", map_location="cpu", weights_only=True)
    # warm-up 1 step, then cosine over steps 1..3: the learning rate after step 3 is the final fraction
    assert state["lr_schedulers"][0]["_last_lr"][0] == pytest.approx(1e-4)
    trained, started = read_state_dict(folder / "last.ckpt"), load_network(start).encoder.state_dict()
    moved = [key for key, value in started.items() if value.is_floating_point() and not torch.equal(trained["encoder." + key], value)]
    assert moved, "the student did not train"
    # the run started from `start`, not from a random student: its first layer stays close to it
    assert float((trained["encoder.convs.0.weight"] - started["convs.0.weight"]).abs().max()) < 0.01
    with pytest.raises(ValueError, match="trainer.max_steps"):
        run(compose_config(_distill_overrides(tmp_path / "no_steps", teacher_path, "trainer.max_epochs=1", "stage.lr_schedule=cosine")))
