//! The images the browser build decodes while warming up (`wasm/warmup/`) must really
//! decode, or the warm-up silently skips the decoders it is there to compile.

use onesheet::preprocess::{DecodeLimits, InputSpec, prepare_bytes};

#[test]
fn warm_up_images_decode() {
    let spec = InputSpec::mobilenet(224, 224);
    for name in ["blank.jpg", "blank.png", "blank.webp"] {
        let path = format!("{}/warmup/{name}", env!("CARGO_MANIFEST_DIR"));
        let bytes = std::fs::read(&path).expect("the warm-up image is there");
        let input = prepare_bytes(&bytes, &spec, &DecodeLimits::default())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!((input.width, input.height), (224, 224), "{name}");
    }
}
