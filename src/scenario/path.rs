//! Reading and rewriting one value of a scenario by its path, on the TEXT.
//!
//! `gatesim sweep FILE --set PATH=V1,V2,...` varies one parameter. Working on
//! the text (not on a parsed tree) keeps every other byte of the user's file,
//! comments and formatting included; the caller parses the result with the
//! normal parser, which reports type errors with line:column. A small
//! tokenizer and recursive-descent scanner find the byte spans of values; it
//! returns `Err` (never panics) on malformed text.
//!
//! # Path syntax
//! A path names one value in the scenario. Components are separated by `.`;
//! a field name selects a struct field: `duration`, `seed`,
//! `network.latency`. After a list-valued field, a bare name selects the
//! element whose `name:` is that name (`nodes.gw`, `nodes.products-v2.workers`;
//! names may contain `-` but not `.`), and `[i]` selects the i-th element,
//! counting from 0 (`faults[1].duration`, `nodes.web.mix[2].weight`,
//! `nodes.gw.routes[0].policy.timeout`). Wrappers are transparent: `Some(X)`,
//! variants and struct names such as `Poisson(rps: 700)`, `Breaker(...)`,
//! `RateLimit(...)`, and anonymous `( ... )` structs are looked into, so
//! `nodes.web.load.rps` finds `rps` in `load: Poisson(rps: 700)` and
//! `nodes.gw.routes[0].policy.breaker.open_for` finds `open_for` in
//! `breaker: Some(Breaker(..., open_for: "5s"))`. A path that ends at a whole
//! value replaces all of it: `nodes.web.load=Poisson(rps: 900)`. When the
//! old value is a string and the new one is not quoted, it is quoted, so
//! `open_for=1s` writes `"1s"`. When the LAST field is missing from its
//! struct, it is added (`nodes.users.errors=0.01` on a service without
//! `errors:`); any other missing component is an error that says what was
//! there instead.

/// Replaces the value at `path` in the RON text `text` by `value` (RON text).
/// If the existing value is a string literal and `value` is not quoted, the
/// new value is quoted (so `open_for=5s` works for durations).
/// Errors say which path component was not found and what was there instead
/// (e.g. "nodes.gw.routes[3]: routes has 2 entries", "nodes.web.load.rps: no field `rps` in Closed(...)").
pub fn set(text: &str, path: &str, value: &str) -> Result<String, String> {
    let comps = parse_path(path)?;
    let root = parse_text(text)?;
    let value = value.trim();
    if value.is_empty() {
        return Err(format!("{}: the new value is empty", path.trim()));
    }
    match resolve(text, &root, &comps, path.trim())? {
        Target::Found(old) => {
            let quoted = matches!(old.kind, Kind::Str(_)) && !value.starts_with('"');
            let new =
                if quoted { format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\"")) } else { value.into() };
            check_value(&new)?;
            Ok(splice(text, old.start, old.end, &new))
        }
        Target::Missing(group, field) => {
            check_value(value)?;
            Ok(add_field(text, group, &field, value))
        }
    }
}

/// Reads the current value text at `path` (for reports: "open_for was \"5s\"").
pub fn get(text: &str, path: &str) -> Result<String, String> {
    let comps = parse_path(path)?;
    let root = parse_text(text)?;
    match resolve(text, &root, &comps, path.trim())? {
        Target::Found(v) => Ok(text[v.start..v.end].to_string()),
        Target::Missing(g, field) => Err(format!("{}: no field `{field}` in {}(...)", path.trim(), g.name)),
    }
}

// ---------------------------------------------------------------- tokens

/// Deeper nesting than this is refused (no scenario comes close).
const MAX_DEPTH: usize = 64;

#[derive(Clone, Copy, PartialEq, Debug)]
enum Tok {
    Ident,
    Str,
    Num,
    /// One of `( ) [ ] { } : , # !`.
    Punct(u8),
}

#[derive(Clone, Copy, Debug)]
struct Token {
    tok: Tok,
    start: usize,
    end: usize,
}

