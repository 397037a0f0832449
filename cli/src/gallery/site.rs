//! The site's folder as the gallery writes it: only into real folders it made (a symlinked
//! `pictures/` would send every write elsewhere), every file by an atomic rename, and what an
//! earlier, bigger run left behind removed afterwards — only files of the gallery's own
//! naming, so nothing else in the folder is touched.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use onesheet::files::write;

/// The sub-folders the gallery writes into.
pub const FOLDERS: [&str; 3] = ["posters", "genres", "pictures"];

/// The site being written.
pub struct Site {
    out: PathBuf,
    /// Paths written by this run, relative to `out`.
    written: HashSet<String>,
}

impl Site {
    /// Creates the site's folders, refusing any that is a symbolic link.
    pub fn prepare(out: &Path) -> Result<Self> {
        for folder in FOLDERS {
            let path = out.join(folder);
            std::fs::create_dir_all(&path)
                .with_context(|| format!("creating {}", path.display()))?;
            let kind = std::fs::symlink_metadata(&path)
                .with_context(|| format!("reading {}", path.display()))?
                .file_type();
            if kind.is_symlink() {
                bail!(
                    "{} is a symbolic link: the gallery writes only into folders of its own \
                     (remove the link, or pick another --out)",
                    path.display()
                );
            }
        }
        Ok(Self {
            out: out.to_path_buf(),
            written: HashSet::new(),
        })
    }

    /// The folders inputs must not be read from: what a gallery run writes. `out` itself
    /// too, where it exists (its pages and pictures are no posters).
    pub fn own_folders(out: &Path) -> Vec<PathBuf> {
        std::iter::once(out.to_path_buf())
            .chain(FOLDERS.iter().map(|f| out.join(f)))
            .filter_map(|p| p.canonicalize().ok())
            .collect()
    }

    /// Writes `bytes` at `path` (relative to the site, `/` between folders).
    pub fn write(&mut self, path: &str, bytes: &[u8]) -> Result<()> {
        write::atomic(&self.out.join(path), bytes)?;
        self.written.insert(path.to_string());
        Ok(())
    }

    /// Removes the poster pages and pictures this run did not write: an earlier run's, of
    /// posters since gone (or of genres a poster no longer has). Returns how many.
    pub fn remove_stale(&self) -> Result<usize> {
        let mut removed = 0;
        for folder in ["posters", "pictures"] {
            let dir = self.out.join(folder);
            let entries =
                std::fs::read_dir(&dir).with_context(|| format!("listing {}", dir.display()))?;
            for entry in entries {
                let entry = entry.with_context(|| format!("listing {}", dir.display()))?;
                let name = entry.file_name().to_string_lossy().into_owned();
                let relative = format!("{folder}/{name}");
                let is_file = entry.file_type().is_ok_and(|t| t.is_file());
                if is_file && is_own_name(folder, &name) && !self.written.contains(&relative) {
                    std::fs::remove_file(entry.path())
                        .with_context(|| format!("removing {}", entry.path().display()))?;
                    removed += 1;
                }
            }
        }
        Ok(removed)
    }
}

/// Whether `name` in `folder` is one the gallery writes: `posters/N.html`, `pictures/N.jpg`
/// and `pictures/N-genre.png`.
fn is_own_name(folder: &str, name: &str) -> bool {
    let numbered = |stem: &str| !stem.is_empty() && stem.bytes().all(|b| b.is_ascii_digit());
    match folder {
        "posters" => name.strip_suffix(".html").is_some_and(numbered),
        "pictures" => {
            if let Some(stem) = name.strip_suffix(".jpg") {
                numbered(stem)
            } else if let Some(stem) = name.strip_suffix(".png") {
                stem.split_once('-').is_some_and(|(n, slug)| {
                    numbered(n)
                        && !slug.is_empty()
                        && slug.bytes().all(|b| b.is_ascii_lowercase() || b == b'-')
                })
            } else {
                false
            }
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_gallerys_own_names_count_as_its_files() {
        assert!(is_own_name("posters", "12.html"));
        assert!(is_own_name("pictures", "12.jpg"));
        assert!(is_own_name("pictures", "3-science-fiction.png"));
        for (folder, name) in [
            ("posters", "notes.html"),
            ("posters", "12.htm"),
            ("pictures", "holiday.jpg"),
            ("pictures", "3-.png"),
            ("pictures", "-x.png"),
            ("pictures", "3-Drama.png"),
            ("genres", "drama.html"),
        ] {
            assert!(!is_own_name(folder, name), "{folder}/{name}");
        }
    }

    #[test]
    fn stale_pages_go_and_everything_else_stays() {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = dir.path();
        // An earlier run of three posters, and a file of the owner's.
        let mut earlier = Site::prepare(out).expect("prepare");
        for n in 0..3 {
            earlier
                .write(&format!("posters/{n}.html"), b"page")
                .expect("write");
            earlier
                .write(&format!("pictures/{n}.jpg"), b"jpg")
                .expect("write");
            earlier
                .write(&format!("pictures/{n}-drama.png"), b"png")
                .expect("write");
        }
        std::fs::write(out.join("pictures/logo.jpg"), b"mine").expect("write");
        // This run: one poster, no longer Drama.
        let mut site = Site::prepare(out).expect("prepare");
        site.write("posters/0.html", b"page").expect("write");
        site.write("pictures/0.jpg", b"jpg").expect("write");
        site.write("pictures/0-comedy.png", b"png").expect("write");
        assert_eq!(site.remove_stale().expect("prune"), 7);
        let mut left: Vec<String> = ["posters", "pictures"]
            .iter()
            .flat_map(|f| {
                std::fs::read_dir(out.join(f)).expect("list").map(move |e| {
                    format!("{f}/{}", e.expect("entry").file_name().to_string_lossy())
                })
            })
            .collect();
        left.sort();
        assert_eq!(
            left,
            [
                "pictures/0-comedy.png",
                "pictures/0.jpg",
                "pictures/logo.jpg",
                "posters/0.html"
            ]
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_symlinked_folder_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let elsewhere = dir.path().join("elsewhere");
        std::fs::create_dir_all(&elsewhere).expect("mkdir");
        let out = dir.path().join("site");
        std::fs::create_dir_all(&out).expect("mkdir");
        std::os::unix::fs::symlink(&elsewhere, out.join("pictures")).expect("symlink");
        let error = Site::prepare(&out).err().expect("refused");
        assert!(error.to_string().contains("symbolic link"), "{error}");
        assert!(error.to_string().contains("pictures"), "{error}");
        assert_eq!(std::fs::read_dir(&elsewhere).expect("list").count(), 0);
    }
}
