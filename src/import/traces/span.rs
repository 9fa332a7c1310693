//! One span as both trace formats say it, reduced to what the importer
//! uses, with its names interned so a trace in memory is plain numbers.

use std::collections::BTreeMap;

/// What a span stands for (OpenTelemetry's `SpanKind`; Jaeger's `span.kind` tag).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    Unspecified,
    Internal,
    Server,
    Client,
    Producer,
    Consumer,
}

impl Kind {
    pub(super) fn from_otlp(k: i32) -> Kind {
        match k {
            1 => Kind::Internal,
            2 => Kind::Server,
            3 => Kind::Client,
            4 => Kind::Producer,
            5 => Kind::Consumer,
            _ => Kind::Unspecified,
        }
    }

    pub(super) fn from_tag(k: &str) -> Kind {
        match k {
            "server" => Kind::Server,
            "client" => Kind::Client,
            "producer" => Kind::Producer,
            "consumer" => Kind::Consumer,
            "internal" => Kind::Internal,
            _ => Kind::Unspecified,
        }
    }
}

/// No value (an interned name's index, or a span id of 0).
pub(super) const NONE: u32 = u32::MAX;

/// One span, times in nanoseconds.
#[derive(Clone, Copy, Debug)]
pub(super) struct Span {
    pub(super) trace: u128,
    pub(super) id: u64,
    /// 0 when the span is a root.
    pub(super) parent: u64,
    pub(super) service: u32,
    pub(super) instance: u32,
    /// `http.route`, else `url.path` / `http.target` without the query, else the span's name.
    pub(super) route: u32,
    pub(super) kind: Kind,
    pub(super) start: u64,
    pub(super) end: u64,
    pub(super) error: bool,
    /// `http.request.resend_count` (OpenTelemetry's name for a retry's number).
    pub(super) resend: u32,
}

impl Span {
    pub(super) fn duration(&self) -> u64 {
        self.end.saturating_sub(self.start)
    }
}

/// Names to dense numbers, at most `cap` of them (beyond it, `NONE`), so
/// a file with a million distinct URL paths cannot grow memory without end.
pub(super) struct Interner {
    ids: BTreeMap<String, u32>,
    pub(super) names: Vec<String>,
    cap: usize,
    pub(super) overflowed: bool,
}

impl Interner {
    pub(super) fn new(cap: usize) -> Self {
        Interner { ids: BTreeMap::new(), names: Vec::new(), cap, overflowed: false }
    }

    pub(super) fn id(&mut self, name: &str) -> u32 {
        if let Some(&id) = self.ids.get(name) {
            return id;
        }
        if self.names.len() >= self.cap {
            self.overflowed = true;
            return NONE;
        }
        let id = self.names.len() as u32;
        self.ids.insert(name.to_string(), id);
        self.names.push(name.to_string());
        id
    }
}

/// The attributes the importer reads, by their OpenTelemetry names (and
/// the older names still common in exports).
pub(super) const SERVICE: &str = "service.name";
pub(super) const INSTANCE_KEYS: &[&str] = &["service.instance.id", "host.name", "k8s.pod.name", "hostname", "ip"];
const ROUTE_KEYS: &[&str] = &["http.route"];
const PATH_KEYS: &[&str] = &["url.path", "http.target", "http.url", "url.full"];
const RESEND: &str = "http.request.resend_count";

/// A span's route key from its attributes (`attr` finds the first of
/// some keys): `http.route`, else the path of `url.path` / `http.target` /
/// a URL, else the span's name.
pub(super) fn route_key(attr: impl Fn(&[&str]) -> Option<String>, name: &str) -> String {
    attr(ROUTE_KEYS).or_else(|| attr(PATH_KEYS).map(|p| path_of(&p).to_string())).unwrap_or_else(|| name.to_string())
}

/// A span's retry number (`http.request.resend_count`), 0 if none.
pub(super) fn resend(attr: impl Fn(&[&str]) -> Option<String>) -> u32 {
    attr(&[RESEND]).and_then(|r| r.parse().ok()).unwrap_or(0)
}

/// The path part of a URL or target: no scheme and host, no query.
pub(super) fn path_of(url: &str) -> &str {
    let rest = url.split_once("://").map(|(_, r)| r.find('/').map_or("/", |i| &r[i..])).unwrap_or(url);
    rest.split(['?', '#']).next().unwrap_or(rest)
}

/// Parses a hex id (Jaeger writes 16 or 32 digits, sometimes fewer).
pub(super) fn hex_id(s: &str) -> Option<u128> {
    if s.is_empty() || s.len() > 32 {
        return None;
    }
    u128::from_str_radix(s, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_lose_host_and_query() {
        assert_eq!(path_of("https://shop.example/api/items?id=3"), "/api/items");
        assert_eq!(path_of("/api/items?id=3"), "/api/items");
        assert_eq!(path_of("http://h"), "/");
    }

    #[test]
    fn the_interner_stops_at_its_cap() {
        let mut i = Interner::new(2);
        assert_eq!((i.id("a"), i.id("b"), i.id("a")), (0, 1, 0));
        assert_eq!(i.id("c"), NONE);
        assert!(i.overflowed);
    }
}
