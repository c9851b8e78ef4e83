"""MelGAN (Kumar et al., NeurIPS 2019) and MelGAN+CDPAM (Manocha et al., ICASSP 2021, §4.3).

Modules:
    mel          log-mel front end (the generator's conditioning features)
    generator    the fully convolutional mel-to-waveform generator
    discriminator  the multi-scale waveform discriminator
    losses       hinge GAN losses and feature matching
    perceptual   the CDPAM term of MelGAN+CDPAM
    data         manifests, corpora readers (toy, LJSpeech-1.1, VCTK-0.92), training segments
    checkpoint   atomic, resumable checkpoints and exported generators
    trainer      the training loop (single process or torch.distributed)
    metrics      evaluation measures: multi-resolution STFT distance, MCD, PESQ, CDPAM
    evaluation   held-out evaluation, tables, audio and spectrogram figure
"""
