//! The release year: an optional input that refines a poster's scores by its decade.
//!
//! Genres shift with the period (Westerns, war films, musicals), and a dealer knows most of his
//! posters' years. A bundle may carry a [`YearPrior`], fitted by the trainer: per decade and
//! genre, an offset added to the model's logit, and the thresholds tuned with it. Without a year
//! (or with a bundle that has no prior) a poster's scores are exactly the image model's.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::genres::NUM_GENRES;

/// Why a year was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum YearError {
    /// Not a whole number.
    #[error("`{0}` is not a year (expected a number such as 1958)")]
    NotANumber(String),
    /// A number, but no film's.
    #[error("{0} is not a film's release year (expected {min} to {max})", min = Year::MIN, max = Year::MAX)]
    OutOfRange(i64),
}

/// A film's release year, between [`Year::MIN`] and [`Year::MAX`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "u16")]
pub struct Year(u16);

impl Year {
    /// The earliest year accepted (the first films are from the 1880s).
    pub const MIN: u16 = 1870;
    /// The latest year accepted.
    pub const MAX: u16 = 2100;

    /// The year, checked.
    pub fn new(year: i64) -> Result<Self, YearError> {
        u16::try_from(year)
            .ok()
            .filter(|y| (Self::MIN..=Self::MAX).contains(y))
            .map(Self)
            .ok_or(YearError::OutOfRange(year))
    }

    /// The year as a number.
    pub fn get(self) -> u16 {
        self.0
    }

    /// Its decade: 1950 for 1958.
    pub fn decade(self) -> u16 {
        self.0 / 10 * 10
    }
}

impl TryFrom<i64> for Year {
    type Error = YearError;

    fn try_from(year: i64) -> Result<Self, YearError> {
        Self::new(year)
    }
}

impl From<Year> for u16 {
    fn from(year: Year) -> u16 {
        year.0
    }
}

impl FromStr for Year {
    type Err = YearError;

    fn from_str(text: &str) -> Result<Self, YearError> {
        let trimmed = text.trim();
        // A short, bounded excerpt: the text may be anything a user typed or a file held.
        let excerpt = || trimmed.chars().take(40).collect::<String>();
        if trimmed.is_empty() || !trimmed.bytes().all(|b| b.is_ascii_digit()) {
            return Err(YearError::NotANumber(excerpt()));
        }
        // All digits: only a number too long for i64 fails here, and it is out of range anyway.
        let year = trimmed.parse::<i64>().unwrap_or(i64::MAX);
        Self::new(year)
    }
}

impl fmt::Display for Year {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// What a bundle knows about genres by decade: logit offsets and the thresholds that go with
/// them. Decades before the first row use the first; after the last, the last.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct YearPrior {
    /// The decade of `offsets[0]` (a multiple of ten).
    pub first_decade: u16,
    /// Per decade from `first_decade` on, per genre in model order: what is added to the logit.
    pub offsets: Vec<Vec<f32>>,
    /// Per genre: the score at or above which it is predicted when a year is given.
    pub thresholds: Vec<f32>,
}

/// The largest offset a prior may hold: e^12 ≈ 160,000 to one, far beyond what a decade says.
const MAX_OFFSET: f32 = 12.0;

impl YearPrior {
    /// Checks what a bundle file could get wrong; the message names the field.
    pub fn validate(&self) -> Result<(), String> {
        if !self.first_decade.is_multiple_of(10)
            || !(Year::MIN..=Year::MAX).contains(&self.first_decade)
        {
            return Err(format!(
                "year.first_decade is {}; it must be a decade from {} to {}",
                self.first_decade,
                Year::MIN,
                Year::MAX
            ));
        }
        let decades = (usize::from(Year::MAX - self.first_decade)) / 10 + 1;
        if self.offsets.is_empty() || self.offsets.len() > decades {
            return Err(format!(
                "year.offsets has {} decades; expected 1 to {decades}",
                self.offsets.len()
            ));
        }
        for (d, row) in self.offsets.iter().enumerate() {
            if row.len() != NUM_GENRES {
                return Err(format!(
                    "year.offsets[{d}] has {} values; expected one per genre ({NUM_GENRES})",
                    row.len()
                ));
            }
            if let Some(bad) = row.iter().find(|o| !o.is_finite() || o.abs() > MAX_OFFSET) {
                return Err(format!(
                    "year.offsets[{d}] holds {bad}; offsets must be within ±{MAX_OFFSET}"
                ));
            }
        }
        if self.thresholds.len() != NUM_GENRES {
            return Err(format!(
                "year.thresholds has {} values; expected one per genre ({NUM_GENRES})",
                self.thresholds.len()
            ));
        }
        if let Some(bad) = self.thresholds.iter().find(|t| !(0.0..=1.0).contains(*t)) {
            return Err(format!(
                "year.thresholds holds {bad}; thresholds must be within [0, 1]"
            ));
        }
        Ok(())
    }

