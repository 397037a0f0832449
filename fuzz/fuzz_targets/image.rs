//! Image bytes → model input, as `classify`, the page and the trainer prepare a poster: any
//! bytes must give an input or an error, within the decode and resize budgets, never a crash.
#![no_main]

use libfuzzer_sys::fuzz_target;
use onesheet::preprocess::{DecodeLimits, InputSpec, prepare_bytes};

fuzz_target!(|bytes: &[u8]| {
    let spec = InputSpec::mobilenet(224, 320);
    // Smaller budgets than the default keep each run fast while exercising every refusal path.
    let limits = DecodeLimits {
        max_pixels: 4_000_000,
        max_bytes: 64 << 20,
    };
    if let Ok(input) = prepare_bytes(bytes, &spec, &limits) {
        assert_eq!(input.data.len(), 3 * 224 * 320);
        assert!(input.data.iter().all(|v| v.is_finite()));
    }
});
