//! Friendlier parse errors, and more than one of them.
//!
//! ron stops at the first error and words it in its own terms ("Expected
//! identifier", "invalid std identifier"). Two things make that kinder
//! without giving up ron's exact positions:
//! - `shape_problem`: when the error sits inside the arguments of a
//!   variant the scenario format knows (`Errors(0.5)`, `Exp("1ms")`), the
//!   message shows how that variant is written;
//! - `item_problems`: every item of `nodes: [...]` and `faults: [...]` is
//!   parsed on its own as well, so that one mistyped node does not hide
//!   the problems of the others.
//!
//! Both use a small scanner over the text (strings and comments skipped,
//! brackets matched): ron has no partial or error-recovering parser to
//! ask, and the scanner only needs to find brackets, not to parse values.

use super::problem::{Locus, Problem};

/// How each variant with arguments is written, keyed by its name.
const SHAPES: &[(&str, &str)] = &[
    ("Const", r#"Const("5ms")"#),
    ("Exp", r#"Exp(mean: "8ms")"#),
    ("Uniform", r#"Uniform(min: "1ms", max: "3ms")"#),
    ("LogNormal", r#"LogNormal(median: "5ms", p99: "40ms")"#),
    ("Mixture", r#"Mixture([(0.99, Const("10ms")), (0.01, Const("1s"))])"#),
    ("Poisson", "Poisson(rps: 2000)"),
    ("Closed", r#"Closed(users: 200, think: Exp(mean: "1s"))"#),
    ("Profile", r#"Profile([(at: "0s", rps: 500), (at: "20s", rps: 3000)])"#),
    ("Slow", "Slow(factor: 20)"),
    ("Latency", r#"Latency(add: Const("200ms"))"#),
    ("Errors", "Errors(rate: 0.3)"),
    ("TokenBucket", "TokenBucket(burst: 20)"),
    ("Count", "Count(20)"),
    ("Time", r#"Time("10s")"#),
    ("Constant", r#"Constant("100ms")"#),
    ("Exponential", r#"Exponential(base: "50ms", cap: "1s", jitter: Full)"#),
    ("Local", r#"auth: Local(verify: Const("50us")), or store: Local (no arguments)"#),
    ("Remote", r#"Remote(service: "auth", cache_ttl: "60s")"#),
    ("Shared", r#"Shared(node: "redis", fail_open: true)"#),
    ("Cached", r#"Cached(latency: Const("1ms"))"#),
    ("Static", r#"Static(latency: Const("1ms"))"#),
    ("Route", r#"routes: Route(prefix: "/api/users", to: "users"), or scope: Route("POST /api/orders")"#),
    ("Aggregate", r#"Aggregate(path: "/api/dashboard", calls: ["users", "orders"], partial: Degrade)"#),
    ("Call", r#"Call(to: "users", policy: (timeout: "300ms"))"#),
    ("Parallel", r#"Parallel([Call(to: "a"), Call(to: "b")])"#),
    ("Breaker", r#"Breaker(window: Count(20), min_calls: 10, failure_rate: 0.5, open_for: "5s", half_open_calls: 3)"#),
    ("RateLimit", r#"RateLimit(scope: PerUser, limit: 100, per: "1m", algorithm: TokenBucket(burst: 20))"#),
    ("Fault", r#"Fault(target: "users", at: "20s", duration: "30s", kind: Slow(factor: 20))"#),
    ("Chaos", r#"Chaos(targets: ["users"], mtbf: "2m", mttr: "20s", kinds: [Crash])"#),
    ("Clients", r#"Clients(name: "web", target: "gw", load: Poisson(rps: 100), mix: [(path: "/")])"#),
    ("LoadBalancer", r#"LoadBalancer(name: "lb", targets: ["gw"])"#),
    ("Gateway", r#"Gateway(name: "gw", workers: 64, queue: 1024, routes: [Route(prefix: "/", to: "api")])"#),
    ("Service", r#"Service(name: "api", workers: 16, queue: 256, work: Exp(mean: "8ms"))"#),
];

fn shape_of(name: &str) -> Option<&'static str> {
    SHAPES.iter().find(|(n, _)| *n == name).map(|(_, s)| *s)
}

/// ron errors that mean "this value does not have the shape I expected".
fn is_shape_error(code: &ron::Error) -> bool {
    use ron::Error as E;
    matches!(
        code,
        E::ExpectedIdentifier
            | E::ExpectedString
            | E::InvalidIdentifier(_)
            | E::SuggestRawIdentifier(_)
            | E::ExpectedInteger
            | E::ExpectedFloat
            | E::ExpectedStructLike
            | E::ExpectedNamedStructLike(_)
            | E::ExpectedStructLikeEnd
            | E::ExpectedUnit
            | E::ExpectedArray
            | E::ExpectedMapColon
            | E::InvalidValueForType { .. }
            | E::ExpectedDifferentLength { .. }
    )
}

/// A scanner event: an opening bracket (with the identifier right before
/// it, for `(`), or a closing one.
#[derive(Debug)]
enum Tok<'a> {
    Open { at: usize, name: Option<&'a str>, paren: bool },
    Close { at: usize },
}

/// The brackets of `text` outside strings and comments, in order.
fn brackets(text: &str) -> Vec<Tok<'_>> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'"' => {
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'/' if b.get(i + 1) == Some(&b'/') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i + 1 < b.len() && !(b[i] == b'*' && b[i + 1] == b'/') {
                    i += 1;
                }
                i += 1;
            }
            b'(' | b'[' => {
                let name = (b[i] == b'(').then(|| ident_before(text, i)).flatten();
                out.push(Tok::Open { at: i, name, paren: b[i] == b'(' });
            }
            b')' | b']' => out.push(Tok::Close { at: i }),
            _ => {}
        }
        i += 1;
    }
    out
}

/// The identifier that ends right before `at` (spaces allowed between).
fn ident_before(text: &str, at: usize) -> Option<&str> {
    let before = text[..at].trim_end();
    // Past the last character that cannot be in an identifier (which may
    // be several bytes long: `é` in `Sérvice(`).
    let start = before
        .char_indices()
        .rev()
        .find(|(_, c)| !(c.is_ascii_alphanumeric() || *c == '_'))
        .map_or(0, |(i, c)| i + c.len_utf8());
    let word = &before[start..];
    (!word.is_empty() && word.as_bytes()[0].is_ascii_alphabetic()).then_some(word)
}

/// The name of the innermost `Name(` still open at byte `offset`, and
/// where its `(` is.
fn enclosing_variant(text: &str, offset: usize) -> Option<(&str, usize)> {
    let mut stack: Vec<Option<(&str, usize)>> = Vec::new();
    for tok in brackets(text) {
        match tok {
            Tok::Open { at, .. } | Tok::Close { at } if at >= offset => break,
            Tok::Open { name, paren, at } => stack.push(if paren { name.map(|n| (n, at)) } else { None }),
            Tok::Close { .. } => {
                stack.pop();
            }
        }
    }
    stack.pop().flatten()
}

/// For an error at the first argument of a known variant (or right after
/// its name, where the arguments are missing): a message that shows how
/// the variant is written. An error further in (a field's value) keeps
/// ron's own message, which names that field's type.
pub(super) fn shape_problem(text: &str, code: &ron::Error, offset: usize, locus: Locus) -> Option<Problem> {
    if !is_shape_error(code) {
        return None;
    }
    let just_before = ident_before(text, offset.min(text.len())).filter(|w| shape_of(w).is_some());
    let at_first_argument = || {
        enclosing_variant(text, offset)
            .filter(|(_, open)| text.get(open + 1..offset).is_some_and(|s| s.trim().is_empty()))
            .map(|(name, _)| name)
    };
    let name = just_before.or_else(at_first_argument)?;
    let shape = shape_of(name)?;
    Some(Problem {
        message: format!("`{name}` is not written like this: the parser {}", expected_words(code)),
        hint: Some(format!("write {shape}")),
        locus,
    })
}

/// ron's complaint in plain words.
fn expected_words(code: &ron::Error) -> String {
    use ron::Error as E;
    match code {
        E::ExpectedIdentifier => "expected a field name".into(),
        E::ExpectedString => "expected a quoted value".into(),
        E::InvalidIdentifier(found) | E::SuggestRawIdentifier(found) => {
            format!("expected a field name, found `{found}`")
        }
        E::ExpectedInteger => "expected a whole number".into(),
        E::ExpectedFloat => "expected a number".into(),
        E::ExpectedUnit => "expected no arguments".into(),
        E::ExpectedArray => "expected a list [...]".into(),
        E::ExpectedStructLike | E::ExpectedNamedStructLike(_) => "expected its arguments in (...)".into(),
        _ => "found something else".into(),
    }
}

/// The items of the top-level list `field: [...]`: byte ranges of each
/// top-level element (from its first to its last character).
fn list_items(text: &str, field: &str) -> Vec<(usize, usize)> {
    let toks = brackets(text);
    // The list opens at the first `[` after `field:` at nesting depth 1
    // (inside `Scenario(`).
    let mut depth = 0usize;
    let mut open = None;
    for (k, tok) in toks.iter().enumerate() {
        match *tok {
            Tok::Open { at, paren, .. } => {
                if depth == 1 && !paren && text[..at].trim_end().ends_with(':') {
                    let key = text[..at].trim_end().trim_end_matches(':').trim_end();
                    if key.ends_with(field) && ident_before(key, key.len()).is_none_or(|w| w == field) {
                        open = Some(k);
                        break;
                    }
                }
                depth += 1;
            }
            Tok::Close { .. } => depth = depth.saturating_sub(1),
        }
    }
    let Some(open) = open else { return Vec::new() };
    let Tok::Open { at: list_at, .. } = toks[open] else { return Vec::new() };
    let mut items = Vec::new();
    let mut depth = 0usize;
    let mut start = None;
    for tok in &toks[open + 1..] {
        match *tok {
            Tok::Open { at, .. } => {
                if depth == 0 {
                    // The item starts at its variant name, if any.
                    let name_len = ident_before(text, at).map_or(0, str::len);
                    let from = text[..at].trim_end().len() - name_len;
                    start = Some(from.max(list_at + 1));
                }
                depth += 1;
            }
            Tok::Close { .. } if depth == 0 => break,
            Tok::Close { at } => {
                depth -= 1;
                if depth == 0
                    && let Some(s) = start.take()
                {
                    items.push((s, at + 1));
                }
            }
        }
    }
    items
}

/// Parses every node and fault on its own, and returns the problems found,
/// with positions in the whole file. Used after the whole file failed, so
/// that the other items' mistakes are told in the same pass.
pub(super) fn item_problems(text: &str, options: &ron::Options) -> Vec<Problem> {
    let mut problems = Vec::new();
    for (field, is_node) in [("nodes", true), ("faults", false)] {
        for (from, to) in list_items(text, field) {
            let item = &text[from..to];
            let result = if is_node {
                options.from_str::<super::raw::Node>(item).map(drop)
            } else {
                options.from_str::<super::raw::Fault>(item).map(drop)
            };
            if let Err(e) = result {
                problems.push(super::problem_from_ron(text, &e, from));
            }
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_innermost_variant_outside_strings_and_comments() {
        let text = r#"Fault(kind: Errors(/* ( */ "(", 0.5))"#;
        let at = text.find("0.5").unwrap();
        assert_eq!(enclosing_variant(text, at).map(|v| v.0), Some("Errors"));
        assert_eq!(enclosing_variant(text, text.find("kind").unwrap()).map(|v| v.0), Some("Fault"));
    }

    #[test]
    fn lists_the_items_of_a_top_level_list() {
        let text = "Scenario(name: \"x\", nodes: [A(a: [1]), // c )\n B(b: \"]\"), ], faults: [F(x: 1)])";
        let items: Vec<&str> = list_items(text, "nodes").into_iter().map(|(a, b)| &text[a..b]).collect();
        assert_eq!(items, ["A(a: [1])", "B(b: \"]\")"]);
        let faults: Vec<&str> = list_items(text, "faults").into_iter().map(|(a, b)| &text[a..b]).collect();
        assert_eq!(faults, ["F(x: 1)"]);
    }
}
