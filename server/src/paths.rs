//! From a request's URL path to the file it names: pure string work, no file system, so every
//! refusal is decided here and tested without a server.

/// The directory a request reads from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Root {
    /// The drop page: `/` and everything not under `/models/`.
    Www,
    /// The model bundles, under `/models/`.
    Models,
    /// The shop's catalogue (`--catalogue`), under `/catalogue/`: its index and its posters'
    /// pictures.
    Catalogue,
}

/// What a URL path names: a file below one of the roots, given as plain names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Which directory the names are relative to.
    pub root: Root,
    /// Directory names then the file name; none empty, none starting with `.`, none holding a
    /// separator.
    pub names: Vec<String>,
    /// The Content-Type the file is served with.
    pub content_type: &'static str,
}

/// Deeper paths name nothing the page uses; the cap bounds the file-system work one request
/// can cause.
const MAX_DEPTH: usize = 16;

/// The file `url_path` (a request's path, still percent-encoded, without its query) names, or
/// `None` when it names nothing servable: a malformed escape, a name that is empty (`//`),
/// hidden or a way out (`.`, `..`), a NUL or other control character, or a type its root does
/// not serve.
///
/// An escaped separator (`%2F`) separates like a plain one: a file name cannot hold `/`, so
/// `sub%2Fx.jpg` can only mean `sub/x.jpg` (which is how `encodeURIComponent` writes a
/// catalogue's poster in a sub-folder), and each part passes the same checks.
pub fn resolve(url_path: &str) -> Option<Target> {
    let rest = url_path.strip_prefix('/')?;
    let mut names = Vec::new();
    for segment in rest.split('/') {
        names.extend(percent_decode(segment)?.split('/').map(str::to_string));
    }
    let root = match names.first().map(String::as_str) {
        Some("models") if names.len() > 1 => Root::Models,
        Some("catalogue") if names.len() > 1 => Root::Catalogue,
        _ => Root::Www,
    };
    if root != Root::Www {
        names.remove(0);
    }
    // A directory's page is its index.html, the one file name a URL may leave out.
    if let Some(last) = names.last_mut()
        && last.is_empty()
    {
        "index.html".clone_into(last);
    }
    if names.len() > MAX_DEPTH || !names.iter().all(|name| plain_name(name)) {
        return None;
    }
    let content_type = content_type(root, names.last()?)?;
    Some(Target {
        root,
        names,
        content_type,
    })
}

/// A name that stays where it is: not empty, not hidden (which also rules out `.` and `..`),
/// no separator, no control character. The server runs on POSIX systems (it opens files
/// through `std::os::unix`), where `:` and `\\` are ordinary characters: "Mission: Impossible
/// (1996).jpg" is a poster, not a drive.
fn plain_name(name: &str) -> bool {
    !name.is_empty() && !name.starts_with('.') && !name.chars().any(|c| c == '/' || c.is_control())
}

/// The Content-Type for a file in `root`, or `None` for a type that root does not serve.
///
/// Pinned rather than guessed: the page needs `application/wasm` for streaming compilation and
/// a JavaScript type for its modules. `/models/` serves data only, so nothing there (a stray
/// `.html` or `.svg`) can run as a page on this origin.
pub fn content_type(root: Root, file_name: &str) -> Option<&'static str> {
    let (_, extension) = file_name.rsplit_once('.')?;
    let extension = extension.to_ascii_lowercase();
    match root {
        Root::Models => match extension.as_str() {
            "safetensors" | "index" => Some("application/octet-stream"),
            "json" => Some("application/json"),
            _ => None,
        },
        // Pictures and the index only: a poster folder may hold anything else.
        Root::Catalogue => match extension.as_str() {
            "index" => Some("application/octet-stream"),
            "jpg" | "jpeg" => Some("image/jpeg"),
            "png" => Some("image/png"),
            "webp" => Some("image/webp"),
            _ => None,
        },
        Root::Www => match extension.as_str() {
            "html" => Some("text/html; charset=utf-8"),
            "js" | "mjs" => Some("text/javascript; charset=utf-8"),
            "css" => Some("text/css; charset=utf-8"),
            "wasm" => Some("application/wasm"),
            "json" | "webmanifest" => Some("application/json"),
            "svg" => Some("image/svg+xml"),
            "png" => Some("image/png"),
            "jpg" | "jpeg" => Some("image/jpeg"),
            "webp" => Some("image/webp"),
            "ico" => Some("image/x-icon"),
            "txt" => Some("text/plain; charset=utf-8"),
            _ => None,
        },
    }
}

