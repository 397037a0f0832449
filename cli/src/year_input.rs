//! Release years for `onesheet classify`: one for every poster (`--year`), or one per file
//! from a CSV (`--years`). A poster without one is classified from its image alone.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{Context, Result, bail};
use onesheet::Year;

use crate::output::printable;

/// Where each poster's year comes from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Years {
    /// No year for any poster.
    #[default]
    None,
    /// The same year for every poster.
    All(Year),
    /// A year per file name.
    ByName(HashMap<String, Year>),
}

impl Years {
    /// Reads a CSV with a header holding `file` and `year` (other columns are ignored). `file`
    /// is matched against each poster's file name (a path in it counts by its last part); an
    /// empty year means unknown. A bad year, or a file given two different years, is an error
    /// naming its line.
    pub fn read_csv(path: &Path) -> Result<Self> {
        let mut reader = csv::ReaderBuilder::new()
            .flexible(true)
            .trim(csv::Trim::All)
            .from_path(path)
            .with_context(|| format!("opening {}", path.display()))?;
        let headers = reader
            .headers()
            .with_context(|| format!("reading the header of {}", path.display()))?
            .clone();
        let column = |name: &str| {
            headers
                .iter()
                .position(|h| h.eq_ignore_ascii_case(name))
                .with_context(|| {
                    format!(
                        "{}: the header has no `{name}` column (expected `file,year`)",
                        path.display()
                    )
                })
        };
        let (file_at, year_at) = (column("file")?, column("year")?);
        let mut years = HashMap::new();
        for record in reader.records() {
            let record = record.with_context(|| format!("reading {}", path.display()))?;
            let line = record.position().map_or(0, csv::Position::line);
            let at = || format!("{}: line {line}", path.display());
            let file = record.get(file_at).unwrap_or_default();
            let year = record.get(year_at).unwrap_or_default();
            if file.is_empty() {
                bail!("{}: no file name", at());
            }
            if year.is_empty() {
                continue;
            }
            let year: Year = year.parse().with_context(at)?;
            let name = file_name(file).to_string();
            if let Some(earlier) = years.insert(name.clone(), year)
                && earlier != year
            {
                bail!(
                    "{}: {} is given {earlier} and {year}",
                    at(),
                    printable(&name)
                );
            }
        }
        Ok(Self::ByName(years))
    }

    /// The year of the poster at `path`, if any.
    pub fn of(&self, path: &Path) -> Option<Year> {
        match self {
            Self::None => None,
            Self::All(year) => Some(*year),
            Self::ByName(years) => {
                let name = path.file_name()?.to_string_lossy();
                years.get(name.as_ref()).copied()
            }
        }
    }
}

/// The last part of a path written with `/` or `\`.
fn file_name(file: &str) -> &str {
    file.rsplit(['/', '\\']).next().unwrap_or(file)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn csv(text: &str) -> Result<(tempfile::NamedTempFile, Result<Years>)> {
        let mut file = tempfile::NamedTempFile::new()?;
        file.write_all(text.as_bytes())?;
        let years = Years::read_csv(file.path());
        Ok((file, years))
    }

    #[test]
    fn years_are_matched_by_file_name() -> Result<()> {
        let (_file, years) = csv(
            "file,year,title\nposters/a.jpg,1958,Vertigo\nb.png, 1984 \nc.jpg,\n\"d, e.jpg\",2001\n",
        )?;
        let years = years?;
        let year = |p: &str| years.of(Path::new(p)).map(Year::get);
        assert_eq!(year("/shop/a.jpg"), Some(1958));
        assert_eq!(year("b.png"), Some(1984));
        assert_eq!(year("c.jpg"), None);
        assert_eq!(year("d, e.jpg"), Some(2001));
        assert_eq!(year("elsewhere.jpg"), None);
        Ok(())
    }

    #[test]
    fn bad_rows_are_errors_with_their_line() -> Result<()> {
        let (_file, years) = csv("file,year\na.jpg,1958\nb.jpg,nineteen\n")?;
        let message = format!("{:#}", years.err().context("a bad year was accepted")?);
        assert!(message.contains("line 3"), "{message}");
        assert!(message.contains("`nineteen` is not a year"), "{message}");

        let (_file, years) = csv("file,year\na.jpg,1958\nx/a.jpg,1960\n")?;
        let message = format!("{:#}", years.err().context("two years were accepted")?);
        assert!(message.contains("given 1958 and 1960"), "{message}");

        let (_file, years) = csv("name,year\na.jpg,1958\n")?;
        let message = format!("{:#}", years.err().context("a header without file")?);
        assert!(message.contains("no `file` column"), "{message}");

        let (_file, years) = csv("file,year\na.jpg,3000\n")?;
        assert!(years.is_err());
        Ok(())
    }
}
