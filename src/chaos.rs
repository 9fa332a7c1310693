//! Chaos analysis: how a fault travelled through the system, computed from
//! the time series after the run (fault *behaviour* lives in
//! `model::faults`, because it is part of the simulated world).

pub mod cascade;
pub mod health;

pub use cascade::{Analysis, Cascade, Rules, Verdict, analyze};
