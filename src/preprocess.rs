//! Image bytes → model input: decode (with limits), orient, convert to RGB, resize, normalise.
//!
//! One code path for the trainer, the CLI and the browser, so all three see the same pixels.

use std::borrow::Cow;
use std::io::Cursor;

use image::imageops::{self, FilterType};
use image::{DynamicImage, ImageDecoder, ImageError, ImageReader, RgbImage};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::model::ModelInput;

/// Why an image could not be turned into a model input.
#[derive(Debug, Error)]
pub enum PreprocessError {
    /// Zero bytes.
    #[error("the file is empty")]
    Empty,
    /// Not an image format onesheet reads (by content, whatever the file is called).
    #[error("not a JPEG, PNG, WebP or GIF image")]
    UnknownFormat,
    /// The header claims more pixels than the limit allows; nothing large was allocated.
    #[error(
        "the image is {width}×{height} ({megapixels:.0} megapixels); the limit is \
         {limit_megapixels} megapixels"
    )]
    TooManyPixels {
        /// Width from the header.
        width: u32,
        /// Height from the header.
        height: u32,
        /// Width × height in millions.
        megapixels: f64,
        /// The configured limit, in millions.
        limit_megapixels: f64,
    },
    /// Decoding would need more memory than the budget allows.
    #[error("decoding the image needs {needed} bytes; the budget is {budget} bytes")]
    OverMemoryBudget {
        /// Bytes the decoded image needs.
        needed: u64,
        /// The configured budget.
        budget: u64,
    },
    /// The decoder hit one of its own limits while decoding.
    #[error("the image exceeds a decoding limit: {0}")]
    Limit(String),
    /// A feature of the format that the decoder does not support.
    #[error("unsupported image: {0}")]
    Unsupported(String),
    /// Corrupt or truncated data.
    #[error("the image is damaged or truncated: {0}")]
    Corrupt(String),
    /// Raw pixels whose byte count does not match their size.
    #[error("expected {width}×{height}×4 = {expected} RGBA bytes, got {got}")]
    PixelBytes {
        /// Width given.
        width: u32,
        /// Height given.
        height: u32,
        /// Bytes that size needs.
        expected: u64,
        /// Bytes given.
        got: u64,
    },
    /// A resize target of zero pixels.
    #[error("invalid input size {width}×{height}")]
    InvalidSize {
        /// Requested width.
        width: u32,
        /// Requested height.
        height: u32,
    },
}

/// What decoding may cost before an image is refused.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DecodeLimits {
    /// The most pixels (width × height) an image may claim.
    pub max_pixels: u64,
    /// The most bytes decoding may allocate for the image.
    pub max_bytes: u64,
}

impl Default for DecodeLimits {
    /// 50 megapixels, and 512 MiB: room for a 50-megapixel 16-bit RGB scan.
    fn default() -> Self {
        Self {
            max_pixels: 50_000_000,
            max_bytes: 512 << 20,
        }
    }
}

impl DecodeLimits {
    /// Refuses an image of `width`×`height` over the pixel limit, before anything is allocated.
    pub fn check_pixels(&self, width: u32, height: u32) -> Result<(), PreprocessError> {
        let pixels = u64::from(width) * u64::from(height);
        if pixels > self.max_pixels {
            return Err(PreprocessError::TooManyPixels {
                width,
                height,
                megapixels: pixels as f64 / 1e6,
                limit_megapixels: self.max_pixels as f64 / 1e6,
            });
        }
        Ok(())
    }
}

/// The model's input geometry and normalisation, stored in the bundle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputSpec {
    /// Width the image is resized to.
    pub width: u32,
    /// Height the image is resized to.
    pub height: u32,
    /// Per-channel value subtracted from the 0–255 RGB value.
    pub mean: [f32; 3],
    /// Per-channel divisor after subtracting the mean.
    pub std: [f32; 3],
}

impl InputSpec {
    /// The pretrained MobileNetV2's convention, `x / 127.5 - 1`, at `width`×`height`.
    pub fn mobilenet(width: u32, height: u32) -> Self {
        Self {
            width,
            height,
            mean: [127.5; 3],
            std: [127.5; 3],
        }
    }
}

