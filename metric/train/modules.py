"""Lightning modules of CDPAM's three training stages (Manocha et al., ICASSP 2021, §3.2, Fig. 1).

* :class:`ContrastiveStage` (a): encoder + projection head(s) with NT-Xent on acoustic pairs
  (projection of the acoustic half of the embedding) and content pairs (projection of the
  content half).
* :class:`JNDStage` (b): loss-net + judgment head on "same/different" pairs with
  cross-entropy; the encoder starts from a stage-(a) export or the official weights and is
  frozen or fine-tuned (``stage.freeze_encoder``).
* :class:`TripletStage` (c): the loss-net fine-tuned with ``MarginRankingLoss(margin=0.1)``
  on (reference, A, B, preference) triplets.
* :class:`DistillStage`: a smaller encoder (the student) trained to reproduce a teacher's
  acoustic embeddings and distances from a cache of the teacher's outputs
  (:mod:`metric.train.teacher_cache`); the teacher's loss-net and judgment head are reused, frozen.

Frozen parts are held outside the module's registry: they are in no optimiser and in no
checkpoint ``state_dict`` (the run rebuilds them from ``stage.init_from``; a checksum stored
in the checkpoint makes sure a resumed run gets the same ones).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from metric.audio import to_model_input
from metric.data.augment import SilenceAndGain
from metric.dependency_warnings import ignoring_dependency_warnings
from metric.model import CDPAMNetwork, ProjectionHead, network_from_config, split_embedding
from metric.weights import load_network, load_parts

from .losses import distance_order_loss, judgment_loss, nt_xent, pair_retrieval_accuracy, ranking_loss, ranking_targets

with ignoring_dependency_warnings():  # Lightning imports torchmetrics, which may warn (see there)
    import pytorch_lightning as pl


def _fingerprint(module: nn.Module) -> list[float]:
    """Cheap checksum of a module's tensors: (count, sum, sum of squares) in float64."""
    values = [t.detach().double() for t in module.state_dict().values() if t.is_floating_point()]
    return [float(sum(v.numel() for v in values)), float(sum(v.sum() for v in values)), float(sum((v * v).sum() for v in values))]


class StageModule(pl.LightningModule):
    """What the three stages share: config, frozen parts, model input, optimiser, trace, export."""

    stage_name = ""

    def __init__(self, config: Mapping[str, Any]):
        super().__init__()
        self.save_hyperparameters({"config": dict(config)})
        self.config = config
        self.sample_rate = int(config["data"]["sample_rate"])
        self._frozen: dict[str, nn.Module] = {}
        self._trace_path = config.get("debug", {}).get("trace_batches")

    # -- frozen parts -------------------------------------------------------------------
    def keep_frozen(self, name: str, module: nn.Module) -> None:
        module.eval()
        module.requires_grad_(False)
        self._frozen[name] = module

    def part(self, name: str) -> nn.Module:
        return self._frozen[name] if name in self._frozen else getattr(self, name)

    @property
    def frozen_parts(self) -> tuple[str, ...]:
        return tuple(self._frozen)

    def _apply(self, fn, recurse=True):
        for module in self._frozen.values():
            module._apply(fn)
        return super()._apply(fn, recurse)

    def train(self, mode: bool = True):
        super().train(mode)
        for module in self._frozen.values():
            module.eval()  # BatchNorm statistics of a frozen encoder never move
        return self

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["cdpam_frozen_parts"] = {name: _fingerprint(m) for name, m in self._frozen.items()}

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        saved = checkpoint.get("cdpam_frozen_parts", {})
        for name, module in self._frozen.items():
            if name in saved:
                now = _fingerprint(module)
                if any(abs(a - b) > 1e-6 * max(1.0, abs(a)) for a, b in zip(saved[name], now)):
                    raise RuntimeError(
                        f"the frozen {name} of this run differs from the one the checkpoint was trained with; "
                        f"resume with the same stage.init_from as the original run ({self.config['stage'].get('init_from')!r} now)"
                    )

    # -- inputs ---------------------------------------------------------------------------
    def model_input(self, waveform: torch.Tensor, lengths: torch.Tensor):
        """``[B, T]`` floats in [-1, 1] at ``data.sample_rate`` → the encoder's ``[B, 1, T']`` and lengths."""
        prepared = to_model_input(waveform, self.sample_rate, lengths, name="training audio")
        return prepared.waveform, prepared.lengths

    def build_augmentation(self) -> SilenceAndGain | None:
        """The paper's online augmentation (``stage.augment``), seeded from the run's seed; ``None`` when disabled."""
        augment = self.config["stage"].get("augment") or {}
        if not augment.get("enabled"):
            return None
        return SilenceAndGain(self.sample_rate, float(augment["silence_seconds"]), tuple(augment["gain_db"]), seed=int(self.config["seed"]))

    def configure_optimizers(self):
        return self._adam(self.config["optim"]["lr"])

    def _adam(self, lr) -> torch.optim.Adam:
        """Adam over the trainable parameters only (frozen parts stay out of the optimiser), ``optim.weight_decay``."""
        parameters = [p for p in self.parameters() if p.requires_grad]
        return torch.optim.Adam(parameters, lr=float(lr), weight_decay=float(self.config["optim"].get("weight_decay", 0.0)))

    def trace(self, batch: Mapping[str, Any]) -> None:
        """Append the item indices of this training step to ``debug.trace_batches`` (one JSON line per step and rank)."""
        if not self._trace_path or "index" not in batch:
            return
        record = {"step": int(self.global_step), "epoch": int(self.current_epoch), "rank": int(self.global_rank),
                  "indices": [int(i) for i in batch["index"]]}
        with open(Path(self._trace_path), "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")

    # -- export ---------------------------------------------------------------------------
    def new_network(self) -> CDPAMNetwork:
        return network_from_config(self.config["model"])

    def export_network(self) -> CDPAMNetwork:
        """The complete metric network as trained so far (CPU, eval mode)."""
        network = self.new_network()
        for name in ("encoder", "lossnet", "judgment"):
            getattr(network, name).load_state_dict({k: v.detach().cpu() for k, v in self.part(name).state_dict().items()})
        return network.eval()


