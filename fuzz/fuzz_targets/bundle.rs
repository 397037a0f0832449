//! Bundle bytes → a loaded model, as every face loads one: any bytes must load or give a
//! `BundleError`, never a crash, a stall or an allocation the manifest talked it into.
#![no_main]

use burn::tensor::Device;
use libfuzzer_sys::fuzz_target;
use onesheet::bundle::Bundle;

fuzz_target!(|bytes: &[u8]| {
    if let Ok(manifest) = Bundle::read_manifest(bytes) {
        // A manifest that reads is one every face may use as it is.
        assert!(manifest.input.check().is_ok());
        assert!(
            manifest
                .thresholds()
                .iter()
                .all(|t| (0.0..=1.0).contains(t))
        );
    }
    let _ = Bundle::from_bytes(bytes, &Device::flex());
});
