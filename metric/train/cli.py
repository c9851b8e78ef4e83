"""``cdpam train``: the three training stages, configured with Hydra overrides.

What the user sees is :data:`DESCRIPTION` and :data:`EPILOG` (the examples).
"""

from __future__ import annotations

import argparse
import json
import sys

DESCRIPTION = """\
Train one stage of CDPAM (Manocha et al., ICASSP 2021, section 3.2) with PyTorch Lightning:
contrastive (a), JND (b) or triplet (c).

Settings are Hydra overrides: the group choices stage=contrastive|jnd|triplet,
data=toy|corpus|jnd|triplets, model=full|small|tiny and preset=toy_fast, and key=value for
any setting (--print-config shows them all). Resume after a crash or kill with resume=true.
Documentation: docs/training.md."""

EPILOG = """\
examples:
  cdpam train stage=contrastive data=toy trainer.max_epochs=2
  cdpam train stage=contrastive data=toy preset=toy_fast trainer.max_epochs=20 output_dir=runs/a
  cdpam train stage=jnd data=jnd data.jnd_root=/data/jnd stage.init_from=runs/a/cdpam_contrastive.pt
  cdpam train stage=contrastive data=toy resume=true          # after a crash or kill
  cdpam train stage=contrastive trainer.strategy=ddp trainer.devices=4 trainer.num_nodes=2
  cdpam train --print-config stage=triplet data=triplets data.csv=triplets.csv"""


def _main(args: argparse.Namespace) -> int:
    from .checkpointing import OutputDirError
    from .data import ConfigError
    from .runner import compose_config, run

    try:
        cfg = compose_config(args.overrides)
    except Exception as error:  # Hydra's own messages say which override is wrong
        print(f"cdpam train: bad configuration: {error}", file=sys.stderr)
        return 2
    if args.print_config:
        from omegaconf import OmegaConf

        print(OmegaConf.to_yaml(cfg))
        return 0
    try:
        summary = run(cfg, args.overrides)
    except (ConfigError, OutputDirError, FileNotFoundError) as error:
        print(f"cdpam train: {error}", file=sys.stderr)
        return 2
    if "export" in summary or "monotonicity" in summary:
        print(json.dumps(summary, indent=1, default=str))
    return 130 if summary.get("interrupted") else 0


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train CDPAM: contrastive (a), JND (b) and triplet (c) stages",
        description=DESCRIPTION,
        epilog=EPILOG,
    )
    parser.add_argument("--print-config", action="store_true", help="print the composed config and exit")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="Hydra overrides, e.g. stage=jnd trainer.max_epochs=2")
    parser.set_defaults(func=_main)
