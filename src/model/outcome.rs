//! How a request (or one attempt, or one node's answer) ends.

/// Exactly one per finished request; see `outputs.md`. Serialised by its
/// `key` (the output files' vocabulary).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[repr(u8)]
pub enum Outcome {
    Ok = 0,
    Partial,
    Fallback,
    Error,
    Timeout,
    RateLimited,
    Unauthorized,
    NotFound,
    Rejected,
    ShortCircuited,
    Unavailable,
}

impl Outcome {
    pub const COUNT: usize = 11;
    pub const ALL: [Outcome; Outcome::COUNT] = [
        Outcome::Ok,
        Outcome::Partial,
        Outcome::Fallback,
        Outcome::Error,
        Outcome::Timeout,
        Outcome::RateLimited,
        Outcome::Unauthorized,
        Outcome::NotFound,
        Outcome::Rejected,
        Outcome::ShortCircuited,
        Outcome::Unavailable,
    ];

    /// The snake_case name used in summary.json and timeseries.csv.
    pub const fn key(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Partial => "partial",
            Outcome::Fallback => "fallback",
            Outcome::Error => "error",
            Outcome::Timeout => "timeout",
            Outcome::RateLimited => "rate_limited",
            Outcome::Unauthorized => "unauthorized",
            Outcome::NotFound => "not_found",
            Outcome::Rejected => "rejected",
            Outcome::ShortCircuited => "short_circuited",
            Outcome::Unavailable => "unavailable",
        }
    }

    /// The user got a useful answer (possibly degraded).
    #[inline]
    pub const fn is_success(self) -> bool {
        matches!(self, Outcome::Ok | Outcome::Partial | Outcome::Fallback)
    }

    /// A server-side failure: what breakers count and fallbacks replace.
    /// Client errors (401, 404, 429) are the caller's problem, not the callee's.
    #[inline]
    pub const fn is_server_failure(self) -> bool {
        matches!(
            self,
            Outcome::Error | Outcome::Timeout | Outcome::Rejected | Outcome::ShortCircuited | Outcome::Unavailable
        )
    }

    /// A client error (401, 404, 429): the caller's doing, neither a
    /// success nor a server failure.
    #[inline]
    const fn is_client_error(self) -> bool {
        matches!(self, Outcome::RateLimited | Outcome::Unauthorized | Outcome::NotFound)
    }

    /// What a node that composes answers (a service, an aggregate) reports
    /// when a dependency failed: a timeout stays a timeout (504), anything
    /// else becomes a 5xx error.
    #[inline]
    pub const fn as_dependency_failure(self) -> Outcome {
        match self {
            Outcome::Timeout => Outcome::Timeout,
            _ => Outcome::Error,
        }
    }

    /// How degraded a successful answer is: Ok < Fallback < Partial.
    #[inline]
    pub const fn degradation(self) -> u8 {
        match self {
            Outcome::Ok => 0,
            Outcome::Fallback => 1,
            Outcome::Partial => 2,
            _ => 3,
        }
    }
}

/// A small set of outcomes (which ones a retry policy retries).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OutcomeSet(u16);

impl OutcomeSet {
    pub fn of(outcomes: &[Outcome]) -> Self {
        OutcomeSet(outcomes.iter().fold(0, |bits, o| bits | (1 << *o as u8)))
    }
    #[inline]
    pub fn contains(self, o: Outcome) -> bool {
        self.0 & (1 << o as u8) != 0
    }
    pub fn insert(&mut self, o: Outcome) {
        self.0 |= 1 << o as u8;
    }
}

/// Outcome counts, indexed by `Outcome as usize`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OutcomeCounts(pub [u64; Outcome::COUNT]);

impl OutcomeCounts {
    #[inline]
    pub fn add(&mut self, o: Outcome) {
        self.0[o as usize] += 1;
    }
    pub fn get(&self, o: Outcome) -> u64 {
        self.0[o as usize]
    }
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }
    /// Error, timeout, 503, short-circuit, unavailable: the callee's fault.
    pub fn server_failures(&self) -> u64 {
        Outcome::ALL.iter().filter(|o| o.is_server_failure()).map(|o| self.get(*o)).sum()
    }
    /// The caller's own faults (401, 404, 429): neither a success nor a
    /// failure of the server, left out of failure shares (as the SLO does).
    pub fn client_errors(&self) -> u64 {
        Outcome::ALL.iter().filter(|o| o.is_client_error()).map(|o| self.get(*o)).sum()
    }
    pub fn successes(&self) -> u64 {
        Outcome::ALL.iter().filter(|o| o.is_success()).map(|o| self.get(*o)).sum()
    }
    pub fn merge(&mut self, other: &OutcomeCounts) {
        for (a, b) in self.0.iter_mut().zip(other.0.iter()) {
            *a += b;
        }
    }
}
