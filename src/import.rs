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

/// A node name gatesim accepts, from a name in another tool: letters,
/// digits, `-` and `_` (anything else becomes `-`), `fallback` if empty.
fn node_name(s: &str, fallback: &str) -> String {
    let n: String =
        s.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '-' }).collect();
    if n.is_empty() { fallback.into() } else { n }
}

/// A scenario's text and what the user should know about it.
#[derive(Clone, Debug)]
pub struct Imported {
    pub scenario: String,
    pub warnings: Vec<String>,
}
