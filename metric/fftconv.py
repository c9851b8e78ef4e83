"""Exact 1-D convolution by FFT (overlap-save), and the rule that picks it over the direct one.

``conv1d(x, weight, bias, stride, padding)`` computes what ``torch.nn.functional.conv1d``
computes (zero padding, stride 1 or 2, no dilation or groups), by FFT where that was
measured faster and directly elsewhere; gradients flow to the input, the weight and the
bias. With ``negative_slope`` it computes ``F.leaky_relu(conv, negative_slope)``: the FFT
path applies the activation to each output tile as it writes it, and its gradient mask to
each block of the output gradient as it frames it, instead of two passes over the layer.

The FFT path, for a layer with ``C`` input and ``O`` output channels and kernel ``K``:

* **overlap-save**: the (zero-padded) input is cut into blocks of ``N`` samples that
  overlap by ``K - 1``; a circular correlation of length ``N`` gives ``L = N - K + 1``
  exact outputs per block (no wrap-around reaches them);
* **real FFT** of every block and channel (``N / 2 + 1`` bins);
* **channel mixing as one complex matrix product per frequency bin**:
  ``Y[f] = W[f] X[f]`` with ``W[f]`` the ``O x C`` matrix of the filters' spectra,
  ``X[f]`` the ``C x (batch * blocks)`` spectra of the input. This is where the time
  goes: about ``8 (N/2 + 1) / L`` real operations per output sample and channel pair,
  against ``2 K`` for the direct convolution (3.4x fewer for ``K = 15``, ``N = 64``);
* the filters' spectra are computed for a few bins at a time, just before they are
  used, as a matrix product with a table of ``exp(2 pi i f k / N)``: caching them for
  the whole network would hold ``(N + 2) / K`` times the weights' memory (~0.45 GB);
* **stride 2 by a polyphase split**: ``y[n] = sum_k w[k] s[2n + k]`` is a stride-1
  correlation of the even and odd samples of ``s``, stacked as ``2 C`` channels, with
  the even and odd taps (``ceil(K / 2)`` each): the decimating layers keep their 2x.

Backward passes reuse the same machinery: the input gradient of a correlation is a
correlation of the output gradient with the flipped, transposed filters; the weight
gradient is ``sum_blocks conj(GY[f]) X[f]^T`` brought back to the ``K`` lags by the
same table. Everything is a sum of the same products as the direct convolution, in
another order, so results agree to float rounding (relative ~1e-7 in float32).

Under ``torch.autocast`` the FFT path runs in float32 (FFTs of bfloat16/float16 data
lose too much); the direct path follows autocast.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache, partial

import torch
import torch.nn.functional as F

__all__ = ["CostModel", "RULES", "choose_block", "conv1d", "fft_conv1d", "path"]

# Workspace of the input's and output gradient's block transforms and of the weight
# gradient's cross-spectra, shared by the worker threads.
WORKSPACE_BYTES = 16 << 20
BLOCKS = (32, 64, 128, 256)
# Per task of the mixing (one per worker thread at a time): the filters' spectra of its output
# channels, and its products and output blocks. Thin matrix products lose up to a quarter of
# the machine's complex-product rate (~75 GFLOP/s at 31 rows against ~90 at 128, measured on
# the 512-channel layers), so these are sized for ~128 rows and ~200 columns at the widest layers;
# beyond ~256 columns the rate no longer grows, so wider tiles would only hold memory.
FILTER_BYTES = 16 << 20
PRODUCT_BYTES = 16 << 20
TILE_COLUMNS = 256


@dataclass(frozen=True)
class CostModel:
    """Predicted time of one convolution call, direct and by FFT, from constants measured on a machine.

    ``python benchmarks/fftconv_layers.py --fit`` times both paths on the encoder's layers
    and fits these constants (least squares on relative error); docs/performance.md lists
    the measurements. For ``C`` input and ``O`` output channels, kernel ``K``, stride ``s``,
    ``B`` items of ``T`` output samples and an FFT of length ``N`` (after the polyphase
    split: ``C' = s C`` channels, ``K' = ceil(K / s)`` taps, ``L = N - K' + 1`` outputs per
    block, ``F = N / 2 + 1`` bins, ``M = B ceil(T / L)`` blocks):

    * direct: ``direct_ns_per_mac * O C K B T``;
    * FFT: ``mixing_ns_per_flop * 8 F O C' M`` (the complex products per bin)
      ``+ spectra_ns_per_entry * F O C'`` (the filters' spectra, made per call)
      ``+ transform_ns_per_unit * (C' + O) M N log2 N`` (FFTs and the copies around them).

    The FFT path is taken with the cheapest ``N`` when it is predicted faster.
    """

    direct_ns_per_mac: float
    mixing_ns_per_flop: float
    spectra_ns_per_entry: float
    transform_ns_per_unit: float

    def direct_ns(self, in_channels: int, out_channels: int, kernel: int, stride: int, batch: int, out_length: int):
        return self.direct_ns_per_mac * out_channels * in_channels * kernel * batch * out_length

    def fft_terms(self, in_channels, out_channels, kernel, stride, batch, out_length, block) -> tuple[float, float, float]:
        """The three work counts of the FFT path that the constants multiply (see the class doc)."""
        channels, taps = in_channels * stride, -(-kernel // stride)
        hop, bins = block - taps + 1, block // 2 + 1
        columns = batch * -(-out_length // hop)
        return (
            8.0 * bins * out_channels * channels * columns,
            float(bins * out_channels * channels),
            (channels + out_channels) * columns * block * math.log2(block),
        )

    def fft_ns(self, in_channels, out_channels, kernel, stride, batch, out_length, block) -> float:
        mixing, spectra, transforms = self.fft_terms(in_channels, out_channels, kernel, stride, batch, out_length, block)
        return (
            self.mixing_ns_per_flop * mixing
            + self.spectra_ns_per_entry * spectra
            + self.transform_ns_per_unit * transforms
        )


# Device type -> cost model measured there. A device type without one always uses the
# direct convolution: on CUDA, cuDNN already chooses among its own algorithms (FFT ones
# included, with torch.backends.cudnn.benchmark); nothing was measured on a GPU here.
RULES: dict[str, CostModel] = {
    # 2-core AMD EPYC (Zen 4, AVX-512), torch 2.13 CPU, MKL/oneDNN; docs/performance.md.
    "cpu": CostModel(
        direct_ns_per_mac=0.0201, mixing_ns_per_flop=0.0141, spectra_ns_per_entry=3.62, transform_ns_per_unit=0.439
    ),
}

_PATHS = ("auto", "fft", "direct")
_path = "auto"


@contextmanager
def path(mode: str):
    """Force the convolution path inside the block: ``"auto"`` (the measured rule), ``"fft"`` or ``"direct"``.

    For tests and benchmarks; results agree to float rounding whichever is used.
    """
    global _path
    if mode not in _PATHS:
        raise ValueError(f"path must be one of {_PATHS}, got {mode!r}")
    previous, _path = _path, mode
    try:
        yield
    finally:
        _path = previous


def choose_block(x: torch.Tensor, weight: torch.Tensor, stride: int, padding: int) -> int | None:
    """FFT length :func:`conv1d` uses for these arguments, or ``None`` for the direct convolution."""
    if _path == "direct" or x.dim() != 3 or stride not in (1, 2) or weight.shape[1] < 2:
        return None
    out_channels, in_channels, kernel = weight.shape
    out_length = _out_length(x, weight, stride, padding)
    blocks = [block for block in BLOCKS if block > -(-kernel // stride)]
    if _path == "fft":
        return 64 if 64 in blocks else blocks[-1]
    model = RULES.get(x.device.type)
    if model is None or out_length < 1:
        return None
    shape = (in_channels, out_channels, kernel, stride, x.shape[0], out_length)
    costs = {block: model.fft_ns(*shape, block) for block in blocks}
    best = min(costs, key=costs.get)
    return best if costs[best] < model.direct_ns(*shape) else None


def conv1d(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: int = 1,
    padding: int = 0,
    *,
    scale: torch.Tensor | None = None,
    block: int | None | str = "auto",
    overwrite_input: bool = False,
    negative_slope: float | None = None,
) -> torch.Tensor:
    """``F.conv1d(x, weight, bias, stride, padding)``, by FFT where the measured rule (:data:`RULES`) predicts a gain.

    ``scale`` (per output channel) computes ``scale[o] * conv(x, weight)[o] + bias[o]``: an
    eval-mode BatchNorm that the FFT path applies to each tile's taps, so that no scaled copy of
    the weights is needed. ``block``: ``"auto"`` (:func:`choose_block`), ``None`` (direct)
    or the FFT length to use. ``overwrite_input`` and ``negative_slope`` (a leaky ReLU after
    the convolution, fused on the FFT path) as in :func:`fft_conv1d`.
    """
    if block == "auto":
        block = choose_block(x, weight, stride, padding)
    if block is None:
        _check_slope(negative_slope)
        if scale is not None:
            weight = weight * scale.reshape(-1, 1, 1)
        y = F.conv1d(x, weight, bias, stride=stride, padding=padding)
        # In place on the fresh output: autograd keeps only the result (valid for a slope >= 0).
        return y if negative_slope is None else F.leaky_relu(y, negative_slope, inplace=True)
    return fft_conv1d(x, weight, bias, stride, padding, block, scale=scale, overwrite_input=overwrite_input,
                      negative_slope=negative_slope)


def fft_conv1d(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: int = 1,
    padding: int = 0,
    block: int = 64,
    *,
    scale: torch.Tensor | None = None,
    overwrite_input: bool = False,
    negative_slope: float | None = None,
) -> torch.Tensor:
    """``F.conv1d`` computed by overlap-save FFT with ``block``-sample blocks (see the module doc).

    ``scale`` as in :func:`conv1d`; it must not require gradients. ``overwrite_input=True``
    lets the result take ``x``'s memory when no graph is being built (every value of ``x``
    is read before any result is written): for a caller that drops ``x`` afterwards, such
    as the encoder when scoring, whose peak memory is then one activation lower.
    ``negative_slope``: return ``F.leaky_relu(conv, negative_slope)`` instead (``>= 0``),
    applied to each output tile while it is in cache; the backward masks the output gradient
    by the result's sign as it frames it, so only the result is kept for it (it is also the
    next layer's input in a network, which keeps it anyway).
    """
    if x.dim() != 3 or weight.dim() != 3 or x.shape[1] != weight.shape[1]:
        raise ValueError(f"expected x [B, C, T] and weight [O, C, K] with the same C, got {tuple(x.shape)} and "
                         f"{tuple(weight.shape)}")
    if stride not in (1, 2):
        raise ValueError(f"fft_conv1d supports stride 1 or 2, got {stride}")
    kernel = -(-weight.shape[-1] // stride)
    if block <= kernel:
        raise ValueError(f"block ({block}) must exceed the (polyphase) kernel length {kernel}")
    if x.shape[-1] + 2 * padding < weight.shape[-1]:
        raise ValueError(f"input of {x.shape[-1]} samples is shorter than the kernel ({weight.shape[-1]}) "
                         f"even with padding {padding}")
    if scale is not None and scale.requires_grad:
        raise ValueError("scale must not require gradients; fold a trainable BatchNorm into the weights instead")
    _check_slope(negative_slope)
    device_type = x.device.type
    graph = torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in (x, weight, bias))

    def convolve(x, weight, bias, scale):
        if overwrite_input and not graph:
            out_length = _out_length(x, weight, stride, padding)
            return _correlate(x, weight, stride, padding, out_length, block, bias=bias, scale=scale, out=x,
                              negative_slope=negative_slope)
        return _FFTConv1d.apply(x, weight, bias, scale, stride, padding, block, negative_slope)

    if torch.is_autocast_enabled(device_type):
        # FFTs and the spectral products in float32: bfloat16 spectra would lose ~3 digits.
        with torch.autocast(device_type, enabled=False):
            return convolve(x.float(), weight.float(), bias.float() if bias is not None else None,
                            scale.float() if scale is not None else None)
    return convolve(x, weight, bias, scale)


def _check_slope(negative_slope: float | None) -> None:
    if negative_slope is not None and not negative_slope >= 0:
        # The gradient is masked by the result's sign, which says the input's only for a slope >= 0.
        raise ValueError(f"negative_slope must be >= 0 (or None for no activation), got {negative_slope}")


def _out_length(x: torch.Tensor, weight: torch.Tensor, stride: int, padding: int) -> int:
    return (x.shape[-1] + 2 * padding - weight.shape[-1]) // stride + 1


# ----------------------------------------------------------------------------- the core
@lru_cache(maxsize=64)
def _phase_table(kernel: int, block: int, adjoint: bool, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """``[N/2 + 1, K]`` table whose product with the taps gives the filters' spectra.

    For a correlation ``y[t] = sum_k w[k] s[t + k]`` the block spectra multiply as
    ``Y[f] = W[f] S[f]`` with ``W[f] = sum_k w[k] exp(+2 pi i f k / N)``. The adjoint (the
    input gradient: a correlation with the flipped filters and transposed channels) has the
    spectra ``exp(2 pi i f (K - 1) / N) conj(W[f])^T``, hence the table
    ``exp(2 pi i f (K - 1 - k) / N)`` with a plain transpose of the product.
    """
    freqs = torch.arange(block // 2 + 1, dtype=torch.float64)[:, None]
    taps = torch.arange(kernel, dtype=torch.float64)[None, :]
    if adjoint:
        taps = kernel - 1 - taps
    angle = (2 * math.pi / block) * ((freqs * taps) % block)
    return torch.polar(torch.ones_like(angle), angle).to(device=device, dtype=_complex(dtype))


@lru_cache(maxsize=64)
def _lag_table(kernel: int, block: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """``[K, N/2 + 1]``: lag ``k`` of the circular correlation whose spectrum is ``R`` is ``Re(table[k] @ R)``.

    ``r[k] = (1/N) sum over all N bins of R[f] e^{+2 pi i f k / N}``; the bins above N/2 are
    the conjugates of those below, hence the weights 1, 2, ..., 2, 1.
    """
    fold = torch.full((block // 2 + 1, 1), 2.0 / block, dtype=torch.complex128)
    fold[0] = fold[-1] = 1.0 / block
    table = _phase_table(kernel, block, False, torch.float64, torch.device("cpu"))
    return (table * fold).t().to(device=device, dtype=_complex(dtype))


def _complex(dtype: torch.dtype) -> torch.dtype:
    return torch.complex128 if dtype == torch.float64 else torch.complex64


def _chunks(total: int, step: int, parts: int = 1) -> list[tuple[int, int]]:
    """``(first, stop)`` ranges of at most ``step`` items, and at least ``parts`` of them when possible."""
    count = max(parts, -(-total // max(1, step)))
    if count > parts:
        count = -(-count // parts) * parts  # equal shares for the workers
    step = -(-total // min(count, total))
    return [(first, min(total, first + step)) for first in range(0, total, step)]


def _per_workspace(bytes_per_item: int) -> int:
    """Items per task: every worker of :func:`_run` holds one task's workspace at a time."""
    return max(1, WORKSPACE_BYTES // _workers() // max(1, bytes_per_item))


_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def _workers() -> int:
    return max(1, torch.get_num_threads())


def _run(tasks: list, device: torch.device) -> None:
    """Run independent tasks (each writing its own part of a result) on ``torch.get_num_threads()`` threads.

    On a CPU each task's operations run single-threaded and the tasks are spread over a few
    Python threads (the operations release the GIL). An FFT layer is ~100 operations, and
    with OpenMP every operation ends in a barrier of all threads: on a machine with more
    runnable threads than cores each barrier waits for a descheduled thread, measured at
    ~20 ms per operation with 2 threads here (0.1 ms with 1). Here only the end of a layer
    waits. Grad and inference mode are per thread, so the caller's are carried over.
    """
    workers = _workers()
    if device.type != "cpu" or workers == 1 or len(tasks) == 1:
        for task in tasks:
            task()
        return
    queue = deque(tasks)
    inference = torch.is_inference_mode_enabled()

    def drain():
        with torch.inference_mode(inference), torch.no_grad():
            while True:
                try:
                    task = queue.popleft()
                except IndexError:
                    return
                task()

    global _POOL
    torch.set_num_threads(1)  # worker threads created now stay single-threaded for good
    try:
        with _POOL_LOCK:
            if _POOL is None or _POOL._max_workers < workers - 1:
                _POOL = ThreadPoolExecutor(workers - 1, thread_name_prefix="fftconv")
            pool = _POOL
        helpers = [pool.submit(drain) for _ in range(min(workers - 1, len(tasks) - 1))]
        drain()
        for helper in helpers:
            helper.result()
    finally:
        torch.set_num_threads(workers)


def _block_spectra(x: torch.Tensor, shift: int, phases: int, blocks: int, hop: int, frame: int, block: int,
                   gate: _Gate | None = None):
    """``[N/2 + 1, phases * C, B * blocks]``: spectra of the signal's blocks, channels ordered (phase, channel).

    The signal ``s`` is ``x`` moved right by ``shift`` zeros (negative: cropped) and
    zero-extended; phase ``p`` is ``s[phases * m + p]``. Block ``j`` of a phase is its
    ``frame`` samples from ``j * hop``, zero-extended to ``block`` for the FFT. Computed a
    few channels at a time, so that little more than the spectra themselves takes memory.
    ``gate``: ``x`` is the gradient with respect to a fused leaky ReLU's result, whose mask
    is applied as the blocks are framed (:func:`_padded`).
    """
    batch, channels, length = x.shape
    bins = block // 2 + 1
    span = (blocks - 1) * hop + frame
    spectra = torch.empty(bins, phases, channels, batch, blocks, dtype=_complex(x.dtype), device=x.device)

    def task(first: int, stop: int) -> None:
        part = _padded(x[:, first:stop], shift, phases * span - shift - length,
                       None if gate is None else (gate.output[:, first:stop], gate.slope))
        part = part.view(batch, stop - first, span, phases).permute(0, 3, 1, 2)  # [B, phases, c, span]
        part = torch.fft.rfft(part.unfold(-1, frame, hop), n=block)  # [B, phases, c, blocks, bins]
        spectra[:, :, first:stop].copy_(part.permute(4, 1, 2, 0, 3))

    per_task = _per_workspace(4 * batch * phases * span * x.element_size())
    _run([partial(task, *c) for c in _chunks(channels, per_task, _workers())], x.device)
    return spectra.view(bins, phases * channels, batch * blocks)


def _padded(x: torch.Tensor, left: int, right: int, gate: tuple[torch.Tensor, float] | None = None) -> torch.Tensor:
    """``F.pad(x, (left, right))`` (negative amounts crop), and with ``gate = (y, slope)`` the leaky ReLU's gradient.

    With a gate, ``x`` is the gradient with respect to ``y = leaky_relu(z, slope)`` (same shape)
    and what is padded is the gradient with respect to ``z``: ``x`` where ``y > 0``, ``slope x``
    elsewhere, computed as it is copied into the padded chunk (the same operation autograd
    applies, one pass fewer over the layer and no fresh tensor of its size).
    """
    if gate is None:
        return F.pad(x, (left, right))
    y, slope = gate
    start, stop = max(0, -left), x.shape[-1] - max(0, -right)
    left, right = max(0, left), max(0, right)
    out = x.new_empty(*x.shape[:-1], left + stop - start + right)
    out[..., :left].zero_()
    out[..., out.shape[-1] - right :].zero_()
    torch.ops.aten.leaky_relu_backward.grad_input(x[..., start:stop], y[..., start:stop], slope, True,
                                                  grad_input=out[..., left : left + stop - start])
    return out


def _phase_taps(weight: torch.Tensor, stride: int, rows: slice, phase: int | None, dtype, scale=None) -> torch.Tensor:
    """Complex taps ``[K', ...]`` of the polyphase filters ``w2[o, (p, c), k'] = scale[o] w[o, c, stride k' + p]``.

    ``phase=None``: output channels ``rows`` and all phases, ``[K', rows, stride C]``;
    otherwise input channels ``rows`` of that phase, ``[K', O, rows]`` (for the adjoint).
    ``K' = ceil(K / stride)``; taps past the end of ``w`` are zero. ``scale`` (per output
    channel, optional) is applied here, on the few taps, rather than on every output sample.
    """
    kernel = -(-weight.shape[-1] // stride)
    source = weight[rows] if phase is None else weight[:, rows]
    if scale is not None:
        source = source * scale[rows if phase is None else slice(None)].view(-1, 1, 1)
    phases = range(stride) if phase is None else (phase,)
    taps = torch.empty(kernel, source.shape[0], len(phases), source.shape[1], dtype=dtype, device=weight.device)
    for i, p in enumerate(phases):
        part = source[..., p::stride]
        taps[: part.shape[-1], :, i].copy_(part.permute(2, 0, 1))
        taps[part.shape[-1] :, :, i].zero_()
    return taps.view(kernel, source.shape[0], len(phases) * source.shape[1])


def _column_tiles(batch: int, blocks: int, per_tile: int) -> list[tuple[int, int]]:
    """Ranges ``(first, stop)`` of the ``batch x blocks`` columns, at most ``per_tile`` each and as equal as possible.

    A tile may span items (the output is written item by item, :func:`_item_runs`): tiles of
    whole items left e.g. 147 and 49 columns on the 256-channel layers, and the thin one ran
    the complex product at ~57 GFLOP/s against ~78 (docs/performance.md).
    """
    return _chunks(batch * blocks, per_tile)


def _item_runs(first: int, stop: int, blocks: int) -> list[tuple[int, int, int, int, int]]:
    """Pieces ``(first item, stop item, first block, stop block, offset)`` of the columns ``[first, stop)``.

    Each piece is whole items or a run of blocks of one item (one rectangle of the output);
    ``offset`` is its first column counted from ``first``.
    """
    runs, column = [], first
    while column < stop:
        item, block = divmod(column, blocks)
        if block == 0 and stop - column >= blocks:
            items = (stop - column) // blocks
            runs.append((item, item + items, 0, blocks, column - first))
            column += items * blocks
        else:
            last = min(blocks, block + stop - column)
            runs.append((item, item + 1, block, last, column - first))
            column += last - block
    return runs


def _correlate(x, weight, stride: int, shift: int, out_length: int, block: int, *, adjoint=False, bias=None, scale=None,
               out=None, phase_target=None, negative_slope=None, gate=None):
    """The correlation with the polyphase filters ``w2`` of :func:`_phase_taps`, by overlap-save FFT.

    Forward: ``y[b, o, t] = bias[o] + scale[o] sum_{c,k} w[o, c, k] s[b, c, stride t + k]`` for
    ``t < out_length`` (``s`` as in :func:`_block_spectra`): ``[B, O, out_length]``.

    Adjoint: ``x`` is an output gradient ``[B, O, T]``; the result ``[B, stride C, out_length]``
    is its correlation with the flipped, transposed ``w2``, i.e. the gradient with respect
    to the input's phases when ``shift = K' - 1`` (less the padding for stride 1).

    Done in tiles of output channels (their filters' spectra made once per tile) and blocks,
    so that the workspace beyond the input's spectra and the result stays within ``FILTER_BYTES +
    PRODUCT_BYTES`` per worker thread.
    ``out``: a tensor whose memory may hold the result (``x`` itself is allowed: the tasks
    only read the spectra, computed before), used when contiguous and large enough.
    ``phase_target`` (adjoint only): a ``[B, stride, C, out_length]`` view of any strides that
    receives the result instead (e.g. the phases interleaved in the input gradient's memory),
    and is returned. It may be a function that makes that view, called once the blocks are
    framed (after the ``gate`` is released, so that the two are not held at once).
    ``negative_slope`` (forward): a leaky ReLU on each output tile after the bias.
    ``gate`` (adjoint): a :class:`_Gate`, ``x`` being the gradient with respect to its result;
    the mask is applied as ``x``'s blocks are framed (:func:`_padded`), then the gate released.
    """
    batch = x.shape[0]
    out_channels, channels = weight.shape[:2]
    taps_per_phase = -(-weight.shape[-1] // stride)
    hop = block - taps_per_phase + 1
    blocks = -(-out_length // hop)
    spectra = _block_spectra(x, shift, 1 if adjoint else stride, blocks, hop, block, block, gate)  # [bins, inner, M]
    if gate is not None:
        gate.release()
    bins, inner = spectra.shape[:2]
    table = _phase_table(taps_per_phase, block, adjoint, x.dtype, x.device)
    shape = (batch, stride * channels if adjoint else out_channels, out_length)
    if callable(phase_target):
        phase_target = phase_target()
    if phase_target is not None:
        if not adjoint or phase_target.shape != (batch, stride, channels, out_length):
            raise ValueError(f"phase_target must be an adjoint's [B, stride, C, T] = {(batch, stride, channels, out_length)}"
                             f" view, got {tuple(phase_target.shape)}")
        y = None
    elif out is not None and out.is_contiguous() and out.dtype == x.dtype and out.numel() >= math.prod(shape):
        y = out.view(-1)[: math.prod(shape)].view(shape)
    else:
        y = torch.empty(shape, dtype=x.dtype, device=x.device)
    # Output channels by phase: [B, phases, rows, T] (one phase but for the adjoint of stride 2).
    by_phase = phase_target if y is None else y.view(batch, stride if adjoint else 1, -1, out_length)
    item = spectra.element_size()
    # Per column and row of a tile: its products, their bins-last copy and its output block.
    columns_per_row = max(1, PRODUCT_BYTES // (2 * bins * item + block * x.element_size()))  # per task

    def make_filters(phase: int | None, first: int, stop: int) -> torch.Tensor:
        taps = _phase_taps(weight, stride, slice(first, stop), phase, table.dtype, scale)
        filters = (table @ taps.view(taps_per_phase, -1)).view(bins, *taps.shape[1:])
        return filters.mT if adjoint else filters

    def mix(shared: _Shared, phase: int | None, first: int, stop: int, c0: int, c1: int) -> None:
        phase_index = phase if adjoint else 0
        rows = stop - first
        mixed = torch.matmul(shared.get(), spectra[..., c0:c1])
        shared.release()
        # Bins last before the inverse FFT: MKL's transform along the first dimension ran at
        # a quarter of its rate along the last, and the output blocks then come out with
        # their samples contiguous, as the result holds them.
        mixed = mixed.permute(1, 2, 0).contiguous()
        outputs = torch.fft.irfft(mixed, n=block)[..., :hop]  # [rows, columns, hop]
        del mixed
        for b0, b1, j0, j1, offset in _item_runs(c0, c1, blocks):
            source = outputs[:, offset : offset + (b1 - b0) * (j1 - j0)]
            source = source.view(rows, b1 - b0, j1 - j0, hop).transpose(0, 1)  # [items, rows, blocks, hop]
            target = by_phase[b0:b1, phase_index, first:stop]
            whole = min(j1, out_length // hop)  # blocks wholly inside the output
            parts = [(target[..., j0 * hop : whole * hop].unflatten(-1, (whole - j0, hop)), source[:, :, : whole - j0])]
            if whole < j1:
                parts.append((target[..., whole * hop :], source[:, :, whole - j0, : out_length - whole * hop]))
            for destination, piece in parts:
                _epilogue(destination, piece, bias, first, stop, negative_slope)

    rows_per_task = max(1, FILTER_BYTES // (bins * inner * item))
    row_count = channels if adjoint else out_channels
    phases = range(stride) if adjoint else (None,)
    row_tiles = [(p, *c) for p in phases for c in _chunks(row_count, rows_per_task, _workers())]
    # One task per row tile and column tile. The row tiles are taken a group of one per worker
    # at a time, their column tiles interleaved, and each tile's filters' spectra are made by
    # the first task that needs them and shared: a worker that finishes early takes over
    # column tiles of another worker's row tile, so the layer's end waits for one column
    # tile at most instead of a whole row tile (two workers' idle time at the ends of the
    # mixing, per loss of 4 x 1 s: ~0.10 s before, ~0.06 s after; docs/performance.md).
    tasks = []
    for group in range(0, len(row_tiles), _workers()):
        tiles = []
        for phase, first, stop in row_tiles[group : group + _workers()]:
            columns = _column_tiles(batch, blocks, max(1, min(TILE_COLUMNS, columns_per_row // (stop - first))))
            shared = _Shared(partial(make_filters, phase, first, stop), len(columns))
            tiles.append([partial(mix, shared, phase, first, stop, *c) for c in columns])
        for index in range(max(map(len, tiles))):
            tasks += [row[index] for row in tiles if index < len(row)]
    _run(tasks, x.device)
    return phase_target if y is None else y


class _Shared:
    """A value made by the first task that needs it and dropped after its ``uses``-th :meth:`release`."""

    def __init__(self, make, uses: int):
        self._make, self._uses, self._value, self._lock = make, uses, None, threading.Lock()

    def get(self):
        with self._lock:
            if self._value is None:
                self._value = self._make()
            return self._value

    def release(self) -> None:
        with self._lock:
            self._uses -= 1
            if self._uses == 0:
                self._value = None


def _epilogue(destination, source, bias, first: int, stop: int, negative_slope: float | None = None) -> None:
    """``destination = source + bias`` per output channel (dimension 1), the bias optional, then the leaky ReLU if any.

    The activation runs on the tile just written, while it is in cache, rather than as a pass
    over the whole layer afterwards.
    """
    if bias is not None:
        torch.add(source, bias[first:stop].view((-1,) + (1,) * (source.dim() - 2)), out=destination)
    else:
        destination.copy_(source)
    if negative_slope is not None:
        F.leaky_relu_(destination, negative_slope)


def _correlation_weight_grad(grad, x, stride: int, shift: int, kernel: int, block: int) -> torch.Tensor:
    """``g[o, c, k] = sum_{b,t} grad[b, o, t] s[b, c, stride t + k]`` (``s`` as in :func:`_block_spectra`)."""
    out_channels, out_length = grad.shape[1], grad.shape[-1]
    channels = x.shape[1]
    taps_per_phase = -(-kernel // stride)
    hop = block - taps_per_phase + 1
    blocks = -(-out_length // hop)
    x_spectra = _block_spectra(x, shift, stride, blocks, hop, block, block).mT  # [bins, M, stride C]
    # Output-gradient blocks of ``hop`` samples, zero-extended to ``block``: in the circular
    # cross-correlation with the input blocks no wrap-around reaches the lags below K'.
    grad_spectra = _block_spectra(grad, 0, 1, blocks, hop, hop, block).conj()  # [bins, O, M]
    bins = x_spectra.shape[0]
    lags = _lag_table(taps_per_phase, block, x.dtype, x.device)
    out = grad.new_zeros(out_channels, channels, kernel)

    def task(first: int, stop: int) -> None:
        cross = torch.matmul(grad_spectra[:, first:stop], x_spectra)  # [bins, rows, stride C]
        rows = (lags @ cross.view(bins, -1)).real.view(taps_per_phase, stop - first, stride, channels)
        del cross
        for p in range(stride):
            target = out[first:stop, :, p::stride]
            target.copy_(rows[: target.shape[-1], :, p].permute(1, 2, 0))

    per_task = _per_workspace(2 * bins * stride * channels * x_spectra.element_size())
    _run([partial(task, *c) for c in _chunks(out_channels, per_task, _workers())], x.device)
    return out


class _Gate:
    """A fused leaky ReLU's result ``output`` and ``slope``, for the mask of its gradient (:func:`_padded`).

    :func:`_correlate` calls :meth:`release` once the blocks are framed: when no one else holds
    the result (the graph is not kept), its memory is then free for the products.
    """

    def __init__(self, output: torch.Tensor, slope: float):
        self.output, self.slope = output, slope

    def release(self) -> None:
        self.output = None


def _graph_kept() -> bool:
    """Whether the running backward keeps the graph (``retain_graph=True``); assumed so where torch cannot say."""
    keep_graph = getattr(torch._C._autograd, "_get_current_graph_task_keep_graph", None)
    return True if keep_graph is None else bool(keep_graph())


def _phase_length(out_length: int, kernel: int, stride: int) -> int:
    return out_length + -(-kernel // stride) - 1


class _FFTConv1d(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, scale, stride, padding, block, negative_slope):
        y = _correlate(x, weight, stride, padding, _out_length(x, weight, stride, padding), block, bias=bias, scale=scale,
                       negative_slope=negative_slope)
        ctx.stride, ctx.padding, ctx.block, ctx.length = stride, padding, block, x.shape[-1]
        # The input is kept only for the weight gradient; in the encoder it is the previous
        # layer's leaky-ReLU output, kept anyway as that layer's result (for its activation's
        # gradient mask): one stored activation per layer.
        ctx.save_for_backward(x if ctx.needs_input_grad[1] else None, weight, scale)
        # The result, for the activation's gradient mask, is held as a detached alias rather than
        # saved, so that the backward can let it go once the output gradient's blocks are framed
        # (as autograd's own leaky-ReLU node frees it before the convolution's backward starts);
        # the alias shares the result's version counter, so in-place changes are still caught.
        ctx.negative_slope = negative_slope
        if negative_slope is not None:
            ctx.output, ctx.output_version = y.detach(), y._version
        return y

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        x, weight, scale = ctx.saved_tensors
        stride, padding, block, length = ctx.stride, ctx.padding, ctx.block, ctx.length
        kernel = weight.shape[-1]
        grad_x = grad_weight = grad_bias = None
        gate = None
        if ctx.negative_slope is not None:
            output = ctx.output
            if output._version != ctx.output_version:
                raise RuntimeError("the result of fft_conv1d with negative_slope was modified in place after it was "
                                   "computed, but its gradient needs it: modify a copy (result.clone()) instead")
            if not _graph_kept():
                ctx.output = None
            if ctx.needs_input_grad[1] or ctx.needs_input_grad[2]:
                # The bias and weight gradients read the masked gradient whole: made once (training).
                grad = torch.ops.aten.leaky_relu_backward(grad, output, ctx.negative_slope, True)
            else:
                # Input gradient only (a loss): the mask is applied as the blocks are framed.
                gate = _Gate(output, ctx.negative_slope)
            del output
        if ctx.needs_input_grad[2]:
            grad_bias = grad.sum(dim=(0, 2))
        if gate is None:
            grad = grad.contiguous()
        # else read with its strides by the framing (e.g. a stride-2 layer's input gradient, a
        # cropped view): a contiguous copy would be one more activation held during the backward.
        if ctx.needs_input_grad[0]:
            # The scale goes into the flipped filters' taps: no pass over the output gradient.
            if stride == 1:
                grad_x = _correlate(grad, weight, 1, kernel - 1 - padding, length, block, adjoint=True, scale=scale,
                                    gate=gate)
            else:
                # Gradient of each phase, then interleaved back and cropped to the input.
                taps_per_phase = -(-kernel // stride)
                phase_length = _phase_length(grad.shape[-1], kernel, stride)
                # Written straight into their interleaved places (no pass to interleave them),
                # then cropped to the input by a view when the padding allows. Allocated only once
                # the output gradient's blocks are framed (the fused activation's result is let go then).
                batch, channels = grad.shape[0], weight.shape[1]

                def interleaved_phases():
                    return grad.new_empty(batch, channels, phase_length, stride).permute(0, 3, 1, 2)

                phases = _correlate(grad, weight, stride, taps_per_phase - 1, phase_length, block, adjoint=True,
                                    scale=scale, phase_target=interleaved_phases, gate=gate)
                interleaved = phases.permute(0, 2, 3, 1).view(batch, channels, stride * phase_length)
                if stride * phase_length >= length + padding:
                    grad_x = interleaved[..., padding : padding + length]
                else:
                    grad_x = F.pad(interleaved, (-padding, length + padding - stride * phase_length))
        if ctx.needs_input_grad[1]:
            scaled = grad if scale is None else grad * scale.view(-1, 1)
            grad_weight = _correlation_weight_grad(scaled, x, stride, padding, kernel, block)
        return grad_x, grad_weight, grad_bias, None, None, None, None, None
