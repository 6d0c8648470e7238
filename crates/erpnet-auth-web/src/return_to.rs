//! Where a browser may be sent after signing in: only a path of this site. Anything else (an
//! absolute URL to another origin, a scheme-relative `//host`, a backslash trick) would make
//! the sign-in route an open redirect.

use url::Url;

/// `requested` as a same-site path (with its query), or `None` if it leads anywhere else.
/// An absolute URL on the public URL's origin is accepted and reduced to its path.
pub(crate) fn same_site(requested: &str, public_url: &Url) -> Option<String> {
    if requested.is_empty() || requested.chars().any(|c| c.is_control() || c == '\\') {
        return None;
    }
    if requested.starts_with('/') {
        if requested.starts_with("//") {
            return None;
        }
        // Resolving against the public URL normalises dot segments and must stay on it.
        let resolved = public_url.join(requested).ok()?;
        return (resolved.origin() == public_url.origin()).then(|| path_and_query(&resolved));
    }
    let absolute = Url::parse(requested).ok()?;
    (absolute.origin() == public_url.origin()).then(|| path_and_query(&absolute))
}

fn path_and_query(url: &Url) -> String {
    match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_paths_of_this_site_are_honoured() {
        let public = Url::parse("https://app.example.com").expect("url");
        let ok = |s: &str| same_site(s, &public);
        assert_eq!(ok("/data?x=1").as_deref(), Some("/data?x=1"));
        assert_eq!(ok("/a/../b").as_deref(), Some("/b"));
        assert_eq!(ok("https://app.example.com/data").as_deref(), Some("/data"));
        for refused in [
            "",
            "//evil.example/x",
            "/\\evil.example",
            "\\\\evil.example",
            "https://evil.example/data",
            "http://app.example.com/data",
            "https://app.example.com:444/",
            "javascript:alert(1)",
            "data",
            "/x\n",
        ] {
            assert_eq!(ok(refused), None, "{refused:?}");
        }
    }
}
