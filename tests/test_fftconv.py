"""The FFT convolution: same values and gradients as the direct one, and the rule that chooses it."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from metric import cdpam_distance, fftconv
from metric.fftconv import CostModel, choose_block, fft_conv1d
from metric.functional import shared_network


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).detach().norm() / b.detach().norm())


# (batch, in, out, length, kernel, stride, padding, block): odd and even lengths, inputs
# shorter than a block, a single block, padding 0, and the encoder's kernel 15.
SHAPES = [
    (2, 3, 4, 50, 15, 1, 7, 32),
    (2, 3, 4, 51, 15, 2, 7, 32),
    (2, 3, 4, 52, 15, 2, 7, 64),
    (1, 5, 2, 16, 15, 2, 7, 16),
    (3, 4, 6, 200, 15, 2, 7, 64),
    (2, 4, 3, 100, 5, 1, 2, 16),
    (2, 4, 3, 37, 15, 1, 0, 64),
    (2, 2, 2, 15, 15, 1, 0, 16),
    (1, 6, 5, 700, 15, 1, 7, 128),
]


@pytest.mark.parametrize("shape", SHAPES)
def test_values_and_all_gradients_equal_the_direct_convolution_in_float64(shape):
    batch, cin, cout, length, kernel, stride, padding, block = shape
    x = torch.randn(batch, cin, length, dtype=torch.float64, requires_grad=True)
    w = torch.randn(cout, cin, kernel, dtype=torch.float64, requires_grad=True)
    b = torch.randn(cout, dtype=torch.float64, requires_grad=True)
    expected = F.conv1d(x, w, b, stride=stride, padding=padding)
    got = fft_conv1d(x, w, b, stride, padding, block)
    assert got.shape == expected.shape
    assert _rel(got, expected) < 1e-13
    upstream = torch.randn_like(expected)
    for mine, theirs in zip(torch.autograd.grad(got, (x, w, b), upstream),
                            torch.autograd.grad(expected, (x, w, b), upstream)):
        assert _rel(mine, theirs) < 1e-13


@pytest.mark.parametrize("stride", [1, 2])
def test_gradcheck(stride):
    x = torch.randn(2, 3, 40, dtype=torch.float64, requires_grad=True)
    w = torch.randn(4, 3, 15, dtype=torch.float64, requires_grad=True)
    b = torch.randn(4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, w, b: fft_conv1d(x, w, b, stride, 7, 32), (x, w, b))


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("tile_columns", [5, 40])
@pytest.mark.parametrize("slope", [None, 0.1])
def test_tiled_and_threaded_work_gives_the_same_values_and_gradients(monkeypatch, workers, stride, tile_columns, slope):
    # Budgets small enough for several tasks of output channels and several column tiles: of
    # 5 columns (several per item, across item boundaries) or up to 40 (a whole item and parts
    # of the next), run on one or two worker threads.
    monkeypatch.setattr(fftconv, "FILTER_BYTES", 2 * 17 * 8 * 16)
    monkeypatch.setattr(fftconv, "PRODUCT_BYTES", 7 * (17 * 16 + 32 * 8) * (8 if tile_columns > 5 else 1))
    monkeypatch.setattr(fftconv, "TILE_COLUMNS", tile_columns)
    monkeypatch.setattr(fftconv, "_workers", lambda: workers)
    x = torch.randn(3, 8, 301, dtype=torch.float64)
    w = torch.randn(7, 8, 15, dtype=torch.float64)
    b = torch.randn(7, dtype=torch.float64)
    # Frozen weights (a loss: a fused activation's mask applied as the blocks are framed) and trainable ones.
    for trained in (False, True):
        leaves = (x.clone().requires_grad_(True), w.clone().requires_grad_(trained), b.clone().requires_grad_(trained))
        expected = F.conv1d(*leaves, stride=stride, padding=7)
        if slope is not None:
            expected = F.leaky_relu(expected, slope)
        got = fft_conv1d(*leaves, stride, 7, 32, negative_slope=slope)
        assert _rel(got, expected) < 1e-13
        upstream = torch.randn_like(expected)
        inputs = leaves if trained else leaves[:1]
        for mine, theirs in zip(torch.autograd.grad(got, inputs, upstream), torch.autograd.grad(expected, inputs, upstream)):
            assert _rel(mine, theirs) < 1e-13


# ----------------------------------------------------------------------------- the fused leaky ReLU
def _fused_case(stride, with_bias, with_scale, dtype=torch.float64):
    generator = torch.Generator().manual_seed(10 * stride + 2 * with_bias + with_scale)
    x = torch.randn(3, 6, 203, dtype=dtype, generator=generator)
    w = torch.randn(6, 6, 15, dtype=dtype, generator=generator) / 5
    b = torch.randn(6, dtype=dtype, generator=generator) if with_bias else None
    scale = torch.rand(6, dtype=dtype, generator=generator) + 0.5 if with_scale else None
    return x, w, b, scale


def _separate(x, w, b, scale, stride):
    weight = w if scale is None else w * scale[:, None, None]
    return F.leaky_relu(F.conv1d(x, weight, b, stride=stride, padding=7), 0.1)


@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("with_bias", [False, True])
@pytest.mark.parametrize("with_scale", [False, True])
def test_fused_leaky_relu_equals_the_separate_operations_with_all_gradients(stride, with_bias, with_scale):
    # Input gradient alone (a loss: the mask applied as the output gradient is framed) and
    # with the weight and bias gradients (training: the masked gradient made once).
    x, w, b, scale = _fused_case(stride, with_bias, with_scale)
    for trained in (False, True):
        leaves = [t.clone().requires_grad_(trained or t is x) if t is not None else None for t in (x, w, b)]
        xs, ws, bs = leaves
        got = fft_conv1d(xs, ws, bs, stride, 7, 32, scale=scale, negative_slope=0.1)
        expected = _separate(xs, ws, bs, scale, stride)
        assert _rel(got, expected) < 1e-13
        assert (expected < 0).any() and (expected > 0).any()  # both sides of the kink are exercised
        # An upstream gradient with strides, as a stride-2 layer's cropped input gradient is.
        upstream = torch.randn(*expected.shape[:-1], 2 * expected.shape[-1], dtype=x.dtype)[..., ::2]
        inputs = [t for t in leaves if t is not None and t.requires_grad]
        for mine, theirs in zip(torch.autograd.grad(got, inputs, upstream),
                                torch.autograd.grad(expected, inputs, upstream)):
            assert _rel(mine, theirs) < 1e-13


@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("trained", [False, True])
def test_fused_leaky_relu_gradcheck(stride, trained):
    x, w, b, scale = _fused_case(stride, True, True)
    x, w, b, scale = x[:2, :3, :40].clone(), w[:4, :3].clone(), b[:4].clone(), scale[:4]
    x.requires_grad_(True)
    w.requires_grad_(trained), b.requires_grad_(trained)
    with torch.no_grad():
        z = F.conv1d(x, w * scale[:, None, None], b, stride=stride, padding=7)
    # Away from the kink, where the finite differences of a leaky ReLU are defined.
    assert z.abs().min() > 1e-3 and (z < 0).any() and (z > 0).any()

    def fused(*args):
        xs, ws, bs = args if trained else (args[0], w, b)
        return fft_conv1d(xs, ws, bs, stride, 7, 32, scale=scale, negative_slope=0.1)

    assert torch.autograd.gradcheck(fused, (x, w, b) if trained else (x,))


@pytest.mark.parametrize("stride", [1, 2])
def test_fused_leaky_relu_without_a_graph_may_overwrite_the_input(stride):
    x, w, b, scale = _fused_case(stride, True, True)
    expected = _separate(x, w, b, scale, stride)
    with torch.no_grad():
        got = fft_conv1d(x, w, b, stride, 7, 64, scale=scale, overwrite_input=True, negative_slope=0.1)
    assert got.data_ptr() == x.data_ptr()
    assert _rel(got, expected) < 1e-13


def test_fused_leaky_relu_keeps_its_result_for_a_second_backward_and_catches_in_place_changes():
    x, w, b, _ = _fused_case(1, True, False)
    x.requires_grad_(True)
    y = fft_conv1d(x, w, b, 1, 7, 32, negative_slope=0.1)
    upstream = torch.randn_like(y)
    (first,) = torch.autograd.grad(y, x, upstream, retain_graph=True)
    (second,) = torch.autograd.grad(y, x, upstream)
    assert torch.equal(first, second)
    assert _rel(first, torch.autograd.grad(_separate(x, w, b, None, 1), x, upstream)[0]) < 1e-13
    y = fft_conv1d(x, w, b, 1, 7, 32, negative_slope=0.1)
    y.detach().mul_(2)  # the mask would be read from changed values
    with pytest.raises(RuntimeError, match="modified in place"):
        y.sum().backward()


def test_fused_leaky_relu_rejects_a_negative_slope():
    for conv in (fftconv.conv1d, fft_conv1d):
        with pytest.raises(ValueError, match="negative_slope must be >= 0"):
            conv(torch.zeros(1, 2, 100), torch.zeros(3, 2, 15), padding=7, negative_slope=-0.1)


def test_column_tiles_are_equal_and_their_item_runs_cover_each_column_once():
    # 4 items of 49 blocks in tiles of at most 168 columns: two of 98, not 147 and 49.
    assert fftconv._column_tiles(4, 49, 168) == [(0, 98), (98, 196)]
    assert fftconv._column_tiles(4, 97, 168) == [(0, 130), (130, 260), (260, 388)]
    assert fftconv._column_tiles(2, 56, 256) == [(0, 112)]
    for batch, blocks, per_tile in [(4, 49, 168), (3, 17, 5), (3, 17, 26), (1, 10, 3), (5, 7, 14)]:
        seen = []
        for first, stop in fftconv._column_tiles(batch, blocks, per_tile):
            assert stop - first <= per_tile
            offset = 0
            for b0, b1, j0, j1, at in fftconv._item_runs(first, stop, blocks):
                assert at == offset and (b1 - b0 == 1 or (j0, j1) == (0, blocks))
                seen += [b * blocks + j for b in range(b0, b1) for j in range(j0, j1)]
                offset += (b1 - b0) * (j1 - j0)
            assert offset == stop - first
        assert seen == list(range(batch * blocks))


def test_shared_filters_are_made_once_and_dropped_after_their_last_use():
    made = []
    shared = fftconv._Shared(lambda: made.append(1) or torch.ones(3), uses=3)
    for _ in range(3):
        assert torch.equal(shared.get(), torch.ones(3))
    assert len(made) == 1
    shared.release(), shared.release()
    assert shared._value is not None
    shared.release()
    assert shared._value is None


def test_column_tiles_of_a_group_of_row_tiles_are_interleaved_for_the_workers(monkeypatch):
    # Two workers, two row tiles of 3 column tiles each: the tasks alternate between the row
    # tiles, so a worker that is ahead takes over the other's column tiles.
    order = []
    monkeypatch.setattr(fftconv, "_workers", lambda: 2)
    monkeypatch.setattr(fftconv, "_run", lambda tasks, device: [
        order.append(t.args[2:]) if t.func.__name__ == "mix" else None for t in tasks] and [t() for t in tasks])
    # 4 rows x 10 columns per tile: bins x complex128 twice and 32 float64 samples per column and row.
    monkeypatch.setattr(fftconv, "PRODUCT_BYTES", 4 * 10 * (2 * 17 * 16 + 32 * 8))
    x, w = torch.randn(3, 6, 170, dtype=torch.float64), torch.randn(8, 6, 15, dtype=torch.float64)
    got = fft_conv1d(x, w, None, 1, 7, 32)
    assert _rel(got, F.conv1d(x, w, padding=7)) < 1e-13
    # 3 items of 10 blocks of 18 outputs: 30 columns, 3 tiles per row tile.
    assert order == [(0, 4, 0, 10), (4, 8, 0, 10), (0, 4, 10, 20), (4, 8, 10, 20), (0, 4, 20, 30), (4, 8, 20, 30)]


def test_work_is_shared_equally_between_workers():
    assert fftconv._chunks(512, 124, 2) == [(0, 86), (86, 172), (172, 258), (258, 344), (344, 430), (430, 512)]
    assert fftconv._chunks(64, 1000, 2) == [(0, 32), (32, 64)]
    assert fftconv._chunks(3, 1, 2) == [(0, 1), (1, 2), (2, 3)]
    assert fftconv._chunks(1, 5, 2) == [(0, 1)]
    assert fftconv._chunks(10, 3, 1) == [(0, 3), (3, 6), (6, 9), (9, 10)]


def test_float32_error_is_rounding_level():
    x = torch.randn(2, 64, 3000)
    w = torch.randn(64, 64, 15) / 30
    exact = F.conv1d(x.double(), w.double(), padding=7)
    assert _rel(fft_conv1d(x, w, None, 1, 7, 128).double(), exact) < 1e-6
    assert _rel(fft_conv1d(x, w, None, 2, 7, 64).double(), exact[..., ::2]) < 1e-6


def test_under_autocast_the_fft_runs_in_float32():
    x = torch.randn(1, 32, 500)
    w = torch.randn(32, 32, 15) / 20
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = fft_conv1d(x.bfloat16(), w, None, 1, 7, 64)
    assert y.dtype == torch.float32
    assert _rel(y.double(), F.conv1d(x.bfloat16().double(), w.double(), padding=7)) < 1e-6


@pytest.mark.parametrize("stride, cout", [(1, 6), (2, 12), (2, 3)])
def test_overwrite_input_writes_the_result_into_the_input_only_without_a_graph(stride, cout):
    x = torch.randn(2, 6, 300, dtype=torch.float64)
    w = torch.randn(cout, 6, 15, dtype=torch.float64)
    b, scale = torch.randn(cout, dtype=torch.float64), torch.rand(cout, dtype=torch.float64) + 0.5
    expected = F.conv1d(x, w * scale[:, None, None], b, stride=stride, padding=7)
    with torch.no_grad():
        got = fft_conv1d(x, w, b, stride, 7, 64, scale=scale, overwrite_input=True)
    assert got.data_ptr() == x.data_ptr()  # the input's memory holds the result
    assert _rel(got, expected) < 1e-13
    # With a graph to build the input is kept (backward needs it) and stays intact.
    x = torch.randn(2, 6, 300, dtype=torch.float64)
    kept = x.clone()
    w.requires_grad_(True)
    got = fft_conv1d(x, w, b, stride, 7, 64, overwrite_input=True)
    assert got.data_ptr() != x.data_ptr() and torch.equal(x, kept)
    assert _rel(got, F.conv1d(x, w, b, stride=stride, padding=7)) < 1e-13


def test_rejects_what_it_does_not_compute():
    with pytest.raises(ValueError, match="stride 1 or 2"):
        fft_conv1d(torch.zeros(1, 2, 100), torch.zeros(3, 2, 15), stride=3)
    with pytest.raises(ValueError, match="block"):
        fft_conv1d(torch.zeros(1, 2, 100), torch.zeros(3, 2, 15), block=8)
    with pytest.raises(ValueError, match="same C"):
        fft_conv1d(torch.zeros(1, 2, 100), torch.zeros(3, 4, 15))


# ----------------------------------------------------------------------------- the rule
def _meta(batch, cin, cout, length):
    return torch.empty(batch, cin, length, device="meta"), torch.empty(cout, cin, 15, device="meta")


def test_rule_takes_fft_for_wide_long_layers_and_direct_for_narrow_or_short_ones(monkeypatch):
    monkeypatch.setitem(fftconv.RULES, "meta", fftconv.RULES["cpu"])
    assert choose_block(*_meta(4, 512, 512, 2757), 1, 7) is not None  # 3.3x predicted and measured
    assert choose_block(*_meta(4, 64, 64, 22050), 1, 7) is not None
    assert choose_block(*_meta(4, 1, 64, 22050), 1, 7) is None  # the first layer: one input channel
    assert choose_block(*_meta(1, 512, 512, 276), 1, 7) is None  # 0.1 s: the filters' spectra dominate
    assert choose_block(*_meta(1, 512, 512, 689), 2, 7) is None


def test_rule_follows_the_cost_model():
    # A machine whose direct convolution is free never takes the FFT path, and vice versa.
    x, w = _meta(4, 512, 512, 2757)
    free_direct = CostModel(direct_ns_per_mac=0.0, mixing_ns_per_flop=1, spectra_ns_per_entry=1, transform_ns_per_unit=1)
    free_fft = CostModel(direct_ns_per_mac=1.0, mixing_ns_per_flop=0, spectra_ns_per_entry=0, transform_ns_per_unit=0)
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(fftconv.RULES, "meta", free_direct)
        assert choose_block(x, w, 1, 7) is None
        patch.setitem(fftconv.RULES, "meta", free_fft)
        assert choose_block(x, w, 1, 7) in fftconv.BLOCKS


def test_devices_without_a_measured_rule_use_the_direct_path():
    assert "cuda" not in fftconv.RULES
    assert choose_block(*_meta(4, 512, 512, 2757), 1, 7) is None  # "meta" has no rule either


def test_path_override():
    x, w = torch.randn(1, 4, 100), torch.randn(4, 4, 15)
    with fftconv.path("fft"):
        assert choose_block(x, w, 1, 7) is not None
    with fftconv.path("direct"):
        assert choose_block(torch.empty(4, 512, 2757, device="meta"), torch.empty(512, 512, 15, device="meta"), 1, 7) is None
    with pytest.raises(ValueError, match="path must be one of"):
        with fftconv.path("winograd"):
            pass


# ----------------------------------------------------------------------------- in the encoder
def _random_encoder(seed: int):
    from test_model_fast_paths import _random_network

    return _random_network(seed).encoder


def test_encoder_embeddings_padded_batches_and_chunks_agree_across_paths():
    encoder = _random_encoder(4).requires_grad_(False)
    lengths = torch.tensor([1200, 900, 700])
    x = torch.randn(3, 1, 1200, dtype=torch.float64)
    x[1, :, 900:] = 0  # a zero-padded batch
    x[2, :, 700:] = 0
    with torch.no_grad():
        with fftconv.path("direct"):
            direct = encoder(x, lengths, acoustic_only=True)
        with fftconv.path("fft"):
            fft = encoder(x, lengths, acoustic_only=True)
            chunked = encoder(x, lengths, acoustic_only=True, chunk_samples=500)
            alone = encoder(x[2:, :, :700], acoustic_only=True)
    assert _rel(fft, direct) < 1e-12
    assert _rel(chunked, direct) < 1e-12
    assert _rel(alone, direct[2:]) < 1e-12


def test_encoder_input_and_weight_gradients_agree_across_paths():
    x = torch.randn(2, 1, 900, dtype=torch.float64)
    grads = {}
    for mode in ("direct", "fft"):
        encoder = _random_encoder(5)  # trainable, eval mode: BatchNorm folded differentiably
        xg = x.clone().requires_grad_(True)
        with fftconv.path(mode):
            encoder(xg, acoustic_only=True).square().sum().backward()
        grads[mode] = [xg.grad, encoder.convs[1].weight.grad, encoder.convs[15].weight.grad,
                       encoder.norms[12].weight.grad, encoder.convs[7].bias.grad]
    for fft, direct in zip(grads["fft"], grads["direct"]):
        assert _rel(fft, direct) < 1e-10


def test_training_mode_weight_gradients_agree_across_paths():
    x = torch.randn(3, 1, 700, dtype=torch.float64)
    grads = {}
    for mode in ("direct", "fft"):
        encoder = _random_encoder(6).train()  # batch statistics, BatchNorm not folded
        with fftconv.path(mode):
            encoder(x).sum().backward()
        grads[mode] = [encoder.convs[i].weight.grad for i in (2, 3, 11, 15)]
    for fft, direct in zip(grads["fft"], grads["direct"]):
        assert _rel(fft, direct) < 1e-10


def test_official_distances_on_the_fft_path(clips, golden):
    # The official package's distances (test_parity checks the automatic choice; this forces FFT everywhere).
    cases = golden["cases"]
    ref = torch.from_numpy(np.stack([clips[c["ref"]] for c in cases]))
    deg = torch.from_numpy(np.stack([clips[c["deg"]] for c in cases]))
    with fftconv.path("fft"), torch.no_grad():
        distances = cdpam_distance(ref, deg, 22050)
    expected = torch.tensor([c["dist"] for c in cases])
    assert torch.allclose(distances, expected, atol=1e-4, rtol=0), (distances, expected)


def test_padded_batch_on_the_fft_path_scores_each_item_as_alone(clips):
    lengths = [11025, 17640, 7717]  # 0.5, 0.8, 0.35 s: odd lengths reach the stride-2 phases' tails
    starts = [1000, 20000, 33000]
    refs = np.zeros((3, max(lengths)), np.float32)
    ests = np.zeros_like(refs)
    for i, (start, n) in enumerate(zip(starts, lengths)):
        refs[i, :n], ests[i, :n] = clips["ref"][start : start + n], clips["4"][start : start + n]
    with fftconv.path("fft"), torch.no_grad():
        padded = cdpam_distance(refs, ests, 22050, lengths=lengths)
        alone = [float(cdpam_distance(refs[i, :n], ests[i, :n], 22050)) for i, n in enumerate(lengths)]
    assert np.allclose(padded.numpy(), alone, atol=1e-5, rtol=0), (padded, alone)


def test_float64_distance_gradient_of_the_fft_path_equals_the_direct_one(clips):
    # Released weights, a padded batch of two: the loss gradient with respect to the estimate.
    network = shared_network(dtype=torch.float64)
    ref = torch.from_numpy(np.stack([clips["ref"][:6000], clips["2"][6000:12000]]).astype(np.float64))
    est = torch.from_numpy(np.stack([clips["4"][:6000], clips["ref"][6000:12000]]).astype(np.float64))
    lengths = [6000, 4410]
    grads = {}
    for mode in ("direct", "fft"):
        e = est.clone().requires_grad_(True)
        with fftconv.path(mode):
            cdpam_distance(ref, e, 22050, lengths=lengths, weights=network).sum().backward()
        grads[mode] = e.grad
    assert _rel(grads["fft"], grads["direct"]) < 1e-4
    assert _rel(grads["fft"], grads["direct"]) < 1e-10  # the same sums in another order


def test_distance_gradient_matches_finite_differences_on_the_fft_path(clips):
    network = shared_network(dtype=torch.float64)
    ref = torch.from_numpy(clips["ref"][10000:12205].astype(np.float64))[None, None] * 32768
    est = (torch.from_numpy(clips["2"][10000:12205].astype(np.float64))[None, None] * 32768).requires_grad_(True)

    def distance(estimate):
        return network(ref, estimate).sum()

    with fftconv.path("fft"):
        (grad,) = torch.autograd.grad(distance(est), est)
        with fftconv.path("direct"):
            (direct_grad,) = torch.autograd.grad(distance(est), est)
        assert _rel(grad, direct_grad) < 1e-10
        generator = torch.Generator().manual_seed(3)
        step = 1e-4  # int16-scaled input: small against the signal, far above float64 rounding
        for _ in range(3):
            direction = torch.randn(est.shape, generator=generator, dtype=torch.float64)
            direction /= direction.norm()
            with torch.no_grad():
                numeric = float((distance(est + step * direction) - distance(est - step * direction)) / (2 * step))
            analytic = float((grad * direction).sum())
            assert abs(numeric - analytic) <= 1e-9 + 1e-4 * abs(analytic), (numeric, analytic)


def test_float32_gradient_of_the_fft_path_is_as_accurate_as_the_direct_one(clips):
    # In float32 neither path is within 1e-4 of the exact gradient (leaky-ReLU kinks amplify
    # rounding): both are compared with float64 and the FFT path must be no worse.
    ref = torch.from_numpy(clips["ref"][11025:22050])[None]
    est = torch.from_numpy(clips["2"][11025:22050])[None]
    exact = None
    errors = {}
    for mode, dtype in (("direct", torch.float64), ("direct", torch.float32), ("fft", torch.float32)):
        e = est.to(dtype).clone().requires_grad_(True)
        with fftconv.path(mode):
            cdpam_distance(ref.to(dtype), e, 22050).sum().backward()
        if exact is None:
            exact = e.grad
        else:
            errors[mode] = _rel(e.grad.double(), exact)
    assert errors["fft"] < 1e-3
    assert errors["fft"] < 2 * errors["direct"], errors


@pytest.mark.parametrize("mode", ["auto", "direct"])
def test_loss_and_distances_under_bfloat16_autocast_are_computed_in_float32(clips, mode):
    # bfloat16 convolutions moved distances by up to 66 % and gradients by ~15 %: the whole
    # metric must run in float32 under autocast, whichever convolution path is taken.
    from cdpam_plugins import CDPAMLoss

    starts = [0, 9000, 20000, 31000]
    ref = torch.from_numpy(np.stack([clips["ref"][s : s + 5512] for s in starts]))
    est = torch.from_numpy(np.stack([clips[k][s : s + 5512] for k, s in zip("2424", starts)]))
    loss = CDPAMLoss(sample_rate=22050, reduction="sum")
    results = {}
    for autocast in (False, True):
        e = est.clone().requires_grad_(True)
        with fftconv.path(mode), torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            value = loss(e, ref)
            scores = cdpam_distance(ref, est, 22050)
        value.backward()  # outside the autocast region, as PyTorch recommends
        results[autocast] = (value.detach(), scores, e.grad)
    for mixed, full in zip(results[True], results[False]):
        assert mixed.dtype == torch.float32
        assert _rel(mixed, full) < 1e-6
