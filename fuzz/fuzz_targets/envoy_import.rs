//! Any bytes given to `gatesim import`'s Envoy reader: a scenario or an
//! error, never a panic; and whatever scenario it writes is then parsed
//! like any file (a problem list or a model, never a panic).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(imported) = gatesim::import::envoy::import(text, "fuzz", &Default::default())
    {
        let _ = gatesim::scenario::parse(&imported.scenario);
    }
});
