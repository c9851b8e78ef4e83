"""Training CDPAM's three stages (Manocha et al., ICASSP 2021, §3.2) with PyTorch Lightning and Hydra.

* :mod:`.losses`        NT-Xent, judgment cross-entropy, margin ranking
* :mod:`.modules`       the Lightning modules of stages (a) contrastive, (b) jnd, (c) triplet
* :mod:`.data`          datasets per stage and data source, resumable sharded loading
* :mod:`.checkpointing` atomic checkpoints, output-folder checks
* :mod:`.evaluation`    noise monotonicity of a trained network
* :mod:`.runner`        compose the Hydra config (``conf/``) and run a stage
* :mod:`.cli`           ``cdpam train``

The network of every stage is :class:`metric.model.CDPAMNetwork` at the configured width
(``model.encoder_layers``, ``model.encoder_base_channels``); initial weights come from
:func:`metric.weights.load_parts` and exports are written with :func:`metric.weights.save_network`.

Example::

    from metric.train.runner import compose_config, run
    summary = run(compose_config(["stage=contrastive", "data=toy", "preset=toy_fast", "trainer.max_epochs=1"]))
"""

from metric.extras import require

require("train", feature="metric.train (`cdpam train`)")
