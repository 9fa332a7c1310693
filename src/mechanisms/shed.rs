//! Priority load shedding, as Stripe describes its "worker utilization load
//! shedder" (Stripe engineering blog, "Scaling your API with rate
//! limiters"): requests fall into four classes (critical API methods,
//! POSTs, GETs, test traffic), and as a server's workers fill up it sheds
//! the least important class first, so the critical ones keep their
//! capacity.
//!
//! Here a class is shed when the server's occupancy (requests in service
//! and queued, over its workers) is at or above that class's threshold, or
//! when the oldest queued request has waited at least that class's queue
//! delay threshold (the signal CoDel and Facebook's adaptive LIFO shed on:
//! queueing time, not queue length); critical requests are never shed
//! (only a full queue refuses them).

use crate::engine::time::SimDuration;

/// A request's class, most important first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    Critical,
    Post,
    Get,
    Test,
}

impl Priority {
    pub const ALL: [Priority; 4] = [Priority::Critical, Priority::Post, Priority::Get, Priority::Test];
}

/// Occupancy and queue delay at which each class is shed (`None`: never).
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct ShedConfig {
    pub test: Option<f64>,
    pub get: Option<f64>,
    pub post: Option<f64>,
    pub test_delay: Option<SimDuration>,
    pub get_delay: Option<SimDuration>,
    pub post_delay: Option<SimDuration>,
}

impl ShedConfig {
    /// Whether a request of `class` is admitted at `occupancy`
    /// ((busy + queued) / workers) while the oldest queued request has
    /// waited `oldest_wait` (zero with an empty queue).
    pub fn admits(&self, class: Priority, occupancy: f64, oldest_wait: SimDuration) -> bool {
        let (threshold, delay) = match class {
            Priority::Critical => (None, None),
            Priority::Post => (self.post, self.post_delay),
            Priority::Get => (self.get, self.get_delay),
            Priority::Test => (self.test, self.test_delay),
        };
        threshold.is_none_or(|t| occupancy < t) && delay.is_none_or(|d| oldest_wait < d)
    }

    /// Whether any queue-delay threshold is set (the caller then measures
    /// the oldest wait).
    pub fn watches_delay(&self) -> bool {
        self.test_delay.is_some() || self.get_delay.is_some() || self.post_delay.is_some()
    }

    /// The thresholds must not shed a more important class before a less
    /// important one: test <= get <= post, for occupancy and for delay.
    /// `Err` names the first pair out of order.
    pub fn check(&self) -> Result<(), String> {
        let occupancy = [("test", self.test), ("get", self.get), ("post", self.post)];
        if let Some((a, x, b, y)) = out_of_order(&occupancy) {
            return Err(format!("shed {a} at {x} but {b} at {y}: a less important class must go first"));
        }
        let delays = [("test_delay", self.test_delay), ("get_delay", self.get_delay), ("post_delay", self.post_delay)];
        if let Some((a, x, b, y)) = out_of_order(&delays) {
            return Err(format!("{a} is {x} but {b} is {y}: a less important class must go first"));
        }
        Ok(())
    }
}

/// The first pair of set thresholds (less important first) in the wrong
/// order, a class left out in between or not.
fn out_of_order<T: PartialOrd + Copy + std::fmt::Display>(
    order: &[(&'static str, Option<T>)],
) -> Option<(&'static str, T, &'static str, T)> {
    let set: Vec<(&'static str, T)> = order.iter().filter_map(|(n, v)| v.map(|v| (*n, v))).collect();
    set.windows(2).find(|w| w[0].1 > w[1].1).map(|w| (w[0].0, w[0].1, w[1].0, w[1].1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn critical_is_never_shed_and_test_goes_first() {
        let c = ShedConfig { test: Some(0.5), get: Some(0.8), post: Some(1.0), ..Default::default() };
        let z = SimDuration::ZERO;
        assert!(c.admits(Priority::Critical, 100.0, z));
        assert!(!c.admits(Priority::Test, 0.5, z) && c.admits(Priority::Test, 0.49, z));
        assert!(c.admits(Priority::Get, 0.7, z) && !c.admits(Priority::Get, 0.8, z));
        assert!(c.admits(Priority::Post, 0.99, z) && !c.admits(Priority::Post, 1.0, z));
        assert!(c.check().is_ok());
        assert!(ShedConfig { test: Some(0.9), get: Some(0.5), ..Default::default() }.check().is_err());
        // Out of order across a class left out, too.
        assert!(ShedConfig { test: Some(0.9), post: Some(0.5), ..Default::default() }.check().is_err());
    }

    #[test]
    fn queue_delay_sheds_a_class_once_the_oldest_request_waited_its_threshold() {
        let ms = SimDuration::from_millis;
        let c = ShedConfig { test_delay: Some(ms(20)), get_delay: Some(ms(100)), ..Default::default() };
        assert!(c.watches_delay());
        assert!(c.admits(Priority::Test, 50.0, ms(19)) && !c.admits(Priority::Test, 0.0, ms(20)));
        assert!(c.admits(Priority::Get, 0.0, ms(99)) && !c.admits(Priority::Get, 0.0, ms(100)));
        // No delay threshold for POSTs; critical requests are never shed.
        assert!(c.admits(Priority::Post, 0.0, ms(10_000)) && c.admits(Priority::Critical, 9.0, ms(10_000)));
        assert!(c.check().is_ok());
        let bad = ShedConfig { test_delay: Some(ms(200)), post_delay: Some(ms(100)), ..Default::default() };
        assert!(bad.check().is_err());
        assert!(!ShedConfig::default().watches_delay());
    }

    proptest! {
        // With ordered thresholds, whenever a class is admitted every more
        // important class is admitted too.
        #[test]
        fn shedding_respects_priority(
            t in 0.0f64..2.0, g in 0.0f64..2.0, p in 0.0f64..2.0, occ in 0.0f64..3.0,
            d in proptest::array::uniform3(0u64..1000), wait in 0u64..1200,
        ) {
            let mut v = [t, g, p];
            v.sort_by(f64::total_cmp);
            let mut d = d;
            d.sort_unstable();
            let ms = SimDuration::from_millis;
            let c = ShedConfig {
                test: Some(v[0]), get: Some(v[1]), post: Some(v[2]),
                test_delay: Some(ms(d[0])), get_delay: Some(ms(d[1])), post_delay: Some(ms(d[2])),
            };
            prop_assert!(c.check().is_ok());
            for w in Priority::ALL.windows(2) {
                prop_assert!(
                    !c.admits(w[1], occ, ms(wait)) || c.admits(w[0], occ, ms(wait)),
                    "{:?} admitted but not {:?}", w[1], w[0]
                );
            }
        }
    }
}