/// Decodes `%XX` escapes; `None` for a malformed escape or a result that is not UTF-8.
pub fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let high = hex_digit(*bytes.get(i + 1)?)?;
            let low = hex_digit(*bytes.get(i + 2)?)?;
            out.push(high << 4 | low);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn hex_digit(byte: u8) -> Option<u8> {
    char::from(byte)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(url_path: &str) -> Option<(Root, Vec<String>)> {
        resolve(url_path).map(|t| (t.root, t.names))
    }

    fn owned(names: &[&str]) -> Vec<String> {
        names.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn the_page_and_its_files() {
        assert_eq!(names("/"), Some((Root::Www, owned(&["index.html"]))));
        assert_eq!(
            names("/pkg/onesheet.js"),
            Some((Root::Www, owned(&["pkg", "onesheet.js"])))
        );
        assert_eq!(
            names("/pkg/"),
            Some((Root::Www, owned(&["pkg", "index.html"])))
        );
        assert_eq!(names("/a%20b.txt"), Some((Root::Www, owned(&["a b.txt"]))));
        assert_eq!(
            names("/models/onesheet.safetensors"),
            Some((Root::Models, owned(&["onesheet.safetensors"])))
        );
        assert_eq!(
            names("/models/v2/genres.json"),
            Some((Root::Models, owned(&["v2", "genres.json"])))
        );
        // Not the models directory: a file named `models` in www, which has no servable type.
        assert_eq!(names("/models"), None);
    }

    #[test]
    fn no_way_out_of_the_roots() {
        for bad in [
            "",
            "relative.html",
            "/../secret.txt",
            "/%2e%2e/secret.txt",
            "/pkg/..%2f..%2fsecret.txt",
            "/pkg/%2e%2e%2f%2e%2e%2fsecret.txt",
            "/models/../../secret.txt",
            "/models/%2e%2e/%2e%2e/secret.txt",
            "/models/..%5c..%5csecret.json",
            "/..%5csecret.txt",
            "//etc/passwd",
            "/%2fetc%2fpasswd.txt",
            "/pkg//onesheet.js",
            "/./index.html",
            "/pkg/.gitignore",
            "/.git/config",
            "/%00",
            "/a%00.txt",
            "/a%0a.txt",
            "/%zz",
            "/bad%2",
            "/%ff",
        ] {
            assert_eq!(resolve(bad), None, "{bad:?}");
        }
        let deep = "/a".repeat(MAX_DEPTH) + "/x.js";
        assert_eq!(resolve(&deep), None);
        let escaped_deep = "/a".to_string() + &"%2Fa".repeat(MAX_DEPTH) + "/x.js";
        assert_eq!(resolve(&escaped_deep), None);
    }

    #[test]
    fn escaped_separators_and_posix_names() {
        // How the wasm writes a catalogue poster in a sub-folder: the same file as the plain path.
        assert_eq!(
            resolve("/catalogue/sub%2Fx.jpg").map(|t| (t.root, t.names)),
            Some((Root::Catalogue, owned(&["sub", "x.jpg"])))
        );
        assert_eq!(
            resolve("/catalogue/sub%2Fx.jpg"),
            resolve("/catalogue/sub/x.jpg")
        );
        assert_eq!(
            names("/catalogue/Mission%3A%20Impossible%20(1996).jpg"),
            Some((Root::Catalogue, owned(&["Mission: Impossible (1996).jpg"])))
        );
        assert_eq!(
            names("/catalogue/Mission:%20Impossible.jpg"),
            Some((Root::Catalogue, owned(&["Mission: Impossible.jpg"])))
        );
        assert_eq!(names("/a%5cb.txt"), Some((Root::Www, owned(&["a\\b.txt"]))));
        assert_eq!(
            names("/catalogue/%23%3F%25%20%C3%A9t%C3%A9.jpg"),
            Some((Root::Catalogue, owned(&["#?% été.jpg"])))
        );
    }

    #[test]
    fn each_root_serves_its_own_types() {
        for bad in [
            "/models/evil.html",
            "/models/evil.svg",
            "/models/evil.js",
            "/models/README.md",
            "/models/",
            "/models/onesheet",
            "/README.md",
            "/secret",
            "/key.pem",
            "/catalogue/evil.html",
            "/catalogue/evil.svg",
            "/catalogue/notes.txt",
            "/catalogue/",
        ] {
            assert_eq!(resolve(bad), None, "{bad:?}");
        }
        assert_eq!(
            resolve("/models/similar.index").map(|t| t.content_type),
            Some("application/octet-stream")
        );
        let poster = resolve("/catalogue/horror/It%20(1990).jpg").expect("a poster");
        assert_eq!(poster.root, Root::Catalogue);
        assert_eq!(poster.names, ["horror", "It (1990).jpg"]);
        assert_eq!(
            resolve("/catalogue/catalogue.index").map(|t| (t.root, t.content_type)),
            Some((Root::Catalogue, "application/octet-stream"))
        );
    }

    #[test]
    fn pinned_content_types() {
        let www = |name| content_type(Root::Www, name);
        assert_eq!(www("a.wasm"), Some("application/wasm"));
        assert_eq!(www("a.js"), Some("text/javascript; charset=utf-8"));
        assert_eq!(www("a.MJS"), Some("text/javascript; charset=utf-8"));
        assert_eq!(www("index.html"), Some("text/html; charset=utf-8"));
        assert_eq!(www("a.css"), Some("text/css; charset=utf-8"));
        assert_eq!(www("a.png"), Some("image/png"));
        assert_eq!(www("a.svg"), Some("image/svg+xml"));
        assert_eq!(www("a.safetensors"), None);
        assert_eq!(
            content_type(Root::Models, "a.safetensors"),
            Some("application/octet-stream")
        );
        assert_eq!(
            content_type(Root::Models, "m.json"),
            Some("application/json")
        );
        assert_eq!(content_type(Root::Models, "a.wasm"), None);
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%20b").as_deref(), Some("a b"));
        assert_eq!(percent_decode("%2e%2E").as_deref(), Some(".."));
        assert_eq!(percent_decode("%e2%80%94").as_deref(), Some("—"));
        assert_eq!(percent_decode("bad%2"), None);
        assert_eq!(percent_decode("bad%zz"), None);
        assert_eq!(percent_decode("%+1"), None);
        assert_eq!(percent_decode("%ff"), None);
    }
}
