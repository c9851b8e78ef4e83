"""Datasets and corpus readers: the embedded toy corpus (``metric.data.toy``), corpus layouts,
perceptual pair/triplet datasets and their collate functions."""

# Corpus layouts that `metric.data.corpora.load_corpus` reads; here so that `cdpam data --help`
# lists them without importing the readers (and torch).
CORPUS_KINDS = ("folder", "librispeech", "vctk", "ljspeech")
