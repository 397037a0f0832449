//! Image bytes → model input: decode (with limits), convert to RGB, orient, resize, normalise.
//!
//! One code path for the trainer, the CLI and the browser, so all three see the same pixels.
//! Every step is budgeted before it allocates: a small file can claim a huge or oddly shaped
//! image, and a model bundle can ask for an absurd input size, and neither may take the process
//! (or the browser tab) down.

use std::borrow::Cow;
use std::io::Cursor;

use image::imageops::{self, FilterType};
use image::metadata::Orientation;
use image::{
    ColorType, DynamicImage, ExtendedColorType, ImageDecoder, ImageError, ImageFormat, ImageReader,
    RgbImage,
};
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
    #[error("not a JPEG, PNG, WebP, GIF, BMP or TIFF image")]
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
    /// The file is smaller than any complete image of the size its header claims: it is cut
    /// short, or made to look big. Refused before decoding, which would cost as much as a real
    /// image of that size.
    #[error(
        "the file has {got} bytes, but a complete {width}×{height} {format} has at least \
         {needed}: it is truncated"
    )]
    Truncated {
        /// The format, by content.
        format: &'static str,
        /// Width from the header.
        width: u32,
        /// Height from the header.
        height: u32,
        /// The fewest bytes such an image can be stored in.
        needed: u64,
        /// Bytes given.
        got: u64,
    },
    /// Decoding would need more memory than the budget allows; nothing large was allocated.
    #[error("decoding the image needs {needed} bytes; the budget is {budget} bytes")]
    OverMemoryBudget {
        /// Bytes decoding needs at its peak: the decoded image, the decoder's working memory
        /// and the RGB and rotated copies.
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
    /// A model input size outside what the model and memory allow (see [`InputSpec::check`]).
    #[error(
        "input size {width}×{height} is out of range: each side must be {} to {} pixels and \
         the longer at most {} times the shorter",
        InputSpec::MIN_SIDE,
        InputSpec::MAX_SIDE,
        InputSpec::MAX_ASPECT_RATIO
    )]
    InvalidSize {
        /// Requested width.
        width: u32,
        /// Requested height.
        height: u32,
    },
    /// A normalisation mean or standard deviation that would make the model's inputs
    /// meaningless (see [`InputSpec::check`]).
    #[error("input {field}[{channel}] is {value}: {rule}")]
    InvalidNormalisation {
        /// `mean` or `std`.
        field: &'static str,
        /// 0, 1 or 2 (red, green, blue).
        channel: usize,
        /// The value given.
        value: f32,
        /// What it must be.
        rule: &'static str,
    },
}

/// What decoding may cost before an image is refused.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DecodeLimits {
    /// The most pixels (width × height) an image may claim.
    pub max_pixels: u64,
    /// The most bytes decoding may allocate at once: the decoded image, the decoder's own
    /// working memory, and the RGB and rotated copies made after it. The decoders are held to
    /// it too.
    pub max_bytes: u64,
}

impl Default for DecodeLimits {
    /// 50 megapixels, and 512 MiB: room for a 50-megapixel 16-bit RGB PNG scan (300 MB
    /// decoded, then 150 MB of 8-bit RGB beside it).
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

