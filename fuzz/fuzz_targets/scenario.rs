//! Any bytes given to the scenario parser and validator: a problem list or
//! a model, never a panic, an abort or a hang (issue 15). Inputs that
//! validate are not run: the run's own limits are covered by tests/limits.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = gatesim::scenario::parse(text);
    }
});
