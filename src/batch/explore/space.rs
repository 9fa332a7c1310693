//! The fault space the explorer searches: what can fail (every node but
//! the clients, every replica of a replicated node, every link a call
//! crosses), how (crash, hang, slowdown, errors, partition), when and for
//! how long, on a grid of whole time steps; and a fault as scenario text.

use rand::RngExt;
use serde::{Deserialize, Serialize};

use crate::engine::rng::SimRng;
use crate::model::config::{ModelConfig, NodeKind};

/// What a fault does, with its severity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Kind {
    Crash,
    Hang,
    /// CPU time multiplied by this factor.
    Slow(u32),
    /// Failure probability in percent.
    Errors(u32),
    Partition,
}

impl Kind {
    /// As a scenario file writes it.
    pub fn ron(self) -> String {
        match self {
            Kind::Crash => "Crash".into(),
            Kind::Hang => "Hang".into(),
            Kind::Slow(f) => format!("Slow(factor: {f})"),
            Kind::Errors(p) => format!("Errors(rate: {})", f64::from(p) / 100.0),
            Kind::Partition => "Partition".into(),
        }
    }

    /// A milder fault of the same kind, if there is one.
    pub fn milder(self) -> Option<Kind> {
        match self {
            Kind::Slow(f) if f > 2 => Some(Kind::Slow((f / 2).max(2))),
            Kind::Errors(p) if p > 5 => Some(Kind::Errors((p / 2).max(5))),
            _ => None,
        }
    }

    /// The kind without its severity, for telling findings apart.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Crash => "Crash",
            Kind::Hang => "Hang",
            Kind::Slow(_) => "Slow",
            Kind::Errors(_) => "Errors",
            Kind::Partition => "Partition",
        }
    }
}

/// Where a fault strikes, as a scenario names it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Target {
    /// "payments" (every replica) or "payments#0" (one).
    Node(String),
    /// The link between two nodes (a `Partition`).
    Link(String, String),
}

impl Target {
    pub fn label(&self) -> String {
        match self {
            Target::Node(n) => n.clone(),
            Target::Link(a, b) => format!("{a}<->{b}"),
        }
    }
}

/// One fault: target, kind, and its window in milliseconds of simulated time.
/// In JSON as a scenario names it: `target` ("users", "users#0") or
/// `link` (["a", "b"]), `kind` ("Slow(factor: 10)"), `at_s`, `duration_s`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(into = "FaultJson", try_from = "FaultJson")]
pub struct Fault {
    pub target: Target,
    pub kind: Kind,
    pub at_ms: u64,
    pub duration_ms: u64,
}

fn ms(v: u64) -> String {
    if v.is_multiple_of(1000) { format!("{}s", v / 1000) } else { format!("{v}ms") }
}

impl Fault {
    /// `Fault(target: "users", at: "20s", duration: "5s", kind: Crash)`.
    pub fn ron(&self) -> String {
        let place = match &self.target {
            Target::Node(n) => format!("target: {n:?}"),
            Target::Link(a, b) => format!("link: ({a:?}, {b:?})"),
        };
        format!(
            "Fault({place}, at: \"{}\", duration: \"{}\", kind: {})",
            ms(self.at_ms),
            ms(self.duration_ms),
            self.kind.ron()
        )
    }

    /// "users Crash at 20s for 2.5s".
    pub fn describe(&self) -> String {
        let secs = |v: u64| format!("{}s", (v as f64 / 1000.0));
        format!("{} {} at {} for {}", self.target.label(), self.kind.ron(), secs(self.at_ms), secs(self.duration_ms))
    }

    pub fn end_ms(&self) -> u64 {
        self.at_ms + self.duration_ms
    }
}

#[derive(Serialize, Deserialize)]
struct FaultJson {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    target: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    link: Option<(String, String)>,
    kind: String,
    at_s: f64,
    duration_s: f64,
}

impl From<Fault> for FaultJson {
    fn from(f: Fault) -> FaultJson {
        let (target, link) = match f.target {
            Target::Node(n) => (Some(n), None),
            Target::Link(a, b) => (None, Some((a, b))),
        };
        FaultJson {
            target,
            link,
            kind: f.kind.ron(),
            at_s: f.at_ms as f64 / 1000.0,
            duration_s: f.duration_ms as f64 / 1000.0,
        }
    }
}

impl TryFrom<FaultJson> for Fault {
    type Error = String;

