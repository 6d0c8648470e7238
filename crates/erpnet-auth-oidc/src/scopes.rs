//! The one meaning of `scopes(…)` on every builder of this crate; see the
//! crate documentation, section [Scopes](crate#scopes).

/// A list of scopes as the builders collect it: each string split on
/// whitespace, duplicates dropped, order kept, later calls adding more.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Scopes(Vec<String>);

impl Scopes {
    /// Adds `scopes`; `"read update"` counts as two.
    pub(crate) fn add<I, S>(&mut self, scopes: I)
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        for given in scopes {
            for scope in given.into().split_whitespace() {
                if !self.contains(scope) {
                    self.0.push(scope.to_owned());
                }
            }
        }
    }

    /// Whether `scope` is among them.
    pub(crate) fn contains(&self, scope: &str) -> bool {
        self.0.iter().any(|s| s == scope)
    }

    /// The scopes, in the order they were first added.
    pub(crate) fn as_slice(&self) -> &[String] {
        &self.0
    }

    /// Whether there are none.
    #[cfg(feature = "client")]
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The value of a `scope` parameter (RFC 6749 §3.3): space-separated.
    #[cfg(feature = "client")]
    pub(crate) fn joined(&self) -> String {
        self.0.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_on_whitespace_drops_duplicates_and_keeps_order() {
        let mut scopes = Scopes::default();
        scopes.add(["read update", "openid"]);
        scopes.add(vec![String::from(" update\tprofile "), String::new()]);
        scopes.add(["read"]);
        assert_eq!(scopes.as_slice(), ["read", "update", "openid", "profile"]);
        assert!(scopes.contains("profile"));
        assert!(!scopes.contains("read update"));
    }
}
