//! Scenarios from what people already run: `gatesim import` turns a
//! system description of another tool (an Envoy bootstrap, distributed
//! traces) into a commented scenario.
//!
//! Architecture Invariant: importers are text in, text out; they import
//! nothing from the crate. The CLI validates what they write with the
//! scenario layer like any file, so an importer cannot produce a model the
//! validator would refuse without the user being told.

pub mod envoy;
pub mod traces;

/// A scenario's text and what the user should know about it.
#[derive(Clone, Debug)]
pub struct Imported {
    pub scenario: String,
    pub warnings: Vec<String>,
}
