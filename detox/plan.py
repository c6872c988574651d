"""What a Detox cycle decided: the plan a caller commits (or shows), and explanations.

Plain records (rows are named tuples: there are many); nothing here computes or writes anything.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, NamedTuple, Optional, Tuple


class Decision(NamedTuple):
    """One row: what happened to (some of) the block replicas of a dataset at a site, and why."""
    site: str
    dataset: str
    decision: str                       # delete | keep | protect
    blocks: Optional[Tuple[str, ...]]   # None: every block replica of the dataset replica; else sorted names
    size: int                           # bytes (physical) of the block replicas covered
    line: int                           # number of the policy line that decided
    text: str                           # that line as written


class Deletion(NamedTuple):
    """A deletion request to record: the block replicas go to the null group at commit."""
    site: str
    dataset: str
    blocks: Optional[Tuple[str, ...]]   # None: the whole dataset replica
    size: int


class HandOver(NamedTuple):
    """A block replica whose owner changes instead of being deleted (§7.4 step 5)."""
    site: str
    dataset: str
    block: str
    group: str


@dataclass(frozen=True)
class SiteSummary:
    site: str
    quota: int
    occupancy_before: float
    occupancy_after: float
    protected: int                      # bytes decided protect
    kept: int                           # bytes decided keep
    deleted: int                        # bytes decided delete
    handed_over: int                    # bytes handed over to another owner
    triggered: bool                     # When held at the start
    until_reached: bool                 # Until held when deletion stopped
    usage_before: int = 0               # bytes of the partition at the site before the cycle
    usage_after: int = 0                # and after its deletions and hand-overs


@dataclass
class Plan:
    partition: str
    policy_version: str
    now: float
    sites: List[SiteSummary]
    decisions: List[Decision]
    deletions: List[Deletion]
    handovers: List[HandOver]
    iterations: int
    replica_evaluations: int            # policy evaluations of a replica (the first pass: every replica)
    line_evaluations: int               # policy lines evaluated, over all replica evaluations
    timings: Dict[str, float]
    warnings: List[str]
    used_bytes: int                     # the partition's bytes at the target sites before the cycle
    deleted_bytes: int
    stopped: bool = False               # the safety valve refused the plan: commit nothing
    stop_reason: Optional[str] = None

    @property
    def may_commit(self) -> bool:
        return not self.stopped

    @property
    def ns_per_line_evaluation(self) -> float:
        seconds = self.timings.get('evaluate', 0.)
        return seconds * 1e9 / self.line_evaluations if self.line_evaluations else 0.


@dataclass(frozen=True)
class LineTrace:
    """One policy line as the explained replica met it in its last evaluation."""
    number: int
    text: str
    action: str
    block_level: bool
    matched: bool
    blocks: Optional[Tuple[str, ...]]   # block-level line: the blocks it covered
    values: Tuple[Tuple[str, Any], ...]  # (variable, value); a block variable gives {block: value}


@dataclass
class Explanation:
    site: str
    dataset: str
    in_image: bool
    reason: str                          # why it was not in the image, or '' when it was
    decisions: List[Decision] = field(default_factory=list)
    lines: List[LineTrace] = field(default_factory=list)
    iteration: int = 0                   # the iteration of the evaluation traced

    @property
    def deciding_lines(self) -> List[int]:
        return sorted({d.line for d in self.decisions})

    def as_text(self) -> str:
        """The explanation for a terminal (what `detox --explain SITE DATASET` prints)."""
        from policy.units import format_size, format_time
        from policy.variables import REPLICA_VARIABLES, Type

        def show(name, value):
            var = REPLICA_VARIABLES.get(name)
            kind = var.type if var is not None else None
            if isinstance(value, dict):
                return '{' + ', '.join(f'{k}: {show(name, v)}' for k, v in sorted(value.items())) + '}'
            if kind is Type.TIME and isinstance(value, (int, float)):
                return format_time(value)
            if kind is Type.SIZE and isinstance(value, (int, float)):
                return f'{value} B ({format_size(value)})'
            return repr(value) if isinstance(value, str) else str(value)

        if not self.in_image:
            return f'{self.dataset} at {self.site}: not considered: {self.reason}'
        out = [f'{self.dataset} at {self.site} (last evaluated in iteration {self.iteration}):']
        for d in self.decisions:
            blocks = 'all blocks' if d.blocks is None else ', '.join(d.blocks)
            out.append(f'  {d.decision} {blocks} ({d.size} B) by line {d.line}: {d.text}')
        out.append('lines, top to bottom:')
        for t in self.lines:
            verdict = 'matched' if t.matched else 'no match'
            if t.block_level and t.matched:
                verdict += f' ({", ".join(t.blocks)})'
            out.append(f'  {t.number}: {t.text}  -> {verdict}')
            for name, value in t.values:
                out.append(f'      {name} = {show(name, value)}')
        return '\n'.join(out)
