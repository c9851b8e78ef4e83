"""Two processes on the gloo backend: CDPAMMetric state sync and a DDP-wrapped trainee with CDPAMLoss."""

from __future__ import annotations

import os
import socket

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from cdpam_plugins import CDPAMLoss, CDPAMMetric
from metric import cdpam_distance
from plugin_data import TinyDenoiser, noisy_clean_pairs


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _worker(rank: int, world: int, port: int, results):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        noisy, clean = noisy_clean_pairs(count=4, seconds=0.15)
        mine = slice(2 * rank, 2 * rank + 2)
        metric = CDPAMMetric(sample_rate=16000)
        metric.update(torch.stack(noisy[mine]), torch.stack(clean[mine]))
        synced = float(metric.compute())

        torch.manual_seed(0)
        model = torch.nn.parallel.DistributedDataParallel(TinyDenoiser())
        optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
        loss = CDPAMLoss(sample_rate=16000)(model(torch.stack(noisy[mine])), torch.stack(clean[mine]))
        loss.backward()
        optimizer.step()
        weights = model.module.filter.weight.detach().clone()
        results[rank] = (synced, weights, sorted(model.state_dict()))
    finally:
        dist.destroy_process_group()


def test_metric_sync_and_ddp_trainee_over_gloo():
    manager = mp.Manager()
    results = manager.dict()
    mp.spawn(_worker, args=(2, _free_port(), results), nprocs=2, join=True)
    noisy, clean = noisy_clean_pairs(count=4, seconds=0.15)
    expected = float(cdpam_distance(torch.stack(clean), torch.stack(noisy), 16000).mean())
    (m0, w0, keys0), (m1, w1, keys1) = results[0], results[1]
    assert abs(m0 - expected) < 1e-5 and abs(m1 - expected) < 1e-5
    # DDP averaged the gradients: both replicas took the same step, away from identity
    assert torch.equal(w0, w1)
    assert not torch.allclose(w0, TinyDenoiser().filter.weight)
    assert keys0 == ["module.filter.weight"]
