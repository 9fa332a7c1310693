//! A problem found in a scenario (error or warning), and where it is.

use std::fmt;

/// Where a problem is, as precisely as it is known.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Locus {
    /// A span reported by the parser (1-based line and column).
    Span { line: usize, col: usize, end_line: usize, end_col: usize },
    /// Inside node `node`; `needle` (if any) is the offending text in it.
    Node { node: String, needle: Option<String> },
    /// A top-level field (`duration`, `faults[2]`, ...); `needle` as above.
    Field { field: String, needle: Option<String> },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub message: String,
    pub hint: Option<String>,
    pub locus: Locus,
}

/// Problems with the same message told once, at the first place, with how
/// many times it occurred ("... (100000 times)"): a 100,000-call fan-out
/// with no timeouts is one warning, not 100,000.
pub fn dedup(problems: Vec<Problem>) -> Vec<Problem> {
    let mut first: std::collections::BTreeMap<(String, Option<String>), usize> = Default::default();
    let mut out: Vec<(Problem, usize)> = Vec::new();
    for p in problems {
        match first.entry((p.message.clone(), p.hint.clone())) {
            std::collections::btree_map::Entry::Occupied(e) => out[*e.get()].1 += 1,
            std::collections::btree_map::Entry::Vacant(e) => {
                e.insert(out.len());
                out.push((p, 1));
            }
        }
    }
    out.into_iter()
        .map(|(mut p, n)| {
            if n > 1 {
                p.message = format!("{} ({n} times)", p.message);
            }
            p
        })
        .collect()
}

impl Problem {
    pub fn node(node: &str, message: impl Into<String>) -> Self {
        Problem { message: message.into(), hint: None, locus: Locus::Node { node: node.to_string(), needle: None } }
    }
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        Problem { message: message.into(), hint: None, locus: Locus::Field { field: field.to_string(), needle: None } }
    }
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
    /// Points at this text inside the node or field (for line:column).
    pub fn at(mut self, text: &str) -> Self {
        match &mut self.locus {
            Locus::Node { needle, .. } | Locus::Field { needle, .. } => *needle = Some(text.to_string()),
            Locus::Span { .. } => {}
        }
        self
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.locus {
            Locus::Span { line, col, .. } => write!(f, "{line}:{col}: {}", self.message)?,
            Locus::Node { node, .. } => write!(f, "node \"{node}\": {}", self.message)?,
            Locus::Field { field, .. } => write!(f, "{field}: {}", self.message)?,
        }
        if let Some(h) = &self.hint {
            write!(f, " (hint: {h})")?;
        }
        Ok(())
    }
}

/// Finds the byte range a problem refers to in the source text: a parser
/// span directly; for a node, the quoted needle after the node's
/// `name: "..."` (or the name itself); for a field, the needle or the field.
pub fn locate(source: &str, locus: &Locus) -> Option<(usize, usize)> {
    match locus {
        Locus::Span { line, col, end_line, end_col } => {
            let start = offset_of(source, *line, *col)?;
            let end = offset_of(source, *end_line, *end_col).unwrap_or(start).max(start);
            Some((start, (end - start).max(1)))
        }
        Locus::Node { node, needle } => {
            let name_at = find_node(source, node)?;
            if let Some(n) = needle {
                let end = next_node_start(source, name_at + 1);
                let scope = &source[name_at..end];
                if let Some(i) = scope.find(&format!("\"{n}\"")).or_else(|| scope.find(n.as_str())) {
                    return Some((name_at + i, n.len() + 2));
                }
            }
            Some((name_at, node.len() + 2))
        }
        Locus::Field { field, needle } => {
            let base = field.split(['[', '.']).next().unwrap_or(field);
            let field_at = find_word(source, &format!("{base}:")).unwrap_or(0);
            if let Some(n) = needle
                && let Some(i) = source[field_at..].find(n.as_str())
            {
                return Some((field_at + i, n.len().max(1)));
            }
            find_word(source, &format!("{base}:")).map(|i| (i, base.len()))
        }
    }
}

fn offset_of(source: &str, line: usize, col: usize) -> Option<usize> {
    let mut offset = 0;
    for (i, text) in source.split_inclusive('\n').enumerate() {
        if i + 1 == line {
            let chars = col.saturating_sub(1);
            let within: usize = text.chars().take(chars).map(char::len_utf8).sum();
            return Some((offset + within).min(source.len()));
        }
        offset += text.len();
    }
    (line > 0).then_some(source.len())
}

/// The offset of `"node"` right after a `name:` key.
fn find_node(source: &str, node: &str) -> Option<usize> {
    let quoted = format!("\"{node}\"");
    let mut from = 0;
    while let Some(i) = source[from..].find(&quoted) {
        let at = from + i;
        let before = source[..at].trim_end();
        if before.ends_with("name:") {
            return Some(at);
        }
        from = at + quoted.len();
    }
    source.find(&quoted)
}

fn next_node_start(source: &str, from: usize) -> usize {
    let mut pos = from;
    while let Some(i) = source[pos..].find("name:") {
        let at = pos + i;
        // Only a node's own name starts a new node (not e.g. "node:").
        if at == 0 || !source.as_bytes()[at - 1].is_ascii_alphanumeric() && source.as_bytes()[at - 1] != b'_' {
            return at;
        }
        pos = at + 5;
    }
    source.len()
}

fn find_word(source: &str, word: &str) -> Option<usize> {
    let mut pos = 0;
    while let Some(i) = source[pos..].find(word) {
        let at = pos + i;
        if at == 0 || !(source.as_bytes()[at - 1].is_ascii_alphanumeric() || source.as_bytes()[at - 1] == b'_') {
            return Some(at);
        }
        pos = at + word.len();
    }
    None
}

/// 1-based line and column of a byte offset.
pub fn line_col(source: &str, offset: usize) -> (usize, usize) {
    let before = &source[..offset.min(source.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: &str = "Scenario(\n  nodes: [\n    Service(name: \"a\", calls: [Call(to: \"b\")]),\n    Service(name: \"b\", work: x),\n  ],\n)";

    #[test]
    fn finds_a_needle_inside_its_node() {
        let (off, len) = locate(SRC, &Locus::Node { node: "a".into(), needle: Some("b".into()) }).unwrap();
        assert_eq!(&SRC[off..off + len], "\"b\"");
        // Line 3 is `    Service(name: "a", calls: [Call(to: "b")]),`: the quote is column 41.
        assert_eq!(line_col(SRC, off), (3, 41));
        let (off, _) = locate(SRC, &Locus::Node { node: "b".into(), needle: None }).unwrap();
        assert_eq!(line_col(SRC, off), (4, 19));
    }

    #[test]
    fn converts_parser_spans() {
        let (off, len) = locate(SRC, &Locus::Span { line: 2, col: 3, end_line: 2, end_col: 8 }).unwrap();
        assert_eq!(&SRC[off..off + len], "nodes");
    }
}