class ContrastiveStage(StageModule):
    """Stage (a): NT-Xent on acoustic and content pairs.

    ``stage.projection``: ``shared`` (default) applies one 512→512→256 head to whichever half
    a pair trains (acoustic half for acoustic pairs, content half for content pairs);
    ``separate`` gives each half its own head. ``stage.ntxent``: ``mixed`` (default, as the
    released code) computes one NT-Xent over all pairs of the batch, so a view's negatives
    include the other kind's projections; ``per_kind`` computes one over the pairs of each
    kind and averages the two.
    """

    stage_name = "contrastive"

    def __init__(self, config: Mapping[str, Any]):
        super().__init__(config)
        stage = config["stage"]
        network = self.new_network()
        if stage.get("init_from"):
            load_parts(network, stage["init_from"], ["encoder"])
        self.encoder = network.encoder
        half = self.encoder.embedding_dim // 2
        self.projection_mode = stage["projection"]
        head = dict(dropout=float(stage["projection_dropout"]), output_dropout=bool(stage["projection_output_dropout"]))
        if self.projection_mode == "shared":
            self.projection = ProjectionHead(half, **head)
        elif self.projection_mode == "separate":
            self.acoustic_projection = ProjectionHead(half, **head)
            self.content_projection = ProjectionHead(half, **head)
        else:
            raise ValueError(f"stage.projection must be 'shared' or 'separate', got {self.projection_mode!r}")
        self.ntxent = stage["ntxent"]
        if self.ntxent not in ("mixed", "per_kind"):
            raise ValueError(f"stage.ntxent must be 'mixed' (one NT-Xent over the batch) or 'per_kind', got {self.ntxent!r}")
        self.temperature = float(stage["temperature"])
        self.augment = self.build_augmentation()
        # Untrained loss-net and judgment head of the export (seeded: two exports of one encoder agree).
        generator_state = torch.random.get_rng_state()
        torch.manual_seed(int(stage["lossnet_seed"]))
        blank = self.new_network()
        torch.random.set_rng_state(generator_state)
        self.keep_frozen("lossnet", blank.lossnet)
        self.keep_frozen("judgment", blank.judgment)

    def project(self, kind: str, embedding: torch.Tensor) -> torch.Tensor:
        head = self.projection if self.projection_mode == "shared" else getattr(self, f"{kind}_projection")
        return head(embedding)

    def _step(self, batch, training: bool):
        count = batch["a"].shape[0]
        waveforms = torch.cat([batch["a"], batch["b"]])
        lengths = torch.cat([batch["a_lengths"], batch["b_lengths"]])
        if training and self.augment is not None:
            waveforms, lengths = self.augment.batch(waveforms, lengths)
        x, x_lengths = self.model_input(waveforms, lengths)
        acoustic, content = split_embedding(self.encoder(x, x_lengths))
        kinds = batch["kind_id"].to(acoustic.device)
        # Each pair's projections: the acoustic half for acoustic pairs, the content half for content pairs.
        z_a = z_b = None
        members = {}
        for kind_id, kind, half in ((0, "acoustic", acoustic), (1, "content", content)):
            index = (kinds == kind_id).nonzero(as_tuple=True)[0]
            if index.numel() == 0:
                continue
            z = self.project(kind, torch.cat([half[index], half[count + index]]))
            if z_a is None:
                z_a, z_b = z.new_zeros(count, z.shape[1]), z.new_zeros(count, z.shape[1])
            z_a, z_b = z_a.index_copy(0, index, z[: index.numel()]), z_b.index_copy(0, index, z[index.numel():])
            members[kind] = index
        terms, logs = {}, {}
        for kind, index in members.items():
            if index.numel() < 2:
                continue
            terms[kind] = nt_xent(z_a[index], z_b[index], self.temperature)
            logs[f"{kind}_loss"] = terms[kind].detach()
            logs[f"{kind}_acc"] = pair_retrieval_accuracy(z_a[index].detach(), z_b[index].detach())
        if self.ntxent == "mixed" and z_a is not None and count >= 2:
            objective = nt_xent(z_a, z_b, self.temperature)
            logs["mixed_acc"] = pair_retrieval_accuracy(z_a.detach(), z_b.detach())
        elif terms:
            objective = torch.stack(list(terms.values())).mean()
        else:
            objective = acoustic.sum() * 0.0
        # Every parameter joins the graph (at zero weight) so DDP reduces the same set on every rank,
        # even for a batch that holds fewer than two pairs of one kind.
        anchor = sum(p.sum() for p in self.parameters() if p.requires_grad) * 0.0
        return objective + anchor, logs

    def training_step(self, batch, batch_idx):
        self.trace(batch)
        loss, logs = self._step(batch, training=True)
        self.log("train_loss", loss, prog_bar=True, batch_size=batch["a"].shape[0])
        self.log_dict({f"train_{k}": v for k, v in logs.items()}, batch_size=batch["a"].shape[0])
        return loss

    def validation_step(self, batch, batch_idx):
        loss, logs = self._step(batch, training=False)
        self.log("val_loss", loss, prog_bar=True, sync_dist=True, batch_size=batch["a"].shape[0])
        self.log_dict({f"val_{k}": v for k, v in logs.items()}, sync_dist=True, batch_size=batch["a"].shape[0])


