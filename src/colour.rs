//! Colour and layout statistics of a poster's thumbnail: the cheap hand-made features the
//! levers measure beside the network's, and the dominant colours the report tables by genre
//! and period. Grays (pixels whose channels nearly agree, very dark or very light ones) count apart, as seed 001
//! removed them before looking for a poster's colours.

/// Hue bins of the colour histogram.
pub const HUE_BINS: usize = 12;
/// Rows × columns of the layout grid.
const GRID: (usize, usize) = (3, 2);
/// Values [`stats`] returns.
pub const STATS: usize = GRID.0 * GRID.1 * 3 + 4 + HUE_BINS;

/// One pixel in hue (0–1), saturation and value (0–1).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hsv {
    /// Hue, a turn from red.
    pub h: f32,
    /// Saturation.
    pub s: f32,
    /// Value.
    pub v: f32,
}

impl Hsv {
    /// From 0–255 RGB.
    pub fn of(r: u8, g: u8, b: u8) -> Self {
        let (r, g, b) = (
            f32::from(r) / 255.0,
            f32::from(g) / 255.0,
            f32::from(b) / 255.0,
        );
        let max = r.max(g).max(b);
        let min = r.min(g).min(b);
        let delta = max - min;
        let h = if delta <= f32::EPSILON {
            0.0
        } else if max == r {
            ((g - b) / delta).rem_euclid(6.0) / 6.0
        } else if max == g {
            ((b - r) / delta + 2.0) / 6.0
        } else {
            ((r - g) / delta + 4.0) / 6.0
        };
        let s = if max <= f32::EPSILON {
            0.0
        } else {
            delta / max
        };
        Self { h, s, v: max }
    }

    /// Its hue bin.
    pub fn hue_bin(self) -> usize {
        ((self.h * HUE_BINS as f32) as usize).min(HUE_BINS - 1)
    }
}

/// Colour bins: 4 levels per channel.
const LEVELS: usize = 4;
/// Colour bins in all.
pub const BINS: usize = LEVELS * LEVELS * LEVELS;

/// A pixel's colour bin, or `None` for a gray: channels within 32 of each other, near-black,
/// near-white, or a bin on the gray diagonal (which names a gray whatever tint its pixels have).
pub fn colour_bin([r, g, b]: [u8; 3]) -> Option<usize> {
    let (high, low) = (r.max(g).max(b), r.min(g).min(b));
    if high - low < 32 || high < 40 || low > 225 {
        return None;
    }
    let level = |v: u8| usize::from(v) * LEVELS / 256;
    let (lr, lg, lb) = (level(r), level(g), level(b));
    (!(lr == lg && lg == lb)).then_some((lr * LEVELS + lg) * LEVELS + lb)
}

/// The share of the coloured pixels in each bin (all zero when every pixel is gray).
pub fn colour_shares(pixels: impl Iterator<Item = [u8; 3]>) -> Vec<f32> {
    let mut counts = vec![0u32; BINS];
    for bin in pixels.filter_map(colour_bin) {
        counts[bin] += 1;
    }
    let total = counts.iter().sum::<u32>().max(1) as f32;
    counts.into_iter().map(|c| c as f32 / total).collect()
}

/// A bin's colour (the middle of the bin), RGB.
pub fn bin_rgb(bin: usize) -> [u8; 3] {
    let centre = |level: usize| (level * 256 / LEVELS + 128 / LEVELS) as u8;
    [
        centre(bin / (LEVELS * LEVELS)),
        centre((bin / LEVELS) % LEVELS),
        centre(bin % LEVELS),
    ]
}

/// A bin's colour, as CSS hex.
pub fn bin_colour(bin: usize) -> String {
    let [r, g, b] = bin_rgb(bin);
    format!("#{r:02x}{g:02x}{b:02x}")
}

/// The RGB pixels of a channel-major `[3, h, w]` thumbnail, row by row.
pub fn thumb_pixels(thumb: &[u8], [_, h, w]: [usize; 3]) -> impl Iterator<Item = [u8; 3]> + '_ {
    let plane = h * w;
    (0..plane).map(move |i| [thumb[i], thumb[plane + i], thumb[2 * plane + i]])
}

