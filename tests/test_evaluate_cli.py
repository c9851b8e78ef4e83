"""End-to-end `cdpam evaluate` runs on tiny test sets (fast metrics; one tiny CDPAM run)."""

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from scipy.signal import resample_poly

from metric.cli import main

SAMPLE_AUDIO = Path(__file__).resolve().parents[1] / "metric" / "assets" / "sample_audio"
TINY = ["--corpus", "sample", "--seconds", "0.5", "--quiet"]


def speech(seconds: float = 1.0) -> np.ndarray:
    audio, _ = sf.read(SAMPLE_AUDIO / "ref.wav")
    return resample_poly(audio, 160, 441)[: int(16000 * seconds)]


def test_evaluate_all_with_fast_metrics_writes_json_markdown_and_plots(tmp_path, capsys):
    out = tmp_path / "eval"
    code = main(
        ["evaluate", "all", "--metrics", "mse,sisdr,lsd", *TINY, "--out", str(out),
         "--contents", "2", "--families", "white_noise,reverb", "--combinations", "white_noise+reverb",
         "--levels", "0.1,0.5,0.9", "--groups", "white_noise:0.3,white_noise:0.9,reverb:0.8",
         "--files-per-group", "11", "--queries-per-group", "0", "--pairs", "40"]
    )
    assert code == 0
    results = json.loads((out / "results.json").read_text())["results"]
    assert [r["protocol"] for r in results] == ["monotonicity", "common_area", "retrieval"]
    mono, area, retrieval = results
    assert mono["test_set"]["pairs"] == 3 * 3 * 2
    # more white noise, larger squared error, on every clip (pooled over the two clips,
    # whose loudness differs, the rank correlation may fall a little short of 1)
    raw = mono["raw"]
    mse = np.array(raw["distances"]["mse"])
    white = [i for i, f in enumerate(raw["families"]) if f == "white_noise"]
    for clip in (white[0::2], white[1::2]):
        levels = [raw["levels"][i] for i in clip]
        assert levels == sorted(levels) and np.all(np.diff(mse[clip]) > 0)
    assert mono["metrics"]["mse"]["per_family"]["white_noise"] > 0.8
    assert 0.0 <= area["metrics"]["lsd"]["common_area"] <= 1.0
    assert retrieval["test_set"]["files_per_group"] == 11
    assert set(retrieval["metrics"]["mse"]) == {"mp@10", "mp@20", "unscored_pairs"}
    # 11 files per group: 10 same-group neighbours at most, so MP@20 cannot exceed 10/20
    assert retrieval["test_set"]["ceiling"] == {"mp@10": 1.0, "mp@20": 0.5}
    assert retrieval["metrics"]["lsd"]["mp@20"] <= 0.5
    table = (out / "results.md").read_text()
    assert "| metric | Mono ↑ | Mono within ↑ | ComArea ↓ | MP@10 ↑ | MP@20 ↑ |" in table
    assert "| CDPAM (paper) | 0.890 | – | 0.320 | 0.920 | 0.870 |" in table
    assert mono["metrics"]["mse"]["mono_within_content"] == pytest.approx(1.0)  # within a recording, more noise = more error
    for name in ("monotonicity_mse.png", "common_area_lsd.png"):
        assert (out / name).stat().st_size > 5000
    assert "| sisdr |" in capsys.readouterr().out


def _write(path: Path, audio: np.ndarray) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, audio.astype(np.float32), 16000)
    return str(path.name if path.parent.name == "" else path.relative_to(path.parents[1]))


