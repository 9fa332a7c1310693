//! The integration tests: one binary (fast to build), one module per area.

mod util;

mod bad_input;
mod batch;
mod chaos;
mod cli;
mod conservation;
mod determinism;
mod docs;
mod envoy;
mod examples;
mod explore;
mod import;
mod limits;
mod queueing;
mod resilience;
mod routing;
mod tidy;
mod traces;
mod trust;
