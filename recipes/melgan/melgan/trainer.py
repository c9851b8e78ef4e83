"""Training loop for MelGAN and MelGAN+CDPAM (one process or torch.distributed).

Each step (Kumar et al., NeurIPS 2019, §2.4 / Algorithm of the paper's Appendix):

1. ``fake = G(mel(real))``;
2. discriminator step on the hinge loss of ``D([real, fake.detach()])``;
3. generator step on ``-D(fake) + λ·c·FM(D(real), D(fake))`` plus, for
   MelGAN+CDPAM, ``w · CDPAM(real, fake)`` (Manocha et al., ICASSP 2021, §4.3).
   As in the released code, the real features ``D(real)`` are those of the
   discriminator step (before its update), and ``c`` is the release's scaling
   (``train.feature_matching_scaling``, see ``losses.py``).

Real and fake segments go through the discriminator as one concatenated batch
in the discriminator step and the fake ones alone in the generator step, so that
each optimiser step follows exactly one forward pass of each wrapped module —
what DistributedDataParallel needs. Launch several processes with
``torchrun --nproc_per_node N recipes/melgan/train.py ...``: the loop reads
``WORLD_SIZE``/``RANK``/``LOCAL_RANK`` and uses gloo on CPU, nccl on GPUs.

The run stops at ``max_steps`` or after ``max_minutes`` of wall-clock time,
whichever comes first, and always leaves ``checkpoints/last.pt`` (resumable) and
``generator.pt`` (for vocoding) behind.
"""

from __future__ import annotations

import json
import math
import os
import random
import time
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from omegaconf import DictConfig, OmegaConf
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler
from tqdm import tqdm

from .checkpoint import TRAINING_FORMAT, atomic_save, export_generator, generator_payload, load_checkpoint, unwrap
from .data import SegmentDataset, load_audio, read_manifest
from .discriminator import DiscriminatorConfig, MultiScaleDiscriminator
from .generator import Generator, GeneratorConfig
from .losses import discriminator_hinge_loss, feature_matching_loss, feature_matching_scale, generator_adversarial_loss
from .mel import LogMelSpectrogram, MelConfig
from .perceptual import build_cdpam_loss


def _distributed_context() -> tuple[bool, int, int, int]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return False, 0, 1, 0
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if torch.cuda.is_available() else "gloo")
    return True, dist.get_rank(), world, int(os.environ.get("LOCAL_RANK", "0"))


def _device(name: str, local_rank: int) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        torch.cuda.set_device(local_rank)
        return torch.device("cuda", local_rank)
    return torch.device(name)


def _split(activations, batch: int):
    real = [[a[:batch] for a in scale] for scale in activations]
    fake = [[a[batch:] for a in scale] for scale in activations]
    return real, fake


def build_models(cfg: DictConfig) -> tuple[MelConfig, Generator, MultiScaleDiscriminator]:
    mel_config = MelConfig(**OmegaConf.to_container(cfg.mel, resolve=True))
    generator = Generator(GeneratorConfig(n_mels=mel_config.n_mels, **OmegaConf.to_container(cfg.model.generator)))
    if generator.hop_length != mel_config.hop_length:
        raise ValueError(
            f"The generator upsamples by {generator.hop_length} (product of ratios) but the mel hop is "
            f"{mel_config.hop_length}: make them equal."
        )
    discriminator = MultiScaleDiscriminator(DiscriminatorConfig(**OmegaConf.to_container(cfg.model.discriminator)))
    return mel_config, generator, discriminator


