"""The DEMUCS recipe's own code (imported as ``demucs`` by the stage scripts, which run from ``recipes/demucs/``).

Modules:
    model      causal DEMUCS (Défossez et al., Interspeech 2020) in the released layout (or strictly causal)
    halfband   the released model's x2 windowed-sinc up/down-sampling
    data       noisy/clean training segments from a manifest, cut as the release cuts them
    augment    the release's training augmentations: remix, band mask, shift, echo-train reverb
    losses     L1 + multi-resolution STFT (+ CDPAM) objective
    selection  which checkpoint a variant keeps: the best validation value of its own objective
    system     Asteroid ``System`` with the augmentations, loss-term logging and per-variant validation
    inference  loading an exported ``model.pt`` / Lightning ``.ckpt`` and enhancing a waveform
"""
