//! gatesim: a deterministic discrete-event simulator for API-gateway
//! architectures under failure.
//!
//! The pipeline: a scenario file is parsed and validated
//! ([`scenario::parse`]) into a [`model::ModelConfig`]; [`model::simulate`]
//! runs it on the event [`engine`]; [`metrics`] summarise what happened and
//! [`report`] turns results into files.
//!
//! ```
//! let text = r#"Scenario(name: "doc", seed: 1, duration: "2s",
//!     nodes: [
//!         Clients(name: "c", target: "s", load: Poisson(rps: 100),
//!                 mix: [(path: "/")], policy: (timeout: "1s")),
//!         Service(name: "s", workers: 2, queue: 10, work: Exp(mean: "1ms")),
//!     ])"#;
//! let loaded = gatesim::scenario::parse(text).expect("valid scenario");
//! let run = gatesim::model::simulate(loaded.model, &mut |_| {}).expect("runs");
//! let summary = gatesim::metrics::Summary::from_run(&run);
//! assert!(summary.requests.total > 100);
//! assert_eq!(summary.requests.total, summary.requests.ok + summary.requests.unfinished);
//! ```

pub mod batch;
pub mod chaos;
pub mod engine;
pub mod import;
pub mod mechanisms;
pub mod metrics;
pub mod model;
pub mod report;
pub mod scenario;