/// "line L, column C" of byte offset `at` (any offset: never panics).
fn place(text: &str, at: usize) -> String {
    let before = &text.as_bytes()[..at.min(text.len())];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let last = before.rsplit(|&b| b == b'\n').next().unwrap_or(&[]);
    let col = last.iter().filter(|&&b| (b & 0xC0) != 0x80).count() + 1;
    format!("line {line}, column {col}")
}

/// Skips whitespace and (nested block) comments from `i`; records the first
/// line break outside a block comment in `newline`. Returns the next token.
fn skip_trivia(text: &str, mut i: usize, newline: &mut Option<usize>) -> Result<usize, String> {
    let b = text.as_bytes();
    while i < b.len() {
        match (b[i], b.get(i + 1)) {
            (b'\n', _) => {
                newline.get_or_insert(i);
                i += 1;
            }
            (b' ' | b'\t' | b'\r', _) => i += 1,
            (b'/', Some(b'/')) => i = text[i..].find('\n').map_or(b.len(), |n| i + n),
            (b'/', Some(b'*')) => {
                let (open, mut level) = (i, 0usize);
                loop {
                    match (b.get(i), b.get(i + 1)) {
                        (None, _) => return Err(format!("{}: unclosed `/*` comment", place(text, open))),
                        (Some(b'/'), Some(b'*')) => (level, i) = (level + 1, i + 2),
                        (Some(b'*'), Some(b'/')) => (level, i) = (level - 1, i + 2),
                        _ => i += 1,
                    }
                    if level == 0 {
                        break;
                    }
                }
            }
            _ => break,
        }
    }
    Ok(i)
}

/// The end of the token of kind `tok` that starts at `i`.
fn token_end(b: &[u8], tok: Tok, mut i: usize) -> Option<usize> {
    i += 1;
    while i < b.len() {
        let (p, q) = (b[i - 1], b[i]);
        match tok {
            Tok::Str if q == b'\\' => i += 1,
            Tok::Str if q == b'"' => return Some(i + 1),
            Tok::Str => {}
            Tok::Num if q.is_ascii_alphanumeric() || matches!(q, b'.' | b'_') => {}
            Tok::Num if matches!(q, b'+' | b'-') && matches!(p, b'e' | b'E') => {}
            Tok::Ident if q.is_ascii_alphanumeric() || q == b'_' => {}
            _ => return Some(i),
        }
        i += 1;
    }
    (tok != Tok::Str).then_some(b.len())
}

fn tokenize(text: &str) -> Result<Vec<Token>, String> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut start = 0;
    loop {
        start = skip_trivia(text, start, &mut None)?;
        let Some(&c) = b.get(start) else { return Ok(out) };
        let next = b.get(start + 1).copied().unwrap_or(0);
        let tok = match c {
            b'"' => Tok::Str,
            b'0'..=b'9' => Tok::Num,
            b'-' | b'+' | b'.' if next.is_ascii_digit() || next == b'.' => Tok::Num,
            b'a'..=b'z' | b'A'..=b'Z' | b'_' => Tok::Ident,
            b'(' | b'[' | b'{' | b')' | b']' | b'}' | b':' | b',' | b'#' | b'!' => Tok::Punct(c),
            _ => {
                let ch = text.get(start..).and_then(|s| s.chars().next()).unwrap_or('?');
                return Err(format!("{}: unexpected character `{ch}`", place(text, start)));
            }
        };
        let end = if let Tok::Punct(_) = tok { Some(start + 1) } else { token_end(b, tok, start) };
        let end = end.ok_or_else(|| format!("{}: the string never ends (missing `\"`)", place(text, start)))?;
        out.push(Token { tok, start, end });
        start = end;
    }
}

// ---------------------------------------------------------------- values

/// One value of the text: its byte span and what it is.
struct Value<'a> {
    start: usize,
    end: usize,
    kind: Kind<'a>,
}

enum Kind<'a> {
    /// A number or a bare identifier (`Get`, `None`, `true`), or a map.
    Atom,
    /// A string literal, unescaped.
    Str(String),
    Group(Group<'a>),
    List(Vec<Value<'a>>),
}

/// `Name( ... )` or `( ... )`: named fields and/or positional elements.
struct Group<'a> {
    name: &'a str,
    fields: Vec<(&'a str, Value<'a>)>,
    elems: Vec<Value<'a>>,
    /// Offset of the closing `)`.
    close: usize,
    /// Span of the last item (with its `field:`), if any.
    last: Option<(usize, usize)>,
    /// End of a trailing comma after the last item.
    trailing_comma: Option<usize>,
}

