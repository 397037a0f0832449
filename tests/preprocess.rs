//! Preprocessing: bad and unusual files each get the right error or result, and the reference
//! images preprocess close to the reference inputs (PIL's bilinear resize differs slightly).
//!
//! Every test file is generated here; none is committed.

mod common;

use std::io::Cursor;

use burn::tensor::Device;
use common::{Reference, argmax, pretrained};
use image::codecs::gif::GifEncoder;
use image::codecs::png::PngEncoder;
use image::{Delay, Frame, ImageBuffer, ImageEncoder, Rgb, RgbImage, Rgba, RgbaImage};
use onesheet::inference::read_rows_sync;
use onesheet::model::batch;
use onesheet::preprocess::{
    DecodeLimits, InputSpec, PreprocessError, decode, from_rgba, prepare_bytes,
};

fn limits() -> DecodeLimits {
    DecodeLimits::default()
}

/// A 64×96 image, left half red, right half blue.
fn two_tone() -> RgbImage {
    ImageBuffer::from_fn(64, 96, |x, _| {
        if x < 32 {
            Rgb([220, 20, 20])
        } else {
            Rgb([20, 20, 220])
        }
    })
}

fn jpeg(image: &RgbImage) -> Vec<u8> {
    let mut bytes = Vec::new();
    image
        .write_to(&mut Cursor::new(&mut bytes), image::ImageFormat::Jpeg)
        .expect("encode jpeg");
    bytes
}

/// Inserts an EXIF APP1 segment carrying `orientation` right after the JPEG's SOI marker.
fn with_exif_orientation(jpeg: &[u8], orientation: u16) -> Vec<u8> {
    let mut tiff = b"MM\0\x2a\0\0\0\x08".to_vec(); // big-endian TIFF, first IFD at 8
    tiff.extend_from_slice(&1u16.to_be_bytes()); // one entry
    tiff.extend_from_slice(&0x0112u16.to_be_bytes()); // Orientation
    tiff.extend_from_slice(&3u16.to_be_bytes()); // SHORT
    tiff.extend_from_slice(&1u32.to_be_bytes()); // count
    tiff.extend_from_slice(&orientation.to_be_bytes());
    tiff.extend_from_slice(&[0, 0]); // value padding
    tiff.extend_from_slice(&0u32.to_be_bytes()); // no next IFD
    let mut payload = b"Exif\0\0".to_vec();
    payload.extend_from_slice(&tiff);
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(
        &u16::try_from(payload.len() + 2)
            .expect("small")
            .to_be_bytes(),
    );
    out.extend_from_slice(&payload);
    out.extend_from_slice(&jpeg[2..]);
    out
}

fn is_reddish(p: &Rgb<u8>) -> bool {
    p[0] > 150 && p[2] < 100
}

fn is_bluish(p: &Rgb<u8>) -> bool {
    p[2] > 150 && p[0] < 100
}

#[test]
fn empty_file_is_refused() {
    assert!(matches!(
        decode(&[], &limits()),
        Err(PreprocessError::Empty)
    ));
}

#[test]
fn text_named_jpg_is_not_an_image() {
    let text = b"These are not the pixels you are looking for.\n";
    assert!(matches!(
        decode(text, &limits()),
        Err(PreprocessError::UnknownFormat)
    ));
}

#[test]
fn truncated_jpeg_is_refused() {
    let bytes = jpeg(&two_tone());
    let cut = &bytes[..bytes.len() / 3];
    let error = decode(cut, &limits()).expect_err("truncated");
    assert!(matches!(error, PreprocessError::Corrupt(_)), "{error:?}");
}

#[test]
fn jpeg_signature_over_garbage_is_refused() {
    let mut bytes = vec![0xFF, 0xD8, 0xFF];
    bytes.extend((0..4000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8));
    let error = decode(&bytes, &limits()).expect_err("corrupt");
    assert!(matches!(error, PreprocessError::Corrupt(_)), "{error:?}");
}

