"""What the forgetting grid says: paired comparisons of arms on the same probe items, and the paper's claim.

The numbers come from `harness.records` (retention, McNemar's exact test); this module only words the verdict.
"""

from __future__ import annotations

from harness.mechanism.grid import REPRESENTATIONS, ArmResult, GridResult, probe_retention
from harness.records.stats import mcnemar_exact_p

ALPHA = 0.05


def paired_difference(a: ArmResult, b: ArmResult) -> tuple[int, int, float | None]:
    """McNemar's exact test on the paired probe items: (right only in a, right only in b, two-sided p); p is None
    when scipy (the `reports` extra) is not installed."""
    only_a = len(set(a.probe_correct) - set(b.probe_correct))
    only_b = len(set(b.probe_correct) - set(a.probe_correct))
    try:
        return only_a, only_b, mcnemar_exact_p(only_a, only_b)
    except ImportError:
        return only_a, only_b, None


def compare(a: ArmResult, b: ArmResult, base: ArmResult, alpha: float = ALPHA) -> str:
    """One line: does arm `a` keep more probe knowledge than arm `b`? With the paired test's verdict."""
    ra, rb = probe_retention(a, base), probe_retention(b, base)
    only_a, only_b, p = paired_difference(a, b)
    line = (f"{a.arm} {ra:.1f}% vs {b.arm} {rb:.1f}% retention (items right only in one: {only_a} vs {only_b}"
            + (f", McNemar exact p = {p:.3g})" if p is not None else "; install the reports extra for a p-value)"))
    if p is None:
        word = "more" if ra > rb else "less" if ra < rb else "as much"
        return f"{line}: {a.arm} keeps {word} knowledge (untested)"
    if p >= alpha:
        return f"{line}: no significant difference at p < {alpha:g}"
    return f"{line}: {a.arm} keeps {'more' if only_a > only_b else 'less'} knowledge (p < {alpha:g})"


def paper_claim(result: GridResult, alpha: float = ALPHA) -> list[str]:
    """The paper's claim tested on this grid, and the same comparison for the extension arms."""
    arms = {r.arm: r for r in result.arms}
    lines = []
    v, t = arms.get("verbalized-lora"), arms.get("least_likely-lora")
    if v and t:
        _, _, p = paired_difference(v, t)
        if p is None:
            verdict = "untested (no scipy)"
        elif p >= alpha:
            verdict = "NOT CONFIRMED here (no significant difference)"
        elif v.probe_accuracy > t.probe_accuracy:
            verdict = "CONSISTENT with the paper"
        else:
            verdict = "CONTRADICTS the paper"
        lines.append("paper's claim (LoRA on verbalized actions forgets less than on least-likely tokens): "
                     f"{verdict}: {compare(v, t, result.base, alpha)}")
    vf, tf = arms.get("verbalized-full"), arms.get("least_likely-full")
    if vf and tf:
        lines.append(f"extension, full fine-tuning: {compare(vf, tf, result.base, alpha)}")
    for rep in REPRESENTATIONS:
        lo, fu = arms.get(f"{rep}-lora"), arms.get(f"{rep}-full")
        if lo and fu:
            lines.append(f"extension, LoRA vs full on {rep}: {compare(lo, fu, result.base, alpha)}")
    return lines