struct Parser<'a> {
    text: &'a str,
    toks: Vec<Token>,
    pos: usize,
}

impl<'a> Parser<'a> {
    fn peek(&self, wanted: &str) -> Result<Token, String> {
        self.toks.get(self.pos).copied().ok_or_else(|| format!("the text ends where {wanted} was expected"))
    }

    fn is(&self, ahead: usize, tok: Tok) -> bool {
        self.toks.get(self.pos + ahead).is_some_and(|t| t.tok == tok)
    }

    fn unexpected(&self, t: Token, wanted: &str) -> String {
        format!("{}: expected {wanted}, found `{}`", place(self.text, t.start), &self.text[t.start..t.end])
    }

    fn value(&mut self, depth: usize) -> Result<Value<'a>, String> {
        let t = self.peek("a value")?;
        if depth > MAX_DEPTH {
            return Err(format!("{}: values are nested too deeply", place(self.text, t.start)));
        }
        self.pos += 1;
        let (kind, end) = match t.tok {
            Tok::Ident if self.is(0, Tok::Punct(b'(')) => {
                self.pos += 1;
                return self.group(t.start, &self.text[t.start..t.end], depth);
            }
            Tok::Punct(b'(') => return self.group(t.start, "", depth),
            Tok::Ident | Tok::Num => (Kind::Atom, t.end),
            Tok::Str => (Kind::Str(unescape(&self.text[t.start + 1..t.end - 1])), t.end),
            Tok::Punct(b'[') => {
                let mut items = Vec::new();
                let (close, _) = self.seq(b']', |p| {
                    items.push(p.value(depth + 1)?);
                    Ok(())
                })?;
                (Kind::List(items), close + 1)
            }
            Tok::Punct(b'{') => {
                let (close, _) = self.seq(b'}', |p| {
                    p.value(depth + 1)?;
                    match p.peek("`:`")? {
                        c if c.tok == Tok::Punct(b':') => p.pos += 1,
                        c => return Err(p.unexpected(c, "`:`")),
                    }
                    p.value(depth + 1).map(drop)
                })?;
                (Kind::Atom, close + 1)
            }
            _ => return Err(self.unexpected(t, "a value")),
        };
        Ok(Value { start: t.start, end, kind })
    }

    /// Items separated by commas up to `close` (the opener is consumed).
    /// Returns the offset of the closer and the end of a trailing comma.
    fn seq(&mut self, close: u8, mut item: impl FnMut(&mut Self) -> Result<(), String>) -> SeqEnd {
        let closer = format!("`{}`", close as char);
        loop {
            let t = self.peek(&closer)?;
            if t.tok == Tok::Punct(close) {
                self.pos += 1;
                return Ok((t.start, None));
            }
            item(self)?;
            let t = self.peek(&closer)?;
            match t.tok {
                Tok::Punct(b',') if self.is(1, Tok::Punct(close)) => {
                    self.pos += 2;
                    return Ok((self.toks[self.pos - 1].start, Some(t.end)));
                }
                Tok::Punct(b',') => self.pos += 1,
                Tok::Punct(c) if c == close => {
                    self.pos += 1;
                    return Ok((t.start, None));
                }
                _ => return Err(self.unexpected(t, &format!("`,` or {closer}"))),
            }
        }
    }

    fn group(&mut self, start: usize, name: &'a str, depth: usize) -> Result<Value<'a>, String> {
        let (mut fields, mut elems, mut last) = (Vec::new(), Vec::new(), None);
        let (close, trailing_comma) = self.seq(b')', |p| {
            let t = p.peek("a value")?;
            let named = t.tok == Tok::Ident && p.is(1, Tok::Punct(b':'));
            p.pos += if named { 2 } else { 0 };
            let v = p.value(depth + 1)?;
            last = Some((t.start, v.end));
            match named {
                true => fields.push((&p.text[t.start..t.end], v)),
                false => elems.push(v),
            }
            Ok(())
        })?;
        let group = Group { name, fields, elems, close, last, trailing_comma };
        Ok(Value { start, end: close + 1, kind: Kind::Group(group) })
    }
}

