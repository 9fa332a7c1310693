//! Building the fault schedule and chaos settings, and the anti-pattern
//! warnings that `validate` prints.

use crate::engine::time::SimTime;
use crate::model::config::*;

use super::build::Builder;
use super::policy::dist;
use super::problem::Problem;
use super::raw;

impl Builder<'_> {
    pub(super) fn faults(&mut self) -> Vec<FaultSpec> {
        let mut out = Vec::new();
        for (i, f) in self.file.faults.iter().enumerate() {
            let field = format!("faults[{i}]");
            let at = SimTime(f.at.0.as_nanos());
            let until = at + f.duration.0;
            self.fault_timing(&field, f);
            let Some(kind) = self.fault_kind(&field, &f.kind) else { continue };
            if let Some((target, label)) = self.fault_target(&field, f, matches!(kind, FaultKind::Partition)) {
                out.push(FaultSpec { label, target, at, until, kind });
            }
        }
        out
    }

    /// A fault that is never active, or whose start the analysis cannot judge.
    fn fault_timing(&mut self, field: &str, f: &raw::Fault) {
        if f.duration.0.is_zero() {
            self.errors.push(
                Problem::field(field, "fault duration is 0: it would never be active").hint("e.g. duration: \"10s\""),
            );
        }
        let warmup = self.file.warmup.map_or(crate::engine::time::SimDuration::ZERO, |w| w.0);
        if f.at.0 < warmup && !f.duration.0.is_zero() {
            self.warnings.push(
                Problem::field(field, format!("fault starts at {}, inside the warm-up ({warmup})", f.at.0)).hint(
                    "the cascade compares with the system before the first fault, after the warm-up: start the fault after it",
                ),
            );
        }
        if f.at >= self.file.duration {
            self.warnings.push(Problem::field(
                field,
                format!("fault starts at {}, after the run ends ({})", f.at.0, self.file.duration.0),
            ));
        }
    }

    /// What a fault strikes: instances (`target`) or a link (a Partition's `link`).
    fn fault_target(&mut self, field: &str, f: &raw::Fault, is_partition: bool) -> Option<(FaultTarget, String)> {
        match (&f.target, &f.link) {
            (Some(_), Some(_)) => {
                self.errors.push(Problem::field(field, "a fault has either `target` or `link`, not both"));
                None
            }
            (None, None) => {
                self.errors
                    .push(Problem::field(field, "a fault needs a `target` (a node or \"node#i\") or a `link: (a, b)`"));
                None
            }
            (Some(t), None) => {
                if is_partition {
                    self.errors.push(
                        Problem::field(field, "Partition cuts a link: use link: (\"a\", \"b\") instead of target")
                            .at("Partition"),
                    );
                    return None;
                }
                let (node, insts) = self.fault_ref(field, t)?;
                if matches!(self.nodes[node as usize].kind, NodeKind::Clients(_)) {
                    self.warnings.push(
                        Problem::field(field, format!("\"{t}\" is a Clients node: a fault on it has no effect"))
                            .at(t)
                            .hint("put the fault on the node the clients call"),
                    );
                }
                Some((FaultTarget::Instances(insts), t.clone()))
            }
            (None, Some((a, b))) => {
                if !is_partition {
                    self.errors
                        .push(Problem::field(field, "only a Partition applies to a link; other faults take a target"));
                    return None;
                }
                let (Some((na, _)), Some((nb, _))) = (self.fault_ref(field, a), self.fault_ref(field, b)) else {
                    return None;
                };
                if !self.edges.iter().any(|e| (e.from == na && e.to == nb) || (e.from == nb && e.to == na)) {
                    self.warnings.push(Problem::field(
                        field,
                        format!("no node calls across the link ({a}, {b}): the partition has no effect"),
                    ));
                }
                Some((FaultTarget::Link(na, nb), format!("{a}->{b}")))
            }
        }
    }

    fn fault_ref(&mut self, field: &str, reference: &str) -> Option<(NodeId, Vec<InstId>)> {
        let before = self.errors.len();
        let r = self.resolve(field, reference);
        // Re-home resolve's node-scoped message onto the fault's field.
        for p in &mut self.errors[before..] {
            *p = Problem::field(field, p.message.clone()).at(reference).hint(p.hint.clone().unwrap_or_default());
        }
        r
    }

    fn fault_kind(&mut self, field: &str, kind: &raw::FaultKind) -> Option<FaultKind> {
        Some(match kind {
            raw::FaultKind::Crash => FaultKind::Crash,
            raw::FaultKind::Hang => FaultKind::Hang,
            raw::FaultKind::Slow { factor } => FaultKind::Slow { factor: factor.0 },
            raw::FaultKind::Latency { add } => match dist(add) {
                Ok(add) => FaultKind::Latency { add },
                Err(e) => {
                    self.errors.push(Problem::field(field, e));
                    return None;
                }
            },
            raw::FaultKind::Errors { rate } => FaultKind::Errors { rate: rate.0 },
            raw::FaultKind::Partition => FaultKind::Partition,
        })
    }

    pub(super) fn chaos(&mut self) -> Option<ChaosSpec> {
        let c = self.file.chaos.as_ref()?;
        let mut targets = Vec::new();
        for t in &c.targets {
            if let Some((node, _)) = self.fault_ref("chaos", t) {
                targets.push(node);
            }
        }
        if c.targets.is_empty() {
            self.errors.push(Problem::field("chaos", "chaos has no targets").at("targets"));
        }
        let min = super::limits::MIN_CHAOS_TIME;
        if c.mtbf.0 < min || c.mttr.0 < min {
            self.errors.push(
                Problem::field("chaos", format!("mtbf and mttr must be at least {min}"))
                    .hint("e.g. mtbf: \"2m\", mttr: \"20s\""),
            );
        }
        if c.kinds.is_empty() {
            self.errors.push(
                Problem::field("chaos", "chaos has no fault kinds")
                    .at("kinds")
                    .hint("e.g. kinds: [Crash, Slow(factor: 10)]"),
            );
        }
        let mut kinds = Vec::new();
        for k in &c.kinds {
            if matches!(k, raw::FaultKind::Partition) {
                self.errors
                    .push(Problem::field("chaos", "chaos cannot draw a Partition (it needs a link)").at("Partition"));
            } else if let Some(k) = self.fault_kind("chaos", k) {
                kinds.push(k);
            }
        }
        Some(ChaosSpec { targets, mtbf: c.mtbf.0, mttr: c.mttr.0, kinds })
    }

    /// Known anti-patterns: legal, but probably not what the author meant.
    pub(super) fn anti_patterns(&mut self) {
        let mut warnings = Vec::new();
        for e in &self.edges {
            let from = &self.nodes[e.from as usize].name;
            let to = &self.nodes[e.to as usize].name;
            let p = &e.policy;
            // A total_timeout (Envoy's route timeout) bounds the wait too.
            let unbounded = p.timeout.is_none() && p.total_timeout.is_none();
            if unbounded && !matches!(self.nodes[e.from as usize].kind, NodeKind::Balancer(_)) {
                warnings.push(
                    Problem::node(
                        from,
                        format!("the call {} has no timeout: if \"{to}\" hangs, the caller waits for ever", e.label),
                    )
                    .at(to)
                    .hint("add policy: (timeout: \"...\")"),
                );
            }
            if let Some(r) = &p.retry
                && r.max > 0
                && matches!(r.backoff, crate::mechanisms::backoff::Backoff::None)
                && r.budget.is_none()
                // Envoy's max_retries / retry_budget bound retries in flight.
                && p.thresholds.is_none()
            {
                warnings.push(
                    Problem::node(
                        from,
                        format!(
                            "{} retries at once with neither backoff nor budget: a retry storm waiting to happen",
                            e.label
                        ),
                    )
                    .at(to)
                    .hint("add backoff: Exponential(base: \"50ms\", cap: \"1s\", jitter: Full) or a budget"),
                );
            }
            if p.breaker.is_some() && p.timeout.is_none() {
                warnings.push(
                    Problem::node(
                        from,
                        format!("{} has a breaker but no timeout: hung trial calls can wedge it half-open", e.label),
                    )
                    .at(to),
                );
            }
        }
        self.warnings.extend(warnings);
    }
}
