//! The simulated world: clients, balancers, gateways and services, and the
//! calls between them, driven by the engine through `world::World`.

pub mod budget;
mod calls;
mod clients;
pub mod config;
mod faults;
pub mod outcome;
mod server;
pub mod world;

pub use config::ModelConfig;
pub use outcome::Outcome;
pub use world::{RunOutput, simulate};
