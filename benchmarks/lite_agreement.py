"""How closely a distilled student (CDPAM-lite by default) agrees with the exact CDPAM, on audio it never saw.

Two test sets, both from the toy corpus' *test* speakers (no distillation run sees them):

1. **Held-out groups** (:class:`metric.data.distill.PerturbedGroups`): a clean excerpt and 7
   perturbed versions per group, drawn from every family that runs without extra input —
   including ``pink_noise``, ``opus`` and ``clipping``, which the distillation mix leaves
   out — at levels 0.1, 0.3, ..., 0.9 and 1.0, none of which is on the training grid.
   Reported: Spearman correlation of student vs teacher distances (clean vs perturbed, and
   every pair of a group), overall and per family; agreement with the teacher's preference
   on triplets (reference = the clean row, A and B = two perturbed rows of the group); the
   pairs where the two disagree most. 95 % CIs: bootstrap over groups.
2. **Monotonicity on the energy-controlled protocol** of ``cdpam evaluate``
   (:func:`metric.evaluate.testsets.build_monotonicity_set`: noise set as an SNR, one random
   gain per clip): the student's per-family monotonicity next to the teacher's. By default on
   every 0.75 s clip the test split gives (33 clips from its 15 recordings), with a 95 % CI of
   the student-minus-teacher difference from a paired bootstrap over the recordings (all clips
   of a recording move together: clips of one recording are not independent).

Every measure is also given for an *untrained* network of the student's architecture (seed 0)
with the teacher's loss-net: what distillation added over a random encoder.

The teacher's outputs are cached in ``--work-dir`` (the teacher pass dominates the cost), so a
rerun for another student costs only the student's passes. Prints markdown tables and writes
them with the raw numbers to ``--out`` (``.md`` and ``.json``).

    python benchmarks/lite_agreement.py                          # weights="lite"
    python benchmarks/lite_agreement.py --student runs/distill/cdpam_distill.pt --work-dir /tmp/agreement
    python benchmarks/lite_agreement.py --student runs/distill/cdpam_distill.pt --compare lite   # paired, against the shipped file
    python benchmarks/lite_agreement.py --contents 8                 # monotonicity on the first 8 clips only
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

from metric import CDPAM, CDPAMNetwork, load_network
from metric.data import toy
from metric.data.distill import DISTILL_LEVELS, PerturbedGroups
from metric.evaluate.bootstrap import bootstrap_ci
from metric.evaluate.monotonicity import monotonicity, paired_monotonicity_difference, spearman
from metric.evaluate.scorers import CDPAMScorer
from metric.evaluate.testsets import build_monotonicity_set, load_clips
from metric.perturb import FAMILIES, NEEDS_OPTIONS
from metric.train.runner import compose_config
from metric.train.teacher_cache import TeacherCache, all_pairs, build_teacher_cache, spec_families

TEST_LEVELS = (0.1, 0.3, 0.5, 0.7, 0.9, 1.0)
TEST_FAMILIES = tuple(f for f in FAMILIES if f not in NEEDS_OPTIONS)
TEST_SEED = 7


def training_families() -> list[str]:
    return list(compose_config(["stage=distill"]).stage.families)


def held_out_groups(size: int) -> PerturbedGroups:
    return PerturbedGroups(toy.utterances("test", 22050), sample_rate=22050, size=size, families=TEST_FAMILIES,
                           levels=TEST_LEVELS, seed=TEST_SEED)


def untrained_student(student_weights) -> CDPAMNetwork:
    """A network of the student's architecture, encoder initialised from seed 0, with the teacher's loss-net."""
    architecture = load_network(student_weights).architecture
    state = torch.random.get_rng_state()
    torch.manual_seed(0)
    network = CDPAMNetwork(**architecture)
    torch.random.set_rng_state(state)
    teacher = load_network("official")
    network.lossnet.load_state_dict(teacher.lossnet.state_dict())
    network.judgment.load_state_dict(teacher.judgment.state_dict())
    return network.eval()


def group_distances(student_weights, work_dir: Path, size: int) -> tuple[TeacherCache, np.ndarray, np.ndarray]:
    """The held-out cache and the student's and teacher's distances ``[groups, pairs]`` of every pair of each group."""
    cache_dir = work_dir / "held_out_groups"
    build_teacher_cache(held_out_groups(size), cache_dir, teacher="official")
    cache = TeacherCache(cache_dir, size=size)
    student = CDPAM(22050, weights=student_weights)
    teacher_lossnet = load_network("official").lossnet
    groups, rows = cache.audio.shape[:2]
    pairs = all_pairs(rows)
    with torch.no_grad():
        student_embedding = torch.stack([student.embed(cache[g]["audio"]) for g in range(groups)])
        d_student = torch.stack([student.distance_from_embeddings(student_embedding[g, pairs[:, 0]],
                                                                  student_embedding[g, pairs[:, 1]]) for g in range(groups)])
        d_teacher = torch.stack([teacher_lossnet(cache.embedding[g, pairs[:, 0]], cache.embedding[g, pairs[:, 1]])
                                 for g in range(groups)])
    return cache, d_student.double().numpy(), d_teacher.double().numpy()


class GroupMeasures:
    """Spearman and triplet agreement of one student's distances with the teacher's, on any subset of groups."""

    def __init__(self, d_student: np.ndarray, d_teacher: np.ndarray, rows: int):
        self.d_student, self.d_teacher = d_student, d_teacher
        pairs = all_pairs(rows)
        self.clean = (pairs[:, 0] == 0).numpy()  # pairs (clean row, perturbed row)
        self.column = {(int(i), int(j)): k for k, (i, j) in enumerate(pairs.tolist())}
        # Triplets: reference = clean row, A and B two perturbed rows; preference = the closer one.
        triplets = [(a, b) for a in range(1, rows) for b in range(a + 1, rows)]
        first = [self.column[(0, a)] for a, _ in triplets]
        second = [self.column[(0, b)] for _, b in triplets]
        self.ta = d_teacher[:, first] - d_teacher[:, second]
        self.sa = d_student[:, first] - d_student[:, second]

    def clean_spearman(self, index):
        return spearman(self.d_student[index][:, self.clean].ravel(), self.d_teacher[index][:, self.clean].ravel())

    def all_spearman(self, index):
        return spearman(self.d_student[index].ravel(), self.d_teacher[index].ravel())

    def triplet_agreement(self, index, margin=0.0):
        t, s = self.ta[index].ravel(), self.sa[index].ravel()
        decided = np.abs(t) > margin
        return float(np.mean(np.sign(t[decided]) == np.sign(s[decided]))) if decided.any() else float("nan")


def paired_comparison(student: GroupMeasures, other: GroupMeasures) -> dict:
    """Differences student - other on the same held-out groups, with 95 % CIs from one bootstrap over groups (paired)."""
    groups = student.d_student.shape[0]
    result = {}
    for name in ("clean_spearman", "all_spearman", "triplet_agreement"):
        mine, theirs = getattr(student, name), getattr(other, name)
        result[name] = {"student": mine(np.arange(groups)), "other": theirs(np.arange(groups)),
                        "difference": mine(np.arange(groups)) - theirs(np.arange(groups)),
                        "difference_ci": bootstrap_ci(lambda index: mine(index) - theirs(index), groups)}
    return result


def group_agreement(cache: TeacherCache, d_student: np.ndarray, d_teacher: np.ndarray, work_dir: Path) -> dict:
    """Every held-out group measure of one network, from :func:`group_distances`' result."""
    groups, rows = cache.audio.shape[:2]
    measures = GroupMeasures(d_student, d_teacher, rows)
    clean_spearman, all_spearman, triplet_agreement = measures.clean_spearman, measures.all_spearman, measures.triplet_agreement
    column, ta = measures.column, measures.ta
    seen = set(training_families())
    everything = np.arange(groups)
    # Per family: the clean-vs-perturbed distances of rows perturbed by that family alone.
    by_family: dict[str, list[tuple[int, int]]] = defaultdict(list)
    worst = []
    for g in range(groups):
        for row in range(1, rows):
            spec = cache.chains[g][row]
            names = spec_families(spec)
            key = names[0] if len(names) == 1 else "chains of 2"
            by_family[key].append((g, column[(0, row)]))
            ratio = float(np.log(d_student[g, column[(0, row)]] / d_teacher[g, column[(0, row)]]))
            worst.append((abs(ratio), ratio, spec, g))
    families = []
    for family, cells in sorted(by_family.items()):
        s = np.array([d_student[g, k] for g, k in cells])
        t = np.array([d_teacher[g, k] for g, k in cells])
        families.append({"family": family, "in_training": family in seen if family != "chains of 2" else None,
                         "pairs": len(cells), "spearman": spearman(s, t) if len(cells) > 2 else float("nan"),
                         "median_log_ratio": float(np.median(np.log(s / t)))})
    worst.sort(reverse=True)
    return {
        "groups": groups, "rows_per_group": rows, "levels": list(TEST_LEVELS), "training_levels": list(DISTILL_LEVELS),
        "families": list(TEST_FAMILIES), "held_out_families": sorted(set(TEST_FAMILIES) - seen),
        "spearman_clean_pairs": clean_spearman(everything), "spearman_clean_pairs_ci": bootstrap_ci(clean_spearman, groups),
        "spearman_all_pairs": all_spearman(everything), "spearman_all_pairs_ci": bootstrap_ci(all_spearman, groups),
        "triplets": int(ta.size), "triplet_agreement": triplet_agreement(everything),
        "triplet_agreement_ci": bootstrap_ci(triplet_agreement, groups),
        "triplet_agreement_clear": triplet_agreement(everything, margin=0.05),
        "triplets_clear": int((np.abs(ta) > 0.05).sum()),
        "per_family": families,
        "largest_disagreements": [{"chain": spec, "group": g, "log_student_over_teacher": r} for _, r, spec, g in worst[:8]],
        "teacher_cache": str(work_dir / "held_out_groups"),
    }