def test_2afc_and_mos_from_listening_test_csvs(tmp_path):
    rng = np.random.default_rng(0)
    clean = speech()
    noisy = {level: clean + level * rng.standard_normal(len(clean)) for level in (0.003, 0.03, 0.3)}
    sf.write(tmp_path / "ref.wav", clean, 16000)
    for level, audio in noisy.items():
        sf.write(tmp_path / f"n{level}.wav", audio, 16000)
    # listeners prefer the less noisy one 90% of the time in the first triplet, 80% in the second
    (tmp_path / "triplets.csv").write_text(
        "reference,a,b,p_a\nref.wav,n0.003.wav,n0.3.wav,0.9\nref.wav,n0.3.wav,n0.03.wav,0.2\n"
    )
    rows = ["reference,degraded,mos,speaker,condition"]
    for speaker in ("s1", "s2"):
        for mos, level in ((4.5, 0.003), (3.0, 0.03), (1.5, 0.3)):
            rows.append(f"ref.wav,n{level}.wav,{mos},{speaker},noise{level}")
    (tmp_path / "mos.csv").write_text("\n".join(rows) + "\n")
    out = tmp_path / "out"
    assert main(["evaluate", "2afc", "--triplets", str(tmp_path / "triplets.csv"), "--metrics", "mse,sisdr", "--out", str(out), "--quiet"]) == 0
    result = json.loads((out / "results.json").read_text())["results"][0]
    assert result["metrics"]["mse"]["2afc"] == pytest.approx((0.9 + 0.8) / 2)
    assert result["test_set"]["human_ceiling"] == pytest.approx(0.85)
    assert main(["evaluate", "mos", "--mos", str(tmp_path / "mos.csv"), "--metrics", "mse", "--out", str(out), "--quiet"]) == 0
    result = json.loads((out / "results.json").read_text())["results"][0]
    assert result["metrics"]["mse"]["mos_spearman"] == pytest.approx(1.0)
    assert result["test_set"]["cells"] == 6


def test_cdpam_on_a_tiny_monotonicity_set(tmp_path):
    out = tmp_path / "eval"
    code = main(
        ["evaluate", "monotonicity", "--metrics", "cdpam", *TINY, "--out", str(out), "--contents", "1",
         "--families", "white_noise", "--combinations", "", "--levels", "0.1,0.9", "--no-plots", "--no-baselines"]
    )
    assert code == 0
    result = json.loads((out / "results.json").read_text())["results"][0]
    assert result["metrics"]["cdpam"]["mono"] == pytest.approx(1.0)  # more noise, larger CDPAM distance
    assert not list(out.glob("*.png"))


def test_missing_inputs_are_reported(tmp_path, capsys):
    assert main(["evaluate", "2afc", "--out", str(tmp_path)]) == 2
    assert "--triplets" in capsys.readouterr().err
    assert main(["evaluate", "monotonicity", "--metrics", "visqol", "--out", str(tmp_path)]) == 2
    assert "unknown metric" in capsys.readouterr().err
    assert main(["evaluate", "retrieval", "--corpus", str(tmp_path / "nowhere"), "--metrics", "mse", "--quiet", "--out", str(tmp_path)]) == 1
    assert "not a folder" in capsys.readouterr().err


def test_a_checkpoint_is_scored_beside_the_official_weights(tmp_path):
    """--weights PATH adds a cdpam[<stem>] column; a checkpoint holding the official
    weights must give the official numbers."""
    from metric.functional import shared_network
    from metric.weights import save_network

    checkpoint = save_network(shared_network("official"), tmp_path / "copy_of_official.pt")
    out = tmp_path / "eval"
    code = main(
        ["evaluate", "monotonicity", "--metrics", "cdpam", "--weights", str(checkpoint), *TINY, "--out", str(out),
         "--contents", "1", "--families", "pops", "--combinations", "", "--levels", "0.2,0.8", "--no-plots", "--no-baselines"]
    )
    assert code == 0
    result = json.loads((out / "results.json").read_text())["results"][0]
    official = result["raw"]["distances"]["cdpam"]
    mine = result["raw"]["distances"]["cdpam[copy_of_official]"]
    np.testing.assert_allclose(mine, official, atol=1e-5)
    assert "| cdpam[copy_of_official] |" in (out / "results.md").read_text()


def test_blas_threads_are_limited_through_threadpoolctl():
    from threadpoolctl import threadpool_info

    from metric.evaluate.threads import limit_blas_threads

    limited = limit_blas_threads(1)
    blas = [library for library in threadpool_info() if library["user_api"] == "blas"]
    assert limited == len(blas) >= 1  # numpy's and scipy's OpenBLAS, both loaded by the call
    assert all(library["num_threads"] == 1 for library in blas)
