//! Priority load shedding, as Stripe describes its "worker utilization load
//! shedder" (Stripe engineering blog, "Scaling your API with rate
//! limiters"): requests fall into four classes (critical API methods,
//! POSTs, GETs, test traffic), and as a server's workers fill up it sheds
//! the least important class first, so the critical ones keep their
//! capacity.
//!
//! Here a class is shed when the server's occupancy (requests in service
//! and queued, over its workers) is at or above that class's threshold;
//! critical requests are never shed (only a full queue refuses them).

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

/// Occupancy at which each class is shed (`None`: never).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ShedConfig {
    pub test: Option<f64>,
    pub get: Option<f64>,
    pub post: Option<f64>,
}

impl ShedConfig {
    /// Whether a request of `class` is admitted at `occupancy`
    /// ((busy + queued) / workers).
    pub fn admits(&self, class: Priority, occupancy: f64) -> bool {
        let threshold = match class {
            Priority::Critical => None,
            Priority::Post => self.post,
            Priority::Get => self.get,
            Priority::Test => self.test,
        };
        threshold.is_none_or(|t| occupancy < t)
    }

    /// The thresholds must not shed a more important class before a less
    /// important one: test <= get <= post. `Err` names the first pair out of order.
    pub fn check(&self) -> Result<(), String> {
        let order = [("test", self.test), ("get", self.get), ("post", self.post)];
        for w in order.windows(2) {
            if let ((a, Some(x)), (b, Some(y))) = (w[0], w[1])
                && x > y
            {
                return Err(format!("shed {a} at {x} but {b} at {y}: a less important class must go first"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn critical_is_never_shed_and_test_goes_first() {
        let c = ShedConfig { test: Some(0.5), get: Some(0.8), post: Some(1.0) };
        assert!(c.admits(Priority::Critical, 100.0));
        assert!(!c.admits(Priority::Test, 0.5) && c.admits(Priority::Test, 0.49));
        assert!(c.admits(Priority::Get, 0.7) && !c.admits(Priority::Get, 0.8));
        assert!(c.admits(Priority::Post, 0.99) && !c.admits(Priority::Post, 1.0));
        assert!(c.check().is_ok());
        assert!(ShedConfig { test: Some(0.9), get: Some(0.5), post: None }.check().is_err());
    }

    proptest! {
        // With ordered thresholds, whenever a class is admitted every more
        // important class is admitted too.
        #[test]
        fn shedding_respects_priority(t in 0.0f64..2.0, g in 0.0f64..2.0, p in 0.0f64..2.0, occ in 0.0f64..3.0) {
            let mut v = [t, g, p];
            v.sort_by(f64::total_cmp);
            let c = ShedConfig { test: Some(v[0]), get: Some(v[1]), post: Some(v[2]) };
            prop_assert!(c.check().is_ok());
            for w in Priority::ALL.windows(2) {
                prop_assert!(!c.admits(w[1], occ) || c.admits(w[0], occ), "{:?} admitted but not {:?}", w[1], w[0]);
            }
        }
    }
}
