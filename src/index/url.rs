//! Poster names as URL paths: where the browser faces find a poster's picture.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use super::Index;

impl Index {
    /// The picture of the poster at a row, where the index says pictures are: the pattern with
    /// `{file}` replaced by the name, encoded by [`encode_name`].
    pub fn thumbnail(&self, position: usize) -> Option<String> {
        let pattern = self.thumbnails()?;
        let file = self.description.files.get(position)?;
        Some(pattern.replace("{file}", &encode_name(file)))
    }
}

/// A poster name (a path relative to the folder indexed, `/` between folders) as a URL path:
/// each segment percent-encoded as JavaScript's `encodeURIComponent` does (UTF-8; everything
/// but ASCII letters, digits and `-_.!~*'()`), the `/` between segments kept. Encoding the
/// whole name would turn `sub/x.jpg` into one segment, `sub%2Fx.jpg`, which no static server
/// maps to the file in `sub/`; and a segment left raw would let `:` read as a scheme, `#` end
/// the path or `%` start an escape.
pub fn encode_name(name: &str) -> String {
    name.split('/')
        .map(|segment| utf8_percent_encode(segment, URI_COMPONENT).to_string())
        .collect::<Vec<_>>()
        .join("/")
}

/// What `encodeURIComponent` escapes: everything but ASCII letters, digits and `-_.!~*'()`.
const URI_COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'!')
    .remove(b'~')
    .remove(b'*')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')');

#[cfg(test)]
mod tests {
    use super::*;

    /// `%XX` escapes back to the name, as a server reading the path does.
    fn decode(url: &str) -> Option<String> {
        percent_encoding::percent_decode_str(url)
            .decode_utf8()
            .ok()
            .map(std::borrow::Cow::into_owned)
    }

    #[test]
    fn segments_are_encoded_and_slashes_kept() {
        assert_eq!(encode_name("sub/x.jpg"), "sub/x.jpg");
        assert_eq!(
            encode_name("a b/c:d#e?f%g.jpg"),
            "a%20b/c%3Ad%23e%3Ff%25g.jpg"
        );
        assert_eq!(
            encode_name("été/ポスター.png"),
            "%C3%A9t%C3%A9/%E3%83%9D%E3%82%B9%E3%82%BF%E3%83%BC.png"
        );
        assert_eq!(
            encode_name("<b>&\"x\"+y=z;"),
            "%3Cb%3E%26%22x%22%2By%3Dz%3B"
        );
    }

    #[test]
    fn every_name_round_trips_through_its_url() {
        for name in [
            "plain.jpg",
            "sub/deeper/x.jpg",
            "a:b.jpg",
            "#1?.jpg",
            "100% real.jpg",
            "Amélie/ポスター 2.webp",
            "tab\there.png",
            "a+b&c=d.jpg",
        ] {
            let url = encode_name(name);
            assert!(
                url.bytes()
                    .all(|b| b.is_ascii_graphic() && !b":#?\\ ".contains(&b)),
                "{name} → {url}"
            );
            assert_eq!(decode(&url).as_deref(), Some(name), "{url}");
            assert_eq!(
                url.matches('/').count(),
                name.matches('/').count(),
                "segments are kept: {url}"
            );
        }
    }

    #[test]
    fn the_pattern_gets_the_encoded_name() {
        let mut index = Index::new("m".into(), 2, vec![0.5; crate::NUM_GENRES]);
        index
            .insert(
                "sub dir/a:b.jpg".into(),
                &[1.0, 0.0],
                &[0.0; crate::NUM_GENRES],
            )
            .expect("insert");
        assert_eq!(index.thumbnail(0), None);
        index.set_thumbnails(Some("/catalogue/{file}".into()));
        assert_eq!(
            index.thumbnail(0).as_deref(),
            Some("/catalogue/sub%20dir/a%3Ab.jpg")
        );
        assert_eq!(index.thumbnail(1), None);
    }
}