class _DistanceStage(StageModule):
    """Stages (b) and (c): an encoder (frozen or not) feeding the loss-net."""

    trained_parts: tuple[str, ...] = ()

    def __init__(self, config: Mapping[str, Any]):
        super().__init__(config)
        stage = config["stage"]
        network = self.new_network()
        if stage.get("init_from"):
            load_parts(network, stage["init_from"], list(stage["init_parts"]))
        self.freeze_encoder = bool(stage["freeze_encoder"])
        self.augment = self.build_augmentation()
        for name in ("encoder", "lossnet", "judgment"):
            module = getattr(network, name)
            if name == "encoder" and self.freeze_encoder or name not in self.trained_parts and name != "encoder":
                self.keep_frozen(name, module)
            else:
                setattr(self, name, module)

    def augmented(self, waveform: torch.Tensor, lengths: torch.Tensor, training: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """The online augmentation of every training waveform (independent draws); validation sees the audio as is."""
        if not training or self.augment is None:
            return waveform, lengths
        return self.augment.batch(waveform, lengths)

    def distances(self, reference, reference_lengths, *others):
        """``d(reference, other)`` for each ``(waveform, lengths)`` in ``others``, one encoder pass for all."""
        count = reference.shape[0]
        width = max([reference.shape[1]] + [o[0].shape[1] for o in others])
        padded = [F.pad(w, (0, width - w.shape[1])) for w in [reference] + [o[0] for o in others]]
        x, lengths = self.model_input(torch.cat(padded), torch.cat([reference_lengths] + [o[1] for o in others]))
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.freeze_encoder):
            embedding = F.normalize(self.part("encoder")(x, lengths, acoustic_only=True), dim=-1)
        ref = embedding[:count]
        return [self.part("lossnet")(ref, embedding[(i + 1) * count : (i + 2) * count]) for i in range(len(others))]