    /// The offsets for `year`'s decade (the nearest decade the prior has).
    ///
    /// # Panics
    /// On a prior with no decades, which [`YearPrior::validate`] refuses.
    pub fn offsets(&self, year: Year) -> &[f32] {
        let steps = (i32::from(year.decade()) - i32::from(self.first_decade)) / 10;
        let last = self.offsets.len().saturating_sub(1);
        let row = usize::try_from(steps).unwrap_or(0).min(last);
        &self.offsets[row]
    }

    /// The model's scores for a poster of `year`: each genre's logit moved by its decade's
    /// offset. Computed in f64, so a score of exactly 0 or 1 stays there and nothing is NaN.
    pub fn apply(&self, scores: &[f32], year: Year) -> Vec<f32> {
        scores
            .iter()
            .zip(self.offsets(year))
            .map(|(&score, &offset)| {
                let p = f64::from(score);
                let logit = (p / (1.0 - p)).ln() + f64::from(offset);
                (1.0 / (1.0 + (-logit).exp())) as f32
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prior() -> YearPrior {
        YearPrior {
            first_decade: 1920,
            offsets: vec![vec![1.0; NUM_GENRES], vec![-1.0; NUM_GENRES]],
            thresholds: vec![0.5; NUM_GENRES],
        }
    }

    #[test]
    fn years_parse_with_clear_errors() {
        assert_eq!("1958".parse::<Year>().map(Year::get), Ok(1958));
        assert_eq!(" 2001 ".parse::<Year>().map(Year::decade), Ok(2000));
        assert_eq!(
            "1958.5".parse::<Year>(),
            Err(YearError::NotANumber("1958.5".into()))
        );
        assert_eq!(
            "-1".parse::<Year>(),
            Err(YearError::NotANumber("-1".into()))
        );
        assert_eq!(
            "".parse::<Year>(),
            Err(YearError::NotANumber(String::new()))
        );
        assert_eq!("1492".parse::<Year>(), Err(YearError::OutOfRange(1492)));
        assert_eq!(
            "99999999999999999999999".parse::<Year>(),
            Err(YearError::OutOfRange(i64::MAX))
        );
        assert!(
            YearError::OutOfRange(3000)
                .to_string()
                .contains("1870 to 2100")
        );
    }

    #[test]
    fn years_deserialise_checked() {
        assert_eq!(
            serde_json::from_str::<Year>("1931").ok(),
            Year::new(1931).ok()
        );
        assert!(serde_json::from_str::<Year>("12").is_err());
        assert!(serde_json::from_str::<Year>("\"1931\"").is_err());
    }

    #[test]
    fn decades_outside_the_prior_use_its_nearest() -> Result<(), YearError> {
        let prior = prior();
        assert_eq!(prior.offsets(Year::new(1895)?)[0], 1.0);
        assert_eq!(prior.offsets(Year::new(1929)?)[0], 1.0);
        assert_eq!(prior.offsets(Year::new(1930)?)[0], -1.0);
        assert_eq!(prior.offsets(Year::new(2020)?)[0], -1.0);
        Ok(())
    }

    #[test]
    fn offsets_move_the_logit() -> Result<(), YearError> {
        let prior = prior();
        let scores = vec![0.5f32; NUM_GENRES];
        let up = prior.apply(&scores, Year::new(1925)?);
        let down = prior.apply(&scores, Year::new(1935)?);
        let expected = 1.0 / (1.0 + (-1.0f64).exp());
        assert!((f64::from(up[0]) - expected).abs() < 1e-7);
        assert!((f64::from(down[0]) - (1.0 - expected)).abs() < 1e-7);
        let extremes = prior.apply(&[0.0, 1.0], Year::new(1925)?);
        assert_eq!(extremes, vec![0.0, 1.0]);
        Ok(())
    }

    #[test]
    fn damaged_priors_are_refused() {
        assert!(prior().validate().is_ok());
        let mut p = prior();
        p.first_decade = 1925;
        assert!(p.validate().is_err_and(|e| e.contains("first_decade")));
        let mut p = prior();
        p.offsets[1][3] = f32::NAN;
        assert!(p.validate().is_err_and(|e| e.contains("offsets[1]")));
        let mut p = prior();
        p.offsets[0].pop();
        assert!(p.validate().is_err_and(|e| e.contains("offsets[0]")));
        let mut p = prior();
        p.offsets.clear();
        assert!(p.validate().is_err());
        let mut p = prior();
        p.thresholds[0] = 1.5;
        assert!(p.validate().is_err_and(|e| e.contains("thresholds")));
    }
}