#[test]
fn huge_png_header_is_refused_before_decoding() {
    // The signature, IHDR and an empty IDAT: a 60,000×60,000 claim with no pixels behind it.
    let mut bytes = Vec::new();
    let mut encoder = png::Encoder::new(&mut bytes, 60_000, 60_000);
    encoder.set_color(png::ColorType::Rgb);
    let mut writer = encoder.write_header().expect("header");
    writer.write_chunk(png::chunk::IDAT, &[]).expect("IDAT");
    drop(writer);
    let error = decode(&bytes, &limits()).expect_err("too large");
    assert!(
        matches!(
            error,
            PreprocessError::TooManyPixels {
                width: 60_000,
                height: 60_000,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(error.to_string().contains("3600 megapixels"), "{error}");
}

#[test]
fn memory_budget_is_enforced() {
    let tight = DecodeLimits {
        max_pixels: 50_000_000,
        max_bytes: 1000,
    };
    let error = decode(&jpeg(&two_tone()), &tight).expect_err("over budget");
    assert!(
        matches!(error, PreprocessError::OverMemoryBudget { .. }),
        "{error:?}"
    );
}

#[test]
fn cmyk_jpeg_becomes_rgb() {
    // Adobe-style CMYK: pure cyan on the left, pure yellow on the right.
    let (w, h) = (64u16, 64u16);
    let mut cmyk = Vec::new();
    for _ in 0..h {
        for x in 0..w {
            cmyk.extend_from_slice(if x < 32 {
                &[255, 0, 0, 0]
            } else {
                &[0, 0, 255, 0]
            });
        }
    }
    let mut bytes = Vec::new();
    jpeg_encoder::Encoder::new(&mut bytes, 95)
        .encode(&cmyk, w, h, jpeg_encoder::ColorType::Cmyk)
        .expect("encode cmyk");
    let rgb = decode(&bytes, &limits()).expect("cmyk decodes");
    let (left, right) = (rgb.get_pixel(8, 32), rgb.get_pixel(56, 32));
    assert!(
        left[0] < 100 && left[1] > 150 && left[2] > 150,
        "cyan, got {left:?}"
    );
    assert!(
        right[0] > 150 && right[1] > 150 && right[2] < 100,
        "yellow, got {right:?}"
    );
}

#[test]
fn grayscale_jpeg_becomes_rgb() {
    let gray = image::GrayImage::from_pixel(40, 60, image::Luma([90]));
    let mut bytes = Vec::new();
    gray.write_to(&mut Cursor::new(&mut bytes), image::ImageFormat::Jpeg)
        .expect("encode");
    let rgb = decode(&bytes, &limits()).expect("decodes");
    let p = rgb.get_pixel(20, 30);
    assert!(
        p[0] == p[1] && p[1] == p[2] && p[0].abs_diff(90) <= 2,
        "{p:?}"
    );
}

#[test]
fn sixteen_bit_png_is_read() {
    let image: ImageBuffer<Rgb<u16>, Vec<u16>> =
        ImageBuffer::from_pixel(30, 20, Rgb([65535, 32768, 0]));
    let mut bytes = Vec::new();
    PngEncoder::new(&mut bytes)
        .write_image(
            bytemuck_u16(image.as_raw()).as_slice(),
            30,
            20,
            image::ExtendedColorType::Rgb16,
        )
        .expect("encode png16");
    let rgb = decode(&bytes, &limits()).expect("decodes");
    assert_eq!(rgb.dimensions(), (30, 20));
    assert_eq!(rgb.get_pixel(3, 3), &Rgb([255, 128, 0]));
}

/// PNG wants 16-bit samples in native order through `write_image`.
fn bytemuck_u16(samples: &[u16]) -> Vec<u8> {
    samples.iter().flat_map(|s| s.to_ne_bytes()).collect()
}

#[test]
fn animated_gif_uses_its_first_frame() {
    let mut bytes = Vec::new();
    {
        let mut encoder = GifEncoder::new(&mut bytes);
        let red = RgbaImage::from_pixel(16, 24, Rgba([255, 0, 0, 255]));
        let blue = RgbaImage::from_pixel(16, 24, Rgba([0, 0, 255, 255]));
        let delay = Delay::from_numer_denom_ms(100, 1);
        encoder
            .encode_frames([
                Frame::from_parts(red, 0, 0, delay),
                Frame::from_parts(blue, 0, 0, delay),
            ])
            .expect("encode gif");
    }
    let rgb = decode(&bytes, &limits()).expect("decodes");
    assert_eq!(rgb.dimensions(), (16, 24));
    assert!(
        is_reddish(rgb.get_pixel(8, 12)),
        "{:?}",
        rgb.get_pixel(8, 12)
    );
}

#[test]
fn exif_rotation_is_applied() {
    // Stored 64 wide × 96 high, red left, blue right; orientation 6 = rotate 90° clockwise
    // for display, so the upright image is 96×64 with red on top.
    let bytes = with_exif_orientation(&jpeg(&two_tone()), 6);
    let rgb = decode(&bytes, &limits()).expect("decodes");
    assert_eq!(rgb.dimensions(), (96, 64));
    assert!(
        is_reddish(rgb.get_pixel(48, 8)),
        "top {:?}",
        rgb.get_pixel(48, 8)
    );
    assert!(
        is_bluish(rgb.get_pixel(48, 56)),
        "bottom {:?}",
        rgb.get_pixel(48, 56)
    );
}

#[test]
fn webp_and_png_are_read() {
    let image = two_tone();
    for format in [image::ImageFormat::Png, image::ImageFormat::WebP] {
        let mut bytes = Vec::new();
        image
            .write_to(&mut Cursor::new(&mut bytes), format)
            .expect("encode");
        let rgb = decode(&bytes, &limits()).expect("decodes");
        assert_eq!(rgb, image, "{format:?} is lossless here");
    }
}

#[test]
fn prepare_normalises_to_minus_one_one_in_chw() {
    let image = RgbImage::from_pixel(10, 10, Rgb([255, 0, 51]));
    let mut bytes = Vec::new();
    image
        .write_to(&mut Cursor::new(&mut bytes), image::ImageFormat::Png)
        .expect("encode");
    let input = prepare_bytes(&bytes, &InputSpec::mobilenet(4, 6), &limits()).expect("ok");
    assert_eq!((input.width, input.height, input.data.len()), (4, 6, 72));
    assert_eq!(input.data[0], 1.0);
    assert_eq!(input.data[24], -1.0);
    assert!((input.data[48] - (51.0 / 127.5 - 1.0)).abs() < 1e-6);
}

/// Mean |ours − PIL's| over all input values, in [-1, 1] units (0.005 is 0.3 grey levels); measured 0.0011 to 0.0021.
const MAX_MEAN_INPUT_DIFFERENCE: f32 = 0.005;

#[test]
fn reference_images_preprocess_like_the_reference() {
    let reference = Reference::load();
    let device = Device::flex();
    let network = pretrained(&device);
    let spec = InputSpec::mobilenet(224, 224);
    for name in reference.names() {
        let bytes = std::fs::read(Reference::source_image(&name)).expect("reference image");
        let ours = prepare_bytes(&bytes, &spec, &limits()).expect("preprocesses");
        let theirs = reference.get(&format!("input.{name}"));
        let mean_diff = ours
            .data
            .iter()
            .zip(theirs)
            .map(|(a, b)| (a - b).abs())
            .sum::<f32>()
            / theirs.len() as f32;
        let logits = network.forward(batch(std::slice::from_ref(&ours), &device));
        let logits = &read_rows_sync(logits).expect("logits")[0];
        let top1 = argmax(logits);
        println!("{name}: mean |input difference| {mean_diff:.4}, top-1 {top1}");
        assert!(mean_diff < MAX_MEAN_INPUT_DIFFERENCE, "{name}: {mean_diff}");
        assert_eq!(
            top1,
            argmax(reference.get(&format!("logits.{name}"))),
            "{name} top-1"
        );
    }
}

#[test]
fn raw_rgba_drops_alpha_and_is_checked_like_a_file() {
    let rgba = vec![10, 20, 30, 255, 40, 50, 60, 0];
    let image = from_rgba(rgba.clone(), 2, 1, &limits()).expect("2×1 RGBA");
    assert_eq!(image.as_raw(), &vec![10, 20, 30, 40, 50, 60]);

    let short = from_rgba(rgba[..7].to_vec(), 2, 1, &limits());
    assert!(matches!(
        short,
        Err(PreprocessError::PixelBytes {
            expected: 8,
            got: 7,
            ..
        })
    ));
    let tight = DecodeLimits {
        max_pixels: 1,
        ..limits()
    };
    let over = from_rgba(rgba, 2, 1, &tight);
    assert!(matches!(over, Err(PreprocessError::TooManyPixels { .. })));
}

#[test]
fn a_mirrored_input_reverses_every_row() {
    let input = onesheet::model::ModelInput {
        width: 3,
        height: 1,
        data: vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0],
    };
    let mirrored = input.mirrored();
    assert_eq!(
        mirrored.data,
        vec![3.0, 2.0, 1.0, 6.0, 5.0, 4.0, 9.0, 8.0, 7.0]
    );
    assert_eq!(mirrored.mirrored(), input);
}