    fn try_from(j: FaultJson) -> Result<Fault, String> {
        let target = match (j.target, j.link) {
            (Some(n), None) => Target::Node(n),
            (None, Some((a, b))) => Target::Link(a, b),
            _ => return Err("a fault has a target or a link".into()),
        };
        let number =
            |prefix: &str| -> Option<f64> { j.kind.strip_prefix(prefix)?.strip_suffix(')')?.trim().parse().ok() };
        let kind = match j.kind.as_str() {
            "Crash" => Kind::Crash,
            "Hang" => Kind::Hang,
            "Partition" => Kind::Partition,
            _ => match (number("Slow(factor:"), number("Errors(rate:")) {
                (Some(f), _) if (1.0..=1e6).contains(&f) => Kind::Slow(f as u32),
                (_, Some(r)) if (0.0..=1.0).contains(&r) => Kind::Errors((r * 100.0).round() as u32),
                _ => return Err(format!("unknown fault kind {:?}", j.kind)),
            },
        };
        let ms = |s: f64| -> Result<u64, String> {
            if s.is_finite() && (0.0..=1e9).contains(&s) {
                Ok((s * 1000.0).round() as u64)
            } else {
                Err(format!("{s} s is out of range"))
            }
        };
        Ok(Fault { target, kind, at_ms: ms(j.at_s)?, duration_ms: ms(j.duration_s)? })
    }
}

/// A list of faults as the value of a scenario's `faults`.
pub fn faults_ron(faults: &[Fault]) -> String {
    let items: Vec<String> = faults.iter().map(|f| format!("\n        {},", f.ron())).collect();
    format!("[{}\n    ]", items.concat())
}

/// The time frame faults are placed in, on a grid of `step_ms`.
#[derive(Clone, Copy, Debug)]
pub struct Frame {
    /// The first moment a fault may start: the end of the warm-up.
    pub start_ms: u64,
    /// The run's end.
    pub end_ms: u64,
    pub step_ms: u64,
}

impl Frame {
    pub fn of(model: &ModelConfig) -> Frame {
        let ms = |ns: u64| ns / 1_000_000;
        let end_ms = ms(model.duration.as_nanos());
        let start_ms = ms(model.warmup.as_nanos()).min(end_ms);
        // Whole report buckets, at least 100 ms and at most 1/40 of the run.
        let step_ms = ms(model.resolution.as_nanos()).clamp(100, (end_ms / 40).max(100));
        Frame { start_ms, end_ms, step_ms }
    }

    fn span(&self) -> u64 {
        self.end_ms.saturating_sub(self.start_ms)
    }

    fn round(&self, v: u64) -> u64 {
        (v / self.step_ms).max(1) * self.step_ms
    }

    /// The window of every single fault: starting a quarter into the
    /// measured time, lasting a quarter of it (at most 30 s), so that the
    /// rest shows whether the system recovers.
    pub fn single(&self) -> (u64, u64) {
        let at = self.start_ms + self.round(self.span() / 4);
        let duration = self.round((self.span() / 4).min(30_000));
        (at, duration)
    }

    /// The latest a fault of `duration` may start and leave a quarter of
    /// the measured time to recover.
    pub fn latest_start(&self, duration: u64) -> u64 {
        let latest = self.end_ms.saturating_sub(self.span() / 4).saturating_sub(duration);
        latest.max(self.start_ms)
    }

    /// A random window: a duration between one step and 40% of the span,
    /// starting at a random step, or inside `overlap` when given.
    pub fn draw(&self, rng: &mut SimRng, overlap: Option<(u64, u64)>) -> (u64, u64) {
        let steps = (self.span() * 2 / 5 / self.step_ms).max(1);
        let duration = rng.random_range(1..=steps) * self.step_ms;
        let latest = self.latest_start(duration);
        let at = match overlap {
            Some((from, until)) => {
                let hi = until.min(latest).max(from);
                self.start_ms + self.round(rng.random_range(from..=hi).saturating_sub(self.start_ms))
            }
            None => {
                let n = (latest - self.start_ms) / self.step_ms;
                self.start_ms + rng.random_range(0..=n) * self.step_ms
            }
        };
        (at.min(latest), duration)
    }
}

/// The kinds tried on every node and replica, at their default severity.
const NODE_KINDS: [Kind; 4] = [Kind::Crash, Kind::Hang, Kind::Slow(10), Kind::Errors(50)];

/// Severities the random search draws from.
const SLOW_FACTORS: [u32; 4] = [2, 5, 10, 20];
const ERROR_PERCENTS: [u32; 4] = [10, 30, 50, 90];