def monotonicity_agreement(networks: dict, work_dir: Path, contents: int | None, first: int | None = None) -> dict:
    """Per-family monotonicity of each of ``networks`` (name -> weights) beside the teacher's, on one test set.

    ``contents`` clips of the test split (``None``: every one it gives); the student-minus-teacher difference
    comes with a paired bootstrap CI over the recordings the clips were cut from. With ``first``, the same
    figures on the first ``first`` clips alone (the smaller sets earlier releases were measured on).
    Also returns each network's distances under ``"distances"`` (for paired comparisons between students).
    """
    clips = load_clips("toy", count=contents, seconds=0.75, sample_rate=16000)
    recording = {clip.key: clip.source for clip in clips}
    test_set = build_monotonicity_set(clips, sample_rate=16000, progress=False)
    info = test_set.info
    cached = work_dir / f"monotonicity_teacher_{len(clips)}.json"
    if cached.is_file():
        teacher = np.array(json.loads(cached.read_text()))
    else:
        teacher = CDPAMScorer("official").distances(test_set.clips, test_set.pairs, 16000, progress=False)
        cached.write_text(json.dumps(teacher.tolist()))
    levels, families = [i["level"] for i in info], [i["family"] for i in info]
    units = [recording[i["content"]] for i in info]
    args = (levels, families, [i["content"] for i in info])
    mono_t = monotonicity(teacher, *args)
    leading = {clip.key for clip in clips[:first]} if first else set()
    subset = np.array([i["content"] in leading for i in info])
    results, distances = {}, {}
    for name, weights in networks.items():
        student = CDPAMScorer(weights, name=name).distances(test_set.clips, test_set.pairs, 16000, progress=False)
        distances[name] = student
        mono_s = monotonicity(student, *args)
        paired = paired_monotonicity_difference(student, teacher, levels, families, units)
        results[name] = {"pairs": len(test_set.pairs), "contents": len(clips), "recordings": paired["units"],
                         "teacher": mono_t, "student": mono_s, "difference": mono_s["mono"] - mono_t["mono"],
                         "difference_ci": paired["ci"], "spearman_student_teacher": spearman(student, teacher)}
        if first:
            s_first = monotonicity(student[subset], np.asarray(levels)[subset], np.asarray(families)[subset])["mono"]
            t_first = monotonicity(teacher[subset], np.asarray(levels)[subset], np.asarray(families)[subset])["mono"]
            results[name]["first"] = {"contents": first, "student": s_first, "teacher": t_first, "difference": s_first - t_first}
    results["distances"], results["info"] = distances, {"levels": levels, "families": families, "units": units}
    return results


