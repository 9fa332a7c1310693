//! Pure resilience mechanisms: small deterministic state machines that take
//! `now: SimTime` (and an RNG where needed) as arguments.
//!
//! Circuit breakers (resilience4j's state machine and Envoy's thresholds), rate limiters, retry backoff and budgets, bulkheads
//! deadlines and load balancing. No clocks, no globals, no hash maps: the simulator
//! owns all state and drives every transition.

pub mod adaptive;
pub mod backoff;
pub mod balance;
pub mod breaker;
pub mod budget;
pub mod bulkhead;
pub mod deadline;
pub mod outlier;
pub mod rate_limit;
pub mod shed;
pub mod thresholds;

pub use backoff::{Backoff, Jitter};
pub use balance::{Balance, PickState};
pub use breaker::{Acquire, Breaker, BreakerConfig, BreakerState, BreakerWindow, Transition};
pub use budget::{BudgetConfig, RetryBudget};
pub use bulkhead::Bulkhead;
pub use deadline::Deadline;
pub use rate_limit::{Algorithm, Decision, LimitConfig, LimitState};
pub use thresholds::{Admission, RetryBudgetPct, ThresholdStats, Thresholds, ThresholdsConfig};
