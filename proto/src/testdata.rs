//! Reading the test vectors of `proto/testdata/` (lines `name: value`, and
//! `#` comments), which docs/INTEGRATION.md gives to other stacks.

/// The value of `name` in `vector`, if it has one.
pub fn find<'a>(vector: &'a str, name: &str) -> Option<&'a str> {
    vector
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(": "))
}

/// The value of `name` in `vector`; a vector without it fails the test.
pub fn field<'a>(vector: &'a str, name: &str) -> &'a str {
    find(vector, name).unwrap_or_else(|| panic!("{name} missing from the vector"))
}
