"""Datasets and corpus readers: the embedded toy corpus (``metric.data.toy``), corpus layouts,
perceptual pair/triplet datasets and their collate functions."""