type SeqEnd = Result<(usize, Option<usize>), String>;

/// Parses a whole scenario text (optional `#![...]` attributes, one value).
fn parse_text(text: &str) -> Result<Value<'_>, String> {
    let mut p = Parser { text, toks: tokenize(text)?, pos: 0 };
    while p.is(0, Tok::Punct(b'#')) {
        p.pos += if p.is(1, Tok::Punct(b'!')) { 2 } else { 1 };
        match p.peek("`[`")? {
            t if t.tok == Tok::Punct(b'[') => {
                p.value(0)?;
            }
            t => return Err(p.unexpected(t, "`[`")),
        }
    }
    let v = p.value(0)?;
    match p.toks.get(p.pos) {
        Some(&t) => Err(p.unexpected(t, "the end of the text")),
        None => Ok(v),
    }
}

/// Checks that `value` is exactly one RON value (no stray `,` or `)`).
fn check_value(value: &str) -> Result<(), String> {
    let mut p = Parser { text: value, toks: tokenize(value).map_err(|e| format!("the value `{value}`: {e}"))?, pos: 0 };
    p.value(0).map_err(|e| format!("the value `{value}`: {e}"))?;
    match p.toks.get(p.pos) {
        Some(t) => Err(format!("the value `{value}` is not one value (`{}` follows)", &value[t.start..t.end])),
        None => Ok(()),
    }
}

/// Undoes `\x` escapes well enough to compare names.
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut escaped = false;
    for c in s.chars() {
        if escaped || c != '\\' {
            out.push(c);
        }
        escaped = !escaped && c == '\\';
    }
    out
}

// ---------------------------------------------------------------- paths

#[derive(Clone, Copy)]
enum Key<'p> {
    Name(&'p str),
    Index(usize),
}

/// One path component; offsets into the path for error messages.
struct Comp<'p> {
    key: Key<'p>,
    /// Where this `.`-separated segment starts.
    segment: usize,
    end: usize,
}

fn parse_path(path: &str) -> Result<Vec<Comp<'_>>, String> {
    let path = path.trim();
    if path.is_empty() {
        return Err("the path is empty (write e.g. nodes.web.load.rps)".into());
    }
    let (mut comps, mut segment) = (Vec::new(), 0);
    for seg in path.split('.') {
        let name_end = seg.find('[').unwrap_or(seg.len());
        let name = &seg[..name_end];
        if name.is_empty() || name.contains(']') {
            return Err(format!("{path}: component {} is empty or malformed (`{seg}`)", comps.len() + 1));
        }
        comps.push(Comp { key: Key::Name(name), segment, end: segment + name_end });
        let mut at = name_end;
        while at < seg.len() {
            let rest = &seg[at..];
            let close = rest.find(']').filter(|_| rest.starts_with('['));
            let Some((i, c)) = close.and_then(|c| Some((rest[1..c].parse::<usize>().ok()?, c))) else {
                return Err(format!("{path}: in `{seg}`, expected `[N]` with N a number from 0"));
            };
            at += c + 1;
            comps.push(Comp { key: Key::Index(i), segment, end: segment + at });
        }
        segment += seg.len() + 1;
    }
    Ok(comps)
}

enum Target<'v, 'a> {
    Found(&'v Value<'a>),
    /// The last field is not in this struct (yet).
    Missing(&'v Group<'a>, String),
}

/// Looks through `Some(X)`, `Const(X)`, `(X)`: one positional element.
fn unwrap<'v, 'a>(mut v: &'v Value<'a>) -> &'v Value<'a> {
    while let Kind::Group(Group { fields, elems, .. }) = &v.kind {
        match (fields.is_empty(), elems.as_slice()) {
            (true, [inner]) => v = inner,
            _ => break,
        }
    }
    v
}

