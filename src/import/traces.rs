//! Distributed traces to a scenario: `gatesim import traces.json` reads
//! OpenTelemetry (OTLP/JSON, as the collector's file exporter writes it)
//! and Jaeger JSON exports as a stream, puts each trace's spans back into
//! a tree, and measures what traces can show: which services call which,
//! in which steps (sequential, or parallel where the calls overlap), each
//! service's own time (its span's duration minus the time its calls
//! cover), replicas from instance attributes, the load and the route mix
//! from the requests' first spans, error shares from span status, and the
//! network delay from client/server span pairs. What traces cannot show
//! (workers, queues, timeouts, retries) is written from a default and
//! marked `default:`.
//!
//! Memory follows one export batch (or one Jaeger trace) and the spans of
//! traces still being put together (`assemble::MAX_WAITING`), never the file.

mod assemble;
mod fit;
mod jaeger;
mod otlp;
mod span;
mod stats;
mod walk;
mod write;

use std::io::{BufRead, BufReader, Read};

pub use super::Imported;

/// The two trace formats read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// OTLP/JSON: `{"resourceSpans": [...]}`, one per line or one per file.
    Otlp,
    /// Jaeger JSON: `{"data": [trace, ...]}`.
    Jaeger,
}

/// What the user may say on the command line.
#[derive(Clone, Debug)]
pub struct Options {
    /// The format; `None` tells it from the file's first bytes.
    pub format: Option<Format>,
    /// The share of requests the traces were sampled at: the measured load
    /// (and concurrency) is divided by it.
    pub sampled: f64,
    /// Workers per instance from the peak concurrency seen, not a default.
    pub workers_from_concurrency: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options { format: None, sampled: 1.0, workers_from_concurrency: false }
    }
}

/// The traces read so far; `add` each file, then `finish`.
pub struct Importer {
    assembler: assemble::Assembler,
    opts: Options,
}

impl Importer {
    pub fn new(opts: Options) -> Self {
        Importer { assembler: assemble::Assembler::new(opts.workers_from_concurrency), opts }
    }

    /// Reads one file (its name is for messages only).
    pub fn add(&mut self, reader: impl Read) -> Result<(), String> {
        let mut reader = BufReader::with_capacity(1 << 16, reader);
        let format = match self.opts.format {
            Some(f) => f,
            None => sniff(&mut reader)?,
        };
        match format {
            Format::Otlp => otlp::read(reader, &mut self.assembler),
            Format::Jaeger => jaeger::read(reader, &mut self.assembler),
        }
    }

    /// The scenario named `name`, and what the user should know.
    pub fn finish(self, name: &str) -> Result<Imported, String> {
        let f = self.assembler.finish();
        if f.stats.traces == 0 {
            return Err("the files hold no spans".into());
        }
        let w = write::scenario(&f, name, &self.opts);
        let early = if f.cut_short > 0 {
            format!(
                " ({} traces were analysed early, over 200,000 spans waiting: a span of theirs that came later is one of these)",
                f.cut_short
            )
        } else {
            String::new()
        };
        let counted = [
            (f.bad_ids, "spans without a trace id or span id were skipped".to_string()),
            (f.unnamed, "spans of services beyond the first 10,000 were skipped".into()),
            (f.backwards, "spans end before they begin: each was taken as lasting no time".into()),
            (
                f.stats.missing_parent,
                format!("spans name a parent that is not in the files: each begins a tree of its own{early}"),
            ),
            (f.stats.skewed, "spans begin before their parent (clock skew?): their times were clipped to it".into()),
            (
                f.stats.duplicates,
                "spans appear more than once (the same trace and span id): each was counted once".into(),
            ),
        ];
        let mut warnings: Vec<String> =
            counted.iter().filter(|(n, _)| *n > 0).map(|(n, what)| format!("{n} {what}")).collect();
        if f.instances_overflowed {
            warnings.push("more than 10,000 instances: the rest are not counted as replicas".into());
        }
        warnings.extend(w.warnings);
        Ok(Imported { scenario: w.text, warnings })
    }
}

/// Tells the format from the first bytes: the first key of the outer object.
fn sniff(reader: &mut impl BufRead) -> Result<Format, String> {
    let head = reader.fill_buf().map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&head[..head.len().min(4096)]);
    let first = text.trim_start();
    if first.is_empty() {
        return Err("the file is empty".into());
    }
    if !first.starts_with('{') {
        return Err("not JSON: a trace export is a JSON object ({\"resourceSpans\": ...} or {\"data\": ...})".into());
    }
    if text.contains("\"resourceSpans\"") || text.contains("\"resource_spans\"") {
        Ok(Format::Otlp)
    } else if text.contains("\"data\"") || text.contains("\"traceID\"") {
        Ok(Format::Jaeger)
    } else {
        Err("neither OTLP/JSON (\"resourceSpans\") nor Jaeger JSON (\"data\") in its first 4 KB; say --format".into())
    }
}
