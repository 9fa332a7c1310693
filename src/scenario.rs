//! The scenario file: parse (serde + ron) and validate into a `ModelConfig`.
//!
//! `raw` mirrors the file; `build` checks the whole file and resolves names.
//! Every problem carries where it is (line:column or node name) and a hint.

mod build;
mod faults;
mod gateway;
pub mod limits;
pub mod path;
mod policy;
pub mod problem;
pub mod raw;
pub mod units;

use crate::model::config::ModelConfig;
pub use problem::{Locus, Problem, line_col, locate};

/// A scenario that parsed and validated, with its non-fatal warnings.
pub struct Loaded {
    pub model: ModelConfig,
    pub warnings: Vec<Problem>,
}

/// Parses and validates scenario text. `Err` holds every problem found.
pub fn parse(text: &str) -> Result<Loaded, Vec<Problem>> {
    let raw = parse_raw(text).map_err(|p| vec![p])?;
    let built = build::build(&raw)?;
    Ok(Loaded { model: built.model, warnings: built.warnings })
}

/// Parses only (no whole-file checks): the raw file types.
fn parse_raw(text: &str) -> Result<raw::Scenario, Problem> {
    // Some editors start UTF-8 files with a byte-order mark; it is not RON.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.trim().is_empty() {
        return Err(
            Problem::field("file", "the file is empty").hint("a scenario starts with Scenario(name: \"...\", ...)")
        );
    }
    let options = ron::Options::default()
        .with_default_extension(ron::extensions::Extensions::IMPLICIT_SOME)
        .with_recursion_limit(MAX_NESTING);
    options.from_str::<raw::Scenario>(text).map_err(|e| {
        let s = e.span;
        let message = match &e.code {
            // ron's wording names its own internals.
            ron::Error::ExceededRecursionLimit => format!("the file is nested more than {MAX_NESTING} levels deep"),
            code => code.to_string(),
        };
        Problem {
            message,
            hint: hint_for(&e.code),
            locus: Locus::Span { line: s.start.line, col: s.start.col, end_line: s.end.line, end_col: s.end.col },
        }
    })
}

/// Deepest nesting of parentheses and brackets a scenario may have (a
/// Mixture of Mixtures, say); deeper input is refused, not a stack overflow.
const MAX_NESTING: usize = 64;

fn hint_for(code: &ron::Error) -> Option<String> {
    use ron::Error as E;
    Some(match code {
        E::ExceededRecursionLimit => "a scenario needs a handful of levels; check for runaway nesting".into(),
        E::NoSuchStructField { expected, found, .. } => match build::closest(found, expected) {
            Some(c) => format!("did you mean `{c}`? The fields allowed here are: {}", expected.join(", ")),
            None => format!("the fields allowed here are: {}", expected.join(", ")),
        },
        E::MissingStructField { field, .. } => format!("add `{field}: ...` (see scenario-format.md)"),
        E::NoSuchEnumVariant { expected, .. } => format!("write one of: {}", expected.join(", ")),
        E::ExpectedDifferentStructName { expected, .. } => format!("write `{expected}(...)` here"),
        E::Eof => "the file ends too early: check for a missing ')' or ']'".into(),
        E::Utf8Error(_) => "the file must be UTF-8 text; is this a scenario file?".into(),
        E::IntegerOutOfBounds => "the number is too large (or negative) for this field".into(),
        _ => return None,
    })
}
