"""The DEMUCS recipe's own code (imported as ``demucs`` by the stage scripts, which run from ``recipes/demucs/``).

Modules:
    model      causal DEMUCS (Défossez et al., Interspeech 2020), written from the paper
    data       noisy/clean training segments from a manifest
    losses     L1 + multi-resolution STFT (+ CDPAM) objective
    system     Asteroid ``System`` with remix augmentation and loss-term logging
    inference  loading an exported ``model.pt`` / Lightning ``.ckpt`` and enhancing a waveform
"""