    fn for_decoder(&self) -> image::Limits {
        let mut limits = image::Limits::default();
        limits.max_alloc = Some(self.max_bytes);
        limits
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
    /// The shortest side: `MobileNetV2` downsamples by 32, so anything smaller leaves its last
    /// stages a single, mostly padded pixel.
    pub const MIN_SIDE: u32 = 32;
    /// The longest side. 2048×2048 is 4.2 megapixels: 50 MB of input, and 400 MB for the
    /// largest single activation of `MobileNetV2` (96 channels at half resolution), which a
    /// browser tab can still hold; posters are classified at 224×320.
    pub const MAX_SIDE: u32 = 2048;
    /// How many times the longer side may be the shorter: posters are 2:3, and nothing
    /// narrower than 4:1 is a poster.
    pub const MAX_ASPECT_RATIO: u32 = 4;

    /// The pretrained `MobileNetV2`'s convention, `x / 127.5 - 1`, at `width`×`height`.
    pub fn mobilenet(width: u32, height: u32) -> Self {
        Self {
            width,
            height,
            mean: [127.5; 3],
            std: [127.5; 3],
        }
    }

    /// Refuses a size outside [`MIN_SIDE`](Self::MIN_SIDE)..=[`MAX_SIDE`](Self::MAX_SIDE)
    /// or more elongated than [`MAX_ASPECT_RATIO`](Self::MAX_ASPECT_RATIO), a mean outside
    /// 0–255, and a std that is not positive or so small that `(x − mean) / std` overflows.
    ///
    /// [`prepare`] checks this on every call, and bundles on load, so a spec from a file can
    /// neither exhaust memory nor overflow `3 × width × height` on 32-bit targets.
    pub fn check(&self) -> Result<(), PreprocessError> {
        let sides = Self::MIN_SIDE..=Self::MAX_SIDE;
        let (short, long) = (self.width.min(self.height), self.width.max(self.height));
        if !sides.contains(&self.width)
            || !sides.contains(&self.height)
            || u64::from(long) > u64::from(short) * u64::from(Self::MAX_ASPECT_RATIO)
        {
            return Err(PreprocessError::InvalidSize {
                width: self.width,
                height: self.height,
            });
        }
        for (channel, (&mean, &std)) in self.mean.iter().zip(&self.std).enumerate() {
            // Written so that NaN fails every test.
            if !(0.0..=255.0).contains(&mean) {
                return Err(PreprocessError::InvalidNormalisation {
                    field: "mean",
                    channel,
                    value: mean,
                    rule: "it must be within 0 to 255",
                });
            }
            if !(std > 0.0 && std.is_finite() && (255.0 / std).is_finite()) {
                return Err(PreprocessError::InvalidNormalisation {
                    field: "std",
                    channel,
                    value: std,
                    rule: "it must be positive, finite, and large enough that \
                           (x − mean) / std stays finite",
                });
            }
        }
        Ok(())
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
/// JPEG (including CMYK and grayscale), PNG (including 16-bit), WebP, GIF (first frame), BMP
/// and TIFF (first page; what scanners write) are read; EXIF orientation is applied. Refused
/// before anything large is allocated: more pixels than `limits.max_pixels`, a JPEG or PNG file
/// too small to hold the size it claims, and a decode whose peak memory would pass
/// `limits.max_bytes`.
pub fn decode(bytes: &[u8], limits: &DecodeLimits) -> Result<RgbImage, PreprocessError> {
    if bytes.is_empty() {
        return Err(PreprocessError::Empty);
    }
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| PreprocessError::Corrupt(e.to_string()))?;
    let Some(
        format @ (ImageFormat::Jpeg
        | ImageFormat::Png
        | ImageFormat::WebP
        | ImageFormat::Gif
        | ImageFormat::Bmp
        | ImageFormat::Tiff),
    ) = reader.format()
    else {
        return Err(PreprocessError::UnknownFormat);
    };
    // The decoders' own allocations (PNG text chunks, TIFF strips, ...) count against the
    // budget too, not only the image.
    reader.limits(limits.for_decoder());
    let mut decoder = reader.into_decoder().map_err(image_error)?;

    let (width, height) = decoder.dimensions();
    limits.check_pixels(width, height)?;
    if let Some(needed) = smallest_file(format, width, height)
        && (bytes.len() as u64) < needed
    {
        return Err(PreprocessError::Truncated {
            format: format_name(format),
            width,
            height,
            needed,
            got: bytes.len() as u64,
        });
    }
    // A damaged EXIF block should not cost the visitor the poster: fall back to upright.
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let needed = decode_peak(format, bytes, &decoder, orientation);
    if needed > limits.max_bytes {
        return Err(PreprocessError::OverMemoryBudget {
            needed,
            budget: limits.max_bytes,
        });
    }

    // RGB first, then orient: the same pixels either way, and a rotation copies 3 bytes a
    // pixel instead of up to 16.
    let rgb = DynamicImage::from_decoder(decoder)
        .map_err(image_error)?
        .into_rgb8();
    let mut image = DynamicImage::ImageRgb8(rgb);
    image.apply_orientation(orientation);
    Ok(image.into_rgb8())
}

/// The fewest bytes a complete file of `format` at `width`×`height` takes, for the formats
/// where that has a floor without knowing the content.
fn smallest_file(format: ImageFormat, width: u32, height: u32) -> Option<u64> {
    let pixels = u64::from(width) * u64::from(height);
    match format {
        // Every 8×8 block of a full-resolution component starts with a Huffman-coded DC
        // difference of at least one bit, whatever the encoder. (Arithmetic coding could go
        // lower, but it is not decoded at all.)
        ImageFormat::Jpeg => Some(u64::from(width.div_ceil(8)) * u64::from(height.div_ceil(8)) / 8),
        // Deflate codes at most 258 bytes in 2 bits (a 1-bit length and a 1-bit distance code),
        // and every pixel is at least 1 bit before compression.
        ImageFormat::Png => Some(pixels / 8 / (258 * 8 / 2)),
        // WebP's arithmetic coder, GIF's LZW, BMP's RLE and TIFF's CCITT codes can all store a
        // flat image in next to nothing: only the limits hold them.
        _ => None,
    }
}

fn format_name(format: ImageFormat) -> &'static str {
    match format {
        ImageFormat::Jpeg => "JPEG",
        ImageFormat::Png => "PNG",
        ImageFormat::WebP => "WebP",
        ImageFormat::Gif => "GIF",
        ImageFormat::Bmp => "BMP",
        ImageFormat::Tiff => "TIFF",
        _ => "image",
    }
}

/// The most bytes [`decode`] holds at once for this image: the decoded image with the
/// decoder's working memory, then with its RGB copy, then the RGB image with its rotated copy.
/// Against the peak resident memory measured for 50-megapixel files: within a few percent for
/// progressive JPEG, PNG and TIFF; an overestimate for baseline JPEG, which zune-jpeg decodes
/// a row of blocks at a time.
fn decode_peak(
    format: ImageFormat,
    bytes: &[u8],
    decoder: &impl ImageDecoder,
    orientation: Orientation,
) -> u64 {
    let (width, height) = decoder.dimensions();
    let pixels = u64::from(width) * u64::from(height);
    let decoded = decoder.total_bytes();
    let rgb = pixels.saturating_mul(3);
    let working = match format {
        // zune-jpeg holds every DCT coefficient of a progressive file, 2 bytes a sample, for
        // every component; without a readable frame header, assume CMYK's four.
        ImageFormat::Jpeg => {
            let components = jpeg_components(bytes).map_or(4, |n| n.min(4));
            pixels.saturating_mul(2 * u64::from(components))
        }
        // The current and the previous row, unfiltered.
        ImageFormat::Png => {
            let row = u64::from(width) * u64::from(decoder.color_type().bytes_per_pixel());
            row.saturating_mul(2)
        }
        // The TIFF decoder reads into a buffer of its own in the file's layout, then copies.
        ImageFormat::Tiff => match decoder.original_color_type() {
            ExtendedColorType::L1 => u64::from(width.div_ceil(8)) * u64::from(height),
            other => pixels.saturating_mul(u64::from(other.bits_per_pixel().div_ceil(8))),
        },
        _ => 0,
    };
    let converted = if decoder.color_type() == ColorType::Rgb8 {
        0
    } else {
        rgb
    };
    let rotated = match orientation {
        Orientation::Rotate90
        | Orientation::Rotate270
        | Orientation::Rotate90FlipH
        | Orientation::Rotate270FlipH => rgb,
        _ => 0,
    };
    (decoded.saturating_add(working))
        .max(decoded.saturating_add(converted))
        .max(rgb.saturating_add(rotated))
}

/// The number of components in a JPEG's frame header, walking its markers from the start.
fn jpeg_components(bytes: &[u8]) -> Option<u8> {
    let mut at = 2;
    loop {
        // Like the decoder, skip anything between segments up to the next marker.
        if *bytes.get(at)? != 0xFF {
            at += 1;
            continue;
        }
        while *bytes.get(at)? == 0xFF {
            at += 1;
        }
        let marker = *bytes.get(at)?;
        at += 1;
        match marker {
            // Markers without a segment.
            0x01 | 0xD0..=0xD8 => {}
            // End of image, or scan data before any frame header.
            0xD9 | 0xDA => return None,
            // Start of frame (not DHT, JPG or DAC): length, precision, height, width, then the
            // component count.
            0xC0..=0xCF if !matches!(marker, 0xC4 | 0xC8 | 0xCC) => {
                return bytes.get(at + 7).copied();
            }
            _ => {
                let length = u16::from_be_bytes([*bytes.get(at)?, *bytes.get(at + 1)?]);
                // A length below 2 is malformed; stepping over it anyway cannot loop.
                at += usize::from(length).max(2);
            }
        }
    }
}

/// The most bytes resizing may hold in its intermediate image.
///
/// The image crate's resize filters columns first, into a (source width × target height)
/// image of 16-byte RGBA f32 pixels, then rows: a wide, short image costs far more than its
/// pixels (2,000,000×25 to 224×320 is 10 GB). 64 MiB is that intermediate for a 2048-wide
/// image at the largest input height, so a source is never narrowed below the input width,
/// and every source up to 13,107 pixels wide (18,724 for a 224-high input) resizes exactly
/// as a plain resize would.
pub const RESIZE_BUDGET_BYTES: u64 = 64 << 20;

/// Bytes per pixel of the resize's intermediate image (RGBA f32).
const INTERMEDIATE_PIXEL_BYTES: u64 = 16;

/// Resizes and normalises an RGB image into a model input.
///
/// The resize is bilinear (`FilterType::Triangle`, which widens its support when shrinking, as
/// PIL's bilinear does). A source so wide that the resize would pass
/// [`RESIZE_BUDGET_BYTES`] is first narrowed by averaging runs of columns.
pub fn prepare(image: &RgbImage, spec: &InputSpec) -> Result<ModelInput, PreprocessError> {
    spec.check()?;
    let resized = resize(image, spec.width, spec.height);
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
        year: None,
    })
}