/// A kind like `k` with a random severity.
pub fn vary(k: Kind, rng: &mut SimRng) -> Kind {
    match k {
        Kind::Slow(_) => Kind::Slow(SLOW_FACTORS[rng.random_range(0..SLOW_FACTORS.len())]),
        Kind::Errors(_) => Kind::Errors(ERROR_PERCENTS[rng.random_range(0..ERROR_PERCENTS.len())]),
        other => other,
    }
}

/// Every (target, kind) the explorer tries on its own, in scenario order:
/// each node but the clients with every kind, then each replica of a
/// replicated node, then each link a call or a balancer crosses.
pub fn singles(model: &ModelConfig) -> Vec<(Target, Kind)> {
    let mut out = Vec::new();
    let servers: Vec<usize> =
        (0..model.nodes.len()).filter(|&i| !matches!(model.nodes[i].kind, NodeKind::Clients(_))).collect();
    for &i in &servers {
        for k in NODE_KINDS {
            out.push((Target::Node(model.nodes[i].name.clone()), k));
        }
    }
    for &i in &servers {
        let n = &model.nodes[i];
        if n.replicas > 1 {
            for r in 0..n.replicas {
                for k in NODE_KINDS {
                    out.push((Target::Node(format!("{}#{r}", n.name)), k));
                }
            }
        }
    }
    let mut links: Vec<(usize, usize)> = Vec::new();
    for e in &model.edges {
        for &inst in &e.targets {
            let to = model.instances[inst as usize].node as usize;
            let from = e.from as usize;
            if from != to && !links.contains(&(from, to)) {
                links.push((from, to));
            }
        }
    }
    for (a, b) in links {
        out.push((Target::Link(model.nodes[a].name.clone(), model.nodes[b].name.clone()), Kind::Partition));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fault_reads_back_from_json_as_a_scenario_names_it() {
        for (target, kind) in [
            (Target::Node("users#1".into()), Kind::Slow(10)),
            (Target::Node("gw".into()), Kind::Errors(45)),
            (Target::Link("a".into(), "b".into()), Kind::Partition),
        ] {
            let f = Fault { target, kind, at_ms: 12_500, duration_ms: 3_000 };
            let json = serde_json::to_string(&f).unwrap();
            assert!(json.contains("\"at_s\":12.5") && json.contains("\"duration_s\":3.0"), "{json}");
            assert_eq!(serde_json::from_str::<Fault>(&json).unwrap(), f);
        }
        let f = Fault {
            target: Target::Link("a".into(), "b".into()),
            kind: Kind::Partition,
            at_ms: 1000,
            duration_ms: 1500,
        };
        assert_eq!(f.ron(), r#"Fault(link: ("a", "b"), at: "1s", duration: "1500ms", kind: Partition)"#);
        assert!(serde_json::from_str::<Fault>(r#"{"kind":"Crash","at_s":1,"duration_s":1}"#).is_err());
        assert!(serde_json::from_str::<Fault>(r#"{"target":"x","kind":"Melt","at_s":1,"duration_s":1}"#).is_err());
    }

    #[test]
    fn milder_halves_severity_down_to_a_floor_and_stops() {
        let mut k = Kind::Slow(20);
        let mut seen = vec![k];
        while let Some(m) = k.milder() {
            k = m;
            seen.push(k);
        }
        assert_eq!(seen, [Kind::Slow(20), Kind::Slow(10), Kind::Slow(5), Kind::Slow(2)]);
        assert_eq!(Kind::Errors(50).milder(), Some(Kind::Errors(25)));
        assert_eq!(Kind::Crash.milder(), None);
    }

    #[test]
    fn drawn_windows_stay_on_the_grid_and_leave_time_to_recover() {
        let frame = Frame { start_ms: 5_000, end_ms: 65_000, step_ms: 1_000 };
        assert_eq!(frame.single(), (20_000, 15_000));
        let mut rng = crate::engine::rng::stream(1, "test", "frame", 0);
        for i in 0..500 {
            let overlap = (i % 2 == 0).then_some((20_000, 30_000));
            let (at, d) = frame.draw(&mut rng, overlap);
            assert!(at % 1_000 == 0 && d % 1_000 == 0 && d >= 1_000, "{at} {d}");
            assert!(at >= frame.start_ms && at + d <= frame.end_ms - 15_000, "{at} {d}");
        }
    }
}