class JNDStage(_DistanceStage):
    """Stage (b): cross-entropy of the judgment head on (reference, perturbed, same/different) pairs."""

    stage_name = "jnd"
    trained_parts = ("lossnet", "judgment")

    def _step(self, batch, training: bool):
        (distance,) = self.distances(*self.augmented(batch["reference"], batch["reference_lengths"], training),
                                     self.augmented(batch["perturbed"], batch["perturbed_lengths"], training))
        logits = self.part("judgment")(distance)
        labels = batch["label"].to(logits.device)
        loss = judgment_loss(logits, labels)
        accuracy = (logits.argmax(dim=1) == labels.round().long()).float().mean()
        return loss, accuracy

    def training_step(self, batch, batch_idx):
        self.trace(batch)
        loss, accuracy = self._step(batch, training=True)
        size = batch["reference"].shape[0]
        self.log("train_loss", loss, prog_bar=True, batch_size=size)
        self.log("train_acc", accuracy, prog_bar=True, batch_size=size)
        return loss

    def validation_step(self, batch, batch_idx):
        loss, accuracy = self._step(batch, training=False)
        size = batch["reference"].shape[0]
        self.log("val_loss", loss, prog_bar=True, sync_dist=True, batch_size=size)
        self.log("val_acc", accuracy, prog_bar=True, sync_dist=True, batch_size=size)


class TripletStage(_DistanceStage):
    """Stage (c): ``MarginRankingLoss(margin)`` on ``d(ref, A)`` vs ``d(ref, B)``; also logs 2AFC agreement."""

    stage_name = "triplet"
    trained_parts = ("lossnet",)

    def _step(self, batch, training: bool):
        d_a, d_b = self.distances(*self.augmented(batch["reference"], batch["reference_lengths"], training),
                                  self.augmented(batch["a"], batch["a_lengths"], training),
                                  self.augmented(batch["b"], batch["b_lengths"], training))
        preference = batch["preference"].to(d_a.device)
        loss = ranking_loss(d_a, d_b, preference, margin=float(self.config["stage"]["margin"]))
        targets = ranking_targets(preference)
        decided = targets != 0
        agreement = ((torch.sign(d_b - d_a) == targets)[decided]).float().mean() if bool(decided.any()) else loss.new_tensor(float("nan"))
        return loss, agreement

    def training_step(self, batch, batch_idx):
        self.trace(batch)
        loss, agreement = self._step(batch, training=True)
        size = batch["reference"].shape[0]
        self.log("train_loss", loss, prog_bar=True, batch_size=size)
        self.log("train_2afc", agreement, batch_size=size)
        return loss

    def validation_step(self, batch, batch_idx):
        loss, agreement = self._step(batch, training=False)
        size = batch["reference"].shape[0]
        self.log("val_loss", loss, prog_bar=True, sync_dist=True, batch_size=size)
        self.log("val_2afc", agreement, prog_bar=True, sync_dist=True, batch_size=size)


