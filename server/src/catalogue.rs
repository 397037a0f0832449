//! What the server can tell an operator about a catalogue before any visitor asks: which of
//! the posters its index names will not be served, and why. The faces would otherwise just
//! show a broken picture, or drop the poster from the kiosk's samples without a word.
//!
//! The index is read as the safetensors file it is (an 8-byte header length, then a JSON
//! header whose metadata holds the index's description): the poster names are all the server
//! needs, so it takes neither the model code nor the tensors.

use std::io::Read;
use std::path::Path;

use anyhow::{Context, Result, bail};
use serde::Deserialize;

use super::paths::{self, Root};
use super::site::URL_NAME;

/// The metadata key holding the index's description (as `onesheet index` writes it).
const KEY_DESCRIPTION: &str = "onesheet.index";
/// A header past this is not one `onesheet index` wrote (a million names take about 50 MB).
const MAX_HEADER: u64 = 512 << 20;

/// A poster the faces will not be able to show, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// The name in the index.
    pub name: String,
    /// Why it is not served.
    pub reason: &'static str,
}

#[derive(Deserialize)]
struct Header {
    #[serde(rename = "__metadata__")]
    metadata: Option<std::collections::HashMap<String, String>>,
}

#[derive(Deserialize)]
struct Description {
    files: Vec<String>,
}

/// The posters named by `dir`'s index (`index` inside it) that `/catalogue/` will not serve.
pub fn unservable(dir: &Path, index: &str) -> Result<Vec<Skipped>> {
    let path = dir.join(index);
    let mut file =
        std::fs::File::open(&path).with_context(|| format!("opening {}", path.display()))?;
    let mut length = [0u8; 8];
    file.read_exact(&mut length)
        .with_context(|| format!("{} is not a catalogue index (too short)", path.display()))?;
    let length = u64::from_le_bytes(length);
    if length > MAX_HEADER {
        bail!(
            "{} is not a catalogue index (header of {length} bytes)",
            path.display()
        );
    }
    let mut header = Vec::new();
    file.take(length)
        .read_to_end(&mut header)
        .with_context(|| format!("reading {}", path.display()))?;
    let header: Header = serde_json::from_slice(&header)
        .with_context(|| format!("{} is not a catalogue index", path.display()))?;
    let description = header
        .metadata
        .and_then(|mut metadata| metadata.remove(KEY_DESCRIPTION))
        .with_context(|| format!("{} is not a catalogue index", path.display()))?;
    let description: Description = serde_json::from_str(&description)
        .with_context(|| format!("{} has a damaged description", path.display()))?;
    Ok(description
        .files
        .into_iter()
        .filter_map(|name| why_not(dir, &name).map(|reason| Skipped { name, reason }))
        .collect())
}

/// Why `/catalogue/` will not serve the poster `name` from `dir`, if it will not: the same
/// checks a request for it meets (its URL is resolved as the faces write it), then the file
/// itself, reached without following a symlink.
fn why_not(dir: &Path, name: &str) -> Option<&'static str> {
    if !paths::content_type(Root::Catalogue, name).is_some_and(|t| t.starts_with("image/")) {
        return Some("not a JPEG, PNG or WebP picture");
    }
    let url = format!(
        "/catalogue/{}",
        name.split('/')
            .map(|part| percent_encoding::utf8_percent_encode(part, URL_NAME).to_string())
            .collect::<Vec<_>>()
            .join("/")
    );
    let Some(target) = paths::resolve(&url) else {
        return Some(
            "its name is not served (empty or hidden parts, control characters, or more than \
             16 folders deep)",
        );
    };
    let mut path = dir.to_path_buf();
    let mut last = None;
    for part in &target.names {
        path.push(part);
        let Ok(metadata) = std::fs::symlink_metadata(&path) else {
            return Some("no such file in the catalogue folder");
        };
        if metadata.file_type().is_symlink() {
            return Some("a symlink (never followed)");
        }
        last = Some(metadata);
    }
    last.is_some_and(|metadata| !metadata.is_file())
        .then_some("not a regular file")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A safetensors file with only the metadata the server reads.
    fn index(dir: &Path, files: &[&str]) {
        let description = serde_json::json!({ "model": "m", "thresholds": [], "files": files });
        let header = serde_json::json!({
            "__metadata__": { KEY_DESCRIPTION: description.to_string() }
        })
        .to_string();
        let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
        bytes.extend_from_slice(header.as_bytes());
        std::fs::write(dir.join("catalogue.index"), bytes).expect("write");
    }

    #[test]
    fn names_each_poster_that_will_not_be_shown_and_why() {
        let dir = tempfile::tempdir().expect("tempdir");
        let dir = dir.path();
        std::fs::create_dir_all(dir.join("sub")).expect("mkdir");
        for name in [
            "a.jpg",
            "sub/b.png",
            "Mission: Impossible (1996).jpg",
            "c.gif",
        ] {
            std::fs::write(dir.join(name), "x").expect("write");
        }
        std::os::unix::fs::symlink("/etc/passwd", dir.join("link.jpg")).expect("symlink");
        index(
            dir,
            &[
                "a.jpg",
                "sub/b.png",
                "Mission: Impossible (1996).jpg",
                "c.gif",
                "gone.jpg",
                "link.jpg",
                ".hidden.jpg",
                "bad\nname.jpg",
            ],
        );
        let skipped = unservable(dir, "catalogue.index").expect("an index");
        let reasons: Vec<(&str, &str)> = skipped
            .iter()
            .map(|s| (s.name.as_str(), s.reason))
            .collect();
        assert_eq!(
            reasons,
            [
                ("c.gif", "not a JPEG, PNG or WebP picture"),
                ("gone.jpg", "no such file in the catalogue folder"),
                ("link.jpg", "a symlink (never followed)"),
                (
                    ".hidden.jpg",
                    "its name is not served (empty or hidden parts, control characters, or \
                     more than 16 folders deep)"
                ),
                (
                    "bad\nname.jpg",
                    "its name is not served (empty or hidden parts, control characters, or \
                     more than 16 folders deep)"
                ),
            ]
        );
        std::fs::write(
            dir.join("catalogue.index"),
            b"\xff\xff\xff\xff\xff\xff\xff\xff",
        )
        .expect("write");
        assert!(unservable(dir, "catalogue.index").is_err());
    }
}
