//! Any bytes given to `gatesim import`'s trace readers (OTLP/JSON and
//! Jaeger JSON, the format told from the bytes): a scenario or an error,
//! never a panic; a scenario it writes must validate (the CLI refuses one
//! that does not, but it should not happen).
#![no_main]

use gatesim::import::traces::{Importer, Options};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut importer = Importer::new(Options::default());
    if importer.add(data).is_ok()
        && let Ok(imported) = importer.finish("fuzz")
    {
        let _ = gatesim::scenario::parse(&imported.scenario);
    }
});
