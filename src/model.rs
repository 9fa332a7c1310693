//! The simulated world: clients, balancers, gateways and services, the
//! calls between them, and the faults that strike them, driven by the
//! engine through `world::World`. Each part owns its state:
//! `clients`, `calls` (calls, attempts, callers' edge state), `servers`
//! (instances and jobs; gateway specifics in `gateway`), `network`,
//! `faults` (and health checks, chaos), `record` (what the run measured).

pub mod budget;
mod build;
mod calls;
mod clients;
pub mod config;
mod faults;
mod gateway;
pub mod latency;
mod network;
pub mod outcome;
pub mod record;
mod servers;
pub mod trace;
mod world;

pub use calls::{BreakerAtEnd, PanicAtEnd, PanicLog};
pub use config::ModelConfig;
pub use faults::{ChaosEpisode, HealthEvent, MAX_LISTED_CHAOS};
pub use outcome::Outcome;
pub use world::{RunOutput, simulate};
