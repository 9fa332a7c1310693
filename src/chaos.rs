//! Chaos analysis: how a fault travelled through the system, computed from
//! the time series after the run (fault *behaviour* lives in
//! `model::faults`, because it is part of the simulated world).

pub mod cascade;

pub use cascade::{Cascade, Rules, analyze};