class Trainer:
    def __init__(self, cfg: DictConfig):
        self.cfg = cfg
        train = cfg.train
        if train.threads:
            # One thread per process is much faster than two on a shared 2-core machine (measured).
            torch.set_num_threads(int(train.threads))
        self.distributed, self.rank, self.world, local_rank = _distributed_context()
        self.device = _device(train.device, local_rank)
        self.is_main = self.rank == 0
        self.exp_dir = Path(cfg.exp_dir)
        self.checkpoint_path = self.exp_dir / "checkpoints" / "last.pt"

        seed = int(train.seed) + self.rank
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)
        torch.use_deterministic_algorithms(True)  # with the seed and the fixed thread count: reruns match

        self.mel_config, generator, discriminator = build_models(cfg)
        self.mel = LogMelSpectrogram(self.mel_config).to(self.device)
        self.generator = generator.to(self.device)
        self.discriminator = discriminator.to(self.device)
        self.feature_matching_scale = feature_matching_scale(
            train.feature_matching_scaling, discriminator.config.scales, discriminator.config.downsampling_layers
        )
        betas = tuple(train.betas)
        self.opt_g = torch.optim.Adam(self.generator.parameters(), lr=train.lr, betas=betas)
        self.opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=train.lr, betas=betas)
        self.step = 0
        self.elapsed_before = 0.0

        self.cdpam_weight = float(cfg.variant.cdpam_weight)
        self.cdpam = None
        if self.cdpam_weight > 0:
            self.cdpam = build_cdpam_loss(self.cdpam_weight, train.cdpam_segment_seconds).to(self.device)

        if train.resume and self.checkpoint_path.is_file():
            self._resume(self.checkpoint_path)
        if self.distributed:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.generator = DistributedDataParallel(self.generator, device_ids=ids)
            self.discriminator = DistributedDataParallel(self.discriminator, device_ids=ids)

        entries = read_manifest(Path(cfg.data.manifest_dir) / "train.jsonl")
        dataset = SegmentDataset(
            entries,
            segment_length=int(train.segment_length),
            sample_rate=self.mel_config.sample_rate,
            min_items=int(train.batch_size) * self.world,
            cache=bool(cfg.data.cache_audio),
            peak=train.peak_normalize,
            amplitude=tuple(train.random_amplitude) if train.random_amplitude else None,
        )
        self.sampler = DistributedSampler(dataset, shuffle=True, seed=int(train.seed)) if self.distributed else None
        self.loader = DataLoader(
            dataset,
            batch_size=int(train.batch_size),
            shuffle=self.sampler is None,
            sampler=self.sampler,
            num_workers=int(train.num_workers),
            drop_last=True,
            persistent_workers=int(train.num_workers) > 0,
        )
        self.valid_entries = read_manifest(Path(cfg.data.manifest_dir) / "valid.jsonl")[: int(train.valid_utterances)]
        self.writer = None
        if self.is_main:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(self.exp_dir / "tensorboard"))

    # ------------------------------------------------------------------ checkpoints
    def _resume(self, path: Path) -> None:
        state = load_checkpoint(path)
        if state.get("format") != TRAINING_FORMAT:
            raise ValueError(f"{path} is not a training checkpoint of this recipe; delete it or set train.resume=false.")
        unwrap(self.generator).load_state_dict(state["generator"]["state_dict"])
        unwrap(self.discriminator).load_state_dict(state["discriminator"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        self.step = int(state["step"])
        self.elapsed_before = float(state.get("elapsed_seconds", 0.0))
        torch.set_rng_state(state["torch_rng"])
        if "python_rng" in state:  # segment crops continue where they stopped
            version, internal, gauss = state["python_rng"]
            random.setstate((version, tuple(internal), gauss))
        if self.is_main:
            print(f"Resumed from {path} at step {self.step}.")

    def save(self, elapsed: float) -> None:
        if not self.is_main:
            return
        state = {
            "format": TRAINING_FORMAT,
            "step": self.step,
            "elapsed_seconds": elapsed,
            "generator": generator_payload(self.generator, self.mel_config, self.step),
            "discriminator": unwrap(self.discriminator).state_dict(),
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "python_rng": random.getstate(),
            "config": OmegaConf.to_container(self.cfg, resolve=True),
        }
        atomic_save(state, self.checkpoint_path)
        export_generator(self.exp_dir / "generator.pt", self.generator, self.mel_config, self.step)

    # ------------------------------------------------------------------ steps
    def train_step(self, real: torch.Tensor) -> dict[str, float]:
        train = self.cfg.train
        batch = real.shape[0]
        with torch.no_grad():
            mel = self.mel(real)
        fake = self.generator(mel)

        # Discriminator: hinge loss on real vs. detached fake.
        real_act, fake_act = _split(self.discriminator(torch.cat([real, fake.detach()])), batch)
        loss_d = discriminator_hinge_loss(real_act, fake_act)
        self.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        self.opt_d.step()
        # The feature-matching targets: the real features of this step, as the release.
        real_features = [[feature.detach() for feature in scale] for scale in real_act]

        # Generator: adversarial + feature matching (+ CDPAM).
        freeze = not self.distributed  # DDP expects gradients for every parameter it wraps
        if freeze:
            self.discriminator.requires_grad_(False)
        fake_act = self.discriminator(fake)
        loss_adv = generator_adversarial_loss(fake_act)
        loss_fm = feature_matching_loss(real_features, fake_act, self.feature_matching_scale)
        loss_g = loss_adv + float(train.feature_matching_weight) * loss_fm
        logs = {"loss_d": loss_d.item(), "loss_g_adv": loss_adv.item(), "loss_fm": loss_fm.item()}
        if self.cdpam is not None and self.step % int(train.cdpam_every) == 0:
            items = train.cdpam_items or batch
            loss_cdpam = self.cdpam(fake[:items], real[:items])
            loss_g = loss_g + loss_cdpam
            logs["loss_cdpam_weighted"] = loss_cdpam.item()
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt_g.step()
        if freeze:
            self.discriminator.requires_grad_(True)
        logs["loss_g"] = loss_g.item()
        with torch.no_grad():
            logs["mel_l1"] = torch.mean(torch.abs(self.mel(fake.detach()) - mel)).item()
        return logs

    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        generator = unwrap(self.generator)
        generator.eval()
        errors = []
        hop = self.mel_config.hop_length
        limit = int(float(self.cfg.train.valid_seconds) * self.mel_config.sample_rate) // hop * hop
        for index, entry in enumerate(self.valid_entries):
            audio = load_audio(entry["path"], self.mel_config.sample_rate)
            audio = audio[: min(len(audio) // hop * hop, limit)]
            real = torch.from_numpy(audio)[None].to(self.device)
            mel = self.mel(real)
            fake = generator(mel)[:, 0]
            errors.append(torch.mean(torch.abs(self.mel(fake) - mel)).item())
            if index == 0 and self.writer is not None:
                self.writer.add_audio("valid/generated", fake[0].clamp(-1, 1).cpu(), self.step, self.mel_config.sample_rate)
                if self.step == 0 or not getattr(self, "_logged_real", False):
                    self.writer.add_audio("valid/real", real[0].cpu(), self.step, self.mel_config.sample_rate)
                    self._logged_real = True
        generator.train()
        return {"valid/mel_l1": float(np.mean(errors)) if errors else math.nan}

    # ------------------------------------------------------------------ loop
    def fit(self) -> dict:
        train = self.cfg.train
        max_steps = int(train.max_steps)
        max_seconds = float(train.max_minutes) * 60 if train.max_minutes else math.inf
        start = time.monotonic()
        start_step = self.step
        stopped_by = "max_steps"
        epoch = self.step // max(len(self.loader), 1)
        progress = tqdm(total=max_steps, initial=self.step, desc=f"{self.cfg.variant.name}", unit="step", disable=not self.is_main)
        self.generator.train()
        self.discriminator.train()
        logs: dict[str, float] = {}
        while self.step < max_steps:
            if self.sampler is not None:
                self.sampler.set_epoch(epoch)
            for real in self.loader:
                if self.step >= max_steps:
                    break
                out_of_time = time.monotonic() - start > max_seconds
                if self.distributed:  # every rank must stop at the same step
                    flag = torch.tensor([float(out_of_time)], device=self.device)
                    dist.all_reduce(flag, op=dist.ReduceOp.MAX)
                    out_of_time = bool(flag.item())
                if out_of_time:
                    stopped_by = "max_minutes"
                    break
                logs = self.train_step(real.to(self.device))
                self.step += 1
                progress.update(1)
                progress.set_postfix({k: f"{v:.3f}" for k, v in logs.items() if k in ("loss_d", "loss_g", "mel_l1")})
                if self.writer is not None and self.step % int(train.log_every) == 0:
                    for key, value in logs.items():
                        self.writer.add_scalar(f"train/{key}", value, self.step)
                if self.is_main and int(train.validate_every) and self.step % int(train.validate_every) == 0:
                    for key, value in self.validate().items():
                        self.writer.add_scalar(key, value, self.step)
                if self.step % int(train.checkpoint_every) == 0:
                    self.save(self.elapsed_before + time.monotonic() - start)
            else:
                epoch += 1
                continue
            break
        progress.close()
        elapsed = time.monotonic() - start
        self.save(self.elapsed_before + elapsed)
        summary = {
            "variant": self.cfg.variant.name,
            "steps": self.step,
            "steps_this_run": self.step - start_step,
            "seconds_this_run": round(elapsed, 1),
            "seconds_per_step": round(elapsed / max(self.step - start_step, 1), 3),
            "total_seconds": round(self.elapsed_before + elapsed, 1),
            "stopped_by": stopped_by,
            "world_size": self.world,
            "final_losses": logs,
        }
        if self.is_main:
            if self.writer is not None:
                if int(train.validate_every):
                    for key, value in self.validate().items():
                        self.writer.add_scalar(key, value, self.step)
                        summary[key] = value
                self.writer.close()
            (self.exp_dir / "train_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
            print(json.dumps(summary))
        if self.distributed:
            dist.barrier()
        return summary


def train(cfg: DictConfig) -> dict:
    trainer = Trainer(cfg)
    try:
        return trainer.fit()
    finally:
        if trainer.distributed and dist.is_initialized():
            dist.destroy_process_group()