fn resize(image: &RgbImage, width: u32, height: u32) -> Cow<'_, RgbImage> {
    if image.dimensions() == (width, height) {
        return Cow::Borrowed(image);
    }
    let max_source_width = RESIZE_BUDGET_BYTES / (u64::from(height) * INTERMEDIATE_PIXEL_BYTES);
    let source_width = u64::from(image.width());
    if source_width <= max_source_width {
        return Cow::Owned(imageops::resize(image, width, height, FilterType::Triangle));
    }
    // At most the source width, so it fits.
    let factor = u32::try_from(source_width.div_ceil(max_source_width)).unwrap_or(u32::MAX);
    let narrowed = narrow(image, factor);
    Cow::Owned(imageops::resize(
        &narrowed,
        width,
        height,
        FilterType::Triangle,
    ))
}

/// Averages each run of `factor` columns into one (the last run may be shorter), rounding to
/// nearest: a box filter, cheap in time and memory, that the bilinear resize then finishes.
fn narrow(image: &RgbImage, factor: u32) -> RgbImage {
    let (width, height) = image.dimensions();
    let narrow_width = width.div_ceil(factor);
    let mut narrowed = RgbImage::new(narrow_width, height);
    if width == 0 || height == 0 {
        return narrowed;
    }
    let run = factor as usize * 3;
    let rows = image.chunks_exact(width as usize * 3);
    let narrow_rows = narrowed.chunks_exact_mut(narrow_width as usize * 3);
    for (row, narrow_row) in rows.zip(narrow_rows) {
        for (columns, pixel) in row.chunks(run).zip(narrow_row.chunks_exact_mut(3)) {
            let count = (columns.len() / 3) as u64;
            let mut sums = [0u64; 3];
            for column in columns.chunks_exact(3) {
                for (sum, &value) in sums.iter_mut().zip(column) {
                    *sum += u64::from(value);
                }
            }
            for (out, sum) in pixel.iter_mut().zip(sums) {
                // An average of u8 values, so it fits.
                *out = ((sum + count / 2) / count) as u8;
            }
        }
    }
    narrowed
}

/// [`decode`] then [`prepare`].
pub fn prepare_bytes(
    bytes: &[u8],
    spec: &InputSpec,
    limits: &DecodeLimits,
) -> Result<ModelInput, PreprocessError> {
    // An unusable spec should not cost a decode first.
    spec.check()?;
    prepare(&decode(bytes, limits)?, spec)
}

fn image_error(error: ImageError) -> PreprocessError {
    match error {
        ImageError::Limits(e) => PreprocessError::Limit(e.to_string()),
        ImageError::Unsupported(e) => PreprocessError::Unsupported(e.to_string()),
        ImageError::Decoding(e) => PreprocessError::Corrupt(e.to_string()),
        ImageError::IoError(e) => PreprocessError::Corrupt(e.to_string()),
        other => PreprocessError::Corrupt(other.to_string()),
    }
}
