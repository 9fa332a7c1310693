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
mod recover;
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
    let raw = parse_raw(text)?;
    let built = build::build(&raw)?;
    Ok(Loaded { model: built.model, warnings: built.warnings })
}

/// Parses only (no whole-file checks): the raw file types. On failure,
/// the first error and those of every other node or fault that is wrong
/// on its own, in file order.
fn parse_raw(text: &str) -> Result<raw::Scenario, Vec<Problem>> {
    // Some editors start UTF-8 files with a byte-order mark; it is not RON.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.trim().is_empty() {
        return Err(vec![
            Problem::field("file", "the file is empty").hint("a scenario starts with Scenario(name: \"...\", ...)"),
        ]);
    }
    let options = ron::Options::default()
        .with_default_extension(ron::extensions::Extensions::IMPLICIT_SOME)
        .with_recursion_limit(MAX_NESTING);
    options.from_str::<raw::Scenario>(text).map_err(|e| {
        let first = problem_from_ron(text, &e, 0);
        let mut problems = vec![first.clone()];
        if !matches!(e.code, ron::Error::Eof | ron::Error::ExceededRecursionLimit) {
            problems.extend(recover::item_problems(text, &options).into_iter().filter(|p| p.locus != first.locus));
        }
        problems.sort_by_key(|p| match p.locus {
            Locus::Span { line, col, .. } => (line, col),
            _ => (0, 0),
        });
        problems
    })
}

/// A ron error as a problem; `base` is the byte offset in `text` where
/// the parsed piece began (0 for the whole file).
fn problem_from_ron(text: &str, e: &ron::error::SpannedError, base: usize) -> Problem {
    let (base_line, base_col) = line_col(text, base);
    let abs = |p: ron::error::Position| {
        if p.line <= 1 { (base_line, base_col + p.col.saturating_sub(1)) } else { (base_line + p.line - 1, p.col) }
    };
    let (line, col) = abs(e.span.start);
    let (end_line, end_col) = abs(e.span.end);
    let locus = Locus::Span { line, col, end_line, end_col };
    let offset = locate(text, &locus).map_or(text.len(), |(o, _)| o);
    if let Some(p) = recover::shape_problem(text, &e.code, offset, locus.clone()) {
        return p;
    }
    let message = match &e.code {
        // ron's wording names its own internals.
        ron::Error::ExceededRecursionLimit => format!("the file is nested more than {MAX_NESTING} levels deep"),
        code => code.to_string(),
    };
    Problem { message, hint: hint_for(&e.code), locus }
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
        E::MissingStructField { field, .. } => format!("add `{field}: ...` (see docs/scenario-reference.md)"),
        E::NoSuchEnumVariant { expected, .. } => format!("write one of: {}", expected.join(", ")),
        E::ExpectedDifferentStructName { expected, .. } => format!("write `{expected}(...)` here"),
        E::Eof => "the file ends too early: check for a missing ')' or ']'".into(),
        E::Utf8Error(_) => "the file must be UTF-8 text; is this a scenario file?".into(),
        E::IntegerOutOfBounds => "the number is too large (or negative) for this field".into(),
        _ => return None,
    })
}