/// Layout and colour statistics of a thumbnail (mirrored: as its mirror image would give):
/// mean RGB in each cell of a 3 × 2 grid, mean saturation, mean and spread of value, the share
/// of gray pixels, and the share of pixels in each hue bin among the coloured ones.
pub fn stats(thumb: &[u8], shape: [usize; 3], mirrored: bool) -> Vec<f32> {
    let [_, h, w] = shape;
    let plane = h * w;
    let mut grid = [[0f64; 3]; GRID.0 * GRID.1];
    let mut cells = [0usize; GRID.0 * GRID.1];
    let (mut s_sum, mut v_sum, mut v_sq, mut gray) = (0f64, 0f64, 0f64, 0usize);
    let mut hues = [0usize; HUE_BINS];
    for (i, rgb) in thumb_pixels(thumb, shape).enumerate() {
        let (y, x) = (i / w, i % w);
        let hsv = Hsv::of(rgb[0], rgb[1], rgb[2]);
        let seen_at = if mirrored { w - 1 - x } else { x };
        let cell = (y * GRID.0 / h) * GRID.1 + seen_at * GRID.1 / w;
        for (value, channel) in grid[cell].iter_mut().zip(rgb) {
            *value += f64::from(channel) / 255.0;
        }
        cells[cell] += 1;
        s_sum += f64::from(hsv.s);
        v_sum += f64::from(hsv.v);
        v_sq += f64::from(hsv.v * hsv.v);
        if colour_bin(rgb).is_some() {
            hues[hsv.hue_bin()] += 1;
        } else {
            gray += 1;
        }
    }
    let n = plane.max(1) as f64;
    let mut out = Vec::with_capacity(STATS);
    for (sums, count) in grid.iter().zip(cells) {
        out.extend(sums.iter().map(|s| (s / count.max(1) as f64) as f32));
    }
    let v_mean = v_sum / n;
    out.push((s_sum / n) as f32);
    out.push(v_mean as f32);
    out.push((v_sq / n - v_mean * v_mean).max(0.0).sqrt() as f32);
    out.push((gray as f64 / n) as f32);
    let coloured = (plane - gray).max(1) as f64;
    out.extend(hues.iter().map(|&c| (c as f64 / coloured) as f32));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn thumb(h: usize, w: usize, pixel: impl Fn(usize, usize) -> [u8; 3]) -> Vec<u8> {
        let mut out = vec![0u8; 3 * h * w];
        for y in 0..h {
            for x in 0..w {
                for (c, v) in pixel(y, x).into_iter().enumerate() {
                    out[c * h * w + y * w + x] = v;
                }
            }
        }
        out
    }

    #[test]
    fn hsv_of_primaries_and_grays() {
        assert_eq!(Hsv::of(255, 0, 0).hue_bin(), 0);
        assert_eq!(Hsv::of(0, 255, 0).hue_bin(), 4);
        assert_eq!(Hsv::of(0, 0, 255).hue_bin(), 8);
        assert_eq!(colour_bin([128, 128, 128]), None);
        assert_eq!(colour_bin([30, 0, 0]), None, "near black");
        assert_eq!(colour_bin([127, 64, 100]), None, "on the gray diagonal");
        assert!(colour_bin([200, 40, 40]).is_some());
    }

    #[test]
    fn left_red_right_blue_and_its_mirror() {
        let (h, w) = (6, 4);
        let t = thumb(h, w, |_, x| if x < 2 { [255, 0, 0] } else { [0, 0, 255] });
        let s = stats(&t, [3, h, w], false);
        assert_eq!(s.len(), STATS);
        // Top-left cell is red, top-right blue.
        assert_eq!(&s[0..3], &[1.0, 0.0, 0.0]);
        assert_eq!(&s[3..6], &[0.0, 0.0, 1.0]);
        let m = stats(&t, [3, h, w], true);
        assert_eq!(&m[0..3], &[0.0, 0.0, 1.0]);
        assert_eq!(&m[3..6], &[1.0, 0.0, 0.0]);
        // No grays; half the coloured pixels red, half blue; mirroring changes neither.
        let tail = GRID.0 * GRID.1 * 3;
        assert_eq!(s[tail + 3], 0.0);
        assert_eq!(s[tail + 4], 0.5);
        assert_eq!(s[tail + 4 + 8], 0.5);
        assert_eq!(&s[tail..], &m[tail..]);
    }
}
