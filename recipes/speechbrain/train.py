#!/usr/bin/env python3
"""Recipe: spectral-mask speech enhancement, with or without CDPAM in the objective.

    python train.py hparams/baseline.yaml           # MSE on log1p magnitudes
    python train.py hparams/cdpam.yaml              # the same + cdpam_plugins.CDPAMLoss on the waveforms
    python train.py hparams/cdpam.yaml --corpus=valentini --data_folder=/corpora/valentini

The model estimates a [0, 1] mask on the noisy log1p STFT magnitude; the enhanced waveform
is resynthesised with the noisy phase. The objective is the hparams' ``compute_cost`` on the
magnitudes plus, when the hparams define ``loss`` (cdpam.yaml: ``!new:cdpam_plugins.CDPAMLoss``),
that loss on the enhanced and clean waveforms with SpeechBrain's relative lengths.

Validation reports the loss, PESQ (wide-band) and STOI each epoch; the checkpoint with the best
validation PESQ is kept and tested. The test stage writes the enhanced test set into
``enhanced_folder`` and per-utterance PESQ, STOI and every ``<name>_stats`` MetricStats factory of
the hparams (cdpam.yaml: CDPAM distance) into ``output_folder/test_<name>.txt``; averages go to
``output_folder/test_summary.json``. Rerunning continues from the last saved epoch.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
from hyperpyyaml import load_hyperpyyaml
from prepare_data import prepare_data

import speechbrain as sb
from metric import pesq, stoi
from speechbrain.processing.features import spectral_magnitude
from speechbrain.utils.distributed import run_on_main
from speechbrain.utils.metric_stats import MetricStats

STATS_SUFFIX = "_stats"
SAMPLE_RATE = 16000


def pesq_eval(pred_wav: torch.Tensor, target_wav: torch.Tensor) -> float:
    """Wide-band PESQ (ITU-T P.862.2) of one enhanced utterance against its clean reference (NaN: no speech)."""
    try:
        return pesq(target_wav.numpy(), pred_wav.numpy(), SAMPLE_RATE)
    except ValueError:  # one unscorable utterance must not end a training run
        return float("nan")


def stoi_eval(pred_wav: torch.Tensor, target_wav: torch.Tensor) -> float:
    """Short-time objective intelligibility (Taal et al., 2011) of one enhanced utterance (NaN: too short)."""
    try:
        return stoi(target_wav.numpy(), pred_wav.numpy(), SAMPLE_RATE)
    except ValueError:
        return float("nan")


class SEBrain(sb.Brain):
    """Spectral-mask enhancement; an optional waveform ``loss`` in the hparams joins the objective."""

    @property
    def waveform_loss(self):
        """The hparams' ``loss`` (e.g. ``cdpam_plugins.CDPAMLoss``), or None in the baseline."""
        return getattr(self.hparams, "loss", None)

    def compute_feats(self, wavs: torch.Tensor) -> torch.Tensor:
        """log1p STFT magnitude ``[B, frames, bins]``."""
        feats = self.hparams.compute_STFT(wavs)
        return torch.log1p(spectral_magnitude(feats, power=0.5))

    def compute_forward(self, batch, stage):
        batch = batch.to(self.device)
        noisy_wavs, lens = batch.noisy_sig
        noisy_feats = self.compute_feats(noisy_wavs)
        mask = self.modules.model(noisy_feats)
        predict_spec = mask * noisy_feats
        predict_wav = self.hparams.resynth(torch.expm1(predict_spec), noisy_wavs)
        return predict_spec, predict_wav

    def compute_objectives(self, predictions, batch, stage):
        predict_spec, predict_wav = predictions
        clean_wavs, lens = batch.clean_sig
        clean_spec = self.compute_feats(clean_wavs)

        loss = self.hparams.compute_cost(predict_spec, clean_spec, lens)
        self.term_sums["spectral"] += float(loss.detach())
        if self.waveform_loss is not None:
            extra = self.waveform_loss(predict_wav, clean_wavs, lens)
            self.term_sums["waveform"] += float(extra.detach())
            loss = loss + extra
        self.term_batches += 1

        if stage != sb.Stage.TRAIN:
            for stats in self.stats.values():
                if stats.batch_eval:
                    stats.append(batch.id, predict_wav, clean_wavs, lens)
                else:
                    stats.append(batch.id, predict=predict_wav.detach().cpu(), target=clean_wavs.cpu(),
                                 lengths=lens.cpu())
        if stage == sb.Stage.TEST:
            self.write_enhanced(batch.id, predict_wav, lens)
        return loss

    def write_enhanced(self, ids, wavs: torch.Tensor, lens: torch.Tensor) -> None:
        folder = Path(self.hparams.enhanced_folder)
        folder.mkdir(parents=True, exist_ok=True)
        lengths = (lens * wavs.shape[1]).round().int()
        for utt_id, wav, length in zip(ids, wavs.detach().cpu(), lengths):
            sb.dataio.dataio.write_audio(str(folder / f"{utt_id}.wav"), wav[: int(length)].float(),
                                         self.hparams.sample_rate)

    def on_fit_start(self):
        if isinstance(self.waveform_loss, torch.nn.Module):
            self.waveform_loss.to(self.device)
        super().on_fit_start()

    def on_stage_start(self, stage, epoch=None):
        self.term_sums = {"spectral": 0.0, "waveform": 0.0}
        self.term_batches = 0
        self.stats = {}
        if stage == sb.Stage.TRAIN:
            return
        n_jobs = self.hparams.pesq_n_jobs
        self.stats["pesq"] = MetricStats(metric=pesq_eval, n_jobs=n_jobs, batch_eval=False)
        self.stats["stoi"] = MetricStats(metric=stoi_eval, n_jobs=n_jobs, batch_eval=False)
        if stage == sb.Stage.TEST:
            # extra per-utterance metrics (CDPAM: ~1 CPU-second per second of audio) on the test set only
            for key, factory in vars(self.hparams).items():
                if key.endswith(STATS_SUFFIX) and callable(factory):
                    self.stats[key[: -len(STATS_SUFFIX)]] = factory()

    def stage_summary(self, stage_loss) -> dict:
        summary = {"loss": stage_loss}
        if self.waveform_loss is not None and self.term_batches:
            summary["spectral_loss"] = self.term_sums["spectral"] / self.term_batches
            summary["waveform_loss"] = self.term_sums["waveform"] / self.term_batches
        for name, stats in self.stats.items():
            summary[name] = stats.summarize("average")
        return summary

    def on_stage_end(self, stage, stage_loss, epoch=None):
        summary = self.stage_summary(stage_loss)
        if stage == sb.Stage.TRAIN:
            self.train_stats = summary
        elif stage == sb.Stage.VALID:
            lr = self.optimizer.param_groups[0]["lr"]
            self.hparams.train_logger.log_stats(
                stats_meta={"epoch": epoch, "lr": lr}, train_stats=self.train_stats, valid_stats=summary
            )
            self.checkpointer.save_and_keep_only(meta=summary, max_keys=["pesq"])
        else:
            self.hparams.train_logger.log_stats(
                stats_meta={"Epoch loaded": self.hparams.epoch_counter.current}, test_stats=summary
            )
            output = Path(self.hparams.output_folder)
            for name, stats in self.stats.items():
                with open(output / f"test_{name}.txt", "w") as handle:
                    stats.write_stats(handle)
            per_utterance = {name: dict(zip(stats.ids, map(float, stats.scores))) for name, stats in self.stats.items()}
            (output / "test_summary.json").write_text(json.dumps(
                {"epoch": self.hparams.epoch_counter.current, "averages": summary, "per_utterance": per_utterance},
                indent=1))