class DistillStage(StageModule):
    """Distillation: a student encoder reproduces the teacher's acoustic embeddings and distances.

    Each item is a group of ``G`` rows (a clean excerpt and perturbed versions of it) with the
    teacher's L2-normalised acoustic embeddings. The loss is

    ``stage.embedding_weight * mean(1 - cos(e_student, e_teacher))
    + stage.distance_weight * mean |log(d_student + eps) - log(d_teacher + eps)|``

    ``+ stage.order_weight * distance_order_loss(d_student, d_teacher, stage.order_temperature)``

    over every row and every pair of rows in a group, both distances taken by the teacher's
    loss-net (frozen: the exported network carries it unchanged, so the student's 512-d
    acoustic half must land where the teacher's does). Log distances weigh small and large
    differences alike, which is what rank agreement needs; the order term
    (:func:`.losses.distance_order_loss`) rewards the order of the distances within a group
    directly, which is what triplet preferences and monotonicity read.

    ``stage.init_from`` (``lite`` or a checkpoint of the student's architecture) starts the
    student from trained weights; ``stage.lr_schedule=cosine`` decays the learning rate to
    ``stage.lr_final_fraction`` of ``stage.lr`` over ``trainer.max_steps`` after
    ``stage.warmup_steps`` of linear warm-up.
    """

    stage_name = "distill"

    def __init__(self, config: Mapping[str, Any]):
        super().__init__(config)
        stage = config["stage"]
        network = self.new_network()
        teacher = load_network(stage["teacher"])
        wanted = teacher.encoder.embedding_dim
        if network.encoder.embedding_dim != wanted:
            raise ValueError(
                f"the student's embedding has {network.encoder.embedding_dim} channels, the teacher's {wanted}: its "
                f"acoustic half feeds the teacher's loss-net, so set model.encoder_head_channels={wanted} (model=lite does)"
            )
        if stage.get("init_from"):
            load_parts(network, stage["init_from"], ["encoder"])
        self.encoder = network.encoder
        self.keep_frozen("lossnet", teacher.lossnet)
        self.keep_frozen("judgment", teacher.judgment)
        self.embedding_weight = float(stage["embedding_weight"])
        self.distance_weight = float(stage["distance_weight"])
        self.log_epsilon = float(stage["log_epsilon"])
        self.order_weight = float(stage.get("order_weight", 0.0))
        self.order_temperature = float(stage.get("order_temperature", 0.1))
        self._pairs: torch.Tensor | None = None

    def configure_optimizers(self):
        stage = self.config["stage"]
        optimizer = self._adam(stage["lr"])
        schedule = stage.get("lr_schedule", "constant")
        if schedule == "constant":
            return optimizer
        if schedule != "cosine":
            raise ValueError(f"stage.lr_schedule must be constant or cosine, got {schedule!r}")
        total = int(self.config["trainer"].get("max_steps", -1))
        if total <= 0:
            raise ValueError("stage.lr_schedule=cosine decays over trainer.max_steps; set trainer.max_steps=N (> 0)")
        warmup, final = int(stage.get("warmup_steps", 0)), float(stage.get("lr_final_fraction", 0.0))

        def factor(step: int) -> float:
            if step < warmup:
                return (step + 1) / warmup
            progress = min(1.0, (step - warmup) / max(1, total - warmup))
            return final + (1.0 - final) * 0.5 * (1.0 + math.cos(math.pi * progress))

        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def _step(self, batch):
        from .teacher_cache import all_pairs, teacher_distances

        audio, teacher = batch["audio"], batch["teacher"].to(batch["audio"].device)
        count, group, samples = audio.shape
        x, _ = self.model_input(audio.reshape(count * group, samples), None)
        student = F.normalize(self.encoder(x, acoustic_only=True), dim=-1).reshape(count, group, -1)
        if self._pairs is None or self._pairs.shape[0] != group * (group - 1) // 2:
            self._pairs = all_pairs(group)
        pairs = self._pairs.to(audio.device)
        lossnet = self.part("lossnet")
        d_student = teacher_distances(lossnet, student, pairs)
        with torch.no_grad():
            d_teacher = teacher_distances(lossnet, teacher, pairs)
        embedding_loss = (1.0 - (student * teacher).sum(dim=-1)).mean()
        eps = self.log_epsilon
        distance_loss = (torch.log(d_student + eps) - torch.log(d_teacher + eps)).abs().mean()
        order_loss = distance_order_loss(d_student, d_teacher, self.order_temperature, eps)
        loss = self.embedding_weight * embedding_loss + self.distance_weight * distance_loss
        if self.order_weight:
            loss = loss + self.order_weight * order_loss
        # Pairwise order agreement of the distances within each group: what rank correlation rewards;
        # on the pairs with the clean row (row 0) it is the triplet preference agreement.
        with torch.no_grad():
            s_diff = d_student[:, :, None] - d_student[:, None, :]
            t_diff = d_teacher[:, :, None] - d_teacher[:, None, :]
            agree = torch.sign(s_diff) == torch.sign(t_diff)
            decided = t_diff != 0
            order = (agree & decided).sum() / decided.sum().clamp(min=1)
            clean = pairs[:, 0] == 0
            clean_decided = decided[:, clean][:, :, clean]
            triplets = (agree[:, clean][:, :, clean] & clean_decided).sum() / clean_decided.sum().clamp(min=1)
        return loss, {"embedding_loss": embedding_loss.detach(), "distance_loss": distance_loss.detach(),
                      "order_loss": order_loss.detach(), "order_agreement": order, "triplet_agreement": triplets}

    def training_step(self, batch, batch_idx):
        self.trace(batch)
        loss, logs = self._step(batch)
        size = batch["audio"].shape[0]
        self.log("train_loss", loss, prog_bar=True, batch_size=size)
        self.log_dict({f"train_{k}": v for k, v in logs.items()}, batch_size=size)
        return loss

    def validation_step(self, batch, batch_idx):
        loss, logs = self._step(batch)
        size = batch["audio"].shape[0]
        self.log("val_loss", loss, prog_bar=True, sync_dist=True, batch_size=size)
        self.log_dict({f"val_{k}": v for k, v in logs.items()}, prog_bar=False, sync_dist=True, batch_size=size)


STAGES = {"contrastive": ContrastiveStage, "jnd": JNDStage, "triplet": TripletStage, "distill": DistillStage}