def paired_monotonicity(mono: dict, name: str, other: str) -> dict:
    """Monotonicity of network ``name`` minus network ``other`` on the same clips, paired bootstrap CI over recordings."""
    info = mono["info"]
    paired = paired_monotonicity_difference(mono["distances"][name], mono["distances"][other], info["levels"],
                                            info["families"], info["units"])
    return {"student": paired["first"], "other": paired["second"], "difference": paired["difference"], "difference_ci": paired["ci"]}


def _f(value, digits=3):
    return "n/a" if value is None or not np.isfinite(value) else f"{value:.{digits}f}"


def markdown(result: dict) -> str:
    g, m = result["groups"], result["monotonicity"]
    bg, bm = result["baseline"]["groups"], result["baseline"]["monotonicity"]

    def ci(values, scale=1.0, digits=3):
        return f"{_f(scale * values[0], digits)}..{_f(scale * values[1], digits)}"

    lines = [f"Student: `{result['student']}`; teacher: the official CDPAM; baseline: an untrained network of the student's "
             "architecture (seed 0) with the teacher's loss-net.", "",
             f"**Held-out groups**: {g['groups']} groups x {g['rows_per_group']} rows of 0.5 s from the toy test speakers; "
             f"levels {', '.join(f'{v:g}' for v in g['levels'])} (training grid: {', '.join(f'{v:g}' for v in g['training_levels'])}); "
             f"families not in training: {', '.join(g['held_out_families'])}. 95 % CIs: bootstrap over groups; monotonicity: "
             f"paired bootstrap over the {m['recordings']} test recordings its {m['contents']} clips were cut from.", "",
             "| measure | student | 95 % CI | untrained baseline | 95 % CI | target |", "|---|---|---|---|---|---|",
             f"| Spearman, clean vs perturbed distances ({g['groups'] * (g['rows_per_group'] - 1)} pairs) | {_f(g['spearman_clean_pairs'])} | "
             f"{ci(g['spearman_clean_pairs_ci'])} | {_f(bg['spearman_clean_pairs'])} | {ci(bg['spearman_clean_pairs_ci'])} | >= 0.95 |",
             f"| Spearman, every pair of a group | {_f(g['spearman_all_pairs'])} | {ci(g['spearman_all_pairs_ci'])} | "
             f"{_f(bg['spearman_all_pairs'])} | {ci(bg['spearman_all_pairs_ci'])} | |",
             f"| triplet preference agreement ({g['triplets']} triplets) | {_f(100 * g['triplet_agreement'], 1)} % | "
             f"{ci(g['triplet_agreement_ci'], 100, 1)} % | {_f(100 * bg['triplet_agreement'], 1)} % | {ci(bg['triplet_agreement_ci'], 100, 1)} % | >= 90 % |",
             f"| same, on the {g['triplets_clear']} triplets the teacher separates by > 0.05 | {_f(100 * g['triplet_agreement_clear'], 1)} % | | "
             f"{_f(100 * bg['triplet_agreement_clear'], 1)} % | | |",
             f"| monotonicity (teacher {_f(m['teacher']['mono'])}) | {_f(m['student']['mono'])} | | {_f(bm['student']['mono'])} | | |",
             f"| monotonicity difference, network - teacher ({m['contents']} clips) | {_f(m['difference'], 3)} | {ci(m['difference_ci'])} | "
             f"{_f(bm['difference'], 3)} | {ci(bm['difference_ci'])} | within 0.03 |",
             f"| Spearman with the teacher on the monotonicity set ({m['pairs']} pairs) | {_f(m['spearman_student_teacher'])} | | "
             f"{_f(bm['spearman_student_teacher'])} | | |",
             "", "Per family: clean vs perturbed distances of held-out rows perturbed by that family alone (few pairs each: "
             "read the overall rows first); monotonicity per family on the energy-controlled set.", "",
             "| family | in training mix | pairs | Spearman with teacher | untrained | median log(student / teacher) | "
             "teacher mono | student mono |", "|---|---|---|---|---|---|---|---|"]
    baseline_spearman = {row["family"]: row["spearman"] for row in bg["per_family"]}
    families = sorted({row["family"] for row in g["per_family"]} | set(m["teacher"]["per_family"]))
    rows = {row["family"]: row for row in g["per_family"]}
    for family in families:
        row = rows.get(family, {"in_training": None if "+" in family else family in set(training_families()), "pairs": 0,
                                "spearman": float("nan"),
                                "median_log_ratio": float("nan")})
        seen = {True: "yes", False: "**no**", None: "-"}[row["in_training"]]
        lines.append(f"| {family} | {seen} | {row['pairs']} | {_f(row['spearman'])} | {_f(baseline_spearman.get(family, float('nan')))} | "
                     f"{_f(row['median_log_ratio'], 2)} | {_f(m['teacher']['per_family'].get(family, float('nan')))} | "
                     f"{_f(m['student']['per_family'].get(family, float('nan')))} |")
    lines += ["", f"Monotonicity protocol: {m['pairs']} pairs ({m['contents']} clips of 0.75 s from {m['recordings']} recordings, "
              "toy test split, energy-controlled)."]
    if "first" in m:
        f = m["first"]
        lines += ["", f"On the first {f['contents']} of those clips alone: student {_f(f['student'])}, teacher {_f(f['teacher'])}, "
                  f"difference {_f(f['difference'])} (untrained: {_f(bm['first']['difference'])})."]
    lines += ["",
              "Largest disagreements (clean vs perturbed, |log(student / teacher)|):", "",
              "| chain | group | log(student / teacher) |", "|---|---|---|"]
    lines += [f"| `{d['chain']}` | {d['group']} | {_f(d['log_student_over_teacher'], 2)} |" for d in g["largest_disagreements"]]
    if "compare" in result:
        c, cm = result["compare"]["groups"], result["compare"]["monotonicity"]
        name = result["compare"]["student"]
        other = name if " " in name else f"`{name}`"  # a path or weights name in code style, a --compare-name as it is
        lines += ["", f"Against {other} on the same held-out groups and monotonicity set (difference = student - {other}; "
                  "95 % CI: paired bootstrap over groups; monotonicity: over recordings):", "",
                  f"| measure | student | {other} | difference | 95 % CI |", "|---|---|---|---|---|"]
        for key, label, scale, unit in (("clean_spearman", "Spearman, clean vs perturbed distances", 1, ""),
                                        ("all_spearman", "Spearman, every pair of a group", 1, ""),
                                        ("triplet_agreement", "triplet preference agreement", 100, " %")):
            row = c[key]
            digits = 1 if scale == 100 else 3
            lines.append(f"| {label} | {_f(scale * row['student'], digits)}{unit} | {_f(scale * row['other'], digits)}{unit} | "
                         f"{_f(scale * row['difference'], digits)}{unit} | {_f(scale * row['difference_ci'][0], digits)}.."
                         f"{_f(scale * row['difference_ci'][1], digits)}{unit} |")
        pm = result["compare"]["monotonicity_paired"]
        lines.append(f"| monotonicity (teacher {_f(m['teacher']['mono'])}) | {_f(pm['student'])} | "
                     f"{_f(pm['other'])} | {_f(pm['difference'])} | {_f(pm['difference_ci'][0])}..{_f(pm['difference_ci'][1])} |")
        lines.append(f"| Spearman with the teacher on the monotonicity set | {_f(m['spearman_student_teacher'])} | "
                     f"{_f(cm['spearman_student_teacher'])} | {_f(m['spearman_student_teacher'] - cm['spearman_student_teacher'])} | |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--student", default="lite", help="'lite' (default) or a checkpoint written by `cdpam train stage=distill`")
    parser.add_argument("--work-dir", type=Path, default=Path("lite_agreement"), help="teacher caches (reused by reruns)")
    parser.add_argument("--groups", type=int, default=32, help="held-out groups (8 rows of 0.5 s each)")
    parser.add_argument("--contents", default="all",
                        help="clips per monotonicity condition (as `cdpam evaluate`): a number, or 'all' (default: every 0.75 s "
                             "clip the test split gives)")
    parser.add_argument("--first", type=int, default=None,
                        help="also report monotonicity on the first FIRST clips alone (the set an earlier release was measured on)")
    parser.add_argument("--compare", default=None,
                        help="another student (e.g. an earlier release's file) to compare with, paired on the same held-out audio")
    parser.add_argument("--compare-name", default=None, help="how the tables name the --compare student (default: its path)")
    parser.add_argument("--out", type=Path, default=None, help="write the tables to OUT (.md) and the raw numbers beside it (.json)")
    args = parser.parse_args(argv)
    args.work_dir.mkdir(parents=True, exist_ok=True)
    baseline = untrained_student(args.student)
    networks = {"student": args.student, "untrained": baseline}
    if args.compare is not None:
        networks["compare"] = args.compare
    contents = None if args.contents == "all" else int(args.contents)
    mono = monotonicity_agreement(networks, args.work_dir, contents, args.first)
    held_out = {name: group_distances(weights, args.work_dir, args.groups) for name, weights in networks.items()}
    result = {"student": args.student, "groups": group_agreement(*held_out["student"], args.work_dir),
              "monotonicity": mono["student"],
              "baseline": {"groups": group_agreement(*held_out["untrained"], args.work_dir), "monotonicity": mono["untrained"]}}
    if args.compare is not None:
        cache, d_student, d_teacher = held_out["student"]
        _, d_other, _ = held_out["compare"]
        rows = cache.audio.shape[1]
        result["compare"] = {"student": args.compare_name or args.compare, "monotonicity": mono["compare"],
                             "monotonicity_paired": paired_monotonicity(mono, "student", "compare"),
                             "groups": paired_comparison(GroupMeasures(d_student, d_teacher, rows), GroupMeasures(d_other, d_teacher, rows))}
    text = markdown(result)
    print(text)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.with_suffix(".md").write_text(text)
        args.out.with_suffix(".json").write_text(json.dumps(result, indent=1, default=float) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
