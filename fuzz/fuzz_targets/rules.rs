//! Any bytes as a rule file: the checker returns a rule set or an error (which renders), and
//! the expression parser returns an expression or an error; neither panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let as_of = chrono::NaiveDate::from_ymd_opt(2026, 10, 31).unwrap();
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../rules/fuzzed.toml");
    if let Err(e) = balgul::rules::check_text(&path, text, as_of) {
        let _ = e.to_string();
    }
    let _ = balgul::rules::expr::parse(text);
});