def dataio_prep(hparams: dict) -> dict[str, sb.dataio.dataset.DynamicItemDataset]:
    """Train/valid/test datasets reading the noisy and clean waveforms of each manifest entry."""

    @sb.utils.data_pipeline.takes("noisy_wav")
    @sb.utils.data_pipeline.provides("noisy_sig")
    def noisy_pipeline(noisy_wav):
        return sb.dataio.dataio.read_audio(noisy_wav)

    @sb.utils.data_pipeline.takes("clean_wav")
    @sb.utils.data_pipeline.provides("clean_sig")
    def clean_pipeline(clean_wav):
        return sb.dataio.dataio.read_audio(clean_wav)

    datasets = {}
    for split in ("train", "valid", "test"):
        datasets[split] = sb.dataio.dataset.DynamicItemDataset.from_json(
            json_path=hparams[f"{split}_annotation"],
            dynamic_items=[noisy_pipeline, clean_pipeline],
            output_keys=["id", "noisy_sig", "clean_sig"],
        )
    sorting = hparams["sorting"]
    if sorting in ("ascending", "descending"):
        datasets["train"] = datasets["train"].filtered_sorted(
            sort_key="duration", reverse=sorting == "descending"
        )
    elif sorting == "random":
        hparams["dataloader_options"]["shuffle"] = True
    else:
        raise ValueError(f"sorting must be ascending, descending or random, got {sorting!r}")
    return datasets


def main(argv: list[str]) -> None:
    hparams_file, run_opts, overrides = sb.parse_arguments(argv)
    with open(hparams_file, encoding="utf-8") as fin:
        hparams = load_hyperpyyaml(fin, overrides)

    sb.create_experiment_directory(
        experiment_directory=hparams["output_folder"], hyperparams_to_save=hparams_file, overrides=overrides
    )

    run_on_main(
        prepare_data,
        kwargs={
            "save_folder": hparams["prepared_folder"],
            "corpus": hparams["corpus"],
            "data_folder": hparams["data_folder"],
            "sample_rate": hparams["sample_rate"],
            "skip_prep": hparams["skip_prep"],
        },
    )
    datasets = dataio_prep(hparams)

    se_brain = SEBrain(
        modules=hparams["modules"],
        opt_class=hparams["opt_class"],
        hparams=hparams,
        run_opts=run_opts,
        checkpointer=hparams["checkpointer"],
    )
    se_brain.fit(
        se_brain.hparams.epoch_counter,
        train_set=datasets["train"],
        valid_set=datasets["valid"],
        train_loader_kwargs=hparams["dataloader_options"],
        valid_loader_kwargs=hparams["test_dataloader_options"],
    )
    se_brain.evaluate(
        test_set=datasets["test"], max_key="pesq", test_loader_kwargs=hparams["test_dataloader_options"]
    )


if __name__ == "__main__":
    main(sys.argv[1:])