/// Short words for what was found: `Closed(...)`, `a list of 2 entries`, `7`.
fn describe(text: &str, v: &Value<'_>) -> String {
    match &v.kind {
        Kind::Group(g) => format!("{}(...)", g.name),
        Kind::List(items) => format!("a list of {} entries", items.len()),
        Kind::Atom | Kind::Str(_) if v.end - v.start > 30 => {
            format!("`{}...`", text[v.start..].chars().take(30).collect::<String>())
        }
        Kind::Atom | Kind::Str(_) => format!("`{}`", &text[v.start..v.end]),
    }
}

fn resolve<'v, 'a>(text: &str, root: &'v Value<'a>, comps: &[Comp<'_>], path: &str) -> Result<Target<'v, 'a>, String> {
    let mut cur = root;
    for (n, c) in comps.iter().enumerate() {
        let here = &path[..c.end];
        let list = n.checked_sub(1).map_or("the scenario", |p| &path[comps[p].segment..comps[p].end]);
        let count = |len: usize| format!("{here}: {list} has {len} {}", if len == 1 { "entry" } else { "entries" });
        let inner = unwrap(cur);
        let found = match (c.key, &inner.kind) {
            (Key::Name(f), Kind::Group(g)) if g.elems.is_empty() || !g.fields.is_empty() => {
                match g.fields.iter().find(|(k, _)| *k == f) {
                    Some((_, v)) => Some(v),
                    None if n + 1 == comps.len() => return Ok(Target::Missing(g, f.to_string())),
                    None => None,
                }
            }
            (Key::Name(f), Kind::List(items)) => {
                Some(items.iter().find(|v| name_of(v).as_deref() == Some(f)).ok_or_else(|| {
                    let names: Vec<String> = items.iter().filter_map(name_of).map(|s| format!("\"{s}\"")).collect();
                    match names.is_empty() {
                        true => format!("{here}: the entries of {list} have no names (select one with [i])"),
                        false => format!("{here}: no entry named \"{f}\" in {list} (names: {})", names.join(", ")),
                    }
                })?)
            }
            (Key::Index(i), Kind::List(items)) => Some(items.get(i).ok_or_else(|| count(items.len()))?),
            (Key::Index(i), Kind::Group(g)) if g.fields.is_empty() && !g.elems.is_empty() => {
                Some(g.elems.get(i).ok_or_else(|| count(g.elems.len()))?)
            }
            _ => None,
        };
        cur = found.ok_or_else(|| match c.key {
            Key::Name(f) => format!("{here}: no field `{f}` in {}", describe(text, inner)),
            Key::Index(_) => format!("{here}: {list} is not a list but {}", describe(text, inner)),
        })?;
    }
    Ok(Target::Found(cur))
}

/// The `name: "..."` of a list entry, looking through wrappers.
fn name_of(item: &Value<'_>) -> Option<String> {
    let Kind::Group(g) = &unwrap(item).kind else { return None };
    g.fields.iter().find_map(|(k, v)| match &v.kind {
        Kind::Str(s) if *k == "name" => Some(s.clone()),
        _ => None,
    })
}

// ---------------------------------------------------------------- edits

fn splice(text: &str, start: usize, end: usize, new: &str) -> String {
    [&text[..start], new, &text[end..]].concat()
}

/// Adds `field: value` as the last item of `g`, in the style of the file:
/// on its own line after a trailing comma when the items are one per line.
fn add_field(text: &str, g: &Group<'_>, field: &str, value: &str) -> String {
    let (at, new) = match (g.last, g.trailing_comma) {
        (None, _) => (g.close, format!("{field}: {value}")),
        (Some((_, end)), None) => (end, format!(", {field}: {value}")),
        (Some((start, _)), Some(comma)) => {
            let mut newline = None;
            // Only trivia lies between the comma and `)`: it scanned before.
            let _ = skip_trivia(&text[..g.close], comma, &mut newline);
            match newline {
                Some(nl) => {
                    let line = text[..start].rfind('\n').map_or(0, |i| i + 1);
                    let lead = &text[line..start];
                    let indent = &lead[..lead.len() - lead.trim_start().len()];
                    (nl + 1, format!("{indent}{field}: {value},\n"))
                }
                None => (comma, format!(" {field}: {value},")),
            }
        }
    };
    splice(text, at, at, &new)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::dist::Dist;
    use crate::engine::time::SimDuration;
    use crate::model::config::{Load, ModelConfig, NodeKind, RouteKind};
    use proptest::prelude::*;

    const QS: &str = include_str!("../../scenarios/quickstart.ron");
    const HA: &str = include_str!("../../scenarios/ha-fleet.ron");

    fn model(text: &str) -> ModelConfig {
        crate::scenario::parse(text).unwrap_or_else(|p| panic!("{p:?}\n{text}")).model
    }

    fn kind(m: &ModelConfig, name: &str) -> NodeKind {
        m.nodes.iter().find(|n| n.name == name).unwrap().kind.clone()
    }

    /// `out` is `text` with exactly one occurrence of `old` replaced by `new`.
    fn replaced_once(text: &str, out: &str, old: &str, new: &str) -> bool {
        text.match_indices(old).any(|(k, _)| out == [&text[..k], new, &text[k + old.len()..]].concat())
    }

    #[test]
    fn example_paths_read_write_and_still_parse() {
        let cases = [
            (QS, "duration", "\"60s\"", "\"90s\""),
            (QS, "seed", "7", "8"),
            (QS, "network.latency", "Const(\"0.5ms\")", "Const(\"1ms\")"),
            (QS, "nodes.gw.routes[0].policy.timeout", "\"300ms\"", "\"250ms\""),
            (QS, "faults[0].duration", "\"20s\"", "\"10s\""),
            (QS, "nodes.web.mix[2].weight", "1", "10"),
            (QS, "nodes.web.load.rps", "1500", "900"),
            (QS, "nodes.gw.routes[0].policy.breaker.open_for", "\"5s\"", "\"2s\""),
            (QS, "nodes.gw.rate_limits[0].limit", "60", "30"),
            (QS, "nodes.web.load", "Poisson(rps: 1500)", "Poisson(rps: 900)"),
            (QS, "nodes.orders.work", "Exp(mean: \"6ms\")", "Exp(mean: \"10ms\")"),
            (HA, "nodes.products-v2.workers", "32", "8"),
            (HA, "faults[1].duration", "\"10s\"", "\"5s\""),
            (HA, "faults[0].target", "\"gw#1\"", "\"gw#2\""),
            (HA, "nodes.lb.health_check.interval", "\"1s\"", "\"2s\""),
            (HA, "nodes.web.mix[1].weight", "3", "1"),
            (HA, "nodes.gw.rate_limits[0].limit", "6000", "100"),
        ];
        for (text, path, old, new) in cases {
            assert_eq!(get(text, path).as_deref(), Ok(old), "{path}");
            let out = set(text, path, new).unwrap_or_else(|e| panic!("{path}: {e}"));
            assert_eq!(get(&out, path).as_deref(), Ok(new), "{path}");
            assert!(replaced_once(text, &out, old, new), "{path}: other bytes changed");
            assert!(crate::scenario::parse(&out).is_ok(), "{path}: {:?}", crate::scenario::parse(&out).err());
        }
    }

    #[test]
    fn the_model_changes_as_intended() {
        let m = model(&set(QS, "nodes.web.load.rps", "900").unwrap());
        let NodeKind::Clients(c) = kind(&m, "web") else { panic!() };
        assert!(matches!(c.load, Load::Poisson { rps } if rps == 900.0));

        let m = model(&set(QS, "nodes.gw.routes[0].policy.breaker.open_for", "1s").unwrap());
        let NodeKind::Gateway(g) = kind(&m, "gw") else { panic!() };
        let RouteKind::Forward { edge } = g.routes[0].kind else { panic!() };
        assert_eq!(m.edges[edge as usize].policy.breaker.as_ref().unwrap().open_for, SimDuration::from_secs(1));

        let m = model(&set(QS, "nodes.orders.work", "Exp(mean: \"10ms\")").unwrap());
        let NodeKind::Service(s) = kind(&m, "orders") else { panic!() };
        assert!(matches!(s.work, Dist::Exp { mean_ns } if mean_ns == 1e7));

        let m = model(&set(QS, "nodes.gw.rate_limits[0].limit", "30").unwrap());
        let NodeKind::Gateway(g) = kind(&m, "gw") else { panic!() };
        assert_eq!(g.rate_limits[0].config.limit, 30);

        let m = model(&set(HA, "nodes.products-v2.workers", "8").unwrap());
        let NodeKind::Service(s) = kind(&m, "products-v2") else { panic!() };
        assert_eq!(s.workers, 8);

        let m = model(&set(QS, "faults[0].duration", "7s").unwrap());
        assert_eq!(m.faults[0].until.as_nanos() - m.faults[0].at.as_nanos(), SimDuration::from_secs(7).as_nanos());
        assert_eq!(model(&set(QS, "seed", "99").unwrap()).seed, 99);
    }

    #[test]
    fn strings_are_quoted_unless_already_quoted() {
        let p = "nodes.gw.routes[0].policy.breaker.open_for";
        assert_eq!(get(&set(QS, p, "1s").unwrap(), p).unwrap(), "\"1s\"");
        assert_eq!(get(&set(QS, p, "\"2s\"").unwrap(), p).unwrap(), "\"2s\"");
        assert_eq!(get(&set(QS, "name", "a\"b").unwrap(), "name").unwrap(), "\"a\\\"b\"");
        // Not a string before: left as written (the parser judges it).
        assert_eq!(get(&set(QS, "seed", "1s").unwrap(), "seed").unwrap(), "1s");
    }

    #[test]
    fn comments_and_strings_do_not_confuse_the_scanner() {
        let text = "#![enable(implicit_some)]\n// seed: 1 (\nS( /* seed: 2 /* nested ) */ */ name: \"a)\\\"b(\", // c\n  \
                    seed: 7, // the seed\n  m: {\"k\": [1, 2]}, e: 1.5e-3, l: [(0.9, Const(\"1ms\"))],\n)\n";
        assert_eq!(get(text, "name").unwrap(), "\"a)\\\"b(\"");
        assert_eq!(set(text, "seed", "9").unwrap(), text.replace("seed: 7", "seed: 9"));
        assert_eq!(get(text, "l[0][1]").unwrap(), "Const(\"1ms\")");
        assert_eq!(get(text, "l[0][0]").unwrap(), "0.9");
        assert_eq!(get(text, "e").unwrap(), "1.5e-3");
        let out = set(QS, "nodes.web.load.rps", "900").unwrap();
        assert_eq!(out, QS.replacen("rps: 1500", "rps: 900", 1));
    }

    #[test]
    fn every_shipped_scenario_scans() {
        for entry in std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios")).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                continue;
            }
            let text = std::fs::read_to_string(path).unwrap();
            assert_eq!(get(&set(&text, "seed", "3").unwrap(), "seed").as_deref(), Ok("3"));
        }
    }

    #[test]
    fn a_missing_last_field_is_added() {
        // One line, no trailing comma.
        let out = set(QS, "nodes.users.errors", "0.05").unwrap();
        assert!(out.contains("p99: \"30ms\"), errors: 0.05),"), "{out}");
        let NodeKind::Service(s) = kind(&model(&out), "users") else { panic!() };
        assert_eq!(s.errors, 0.05);
        // One item per line with a trailing comma: a new line, same indent.
        let out = set(QS, "nodes.orders.sidecar", "Some((overhead: Const(\"0.3ms\")))").unwrap();
        let want = "(timeout: \"300ms\"))],\n            sidecar: Some((overhead: Const(\"0.3ms\"))),\n        ),";
        assert!(out.contains(want), "{out}");
        let NodeKind::Service(s) = kind(&model(&out), "orders") else { panic!() };
        assert!(s.sidecar.is_some());
        let cases = [
            ("S(a: ())", "a.x", "S(a: (x: 1))"),
            ("S()", "x", "S(x: 1)"),
            ("S(a: 1,)", "b", "S(a: 1, b: 1,)"),
            ("S(a: 1 // c\n)", "b", "S(a: 1, b: 1 // c\n)"),
            ("S(a: 1, // c\n /* d\n */)", "b", "S(a: 1, // c\nb: 1,\n /* d\n */)"),
            ("S(a: Some(B(x: 2)))", "a.y", "S(a: Some(B(x: 2, y: 1)))"),
        ];
        for (text, path, want) in cases {
            assert_eq!(set(text, path, "1").as_deref(), Ok(want), "{text} {path}");
        }
    }

    #[test]
    fn errors_name_the_component_and_what_was_there() {
        let closed = QS.replace("Poisson(rps: 1500)", "Closed(users: 200, think: Exp(mean: \"1s\"))");
        let err = |t: &str, p: &str| set(t, p, "1").unwrap_err();
        assert_eq!(err(QS, "nodes.gw.routes[3]"), "nodes.gw.routes[3]: routes has 2 entries");
        assert_eq!(err(QS, "nodes.gw.routes[3].to"), "nodes.gw.routes[3]: routes has 2 entries");
        assert_eq!(err(&closed, "nodes.web.load.rps.x"), "nodes.web.load.rps: no field `rps` in Closed(...)");
        assert_eq!(
            get(&closed, "nodes.web.load.rps").unwrap_err(),
            "nodes.web.load.rps: no field `rps` in Closed(...)"
        );
        let e = err(QS, "nodes.nope.workers");
        assert!(e.starts_with("nodes.nope: no entry named \"nope\" in nodes (names: \"web\", \"gw\""), "{e}");
        assert_eq!(err(QS, "nodes.web.nope.x"), "nodes.web.nope: no field `nope` in Clients(...)");
        let e = err(QS, "nodes.gw.routes[1].policy.breaker.open_for");
        assert_eq!(e, "nodes.gw.routes[1].policy.breaker: no field `breaker` in (...)");
        assert_eq!(err(QS, "seed[0]"), "seed[0]: seed is not a list but `7`");
        assert_eq!(err(QS, "faults.x"), "faults.x: the entries of faults have no names (select one with [i])");
        for p in ["", "  ", ".", "nodes..gw", "faults[x]", "faults[1", "faults[-1]", "[0]", "a]"] {
            assert!(set(QS, p, "1").is_err() && get(QS, p).is_err(), "{p:?}");
        }
        assert!(set(QS, "seed", "  ").is_err());
        assert!(set(QS, "seed", "1, duration: \"1s\"").is_err());
        assert!(set(QS, "nodes.web.load", "Poisson(rps: 9").is_err());
        for t in
            ["", "S(seed: 7", "S(seed: 7))", "S(name: \"x)", "/* S(seed: 1)", "S(seed: 7) x", "S(seed: @)", "S(a 1)"]
        {
            assert!(set(t, "seed", "1").is_err() && get(t, "seed").is_err(), "{t:?}");
        }
        let deep = format!("S(seed: {}1{})", "(".repeat(100_000), ")".repeat(100_000));
        assert!(set(&deep, "seed", "1").unwrap_err().contains("nested too deeply"));
    }

    proptest! {
        #[test]
        fn never_panics_on_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..400), path in "[a-z0-9.\\[\\]-]{0,24}") {
            let text = String::from_utf8_lossy(&bytes);
            let _ = (set(&text, &path, "1"), get(&text, &path));
        }

        #[test]
        fn never_panics_on_ron_like_text(
            text in "[()\\[\\]{}:,\"a-z0-9 .#!/*\\\\\n-]{0,200}",
            path in "((nodes|name|a|b|web|\\[[0-9]\\])\\.?){0,5}",
            value in "[()a-z0-9\", ]{0,8}",
        ) {
            let _ = (set(&text, &path, &value), get(&text, &path));
        }

        #[test]
        fn never_panics_on_damaged_scenarios(cut in 0..QS.len(), len in 0usize..40, path in "(nodes|web|gw|load|rps|routes|\\[[0-3]\\]|\\.){1,8}") {
            let end = (cut + len).min(QS.len());
            prop_assume!(QS.is_char_boundary(cut) && QS.is_char_boundary(end));
            let text = [&QS[..cut], &QS[end..]].concat();
            let _ = (set(&text, &path, "5s"), get(&text, &path));
        }
    }
}