/// Raw RGBA pixels (a canvas's `ImageData`) as RGB, under the same pixel limit as decoding;
/// alpha is dropped.
pub fn from_rgba(
    rgba: Vec<u8>,
    width: u32,
    height: u32,
    limits: &DecodeLimits,
) -> Result<RgbImage, PreprocessError> {
    limits.check_pixels(width, height)?;
    let (expected, got) = (4 * u64::from(width) * u64::from(height), rgba.len() as u64);
    if got != expected {
        return Err(PreprocessError::PixelBytes {
            width,
            height,
            expected,
            got,
        });
    }
    let image =
        image::RgbaImage::from_raw(width, height, rgba).ok_or(PreprocessError::PixelBytes {
            width,
            height,
            expected,
            got,
        })?;
    Ok(DynamicImage::ImageRgba8(image).into_rgb8())
}

/// Decodes image bytes to RGB, refusing over-limit images before allocating them.
///
/// JPEG (including CMYK and grayscale), PNG (including 16-bit), WebP and GIF (first frame)
/// are read; EXIF orientation is applied.
pub fn decode(bytes: &[u8], limits: &DecodeLimits) -> Result<RgbImage, PreprocessError> {
    if bytes.is_empty() {
        return Err(PreprocessError::Empty);
    }
    let reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| PreprocessError::Corrupt(e.to_string()))?;
    match reader.format() {
        Some(
            image::ImageFormat::Jpeg
            | image::ImageFormat::Png
            | image::ImageFormat::WebP
            | image::ImageFormat::Gif,
        ) => {}
        _ => return Err(PreprocessError::UnknownFormat),
    }
    let mut decoder = reader.into_decoder().map_err(image_error)?;

    let (width, height) = decoder.dimensions();
    limits.check_pixels(width, height)?;
    let needed = decoder.total_bytes();
    if needed > limits.max_bytes {
        return Err(PreprocessError::OverMemoryBudget {
            needed,
            budget: limits.max_bytes,
        });
    }
    let mut image_limits = image::Limits::default();
    image_limits.max_alloc = Some(limits.max_bytes);
    decoder.set_limits(image_limits).map_err(image_error)?;

    // A damaged EXIF block should not cost the visitor the poster: fall back to upright.
    let orientation = decoder
        .orientation()
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut image = DynamicImage::from_decoder(decoder).map_err(image_error)?;
    image.apply_orientation(orientation);
    Ok(image.into_rgb8())
}

/// Resizes and normalises an RGB image into a model input.
pub fn prepare(image: &RgbImage, spec: &InputSpec) -> Result<ModelInput, PreprocessError> {
    if spec.width == 0 || spec.height == 0 {
        return Err(PreprocessError::InvalidSize {
            width: spec.width,
            height: spec.height,
        });
    }
    // Triangle is bilinear and widens its support when shrinking, as PIL's bilinear does.
    let resized = if image.dimensions() == (spec.width, spec.height) {
        Cow::Borrowed(image)
    } else {
        Cow::Owned(imageops::resize(
            image,
            spec.width,
            spec.height,
            FilterType::Triangle,
        ))
    };
    let (width, height) = (spec.width as usize, spec.height as usize);
    let plane = width * height;
    let mut data = vec![0.0f32; 3 * plane];
    for (i, pixel) in resized.pixels().enumerate() {
        for c in 0..3 {
            data[c * plane + i] = (f32::from(pixel[c]) - spec.mean[c]) / spec.std[c];
        }
    }
    Ok(ModelInput {
        width,
        height,
        data,
    })
}

/// [`decode`] then [`prepare`].
pub fn prepare_bytes(
    bytes: &[u8],
    spec: &InputSpec,
    limits: &DecodeLimits,
) -> Result<ModelInput, PreprocessError> {
    prepare(&decode(bytes, limits)?, spec)
}

fn image_error(error: ImageError) -> PreprocessError {
    match error {
        ImageError::Limits(e) => {
            PreprocessError::Unsupported(format!("over a decoding limit: {e}"))
        }
        ImageError::Unsupported(e) => PreprocessError::Unsupported(e.to_string()),
        ImageError::Decoding(e) => PreprocessError::Corrupt(e.to_string()),
        ImageError::IoError(e) => PreprocessError::Corrupt(e.to_string()),
        other => PreprocessError::Corrupt(other.to_string()),
    }
}
